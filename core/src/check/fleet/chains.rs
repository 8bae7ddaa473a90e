//! The `leaves-trusted` rows: every leaf a node's CA signed chains to that
//! CA on every node (a leaf signed by a CA another node lacks is rejected there).

use super::Rows;
use super::node::Node;
use crate::check::verify::{CheckId, Status};
use crate::kubeadm::inventory::Ca;
use crate::x509::certificate::Certificate;

/// Every leaf of node `i` signed by `ca` must chain to `ca` on every node: a leaf
/// signed by a CA that another node does not have is rejected there.
pub(super) fn leaves_trusted(i: usize, nodes: &[Node<'_>], ca: Ca, rows: &mut Rows) {
    let name = nodes[i].name;
    let leaves: Vec<(&str, &Certificate)> = nodes[i]
        .leaves()
        .filter(|(r, _)| r.ca == ca)
        .map(|(r, c)| (r.name, c))
        .collect();
    if leaves.is_empty() {
        return;
    }
    // Nodes whose CA does not load are reported by same-cert, not here.
    let bundles: Vec<(&str, &[Certificate])> = nodes
        .iter()
        .filter_map(|n| n.bundle(ca).map(|c| (n.name, c)))
        .collect();
    let mut untrusted: Vec<(&str, Vec<&str>)> = Vec::new();
    for (row, cert) in &leaves {
        let rejecting: Vec<&str> = bundles
            .iter()
            .filter(|(_, b)| !b.iter().any(|c| cert.verify_signed_by(c).is_ok()))
            .map(|(n, _)| *n)
            .collect();
        if !rejecting.is_empty() {
            untrusted.push((row, rejecting));
        }
    }
    let target = format!("{name}/{}", ca.name());
    if untrusted.is_empty() {
        let on = if bundles.len() > 1 {
            "every node"
        } else {
            "this node"
        };
        rows.push(
            Status::Pass,
            target,
            CheckId::LeavesTrusted,
            format!(
                "the {} certificate{} it signs here chain to pki/{} on {on}",
                leaves.len(),
                if leaves.len() == 1 { "" } else { "s" },
                ca.cert_file(),
            ),
        );
    } else {
        let parts: Vec<String> = untrusted
            .iter()
            .map(|(row, n)| format!("{row} (not by {})", n.join(", ")))
            .collect();
        rows.push(
            Status::Fail,
            target,
            CheckId::LeavesTrusted,
            format!(
                "signed by a {} certificate that other nodes lack: {}; those nodes reject them",
                ca.name(),
                parts.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::check::fleet::testing::{cluster, find, run};
    use crate::check::verify::Status;
    use crate::issue::pki;
    use crate::kubeadm::node::{NodeFiles, NodePath};
    use crate::test_support::{NOW, ecdsa_node};

    #[test]
    fn a_rotated_ca_bundle_trusts_both_and_is_flagged_as_different() {
        let mut nodes = cluster();
        let extra = pki::generate(&ecdsa_node("x", 1), NOW, &mut crate::seeded_rng(5)).unwrap();
        let extra = NodeFiles::from_generated(&extra);
        let ca = NodePath::cert("ca.crt");
        let crate::kubeadm::node::FileContent::Bytes(mine) = nodes[1].1.files[&ca].clone() else {
            panic!()
        };
        let crate::kubeadm::node::FileContent::Bytes(theirs) = extra.files[&ca].clone() else {
            panic!()
        };
        // cp-2 trusts the old CA and a new one (the first half of a CA rotation),
        // and holds extra files that are not kubeadm's.
        nodes[1].1.insert(ca, [mine, theirs].concat());
        nodes[1]
            .1
            .insert(NodePath::cert("ca.new.crt"), b"junk".to_vec());
        let f = run(&nodes);
        assert_eq!(find(&f, "ca", "same-cert").status, Status::Fail);
        // cp-2 still trusts everyone's leaves, and its own chain everywhere.
        assert_eq!(find(&f, "cp-1/ca", "leaves-trusted").status, Status::Pass);
        assert_eq!(find(&f, "cp-2/ca", "leaves-trusted").status, Status::Pass);
    }
}
