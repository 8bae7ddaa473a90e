//! Rotation order: before `ca rotate reissue` (a CA's new key starts signing)
//! or `sa rotate switch` (the new service-account key starts signing tokens)
//! runs on one node, whether every control-plane node already trusts the new
//! CA or key. The proof is a copy of every node (fleet's inputs), read with
//! the fleet's one outage rule ([`super::verdict`]) after this node's planned
//! phase: the phase may go on only when no node would be handed certificates
//! or tokens it does not trust.
//!
//! The copies are snapshots: they prove what the nodes trusted when they were
//! taken, and a node not given is not checked (the answer names the nodes it
//! read).

use thiserror::Error;
use time::OffsetDateTime;

use super::ca_rotation::rotation;
use super::identity::stated_names;
use super::node::Node;
use super::sa_rotation::sa_rotation;
use super::verdict::{RotationNode, Verdict, verdict};
use crate::kubeadm::inventory::Ca;
use crate::kubeadm::node::NodeFiles;

/// What is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotated {
    /// One of kubeadm's CAs (`reissue`).
    Ca(Ca),
    /// The service-account signing key (`switch`).
    ServiceAccountKey,
}

impl Rotated {
    fn step(self) -> &'static str {
        match self {
            Rotated::Ca(_) => "reissue",
            Rotated::ServiceAccountKey => "switch",
        }
    }

    fn what(self) -> String {
        match self {
            Rotated::Ca(ca) => format!("the new {} CA", ca.name()),
            Rotated::ServiceAccountKey => "the new service-account key".into(),
        }
    }
}

/// A node that keeps the phase from going on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// The node's name, as given.
    pub node: String,
    /// Why: what it does not trust yet, or why it cannot be checked.
    pub why: String,
}

/// The phase would hand some node certificates or tokens it does not trust.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{step}` refused: not every control-plane node trusts {what} yet: {}", list(.blockers))]
pub struct Refusal {
    /// `reissue` or `switch`.
    pub step: &'static str,
    /// `the new ca CA`, `the new service-account key`.
    pub what: String,
    /// Each node that does not trust it, or cannot be checked.
    pub blockers: Vec<Blocker>,
}

fn list(blockers: &[Blocker]) -> String {
    blockers
        .iter()
        .map(|b| format!("{} ({})", b.node, b.why))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The nodes read, when every one of them trusts the new CA or key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    /// Every node's name, in the order given, this node included.
    pub nodes: Vec<String>,
    /// The name this node had among them (`None`: it was not among the copies
    /// and was added as `this node`).
    pub this_node: Option<String>,
}

/// The name this node is added under when no copy is of it.
pub const THIS_NODE: &str = "this-node";

/// Whether this node may run `reissue` (a CA) or `switch` (the sa key): the
/// copies of the nodes (`copies`, as `kcerts fleet` takes them) with this node's
/// files as the phase would leave them (`planned`) in place of its own copy (the
/// copy that names the same node: etcd certificates' CN, kubelet.conf's
/// `system:node:` name), or added when there is none.
pub fn check(
    copies: &[(String, NodeFiles)],
    planned: &NodeFiles,
    rotated: Rotated,
    now: OffsetDateTime,
) -> Result<Proven, Refusal> {
    let me = Node::load(THIS_NODE, planned, now);
    let my_names: Vec<String> = stated_names(&me).into_iter().map(|(n, _)| n).collect();
    let mut this_node = None;
    let mut nodes: Vec<(String, &NodeFiles)> = Vec::new();
    for (name, files) in copies {
        let node = Node::load(name, files, now);
        let same = stated_names(&node)
            .iter()
            .any(|(n, _)| my_names.contains(n));
        if same && this_node.is_none() {
            this_node = Some(name.clone());
            nodes.push((name.clone(), planned));
        } else {
            nodes.push((name.clone(), files));
        }
    }
    if this_node.is_none() {
        nodes.push((THIS_NODE.to_string(), planned));
    }
    let loaded: Vec<Node<'_>> = nodes
        .iter()
        .map(|(name, files)| Node::load(name, files, now))
        .collect();
    let refusal = |blockers: Vec<Blocker>| Refusal {
        step: rotated.step(),
        what: rotated.what(),
        blockers,
    };
    let blockers = match rotated {
        Rotated::Ca(ca) => ca_blockers(&loaded, ca),
        Rotated::ServiceAccountKey => sa_blockers(&loaded),
    };
    if !blockers.is_empty() {
        return Err(refusal(blockers));
    }
    Ok(Proven {
        nodes: nodes.into_iter().map(|(n, _)| n).collect(),
        this_node,
    })
}

