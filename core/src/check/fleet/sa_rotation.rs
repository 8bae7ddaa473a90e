//! The `sa-rotation` row: where each node stands in the rotation of the
//! service-account key (read with `kcerts sa status`'s rules, from the files
//! and the apiserver's and controller-manager's manifests), and whether the
//! phases fit.

use super::Rows;
use super::node::Node;
use super::verdict::{RotationNode, Verdict, names, verdict, with_places};
use crate::check::verify::{CheckId, Status};
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::sa_phase::{self, SaPhase};

/// Where one node stands in a service-account key rotation, as the fleet
/// compares nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum SaPlace {
    /// No `sa.new.pub` here; `sa.pub` is the rotation's old key.
    NotPrepared,
    /// `prepared`, `trusted` or `switched`, as `kcerts sa status` reads it.
    Under(SaPhase),
    /// `finish` done: `sa.pub` is the rotation's new key, no `.new` files.
    Finished,
}

impl SaPlace {
    fn name(self) -> &'static str {
        match self {
            SaPlace::NotPrepared => "not prepared",
            SaPlace::Under(p) => p.name(),
            SaPlace::Finished => "finished",
        }
    }

    /// The next phase to run on a node here, for the messages (`sa_phase`'s text).
    fn next(self, nodes: &str) -> Option<String> {
        match self {
            SaPlace::NotPrepared => sa_phase::next_step(None, nodes),
            SaPlace::Under(p) => sa_phase::next_step(Some(p), nodes),
            SaPlace::Finished => None,
        }
    }
}

/// One node in a service-account key rotation.
pub(super) struct SaNode<'a> {
    pub(super) node: &'a str,
    pub(super) place: SaPlace,
    /// Its apiserver or controller-manager signs tokens with the new key.
    signs_new: bool,
    /// Its apiserver or controller-manager signs tokens with the old key.
    signs_old: bool,
    /// Its apiserver accepts tokens signed by the new key.
    accepts_new: bool,
    /// Its apiserver accepts tokens signed by the old key.
    accepts_old: bool,
}

/// A service-account key rotation under way on the fleet: a node holds a
/// `sa.new.pub` that is not its `sa.pub`. The old and new key (public key
/// bits) are the first such node's.
pub(super) struct SaRotation<'a> {
    pub(super) old: Vec<u8>,
    pub(super) new: Vec<u8>,
    pub(super) nodes: Vec<SaNode<'a>>,
    /// Nodes whose `sa.new.key` or `sa.new.pub` is not the first node's.
    pub(super) other_new: Vec<&'a str>,
    /// Nodes whose phase cannot be read, with why.
    pub(super) unknown: Vec<(&'a str, String)>,
}

impl SaRotation<'_> {
    /// Every node is somewhere in this one rotation.
    pub(super) fn consistent(&self) -> bool {
        self.other_new.is_empty() && self.unknown.is_empty()
    }
}

/// The service-account key rotation on the nodes, read with `kcerts sa status`'s rules.
pub(super) fn sa_rotation<'a>(nodes: &'a [Node<'_>]) -> Option<SaRotation<'a>> {
    let pair = |f: &NodeFiles| {
        (
            sa_phase::key_bits(f, sa_phase::NEW_PUB),
            sa_phase::key_bits(f, sa_phase::NEW_KEY),
        )
    };
    let (first_files, new) = nodes.iter().map(|n| n.files).find_map(|f| {
        let new = pair(f).0?;
        (sa_phase::key_bits(f, "sa.pub").as_ref() != Some(&new)).then_some((f, new))
    })?;
    let old = sa_phase::key_bits(first_files, "sa.pub")?;
    let new_pair = pair(first_files);
    let mut r = SaRotation {
        old,
        new,
        nodes: Vec::new(),
        other_new: Vec::new(),
        unknown: Vec::new(),
    };
    for &Node {
        name: node, files, ..
    } in nodes
    {
        let holds_new = files.exists(&NodePath::cert(sa_phase::NEW_PUB))
            || files.exists(&NodePath::cert(sa_phase::NEW_KEY));
        if holds_new && pair(files) != new_pair {
            r.other_new.push(node);
            continue;
        }
        let st = match sa_phase::status(files) {
            Ok(st) => st,
            Err(e) => {
                r.unknown.push((node, e.to_string()));
                continue;
            }
        };
        let public = sa_phase::key_bits(files, "sa.pub");
        let place = match st.phase {
            SaPhase::Idle if public.as_ref() == Some(&r.new) => SaPlace::Finished,
            SaPhase::Idle if public.as_ref() == Some(&r.old) => SaPlace::NotPrepared,
            SaPhase::Idle => {
                r.unknown.push((
                    node,
                    "pki/sa.pub is neither the rotation's old key nor its new one (see same-pub)"
                        .into(),
                ));
                continue;
            }
            p => SaPlace::Under(p),
        };
        let accepted = st.accepted(files);
        let signing = st.signing(files);
        let has =
            |keys: &[Option<Vec<u8>>], k: &Vec<u8>| keys.iter().any(|x| x.as_ref() == Some(k));
        r.nodes.push(SaNode {
            node,
            place,
            signs_new: has(&signing, &r.new),
            signs_old: has(&signing, &r.old),
            accepts_new: has(&accepted, &r.new),
            accepts_old: has(&accepted, &r.old),
        });
    }
    Some(r)
}

impl RotationNode for SaNode<'_> {
    type Place = SaPlace;
    fn node(&self) -> &str {
        self.node
    }
    fn place(&self) -> SaPlace {
        self.place
    }
    fn place_name(&self) -> &'static str {
        self.place.name()
    }
    fn presents_new(&self) -> bool {
        self.signs_new
    }
    fn presents_old(&self) -> bool {
        self.signs_old
    }
    fn trusts_new(&self) -> bool {
        self.accepts_new
    }
    fn trusts_old(&self) -> bool {
        self.accepts_old
    }
}

