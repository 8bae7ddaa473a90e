//! What the analysis finds wrong: expiry under the one rule
//! ([`Thresholds::status`]: warning within 30 days, critical within 7 days or
//! expired, by default), a CA that expires before a certificate it signed, and
//! the node files kubeadm's report could not use. (Role checks are in `roles`.)

use serde::Serialize;

use super::model::{Item, Link, NodeView, Severity};
use crate::check::verify::{Status, Thresholds};
use crate::kubeadm::node_loader::FileErrorKind;
use crate::kubeadm::residual;
use crate::x509::strength::{self, Weakness};

/// A finding about one item. Serialised as `{item, severity, message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The item concerned.
    pub item: usize,
    /// How bad.
    pub severity: Severity,
    /// What was found.
    pub kind: WarningKind,
}

impl Serialize for Warning {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Warning", 3)?;
        st.serialize_field("item", &self.item)?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("message", &self.kind.to_string())?;
        st.end()
    }
}

/// What a [`Warning`] found; the message is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarningKind {
    /// The certificate expired.
    #[error("expired on {date}")]
    Expired {
        /// When (kubeadm's date form).
        date: String,
    },
    /// The certificate expires within the warning window.
    #[error("expires in {residual} (on {date})")]
    ExpiresSoon {
        /// Time left, as kubeadm prints it.
        residual: String,
        /// When.
        date: String,
    },
    /// A CA expires before a certificate it signed.
    #[error(
        "this CA expires on {ca_expires}, before the certificate it signed in {leaf_file} ({leaf_expires})"
    )]
    CaExpiresFirst {
        /// When the CA expires.
        ca_expires: String,
        /// The signed certificate's file.
        leaf_file: String,
        /// When it expires.
        leaf_expires: String,
    },
    /// A node file kubeadm's report could not use.
    #[error("{file}: {reason}")]
    NodeFile {
        /// The file, with its node's root.
        file: String,
        /// Why.
        reason: FileErrorKind,
    },
    /// A role's certificate without an extended key usage kubeadm gives it.
    #[error("{row} lacks the extended key usage kubeadm gives it: {missing}")]
    MissingExtendedKeyUsage {
        /// The row.
        row: &'static str,
        /// The usages missing, comma-separated.
        missing: String,
    },
    /// A role's certificate without a key usage kubeadm gives it.
    #[error("{row} lacks the key usage {usage}")]
    MissingKeyUsage {
        /// The row.
        row: &'static str,
        /// The usage.
        usage: &'static str,
    },
    /// A CA file whose certificate is not a CA.
    #[error("{ca} is not a CA certificate (basic constraints CA:FALSE)")]
    NotACa {
        /// The CA's name.
        ca: &'static str,
    },
    /// Weak cryptography ([`strength`]): a SHA-1 or MD5 signature, a small RSA key.
    #[error(transparent)]
    Weak(Weakness),
}

/// A warning for each weakness of each certificate ([`strength`], the rule
/// verify's `crypto` rows follow).
pub(super) fn weak_crypto(items: &[Item], warnings: &mut Vec<Warning>) {
    for item in items {
        let Some(c) = &item.certificate else { continue };
        for w in strength::weaknesses(&c.cert.signature_algorithm, &c.cert.public_key) {
            warnings.push(Warning {
                item: item.id,
                severity: Severity::Warning,
                kind: WarningKind::Weak(w),
            });
        }
    }
}

