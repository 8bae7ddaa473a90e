//! Whether the clock can be trusted before issuing on a node whose certificates
//! expired: a clock behind a CA's NotBefore would issue certificates no one
//! accepts yet; a clock before a certificate's NotBefore, or after every
//! NotAfter, is worth a look before recovering.

use std::fmt;

use time::OffsetDateTime;

use crate::kubeadm::inventory::{self, Ca};
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::node_loader;
use crate::kubeadm::residual::format_date;
use crate::x509::certificate::{self, Certificate};

/// One thing the clock check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Now is before a CA's NotBefore: nothing it signs now would be valid.
    BehindCa {
        /// The CA's row name (`ca`, `etcd-ca`...).
        ca: &'static str,
        /// Its NotBefore.
        not_before: OffsetDateTime,
    },
    /// Now is before the newest certificate NotBefore (issued "in the future").
    BeforeNotBefore {
        /// The row name of the newest certificate.
        name: String,
        /// Its NotBefore.
        not_before: OffsetDateTime,
        /// How many certificates start after now.
        count: usize,
    },
    /// Every certificate, CAs included, has expired.
    AfterEveryNotAfter {
        /// The latest NotAfter of all.
        latest: OffsetDateTime,
    },
}

impl Finding {
    /// Whether issuing must be refused.
    pub fn refuses(&self) -> bool {
        matches!(self, Finding::BehindCa { .. })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::BehindCa { ca, not_before } => write!(
                f,
                "the clock is behind the {ca} CA: it is valid from {}; set the clock \
                 (timedatectl, chrony) before renewing, or every new certificate would \
                 be rejected",
                format_date(*not_before)
            ),
            Finding::BeforeNotBefore {
                name,
                not_before,
                count,
            } => write!(
                f,
                "the clock is before the start of {count} certificates, the newest {name} ({}): check the clock",
                format_date(*not_before)
            ),
            Finding::AfterEveryNotAfter { latest } => write!(
                f,
                "every certificate, the CAs included, expired (the last on {}): if the node \
                 was not off that long, the clock is ahead",
                format_date(*latest)
            ),
        }
    }
}

/// Checks `now` against the node's CAs and certificates (unreadable files are
/// left to the expiration report).
pub fn check(files: &NodeFiles, now: OffsetDateTime) -> Vec<Finding> {
    let external_etcd = node_loader::is_external_etcd(files);
    let mut out = Vec::new();
    let mut all: Vec<Certificate> = Vec::new();
    for ca in inventory::cas(external_etcd) {
        let Some(cert) = ca_cert(files, ca) else {
            continue;
        };
        if now < cert.not_before {
            out.push(Finding::BehindCa {
                ca: ca.name(),
                not_before: cert.not_before,
            });
        }
        all.push(cert);
    }
    let mut ahead: Vec<(&str, OffsetDateTime)> = Vec::new();
    for row in inventory::rows(external_etcd) {
        if let Ok(Some(cert)) = node_loader::load_row_certificate(files, row) {
            if now < cert.not_before {
                ahead.push((row.name, cert.not_before));
            }
            all.push(cert);
        }
    }
    if let Some((name, not_before)) = ahead.iter().max_by_key(|(_, t)| *t) {
        out.push(Finding::BeforeNotBefore {
            name: (*name).to_string(),
            not_before: *not_before,
            count: ahead.len(),
        });
    }
    if let Some(latest) = all.iter().map(|c| c.not_after).max()
        && now > latest
    {
        out.push(Finding::AfterEveryNotAfter { latest });
    }
    out
}

fn ca_cert(files: &NodeFiles, ca: Ca) -> Option<Certificate> {
    let bytes = node_loader::read(files, &NodePath::cert(ca.cert_file())).ok()??;
    certificate::parse_first(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{NOW, ecdsa_example_files};
    use time::Duration;

    fn node(at: OffsetDateTime) -> NodeFiles {
        ecdsa_example_files(at, 3)
    }

    #[test]
    fn a_sane_clock_finds_nothing() {
        assert_eq!(check(&node(NOW), NOW + Duration::days(1)), []);
    }

    #[test]
    fn a_clock_behind_the_ca_refuses() {
        let found = check(&node(NOW), NOW - Duration::days(2));
        assert!(found.iter().any(Finding::refuses), "{found:?}");
        assert!(
            found
                .iter()
                .any(|f| matches!(f, Finding::BeforeNotBefore { .. }))
        );
        let text = found[0].to_string();
        assert!(text.contains("the clock is behind the ca CA"), "{text}");
    }

    #[test]
    fn every_certificate_expired_is_reported_not_refused() {
        let found = check(&node(NOW), NOW + Duration::days(3660 + 365));
        assert!(matches!(
            found.as_slice(),
            [Finding::AfterEveryNotAfter { .. }]
        ));
        assert!(!found[0].refuses());
    }
}
