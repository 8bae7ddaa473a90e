//! Building certificate signing requests as kubeadm writes them (pkiutil.NewCSR,
//! for `--csr-only`, `--use-api` and `generate-csr`): CN, every O value and the
//! SANs, no usages, laid out as Go's x509.CreateCertificateRequest (go_layout).

use thiserror::Error;

use crate::issue::go_layout;
use crate::issue::leaf::LeafSpec;
use crate::x509::certificate::Certificate;
use crate::x509::encoding;
use crate::x509::keys::PrivateKey;

/// Why a CSR could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CsrBuildError {
    /// A name that cannot be written (a DNS name that is not IA5) or signing failed.
    #[error("cannot build the request: {0}")]
    Build(String),
}

/// Builds a PEM CSR carrying CN, O and SANs of `spec` (no usages, as kubeadm;
/// the SANs in kubeadm's order), signed by `key`.
pub fn build(spec: &LeafSpec, key: &PrivateKey) -> Result<String, CsrBuildError> {
    let der = go_layout::sign_request(&spec.clone().in_kubeadm_order(), key)
        .map_err(|e| CsrBuildError::Build(e.to_string()))?;
    Ok(encoding::to_pem("CERTIFICATE REQUEST", &der))
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

    #[test]
    fn several_organizations_are_kept_in_one_rdn_as_go_writes_them() {
        let mut rng = crate::seeded_rng(6);
        for alg in [KeyAlgorithm::EcdsaP384, KeyAlgorithm::Rsa2048] {
            let key = PrivateKey::generate(alg, &mut rng).unwrap();
            let spec = LeafSpec {
                common_name: "kubernetes-admin".into(),
                organizations: vec!["system:masters".into(), "kubeadm:cluster-admins".into()],
                ..Default::default()
            };
            let pem = build(&spec, &key).unwrap();
            let csr = csr::parse(pem.as_bytes()).unwrap();
            assert!(csr.signature_valid, "{alg:?}");
            let mut orgs = csr.organizations.clone();
            orgs.sort();
            assert_eq!(orgs, ["kubeadm:cluster-admins", "system:masters"]);
            assert!(csr.dns_names.is_empty() && csr.ip_addresses.is_empty());
        }
    }
}
