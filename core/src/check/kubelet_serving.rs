//! What the kubelet serves port 10250 with: `kubelet.crt`/`kubelet.key` (self-signed
//! by the kubelet, renewed by no one: kubernetes #99418) or
//! `kubelet-server-current.pem` (serverTLSBootstrap: signed by the cluster CA
//! through an approved CertificateSigningRequest).

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::issue::kubelet::KubeletError;
use crate::x509::certificate::{self, Certificate, ExtendedKeyUsage};
use crate::x509::keys::PrivateKey;

/// Who signed the serving certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// Itself or a CA in the same file (what the kubelet generates).
    SelfSigned,
    /// The cluster CA (ca.crt).
    ClusterCa,
    /// Someone else; the issuer's name.
    Other(String),
}

/// The serving certificate, judged.
#[derive(Debug, Clone)]
pub struct ServingReport {
    /// The leaf.
    pub cert: Certificate,
    /// Who signed it.
    pub signer: Signer,
    /// Whether the key matches (`None` when no key was read).
    pub key_matches: Option<bool>,
    /// Whether it allows server auth.
    pub server_auth: bool,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// IP SANs.
    pub ips: Vec<IpAddr>,
    /// Seconds left at `now` (negative when expired).
    pub residual_seconds: i64,
}

/// Judges `cert_bytes` (leaf first, maybe its CA after it; or a pair file) with
/// its key when given, against the cluster CA when given.
pub fn report(
    cert_bytes: &[u8],
    key_bytes: Option<&[u8]>,
    cluster_ca: Option<&Certificate>,
    now: OffsetDateTime,
) -> Result<ServingReport, KubeletError> {
    let all = certificate::parse_all(cert_bytes).map_err(|e| KubeletError::Read(e.to_string()))?;
    let Some(cert) = all.first().cloned() else {
        return Err(KubeletError::Read("no certificate in the file".into()));
    };
    let signer = if cluster_ca.is_some_and(|ca| cert.verify_signed_by(ca).is_ok()) {
        Signer::ClusterCa
    } else if all.iter().any(|c| cert.verify_signed_by(c).is_ok()) {
        Signer::SelfSigned
    } else {
        Signer::Other(cert.issuer.clone())
    };
    let key_matches = match key_bytes {
        Some(k) => Some(
            PrivateKey::parse(k)
                .map(|k| cert.matches_key(&k))
                .map_err(|e| KubeletError::Read(e.to_string()))?,
        ),
        None => None,
    };
    Ok(ServingReport {
        signer,
        key_matches,
        server_auth: cert.extended_key_usage.contains(&ExtendedKeyUsage::ServerAuth),
        dns: cert.dns_names.clone(),
        ips: cert.ip_addresses.clone(),
        residual_seconds: cert.residual_seconds(now),
        cert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::kubelet_serving::{ServingSpec, generate};
    use time::macros::datetime;

    #[test]
    fn self_signed_pair_is_reported_as_such() {
        let now = datetime!(2026-03-01 12:00 UTC);
        let spec = ServingSpec {
            host: "cp-1".into(),
            ips: vec![],
            dns: vec!["cp-1.example".into()],
        };
        let s = generate(&spec, now, &mut crate::seeded_rng(1)).unwrap();
        let r = report(s.cert_pem().as_bytes(), Some(s.key.to_pem().as_bytes()), None, now)
            .unwrap();
        assert_eq!(r.signer, Signer::SelfSigned);
        assert_eq!(r.key_matches, Some(true));
        assert!(r.server_auth);
        assert_eq!(r.dns, ["cp-1", "cp-1.example"]);
        assert_eq!(r.residual_seconds, 365 * 86_400);
        let other = generate(&spec, now, &mut crate::seeded_rng(2)).unwrap();
        let r = report(s.cert_pem().as_bytes(), Some(other.key.to_pem().as_bytes()), None, now)
            .unwrap();
        assert_eq!(r.key_matches, Some(false));
        let leaf_only = s.leaf.to_pem();
        let r = report(leaf_only.as_bytes(), None, Some(&other.ca), now).unwrap();
        assert!(matches!(r.signer, Signer::Other(_)));
    }
}
