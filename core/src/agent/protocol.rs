//! The agent protocol: the names, annotations and JSON that `kcerts agent` (on each
//! control-plane node) and `kcerts cluster renew|status` (from an admin's machine)
//! exchange through the Kubernetes API. One copy, used by both.
//!
//! - The Lease `kube-system/kcerts-agent` (coordination.k8s.io/v1) lets one node renew
//!   and restart at a time: holderIdentity is the node name, released by clearing it.
//!   Its annotation [`ROLLOUT_FAILED_ANNOTATION`] ([`RolloutFailed`]) stops the others
//!   after a failed renewal.
//! - The Node annotation [`RENEW_REQUEST_ANNOTATION`] ([`RenewRequestId`]) asks the
//!   node's agent to renew now; [`STATUS_ANNOTATION`] ([`AgentStatus`]) is what the
//!   agent saw and did in its last run.
//! - Events on the Node, reasons [`EventReason`], source component [`EVENT_COMPONENT`].
//!
//! Annotations are written by whoever may patch a Node or the Lease, so every value
//! read back is parsed as untrusted input: bounded in size, never a panic.

use rand_core::Rng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The Lease's namespace.
pub const LEASE_NAMESPACE: &str = "kube-system";
/// The Lease's name.
pub const LEASE_NAME: &str = "kcerts-agent";
/// The agent's default `--lease-duration`, in seconds (the holder renews every third).
pub const DEFAULT_LEASE_DURATION_SECONDS: i32 = 60;
/// The Lease annotation set by an agent that released it after a failed renewal.
pub const ROLLOUT_FAILED_ANNOTATION: &str = "kcerts.io/rollout-failed";
/// The Node annotation asking its agent to renew now (an opaque [`RenewRequestId`]).
pub const RENEW_REQUEST_ANNOTATION: &str = "kcerts.io/renew-request";
/// The Node annotation holding the agent's last [`AgentStatus`].
pub const STATUS_ANNOTATION: &str = "kcerts.io/agent-status";
/// The Events' `source.component` (and `reportingComponent`).
pub const EVENT_COMPONENT: &str = "kcerts-agent";
/// The namespace of the Events on a Node (where the kubelet puts its node events).
pub const EVENT_NAMESPACE: &str = "default";

/// The largest annotation value read back; larger ones are refused unparsed.
pub const MAX_ANNOTATION_BYTES: usize = 16 * 1024;
/// The longest message kept in a status or rollout-failed annotation, in characters.
pub const MAX_MESSAGE_CHARS: usize = 1024;
/// The longest renew request id accepted.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// A protocol value that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The annotation's value is larger than [`MAX_ANNOTATION_BYTES`].
    #[error("annotation {annotation} is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// The annotation's key.
        annotation: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The annotation's value is not the JSON the protocol says.
    #[error(
        "annotation {annotation} is not valid: {reason}; remove it or let the agent rewrite it"
    )]
    InvalidJson {
        /// The annotation's key.
        annotation: &'static str,
        /// serde_json's message.
        reason: String,
    },
    /// The renew request id is empty, too long or has characters outside
    /// `A-Za-z0-9` and `.:+_-`.
    #[error(
        "annotation {RENEW_REQUEST_ANNOTATION} is not a request id (1 to {MAX_REQUEST_ID_BYTES} of A-Z a-z 0-9 . : + _ -): {shown:?}"
    )]
    InvalidRequestId {
        /// The value, cut to [`MAX_REQUEST_ID_BYTES`] characters.
        shown: String,
    },
}

/// What an agent that released the Lease after a failed renewal leaves on it
/// ([`ROLLOUT_FAILED_ANNOTATION`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutFailed {
    /// The node whose renewal failed.
    pub node: String,
    /// When it failed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The error.
    pub message: String,
}

impl RolloutFailed {
    /// A record for `node` at `now` (cut to whole seconds, as the API writes times),
    /// its message cut to [`MAX_MESSAGE_CHARS`].
    pub fn new(node: &str, now: OffsetDateTime, message: &str) -> Self {
        Self {
            node: node.to_string(),
            at: whole_seconds(now),
            message: cut_message(message),
        }
    }

