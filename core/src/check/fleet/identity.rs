//! Who each node is, from its files (the node name kubeadm put in the etcd
//! certificates and kubelet.conf, the addresses in the etcd server
//! certificate), and the `distinct-nodes` row: no node given twice.

use std::net::IpAddr;

use serde::Serialize;

use super::Rows;
use super::node::Node;
use crate::check::verify::{CheckId, Status};
use crate::kubeadm::endpoint::Endpoint;
use crate::kubeadm::inventory;
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::node::NodePath;
use crate::kubeadm::node_loader;
use crate::x509::certificate::{self, Certificate};

/// Who a node is, as its files tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The Kubernetes node name: the etcd server certificate's CN (kubeadm sets it
    /// to the node name), else the name the node was given.
    pub node_name: String,
    /// The node's own addresses: the etcd server certificate's IP SANs other than
    /// loopback (kubeadm puts the advertise address there). Empty with external etcd.
    pub addresses: Vec<IpAddr>,
}

impl Identity {
    /// The node `name`, from its etcd server certificate when it has one.
    pub(super) fn of(name: &str, etcd: Option<&Certificate>) -> Self {
        match etcd {
            Some(cert) => Self {
                node_name: cert.common_name.clone().unwrap_or_else(|| name.to_string()),
                addresses: cert
                    .ip_addresses
                    .iter()
                    .copied()
                    .filter(|ip| !ip.is_loopback())
                    .collect(),
            },
            None => Self {
                node_name: name.to_string(),
                addresses: Vec::new(),
            },
        }
    }

    /// Whether `host` names this node.
    pub(super) fn is(&self, host: &Endpoint) -> bool {
        match host.ip() {
            Some(ip) => self.addresses.contains(&ip),
            None => host.host.eq_ignore_ascii_case(&self.node_name),
        }
    }

    pub(super) fn describe(&self) -> String {
        let mut names = vec![self.node_name.clone()];
        names.extend(self.addresses.iter().map(IpAddr::to_string));
        names.join(", ")
    }
}

/// The node names a node's files state, each with the file that states it: the
/// CN of the etcd server and peer certificates (kubeadm sets it to the node
/// name) and `system:node:NAME` of kubelet.conf's embedded client certificate.
pub(super) fn stated_names(node: &Node<'_>) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for (row, file) in [
        ("etcd-server", "etcd/server.crt"),
        ("etcd-peer", "etcd/peer.crt"),
    ] {
        if let Some(cn) = node.certificate(row).and_then(|c| c.common_name.clone()) {
            out.push((cn, file));
        }
    }
    let kubelet = node_loader::read(node.files, &NodePath::kubeconfig("kubelet.conf"))
        .ok()
        .flatten()
        .and_then(|b| Kubeconfig::parse(b).and_then(|k| k.current()).ok())
        .and_then(|c| certificate::parse_first(&c.client_certificate_data).ok())
        .and_then(|c| c.common_name)
        .and_then(|cn| cn.strip_prefix("system:node:").map(str::to_string));
    if let Some(name) = kubelet {
        out.push((name, "kubelet.conf"));
    }
    out
}

/// The certificates kubeadm issues for each node on its own (every leaf: `kubeadm
/// join --control-plane` shares only the CAs and sa), by file, as DER.
fn per_node_leaves<'n>(node: &'n Node<'_>) -> Vec<(String, &'n [u8])> {
    node.leaves()
        .map(|(row, cert)| {
            let file = match row.location {
                inventory::Location::CertDir { base } => format!("pki/{base}.crt"),
                inventory::Location::Kubeconfig { file } => file.to_string(),
            };
            (file, cert.der.as_slice())
        })
        .collect()
}

