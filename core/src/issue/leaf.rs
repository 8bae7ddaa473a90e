//! Renewal in memory (docs/kubeadm.md, Renewal): a new key and a new certificate that keeps
//! the old subject, SANs and extended key usages, signed by the CA.

use rand_core::CryptoRng;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyIdMethod, KeyUsagePurpose, SerialNumber,
};
use sha1::Digest;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use crate::issue::go_layout;
use crate::issue::rcgen_key::RcgenKey;
use crate::x509::certificate::{Certificate, ExtendedKeyUsage};
use crate::x509::keys::{KeyAlgorithm, PrivateKey};

pub use crate::issue::leaf_spec::{
    BACKDATE, CA_VALIDITY, DEFAULT_VALIDITY, Issued, LeafSpec, RenewError, RenewOptions,
    SelfCheckError, SigningCa,
};

/// Renews `old`: a new key of `opts.key_algorithm` and a certificate signed by `ca`.
pub fn renew<R: CryptoRng + ?Sized>(
    old: &Certificate,
    ca: &SigningCa,
    opts: &RenewOptions,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Issued, RenewError> {
    issue(&LeafSpec::from_existing(old), ca, opts, now, rng)
}

/// Issues a new leaf for `spec`, signed by `ca`, with a fresh key.
pub fn issue<R: CryptoRng + ?Sized>(
    spec: &LeafSpec,
    ca: &SigningCa,
    opts: &RenewOptions,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Issued, RenewError> {
    if opts.validity <= Duration::ZERO {
        return Err(RenewError::BadValidity);
    }
    let key = PrivateKey::generate(opts.key_algorithm, rng)?;
    issue_for_key(
        &spec.clone().in_kubeadm_order(),
        ca,
        key,
        opts.validity,
        now,
        rng,
    )
}

/// Issues a leaf for `spec` and an existing `key`, signed by `ca`, valid for `validity`
/// from `now` (backdated as [`issue`] does). Benchmarks use it to make large bundles
/// without paying for a key per certificate.
pub fn issue_for_key<R: CryptoRng + ?Sized>(
    spec: &LeafSpec,
    ca: &SigningCa,
    key: PrivateKey,
    validity: Duration,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Issued, RenewError> {
    if validity <= Duration::ZERO {
        return Err(RenewError::BadValidity);
    }
    // Laid out as Go's crypto/x509 writes kubeadm's leaves (go_layout.rs).
    let signed = go_layout::sign_leaf(
        &go_layout::LeafTbs {
            spec,
            subject_key: &key,
            serial: random_serial_u64(rng),
            not_before: now - BACKDATE,
            not_after: now + validity,
        },
        ca,
    )?;
    check_issued(&signed, &key, Some(ca))?;
    Ok(Issued { cert: signed, key })
}

/// Issues a self-signed CA certificate with a new key (for PKI generation).
pub fn issue_ca<R: CryptoRng + ?Sized>(
    common_name: &str,
    key_algorithm: KeyAlgorithm,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<SigningCa, RenewError> {
    issue_ca_for(common_name, key_algorithm, CA_VALIDITY, now, rng)
}

/// Issues a self-signed CA certificate with a new key, valid for `validity`
/// (a CA rotation's new CA).
pub fn issue_ca_for<R: CryptoRng + ?Sized>(
    common_name: &str,
    key_algorithm: KeyAlgorithm,
    validity: Duration,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<SigningCa, RenewError> {
    let key = PrivateKey::generate(key_algorithm, rng)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = leaf_name(common_name, &[])?;
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.serial_number = Some(random_serial(rng));
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_id(&key.public_key_bits()));
    let signer = RcgenKey::new(&key);
    let der = params
        .self_signed(&signer)
        .map_err(|e| RenewError::Build(e.to_string()))?;
    let cert = Certificate::from_der(der.der()).map_err(|e| RenewError::SelfCheck(e.into()))?;
    check_issued(&cert, &key, None)?;
    SigningCa::new(cert, key)
}

/// Signs `params` over `subject`'s public key (a new key here, a CSR's key in
/// `api_signer::sign_with_usages`).
pub(crate) fn sign_params(
    params: &CertificateParams,
    subject: &impl rcgen::PublicKeyData,
    ca: &SigningCa,
) -> Result<Certificate, RenewError> {
    let ca_key = RcgenKey::new(&ca.key);
    let mut issuer_params = CertificateParams::default();
    issuer_params.distinguished_name = exact_name(&ca.cert)?;
    // The AKI of the new certificate must equal the CA's SKI, or openssl rejects the chain.
    let ca_key_id = ca
        .cert
        .subject_key_id
        .as_deref()
        .and_then(crate::x509::hex::unhex)
        .unwrap_or_else(|| key_id(&ca.cert.public_key_bits()));
    issuer_params.key_identifier_method = KeyIdMethod::PreSpecified(ca_key_id);
    let issuer = Issuer::new(issuer_params, ca_key);
    let der = params
        .signed_by(subject, &issuer)
        .map_err(|e| RenewError::Build(e.to_string()))?;
    Certificate::from_der(der.der()).map_err(|e| RenewError::SelfCheck(e.into()))
}

/// Checks the new certificate before anyone writes it: it matches its key, and
/// (for leaves) its issuer name and signature are the CA's.
fn check_issued(
    cert: &Certificate,
    key: &PrivateKey,
    ca: Option<&SigningCa>,
) -> Result<(), RenewError> {
    if !cert.matches_key(key) {
        return Err(RenewError::SelfCheck(SelfCheckError::KeyMismatch));
    }
    let issuer = ca.map(|c| &c.cert).unwrap_or(cert);
    cert.verify_signed_by(issuer)
        .map_err(|e| RenewError::SelfCheck(e.into()))
}

/// RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey bits (what Go uses).
pub fn key_id(public_key_bits: &[u8]) -> Vec<u8> {
    sha1::Sha1::digest(public_key_bits).to_vec()
}

/// A random positive 63-bit serial, as kubeadm draws them.
pub(crate) fn random_serial<R: CryptoRng + ?Sized>(rng: &mut R) -> SerialNumber {
    SerialNumber::from(random_serial_u64(rng).to_be_bytes().to_vec())
}

/// [`random_serial`] as a number: in [1, 2^63).
fn random_serial_u64<R: CryptoRng + ?Sized>(rng: &mut R) -> u64 {
    let n = rng.next_u64() & (u64::MAX >> 1);
    n.max(1)
}

pub(crate) fn eku(e: &ExtendedKeyUsage) -> ExtendedKeyUsagePurpose {
    match e {
        ExtendedKeyUsage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsage::Other(oid) => {
            ExtendedKeyUsagePurpose::Other(oid.split('.').filter_map(|p| p.parse().ok()).collect())
        }
    }
}

/// Go's pkix.Name order: O before CN; PrintableString when the value allows it.
pub(crate) fn leaf_name(cn: &str, orgs: &[String]) -> Result<DistinguishedName, RenewError> {
    if orgs.len() > 1 {
        return Err(RenewError::Subject(format!(
            "it has {} organizations ({}); kcerts can only write one",
            orgs.len(),
            orgs.join(", ")
        )));
    }
    let mut dn = DistinguishedName::new();
    for o in orgs {
        dn.push(DnType::OrganizationName, go_string(o));
    }
    if !cn.is_empty() {
        dn.push(DnType::CommonName, go_string(cn));
    }
    Ok(dn)
}

fn go_string(s: &str) -> DnValue {
    match printable(s) {
        Some(p) => DnValue::PrintableString(p),
        None => DnValue::Utf8String(s.to_string()),
    }
}

/// `s` as a PrintableString that rcgen can write. X.680 allows `?` in a
/// PrintableString (Go writes it so), but rcgen's DER writer (yasna 0.6) panics on
/// it, so such a value is not offered as printable. Found by the `roundtrip` fuzz
/// target: a subject `CN=a?b` made renewal panic.
fn printable(s: &str) -> Option<rcgen::string::PrintableString> {
    if s.contains('?') {
        return None;
    }
    rcgen::string::PrintableString::try_from(s).ok()
}

/// Rebuilds the CA's subject name attribute by attribute, keeping string types,
/// so the new certificate's issuer is byte-identical to it (checked afterwards).
fn exact_name(ca: &Certificate) -> Result<DistinguishedName, RenewError> {
    let (_, x509) =
        X509Certificate::from_der(&ca.der).map_err(|e| RenewError::Subject(e.to_string()))?;
    name_from_x509(x509.subject())
}

fn name_from_x509(name: &X509Name<'_>) -> Result<DistinguishedName, RenewError> {
    use x509_parser::der_parser::asn1_rs::Tag;
    let mut dn = DistinguishedName::new();
    for rdn in name.iter() {
        let mut attrs = rdn.iter();
        let (Some(attr), None) = (attrs.next(), attrs.next()) else {
            return Err(RenewError::Subject(
                "the CA name has a multi-valued RDN".into(),
            ));
        };
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or_else(|| RenewError::Subject("the CA name has an oversized OID".into()))?
            .collect();
        let ty = DnType::from_oid(&oid);
        if dn.get(&ty).is_some() {
            return Err(RenewError::Subject(
                "the CA name repeats an attribute type, which rcgen cannot encode".into(),
            ));
        }
        let data = attr.attr_value().data;
        let text = || {
            std::str::from_utf8(data)
                .map(str::to_string)
                .map_err(|_| RenewError::Subject("the CA name is not valid text".into()))
        };
        let value = match attr.attr_value().header.tag() {
            Tag::PrintableString => {
                DnValue::PrintableString(printable(&text()?).ok_or_else(|| {
                    RenewError::Subject(
                        "the CA name has a PrintableString with a character rcgen cannot \
                         write (such as '?'); re-issue the CA or renew with openssl"
                            .into(),
                    )
                })?)
            }
            Tag::Ia5String => DnValue::Ia5String(
                text()?
                    .try_into()
                    .map_err(|_| RenewError::Subject("bad IA5String".into()))?,
            ),
            Tag::Utf8String => DnValue::Utf8String(text()?),
            Tag::T61String => DnValue::TeletexString(
                text()?
                    .try_into()
                    .map_err(|_| RenewError::Subject("bad TeletexString".into()))?,
            ),
            other => {
                return Err(RenewError::Subject(format!(
                    "the CA name uses an unsupported string type ({other})"
                )));
            }
        };
        dn.push(ty, value);
    }
    Ok(dn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::NOW;
    use std::net::IpAddr;

    #[test]
    fn renewal_keeps_names_and_usages_and_chains() {
        let mut rng = crate::seeded_rng(3);
        let ca = issue_ca("kubernetes", KeyAlgorithm::EcdsaP256, NOW, &mut rng).unwrap();
        let spec = LeafSpec {
            common_name: "kube-apiserver".into(),
            organizations: vec![],
            dns_names: vec!["kubernetes".into(), "b".into(), "kubernetes".into()],
            ip_addresses: vec!["10.96.0.1".parse().unwrap(), "10.96.0.1".parse().unwrap()],
            extended_key_usage: vec![ExtendedKeyUsage::ServerAuth],
        };
        let opts = RenewOptions {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity: DEFAULT_VALIDITY,
        };
        let first = issue(&spec, &ca, &opts, NOW, &mut rng).unwrap();
        let later = NOW + Duration::days(300);
        let renewed = renew(&first.cert, &ca, &opts, later, &mut rng).unwrap();
        let c = &renewed.cert;
        assert_eq!(c.common_name.as_deref(), Some("kube-apiserver"));
        assert_eq!(c.dns_names, ["b", "kubernetes"]);
        assert_eq!(c.ip_addresses, ["10.96.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(c.extended_key_usage, [ExtendedKeyUsage::ServerAuth]);
        assert_eq!(c.key_usage, ["digitalSignature", "keyEncipherment"]);
        assert!(!c.is_ca);
        assert_eq!(c.not_before, later - BACKDATE);
        assert_eq!(c.not_after, later + DEFAULT_VALIDITY);
        assert_eq!(c.authority_key_id, ca.cert.subject_key_id);
        assert!(c.matches_key(&renewed.key));
        assert!(!c.matches_key(&first.key));
        assert_ne!(c.serial, first.cert.serial);
        c.verify_signed_by(&ca.cert).unwrap();
    }

    #[test]
    fn refuses_a_wrong_ca_key_and_a_non_ca() {
        let mut rng = crate::seeded_rng(4);
        let ca = issue_ca("kubernetes", KeyAlgorithm::EcdsaP256, NOW, &mut rng).unwrap();
        let other = PrivateKey::generate(KeyAlgorithm::EcdsaP256, &mut rng).unwrap();
        assert_eq!(
            SigningCa::new(ca.cert.clone(), other).unwrap_err(),
            RenewError::CaKeyMismatch
        );
        let leaf = issue(
            &LeafSpec {
                common_name: "x".into(),
                extended_key_usage: vec![ExtendedKeyUsage::ClientAuth],
                ..Default::default()
            },
            &ca,
            &RenewOptions {
                key_algorithm: KeyAlgorithm::EcdsaP256,
                ..Default::default()
            },
            NOW,
            &mut rng,
        )
        .unwrap();
        assert_eq!(
            SigningCa::new(leaf.cert, leaf.key).unwrap_err(),
            RenewError::NotACa
        );
    }

    #[test]
    fn a_malformed_extended_key_usage_oid_is_shown_as_such_and_not_renewed() {
        let mut rng = crate::seeded_rng(5);
        let ca = issue_ca("kubernetes", KeyAlgorithm::EcdsaP256, NOW, &mut rng).unwrap();
        let opts = RenewOptions {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            ..Default::default()
        };
        let spec = LeafSpec {
            common_name: "kube-apiserver-kubelet-client".into(),
            extended_key_usage: vec![ExtendedKeyUsage::ClientAuth],
            ..Default::default()
        };
        let leaf = issue(&spec, &ca, &opts, NOW, &mut rng).unwrap();
        // clientAuth is 06 08 2b 06 01 05 05 07 03 02; set the continuation bit of
        // its last arc, leaving the arc cut short (what the fuzzer found).
        let client_auth = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
        let mut der = leaf.cert.der.clone();
        let at = der
            .windows(client_auth.len())
            .position(|w| w == client_auth)
            .unwrap();
        der[at + client_auth.len() - 1] = 0x82;
        let bad = Certificate::from_der(&der).unwrap();
        assert_eq!(
            bad.extended_key_usage,
            [ExtendedKeyUsage::Other(
                "malformed OID 2b06010505070382".into()
            )]
        );
        let err = renew(&bad, &ca, &opts, NOW, &mut rng).unwrap_err();
        assert!(err.to_string().contains("malformed OID"), "{err}");
    }

    #[test]
    fn a_question_mark_in_a_name_is_written_as_utf8_instead_of_panicking() {
        let mut rng = crate::seeded_rng(6);
        let ca = issue_ca("kubernetes?", KeyAlgorithm::EcdsaP256, NOW, &mut rng).unwrap();
        let spec = LeafSpec {
            common_name: "who?".into(),
            organizations: vec!["system:masters?".into()],
            extended_key_usage: vec![ExtendedKeyUsage::ClientAuth],
            ..Default::default()
        };
        let opts = RenewOptions {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            ..Default::default()
        };
        let leaf = issue(&spec, &ca, &opts, NOW, &mut rng).unwrap();
        assert_eq!(leaf.cert.common_name.as_deref(), Some("who?"));
        assert_eq!(leaf.cert.organizations, ["system:masters?"]);
        leaf.cert.verify_signed_by(&ca.cert).unwrap();
    }
}