    /// Reads the annotation's value.
    pub fn parse(value: &str) -> Result<Self, ProtocolError> {
        parse_json(ROLLOUT_FAILED_ANNOTATION, value)
    }

    /// The annotation's value (compact JSON).
    pub fn render(&self) -> String {
        render_json(self)
    }
}

/// A renew request id ([`RENEW_REQUEST_ANNOTATION`]): opaque to the agent, which only
/// compares it with the one it handled last. `kcerts cluster renew` writes
/// `<RFC3339 time>-<8 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RenewRequestId(String);

impl RenewRequestId {
    /// A new id, `<now as RFC3339>-<8 hex digits from rng>`.
    pub fn generate<R: Rng + ?Sized>(now: OffsetDateTime, rng: &mut R) -> Self {
        Self(format!("{}-{:08x}", rfc3339(now), rng.next_u32()))
    }

    /// Reads the annotation's value (surrounding whitespace ignored).
    pub fn parse(value: &str) -> Result<Self, ProtocolError> {
        let v = value.trim();
        let ok = !v.is_empty()
            && v.len() <= MAX_REQUEST_ID_BYTES
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:+_-".contains(&b));
        if ok {
            Ok(Self(v.to_string()))
        } else {
            Err(ProtocolError::InvalidRequestId {
                shown: value.chars().take(MAX_REQUEST_ID_BYTES).collect(),
            })
        }
    }

    /// The id as written in the annotation.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RenewRequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RenewRequestId {
    type Error = ProtocolError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RenewRequestId> for String {
    fn from(id: RenewRequestId) -> Self {
        id.0
    }
}

/// What an agent's run came to ([`AgentStatus::outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Rows are due but the agent runs without `--renew`.
    ReportOnly,
    /// Nothing is due (and no request is pending).
    NothingDue,
    /// The due rows were renewed, restarted and verified.
    Renewed,
    /// The renewal, a restart or the verification failed.
    Failed,
    /// Due, but the Lease is held, a rollout failed, or a safety rule says no (the
    /// message says which).
    Waiting,
}

impl Outcome {
    /// Every outcome, in the order the metrics list them.
    pub const ALL: [Self; 5] = [
        Self::NothingDue,
        Self::ReportOnly,
        Self::Waiting,
        Self::Renewed,
        Self::Failed,
    ];

    /// The name written in the annotation (`report-only`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReportOnly => "report-only",
            Self::NothingDue => "nothing-due",
            Self::Renewed => "renewed",
            Self::Failed => "failed",
            Self::Waiting => "waiting",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The agent's status on its Node ([`STATUS_ANNOTATION`]), written after every run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    /// The node's name.
    pub node: String,
    /// When the run read the node.
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    /// The soonest expiry among the node's certificates (null when none was read).
    #[serde(with = "time::serde::rfc3339::option")]
    pub soonest_expiry: Option<OffsetDateTime>,
    /// The row (or CA) that expires first.
    pub soonest_name: Option<String>,
    /// The rows due in this run (all of them when a request was pending).
    pub due: Vec<String>,
    /// What the run came to.
    pub outcome: Outcome,
    /// A sentence for people (why it waits, the error, what was restarted).
    pub message: String,
    /// The last successful renewal by this agent, carried over from run to run.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_renewal: Option<OffsetDateTime>,
    /// The last renew request this agent handled.
    pub handled_request: Option<RenewRequestId>,
    /// The agent's version (`kcerts` package version).
    pub agent_version: String,
}

impl AgentStatus {
    /// Reads the annotation's value.
    pub fn parse(value: &str) -> Result<Self, ProtocolError> {
        parse_json(STATUS_ANNOTATION, value)
    }

