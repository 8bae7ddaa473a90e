//! Which of a node's certificates the agent renews now: a row is due when it would
//! expire before the next run plus a buffer (kubespray's `k8s-certs-renew.sh` renews
//! when the soonest certificate has under 30 days left, from a monthly timer), or when
//! a configured fraction of its lifetime has passed (as cert-manager's renewBefore
//! does in proportion), or when an operator asked (`kcerts cluster renew`).
//!
//! The rows judged are exactly those `kcerts renew all` renews: the node's rows
//! (without etcd's under external etcd), less missing files and rows whose CA is
//! external (renew skips both). A row whose file cannot be read is due: renew then
//! reports the problem instead of the agent skipping it silently.

use time::{Duration, OffsetDateTime};

use crate::check::expiration;
use crate::kubeadm::inventory::{self, Row};
use crate::kubeadm::node::NodeFiles;
use crate::kubeadm::node_loader;

/// When a row is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DueRule {
    /// The time until the next run (`--interval`).
    pub interval: Duration,
    /// The margin after the next run (`--buffer`).
    pub buffer: Duration,
    /// Due once this fraction of the lifetime (NotBefore to NotAfter) has passed
    /// (`--renew-at-fraction`), in (0, 1].
    pub fraction: Option<f64>,
}

/// A rule that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DueRuleError {
    /// The fraction is not in (0, 1].
    #[error("the lifetime fraction must be more than 0 and at most 1 (e.g. 0.8), not {0}")]
    Fraction(f64),
    /// A negative interval or buffer.
    #[error("the interval and the buffer cannot be negative")]
    Negative,
}

impl DueRule {
    /// A rule, checked.
    pub fn new(
        interval: Duration,
        buffer: Duration,
        fraction: Option<f64>,
    ) -> Result<Self, DueRuleError> {
        if interval.is_negative() || buffer.is_negative() {
            return Err(DueRuleError::Negative);
        }
        if let Some(f) = fraction
            && !(f > 0.0 && f <= 1.0)
        {
            return Err(DueRuleError::Fraction(f));
        }
        Ok(Self {
            interval,
            buffer,
            fraction,
        })
    }

    /// Why a certificate valid from `not_before` to `not_after` is due at `now`,
    /// or `None`.
    pub fn judge(
        &self,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Option<DueReason> {
        let horizon = now + self.interval + self.buffer;
        if not_after <= horizon {
            return Some(DueReason::ExpiresBeforeNextRun { not_after });
        }
        let f = self.fraction?;
        let lifetime = (not_after - not_before).as_seconds_f64();
        let elapsed = (now - not_before).as_seconds_f64();
        (lifetime > 0.0 && elapsed >= f * lifetime).then_some(DueReason::LifetimeFraction {
            not_after,
            elapsed: elapsed / lifetime,
        })
    }
}

/// Why a row is due.
#[derive(Debug, Clone, PartialEq)]
pub enum DueReason {
    /// It expires before the next run plus the buffer (or has expired).
    ExpiresBeforeNextRun {
        /// Its NotAfter.
        not_after: OffsetDateTime,
    },
    /// The configured fraction of its lifetime has passed.
    LifetimeFraction {
        /// Its NotAfter.
        not_after: OffsetDateTime,
        /// The fraction passed, 0..1 (more when expired).
        elapsed: f64,
    },
    /// An operator asked for a renewal of every row.
    Requested,
    /// Its file cannot be read or parsed (renew will say why).
    Unreadable(String),
}

/// One due row.
#[derive(Debug, Clone, PartialEq)]
pub struct DueRow {
    /// The row (`apiserver`, `admin.conf`...).
    pub row: &'static Row,
    /// Why.
    pub reason: DueReason,
}

/// What the agent reads from a node at one run.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeDue {
    /// The rows to renew now, in kubeadm's order.
    pub due: Vec<DueRow>,
    /// The soonest NotAfter among the node's certificates and CAs, and its name.
    pub soonest: Option<(String, OffsetDateTime)>,
    /// Rows left out because their CA is external (renew cannot sign them).
    pub external: Vec<&'static str>,
    /// Files that could not be read or parsed, as `path: reason`.
    pub errors: Vec<String>,
}

impl NodeDue {
    /// The names of the due rows.
    pub fn names(&self) -> Vec<String> {
        self.due.iter().map(|d| d.row.name.to_string()).collect()
    }
}

