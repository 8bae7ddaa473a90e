//! The agent's own metrics (`kcerts agent --listen`): what its runs came to, what
//! the last one saw (the soonest expiry, the rows due) and its last renewal, in
//! the Prometheus text format; and how long its `/healthz` stays healthy without
//! a finished run.
//!
//! The node's certificates themselves are `kcerts serve`'s metrics; these say
//! whether the agent that renews them is alive and succeeding.

use std::time::Duration;

use time::OffsetDateTime;

use crate::agent::protocol::{AgentStatus, Outcome};
use crate::render::prometheus::label_text;

/// How many components a renewal may restart one after the other (etcd, the API
/// server, the controller-manager, the scheduler).
const MOST_RESTARTS: u32 = 4;
/// Time for the rest of a run: reading the node, the API calls, the safety
/// probes, the renewal itself and `verify --live`.
const REST_OF_A_RUN: Duration = Duration::from_secs(10 * 60);

/// The agent's runs since it started, and what the last one reported.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Runs per outcome, in [`Outcome::ALL`]'s order.
    runs: [u64; 5],
    /// The last run's outcome and when it read the node.
    last: Option<(Outcome, OffsetDateTime)>,
    /// The rows the last run found due; `None` when it stopped before judging
    /// (an API error).
    due: Option<usize>,
    /// The last status a run wrote (kept when a later run stops on an error).
    status: Option<AgentStatus>,
}

