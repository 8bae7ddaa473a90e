//! Building certificate signing requests as kubeadm's `--csr-only` writes them
//! (docs/kubeadm.md, CSRs and --csr-only): CN, O and SANs of the certificate to
//! renew, no usages.

use rcgen::{CertificateParams, SanType};
use thiserror::Error;

use crate::issue::leaf::LeafSpec;
use crate::issue::rcgen_key::RcgenKey;
use crate::x509::certificate::Certificate;
use crate::x509::encoding;
use crate::x509::keys::PrivateKey;

/// Why a CSR could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CsrBuildError {
    /// kubeadm's requests carry at most one organization.
    #[error("cannot build the request: more than one organization")]
    TooManyOrganizations,
    /// A DNS name that is not IA5 (ASCII) text.
    #[error("cannot build the request: DNS name {name:?} is not IA5")]
    NotIa5 {
        /// The name.
        name: String,
    },
    /// rcgen refused the parameters or signing failed.
    #[error("cannot build the request: {0}")]
    Rcgen(rcgen::Error),
}

/// Builds a PEM CSR carrying CN, O and SANs of `spec` (no usages, as kubeadm), signed by `key`.
pub fn build(spec: &LeafSpec, key: &PrivateKey) -> Result<String, CsrBuildError> {
    let mut params = CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    if spec.organizations.len() > 1 {
        return Err(CsrBuildError::TooManyOrganizations);
    }
    for o in &spec.organizations {
        dn.push(rcgen::DnType::OrganizationName, o.as_str());
    }
    dn.push(rcgen::DnType::CommonName, spec.common_name.as_str());
    params.distinguished_name = dn;
    for d in &spec.dns_names {
        let name = d
            .clone()
            .try_into()
            .map_err(|_| CsrBuildError::NotIa5 { name: d.clone() })?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    for ip in &spec.ip_addresses {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    let signer = RcgenKey::new(key);
    let csr = params
        .serialize_request(&signer)
        .map_err(CsrBuildError::Rcgen)?;
    Ok(encoding::to_pem("CERTIFICATE REQUEST", csr.der()))
}

/// Builds a CSR for renewing `cert` with `key`.
pub fn for_certificate(cert: &Certificate, key: &PrivateKey) -> Result<String, CsrBuildError> {
    build(&LeafSpec::from_existing(cert), key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;
    use crate::x509::csr;

    #[test]
    fn built_csr_parses_back_with_names_and_a_valid_signature() {
        let mut rng = crate::seeded_rng(5);
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256, &mut rng).unwrap();
        let spec = LeafSpec {
            common_name: "kubernetes-admin".into(),
            organizations: vec!["kubeadm:cluster-admins".into()],
            dns_names: vec!["localhost".into()],
            ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            ..Default::default()
        };
        let pem = build(&spec, &key).unwrap();
        let csr = csr::parse(pem.as_bytes()).unwrap();
        assert!(csr.signature_valid);
        assert_eq!(csr.common_name.as_deref(), Some("kubernetes-admin"));
        assert_eq!(csr.organizations, ["kubeadm:cluster-admins"]);
        assert_eq!(csr.dns_names, ["localhost"]);
        assert_eq!(csr.public_key_bits, key.public_key_bits());
    }
}