/// Judges the node's `files` at `now` by `rule`; with `requested`, every row renew
/// would renew is due.
pub fn judge(files: &NodeFiles, rule: &DueRule, requested: bool, now: OffsetDateTime) -> NodeDue {
    let report = expiration::build(files, now);
    let external: Vec<&'static str> = inventory::rows(report.external_etcd)
        .filter(|row| {
            report
                .certificates
                .iter()
                .any(|e| e.name == row.name && e.externally_managed && !e.missing)
        })
        .map(|row| row.name)
        .collect();
    let mut due = Vec::new();
    for row in inventory::rows(node_loader::is_external_etcd(files)) {
        if external.contains(&row.name) {
            continue;
        }
        let reason = match node_loader::load_row_certificate(files, row) {
            Ok(None) => None,
            Ok(Some(_)) if requested => Some(DueReason::Requested),
            Ok(Some(cert)) => rule.judge(cert.not_before, cert.not_after, now),
            Err(e) => Some(DueReason::Unreadable(e.kind.to_string())),
        };
        if let Some(reason) = reason {
            due.push(DueRow { row, reason });
        }
    }
    let soonest = report
        .certificates
        .iter()
        .chain(&report.certificate_authorities)
        .filter_map(|e| e.expiration_date.map(|t| (e.name.clone(), t)))
        .min_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let errors = report
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.path, e.kind))
        .collect();
    NodeDue {
        due,
        soonest,
        external,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeadm::node::NodePath;
    use crate::test_support::{NOW, ecdsa_example_files};

    fn rule(days: i64, buffer: i64, fraction: Option<f64>) -> DueRule {
        DueRule::new(Duration::days(days), Duration::days(buffer), fraction).unwrap()
    }

    #[test]
    fn due_before_the_next_run_plus_the_buffer() {
        let nb = NOW - Duration::days(300);
        let na = NOW + Duration::days(65);
        // 65 days left: due with 30 days between runs and a 35-day buffer...
        assert_eq!(
            rule(30, 35, None).judge(nb, na, NOW),
            Some(DueReason::ExpiresBeforeNextRun { not_after: na })
        );
        // ...not with a 34-day one, nor with runs a day apart and kubespray's 30 days.
        assert_eq!(rule(30, 34, None).judge(nb, na, NOW), None);
        assert_eq!(rule(1, 30, None).judge(nb, na, NOW), None);
        // Expired is due.
        assert!(
            rule(0, 0, None)
                .judge(nb, NOW - Duration::days(1), NOW)
                .is_some()
        );
    }

    #[test]
    fn due_at_a_fraction_of_the_lifetime() {
        let nb = NOW - Duration::days(80);
        let na = NOW + Duration::days(20);
        let r = rule(1, 1, Some(0.8));
        match r.judge(nb, na, NOW) {
            Some(DueReason::LifetimeFraction { elapsed, .. }) => {
                assert!((elapsed - 0.8).abs() < 1e-9, "{elapsed}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.judge(nb, na, NOW - Duration::hours(1)), None);
        assert_eq!(rule(1, 1, None).judge(nb, na, NOW), None);
        // A certificate that ends before it starts is never due by fraction.
        assert_eq!(
            rule(1, 1, Some(0.5)).judge(na, nb + Duration::days(3650), NOW),
            None
        );
    }

    #[test]
    fn nonsense_rules_are_refused() {
        for f in [0.0, -0.1, 1.01, f64::NAN] {
            assert!(
                DueRule::new(Duration::days(1), Duration::ZERO, Some(f)).is_err(),
                "{f}"
            );
        }
        assert!(DueRule::new(Duration::days(1), Duration::ZERO, Some(1.0)).is_ok());
        assert_eq!(
            DueRule::new(Duration::days(-1), Duration::ZERO, None),
            Err(DueRuleError::Negative)
        );
    }

    #[test]
    fn a_node_due_lists_renews_rows_and_the_soonest() {
        // The example node's leaves last a year from NOW; the CAs ten.
        let mut files = ecdsa_example_files(NOW, 4);
        files
            .files
            .remove(&NodePath::kubeconfig("super-admin.conf"));
        let nothing = judge(&files, &rule(1, 30, None), false, NOW);
        assert!(nothing.due.is_empty(), "{:?}", nothing.due);
        let (name, at) = nothing.soonest.clone().unwrap();
        assert!(at > NOW + Duration::days(360), "{name} {at}");
        assert!(nothing.errors.is_empty());

        let later = NOW + Duration::days(340);
        let all = judge(&files, &rule(1, 30, None), false, later);
        assert_eq!(
            all.names(),
            [
                "admin.conf",
                "apiserver",
                "apiserver-etcd-client",
                "apiserver-kubelet-client",
                "controller-manager.conf",
                "etcd-healthcheck-client",
                "etcd-peer",
                "etcd-server",
                "front-proxy-client",
                "scheduler.conf"
            ],
            "every present row renew all renews, not the missing super-admin.conf"
        );

        let asked = judge(&files, &rule(1, 30, None), true, NOW);
        assert_eq!(asked.names(), all.names());
        assert!(asked.due.iter().all(|d| d.reason == DueReason::Requested));

        files.insert(NodePath::cert("apiserver.crt"), b"junk".to_vec());
        let broken = judge(&files, &rule(1, 30, None), false, NOW);
        assert_eq!(broken.names(), ["apiserver"]);
        assert!(matches!(broken.due[0].reason, DueReason::Unreadable(_)));
        assert_eq!(broken.errors.len(), 1, "{:?}", broken.errors);
    }

    #[test]
    fn rows_of_an_external_ca_are_left_out() {
        let mut files = ecdsa_example_files(NOW, 4);
        files.files.remove(&NodePath::cert("front-proxy-ca.key"));
        let d = judge(&files, &rule(1, 30, None), true, NOW);
        assert_eq!(d.external, ["front-proxy-client"]);
        assert!(!d.names().contains(&"front-proxy-client".to_string()));
        assert!(d.names().contains(&"apiserver".to_string()));
    }
}