/// The `sa-rotation` row of a service-account key rotation under way.
pub(super) fn sa_rotation_row(r: &SaRotation<'_>, rows: &mut Rows) {
    let push = |rows: &mut Rows, status, reason| {
        rows.push(status, "sa".into(), CheckId::SaRotation, reason);
    };
    if !r.other_new.is_empty() {
        let same: Vec<&str> = r
            .nodes
            .iter()
            .filter(|n| n.place != SaPlace::NotPrepared)
            .map(|n| n.node)
            .collect();
        push(
            rows,
            Status::Fail,
            format!(
                "pki/sa.new.key or pki/sa.new.pub differs between nodes ({} hold one new key; {} another): `prepare` ran on more than one node; keep one node's pair, copy it to the others and run `{}` again there",
                same.join(", "),
                r.other_new.join(", "),
                sa_phase::rotate_command("trust")
            ),
        );
        return;
    }
    let all: Vec<&SaNode<'_>> = r.nodes.iter().collect();
    let unknown = if r.unknown.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = r
            .unknown
            .iter()
            .map(|(n, why)| format!("{n}: {why}"))
            .collect();
        format!("; the phase of {} cannot be read", parts.join("; "))
    };
    match verdict(&r.nodes) {
        Verdict::NewUntrusted {
            presenters,
            lacking,
        } => {
            let fix = lacking
                .iter()
                .map(|n| n.place)
                .min()
                .and_then(|pl| pl.next(&names(&lacking)))
                .unwrap_or_default();
            push(
                rows,
                Status::Fail,
                format!(
                    "{} sign service-account tokens with the new key, which the apiservers of {} do not accept yet (no --service-account-key-file holds it): tokens issued by one apiserver are rejected by the others; {fix}{unknown}",
                    with_places(&presenters),
                    with_places(&lacking)
                ),
            );
        }
        Verdict::OldDropped {
            dropping,
            presenters,
        } => push(
            rows,
            Status::Fail,
            format!(
                "the apiservers of {} no longer accept tokens signed by the old service-account key but {} still sign with it: those tokens are rejected; run `{}` on {} (or `kcerts restore` the finish on {}){unknown}",
                with_places(&dropping),
                with_places(&presenters),
                sa_phase::rotate_command("switch"),
                names(&presenters),
                names(&dropping)
            ),
        ),
        Verdict::Safe {
            least,
            behind,
            one_place,
            dropped_old,
        } => {
            let next = least
                .and_then(|pl| pl.next(&names(&behind)))
                .map(|s| format!("; next: {s}"))
                .unwrap_or_default();
            let (ok, text) = if !one_place {
                let old_tokens = if dropped_old {
                    " (tokens signed by the old key before the switch are rejected where it is finished)"
                } else {
                    ""
                };
                (
                    Status::Warn,
                    format!(
                        "rotation of the service-account key under way, nodes in different phases: {}; every apiserver accepts what the others sign{old_tokens}{next}",
                        with_places(&all)
                    ),
                )
            } else if least == Some(SaPlace::Finished) {
                (
                    Status::Pass,
                    "the rotation of the service-account key is finished on every node".to_string(),
                )
            } else {
                (
                    Status::Pass,
                    format!(
                        "rotation of the service-account key under way: every node is `{}`{next}",
                        least.map_or("", SaPlace::name)
                    ),
                )
            };
            let status = if unknown.is_empty() { ok } else { Status::Fail };
            push(rows, status, format!("{text}{unknown}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::fleet::Fleet;
    use crate::check::fleet::testing::{find, not_pass, run, sa_cluster, sa_copy_new, sa_step};
    use crate::check::verify::{CheckId, Status};
    use crate::kubeadm::node::NodePath;
    use crate::kubeadm::sa_phase;

    /// The sa-rotation row has `status` and every one of `parts`; the other
    /// rows pass unless `others` says they may not.
    fn sa_rotation_is(f: &Fleet, status: Status, parts: &[&str]) {
        let row = find(f, "sa", "sa-rotation");
        assert_eq!(row.status, status, "{}", row.reason);
        for p in parts {
            assert!(row.reason.contains(p), "no {p:?} in {}", row.reason);
        }
        if status != Status::Fail {
            for c in ["same-key", "same-pub"] {
                let same = find(f, "sa", c);
                assert_eq!(same.status, Status::Pass, "{}", same.reason);
            }
            assert!(
                not_pass(f).iter().all(|c| c.check == CheckId::SaRotation),
                "{:#?}",
                not_pass(f)
            );
        }
    }

    #[test]
    fn a_sa_rotation_is_read_at_every_phase_and_an_outage_named() {
        use crate::sa_rotation::SaStep;
        let mut nodes = sa_cluster();
        let f = run(&nodes);
        assert!(
            f.verification
                .checks
                .iter()
                .all(|c| c.check != CheckId::SaRotation),
            "no rotation, no row"
        );
        sa_step(&mut nodes, 0, SaStep::Prepare);
        sa_rotation_is(
            &run(&nodes),
            Status::Warn,
            &[
                "cp-1 (prepared), cp-2, cp-3 (not prepared)",
                "next: copy pki/sa.new.key and pki/sa.new.pub to cp-2, cp-3",
            ],
        );
        // prepare ran twice: cp-2 made its own pair.
        let mut twice = nodes.clone();
        sa_step(&mut twice, 1, SaStep::Prepare);
        sa_rotation_is(
            &run(&twice),
            Status::Fail,
            &[
                "pki/sa.new.key or pki/sa.new.pub differs between nodes (cp-1 hold one new key; cp-2 another)",
            ],
        );
        // Switch on cp-1 while cp-3 is only prepared: cp-3 rejects cp-1's tokens.
        sa_copy_new(&mut nodes, 1);
        sa_copy_new(&mut nodes, 2);
        sa_rotation_is(&run(&nodes), Status::Pass, &["every node is `prepared`"]);
        sa_step(&mut nodes, 0, SaStep::Trust);
        sa_step(&mut nodes, 1, SaStep::Trust);
        let mut early = nodes.clone();
        sa_step(&mut early, 0, SaStep::Switch);
        sa_rotation_is(
            &run(&early),
            Status::Fail,
            &[
                "cp-1 (switched) sign service-account tokens with the new key, which the apiservers of cp-3 (prepared) do not accept yet",
                "`kcerts sa rotate trust --apply` on cp-3",
            ],
        );
        sa_rotation_is(
            &run(&nodes),
            Status::Warn,
            &[
                "cp-1, cp-2 (trusted), cp-3 (prepared)",
                "next: `kcerts sa rotate trust --apply` on cp-3",
            ],
        );
        sa_step(&mut nodes, 2, SaStep::Trust);
        let all_trusted = nodes.clone();
        sa_rotation_is(
            &run(&nodes),
            Status::Pass,
            &[
                "every node is `trusted`",
                "switch --apply` on cp-1, cp-2, cp-3",
            ],
        );
        for i in 0..3 {
            sa_step(&mut nodes, i, SaStep::Switch);
            let want = if i < 2 { Status::Warn } else { Status::Pass };
            sa_rotation_is(&run(&nodes), want, &[]);
        }
        // finish on cp-1 while cp-3 still signs with the old key: cp-1 rejects those tokens.
        let mut lagging = nodes.clone();
        sa_step(&mut lagging, 0, SaStep::Finish);
        let mut back = lagging.clone();
        back[2].1 = all_trusted[2].1.clone();
        sa_rotation_is(
            &run(&back),
            Status::Fail,
            &[
                "the apiservers of cp-1 (finished) no longer accept tokens signed by the old service-account key but cp-3 (trusted) still sign with it",
                "`kcerts sa rotate switch --apply` on cp-3",
            ],
        );
        for i in 0..3 {
            sa_step(&mut nodes, i, SaStep::Finish);
            let f = run(&nodes);
            if i < 2 {
                sa_rotation_is(
                    &f,
                    Status::Warn,
                    &[
                        "(finished)",
                        "(switched)",
                        "tokens signed by the old key before the switch are rejected",
                    ],
                );
                let key = find(&f, "sa", "same-key");
                assert!(
                    key.reason.contains("the rotation's old key on cp-"),
                    "{}",
                    key.reason
                );
            } else {
                // Every node finished: no `.new` left, the pair is the same everywhere.
                assert!(
                    f.verification
                        .checks
                        .iter()
                        .all(|c| c.check != CheckId::SaRotation)
                );
                assert!(not_pass(&f).is_empty(), "{:#?}", not_pass(&f));
            }
        }
        // A node whose manifest is gone: its phase cannot be read, and the row says so.
        let mut blind = lagging.clone();
        blind[1]
            .1
            .files
            .remove(&NodePath::kubeconfig(sa_phase::APISERVER_MANIFEST));
        let row = find(&run(&blind), "sa", "sa-rotation").clone();
        assert_eq!(row.status, Status::Fail, "{}", row.reason);
        assert!(row.reason.contains("the phase of cp-2: "), "{}", row.reason);
        assert!(
            row.reason.contains("manifests/kube-apiserver.yaml"),
            "{}",
            row.reason
        );
    }
}
