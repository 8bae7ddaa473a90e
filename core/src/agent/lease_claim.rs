//! Whether an agent may take the Lease `kube-system/kcerts-agent`, and the Lease's
//! spec after taking, renewing or releasing it (coordination.k8s.io/v1, as
//! client-go's leader election fills it: acquireTime when the holder changes,
//! renewTime at every renewal, leaseTransitions counted on every change of holder).
//!
//! A Lease is free when no one holds it (holderIdentity empty or absent), and it can
//! be taken over when its holder stopped renewing it: renewTime + leaseDurationSeconds
//! is before now. Writing the new spec is the caller's (an update carrying the
//! resourceVersion read, so that of two agents deciding at once only one wins).

use time::{Duration, OffsetDateTime};

use crate::agent::protocol::{LeaseView, RolloutFailed, whole_seconds};

/// What the Lease is, for the node `me` at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// No Lease yet, or no holder.
    Free,
    /// `me` holds it (an earlier run of this agent that did not release it).
    Mine,
    /// Another node held it and stopped renewing it.
    Expired {
        /// The old holder.
        holder: String,
        /// When its claim ran out.
        at: OffsetDateTime,
    },
    /// Another node holds it.
    Held {
        /// The holder.
        holder: String,
        /// When its claim runs out unless renewed (`None`: no time or duration on
        /// the Lease, so it never runs out by itself).
        until: Option<OffsetDateTime>,
    },
}

impl Claim {
    /// Whether `me` may take (or keep) the Lease.
    pub fn may_take(&self) -> bool {
        !matches!(self, Self::Held { .. })
    }

    /// A sentence for the status and the log.
    pub fn describe(&self) -> String {
        match self {
            Self::Free => "the Lease is free".into(),
            Self::Mine => "this node holds the Lease".into(),
            Self::Expired { holder, at } => format!(
                "the Lease of {holder} ran out at {} (it stopped renewing it)",
                crate::agent::protocol::rfc3339(*at)
            ),
            Self::Held {
                holder,
                until: Some(t),
            } => format!(
                "the Lease is held by {holder} until {} unless renewed",
                crate::agent::protocol::rfc3339(*t)
            ),
            Self::Held {
                holder,
                until: None,
            } => format!(
                "the Lease is held by {holder} with no renewTime or leaseDurationSeconds (it \
                 never runs out: clear its holderIdentity if {holder} is gone)"
            ),
        }
    }
}

/// Judges the Lease (`None`: it does not exist) for `me` at `now`.
pub fn judge(lease: Option<&LeaseView>, me: &str, now: OffsetDateTime) -> Claim {
    let Some(lease) = lease else {
        return Claim::Free;
    };
    let Some(holder) = lease.holder() else {
        return Claim::Free;
    };
    if holder == me {
        return Claim::Mine;
    }
    match lease.expires_at() {
        Some(at) if at < now => Claim::Expired {
            holder: holder.to_string(),
            at,
        },
        until => Claim::Held {
            holder: holder.to_string(),
            until,
        },
    }
}

/// The Lease after `me` takes it at `now` for `duration_seconds`: a new holder gets
/// acquireTime now and leaseTransitions + 1; `me` already holding it keeps both.
/// The rollout-failed annotation is left as it was.
pub fn take(
    lease: Option<&LeaseView>,
    me: &str,
    duration_seconds: i32,
    now: OffsetDateTime,
) -> LeaseView {
    let now = whole_seconds(now);
    let old = lease.cloned().unwrap_or_default();
    let same = old.holder() == Some(me);
    let transitions = old.transitions.unwrap_or(0).max(0);
    LeaseView {
        holder: Some(me.to_string()),
        duration_seconds: Some(duration_seconds),
        acquire_time: if same {
            old.acquire_time.or(Some(now))
        } else {
            Some(now)
        },
        renew_time: Some(now),
        // A new Lease starts at 0; every change of holder counts, a released
        // Lease's (empty holder) included, as client-go counts them.
        transitions: Some(if same || lease.is_none() {
            transitions
        } else {
            transitions.saturating_add(1)
        }),
        rollout_failed: old.rollout_failed,
    }
}