fn blocker(node: &str, why: impl Into<String>) -> Blocker {
    Blocker {
        node: node.to_string(),
        why: why.into(),
    }
}

/// The nodes the outage rule names, with what each lacks.
fn outage<N: RotationNode>(nodes: &[N], lacking_why: impl Fn(&N) -> String) -> Vec<Blocker> {
    match verdict(nodes) {
        Verdict::NewUntrusted { lacking, .. } => lacking
            .iter()
            .map(|n| blocker(n.node(), lacking_why(n)))
            .collect(),
        Verdict::OldDropped { dropping, .. } => dropping
            .iter()
            .map(|n| {
                blocker(
                    n.node(),
                    format!(
                        "`{}`: no longer trusts the old one, which other nodes still present",
                        n.place_name()
                    ),
                )
            })
            .collect(),
        Verdict::Safe { .. } => Vec::new(),
    }
}

fn ca_blockers(nodes: &[Node<'_>], ca: Ca) -> Vec<Blocker> {
    let Some(r) = rotation(nodes, ca) else {
        return vec![blocker(
            THIS_NODE,
            format!("holds no pki/{}.new.crt: run `prepare` first", ca.base()),
        )];
    };
    let mut out: Vec<Blocker> = r
        .other_new
        .iter()
        .map(|n| {
            blocker(
                n,
                format!(
                    "its pki/{0}.new.crt or pki/{0}.new.key is another new CA",
                    ca.base()
                ),
            )
        })
        .collect();
    out.extend(r.unknown.iter().map(|n| {
        blocker(
            n,
            format!(
                "cannot be checked: pki/{} holds neither the old nor the new CA",
                ca.cert_file()
            ),
        )
    }));
    out.extend(outage(&r.places, |p| {
        let mut files = p.lacks_new.clone();
        if files.len() > 3 {
            let more = files.len() - 3;
            files.truncate(3);
            files.push(format!("{more} more"));
        }
        format!(
            "`{}`: {} without the new CA",
            p.place_name(),
            files.join(", ")
        )
    }));
    out
}

fn sa_blockers(nodes: &[Node<'_>]) -> Vec<Blocker> {
    let Some(r) = sa_rotation(nodes) else {
        return vec![blocker(
            THIS_NODE,
            "holds no pki/sa.new.pub: run `prepare` first",
        )];
    };
    let mut out: Vec<Blocker> = r
        .other_new
        .iter()
        .map(|n| blocker(n, "its pki/sa.new.key or pki/sa.new.pub is another new key"))
        .collect();
    out.extend(
        r.unknown
            .iter()
            .map(|(n, why)| blocker(n, format!("cannot be checked: {why}"))),
    );
    out.extend(outage(&r.nodes, |n| {
        format!(
            "`{}`: its apiserver does not accept the new key (no --service-account-key-file holds it)",
            n.place_name()
        )
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca_rotation::{PrepareOptions, Step, apply_in_memory, plan_step};
    use crate::check::fleet::testing::{cluster, sa_cluster, sa_copy_new, sa_step};
    use crate::kubeadm::ca_phase;
    use crate::kubeadm::node::NodePath;
    use crate::kubeadm::sa_phase;
    use crate::sa_rotation::SaStep;
    use crate::test_support::NOW;

    fn ca_step(f: &NodeFiles, ca: Ca, step: Step) -> NodeFiles {
        ca_step_seeded(f, ca, step, 3)
    }

    fn ca_step_seeded(f: &NodeFiles, ca: Ca, step: Step, seed: u64) -> NodeFiles {
        let plan = plan_step(
            f,
            ca,
            step,
            &PrepareOptions::default(),
            None,
            NOW,
            &mut crate::seeded_rng(seed),
        )
        .unwrap();
        apply_in_memory(f, &plan)
    }

    /// The cluster with node 0 prepared and its new pair copied to every node.
    fn prepared(ca: Ca) -> Vec<(String, NodeFiles)> {
        let mut nodes = cluster();
        nodes[0].1 = ca_step(&nodes[0].1, ca, Step::Prepare);
        for i in 1..nodes.len() {
            for p in [ca_phase::new_cert_path(ca), ca_phase::new_key_path(ca)] {
                let f = nodes[0].1.files[&p].clone();
                nodes[i].1.files.insert(p, f);
            }
        }
        nodes
    }

    #[test]
    fn reissue_waits_until_every_node_trusts_the_new_ca() {
        for ca in Ca::ALL {
            let mut nodes = prepared(ca);
            nodes[0].1 = ca_step(&nodes[0].1, ca, Step::Trust);
            nodes[1].1 = ca_step(&nodes[1].1, ca, Step::Trust);
            // cp-3 has the new pair but has not run trust.
            let planned = ca_step(&nodes[0].1, ca, Step::Reissue);
            let e = check(&nodes, &planned, Rotated::Ca(ca), NOW).unwrap_err();
            assert_eq!(e.blockers.len(), 1, "{e}");
            assert_eq!(e.blockers[0].node, "cp-3");
            assert!(
                e.blockers[0].why.starts_with("`prepared`: pki/"),
                "{}",
                e.blockers[0].why
            );
            let text = e.to_string();
            assert!(
                text.contains("`reissue` refused")
                    && text.contains(&format!("the new {} CA", ca.name())),
                "{text}"
            );
            // After trust on cp-3, the same reissue is proven.
            nodes[2].1 = ca_step(&nodes[2].1, ca, Step::Trust);
            let ok = check(&nodes, &planned, Rotated::Ca(ca), NOW).unwrap();
            assert_eq!(ok.nodes, ["cp-1", "cp-2", "cp-3"]);
            assert_eq!(ok.this_node.as_deref(), Some("cp-1"));
        }
    }

    #[test]
    fn a_node_without_the_new_pair_or_missing_from_the_copies_is_named() {
        let mut nodes = cluster();
        nodes[0].1 = ca_step(&nodes[0].1, Ca::Ca, Step::Prepare);
        nodes[0].1 = ca_step(&nodes[0].1, Ca::Ca, Step::Trust);
        let planned = ca_step(&nodes[0].1, Ca::Ca, Step::Reissue);
        let e = check(&nodes, &planned, Rotated::Ca(Ca::Ca), NOW).unwrap_err();
        let names: Vec<&str> = e.blockers.iter().map(|b| b.node.as_str()).collect();
        assert_eq!(names, ["cp-2", "cp-3"]);
        assert!(e.blockers[0].why.contains("`not prepared`"), "{e}");
        // Copies of the other nodes only: this node is added, and the old copy
        // of itself (before trust) is not what counts.
        let ok = check(&nodes[..1], &planned, Rotated::Ca(Ca::Ca), NOW).unwrap();
        assert_eq!(ok.nodes, ["cp-1"]);
        let others = vec![nodes[1].clone()];
        let e = check(&others, &planned, Rotated::Ca(Ca::Ca), NOW).unwrap_err();
        assert_eq!(e.blockers[0].node, "cp-2");
        // A node that made its own new CA cannot be checked against this one.
        let mut mixed = prepared(Ca::Ca);
        mixed[2].1 = ca_step_seeded(&cluster()[2].1, Ca::Ca, Step::Prepare, 9);
        for (_, f) in &mut mixed {
            *f = ca_step(f, Ca::Ca, Step::Trust);
        }
        let planned = ca_step(&mixed[0].1, Ca::Ca, Step::Reissue);
        let e = check(&mixed, &planned, Rotated::Ca(Ca::Ca), NOW).unwrap_err();
        assert_eq!(e.blockers[0].node, "cp-3");
        assert!(e.blockers[0].why.contains("another new CA"), "{e}");
    }

    #[test]
    fn switch_waits_until_every_apiserver_accepts_the_new_key() {
        let mut nodes = sa_cluster();
        sa_step(&mut nodes, 0, SaStep::Prepare);
        for i in 1..3 {
            sa_copy_new(&mut nodes, i);
        }
        sa_step(&mut nodes, 0, SaStep::Trust);
        sa_step(&mut nodes, 2, SaStep::Trust);
        let mut planned_nodes = nodes.clone();
        sa_step(&mut planned_nodes, 0, SaStep::Switch);
        let planned = planned_nodes[0].1.clone();
        let e = check(&nodes, &planned, Rotated::ServiceAccountKey, NOW).unwrap_err();
        assert_eq!(e.blockers.len(), 1, "{e}");
        assert_eq!(e.blockers[0].node, "cp-2");
        assert!(e.to_string().contains("`switch` refused"), "{e}");
        assert!(
            e.blockers[0].why.contains("does not accept the new key"),
            "{e}"
        );
        // A node whose manifest cannot be read cannot be checked.
        let mut unreadable = nodes.clone();
        unreadable[1]
            .1
            .files
            .remove(&NodePath::kubeconfig(sa_phase::APISERVER_MANIFEST));
        let e = check(&unreadable, &planned, Rotated::ServiceAccountKey, NOW).unwrap_err();
        assert!(e.blockers[0].why.starts_with("cannot be checked"), "{e}");
        sa_step(&mut nodes, 1, SaStep::Trust);
        let ok = check(&nodes, &planned, Rotated::ServiceAccountKey, NOW).unwrap();
        assert_eq!(ok.nodes.len(), 3);
    }
}
