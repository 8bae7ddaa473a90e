//! The vocabulary of issuing a leaf: what it should say (`LeafSpec`), how long
//! and with which key (`RenewOptions`), the CA that signs it (`SigningCa`), what
//! comes out (`Issued`) and why it failed (`RenewError`). Shared by `leaf` (rcgen)
//! and `go_layout` (the DER layout), so neither imports the other's types.

use std::net::IpAddr;

use thiserror::Error;
use time::Duration;

use crate::x509::certificate::{Certificate, DerError, ExtendedKeyUsage, IssuerError};
use crate::x509::keys::{KeyAlgorithm, KeyError, PrivateKey};

/// kubeadm's `certificateValidityPeriod` default: 8760h.
pub const DEFAULT_VALIDITY: Duration = Duration::hours(8760);
/// kubeadm's CA validity: 87600h.
pub const CA_VALIDITY: Duration = Duration::hours(87600);
/// kubeadm 1.31+ backdates NotBefore by five minutes to absorb clock skew.
pub const BACKDATE: Duration = Duration::minutes(5);

/// How to renew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewOptions {
    /// Algorithm of the new key.
    pub key_algorithm: KeyAlgorithm,
    /// NotAfter = now + validity.
    pub validity: Duration,
}

impl Default for RenewOptions {
    fn default() -> Self {
        Self {
            key_algorithm: KeyAlgorithm::default(),
            validity: DEFAULT_VALIDITY,
        }
    }
}

/// Why a certificate could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RenewError {
    /// Key generation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The CA certificate is not a CA.
    #[error("the CA certificate is not a CA (basic constraints CA:FALSE)")]
    NotACa,
    /// The CA key does not belong to the CA certificate.
    #[error("the CA private key does not match the CA certificate")]
    CaKeyMismatch,
    /// A name cannot be carried over (rcgen keeps one value per attribute type).
    #[error("cannot keep the subject: {0}")]
    Subject(String),
    /// rcgen refused the parameters.
    #[error("cannot build the certificate: {0}")]
    Build(String),
    /// The result failed the self-check (issuer name, signature, key match).
    #[error("the new certificate failed its self-check: {0}")]
    SelfCheck(SelfCheckError),
    /// The validity is zero or negative.
    #[error("the validity must be positive")]
    BadValidity,
}

/// How a new certificate failed its self-check.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelfCheckError {
    /// rcgen's DER does not decode.
    #[error(transparent)]
    Der(#[from] DerError),
    /// The certificate is not for the new key.
    #[error("certificate does not match the new key")]
    KeyMismatch,
    /// Issuer name or signature is not the CA's.
    #[error(transparent)]
    Issuer(#[from] IssuerError),
}

/// A newly issued certificate and its key.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The parsed certificate.
    pub cert: Certificate,
    /// The new private key.
    pub key: PrivateKey,
}

impl Issued {
    /// The certificate as PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.to_pem()
    }

    /// The key as PEM, in kubeadm's format.
    pub fn key_pem(&self) -> String {
        self.key.to_pem()
    }
}

/// A CA ready to sign: certificate and matching key.
#[derive(Debug, Clone)]
pub struct SigningCa {
    /// The CA certificate.
    pub cert: Certificate,
    /// Its private key.
    pub key: PrivateKey,
}

impl SigningCa {
    /// Pairs a CA certificate with its key, checking that they fit.
    pub fn new(cert: Certificate, key: PrivateKey) -> Result<Self, RenewError> {
        if !cert.is_ca {
            return Err(RenewError::NotACa);
        }
        if !cert.matches_key(&key) {
            return Err(RenewError::CaKeyMismatch);
        }
        Ok(Self { cert, key })
    }
}

/// What a new leaf certificate should say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeafSpec {
    /// Common name.
    pub common_name: String,
    /// Organizations, all kept (in one RDN, as Go writes them).
    pub organizations: Vec<String>,
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// IP SANs.
    pub ip_addresses: Vec<IpAddr>,
    /// Extended key usages.
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
}

impl LeafSpec {
    /// What renewal keeps of `old`: CN, O, DNS SANs deduplicated and sorted, IP
    /// SANs deduplicated in order, extended key usages.
    pub fn from_existing(old: &Certificate) -> Self {
        Self {
            common_name: old.common_name.clone().unwrap_or_default(),
            organizations: old.organizations.clone(),
            dns_names: old.dns_names.clone(),
            ip_addresses: old.ip_addresses.clone(),
            extended_key_usage: old.extended_key_usage.clone(),
        }
        .in_kubeadm_order()
    }

    /// The SANs as kubeadm writes them into every certificate and CSR it makes
    /// (pkiutil.RemoveDuplicateAltNames in NewSignedCert and NewCSR): DNS names
    /// sorted and deduplicated, IP addresses deduplicated in their order.
    pub fn in_kubeadm_order(mut self) -> Self {
        self.dns_names.sort();
        self.dns_names.dedup();
        let mut ips: Vec<IpAddr> = Vec::new();
        for ip in &self.ip_addresses {
            if !ips.contains(ip) {
                ips.push(*ip);
            }
        }
        self.ip_addresses = ips;
        self
    }
}