    /// The annotation's value (compact JSON); times in whole seconds and the message
    /// cut to [`MAX_MESSAGE_CHARS`], whatever the fields held.
    pub fn render(&self) -> String {
        let mut s = self.clone();
        s.observed_at = whole_seconds(s.observed_at);
        s.soonest_expiry = s.soonest_expiry.map(whole_seconds);
        s.last_renewal = s.last_renewal.map(whole_seconds);
        s.message = cut_message(&s.message);
        render_json(&s)
    }

    /// Whether this status says the request `id` was handled.
    pub fn handled(&self, id: &RenewRequestId) -> bool {
        self.handled_request.as_ref() == Some(id)
    }
}

/// Whether a Node's request annotation asks for a renewal its agent has not handled
/// yet: present, valid, and not the id in its status (`status` `None` when the Node
/// has no status yet). An invalid id is an error, never a renewal.
pub fn pending_request(
    request: Option<&str>,
    status: Option<&AgentStatus>,
) -> Result<Option<RenewRequestId>, ProtocolError> {
    let Some(raw) = request else {
        return Ok(None);
    };
    let id = RenewRequestId::parse(raw)?;
    Ok(match status {
        Some(s) if s.handled(&id) => None,
        _ => Some(id),
    })
}

/// The reasons of the agent's Events on its Node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventReason {
    /// Rows are due and were not renewed (report-only mode, or waiting).
    CertificateExpirationWarning,
    /// Rows were renewed (and components restarted).
    CertificatesRenewed,
    /// A renewal, restart or verification failed.
    CertificateRenewalFailed,
}

impl EventReason {
    /// The three reasons.
    pub const ALL: [EventReason; 3] = [
        Self::CertificateExpirationWarning,
        Self::CertificatesRenewed,
        Self::CertificateRenewalFailed,
    ];

    /// The Event's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CertificateExpirationWarning => "CertificateExpirationWarning",
            Self::CertificatesRenewed => "CertificatesRenewed",
            Self::CertificateRenewalFailed => "CertificateRenewalFailed",
        }
    }

    /// The Event's `type`: `Normal` for a renewal, `Warning` otherwise.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::CertificatesRenewed => "Normal",
            Self::CertificateExpirationWarning | Self::CertificateRenewalFailed => "Warning",
        }
    }

    /// The reason of an Event's `reason` string, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for EventReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Lease as the protocol reads it: the fields of coordination.k8s.io/v1
/// `LeaseSpec` that decide who may renew, and the rollout-failed annotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseView {
    /// `holderIdentity`: the node renewing now (`None` or empty: free).
    pub holder: Option<String>,
    /// `leaseDurationSeconds`.
    pub duration_seconds: Option<i32>,
    /// `acquireTime`.
    pub acquire_time: Option<OffsetDateTime>,
    /// `renewTime`.
    pub renew_time: Option<OffsetDateTime>,
    /// `leaseTransitions`.
    pub transitions: Option<i32>,
    /// The [`ROLLOUT_FAILED_ANNOTATION`], read (`Some(Err)` when unreadable, which
    /// stops a rollout as a readable one does).
    pub rollout_failed: Option<Result<RolloutFailed, ProtocolError>>,
}

impl LeaseView {
    /// The holder, an empty holderIdentity read as none.
    pub fn holder(&self) -> Option<&str> {
        self.holder.as_deref().filter(|h| !h.is_empty())
    }

    /// When the holder's claim runs out: renewTime (or acquireTime) plus
    /// leaseDurationSeconds; `None` when there is no holder. A held Lease without a
    /// time or duration never runs out by itself (an operator clears it).
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.holder()?;
        let since = self.renew_time.or(self.acquire_time)?;
        let secs = self.duration_seconds.filter(|d| *d > 0)?;
        Some(since + time::Duration::seconds(i64::from(secs)))
    }
}

/// `t` as the API writes times: RFC 3339 in UTC, whole seconds, `Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = whole_seconds(t).to_offset(time::UtcOffset::UTC);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| String::from("invalid-time"))
}

/// `t` without its fraction of a second (metav1.Time has whole seconds).
pub fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

fn cut_message(message: &str) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        return message.to_string();
    }
    let mut out: String = message.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    out.push('…');
    out
}

