//! Reading certificate signing requests (PKCS#10): names, requested SANs and
//! whether the self-signature verifies. Building one is `issue::csr_builder`.

use std::net::IpAddr;

use serde::Serialize;
use thiserror::Error;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509CertificationRequest};

use crate::x509::encoding::{self, EncodingError};
use crate::x509::signature_check;

/// Why bytes are not a usable CSR.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CsrError {
    /// The bytes are not PEM or DER.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// No `CERTIFICATE REQUEST` block.
    #[error("no certificate request found (PEM labels present: {0})")]
    NoCsr(String),
    /// Not a valid PKCS#10 request.
    #[error("not a valid PKCS#10 certificate request: {0}")]
    Malformed(String),
}

/// A parsed CSR.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Csr {
    /// Subject in RFC 4514-like form.
    pub subject: String,
    /// Subject common name.
    pub common_name: Option<String>,
    /// Subject organizations.
    pub organizations: Vec<String>,
    /// Requested DNS SANs.
    pub dns_names: Vec<String>,
    /// Requested IP SANs.
    pub ip_addresses: Vec<IpAddr>,
    /// Requested email SANs.
    #[serde(skip)]
    pub email_addresses: Vec<String>,
    /// Requested URI SANs.
    #[serde(skip)]
    pub uris: Vec<String>,
    /// The public key's description (`RSA 2048`, `ECDSA P-256`).
    #[serde(skip)]
    pub public_key: String,
    /// Whether the self-signature verifies with the embedded public key.
    pub signature_valid: bool,
    /// The subjectPublicKey bits (compare with a key's `public_key_bits`).
    #[serde(skip)]
    pub public_key_bits: Vec<u8>,
    /// The DER.
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// Parses the first CSR in PEM or DER bytes and checks its self-signature.
pub fn parse(bytes: &[u8]) -> Result<Csr, CsrError> {
    let blocks = encoding::blocks(bytes)?;
    let block = blocks
        .iter()
        .find(|b| {
            b.label.is_empty()
                || b.label == "CERTIFICATE REQUEST"
                || b.label == "NEW CERTIFICATE REQUEST"
        })
        .ok_or_else(|| {
            CsrError::NoCsr(
                blocks
                    .iter()
                    .map(|b| b.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    let (_, req) = X509CertificationRequest::from_der(&block.der)
        .map_err(|e| CsrError::Malformed(e.to_string()))?;
    let info = &req.certification_request_info;
    let subject = &info.subject;
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    let mut email_addresses = Vec::new();
    let mut uris = Vec::new();
    for ext in req.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for n in &san.general_names {
                match n {
                    GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                    GeneralName::RFC822Name(e) => email_addresses.push(e.to_string()),
                    GeneralName::URI(u) => uris.push(u.to_string()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => ip_addresses.extend(<[u8; 4]>::try_from(*b).ok().map(IpAddr::from)),
                        16 => ip_addresses.extend(<[u8; 16]>::try_from(*b).ok().map(IpAddr::from)),
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
    }
    let signature_valid = signature_check::verify_with_spki(
        info.raw,
        &req.signature_algorithm.algorithm.to_id_string(),
        &req.signature_value.data,
        &info.subject_pki,
    )
    .is_ok();
    Ok(Csr {
        subject: subject.to_string(),
        common_name: subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string),
        organizations: subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok())
            .map(str::to_string)
            .collect(),
        dns_names,
        ip_addresses,
        email_addresses,
        uris,
        public_key: crate::x509::certificate::describe_spki(&info.subject_pki),
        signature_valid,
        public_key_bits: info.subject_pki.subject_public_key.data.to_vec(),
        der: block.der.clone(),
    })
}
