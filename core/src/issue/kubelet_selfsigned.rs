//! The kubelet's self-signed serving certificate, made as the kubelet makes it when
//! no `tlsCertFile` is configured (k8s.io/client-go/util/cert
//! `GenerateSelfSignedCertKey`): a CA `HOST-ca@<unix time>` signing a leaf
//! `HOST@<unix time>` for server auth, both valid from an hour ago for one year,
//! RSA 2048; `kubelet.crt` holds the leaf then the CA, `kubelet.key` the leaf's key.
//! Unlike client-go, the serials are random (client-go writes 1 and 2).

use std::net::IpAddr;

use rand_core::CryptoRng;
use rcgen::{
    CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::issue::kubelet::{self, KubeletError};
use crate::issue::leaf::{self, RenewError, SelfCheckError, SigningCa};
use crate::issue::rcgen_key::RcgenKey;
use crate::x509::certificate::Certificate;
use crate::x509::keys::{KeyAlgorithm, PrivateKey};

/// The kubelet's self-signed certificates last one year.
pub const VALIDITY: Duration = Duration::days(365);

/// client-go starts them an hour before now, against clock skew.
pub const BACKDATE: Duration = Duration::hours(1);

/// The file names in the kubelet's certificate directory.
pub const CERT_FILE: &str = "kubelet.crt";
/// The leaf's key.
pub const KEY_FILE: &str = "kubelet.key";
/// The link to the CA-signed pair when `serverTLSBootstrap` is on.
pub const SERVER_CURRENT: &str = "kubelet-server-current.pem";

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

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("SelfSigned")
            .field("leaf", &self.leaf.subject)
            .field("ca", &self.ca.subject)
            .finish_non_exhaustive()
    }
}

impl SelfSigned {
    /// `kubelet.crt`: the leaf, then the CA.
    pub fn cert_pem(&self) -> String {
        format!("{}{}", self.leaf.to_pem(), self.ca.to_pem())
    }
}

/// The host a kubelet serving certificate was made for: the CN before
/// `@<unix time>` (as `GenerateSelfSignedCertKey` names it), else the first DNS
/// SAN, else the first IP SAN.
pub fn host_of(cert: &Certificate) -> Option<String> {
    let from_cn = cert.common_name.as_deref().and_then(|cn| {
        let (host, unix) = cn.rsplit_once('@')?;
        (!host.is_empty() && !unix.is_empty() && unix.bytes().all(|b| b.is_ascii_digit()))
            .then(|| host.to_string())
    });
    from_cn
        .or_else(|| cert.dns_names.first().cloned())
        .or_else(|| cert.ip_addresses.first().map(IpAddr::to_string))
}

fn build(e: impl std::fmt::Display) -> KubeletError {
    KubeletError::Issue(RenewError::Build(e.to_string()))
}

/// Checks the host: an IP address, or a DNS name (lowercase, as node names are).
fn check_host(host: &str) -> Result<(), KubeletError> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    kubelet::check_node_name(host)
}

/// Generates the pair as of `now`.
pub fn generate<R: CryptoRng + ?Sized>(
    spec: &ServingSpec,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<SelfSigned, KubeletError> {
    check_host(&spec.host)?;
    for d in &spec.dns {
        kubelet::check_node_name(d)?;
    }
    let unix = now.unix_timestamp();
    let not_before = now - BACKDATE;
    let not_after = not_before + VALIDITY;

    let ca_key = PrivateKey::generate(KeyAlgorithm::Rsa2048, rng).map_err(RenewError::from)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = leaf::leaf_name(&format!("{}-ca@{unix}", spec.host), &[])?;
    ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    ca.serial_number = Some(leaf::random_serial(rng));
    ca.not_before = not_before;
    ca.not_after = not_after;
    ca.key_identifier_method = KeyIdMethod::PreSpecified(leaf::key_id(&ca_key.public_key_bits()));
    let der = ca.self_signed(&RcgenKey::new(&ca_key)).map_err(build)?;
    let ca_cert = Certificate::from_der(der.der())
        .map_err(|e| RenewError::SelfCheck(SelfCheckError::Der(e)))?;
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
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.serial_number = Some(leaf::random_serial(rng));
    p.not_before = not_before;
    p.not_after = not_after;
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::PreSpecified(leaf::key_id(&key.public_key_bits()));
    let cert = leaf::sign_params(&p, &RcgenKey::new(&key), &signer)?;
    if !cert.matches_key(&key) {
        return Err(RenewError::SelfCheck(SelfCheckError::KeyMismatch).into());
    }
    cert.verify_signed_by(&signer.cert)
        .map_err(|e| RenewError::SelfCheck(SelfCheckError::Issuer(e)))?;
    Ok(SelfSigned {
        leaf: cert,
        ca: signer.cert,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::NOW;

    #[test]
    fn made_as_the_kubelet_makes_it() {
        let now = NOW;
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
        assert_eq!(s.leaf.not_before, now - BACKDATE);
        assert_eq!(s.leaf.not_after - s.leaf.not_before, VALIDITY);
        assert_eq!(s.ca.not_after, s.leaf.not_after);
        assert!(s.ca.is_ca && !s.leaf.is_ca);
        assert_eq!(s.key.algorithm(), Some(KeyAlgorithm::Rsa2048));
        assert!(s.leaf.verify_signed_by(&s.ca).is_ok());
        let pem = s.cert_pem();
        let all = crate::x509::certificate::parse_all(pem.as_bytes()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].der, s.leaf.der);
        assert_eq!(all[1].der, s.ca.der);
        assert_eq!(host_of(&s.leaf).as_deref(), Some("cp-1"));
        assert_eq!(host_of(&s.ca).as_deref(), Some("cp-1-ca"));
    }

    #[test]
    fn an_ip_host_is_an_ip_san_and_bad_names_are_refused() {
        let now = NOW;
        let spec = ServingSpec {
            host: "192.168.1.9".into(),
            ips: vec![],
            dns: vec!["node.example".into()],
        };
        let s = generate(&spec, now, &mut crate::seeded_rng(9)).unwrap();
        assert_eq!(s.leaf.dns_names, ["node.example"]);
        assert_eq!(
            s.leaf.ip_addresses,
            ["192.168.1.9".parse::<IpAddr>().unwrap()]
        );
        for bad in ["", "Bad_Host", "a b"] {
            let spec = ServingSpec {
                host: bad.into(),
                ips: vec![],
                dns: vec![],
            };
            assert!(matches!(
                generate(&spec, now, &mut crate::seeded_rng(1)),
                Err(KubeletError::BadNodeName(_))
            ));
        }
    }
}
