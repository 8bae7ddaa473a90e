//! The `ca-rotation` row: where each node stands in the rotation of one CA
//! (read with `kcerts ca status`'s rules), and whether the phases fit.

use super::Rows;
use super::node::Node;
use super::verdict::{RotationNode, Verdict, names, verdict, with_places};
use crate::check::verify::{CheckId, Status};
use crate::kubeadm::ca_phase::{self, Phase, Signer};
use crate::kubeadm::inventory::Ca;
use crate::kubeadm::node::NodeFiles;
use crate::kubeadm::node_loader;
use crate::x509::certificate::Certificate;
use crate::x509::keys::PrivateKey;

/// Where one node stands in a rotation, as the fleet compares nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Place {
    /// No `<ca>.new.crt` here; the CA file is the old CA alone.
    NotPrepared,
    /// `prepared`, `trusted` or `reissued`, as `kcerts ca status` reads it.
    Under(Phase),
    /// The CA file is the new CA alone (`finish` done; `.new` copies may remain).
    Finished,
}

impl Place {
    pub(super) fn name(self) -> &'static str {
        match self {
            Place::NotPrepared => "not prepared",
            Place::Under(p) => p.name(),
            Place::Finished => "finished",
        }
    }

    /// The next phase to run on a node here, for the messages (`ca_phase`'s text).
    fn next(self, ca: Ca, nodes: &str) -> Option<String> {
        match self {
            Place::NotPrepared => ca_phase::next_step(ca, None, nodes),
            Place::Under(p) => ca_phase::next_step(ca, Some(p), nodes),
            Place::Finished => None,
        }
    }
}

/// One node in a rotation.
pub(super) struct NodePlace<'a> {
    pub(super) node: &'a str,
    pub(super) place: Place,
    /// It signs with the new key or holds a leaf of the new CA.
    presents_new: bool,
    /// It signs with the old key or holds a leaf of the old CA.
    presents_old: bool,
    /// Its trust points without the new CA.
    pub(super) lacks_new: Vec<String>,
    /// Its trust points without the old CA.
    lacks_old: Vec<String>,
}

/// A rotation of one CA under way on the fleet: a node holds `<ca>.new.crt`.
/// The old and new CA are the first such node's.
pub(super) struct Rotation<'a> {
    pub(super) old: Certificate,
    pub(super) new: Certificate,
    pub(super) places: Vec<NodePlace<'a>>,
    /// Nodes whose `<ca>.new.crt` or `<ca>.new.key` is not the first node's.
    pub(super) other_new: Vec<&'a str>,
    /// Nodes whose CA file is neither (same-cert says what it is).
    pub(super) unknown: Vec<&'a str>,
}

impl Rotation<'_> {
    /// Every node is somewhere in this one rotation.
    pub(super) fn consistent(&self) -> bool {
        self.other_new.is_empty() && self.unknown.is_empty()
    }
}

fn new_key_bits(files: &NodeFiles, ca: Ca) -> Option<Vec<u8>> {
    node_loader::read(files, &ca_phase::new_key_path(ca))
        .ok()
        .flatten()
        .and_then(|b| PrivateKey::public_key_bits_of(b).ok())
}

