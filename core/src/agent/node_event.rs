//! The contents of the agent's Events on its Node (core/v1 Event, involvedObject
//! the Node, namespace `default` as the kubelet's node events; source component
//! `kcerts-agent`), as k3s raises `CertificateExpirationWarning` on its nodes.
//!
//! Each reason has one Event per node, under a name made from the node and the
//! reason, so a repeated one updates that Event (count, lastTimestamp, message)
//! instead of adding another: at most one Event per reason per run, and no flood
//! from an agent that runs every few minutes.

use crate::agent::protocol::{EventReason, rfc3339};
use crate::agent::renewal_due::{DueReason, DueRow};

/// The most of a message kept, in bytes (events.k8s.io's limit on a note).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// The longest Event name (a DNS subdomain).
const MAX_NAME: usize = 253;

/// One Event's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    /// `metadata.name`: the node, `.kcerts-agent.`, the reason in lower case.
    pub name: String,
    /// The node (`involvedObject.name`).
    pub node: String,
    /// The reason.
    pub reason: EventReason,
    /// `Normal` or `Warning`.
    pub event_type: &'static str,
    /// The message, at most [`MAX_MESSAGE_BYTES`].
    pub message: String,
}

/// The Event name of `reason` on `node`: `<node>.kcerts-agent.<reason>`, the node's
/// part cut so the whole stays a valid name.
pub fn event_name(node: &str, reason: EventReason) -> String {
    let suffix = format!(".kcerts-agent.{}", reason.as_str().to_ascii_lowercase());
    let keep = MAX_NAME.saturating_sub(suffix.len());
    let mut head: String = node
        .chars()
        .take(keep)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    while head.ends_with(['.', '-']) {
        head.pop();
    }
    format!("{head}{suffix}")
}

fn event(node: &str, reason: EventReason, message: String) -> NodeEvent {
    NodeEvent {
        name: event_name(node, reason),
        node: node.to_string(),
        reason,
        event_type: reason.event_type(),
        message: cut(message),
    }
}

fn cut(mut s: String) -> String {
    if s.len() <= MAX_MESSAGE_BYTES {
        return s;
    }
    let mut end = MAX_MESSAGE_BYTES - "…".len();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
    s
}

/// `apiserver expires 2027-03-01T12:00:00Z` per row, joined.
fn rows_text(due: &[DueRow]) -> String {
    due.iter()
        .map(|d| match &d.reason {
            DueReason::ExpiresBeforeNextRun { not_after } => {
                format!("{} expires {}", d.row.name, rfc3339(*not_after))
            }
            DueReason::LifetimeFraction { not_after, elapsed } => format!(
                "{} expires {} ({:.0}% of its lifetime passed)",
                d.row.name,
                rfc3339(*not_after),
                elapsed * 100.0
            ),
            DueReason::Requested => format!("{} (renewal requested)", d.row.name),
            DueReason::Unreadable(why) => format!("{} cannot be read: {why}", d.row.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `CertificateExpirationWarning`: rows are due and were not renewed; `why` says
/// why (report-only mode, or what the agent waits for).
pub fn expiration_warning(node: &str, due: &[DueRow], why: &str) -> NodeEvent {
    event(
        node,
        EventReason::CertificateExpirationWarning,
        format!(
            "{} certificate(s) due for renewal, not renewed ({why}): {}",
            due.len(),
            rows_text(due)
        ),
    )
}

/// `CertificatesRenewed`: the rows renewed and the components restarted.
pub fn renewed(node: &str, rows: &[String], restarted: &[String]) -> NodeEvent {
    let restarted = if restarted.is_empty() {
        "nothing to restart".to_string()
    } else {
        format!("restarted {}", restarted.join(", "))
    };
    event(
        node,
        EventReason::CertificatesRenewed,
        format!(
            "renewed {} certificate(s): {}; {restarted}; verify --live passed",
            rows.len(),
            rows.join(", ")
        ),
    )
}

/// `CertificateRenewalFailed`: the error; the Lease was released with the
/// rollout-failed annotation.
pub fn failed(node: &str, error: &str) -> NodeEvent {
    event(
        node,
        EventReason::CertificateRenewalFailed,
        format!("renewal failed, the rollout is stopped: {error}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeadm::inventory;
    use time::macros::datetime;

    fn due() -> Vec<DueRow> {
        vec![
            DueRow {
                row: inventory::row("apiserver").unwrap(),
                reason: DueReason::ExpiresBeforeNextRun {
                    not_after: datetime!(2026-03-20 08:00 UTC),
                },
            },
            DueRow {
                row: inventory::row("admin.conf").unwrap(),
                reason: DueReason::LifetimeFraction {
                    not_after: datetime!(2026-06-01 00:00 UTC),
                    elapsed: 0.81,
                },
            },
        ]
    }

    #[test]
    fn each_reason_has_one_name_per_node() {
        assert_eq!(
            event_name("cp-1", EventReason::CertificateExpirationWarning),
            "cp-1.kcerts-agent.certificateexpirationwarning"
        );
        assert_ne!(
            event_name("cp-1", EventReason::CertificatesRenewed),
            event_name("cp-2", EventReason::CertificatesRenewed)
        );
        let long = format!("{}.x", "a".repeat(300));
        let n = event_name(&long, EventReason::CertificateRenewalFailed);
        assert_eq!(n.len(), 253);
        assert!(n.ends_with(".kcerts-agent.certificaterenewalfailed"));
        let dotted = format!("{}.b", "a".repeat(214));
        let n = event_name(&dotted, EventReason::CertificatesRenewed);
        assert!(!n.contains(".."), "{n}");
    }

    #[test]
    fn warning_lists_the_rows_and_why() {
        let e = expiration_warning("cp-1", &due(), "report-only: run with --renew");
        assert_eq!(e.reason, EventReason::CertificateExpirationWarning);
        assert_eq!(e.event_type, "Warning");
        assert_eq!(
            e.message,
            "2 certificate(s) due for renewal, not renewed (report-only: run with --renew): \
             apiserver expires 2026-03-20T08:00:00Z, admin.conf expires 2026-06-01T00:00:00Z \
             (81% of its lifetime passed)"
        );
    }

    #[test]
    fn renewed_and_failed() {
        let e = renewed(
            "cp-2",
            &["apiserver".into(), "etcd-server".into()],
            &["etcd".into(), "kube-apiserver".into()],
        );
        assert_eq!(e.event_type, "Normal");
        assert_eq!(
            e.message,
            "renewed 2 certificate(s): apiserver, etcd-server; restarted etcd, kube-apiserver; \
             verify --live passed"
        );
        assert!(
            renewed("cp-2", &[], &[])
                .message
                .contains("nothing to restart")
        );
        let f = failed("cp-3", &"é".repeat(2000));
        assert_eq!(f.event_type, "Warning");
        assert_eq!(f.name, "cp-3.kcerts-agent.certificaterenewalfailed");
        assert!(f.message.len() <= MAX_MESSAGE_BYTES);
        assert!(f.message.ends_with('…'));
    }
}