/// The Lease after its holder renews it at `now`.
pub fn renew(lease: &LeaseView, now: OffsetDateTime) -> LeaseView {
    LeaseView {
        renew_time: Some(whole_seconds(now)),
        ..lease.clone()
    }
}

/// How the holder leaves the Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The renewal succeeded (and the node is healthy): a rollout-failed annotation
    /// that named this node is removed.
    Succeeded,
    /// The renewal failed: the annotation says so, and the others wait.
    Failed(RolloutFailed),
    /// Nothing was renewed (the node turned out not to be due, or a safety rule
    /// said no): the annotation stays as it was.
    Unchanged,
}

/// The Lease after `me` releases it: holderIdentity cleared (acquireTime and
/// renewTime cleared too, as client-go's ReleaseOnCancel does), leaseTransitions
/// kept, the rollout-failed annotation as `how` says.
pub fn release(lease: &LeaseView, me: &str, how: &Release) -> LeaseView {
    let rollout_failed = match how {
        Release::Failed(f) => Some(Ok(f.clone())),
        Release::Succeeded => match &lease.rollout_failed {
            Some(Ok(f)) if f.node == me => None,
            other => other.clone(),
        },
        Release::Unchanged => lease.rollout_failed.clone(),
    };
    LeaseView {
        holder: None,
        acquire_time: None,
        renew_time: None,
        rollout_failed,
        ..lease.clone()
    }
}

/// How often the holder renews the Lease: a third of its duration, at least a second.
pub fn renew_every(duration_seconds: i32) -> Duration {
    Duration::milliseconds((i64::from(duration_seconds.max(0)) * 1000 / 3).max(1000))
}