/// The rotation of `ca` on the nodes, read with `kcerts ca status`'s rules.
pub(super) fn rotation<'a>(nodes: &'a [Node<'_>], ca: Ca) -> Option<Rotation<'a>> {
    let statuses: Vec<(&str, &NodeFiles, Option<ca_phase::Status>)> = nodes
        .iter()
        .map(|n| (n.name, n.files, ca_phase::status(n.files, ca).ok()))
        .collect();
    // A `<ca>.new.crt` that is the CA in use is no rotation (a copy another tool left).
    let new_of = |s: &ca_phase::Status| s.new.clone().filter(|n| n.der != s.old.der);
    let (first_files, first) = statuses
        .iter()
        .find_map(|(_, f, s)| s.as_ref().filter(|s| new_of(s).is_some()).map(|s| (*f, s)))?;
    let old = first.old.clone();
    let new = first.new.clone()?;
    let new_key = new_key_bits(first_files, ca);
    let mut r = Rotation {
        old,
        new,
        places: Vec::new(),
        other_new: Vec::new(),
        unknown: Vec::new(),
    };
    let paths = |st: &ca_phase::Status, f: fn(&ca_phase::TrustPoint) -> bool| -> Vec<String> {
        st.trust_points
            .iter()
            .filter(|t| f(t))
            .map(|t| t.path.to_string())
            .collect()
    };
    for (node, files, st) in &statuses {
        let Some(st) = st else {
            r.unknown.push(node);
            continue;
        };
        let leaf_by = |s: Signer| st.leaves.iter().any(|l| l.signer == s);
        let place = match &new_of(st) {
            Some(n) if n.der != r.new.der || new_key_bits(files, ca) != new_key => {
                r.other_new.push(node);
                continue;
            }
            Some(_) => NodePlace {
                node,
                place: match st.phase {
                    Phase::Idle => Place::Finished,
                    p => Place::Under(p),
                },
                presents_new: st.signing_with_new || leaf_by(Signer::New),
                presents_old: !st.signing_with_new || leaf_by(Signer::Old),
                lacks_new: paths(st, |t| !t.holds_new),
                lacks_old: paths(st, |t| !t.holds_old),
            },
            // No new CA here: the CA file is the old CA (not prepared) or the new
            // one (finished), each alone; `old` is the CA the file holds.
            None if st.old.der == r.old.der => NodePlace {
                node,
                place: Place::NotPrepared,
                presents_new: false,
                presents_old: true,
                lacks_new: st.trust_points.iter().map(|t| t.path.to_string()).collect(),
                lacks_old: paths(st, |t| !t.holds_old),
            },
            None if st.old.der == r.new.der => NodePlace {
                node,
                place: Place::Finished,
                presents_new: true,
                presents_old: leaf_by(Signer::Neither),
                lacks_new: paths(st, |t| !t.holds_old),
                lacks_old: st.trust_points.iter().map(|t| t.path.to_string()).collect(),
            },
            None => {
                r.unknown.push(node);
                continue;
            }
        };
        r.places.push(place);
    }
    Some(r)
}

impl RotationNode for NodePlace<'_> {
    type Place = Place;
    fn node(&self) -> &str {
        self.node
    }
    fn place(&self) -> Place {
        self.place
    }
    fn place_name(&self) -> &'static str {
        self.place.name()
    }
    fn presents_new(&self) -> bool {
        self.presents_new
    }
    fn presents_old(&self) -> bool {
        self.presents_old
    }
    fn trusts_new(&self) -> bool {
        self.lacks_new.is_empty()
    }
    fn trusts_old(&self) -> bool {
        self.lacks_old.is_empty()
    }
}

