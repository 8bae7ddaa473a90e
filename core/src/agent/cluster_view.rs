//! What `kcerts cluster status|renew` make of the control plane: every
//! control-plane Node's agent status and renew request (read from its
//! annotations) and the Lease, as a table and as JSON ([`ClusterView`]); the
//! answer a node's status gives to a renew request ([`answer`]) and the state
//! of a rollout being followed ([`Rollout`]); what `cluster renew --dry-run`
//! prints. The CLI reads the API and prints; the rules are here, so the page
//! could show the same.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use super::protocol::{
    AgentStatus, LEASE_NAME, LEASE_NAMESPACE, LeaseView, Outcome, ProtocolError,
    RENEW_REQUEST_ANNOTATION, ROLLOUT_FAILED_ANNOTATION, RenewRequestId, RolloutFailed,
    STATUS_ANNOTATION, rfc3339,
};
use crate::kubeadm::residual;

/// The label every control-plane Node carries (kubeadm sets it).
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";

/// One control-plane Node, as its annotations say.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecord {
    /// The Node's name.
    pub name: String,
    /// [`STATUS_ANNOTATION`]: `None` when no agent wrote one yet.
    pub status: Option<Result<AgentStatus, ProtocolError>>,
    /// [`RENEW_REQUEST_ANNOTATION`], as written (checked only when used).
    pub request: Option<String>,
}

impl NodeRecord {
    /// The record of Node `name` with these annotations.
    pub fn from_annotations(name: &str, annotations: &BTreeMap<String, String>) -> Self {
        Self {
            name: name.to_string(),
            status: annotations
                .get(STATUS_ANNOTATION)
                .map(|v| AgentStatus::parse(v)),
            request: annotations.get(RENEW_REQUEST_ANNOTATION).cloned(),
        }
    }

    /// The status, when there is a readable one.
    pub fn agent_status(&self) -> Option<&AgentStatus> {
        self.status.as_ref().and_then(|s| s.as_ref().ok())
    }
}

/// Every control-plane Node (sorted by name) and the Lease (`None`: not created yet).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    /// The nodes.
    pub nodes: Vec<NodeRecord>,
    /// The Lease `kube-system/kcerts-agent`.
    pub lease: Option<LeaseView>,
}

impl ClusterView {
    /// The view, nodes sorted by name.
    pub fn new(mut nodes: Vec<NodeRecord>, lease: Option<LeaseView>) -> Self {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Self { nodes, lease }
    }

    /// The readable rollout-failed record on the Lease, if any.
    pub fn rollout_failed(&self) -> Option<&Result<RolloutFailed, ProtocolError>> {
        self.lease.as_ref()?.rollout_failed.as_ref()
    }

    /// The table of `kcerts cluster status`: a header and one row per node,
    /// tab-separated cells (for Go's tabwriter), then lines about the Lease and
    /// each node's message.
    pub fn status_text(&self, now: OffsetDateTime) -> StatusText {
        let mut rows = vec![
            [
                "NODE",
                "SOONEST EXPIRY",
                "CERTIFICATE",
                "DUE",
                "LAST RENEWAL",
                "OUTCOME",
                "STATUS AGE",
            ]
            .join("\t"),
        ];
        let mut notes = Vec::new();
        for n in &self.nodes {
            let cells: Vec<String> = match &n.status {
                None => {
                    notes.push(format!(
                        "{}: no agent status (no kcerts agent has run on it)",
                        n.name
                    ));
                    placeholder_row(&n.name, "no agent")
                }
                Some(Err(e)) => {
                    notes.push(format!("{}: {e}", n.name));
                    placeholder_row(&n.name, "unreadable")
                }
                Some(Ok(s)) => {
                    if !s.message.is_empty() {
                        notes.push(format!("{}: {}: {}", n.name, s.outcome, s.message));
                    }
                    vec![
                        n.name.clone(),
                        s.soonest_expiry.map_or("-".into(), |t| {
                            format!("{} ({})", residual::format_date(t), left(t, now))
                        }),
                        s.soonest_name.clone().unwrap_or_else(|| "-".into()),
                        s.due.len().to_string(),
                        s.last_renewal.map_or("never".into(), residual::format_date),
                        s.outcome.to_string(),
                        age(s.observed_at, now),
                    ]
                }
            };
            rows.push(cells.join("\t"));
        }
        let mut lease = vec![lease_line(self.lease.as_ref(), now)];
        if let Some(rf) = self.rollout_failed() {
            lease.push(match rf {
                Ok(rf) => format!(
                    "rollout failed on {} at {}: {} (no agent renews until `kcerts cluster renew` or a \
                     later renewal of {} clears it)",
                    rf.node,
                    rfc3339(rf.at),
                    rf.message,
                    rf.node
                ),
                Err(e) => format!("rollout failed (unreadable, stops every agent as a readable one does): {e}"),
            });
        }
        StatusText {
            table: rows.into_iter().map(|r| r + "\n").collect(),
            lease,
            notes,
        }
    }

