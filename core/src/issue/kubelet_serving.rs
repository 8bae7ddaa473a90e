//! The kubelet's self-signed serving certificate, made as the kubelet makes it
//! when no `tlsCertFile` is configured (k8s.io/client-go/util/cert
//! `GenerateSelfSignedCertKey`): a CA `HOST-ca@<unix time>` signing a leaf
//! `HOST@<unix time>` for server auth, both valid one year from now, RSA 2048;
//! `kubelet.crt` holds the leaf then the CA, `kubelet.key` the leaf's key.

use std::net::IpAddr;

use rand_core::CryptoRng;
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyUsagePurpose, SanType};
use time::{Duration, OffsetDateTime};

use crate::issue::kubelet::KubeletError;
use crate::issue::leaf::{self, RenewError, SigningCa};
use crate::issue::rcgen_key::RcgenKey;
use crate::x509::certificate::Certificate;
use crate::x509::keys::{KeyAlgorithm, PrivateKey};

/// The kubelet's self-signed certificates last one year.
pub const VALIDITY: Duration = Duration::days(365);

/// What the certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingSpec {
    /// The node's hostname (an IP is taken as an IP SAN, a name as a DNS SAN).
    pub host: String,
    /// More IP SANs (the kubelet's `--address`, the node's addresses).
    pub ips: Vec<IpAddr>,
    /// More DNS SANs.
    pub dns: Vec<String>,
}

/// A new self-signed serving certificate.
pub struct SelfSigned {
    /// The leaf.
    pub leaf: Certificate,
    /// Its CA.
    pub ca: Certificate,
    /// The leaf's key.
    pub key: PrivateKey,
}

impl SelfSigned {
    /// `kubelet.crt`: the leaf, then the CA.
    pub fn cert_pem(&self) -> String {
        format!("{}{}", self.leaf.to_pem(), self.ca.to_pem())
    }
}

fn build(e: rcgen::Error) -> KubeletError {
    KubeletError::Issue(RenewError::Build(e.to_string()))
}

/// Generates the pair as of `now`.
pub fn generate<R: CryptoRng + ?Sized>(
    spec: &ServingSpec,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<SelfSigned, KubeletError> {
    if spec.host.is_empty() {
        return Err(KubeletError::BadNodeName(spec.host.clone()));
    }
    let unix = now.unix_timestamp();
    let ca_key = PrivateKey::generate(KeyAlgorithm::Rsa2048, rng).map_err(RenewError::from)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = leaf::leaf_name(&format!("{}-ca@{unix}", spec.host), &[])?;
    ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    ca.serial_number = Some(leaf::random_serial(rng));
    ca.not_before = now;
    ca.not_after = now + VALIDITY;
    ca.key_identifier_method = KeyIdMethod::PreSpecified(leaf::key_id(&ca_key.public_key_bits()));
    let der = ca.self_signed(&RcgenKey::new(&ca_key)).map_err(build)?;
    let ca_cert = Certificate::from_der(der.der()).map_err(RenewError::SelfCheck)?;
    let signer = SigningCa::new(ca_cert, ca_key)?;

    let key = PrivateKey::generate(KeyAlgorithm::Rsa2048, rng).map_err(RenewError::from)?;
    let mut p = CertificateParams::default();
    p.distinguished_name = leaf::leaf_name(&format!("{}@{unix}", spec.host), &[])?;
    let mut sans = Vec::new();
    match spec.host.parse::<IpAddr>() {
        Ok(ip) => sans.push(SanType::IpAddress(ip)),
        Err(_) => sans.push(SanType::DnsName(
            spec.host.clone().try_into().map_err(build)?,
        )),
    }
    sans.extend(spec.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    for d in &spec.dns {
        sans.push(SanType::DnsName(d.clone().try_into().map_err(build)?));
    }
    p.subject_alt_names = sans;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.serial_number = Some(leaf::random_serial(rng));
    p.not_before = now;
    p.not_after = now + VALIDITY;
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::PreSpecified(leaf::key_id(&key.public_key_bits()));
    let cert = leaf::sign_params(&p, &RcgenKey::new(&key), &signer)?;
    if !cert.matches_key(&key) {
        return Err(RenewError::SelfCheck("certificate does not match the new key".into()).into());
    }
    cert.verify_signed_by(&signer.cert)
        .map_err(|e| RenewError::SelfCheck(e.to_string()))?;
    Ok(SelfSigned {
        leaf: cert,
        ca: signer.cert,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn made_as_the_kubelet_makes_it() {
        let now = datetime!(2026-03-01 12:00 UTC);
        let spec = ServingSpec {
            host: "cp-1".into(),
            ips: vec!["10.0.0.5".parse().unwrap()],
            dns: vec![],
        };
        let s = generate(&spec, now, &mut crate::seeded_rng(8)).unwrap();
        let unix = now.unix_timestamp();
        assert_eq!(s.ca.common_name, Some(format!("cp-1-ca@{unix}")));
        assert_eq!(s.leaf.common_name, Some(format!("cp-1@{unix}")));
        assert_eq!(s.leaf.dns_names, ["cp-1"]);
        assert_eq!(s.leaf.ip_addresses, ["10.0.0.5".parse::<IpAddr>().unwrap()]);
        assert_eq!(s.leaf.not_after - s.leaf.not_before, VALIDITY);
        assert!(s.ca.is_ca && !s.leaf.is_ca);
        let pem = s.cert_pem();
        let all = crate::certificate::parse_all(pem.as_bytes()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].der, s.leaf.der);
    }
}
