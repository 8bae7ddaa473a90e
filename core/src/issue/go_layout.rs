//! A leaf certificate laid out as kubeadm gets it from Go's `crypto/x509`
//! (`x509.CreateCertificate` called by kubeadm's `pkiutil.NewSignedCert`):
//! the same fields, extensions and name encoding, written with our own DER
//! writer because rcgen fixes its own extension order, adds a Subject Key
//! Identifier to every leaf and keeps one value per name attribute.
//!
//! What Go writes for kubeadm's leaf template, in this order:
//! 1. KeyUsage, critical: digitalSignature and keyEncipherment;
//! 2. ExtKeyUsage, not critical, in the template's order;
//! 3. BasicConstraints, critical, an empty SEQUENCE (CA false);
//! 4. no SubjectKeyIdentifier: Go derives one only for CA templates;
//! 5. AuthorityKeyIdentifier, only when the CA has a Subject Key Identifier;
//! 6. SubjectAltName: DNS names, then IP addresses (IPv4 as 4 bytes); critical
//!    only when the subject is empty, left out when there is no name.
//!
//! The subject is Go's `pkix.Name` order: one RDN holding every Organization
//! value (a SET, so sorted by encoding as DER requires), then the CommonName.

use time::OffsetDateTime;

use crate::issue::leaf_spec::{LeafSpec, RenewError, SigningCa};
use crate::issue::rcgen_key::RcgenKey;
use crate::x509::certificate::{Certificate, ExtendedKeyUsage};
use crate::x509::der_write::{self as der, tag};
use crate::x509::hex::unhex;
use crate::x509::keys::{self, PrivateKey};

/// Extension OIDs, in the order Go writes them for a kubeadm leaf.
pub mod oid {
    /// keyUsage
    pub const KEY_USAGE: &str = "2.5.29.15";
    /// extKeyUsage
    pub const EXT_KEY_USAGE: &str = "2.5.29.37";
    /// basicConstraints
    pub const BASIC_CONSTRAINTS: &str = "2.5.29.19";
    /// authorityKeyIdentifier
    pub const AUTHORITY_KEY_ID: &str = "2.5.29.35";
    /// subjectAltName
    pub const SUBJECT_ALT_NAME: &str = "2.5.29.17";
    /// subjectKeyIdentifier (never on a leaf kubeadm writes)
    #[cfg(test)]
    pub const SUBJECT_KEY_ID: &str = "2.5.29.14";
}

const ORGANIZATION: &str = "2.5.4.10";
const COMMON_NAME: &str = "2.5.4.3";
const SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";

/// What the issuer signs: the leaf's contents apart from the CA.
pub(crate) struct LeafTbs<'a> {
    pub spec: &'a LeafSpec,
    pub subject_key: &'a PrivateKey,
    pub serial: u64,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Builds and signs the leaf.