    /// `kcerts cluster status -o json`.
    pub fn status_json(&self, now: OffsetDateTime) -> serde_json::Value {
        let nodes: Vec<serde_json::Value> = self
            .nodes
            .iter()
            .map(|n| {
                let (status, error) = match &n.status {
                    None => (serde_json::Value::Null, serde_json::Value::Null),
                    Some(Ok(s)) => (
                        serde_json::to_value(s).unwrap_or(serde_json::Value::Null),
                        serde_json::Value::Null,
                    ),
                    Some(Err(e)) => (serde_json::Value::Null, e.to_string().into()),
                };
                let age = n
                    .agent_status()
                    .map(|s| (now - s.observed_at).whole_seconds());
                serde_json::json!({
                    "node": n.name,
                    "status": status,
                    "statusError": error,
                    "statusAgeSeconds": age,
                    "renewRequest": n.request,
                })
            })
            .collect();
        let lease = self.lease.as_ref().map(|l| {
            serde_json::json!({
                "namespace": LEASE_NAMESPACE,
                "name": LEASE_NAME,
                "holder": l.holder(),
                "acquireTime": l.acquire_time.map(rfc3339),
                "renewTime": l.renew_time.map(rfc3339),
                "leaseDurationSeconds": l.duration_seconds,
                "leaseTransitions": l.transitions,
                "expiresAt": l.expires_at().map(rfc3339),
                "expired": l.expires_at().map(|t| t < now),
                "rolloutFailed": match &l.rollout_failed {
                    None => serde_json::Value::Null,
                    Some(Ok(rf)) => serde_json::to_value(rf).unwrap_or(serde_json::Value::Null),
                    Some(Err(e)) => serde_json::json!({"error": e.to_string()}),
                },
            })
        });
        serde_json::json!({
            "observedAt": rfc3339(now),
            "nodes": nodes,
            "lease": lease,
        })
    }

    /// What `kcerts cluster renew --dry-run` prints: per node what its agent last
    /// reported due, what a request would do, and the order.
    pub fn dry_run_lines(&self, now: OffsetDateTime) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(rf) = self.rollout_failed() {
            out.push(match rf {
                Ok(rf) => format!(
                    "would remove {ROLLOUT_FAILED_ANNOTATION} from the Lease {LEASE_NAMESPACE}/{LEASE_NAME} \
                     (set by {} at {}: {})",
                    rf.node,
                    rfc3339(rf.at),
                    rf.message
                ),
                Err(_) => format!(
                    "would remove {ROLLOUT_FAILED_ANNOTATION} (unreadable) from the Lease \
                     {LEASE_NAMESPACE}/{LEASE_NAME}"
                ),
            });
        }
        for n in &self.nodes {
            out.push(match &n.status {
                None => format!(
                    "{}: no agent status: no kcerts agent has run on it; a request would not be \
                     answered",
                    n.name
                ),
                Some(Err(e)) => format!("{}: its agent status is unreadable ({e})", n.name),
                Some(Ok(s)) => {
                    let due = if s.due.is_empty() {
                        "nothing due".to_string()
                    } else {
                        format!("due: {}", s.due.join(", "))
                    };
                    format!(
                        "{}: last report {} ago ({}): {due}; a request would renew every \
                         certificate `kcerts renew all` renews{}",
                        n.name,
                        age(s.observed_at, now),
                        s.outcome,
                        if s.outcome == Outcome::ReportOnly {
                            " (but this agent is report-only: it runs without --renew)"
                        } else {
                            ""
                        }
                    )
                }
            });
        }
        out.push(format!(
            "order: one node at a time, each agent after its random wait takes the Lease \
             {LEASE_NAMESPACE}/{LEASE_NAME}, renews, restarts and checks its components, then \
             releases it; the order is whoever takes the Lease first"
        ));
        out.push(format!(
            "would write a new {RENEW_REQUEST_ANNOTATION} on {} node(s); nothing was changed",
            self.nodes.len()
        ));
        out
    }
}

