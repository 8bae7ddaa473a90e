//! The CA side of renewal through the certificates API: kube-controller-manager's
//! built-in signers as kcerts reproduces them (docs/kubeadm.md, The certificates
//! API flow), used by the tests' fake API server and by `kcerts sign`.

use rand_core::CryptoRng;
use rcgen::{CertificateParams, IsCa, KeyIdMethod, KeyUsagePurpose, SanType, SignatureAlgorithm};
use thiserror::Error;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509CertificationRequest};

use crate::issue::leaf::{self, RenewError, SigningCa};
use crate::x509::certificate::{Certificate, ExtendedKeyUsage};
use crate::x509::csr;
use crate::x509::strength::{self, Weakness};

/// The built-in signer for client certificates the API server trusts; it signs
/// with the cluster CA (`--cluster-signing-cert-file`, kubeadm's `ca.crt`).
pub const KUBE_APISERVER_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
/// The v1beta1 signer kubeadm used; certificates.k8s.io/v1 refuses to create it.
pub const LEGACY_UNKNOWN_SIGNER: &str = "kubernetes.io/legacy-unknown";
/// Why kcerts' signer (the tests' stand-in for kube-controller-manager) refuses a request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiSignError {
    /// The request is not a valid, self-signed PKCS#10 request.
    #[error(transparent)]
    Csr(#[from] csr::CsrError),
    /// The self-signature does not verify.
    #[error("the request's signature does not verify")]
    BadSignature,
    /// Weak cryptography ([`strength`]): a SHA-1 or MD5 signature, a small RSA key.
    #[error("the request is refused: {0}")]
    Weak(Weakness),
    /// The key type is not supported.
    #[error("unsupported public key algorithm {0}")]
    KeyAlgorithm(String),
    /// A usage the signer does not allow or know.
    #[error("{0}")]
    Usage(String),
    /// Building or signing failed.
    #[error(transparent)]
    Renew(#[from] RenewError),
}

/// The usage rules of a built-in signer, as kube-controller-manager applies them
/// (`kubernetes.io/kube-apiserver-client`: must include `client auth`, may add
/// `digital signature` and `key encipherment`, nothing else). Other signers: any
/// usage kcerts' signer knows.
pub fn check_usages(signer_name: &str, usages: &[String]) -> Result<(), ApiSignError> {
    if signer_name == KUBE_APISERVER_CLIENT_SIGNER {
        if !usages.iter().any(|u| u == "client auth") {
            return Err(ApiSignError::Usage(
                "missing required usage \"client auth\"".into(),
            ));
        }
        let allowed = ["digital signature", "key encipherment", "client auth"];
        if let Some(u) = usages.iter().find(|u| !allowed.contains(&u.as_str())) {
            return Err(ApiSignError::Usage(format!(
                "usage {u:?} is not allowed for {signer_name}"
            )));
        }
    }
    Ok(())
}

/// Signs a PEM CSR as kube-controller-manager's signer does: subject and SANs
/// from the request, key usages and extended key usages from `usages`, NotBefore
/// five minutes back, NotAfter `now + validity` capped at the CA's NotAfter.
pub fn sign_with_usages<R: CryptoRng + ?Sized>(
    csr_pem: &[u8],
    usages: &[String],
    ca: &SigningCa,
    validity: Duration,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Certificate, ApiSignError> {
    let req = csr::parse(csr_pem)?;
    if let Some(w) = strength::weaknesses(&req.signature_algorithm, &req.public_key)
        .into_iter()
        .next()
    {
        return Err(ApiSignError::Weak(w));
    }
    if !req.signature_valid {
        return Err(ApiSignError::BadSignature);
    }
    let key = RequestKey::from_der(&req.der)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = leaf::leaf_name(
        req.common_name.as_deref().unwrap_or_default(),
        &req.organizations,
    )?;
    for d in &req.dns_names {
        let name = d
            .clone()
            .try_into()
            .map_err(|_| ApiSignError::Usage(format!("DNS name {d:?} is not IA5")))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    for ip in &req.ip_addresses {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    for u in usages {
        match u.as_str() {
            "digital signature" => params.key_usages.push(KeyUsagePurpose::DigitalSignature),
            "key encipherment" => params.key_usages.push(KeyUsagePurpose::KeyEncipherment),
            "server auth" => params
                .extended_key_usages
                .push(leaf::eku(&ExtendedKeyUsage::ServerAuth)),
            "client auth" => params
                .extended_key_usages
                .push(leaf::eku(&ExtendedKeyUsage::ClientAuth)),
            other => return Err(ApiSignError::Usage(format!("unsupported usage {other:?}"))),
        }
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.serial_number = Some(leaf::random_serial(rng));
    params.not_before = now - leaf::BACKDATE;
    params.not_after = (now + validity).min(ca.cert.not_after);
    params.use_authority_key_identifier_extension = true;
    params.key_identifier_method = KeyIdMethod::PreSpecified(leaf::key_id(&key.bits));
    Ok(leaf::sign_params(&params, &key, ca)?)
}

/// A CSR's public key, as rcgen wants it for the certificate's SPKI.
struct RequestKey {
    bits: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
}

impl RequestKey {
    fn from_der(der: &[u8]) -> Result<Self, ApiSignError> {
        let (_, req) = X509CertificationRequest::from_der(der)
            .map_err(|e| csr::CsrError::Malformed(e.to_string()))?;
        let spki = &req.certification_request_info.subject_pki;
        let alg = spki.algorithm.algorithm.to_id_string();
        let curve = crate::x509::signature_check::named_curve(&spki.algorithm);
        let algorithm = match (alg.as_str(), curve.as_deref()) {
            ("1.2.840.113549.1.1.1", _) => &rcgen::PKCS_RSA_SHA256,
            ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => &rcgen::PKCS_ECDSA_P256_SHA256,
            ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => &rcgen::PKCS_ECDSA_P384_SHA384,
            ("1.3.101.112", _) => &rcgen::PKCS_ED25519,
            _ => return Err(ApiSignError::KeyAlgorithm(alg)),
        };
        Ok(Self {
            bits: spki.subject_public_key.data.to_vec(),
            algorithm,
        })
    }
}

impl rcgen::PublicKeyData for RequestKey {
    fn der_bytes(&self) -> &[u8] {
        &self.bits
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}