pub(crate) fn sign_leaf(leaf: &LeafTbs<'_>, ca: &SigningCa) -> Result<Certificate, RenewError> {
    let spec = leaf.spec;
    // kubeadm's pkiutil.NewCertAndKey refuses before making a key:
    // "must specify at least one ExtKeyUsage".
    if spec.extended_key_usage.is_empty() {
        return Err(RenewError::Build(
            "it has no extended key usage; kubeadm refuses such a certificate \
             (\"must specify at least one ExtKeyUsage\")"
                .into(),
        ));
    }
    let ca_x509 = ca_subject(&ca.cert)?;
    let alg = signature_algorithm(&ca.key);
    let subject = name(&spec.common_name, &spec.organizations);
    let subject_is_empty = spec.common_name.is_empty() && spec.organizations.is_empty();
    let mut extensions = vec![
        extension(oid::KEY_USAGE, true, &key_usage()),
        extension(oid::EXT_KEY_USAGE, false, &ext_key_usage(spec)?),
        extension(oid::BASIC_CONSTRAINTS, true, &der::sequence(&[])),
    ];
    if let Some(ski) = ca.cert.subject_key_id.as_deref().and_then(unhex) {
        // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
        let aki = der::sequence(&[der::tlv(0x80, &ski)]);
        extensions.push(extension(oid::AUTHORITY_KEY_ID, false, &aki));
    }
    if let Some(sans) = subject_alt_names(spec)? {
        extensions.push(extension(oid::SUBJECT_ALT_NAME, subject_is_empty, &sans));
    }
    let tbs = der::sequence(&[
        der::tlv(0xa0, &der::unsigned_integer(&[2])),
        der::unsigned_integer(&leaf.serial.to_be_bytes()),
        alg.clone(),
        ca_x509,
        der::sequence(&[der::time(leaf.not_before), der::time(leaf.not_after)]),
        subject,
        keys::spki_der(leaf.subject_key),
        der::tlv(0xa3, &der::sequence(&extensions)),
    ]);
    let signature = rcgen::SigningKey::sign(&RcgenKey::new(&ca.key), &tbs)
        .map_err(|e| RenewError::Build(format!("signing failed: {e}")))?;
    let mut bits = vec![0u8];
    bits.extend(signature);
    let cert = der::sequence(&[tbs, alg, der::tlv(tag::BIT_STRING, &bits)]);
    Certificate::from_der(&cert).map_err(|e| RenewError::SelfCheck(e.into()))
}

/// PKCS#9 extensionRequest, the CSR attribute holding requested extensions.
const EXTENSION_REQUEST: &str = "1.2.840.113549.1.9.14";

/// A certificate signing request as Go's `x509.CreateCertificateRequest` writes
/// kubeadm's (`pkiutil.NewCSR`): version 0, the subject as above (every O value
/// kept), the key, and an extensionRequest attribute holding only the
/// SubjectAltName when there are names (no attribute otherwise); signed by
/// `key` with the algorithm Go picks for it. Returns the DER.
pub(crate) fn sign_request(spec: &LeafSpec, key: &PrivateKey) -> Result<Vec<u8>, RenewError> {
    let subject = name(&spec.common_name, &spec.organizations);
    let subject_is_empty = spec.common_name.is_empty() && spec.organizations.is_empty();
    let attributes = match subject_alt_names(spec)? {
        None => der::tlv(0xa0, &[]),
        Some(sans) => {
            let extensions =
                der::sequence(&[extension(oid::SUBJECT_ALT_NAME, subject_is_empty, &sans)]);
            der::tlv(
                0xa0,
                &der::sequence(&[
                    der::oid(EXTENSION_REQUEST).unwrap_or_default(),
                    der::set_of(vec![extensions]),
                ]),
            )
        }
    };
    let info = der::sequence(&[
        der::unsigned_integer(&[0]),
        subject,
        keys::spki_der(key),
        attributes,
    ]);
    let alg = signature_algorithm(key);
    let signature = rcgen::SigningKey::sign(&RcgenKey::new(key), &info)
        .map_err(|e| RenewError::Build(format!("signing failed: {e}")))?;
    let mut bits = vec![0u8];
    bits.extend(signature);
    Ok(der::sequence(&[
        info,
        alg,
        der::tlv(tag::BIT_STRING, &bits),
    ]))
}

/// The CA's subject, byte for byte: the new certificate's issuer.
fn ca_subject(ca: &Certificate) -> Result<Vec<u8>, RenewError> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, x509) =
        X509Certificate::from_der(&ca.der).map_err(|e| RenewError::Subject(e.to_string()))?;
    Ok(x509.subject().as_raw().to_vec())
}

/// The AlgorithmIdentifier Go uses with the CA's key: SHA-256 for RSA and
/// P-256, SHA-384 for P-384 (rcgen_key signs the same way).
fn signature_algorithm(key: &PrivateKey) -> Vec<u8> {
    let (oid, null_params) = match key {
        PrivateKey::Rsa(_) => ("1.2.840.113549.1.1.11", true),
        PrivateKey::P256(_) => ("1.2.840.10045.4.3.2", false),
        PrivateKey::P384(_) => ("1.2.840.10045.4.3.3", false),
        PrivateKey::Ed25519(_) => ("1.3.101.112", false),
    };
    let mut parts = vec![der::oid(oid).unwrap_or_default()];
    if null_params {
        parts.push(vec![0x05, 0x00]);
    }
    der::sequence(&parts)
}