/// Each certificate's expiry under `thresholds`: critical when expired or
/// within the critical window, a warning within the warning window.
pub(super) fn expiry(items: &[Item], thresholds: Thresholds, warnings: &mut Vec<Warning>) {
    for item in items {
        let Some(c) = &item.certificate else { continue };
        let date = residual::format_date(c.cert.not_after);
        let (severity, kind) = match thresholds.status(c.residual_seconds) {
            Status::Pass => continue,
            Status::Fail if c.residual_seconds <= 0 => {
                (Severity::Critical, WarningKind::Expired { date })
            }
            status => (
                if status == Status::Fail {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                WarningKind::ExpiresSoon {
                    residual: c.residual.clone(),
                    date,
                },
            ),
        };
        warnings.push(Warning {
            item: item.id,
            severity,
            kind,
        });
    }
}

/// A warning on each CA that expires before a certificate it signed.
pub(super) fn ca_expires_first(items: &[Item], links: &[Link], warnings: &mut Vec<Warning>) {
    for l in links {
        let (Some(c), Some(p)) = (&items[l.child].certificate, &items[l.issuer].certificate) else {
            continue;
        };
        if p.cert.not_after < c.cert.not_after {
            warnings.push(Warning {
                item: l.issuer,
                severity: Severity::Warning,
                kind: WarningKind::CaExpiresFirst {
                    ca_expires: residual::format_date(p.cert.not_after),
                    leaf_file: items[l.child].file.clone(),
                    leaf_expires: residual::format_date(c.cert.not_after),
                },
            });
        }
    }
}

/// A critical finding for each file a node's report could not use, on the
/// file's item (item 0 when the file gave none).
pub(super) fn node_files(items: &[Item], nodes: &[NodeView], warnings: &mut Vec<Warning>) {
    for n in nodes {
        for e in &n.report.errors {
            let file = format!("{}{}", n.root, e.path);
            let item = items.iter().find(|i| i.file == file).map_or(0, |i| i.id);
            warnings.push(Warning {
                item,
                severity: Severity::Critical,
                kind: WarningKind::NodeFile {
                    file,
                    reason: (*e.kind).clone(),
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{NOW, ecdsa_node, inputs, named};
    use super::super::{analyze, analyze_with_progress};
    use super::*;
    use time::Duration;

    /// The node's apiserver certificate (a one-year leaf made at NOW) and its
    /// findings, analysed `days_left` days before it expires under `th`.
    fn apiserver_findings(days_left: i64, th: Thresholds) -> Vec<(Severity, String)> {
        let node = ecdsa_node();
        let owned = named(&node, "");
        let files = inputs(&owned);
        let apiserver = analyze(&files, NOW)
            .items
            .into_iter()
            .find(|i| i.file == "pki/apiserver.crt")
            .and_then(|i| i.certificate)
            .unwrap();
        let at = apiserver.cert.not_after - Duration::days(days_left);
        let a = analyze_with_progress(&files, &[], at, th, &mut |_, _| {});
        let id = a
            .items
            .iter()
            .position(|i| i.file == "pki/apiserver.crt")
            .unwrap();
        a.warnings
            .iter()
            .filter(|w| w.item == id)
            .map(|w| (w.severity, w.kind.to_string()))
            .collect()
    }

    #[test]
    fn expiry_follows_the_one_rule() {
        let th = Thresholds::default();
        assert!(apiserver_findings(40, th).is_empty());
        let soon = apiserver_findings(20, th);
        assert_eq!(soon.len(), 1, "{soon:?}");
        assert_eq!(soon[0].0, Severity::Warning);
        assert!(soon[0].1.starts_with("expires in 20d (on "), "{soon:?}");
        // 5 days left is inside the 7-day critical window: critical, as
        // `verify` fails it.
        let five = apiserver_findings(5, th);
        assert_eq!(five.len(), 1, "{five:?}");
        assert_eq!(five[0].0, Severity::Critical);
        assert!(five[0].1.starts_with("expires in 5d (on "), "{five:?}");
        let expired = apiserver_findings(-2, th);
        assert_eq!(expired[0].0, Severity::Critical);
        assert!(expired[0].1.starts_with("expired on "), "{expired:?}");
        // The windows are the caller's.
        let wide = Thresholds {
            warn: Duration::days(90),
            crit: Duration::days(60),
        };
        assert_eq!(apiserver_findings(40, wide)[0].0, Severity::Critical);
        assert_eq!(apiserver_findings(80, wide)[0].0, Severity::Warning);
    }
}
