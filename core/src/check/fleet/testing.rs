//! What the fleet's tests share: a three-node cluster as `kubeadm join
//! --control-plane` makes it, and finding rows in the result.
#![cfg(test)]

use super::{Fleet, Options, check};
use crate::check::verify::{Check, Status};
use crate::issue::pki;
use crate::kubeadm::node::NodeFiles;
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