/// Go's pkix.Name: all O values in one RDN, then CN.
fn name(cn: &str, orgs: &[String]) -> Vec<u8> {
    let atv = |oid: &str, value: &str| {
        der::sequence(&[
            der::oid(oid).unwrap_or_default(),
            der::directory_string(value),
        ])
    };
    let mut rdns = Vec::new();
    if !orgs.is_empty() {
        rdns.push(der::set_of(
            orgs.iter().map(|o| atv(ORGANIZATION, o)).collect(),
        ));
    }
    if !cn.is_empty() {
        rdns.push(der::set_of(vec![atv(COMMON_NAME, cn)]));
    }
    der::sequence(&rdns)
}

fn extension(oid: &str, critical: bool, value: &[u8]) -> Vec<u8> {
    let mut parts = vec![der::oid(oid).unwrap_or_default()];
    if critical {
        parts.push(der::tlv(tag::BOOLEAN, &[0xff]));
    }
    parts.push(der::tlv(tag::OCTET_STRING, value));
    der::sequence(&parts)
}

/// digitalSignature (bit 0) and keyEncipherment (bit 2): one byte 1010_0000,
/// five unused bits, as Go trims trailing zero bits.
fn key_usage() -> Vec<u8> {
    der::tlv(tag::BIT_STRING, &[0x05, 0xa0])
}