/// The `ca-rotation` row of a rotation under way.
pub(super) fn rotation_row(ca: Ca, r: &Rotation<'_>, rows: &mut Rows) {
    let base = ca.base();
    let n = ca.name();
    let push = |rows: &mut Rows, status, reason| {
        rows.push(status, n.into(), CheckId::CaRotation, reason);
    };
    if !r.other_new.is_empty() {
        let same: Vec<&str> = r
            .places
            .iter()
            .filter(|p| p.place != Place::NotPrepared)
            .map(|p| p.node)
            .collect();
        push(
            rows,
            Status::Fail,
            format!(
                "pki/{base}.new.crt or pki/{base}.new.key differs between nodes ({} hold one new CA, serial {}; {} another): `prepare` ran on more than one node; keep one node's pair, copy it to the others and run `trust` again there",
                same.join(", "),
                r.new.serial,
                r.other_new.join(", ")
            ),
        );
        return;
    }
    let all: Vec<&NodePlace<'_>> = r.places.iter().collect();
    let unknown = if r.unknown.is_empty() {
        String::new()
    } else {
        format!(
            "; {} hold neither CA in pki/{} (see same-cert)",
            r.unknown.join(", "),
            ca.cert_file()
        )
    };
    match verdict(&r.places) {
        Verdict::NewUntrusted {
            presenters,
            lacking,
        } => {
            let missing: Vec<String> = lacking
                .iter()
                .map(|p| format!("{}: {}", p.node, p.lacks_new.join(", ")))
                .collect();
            let fix = lacking
                .iter()
                .map(|p| p.place)
                .min()
                .and_then(|pl| pl.next(ca, &names(&lacking)))
                .unwrap_or_default();
            push(
                rows,
                Status::Fail,
                format!(
                    "{} present certificates of the new {n} CA (serial {}) that {} do not trust yet ({}): those nodes and their clients reject them; {fix}{unknown}",
                    with_places(&presenters),
                    r.new.serial,
                    with_places(&lacking),
                    missing.join("; ")
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
                "{} no longer trust the old {n} CA but {} still present certificates signed by it: those are rejected; run `{}` on {} (or `kcerts restore` the finish on {})",
                with_places(&dropping),
                with_places(&presenters),
                ca_phase::rotate_command("reissue", ca),
                names(&presenters),
                names(&dropping)
            ),
        ),
        Verdict::Safe {
            least,
            behind,
            one_place,
            ..
        } => {
            let next = least
                .and_then(|pl| pl.next(ca, &names(&behind)))
                .map(|s| format!("; next: {s}"))
                .unwrap_or_default();
            let (status, text) = if one_place {
                let text = if least == Some(Place::Finished) {
                    format!("the rotation of the {n} CA is finished on every node")
                } else {
                    format!(
                        "rotation of the {n} CA under way: every node is `{}` (new CA serial {}){next}",
                        least.map_or("", Place::name),
                        r.new.serial
                    )
                };
                (Status::Pass, text)
            } else {
                (
                    Status::Warn,
                    format!(
                        "rotation of the {n} CA under way, nodes in different phases: {}; every node trusts what the others present{next}",
                        with_places(&all)
                    ),
                )
            };
            let status = if unknown.is_empty() {
                status
            } else {
                Status::Fail
            };
            push(rows, status, format!("{text}{unknown}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::fleet::Fleet;
    use crate::check::fleet::testing::{cluster, find, not_pass, run};
    use crate::check::verify::{Check, CheckId, Status};
    use crate::kubeadm::ca_phase;
    use crate::kubeadm::inventory::Ca;
    use crate::kubeadm::node::NodeFiles;
    use crate::test_support::NOW;

    /// Runs a phase of the cluster CA's rotation on node `i`, in memory.
    fn phase(nodes: &mut [(String, NodeFiles)], i: usize, step: crate::ca_rotation::Step) {
        use crate::ca_rotation::{PrepareOptions, apply_in_memory, plan_step};
        let f = &nodes[i].1;
        let plan = plan_step(
            f,
            Ca::Ca,
            step,
            &PrepareOptions::default(),
            None,
            NOW,
            &mut crate::seeded_rng(40 + i as u64),
        )
        .unwrap();
        nodes[i].1 = apply_in_memory(f, &plan);
    }

    /// Copies node 0's new CA pair to node `i`, as the operator does after prepare.
    fn copy_new(nodes: &mut [(String, NodeFiles)], i: usize) {
        for p in [
            ca_phase::new_cert_path(Ca::Ca),
            ca_phase::new_key_path(Ca::Ca),
        ] {
            let f = nodes[0].1.files[&p].clone();
            nodes[i].1.files.insert(p, f);
        }
    }

    fn rotation_of(f: &Fleet) -> &Check {
        find(f, "ca", "ca-rotation")
    }

    /// The ca-rotation row has `status` and every one of `parts`.
    fn rotation_is(f: &Fleet, status: Status, parts: &[&str]) {
        let row = rotation_of(f);
        assert_eq!(row.status, status, "{}", row.reason);
        for p in parts {
            assert!(row.reason.contains(p), "no {p:?} in {}", row.reason);
        }
    }

    #[test]
    fn a_ca_rotation_is_read_at_every_phase_and_an_outage_named() {
        use crate::ca_rotation::Step;
        let mut nodes = cluster();
        assert!(
            run(&nodes)
                .verification
                .checks
                .iter()
                .all(|c| c.check != CheckId::CaRotation),
            "no rotation, no row"
        );
        phase(&mut nodes, 0, Step::Prepare);
        let f = run(&nodes);
        rotation_is(
            &f,
            Status::Warn,
            &[
                "cp-1 (prepared), cp-2, cp-3 (not prepared)",
                "next: copy pki/ca.new.crt and pki/ca.new.key to cp-2, cp-3",
            ],
        );
        copy_new(&mut nodes, 1);
        copy_new(&mut nodes, 2);
        let f = run(&nodes);
        assert_eq!(rotation_of(&f).status, Status::Pass);
        assert!(rotation_of(&f).reason.contains("every node is `prepared`"));
        for i in 0..3 {
            phase(&mut nodes, i, Step::Trust);
            let f = run(&nodes);
            // ca.crt differs (old + new on some, old on others): explained, not failed.
            let same = find(&f, "ca", "same-cert");
            assert_eq!(same.status, Status::Pass, "{}", same.reason);
            let want = if i < 2 { Status::Warn } else { Status::Pass };
            assert_eq!(rotation_of(&f).status, want, "{}", rotation_of(&f).reason);
        }
        // A node that reissues early, while the others trust both: safe.
        let trusted = nodes.clone();
        phase(&mut nodes, 0, Step::Reissue);
        let f = run(&nodes);
        rotation_is(
            &f,
            Status::Warn,
            &[
                "cp-1 (reissued), cp-2, cp-3 (trusted); every node trusts",
                "next: `kcerts ca rotate reissue --ca ca --apply` on cp-2, cp-3",
            ],
        );
        assert_eq!(find(&f, "ca", "same-key").status, Status::Pass);
        assert!(not_pass(&f).iter().all(|c| c.check == CheckId::CaRotation));
        // finish on cp-1 while cp-2 and cp-3 still present old certificates: outage.
        let mut early = nodes.clone();
        phase(&mut early, 0, Step::Finish);
        let row = rotation_of(&run(&early)).clone();
        assert_eq!(row.status, Status::Fail, "{}", row.reason);
        assert!(
            row.reason
                .contains("cp-1 (finished) no longer trust the old ca CA but cp-2, cp-3 (trusted)")
                && row
                    .reason
                    .contains("reissue --ca ca --apply` on cp-2, cp-3"),
            "{}",
            row.reason
        );
        for i in 1..3 {
            phase(&mut nodes, i, Step::Reissue);
        }
        for i in 0..2 {
            phase(&mut nodes, i, Step::Finish);
            let f = run(&nodes);
            let row = rotation_of(&f);
            assert_eq!(row.status, Status::Warn, "{}", row.reason);
            assert!(row.reason.contains("(finished)"), "{}", row.reason);
            assert!(not_pass(&f).iter().all(|c| c.check == CheckId::CaRotation));
        }
        // Finished everywhere: the .new copies are gone, one CA again, all pass.
        phase(&mut nodes, 2, Step::Finish);
        let f = run(&nodes);
        assert!(not_pass(&f).is_empty(), "{:#?}", not_pass(&f));
        assert!(
            f.verification
                .checks
                .iter()
                .all(|c| c.check != CheckId::CaRotation)
        );

        // reissue on cp-1 while cp-3 never got the new CA: outage, named with the fix.
        let mut nodes = trusted;
        for p in [
            ca_phase::new_cert_path(Ca::Ca),
            ca_phase::new_key_path(Ca::Ca),
        ] {
            nodes[2].1.files.remove(&p);
        }
        nodes[2].1 = cluster()[2].1.clone();
        phase(&mut nodes, 0, Step::Reissue);
        let f = run(&nodes);
        let row = rotation_of(&f);
        assert_eq!(row.status, Status::Fail, "{}", row.reason);
        assert!(
            row.reason
                .contains("cp-1 (reissued) present certificates of the new ca CA")
                && row
                    .reason
                    .contains("that cp-3 (not prepared) do not trust yet")
                && row
                    .reason
                    .contains("copy pki/ca.new.crt and pki/ca.new.key to cp-3"),
            "{}",
            row.reason
        );
        assert_eq!(find(&f, "cp-1/ca", "leaves-trusted").status, Status::Fail);

        // prepare run on two nodes: two new CAs.
        let mut nodes = cluster();
        phase(&mut nodes, 0, Step::Prepare);
        phase(&mut nodes, 1, Step::Prepare);
        let row = rotation_of(&run(&nodes)).clone();
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason
                .contains("pki/ca.new.crt or pki/ca.new.key differs between nodes")
                && row.reason.contains("; cp-2 another"),
            "{}",
            row.reason
        );
    }
}