/// Two inputs that are one node (the same node name, or the same per-node
/// certificate) fail: every other row would compare that node with itself and
/// look consistent.
pub(super) fn distinct_nodes(nodes: &[Node<'_>], rows: &mut Rows) {
    if nodes.len() < 2 {
        return;
    }
    let names: Vec<Vec<(String, &str)>> = nodes.iter().map(stated_names).collect();
    let leaves: Vec<Vec<(String, &[u8])>> = nodes.iter().map(per_node_leaves).collect();
    let mut failed = false;
    for j in 1..nodes.len() {
        for i in 0..j {
            let (a, b) = (nodes[i].name, nodes[j].name);
            let mut same_name: Vec<&str> = Vec::new();
            let mut evidence: Vec<&str> = Vec::new();
            for (name, file) in &names[i] {
                if let Some((_, other)) = names[j].iter().find(|(n, _)| n == name) {
                    if !same_name.contains(&name.as_str()) {
                        same_name.push(name);
                    }
                    for f in [*file, *other] {
                        if !evidence.contains(&f) {
                            evidence.push(f);
                        }
                    }
                }
            }
            let shared: Vec<&str> = leaves[i]
                .iter()
                .filter(|(file, der)| leaves[j].iter().any(|(f, d)| f == file && d == der))
                .map(|(file, _)| file.as_str())
                .collect();
            if same_name.is_empty() && shared.is_empty() {
                continue;
            }
            failed = true;
            let copied = match shared.len() {
                0 => String::new(),
                1 => format!("{} is the same on both", shared[0]),
                n @ 2..=3 => format!("{} are the same on both", shared[..n].join(", ")),
                n => format!(
                    "{} and {} more certificates are the same on both",
                    shared[..2].join(", "),
                    n - 2
                ),
            };
            let reason = if same_name.is_empty() {
                format!(
                    "{a} and {b} are one node or {b} has {a}'s certificates: {copied} (kubeadm issues them for each node); if one node, pass it once, else renew them on {b}"
                )
            } else {
                let also = if copied.is_empty() {
                    String::new()
                } else {
                    format!(", and {copied}")
                };
                format!(
                    "{a} and {b} are the same node, {} (from {}){also}: the other rows compare it with itself; pass each control-plane node once",
                    same_name.join(", "),
                    evidence.join(", "),
                )
            };
            rows.push(
                Status::Fail,
                "cluster".into(),
                CheckId::DistinctNodes,
                reason,
            );
        }
    }
    if !failed {
        let named: Vec<String> = nodes
            .iter()
            .zip(&names)
            .map(|(node, stated)| match (node.name, stated.first()) {
                (n, Some((name, _))) if name != n => format!("{n} ({name})"),
                (n, Some(_)) => n.to_string(),
                (n, None) => format!("{n} (no node name in its files)"),
            })
            .collect();
        rows.push(
            Status::Pass,
            "cluster".into(),
            CheckId::DistinctNodes,
            format!(
                "{} different nodes: {}; no per-node certificate on two of them",
                nodes.len(),
                named.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::check::fleet::testing::{cluster, find, run};
    use crate::check::verify::{Check, CheckId, Status};
    use crate::issue::pki;
    use crate::kubeadm::node::{NodeFiles, NodePath};
    use crate::test_support::{NOW, ecdsa_node};

    #[test]
    fn one_node_given_twice_fails() {
        let mut nodes = cluster();
        nodes.push(("cp-1-copy".into(), nodes[0].1.clone()));
        let f = run(&nodes);
        let rows: Vec<&Check> = f
            .verification
            .checks
            .iter()
            .filter(|c| c.check == CheckId::DistinctNodes)
            .collect();
        assert_eq!(rows.len(), 1, "{rows:#?}");
        assert_eq!(rows[0].status, Status::Fail);
        assert_eq!(
            rows[0].reason,
            "cp-1 and cp-1-copy are the same node, cp-1 (from etcd/server.crt, \
             etcd/peer.crt, kubelet.conf), and admin.conf, pki/apiserver.crt and 9 more \
             certificates are the same on \
             both: the other rows compare it with itself; pass each control-plane node once"
        );
        // Only the copy is wrong: the CAs agree, as they would.
        assert_eq!(find(&f, "ca", "same-cert").status, Status::Pass);

        // Another issuance of the same node (renewed since, say): same name only.
        let mut rng = crate::seeded_rng(12);
        let again =
            pki::generate_joined(&ecdsa_node("cp-2", 12), &nodes[0].1, NOW, &mut rng).unwrap();
        nodes[3] = ("cp-2-old".into(), NodeFiles::from_generated(&again));
        let f = run(&nodes);
        let row = find(&f, "cluster", "distinct-nodes");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason.starts_with(
                "cp-2 and cp-2-old are the same node, cp-2 (from etcd/server.crt, \
                 etcd/peer.crt, kubelet.conf): the other rows"
            ),
            "{}",
            row.reason
        );

        // A per-node certificate copied to another node, names apart.
        let mut nodes = cluster();
        let p = NodePath::cert("apiserver.crt");
        let copy = nodes[0].1.files[&p].clone();
        nodes[2].1.files.insert(p, copy);
        let f = run(&nodes);
        let row = find(&f, "cluster", "distinct-nodes");
        assert_eq!(row.status, Status::Fail);
        assert_eq!(
            row.reason,
            "cp-1 and cp-3 are one node or cp-3 has cp-1's certificates: pki/apiserver.crt \
             is the same on both (kubeadm issues them for each node); if one node, pass it \
             once, else renew them on cp-3"
        );
    }
}
