//! What the fleet's tests share: a three-node cluster as `kubeadm join
//! --control-plane` makes it, and finding rows in the result.
#![cfg(test)]

use super::{Fleet, Options, check};
use crate::check::verify::{Check, Status};
use crate::issue::pki;
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::sa_phase;
use crate::test_support::{NOW, ecdsa_node};

/// Three nodes of one cluster, as `kubeadm join --control-plane` makes them.
pub(super) fn cluster() -> Vec<(String, NodeFiles)> {
    let mut rng = crate::seeded_rng(11);
    let first =
        NodeFiles::from_generated(&pki::generate(&ecdsa_node("cp-1", 11), NOW, &mut rng).unwrap());
    let mut out = vec![("cp-1".to_string(), first.clone())];
    for (n, last) in [("cp-2", 12), ("cp-3", 13)] {
        let node = pki::generate_joined(&ecdsa_node(n, last), &first, NOW, &mut rng).unwrap();
        out.push((n.to_string(), NodeFiles::from_generated(&node)));
    }
    out
}

pub(super) fn run(nodes: &[(String, NodeFiles)]) -> Fleet {
    check(nodes, &Options::default(), NOW).unwrap()
}

pub(super) fn find<'a>(f: &'a Fleet, target: &str, check: &str) -> &'a Check {
    f.verification
        .checks
        .iter()
        .find(|c| c.target == target && c.check.as_str() == check)
        .unwrap_or_else(|| panic!("no {target} {check} in {:#?}", f.verification.checks))
}

pub(super) fn not_pass(f: &Fleet) -> Vec<&Check> {
    f.verification
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .collect()
}

const SA_API: &str = "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --service-account-issuer=https://kubernetes.default.svc.cluster.local\n    - --service-account-key-file=/etc/kubernetes/pki/sa.pub\n    - --service-account-signing-key-file=/etc/kubernetes/pki/sa.key\n    name: kube-apiserver\n";
const SA_KCM: &str = "spec:\n  containers:\n  - command:\n    - kube-controller-manager\n    - --service-account-private-key-file=/etc/kubernetes/pki/sa.key\n    name: kube-controller-manager\n";

/// The cluster with kubeadm's two manifests that name the sa files.
pub(super) fn sa_cluster() -> Vec<(String, NodeFiles)> {
    let mut nodes = cluster();
    for (_, f) in &mut nodes {
        f.insert(
            NodePath::kubeconfig(sa_phase::APISERVER_MANIFEST),
            SA_API.as_bytes().to_vec(),
        );
        f.insert(
            NodePath::kubeconfig(sa_phase::CONTROLLER_MANAGER_MANIFEST),
            SA_KCM.as_bytes().to_vec(),
        );
    }
    nodes
}

pub(super) fn sa_step(
    nodes: &mut [(String, NodeFiles)],
    i: usize,
    step: crate::sa_rotation::SaStep,
) {
    use crate::ca_rotation::apply_in_memory;
    let f = &nodes[i].1;
    let plan =
        crate::sa_rotation::plan_step(f, step, &mut crate::seeded_rng(60 + i as u64)).unwrap();
    nodes[i].1 = apply_in_memory(f, &plan);
}

/// Copies node 0's new sa pair to node `i`, as the operator does after prepare.
pub(super) fn sa_copy_new(nodes: &mut [(String, NodeFiles)], i: usize) {
    for name in [sa_phase::NEW_KEY, sa_phase::NEW_PUB] {
        let p = NodePath::cert(name);
        let f = nodes[0].1.files[&p].clone();
        nodes[i].1.files.insert(p, f);
    }
}