fn ext_key_usage(spec: &LeafSpec) -> Result<Vec<u8>, RenewError> {
    let oids = spec
        .extended_key_usage
        .iter()
        .map(|e| {
            let dotted = match e {
                ExtendedKeyUsage::ServerAuth => SERVER_AUTH,
                ExtendedKeyUsage::ClientAuth => CLIENT_AUTH,
                ExtendedKeyUsage::Other(o) => o.as_str(),
            };
            der::oid(dotted).ok_or_else(|| {
                RenewError::Build(format!(
                    "the extended key usage OID {dotted} cannot be encoded"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(der::sequence(&oids))
}

/// DNS names ([2] IA5String), then IP addresses ([7] OCTET STRING).
fn subject_alt_names(spec: &LeafSpec) -> Result<Option<Vec<u8>>, RenewError> {
    if spec.dns_names.is_empty() && spec.ip_addresses.is_empty() {
        return Ok(None);
    }
    let mut names = Vec::new();
    for d in &spec.dns_names {
        if !d.is_ascii() {
            return Err(RenewError::Subject(format!("DNS name {d:?} is not IA5")));
        }
        names.push(der::tlv(0x82, d.as_bytes()));
    }
    for ip in &spec.ip_addresses {
        let bytes = match ip {
            std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
            std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        names.push(der::tlv(0x87, &bytes));
    }
    Ok(Some(der::sequence(&names)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::leaf::{self, RenewOptions};
    use crate::test_support::NOW;
    use crate::x509::keys::KeyAlgorithm;
    use x509_parser::prelude::{FromDer, X509Certificate};

    /// The extension OIDs of a certificate, in the order they are written.
    fn extension_order(der: &[u8]) -> Vec<(String, bool)> {
        let (_, x509) = X509Certificate::from_der(der).unwrap();
        x509.extensions()
            .iter()
            .map(|e| (e.oid.to_id_string(), e.critical))
            .collect()
    }

    fn renewed(spec: &LeafSpec, alg: KeyAlgorithm) -> (Certificate, SigningCa) {
        let mut rng = crate::seeded_rng(41);
        let ca = leaf::issue_ca("kubernetes", alg, NOW, &mut rng).unwrap();
        let opts = RenewOptions {
            key_algorithm: alg,
            ..Default::default()
        };
        let first = leaf::issue(spec, &ca, &opts, NOW, &mut rng).unwrap();
        let again = leaf::renew(&first.cert, &ca, &opts, NOW, &mut rng).unwrap();
        (again.cert, ca)
    }

    #[test]
    fn extensions_come_in_go_order_without_a_subject_key_identifier() {
        // Go's order for kubeadm's leaf template (crypto/x509 buildCertExtensions):
        // key usage, extended key usage, basic constraints, (subject key id: CAs
        // only), authority key id, subject alternative names.
        let go_order = [
            (oid::KEY_USAGE, true),
            (oid::EXT_KEY_USAGE, false),
            (oid::BASIC_CONSTRAINTS, true),
            (oid::AUTHORITY_KEY_ID, false),
            (oid::SUBJECT_ALT_NAME, false),
        ];
        let spec = LeafSpec {
            common_name: "kube-apiserver".into(),
            dns_names: vec!["kubernetes".into()],
            ip_addresses: vec!["10.96.0.1".parse().unwrap(), "::1".parse().unwrap()],
            extended_key_usage: vec![ExtendedKeyUsage::ServerAuth],
            ..Default::default()
        };
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
            let (cert, ca) = renewed(&spec, alg);
            let got = extension_order(&cert.der);
            let want: Vec<_> = go_order.iter().map(|(o, c)| (o.to_string(), *c)).collect();
            assert_eq!(got, want);
            assert!(!got.iter().any(|(o, _)| o == oid::SUBJECT_KEY_ID));
            assert_eq!(cert.subject_key_id, None);
            assert_eq!(cert.authority_key_id, ca.cert.subject_key_id);
            assert_eq!(cert.key_usage, ["digitalSignature", "keyEncipherment"]);
            assert_eq!(cert.ip_addresses, spec.ip_addresses);
            assert!(!cert.is_ca);
            cert.verify_signed_by(&ca.cert).unwrap();
        }
        // No names: no SubjectAltName extension at all.
        let (cert, _) = renewed(
            &LeafSpec {
                common_name: "kube-apiserver-kubelet-client".into(),
                extended_key_usage: vec![ExtendedKeyUsage::ClientAuth],
                ..Default::default()
            },
            KeyAlgorithm::EcdsaP256,
        );
        assert_eq!(extension_order(&cert.der).len(), 4);
    }

    #[test]
    fn every_organization_is_kept_in_one_rdn_sorted_as_der() {
        let spec = LeafSpec {
            common_name: "kubernetes-admin".into(),
            organizations: vec!["system:masters".into(), "kubeadm:cluster-admins".into()],
            extended_key_usage: vec![ExtendedKeyUsage::ClientAuth],
            ..Default::default()
        };
        let (cert, _) = renewed(&spec, KeyAlgorithm::EcdsaP256);
        // A SET OF is sorted by encoding: the shorter value first.
        assert_eq!(
            cert.organizations,
            ["system:masters", "kubeadm:cluster-admins"]
        );
        let (_, x509) = X509Certificate::from_der(&cert.der).unwrap();
        let rdns: Vec<usize> = x509.subject().iter().map(|r| r.iter().count()).collect();
        assert_eq!(rdns, [2, 1]);
    }

    #[test]
    fn a_certificate_without_extended_key_usage_is_refused_like_kubeadm() {
        let mut rng = crate::seeded_rng(42);
        let ca = leaf::issue_ca("kubernetes", KeyAlgorithm::EcdsaP256, NOW, &mut rng).unwrap();
        let opts = RenewOptions {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            ..Default::default()
        };
        let spec = LeafSpec {
            common_name: "no-usage".into(),
            ..Default::default()
        };
        let err = leaf::issue(&spec, &ca, &opts, NOW, &mut rng).unwrap_err();
        assert!(
            err.to_string()
                .contains("must specify at least one ExtKeyUsage"),
            "{err}"
        );
    }
}