/// [`ClusterView::status_text`]: the table (tab-separated, for the tabwriter),
/// then the Lease lines and the nodes' messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusText {
    /// Header and rows, each ending in a newline, cells separated by tabs.
    pub table: String,
    /// The Lease's holder and a rollout-failed record.
    pub lease: Vec<String>,
    /// One line per node with a message (why it waits, the error...).
    pub notes: Vec<String>,
}

/// A status row of a node without a readable status: its name, `outcome`, and a
/// dash in every other column.
fn placeholder_row(name: &str, outcome: &str) -> Vec<String> {
    [name, "-", "-", "-", "-", outcome, "-"]
        .map(String::from)
        .to_vec()
}

fn lease_line(lease: Option<&LeaseView>, now: OffsetDateTime) -> String {
    let name = format!("Lease {LEASE_NAMESPACE}/{LEASE_NAME}");
    let Some(l) = lease else {
        return format!("{name}: not created yet (no agent has renewed)");
    };
    match (l.holder(), l.expires_at()) {
        (None, _) => format!("{name}: free"),
        (Some(h), Some(until)) if until < now => format!(
            "{name}: held by {h}, expired {} ago (another agent may take it)",
            residual::human((now - until).whole_seconds())
        ),
        (Some(h), Some(until)) => format!(
            "{name}: held by {h} (renewing), until {} ({} left)",
            rfc3339(until),
            residual::human((until - now).whole_seconds())
        ),
        (Some(h), None) => {
            format!("{name}: held by {h}, with no time or duration (clear it by hand)")
        }
    }
}

fn left(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let s = (t - now).whole_seconds();
    if s < 0 {
        "expired".into()
    } else {
        residual::human(s)
    }
}

fn age(observed: OffsetDateTime, now: OffsetDateTime) -> String {
    residual::human((now - observed).whole_seconds().max(0))
}

/// How a node's agent answered a renew request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Answer {
    /// It renewed, restarted and verified.
    Renewed {
        /// Its message (what was restarted).
        message: String,
    },
    /// Its renewal failed.
    Failed {
        /// The error.
        message: String,
    },
    /// It handled the request without renewing (a report-only agent).
    NotRenewed {
        /// The outcome it reported.
        outcome: String,
        /// Its message.
        message: String,
    },
}

impl Answer {
    /// Whether the node renewed.
    pub fn renewed(&self) -> bool {
        matches!(self, Self::Renewed { .. })
    }

    /// The line `cluster renew` prints for node `node`.
    pub fn line(&self, node: &str) -> String {
        let with = |m: &str| {
            if m.is_empty() {
                String::new()
            } else {
                format!(": {m}")
            }
        };
        match self {
            Self::Renewed { message } => format!("{node}: renewed{}", with(message)),
            Self::Failed { message } => format!("{node}: failed{}", with(message)),
            Self::NotRenewed { outcome, message } => {
                format!("{node}: not renewed ({outcome}){}", with(message))
            }
        }
    }
}