/// Whether a failed rollout stops `me` from renewing: yes while the annotation is
/// there (an unreadable one too), unless it names `me` (a node may retry its own
/// renewal, and its success removes the annotation) or `continue_on_failure`.
/// `Some(reason)` when it stops.
pub fn rollout_blocks(
    lease: Option<&LeaseView>,
    me: &str,
    continue_on_failure: bool,
) -> Option<String> {
    let failed = lease?.rollout_failed.as_ref()?;
    if continue_on_failure {
        return None;
    }
    match failed {
        Ok(f) if f.node == me => None,
        Ok(f) => Some(format!(
            "the rollout stopped: the renewal of {} failed at {}: {} (`kcerts cluster renew` \
             clears it; or run the agent with --continue-on-failure)",
            f.node,
            crate::agent::protocol::rfc3339(f.at),
            f.message
        )),
        Err(e) => Some(format!(
            "the rollout stopped: the Lease has a rollout-failed annotation that cannot be read \
             ({e})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// 2026-03-01 12:00 UTC.
    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn held(by: &str, renewed: OffsetDateTime) -> LeaseView {
        LeaseView {
            holder: Some(by.into()),
            duration_seconds: Some(15),
            acquire_time: Some(renewed - Duration::minutes(1)),
            renew_time: Some(renewed),
            transitions: Some(4),
            rollout_failed: None,
        }
    }

    #[test]
    fn free_mine_held_and_expired() {
        assert_eq!(judge(None, "cp-1", NOW), Claim::Free);
        let released = release(&held("cp-2", NOW), "cp-2", &Release::Unchanged);
        assert_eq!(judge(Some(&released), "cp-1", NOW), Claim::Free);
        assert_eq!(judge(Some(&held("cp-1", NOW)), "cp-1", NOW), Claim::Mine);
        let c = judge(
            Some(&held("cp-2", NOW - Duration::seconds(10))),
            "cp-1",
            NOW,
        );
        assert_eq!(
            c,
            Claim::Held {
                holder: "cp-2".into(),
                until: Some(NOW + Duration::seconds(5))
            }
        );
        assert!(!c.may_take());
        // Exactly at renewTime + duration it is still held; a second later, not.
        let at_edge = held("cp-2", NOW - Duration::seconds(15));
        assert!(!judge(Some(&at_edge), "cp-1", NOW).may_take());
        let c = judge(Some(&at_edge), "cp-1", NOW + Duration::seconds(1));
        assert_eq!(
            c,
            Claim::Expired {
                holder: "cp-2".into(),
                at: NOW
            }
        );
        assert!(c.may_take());
        // No time on the Lease: held until someone clears it.
        let mut no_time = held("cp-2", NOW);
        no_time.renew_time = None;
        no_time.acquire_time = None;
        let c = judge(Some(&no_time), "cp-1", NOW + Duration::days(30));
        assert!(matches!(c, Claim::Held { until: None, .. }), "{c:?}");
        assert!(c.describe().contains("never runs out"));
    }

    #[test]
    fn taking_counts_transitions_and_keeps_acquire_time_for_the_holder() {
        let first = take(None, "cp-1", 15, NOW);
        assert_eq!(first.holder(), Some("cp-1"));
        assert_eq!(first.transitions, Some(0));
        assert_eq!(first.acquire_time, Some(NOW));
        assert_eq!(first.duration_seconds, Some(15));

        let later = NOW + Duration::seconds(5);
        let again = take(Some(&first), "cp-1", 15, later);
        assert_eq!(again.transitions, Some(0));
        assert_eq!(again.acquire_time, Some(NOW));
        assert_eq!(again.renew_time, Some(later));

        let freed = release(&again, "cp-1", &Release::Succeeded);
        let next = take(Some(&freed), "cp-2", 15, later);
        assert_eq!(next.holder(), Some("cp-2"));
        assert_eq!(next.transitions, Some(1));
        assert_eq!(next.acquire_time, Some(later));

        let taken_over = take(
            Some(&held("cp-3", NOW - Duration::minutes(5))),
            "cp-2",
            15,
            NOW,
        );
        assert_eq!(taken_over.transitions, Some(5));

        let renewed = renew(&next, later + Duration::seconds(5));
        assert_eq!(renewed.renew_time, Some(later + Duration::seconds(5)));
        assert_eq!(renewed.acquire_time, Some(later));
        assert_eq!(renew_every(15), Duration::seconds(5));
        assert_eq!(renew_every(1), Duration::seconds(1));
    }

    #[test]
    fn releasing_clears_the_holder_and_sets_or_clears_rollout_failed() {
        let mine = held("cp-1", NOW);
        let failure = RolloutFailed::new("cp-1", NOW, "renew failed");
        let failed = release(&mine, "cp-1", &Release::Failed(failure.clone()));
        assert_eq!(failed.holder(), None);
        assert_eq!(failed.renew_time, None);
        assert_eq!(failed.transitions, Some(4));
        assert_eq!(failed.rollout_failed, Some(Ok(failure.clone())));

        // cp-1 may retry its own renewal; cp-2 waits, unless told to go on.
        assert_eq!(rollout_blocks(Some(&failed), "cp-1", false), None);
        let why = rollout_blocks(Some(&failed), "cp-2", false).unwrap();
        assert!(why.contains("renewal of cp-1 failed"), "{why}");
        assert_eq!(rollout_blocks(Some(&failed), "cp-2", true), None);

        // Another node's success leaves cp-1's failure in place; cp-1's own clears it.
        let by_cp2 = take(Some(&failed), "cp-2", 15, NOW);
        let after_cp2 = release(&by_cp2, "cp-2", &Release::Succeeded);
        assert_eq!(after_cp2.rollout_failed, Some(Ok(failure)));
        let by_cp1 = take(Some(&after_cp2), "cp-1", 15, NOW);
        let after_cp1 = release(&by_cp1, "cp-1", &Release::Succeeded);
        assert_eq!(after_cp1.rollout_failed, None);
        assert_eq!(rollout_blocks(Some(&after_cp1), "cp-2", false), None);
        assert_eq!(rollout_blocks(None, "cp-2", false), None);
    }

    #[test]
    fn an_unreadable_rollout_failed_annotation_blocks_everyone() {
        let mut l = held("cp-1", NOW);
        l.rollout_failed = Some(crate::agent::protocol::RolloutFailed::parse("{"));
        assert!(rollout_blocks(Some(&l), "cp-1", false).is_some());
        assert!(rollout_blocks(Some(&l), "cp-1", true).is_none());
        // Unchanged keeps it; only Succeeded of a readable one naming me clears it.
        assert!(
            release(&l, "cp-1", &Release::Unchanged)
                .rollout_failed
                .is_some()
        );
        assert!(
            release(&l, "cp-1", &Release::Succeeded)
                .rollout_failed
                .is_some()
        );
    }
}
