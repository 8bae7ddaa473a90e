//! `kcerts fleet`: several control-plane nodes of one cluster checked against
//! each other, as pass/warn/fail rows of the kind `verify` gives one node.
//!
//! Cross-node checks: the CA certificates and keys are the same on every node
//! (`ca`, `front-proxy-ca`, and `etcd-ca` when etcd is stacked); so are `sa.key`
//! and `sa.pub`; every apiserver certificate carries the control-plane endpoint
//! and its own node's names; every kubeconfig's server is the endpoint or the
//! node itself; every node's leaves chain to the CAs of every other node; and the
//! soonest expiry of the cluster; and no node given twice (one node name, or the
//! same certificate kubeadm issues per node, on two inputs: a `cp-1.tgz` next to
//! a `cp-1/` of the same node). A read error on any node is a `read` row.
//!
//! During a CA rotation (a node holds `<ca>.new.crt`) the CA files and keys
//! differ between nodes by design: the `ca-rotation` row says whether the
//! nodes' phases fit (the new CA the same everywhere; no node presents
//! certificates of a CA that another node does not trust), and `same-cert` and
//! `same-key` pass while every node holds only the old and the new CA.
//!
//! During a service-account key rotation (a node holds `sa.new.pub`) `sa.key`
//! and `sa.pub` differ between nodes by design too: the `sa-rotation` row reads
//! each node's phase as `kcerts sa status` does (from the files and the
//! apiserver's and controller-manager's manifests) and says whether they fit
//! (the new pair the same everywhere; no node signs tokens with a key another
//! node's apiserver does not accept), and `same-key` and `same-pub` pass while
//! every node holds only the rotation's old and new key.
//!
//! Rows about one node have the target `<node>/<what>` (`cp-2/apiserver`); rows
//! about the cluster a bare target (`ca`, `sa`, `cluster`). Node names never hold
//! a `/` ([`FleetError::BadName`]).
//!
//! One file per concern: `identity` (who each node is, no node twice),
//! `servers` (the endpoint, apiserver SANs, kubeconfig servers), `same_files`
//! (CAs, keys and the sa pair alike on every node), `verdict` (the outage rule
//! both rotations share), `ca_rotation`, `sa_rotation`, `chains` (leaves
//! trusted everywhere), `soonest` (the first expiry of the cluster) and
//! `order` (whether a node may start signing with a rotation's new CA or key:
//! `ca rotate reissue --fleet`, `sa rotate switch --fleet`).

mod ca_rotation;
mod chains;
mod identity;
mod node;
pub mod order;
mod sa_rotation;
mod same_files;
mod servers;
mod soonest;
mod verdict;

use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;

use crate::check::expiration::Report;
use crate::check::verify::{Check, CheckId, Status, Thresholds, Verification};
use crate::kubeadm::ca_phase;
use crate::kubeadm::inventory::{self, Ca};
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::sa_phase;
use node::Node;

pub use crate::kubeadm::endpoint::Endpoint;
pub use identity::Identity;

/// Why the nodes cannot be checked together.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FleetError {
    /// No node was given.
    #[error("no node given: pass one copy of /etc/kubernetes per control-plane node")]
    NoNodes,
    /// A node name is empty or holds `/`, whitespace or control characters.
    #[error("invalid node name {0:?}: use letters, digits, '-', '.' or '_' (e.g. cp-1=PATH)")]
    BadName(String),
    /// Two nodes have the same name.
    #[error("two nodes are named {0:?}: give each a name with NAME=PATH")]
    Duplicate(String),
}

/// What to check against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The control-plane endpoint (`host`, `host:port` or `https://host:port`);
    /// `None` takes the server of `admin.conf` on the nodes.
    pub endpoint: Option<String>,
    /// Expiry windows for the soonest-expiry row.
    pub thresholds: Thresholds,
}

/// One node of the fleet: its name, identity and check-expiration report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeReport {
    /// The name it was given (`cp-1`).
    pub name: String,
    /// Who it is, from its files.
    pub identity: Identity,
    /// kubeadm's check-expiration report of its files.
    pub report: Report,
}

/// The certificate that expires first in the whole cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Soonest {
    /// The node holding it.
    pub node: String,
    /// Its row name (`apiserver`, `ca`).
    pub name: String,
    /// Its NotAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub expiration_date: OffsetDateTime,
    /// Whole seconds from `now` to NotAfter.
    pub residual_seconds: i64,
}

/// The whole result, plain data for the CLI and the web page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fleet {
    /// The moment checked for.
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// The control-plane endpoint used, if one was given or found.
    pub endpoint: Option<Endpoint>,
    /// Every node, in the order given.
    pub nodes: Vec<NodeReport>,
    /// The soonest expiry over every node's certificates and CAs.
    pub soonest: Option<Soonest>,
    /// The cross-node rows, verify's type (so verify's renderers print them).
    pub verification: Verification,
}