/// The answer `status` gives to `request`: `None` until the agent says it
/// handled that id.
pub fn answer(request: &RenewRequestId, status: Option<&AgentStatus>) -> Option<Answer> {
    let s = status.filter(|s| s.handled(request))?;
    let message = s.message.clone();
    Some(match s.outcome {
        Outcome::Renewed => Answer::Renewed { message },
        Outcome::Failed => Answer::Failed { message },
        Outcome::ReportOnly => Answer::NotRenewed {
            outcome: s.outcome.to_string(),
            message: if message.is_empty() {
                "the agent runs without --renew".into()
            } else {
                message
            },
        },
        Outcome::NothingDue | Outcome::Waiting => Answer::NotRenewed {
            outcome: s.outcome.to_string(),
            message,
        },
    })
}

/// A renew request followed node by node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    request: RenewRequestId,
    nodes: Vec<String>,
    /// Answers in the order they came.
    answers: Vec<(String, Answer)>,
}

/// Where a followed rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutState {
    /// Nodes still to answer, none failed (or failures are to be gone past).
    Following,
    /// Every node renewed.
    AllRenewed,
    /// Every node answered, and at least one did not renew.
    Done,
    /// A node failed and the others wait for the rollout-failed record to be
    /// cleared (`--continue-on-failure` not given).
    Stopped,
}

impl Rollout {
    /// A rollout of `request` over `nodes`.
    pub fn new(request: RenewRequestId, nodes: Vec<String>) -> Self {
        Self {
            request,
            nodes,
            answers: Vec::new(),
        }
    }

    /// The request followed.
    pub fn request(&self) -> &RenewRequestId {
        &self.request
    }

    /// Takes in what `view` shows now; returns the lines to print for nodes
    /// that answered since the last call. A rollout-failed record on the Lease
    /// that names a followed node which has not answered, set at or after
    /// `since` (when the request was written), counts as that node's failure.
    pub fn observe(&mut self, view: &ClusterView, since: OffsetDateTime) -> Vec<String> {
        let mut lines = Vec::new();
        for n in &view.nodes {
            if !self.nodes.contains(&n.name) || self.answered(&n.name) {
                continue;
            }
            if let Some(a) = answer(&self.request, n.agent_status()) {
                lines.push(a.line(&n.name));
                self.answers.push((n.name.clone(), a));
            }
        }
        if let Some(Ok(rf)) = view.rollout_failed()
            && rf.at >= since.replace_nanosecond(0).unwrap_or(since)
            && self.nodes.contains(&rf.node)
            && !self.answered(&rf.node)
        {
            let a = Answer::Failed {
                message: rf.message.clone(),
            };
            lines.push(a.line(&rf.node));
            self.answers.push((rf.node.clone(), a));
        }
        lines
    }

    fn answered(&self, node: &str) -> bool {
        self.answers.iter().any(|(n, _)| n == node)
    }

    /// Where the rollout stands.
    pub fn state(&self, continue_on_failure: bool) -> RolloutState {
        let failed = self.answers.iter().any(|(_, a)| !a.renewed());
        if self.answers.len() == self.nodes.len() {
            if failed {
                RolloutState::Done
            } else {
                RolloutState::AllRenewed
            }
        } else if failed && !continue_on_failure {
            RolloutState::Stopped
        } else {
            RolloutState::Following
        }
    }

    /// The answers, in the order they came.
    pub fn answers(&self) -> &[(String, Answer)] {
        &self.answers
    }