fn parse_json<T: serde::de::DeserializeOwned>(
    annotation: &'static str,
    value: &str,
) -> Result<T, ProtocolError> {
    if value.len() > MAX_ANNOTATION_BYTES {
        return Err(ProtocolError::TooLarge {
            annotation,
            len: value.len(),
            max: MAX_ANNOTATION_BYTES,
        });
    }
    serde_json::from_str(value).map_err(|e| ProtocolError::InvalidJson {
        annotation,
        reason: e.to_string(),
    })
}

fn render_json<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs (strings, times within year 0..9999, enums)
    // cannot fail; an empty object would be read back as invalid, never as data.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// 2026-03-01 12:00:00 UTC, with a fraction the protocol drops.
    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00:00.75 UTC);

    fn status() -> AgentStatus {
        AgentStatus {
            node: "cp-1".into(),
            observed_at: NOW,
            soonest_expiry: Some(datetime!(2026-04-02 08:30 UTC)),
            soonest_name: Some("apiserver".into()),
            due: vec!["apiserver".into(), "admin.conf".into()],
            outcome: Outcome::Waiting,
            message: "the Lease is held by cp-2 until 2026-03-01T12:01:00Z".into(),
            last_renewal: None,
            handled_request: Some(RenewRequestId::parse("2026-03-01T11:00:00Z-0a1b2c3d").unwrap()),
            agent_version: "0.1.0".into(),
        }
    }

    #[test]
    fn status_renders_the_documented_json_and_reads_back() {
        let s = status();
        let json = s.render();
        assert_eq!(
            json,
            r#"{"node":"cp-1","observedAt":"2026-03-01T12:00:00Z","soonestExpiry":"2026-04-02T08:30:00Z","soonestName":"apiserver","due":["apiserver","admin.conf"],"outcome":"waiting","message":"the Lease is held by cp-2 until 2026-03-01T12:01:00Z","lastRenewal":null,"handledRequest":"2026-03-01T11:00:00Z-0a1b2c3d","agentVersion":"0.1.0"}"#
        );
        let back = AgentStatus::parse(&json).unwrap();
        assert_eq!(back.observed_at, datetime!(2026-03-01 12:00 UTC));
        assert_eq!(back.outcome, Outcome::Waiting);
        assert_eq!(back.due, s.due);
        assert_eq!(back.handled_request, s.handled_request);
    }

    #[test]
    fn every_outcome_has_its_documented_name() {
        for (o, name) in [
            (Outcome::ReportOnly, "report-only"),
            (Outcome::NothingDue, "nothing-due"),
            (Outcome::Renewed, "renewed"),
            (Outcome::Failed, "failed"),
            (Outcome::Waiting, "waiting"),
        ] {
            assert_eq!(o.as_str(), name);
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{name}\""));
        }
    }

    #[test]
    fn status_refuses_bad_json_a_bad_request_id_and_oversized_values() {
        assert!(matches!(
            AgentStatus::parse("{\"node\":1}"),
            Err(ProtocolError::InvalidJson {
                annotation: STATUS_ANNOTATION,
                ..
            })
        ));
        let bad_id = status().render().replace("0a1b2c3d", "0a1b 2c3d");
        assert!(matches!(
            AgentStatus::parse(&bad_id),
            Err(ProtocolError::InvalidJson { .. })
        ));
        let huge = format!("{{\"node\":\"{}\"}}", "x".repeat(MAX_ANNOTATION_BYTES));
        assert!(matches!(
            AgentStatus::parse(&huge),
            Err(ProtocolError::TooLarge { .. })
        ));
        assert!(matches!(
            AgentStatus::parse("{\"outcome\":\"exploded\"}"),
            Err(ProtocolError::InvalidJson { .. })
        ));
    }

    #[test]
    fn long_messages_are_cut_in_what_is_written() {
        let mut s = status();
        s.message = "é".repeat(5000);
        let back = AgentStatus::parse(&s.render()).unwrap();
        assert_eq!(back.message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(back.message.ends_with('…'));
        let f = RolloutFailed::new("cp-2", NOW, &"x".repeat(3000));
        assert_eq!(f.message.chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn rollout_failed_round_trips() {
        let f = RolloutFailed::new("cp-2", NOW, "renew: pki/apiserver.key: permission denied");
        let json = f.render();
        assert_eq!(
            json,
            r#"{"node":"cp-2","at":"2026-03-01T12:00:00Z","message":"renew: pki/apiserver.key: permission denied"}"#
        );
        assert_eq!(RolloutFailed::parse(&json).unwrap(), f);
        assert!(RolloutFailed::parse("{\"node\":\"cp-2\"}").is_err());
        assert!(RolloutFailed::parse("not json").is_err());
    }

    #[test]
    fn request_ids_are_generated_as_documented_and_checked_when_read() {
        let mut rng = crate::seeded_rng(1);
        let id = RenewRequestId::generate(NOW, &mut rng);
        let s = id.as_str();
        assert!(s.starts_with("2026-03-01T12:00:00Z-"), "{s}");
        let hex = &s["2026-03-01T12:00:00Z-".len()..];
        assert_eq!(hex.len(), 8);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(RenewRequestId::parse(s).unwrap(), id);
        assert_ne!(RenewRequestId::generate(NOW, &mut rng), id);
        assert_eq!(RenewRequestId::parse(" abc \n").unwrap().as_str(), "abc");
        for bad in ["", "  ", "a b", "a\"b", "ü", "$(reboot)", &"a".repeat(129)] {
            assert!(RenewRequestId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RenewRequestId::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn a_request_is_pending_until_the_status_names_it() {
        let s = status();
        let handled = "2026-03-01T11:00:00Z-0a1b2c3d";
        assert_eq!(pending_request(None, Some(&s)), Ok(None));
        assert_eq!(pending_request(Some(handled), Some(&s)), Ok(None));
        let newer = "2026-03-01T12:00:00Z-ffffffff";
        assert_eq!(
            pending_request(Some(newer), Some(&s)),
            Ok(Some(RenewRequestId::parse(newer).unwrap()))
        );
        assert_eq!(
            pending_request(Some(handled), None),
            Ok(Some(RenewRequestId::parse(handled).unwrap()))
        );
        assert!(pending_request(Some("no way"), None).is_err());
    }

    #[test]
    fn event_reasons_have_their_names_and_types() {
        use EventReason::*;
        assert_eq!(CertificateExpirationWarning.event_type(), "Warning");
        assert_eq!(CertificatesRenewed.event_type(), "Normal");
        assert_eq!(CertificateRenewalFailed.event_type(), "Warning");
        for r in EventReason::ALL {
            assert_eq!(EventReason::from_name(r.as_str()), Some(r));
        }
        assert_eq!(EventReason::from_name("Started"), None);
    }

    #[test]
    fn the_lease_view_reads_holder_and_expiry() {
        let mut l = LeaseView {
            holder: Some(String::new()),
            duration_seconds: Some(15),
            renew_time: Some(datetime!(2026-03-01 12:00 UTC)),
            ..LeaseView::default()
        };
        assert_eq!(l.holder(), None);
        assert_eq!(l.expires_at(), None);
        l.holder = Some("cp-1".into());
        assert_eq!(l.expires_at(), Some(datetime!(2026-03-01 12:00:15 UTC)));
        l.renew_time = None;
        l.acquire_time = Some(datetime!(2026-03-01 11:00 UTC));
        assert_eq!(l.expires_at(), Some(datetime!(2026-03-01 11:00:15 UTC)));
        l.duration_seconds = Some(0);
        assert_eq!(l.expires_at(), None);
    }

    #[test]
    fn times_are_written_as_the_api_writes_them() {
        assert_eq!(rfc3339(NOW), "2026-03-01T12:00:00Z");
        assert_eq!(
            rfc3339(datetime!(2026-03-01 13:00 +01:00)),
            "2026-03-01T12:00:00Z"
        );
    }
}