/// Every file the checks read on a node: kubeadm's, kubelet.conf, the
/// `<ca>.new.crt`/`.key` of a CA rotation, and the `sa.new.key`/`.pub` of a
/// service-account key rotation with the two manifests its phase is read from.
pub fn wanted() -> Vec<NodePath> {
    let mut out = NodeFiles::wanted();
    out.push(NodePath::kubeconfig("kubelet.conf"));
    for ca in Ca::ALL {
        out.push(ca_phase::new_cert_path(ca));
        out.push(ca_phase::new_key_path(ca));
    }
    out.extend([
        NodePath::cert(sa_phase::NEW_KEY),
        NodePath::cert(sa_phase::NEW_PUB),
        NodePath::kubeconfig(sa_phase::APISERVER_MANIFEST),
        NodePath::kubeconfig(sa_phase::CONTROLLER_MANAGER_MANIFEST),
    ]);
    out
}

/// Checks that `name` can label a node: non-empty, no `/`, whitespace or control characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name
            .chars()
            .any(|c| c == '/' || c == '=' || c.is_whitespace() || c.is_control())
}

struct Rows(Vec<Check>);

impl Rows {
    fn push(&mut self, status: Status, target: String, check: CheckId, reason: String) {
        self.0.push(Check {
            status,
            target,
            check,
            reason,
        });
    }
}

/// Checks the nodes against each other as of `now`.
pub fn check(
    nodes: &[(String, NodeFiles)],
    opts: &Options,
    now: OffsetDateTime,
) -> Result<Fleet, FleetError> {
    if nodes.is_empty() {
        return Err(FleetError::NoNodes);
    }
    for (i, (name, _)) in nodes.iter().enumerate() {
        if !valid_name(name) {
            return Err(FleetError::BadName(name.clone()));
        }
        if nodes[..i].iter().any(|(n, _)| n == name) {
            return Err(FleetError::Duplicate(name.clone()));
        }
    }
    let loaded: Vec<Node<'_>> = nodes
        .iter()
        .map(|(name, files)| Node::load(name, files, now))
        .collect();
    let nodes = loaded.as_slice();
    let mut rows = Rows(Vec::new());

    let endpoint = servers::endpoint_row(nodes, opts, &mut rows);
    identity::distinct_nodes(nodes, &mut rows);
    let stacked = nodes.iter().any(|n| !n.report.external_etcd);
    for ca in inventory::cas(!stacked) {
        let rotation = ca_rotation::rotation(nodes, ca);
        same_files::same_ca(nodes, ca, rotation.as_ref(), &mut rows);
        if let Some(r) = &rotation {
            ca_rotation::rotation_row(ca, r, &mut rows);
        }
    }
    let sa = sa_rotation::sa_rotation(nodes);
    same_files::same_sa(nodes, sa.as_ref(), &mut rows);
    if let Some(r) = &sa {
        sa_rotation::sa_rotation_row(r, &mut rows);
    }
    for (i, node) in nodes.iter().enumerate() {
        servers::apiserver_sans(node, endpoint.as_ref(), &mut rows);
        servers::servers(i, nodes, endpoint.as_ref(), &mut rows);
        for ca in inventory::cas(!stacked) {
            chains::leaves_trusted(i, nodes, ca, &mut rows);
        }
        for e in &node.report.errors {
            rows.push(
                Status::Fail,
                format!("{}/{}", node.name, e.path),
                CheckId::Read,
                e.kind.to_string(),
            );
        }
    }
    let soonest = soonest::soonest_row(nodes, opts.thresholds, now, &mut rows);
    Ok(Fleet {
        now,
        endpoint,
        nodes: loaded
            .into_iter()
            .map(|n| NodeReport {
                name: n.name.to_string(),
                identity: n.identity,
                report: n.report,
            })
            .collect(),
        soonest,
        verification: Verification {
            now,
            node_name: None,
            checks: rows.0,
        },
    })
}

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fleet::testing::{cluster, find, not_pass, run};
    use std::net::IpAddr;

    #[test]
    fn a_consistent_cluster_passes() {
        let nodes = cluster();
        let f = run(&nodes);
        assert!(not_pass(&f).is_empty(), "{:#?}", not_pass(&f));
        assert_eq!(
            f.endpoint,
            Some(Endpoint {
                host: "k8s.example.internal".into(),
                port: Some(6443)
            })
        );
        assert_eq!(f.nodes[1].identity.node_name, "cp-2");
        assert_eq!(
            f.nodes[1].identity.addresses,
            vec![IpAddr::from([192, 168, 10, 12])]
        );
        // 3 endpoint/distinct/soonest + 3 CAs x 2 + sa x 2 + per node (apiserver + 5
        // kubeconfigs + 3 CAs).
        assert_eq!(f.verification.checks.len(), 3 + 6 + 2 + 3 * 9);
        assert_eq!(
            find(&f, "cluster", "distinct-nodes").reason,
            "3 different nodes: cp-1, cp-2, cp-3; no per-node certificate on two of them"
        );
        assert_eq!(
            find(&f, "cp-3/controller-manager.conf", "server").reason,
            "server https://192.168.10.13:6443 is this node"
        );
        let s = f.soonest.unwrap();
        assert_eq!(s.residual_seconds, 365 * 86400);
    }
}