    /// The followed nodes that have not answered, each with what its status
    /// says now (why it did not answer).
    pub fn unanswered(&self, view: &ClusterView, now: OffsetDateTime) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| !self.answered(n))
            .map(|name| {
                let record = view.nodes.iter().find(|r| &r.name == name);
                let why = match record.and_then(|r| r.status.as_ref()) {
                    None => "no agent status: no kcerts agent runs on it".to_string(),
                    Some(Err(e)) => format!("agent status unreadable: {e}"),
                    Some(Ok(s)) => {
                        let msg = if s.message.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", s.message)
                        };
                        format!(
                            "its agent last reported {} ago ({}{msg})",
                            age(s.observed_at, now),
                            s.outcome
                        )
                    }
                };
                format!("{name}: no answer: {why}")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::protocol::RolloutFailed;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);

    fn id() -> RenewRequestId {
        RenewRequestId::parse("2026-03-01T11:59:00Z-0a1b2c3d").unwrap()
    }

    fn status(node: &str, outcome: Outcome, handled: Option<RenewRequestId>) -> AgentStatus {
        AgentStatus {
            node: node.into(),
            observed_at: datetime!(2026-03-01 11:59:30 UTC),
            soonest_expiry: Some(datetime!(2026-03-20 12:00 UTC)),
            soonest_name: Some("apiserver".into()),
            due: vec!["apiserver".into(), "admin.conf".into()],
            outcome,
            message: match outcome {
                Outcome::Failed => "renew: cannot write pki/apiserver.crt".into(),
                Outcome::Waiting => "the Lease is held by cp-1".into(),
                _ => String::new(),
            },
            last_renewal: (outcome == Outcome::Renewed)
                .then_some(datetime!(2026-03-01 11:59:20 UTC)),
            handled_request: handled,
            agent_version: "0.1.0".into(),
        }
    }

    fn record(name: &str, status: Option<AgentStatus>) -> NodeRecord {
        let mut ann = BTreeMap::new();
        if let Some(s) = status {
            ann.insert(STATUS_ANNOTATION.to_string(), s.render());
        }
        NodeRecord::from_annotations(name, &ann)
    }

    fn lease(holder: Option<&str>, rf: Option<RolloutFailed>) -> LeaseView {
        LeaseView {
            holder: holder.map(String::from),
            duration_seconds: Some(60),
            acquire_time: Some(datetime!(2026-03-01 11:59:40 UTC)),
            renew_time: Some(datetime!(2026-03-01 11:59:40 UTC)),
            transitions: Some(2),
            rollout_failed: rf.map(Ok),
        }
    }

    #[test]
    fn the_status_table_has_a_row_per_node_and_names_those_without_an_agent() {
        let mut bad = BTreeMap::new();
        bad.insert(STATUS_ANNOTATION.to_string(), "{not json".to_string());
        let view = ClusterView::new(
            vec![
                record("cp-3", None),
                record("cp-1", Some(status("cp-1", Outcome::Renewed, Some(id())))),
                record("cp-2", Some(status("cp-2", Outcome::Waiting, None))),
                NodeRecord::from_annotations("cp-4", &bad),
            ],
            Some(lease(Some("cp-2"), None)),
        );
        let t = view.status_text(NOW);
        let rows: Vec<&str> = t.table.lines().collect();
        assert_eq!(
            rows,
            [
                "NODE\tSOONEST EXPIRY\tCERTIFICATE\tDUE\tLAST RENEWAL\tOUTCOME\tSTATUS AGE",
                "cp-1\tMar 20, 2026 12:00 UTC (19d)\tapiserver\t2\tMar 01, 2026 11:59 UTC\trenewed\t30s",
                "cp-2\tMar 20, 2026 12:00 UTC (19d)\tapiserver\t2\tnever\twaiting\t30s",
                "cp-3\t-\t-\t-\t-\tno agent\t-",
                "cp-4\t-\t-\t-\t-\tunreadable\t-",
            ]
        );
        assert_eq!(
            t.lease,
            [
                "Lease kube-system/kcerts-agent: held by cp-2 (renewing), until 2026-03-01T12:00:40Z (40s left)"
            ]
        );
        assert_eq!(t.notes[0], "cp-2: waiting: the Lease is held by cp-1");
        assert_eq!(
            t.notes[1],
            "cp-3: no agent status (no kcerts agent has run on it)"
        );
        assert!(
            t.notes[2].starts_with("cp-4: annotation kcerts.io/agent-status is not valid"),
            "{:?}",
            t.notes
        );
    }

    #[test]
    fn the_lease_line_says_free_expired_missing_and_the_rollout_failure() {
        let rf = RolloutFailed::new(
            "cp-2",
            datetime!(2026-03-01 11:50 UTC),
            "restart: apiserver not healthy",
        );
        let view = ClusterView::new(vec![], Some(lease(None, Some(rf))));
        let t = view.status_text(NOW);
        assert_eq!(t.lease[0], "Lease kube-system/kcerts-agent: free");
        assert!(t.lease[1].starts_with(
            "rollout failed on cp-2 at 2026-03-01T11:50:00Z: restart: apiserver not healthy"
        ));
        let expired = ClusterView::new(vec![], Some(lease(Some("cp-1"), None)));
        assert_eq!(
            expired
                .status_text(datetime!(2026-03-01 12:01:00 UTC))
                .lease[0],
            "Lease kube-system/kcerts-agent: held by cp-1, expired 20s ago (another agent may take it)"
        );
        let none = ClusterView::new(vec![], None);
        assert_eq!(
            none.status_text(NOW).lease[0],
            "Lease kube-system/kcerts-agent: not created yet (no agent has renewed)"
        );
    }

    #[test]
    fn the_json_carries_the_statuses_the_lease_and_the_ages() {
        let view = ClusterView::new(
            vec![
                record("cp-1", Some(status("cp-1", Outcome::ReportOnly, None))),
                record("cp-2", None),
            ],
            Some(lease(Some("cp-1"), None)),
        );
        let j = view.status_json(NOW);
        assert_eq!(j["nodes"][0]["status"]["outcome"], "report-only");
        assert_eq!(j["nodes"][0]["status"]["due"][1], "admin.conf");
        assert_eq!(j["nodes"][0]["statusAgeSeconds"], 30);
        assert_eq!(j["nodes"][1]["status"], serde_json::Value::Null);
        assert_eq!(j["lease"]["holder"], "cp-1");
        assert_eq!(j["lease"]["expiresAt"], "2026-03-01T12:00:40Z");
        assert_eq!(j["lease"]["expired"], false);
    }

    #[test]
    fn an_answer_needs_the_handled_id_and_reads_the_outcome() {
        let other = RenewRequestId::parse("2026-02-01T00:00:00Z-ffffffff").unwrap();
        assert_eq!(answer(&id(), None), None);
        assert_eq!(
            answer(&id(), Some(&status("cp-1", Outcome::Renewed, Some(other)))),
            None
        );
        assert_eq!(
            answer(&id(), Some(&status("cp-1", Outcome::Renewed, None))),
            None
        );
        assert!(
            answer(&id(), Some(&status("cp-1", Outcome::Renewed, Some(id()))))
                .unwrap()
                .renewed()
        );
        let failed = answer(&id(), Some(&status("cp-1", Outcome::Failed, Some(id())))).unwrap();
        assert_eq!(
            failed.line("cp-1"),
            "cp-1: failed: renew: cannot write pki/apiserver.crt"
        );
        let report = answer(
            &id(),
            Some(&status("cp-1", Outcome::ReportOnly, Some(id()))),
        )
        .unwrap();
        assert_eq!(
            report.line("cp-1"),
            "cp-1: not renewed (report-only): the agent runs without --renew"
        );
    }

    fn nodes() -> Vec<String> {
        vec!["cp-1".into(), "cp-2".into(), "cp-3".into()]
    }

    #[test]
    fn a_rollout_prints_each_answer_once_and_ends_when_all_renewed() {
        let since = datetime!(2026-03-01 11:59:00 UTC);
        let mut r = Rollout::new(id(), nodes());
        let mut view = ClusterView::new(
            vec![
                record("cp-1", Some(status("cp-1", Outcome::Renewed, Some(id())))),
                record("cp-2", Some(status("cp-2", Outcome::Waiting, None))),
                record("cp-3", Some(status("cp-3", Outcome::Waiting, None))),
            ],
            None,
        );
        assert_eq!(r.observe(&view, since), ["cp-1: renewed"]);
        assert_eq!(r.observe(&view, since), Vec::<String>::new());
        assert_eq!(r.state(false), RolloutState::Following);
        view.nodes[1] = record("cp-2", Some(status("cp-2", Outcome::Renewed, Some(id()))));
        view.nodes[2] = record("cp-3", Some(status("cp-3", Outcome::Renewed, Some(id()))));
        assert_eq!(r.observe(&view, since), ["cp-2: renewed", "cp-3: renewed"]);
        assert_eq!(r.state(false), RolloutState::AllRenewed);
    }

    #[test]
    fn a_failure_stops_the_rollout_unless_continue_on_failure() {
        let since = datetime!(2026-03-01 11:59:00 UTC);
        let mut r = Rollout::new(id(), nodes());
        let view = ClusterView::new(
            vec![
                record("cp-1", Some(status("cp-1", Outcome::Failed, Some(id())))),
                record("cp-2", Some(status("cp-2", Outcome::Waiting, None))),
                record("cp-3", None),
            ],
            None,
        );
        assert_eq!(
            r.observe(&view, since),
            ["cp-1: failed: renew: cannot write pki/apiserver.crt"]
        );
        assert_eq!(r.state(false), RolloutState::Stopped);
        assert_eq!(r.state(true), RolloutState::Following);
        assert_eq!(
            r.unanswered(&view, NOW),
            [
                "cp-2: no answer: its agent last reported 30s ago (waiting: the Lease is held by cp-1)",
                "cp-3: no answer: no agent status: no kcerts agent runs on it",
            ]
        );
    }

    #[test]
    fn a_fresh_rollout_failed_record_counts_as_that_nodes_failure_a_stale_one_does_not() {
        let since = datetime!(2026-03-01 11:59:00 UTC);
        let waiting = vec![
            record("cp-1", Some(status("cp-1", Outcome::Waiting, None))),
            record("cp-2", Some(status("cp-2", Outcome::Waiting, None))),
        ];
        let stale = RolloutFailed::new("cp-2", datetime!(2026-03-01 11:00 UTC), "old");
        let mut r = Rollout::new(id(), nodes());
        let view = ClusterView::new(waiting.clone(), Some(lease(None, Some(stale))));
        assert!(r.observe(&view, since).is_empty());
        let fresh = RolloutFailed::new(
            "cp-2",
            datetime!(2026-03-01 11:59:50 UTC),
            "etcd would lose quorum",
        );
        let view = ClusterView::new(waiting, Some(lease(None, Some(fresh))));
        assert_eq!(
            r.observe(&view, since),
            ["cp-2: failed: etcd would lose quorum"]
        );
        assert_eq!(r.state(false), RolloutState::Stopped);
    }

    #[test]
    fn the_dry_run_names_what_each_agent_reported_and_changes_nothing() {
        let rf = RolloutFailed::new("cp-2", datetime!(2026-03-01 11:50 UTC), "boom");
        let view = ClusterView::new(
            vec![
                record("cp-1", Some(status("cp-1", Outcome::ReportOnly, None))),
                record("cp-2", None),
            ],
            Some(lease(None, Some(rf))),
        );
        let lines = view.dry_run_lines(NOW);
        assert_eq!(
            lines[0],
            "would remove kcerts.io/rollout-failed from the Lease kube-system/kcerts-agent (set by cp-2 at 2026-03-01T11:50:00Z: boom)"
        );
        assert_eq!(
            lines[1],
            "cp-1: last report 30s ago (report-only): due: apiserver, admin.conf; a request would renew every certificate `kcerts renew all` renews (but this agent is report-only: it runs without --renew)"
        );
        assert!(lines[2].starts_with("cp-2: no agent status"));
        assert!(lines[3].starts_with("order: one node at a time"));
        assert_eq!(
            lines[4],
            "would write a new kcerts.io/renew-request on 2 node(s); nothing was changed"
        );
    }
}