impl Tally {
    /// Counts one run: its outcome, when it started, and the status it wrote
    /// (`None` when it stopped on an error before writing one).
    pub fn record(&mut self, outcome: Outcome, at: OffsetDateTime, status: Option<AgentStatus>) {
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.runs[i] += 1;
        }
        self.last = Some((outcome, at));
        self.due = status.as_ref().map(|s| s.due.len());
        if let Some(s) = status {
            self.status = Some(s);
        }
    }

    /// The runs counted with `outcome`.
    pub fn runs(&self, outcome: Outcome) -> u64 {
        Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .map_or(0, |i| self.runs[i])
    }

    /// The exposition text. `renew` is whether the agent runs with `--renew`.
    pub fn render(&self, node: &str, version: &str, renew: bool) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            if samples.is_empty() {
                return;
            }
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, value) in samples {
                out.push_str(&format!("{name}{labels} {value}\n"));
            }
        };
        family(
            "kcerts_agent_info",
            "gauge",
            "The agent: its node, version and mode (renew or report-only); always 1.",
            &[(
                label_text(&[
                    ("node", node.to_string()),
                    ("version", version.to_string()),
                    (
                        "mode",
                        if renew { "renew" } else { "report-only" }.to_string(),
                    ),
                ]),
                "1".into(),
            )],
        );
        family(
            "kcerts_agent_runs_total",
            "counter",
            "The agent's runs since it started, by outcome.",
            &Outcome::ALL
                .iter()
                .zip(self.runs)
                .map(|(o, n)| (outcome_label(*o), n.to_string()))
                .collect::<Vec<_>>(),
        );
        let last = self.last.map(|(o, _)| o);
        family(
            "kcerts_agent_last_run_outcome",
            "gauge",
            "The last run's outcome: 1 for it, 0 for the others (none before the first run ends).",
            &last
                .map(|last| {
                    Outcome::ALL
                        .iter()
                        .map(|o| {
                            let v = if *o == last { "1" } else { "0" };
                            (outcome_label(*o), v.into())
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        );
        family(
            "kcerts_agent_last_run_timestamp_seconds",
            "gauge",
            "When the last run read the node (Unix time).",
            &self
                .last
                .map(|(_, at)| (String::new(), at.unix_timestamp().to_string()))
                .into_iter()
                .collect::<Vec<_>>(),
        );
        family(
            "kcerts_agent_due_certificates",
            "gauge",
            "How many rows the last run found due (absent when it stopped on an error).",
            &self
                .due
                .map(|n| (String::new(), n.to_string()))
                .into_iter()
                .collect::<Vec<_>>(),
        );
        let status = self.status.as_ref();
        family(
            "kcerts_agent_soonest_expiry_timestamp_seconds",
            "gauge",
            "The soonest expiry among the node's certificates as the agent last read them \
             (Unix time), with the row that expires first.",
            &status
                .and_then(|s| Some((s.soonest_expiry?, s.soonest_name.as_deref()?)))
                .map(|(t, name)| {
                    (
                        label_text(&[("name", name.to_string())]),
                        t.unix_timestamp().to_string(),
                    )
                })
                .into_iter()
                .collect::<Vec<_>>(),
        );
        family(
            "kcerts_agent_last_renewal_timestamp_seconds",
            "gauge",
            "This node's last successful renewal by an agent (Unix time; absent when never).",
            &status
                .and_then(|s| s.last_renewal)
                .map(|t| (String::new(), t.unix_timestamp().to_string()))
                .into_iter()
                .collect::<Vec<_>>(),
        );
        out
    }
}

/// The `{outcome="..."}` label of `o`.
fn outcome_label(o: Outcome) -> String {
    label_text(&[("outcome", o.to_string())])
}

/// The longest one run may take: the jitter, then up to four components each
/// stopped (`stop_wait`) and started (`wait`) one after the other, and ten
/// minutes for everything else.
pub fn longest_run(jitter: Duration, wait: Duration, stop_wait: Duration) -> Duration {
    jitter
        .saturating_add(wait.saturating_add(stop_wait).saturating_mul(MOST_RESTARTS))
        .saturating_add(REST_OF_A_RUN)
}

/// How old the last finished run may be while `/healthz` still answers 200: three
/// intervals (as `serve`), plus the longest a run in progress may take.
pub fn stale_after(interval: Duration, longest_run: Duration) -> Duration {
    interval.saturating_mul(3).saturating_add(longest_run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn status(due: &[&str], last_renewal: Option<OffsetDateTime>) -> AgentStatus {
        AgentStatus {
            node: "cp-1".into(),
            observed_at: datetime!(2026-06-01 00:00 UTC),
            soonest_expiry: Some(datetime!(2026-07-01 00:00 UTC)),
            soonest_name: Some("apiserver".into()),
            due: due.iter().map(|s| s.to_string()).collect(),
            outcome: Outcome::ReportOnly,
            message: String::new(),
            last_renewal,
            handled_request: None,
            agent_version: "0.1.0".into(),
        }
    }

    #[test]
    fn before_the_first_run_only_the_info_and_zero_counters() {
        let m = Tally::default().render("cp-1", "0.1.0", false);
        assert!(
            m.contains(
                "kcerts_agent_info{node=\"cp-1\",version=\"0.1.0\",mode=\"report-only\"} 1\n"
            ),
            "{m}"
        );
        for o in Outcome::ALL {
            assert!(
                m.contains(&format!("kcerts_agent_runs_total{{outcome=\"{o}\"}} 0\n")),
                "{m}"
            );
        }
        assert!(!m.contains("kcerts_agent_last_run_outcome"), "{m}");
        assert!(!m.contains("kcerts_agent_due_certificates"), "{m}");
        assert!(!m.contains("kcerts_agent_last_renewal"), "{m}");
    }

    #[test]
    fn a_run_sets_the_outcome_due_rows_and_expiry() {
        let mut t = Tally::default();
        let at = datetime!(2026-06-01 00:00 UTC);
        t.record(
            Outcome::ReportOnly,
            at,
            Some(status(&["apiserver", "admin.conf"], None)),
        );
        let m = t.render("cp-1", "0.1.0", true);
        assert!(m.contains("mode=\"renew\"} 1\n"), "{m}");
        assert!(
            m.contains("kcerts_agent_runs_total{outcome=\"report-only\"} 1\n"),
            "{m}"
        );
        assert!(
            m.contains("kcerts_agent_last_run_outcome{outcome=\"report-only\"} 1\n"),
            "{m}"
        );
        assert!(
            m.contains("kcerts_agent_last_run_outcome{outcome=\"failed\"} 0\n"),
            "{m}"
        );
        assert!(m.contains(&format!(
            "kcerts_agent_last_run_timestamp_seconds {}\n",
            at.unix_timestamp()
        )));
        assert!(m.contains("kcerts_agent_due_certificates 2\n"), "{m}");
        assert!(m.contains(&format!(
            "kcerts_agent_soonest_expiry_timestamp_seconds{{name=\"apiserver\"}} {}\n",
            datetime!(2026-07-01 00:00 UTC).unix_timestamp()
        )));
        assert!(!m.contains("kcerts_agent_last_renewal"), "{m}");
    }

    #[test]
    fn an_error_run_keeps_the_last_status_but_drops_the_due_count() {
        let mut t = Tally::default();
        let renewed = datetime!(2026-05-01 00:00 UTC);
        t.record(
            Outcome::Renewed,
            datetime!(2026-06-01 00:00 UTC),
            Some(status(&["apiserver"], Some(renewed))),
        );
        t.record(Outcome::Failed, datetime!(2026-06-01 01:00 UTC), None);
        assert_eq!(t.runs(Outcome::Renewed), 1);
        assert_eq!(t.runs(Outcome::Failed), 1);
        let m = t.render("cp-1", "0.1.0", true);
        assert!(
            m.contains("kcerts_agent_last_run_outcome{outcome=\"failed\"} 1\n"),
            "{m}"
        );
        assert!(
            m.contains("kcerts_agent_last_run_outcome{outcome=\"renewed\"} 0\n"),
            "{m}"
        );
        assert!(!m.contains("kcerts_agent_due_certificates"), "{m}");
        assert!(m.contains(&format!(
            "kcerts_agent_last_renewal_timestamp_seconds {}\n",
            renewed.unix_timestamp()
        )));
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Tally::default().render("a\"b\\c", "0.1.0", false);
        assert!(m.contains("node=\"a\\\"b\\\\c\""), "{m}");
    }

    #[test]
    fn health_allows_three_intervals_and_one_whole_run() {
        let run = longest_run(
            Duration::from_secs(30),
            Duration::from_secs(180),
            Duration::from_secs(60),
        );
        // 30 s + 4 × 240 s + 600 s.
        assert_eq!(run, Duration::from_secs(30 + 960 + 600));
        assert_eq!(
            stale_after(Duration::from_secs(3600), run),
            Duration::from_secs(3 * 3600 + 1590)
        );
    }
}
