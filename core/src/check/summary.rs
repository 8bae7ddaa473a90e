//! One short record per certificate, cheap enough for bundles of 100,000
//! certificates (`kcerts inspect --summary`): names, serial, validity and
//! fingerprint, without decoding extensions or checking signatures.

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509CertificateParser;
use x509_parser::nom::Parser;

use sha2::Digest;

use crate::kubeadm::residual;
use crate::x509::certificate::DerError;
use crate::x509::hex::hex;

/// Where a certificate stands at the time asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Validity {
    /// Within its validity period.
    Valid,
    /// Past its NotAfter.
    Expired,
    /// Before its NotBefore.
    NotYetValid,
}

/// The facts `inspect --summary` prints for one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSummary {
    /// The subject, in the form `kcerts inspect` uses (`CN=kube-apiserver`).
    pub subject: String,
    /// The issuer in the same form.
    pub issuer: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Validity start.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// Validity end.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Time left in kubeadm's RESIDUAL TIME form (`364d`, `<invalid>`).
    pub residual: String,
    /// Valid, expired or not yet valid.
    pub validity: Validity,
    /// SHA-256 fingerprint of the DER, lowercase hex.
    pub sha256_fingerprint: String,
}

/// Summarises one DER certificate as of `now`.
pub fn summarize(der: &[u8], now: OffsetDateTime) -> Result<CertificateSummary, DerError> {
    let mut parser = X509CertificateParser::new().with_deep_parse_extensions(false);
    let (rest, x509) = parser
        .parse(der)
        .map_err(|e| DerError::Parser(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DerError::TrailingBytes(rest.len()));
    }
    let not_before = x509.validity().not_before.to_datetime();
    let not_after = x509.validity().not_after.to_datetime();
    let validity = if now > not_after {
        Validity::Expired
    } else if now < not_before {
        Validity::NotYetValid
    } else {
        Validity::Valid
    };
    Ok(CertificateSummary {
        subject: x509.subject().to_string(),
        issuer: x509.issuer().to_string(),
        serial: hex(x509.raw_serial()),
        not_before,
        not_after,
        residual: residual::human((not_after - now).whole_seconds()),
        validity,
        sha256_fingerprint: hex(&sha2::Sha256::digest(der)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;
    use crate::issue::leaf::{self, LeafSpec, RenewOptions};
    use crate::test_support::NOW;
    use time::Duration;

    #[test]
    fn agrees_with_the_full_parse() {
        let now = NOW;
        let mut rng = crate::seeded_rng(7);
        let ca = leaf::issue_ca("kubernetes", KeyAlgorithm::EcdsaP256, now, &mut rng).unwrap();
        let spec = LeafSpec {
            common_name: "kube-apiserver".into(),
            organizations: vec!["kubeadm:cluster-admins".into()],
            extended_key_usage: vec![crate::x509::certificate::ExtendedKeyUsage::ServerAuth],
            ..Default::default()
        };
        let opts = RenewOptions {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity: Duration::days(10),
        };
        let leaf = leaf::issue(&spec, &ca, &opts, now, &mut rng).unwrap().cert;
        let s = summarize(&leaf.der, now).unwrap();
        assert_eq!(s.subject, leaf.subject);
        assert_eq!(s.issuer, leaf.issuer);
        assert_eq!(s.serial, leaf.serial);
        assert_eq!(s.not_after, leaf.not_after);
        assert_eq!(s.sha256_fingerprint, leaf.sha256_fingerprint());
        assert_eq!((s.residual.as_str(), s.validity), ("10d", Validity::Valid));
        let later = summarize(&leaf.der, now + Duration::days(11)).unwrap();
        assert_eq!(
            (later.residual.as_str(), later.validity),
            ("<invalid>", Validity::Expired)
        );
        let earlier = summarize(&leaf.der, now - Duration::hours(1)).unwrap();
        assert_eq!(earlier.validity, Validity::NotYetValid);
    }

    #[test]
    fn truncated_and_padded_input_are_errors() {
        let now = NOW;
        let mut rng = crate::seeded_rng(8);
        let ca = leaf::issue_ca("kubernetes", KeyAlgorithm::EcdsaP256, now, &mut rng).unwrap();
        let der = &ca.cert.der;
        for len in 0..der.len() {
            assert!(summarize(&der[..len], now).is_err(), "length {len}");
        }
        let mut padded = der.clone();
        padded.push(0);
        assert_eq!(
            summarize(&padded, now).unwrap_err(),
            DerError::TrailingBytes(1)
        );
    }
}
