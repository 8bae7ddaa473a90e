//! What the kubelet serves port 10250 with: `kubelet.crt`/`kubelet.key` (self-signed
//! by the kubelet, renewed by no one: kubernetes #99418) or
//! `kubelet-server-current.pem` (serverTLSBootstrap: signed by the cluster CA
//! through an approved CertificateSigningRequest, certificate and key in one file).
//! `kubelet serving` prints this report; `verify` turns it into rows.

use std::net::IpAddr;

use thiserror::Error;
use time::OffsetDateTime;

use crate::x509::certificate::{self, Certificate, CertificateError, ExtendedKeyUsage};
use crate::x509::keys::{KeyError, PrivateKey};

/// Who signed the serving certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// Itself, or a CA in the same file (what the kubelet generates: `HOST-ca@<unix>`).
    SelfSigned,
    /// The cluster CA (ca.crt).
    ClusterCa,
    /// Neither; the issuer's name.
    Other(String),
}

/// Why the serving certificate cannot be judged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServingError {
    /// The certificate file does not parse.
    #[error("{0}")]
    Certificate(#[from] CertificateError),
    /// The key does not parse.
    #[error("the key: {0}")]
    Key(#[from] KeyError),
}

/// The serving certificate, judged.
#[derive(Debug, Clone)]
pub struct ServingReport {
    /// The leaf (the first certificate in the file).
    pub cert: Certificate,
    /// Who signed it.
    pub signer: Signer,
    /// Whether the key matches (`None` when no key was given).
    pub key_matches: Option<bool>,
    /// Whether it allows server auth.
    pub server_auth: bool,
    /// Seconds left at `now` (negative when expired).
    pub residual_seconds: i64,
}

impl ServingReport {
    /// The SANs, DNS names then IPs.
    pub fn sans(&self) -> Vec<String> {
        self.cert
            .dns_names
            .iter()
            .cloned()
            .chain(self.cert.ip_addresses.iter().map(IpAddr::to_string))
            .collect()
    }

    /// How the signer reads in a report.
    pub fn signer_text(&self) -> String {
        match &self.signer {
            Signer::SelfSigned => "self-signed (made by the kubelet; nobody renews it)".into(),
            Signer::ClusterCa => "signed by the cluster CA (serverTLSBootstrap)".into(),
            Signer::Other(i) => format!("signed by {i}, neither itself nor the cluster CA"),
        }
    }
}

/// Judges `cert_bytes` (the leaf first, maybe its CA after it; or a pair file)
/// with its key when given (a pair file is its own key), against the cluster CA
/// when given.
pub fn report(
    cert_bytes: &[u8],
    key_bytes: Option<&[u8]>,
    cluster_ca: Option<&Certificate>,
    now: OffsetDateTime,
) -> Result<ServingReport, ServingError> {
    let all = certificate::parse_all(cert_bytes)?;
    let cert = all[0].clone();
    let signer = if cluster_ca.is_some_and(|ca| cert.verify_signed_by(ca).is_ok()) {
        Signer::ClusterCa
    } else if all.iter().any(|c| cert.verify_signed_by(c).is_ok()) {
        Signer::SelfSigned
    } else {
        Signer::Other(cert.issuer.clone())
    };
    let key_matches = match key_bytes {
        Some(k) => Some(cert.public_key_bits() == PrivateKey::public_key_bits_of(k)?),
        None => None,
    };
    Ok(ServingReport {
        signer,
        key_matches,
        server_auth: cert
            .extended_key_usage
            .contains(&ExtendedKeyUsage::ServerAuth),
        residual_seconds: cert.residual_seconds(now),
        cert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::kubelet_selfsigned::{ServingSpec, generate};
    use crate::test_support::NOW;

    #[test]
    fn a_self_signed_pair_is_reported_as_such() {
        let now = NOW;
        let spec = ServingSpec {
            host: "cp-1".into(),
            ips: vec!["10.0.0.5".parse().unwrap()],
            dns: vec!["cp-1.example".into()],
        };
        let s = generate(&spec, now, &mut crate::seeded_rng(1)).unwrap();
        let pem = s.cert_pem();
        let key = s.key.to_pem();
        let r = report(pem.as_bytes(), Some(key.as_bytes()), None, now).unwrap();
        assert_eq!(r.signer, Signer::SelfSigned);
        assert_eq!(r.key_matches, Some(true));
        assert!(r.server_auth);
        assert_eq!(r.sans(), ["cp-1", "cp-1.example", "10.0.0.5"]);
        assert_eq!(r.residual_seconds, 365 * 86_400 - 3600);

        let other = generate(&spec, now, &mut crate::seeded_rng(2)).unwrap();
        let other_key = other.key.to_pem();
        let r = report(pem.as_bytes(), Some(other_key.as_bytes()), None, now).unwrap();
        assert_eq!(r.key_matches, Some(false));
        // The leaf alone, judged against a CA that did not sign it.
        let leaf_only = s.leaf.to_pem();
        let r = report(leaf_only.as_bytes(), None, Some(&other.ca), now).unwrap();
        assert!(matches!(r.signer, Signer::Other(_)));
        // The same leaf against its own CA as the "cluster" CA.
        let r = report(leaf_only.as_bytes(), None, Some(&s.ca), now).unwrap();
        assert_eq!(r.signer, Signer::ClusterCa);
        assert!(matches!(
            report(b"not a certificate", None, None, now),
            Err(ServingError::Certificate(_))
        ));
    }
}
