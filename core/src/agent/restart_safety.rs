//! Whether a node may restart its control-plane components now: not etcd if the
//! etcd cluster would lose quorum while this member is down (healthy members other
//! than this one fewer than the quorum of the member count), and nothing while
//! another control-plane node's API server is not ready (two nodes down at once
//! is what the one-at-a-time Lease exists to prevent).
//!
//! A single-member etcd is the exception: it has no quorum to keep (its node is
//! down while it restarts whatever the agent waits for), so waiting would never
//! end; the restart goes on.

/// What the caller saw of one etcd member (`/health` over mTLS with the node's
/// etcd client certificate, as `etcdctl endpoint health` asks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    /// The member's name (or its client URL).
    pub name: String,
    /// Whether it answered healthy.
    pub healthy: bool,
    /// Whether it is this node's member.
    pub is_self: bool,
}

/// What the caller saw of another control-plane node's API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apiserver {
    /// Its node or address.
    pub name: String,
    /// Whether `/readyz` answered ok.
    pub ready: bool,
    /// What was seen when not ready.
    pub detail: String,
}

/// Why the node may not restart now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsafe {
    /// etcd would lose quorum.
    #[error(
        "restarting etcd would lose quorum: {healthy_others} healthy member(s) besides this one, \
         {quorum} needed of {members} (not healthy: {})",
        unhealthy.join(", ")
    )]
    EtcdQuorum {
        /// Healthy members other than this node's.
        healthy_others: usize,
        /// The member count.
        members: usize,
        /// Its quorum.
        quorum: usize,
        /// The members that did not answer healthy.
        unhealthy: Vec<String>,
    },
    /// The member list could not be read, so quorum cannot be judged.
    #[error("cannot tell whether etcd keeps quorum: {0}")]
    EtcdUnknown(String),
    /// Another API server is not ready.
    #[error("another control-plane API server is not ready: {}", .0.join("; "))]
    ApiserverNotReady(Vec<String>),
}

/// The quorum of `members` members: a majority.
pub fn quorum(members: usize) -> usize {
    members / 2 + 1
}

/// Judges a restart of `restarts_etcd` (this node's etcd among the components)
/// against the etcd `members` seen (`Err` when they could not be listed; ignored
/// when etcd is not restarted) and the other API servers.
pub fn check(
    restarts_etcd: bool,
    members: Result<&[EtcdMember], String>,
    other_apiservers: &[Apiserver],
) -> Result<(), Unsafe> {
    if restarts_etcd {
        let members = members.map_err(Unsafe::EtcdUnknown)?;
        if members.is_empty() {
            return Err(Unsafe::EtcdUnknown("the member list is empty".into()));
        }
        if members.len() > 1 {
            let healthy_others = members.iter().filter(|m| !m.is_self && m.healthy).count();
            let q = quorum(members.len());
            if healthy_others < q {
                return Err(Unsafe::EtcdQuorum {
                    healthy_others,
                    members: members.len(),
                    quorum: q,
                    unhealthy: members
                        .iter()
                        .filter(|m| !m.healthy)
                        .map(|m| m.name.clone())
                        .collect(),
                });
            }
        }
    }
    let not_ready: Vec<String> = other_apiservers
        .iter()
        .filter(|a| !a.ready)
        .map(|a| format!("{}: {}", a.name, a.detail))
        .collect();
    if not_ready.is_empty() {
        Ok(())
    } else {
        Err(Unsafe::ApiserverNotReady(not_ready))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(healthy: &[bool]) -> Vec<EtcdMember> {
        healthy
            .iter()
            .enumerate()
            .map(|(i, h)| EtcdMember {
                name: format!("cp-{}", i + 1),
                healthy: *h,
                is_self: i == 0,
            })
            .collect()
    }

    fn ready(name: &str, ok: bool) -> Apiserver {
        Apiserver {
            name: name.into(),
            ready: ok,
            detail: if ok {
                "ok".into()
            } else {
                "connection refused".into()
            },
        }
    }

    #[test]
    fn quorum_is_a_majority() {
        assert_eq!([1, 2, 3, 4, 5].map(quorum), [1, 2, 2, 3, 3]);
    }

    #[test]
    fn etcd_restarts_only_when_the_others_keep_quorum() {
        let all = members(&[true, true, true]);
        assert_eq!(check(true, Ok(&all), &[]), Ok(()));
        // One other member down: the two left would be one of three.
        let one_down = members(&[true, false, true]);
        assert_eq!(
            check(true, Ok(&one_down), &[]),
            Err(Unsafe::EtcdQuorum {
                healthy_others: 1,
                members: 3,
                quorum: 2,
                unhealthy: vec!["cp-2".into()]
            })
        );
        // This member's own health does not count for the others.
        assert_eq!(check(true, Ok(&members(&[false, true, true])), &[]), Ok(()));
        // Five members: one other down leaves three healthy besides this one, two
        // down only two (three of five are needed while this one restarts).
        assert_eq!(
            check(true, Ok(&members(&[true, false, true, true, true])), &[]),
            Ok(())
        );
        assert!(check(true, Ok(&members(&[true, false, false, true, true])), &[]).is_err());
        // Two members: the other one alone is not a quorum of two.
        assert!(check(true, Ok(&members(&[true, true])), &[]).is_err());
        // A single member has no quorum to keep.
        assert_eq!(check(true, Ok(&members(&[true])), &[]), Ok(()));
        // Not restarting etcd: its state does not matter.
        assert_eq!(check(false, Ok(&one_down), &[]), Ok(()));
        assert_eq!(check(false, Err("no answer".into()), &[]), Ok(()));
    }

    #[test]
    fn an_unknown_member_list_stops_an_etcd_restart() {
        let e = check(true, Err("connection refused".into()), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot tell whether etcd keeps quorum: connection refused"
        );
        assert!(matches!(
            check(true, Ok(&[]), &[]),
            Err(Unsafe::EtcdUnknown(_))
        ));
    }

    #[test]
    fn nothing_restarts_while_another_apiserver_is_not_ready() {
        let all = members(&[true, true, true]);
        assert_eq!(
            check(true, Ok(&all), &[ready("cp-2", true), ready("cp-3", true)]),
            Ok(())
        );
        let e = check(
            false,
            Ok(&all),
            &[ready("cp-2", true), ready("cp-3", false)],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "another control-plane API server is not ready: cp-3: connection refused"
        );
    }
}
