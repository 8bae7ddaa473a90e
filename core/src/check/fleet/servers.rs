//! The control-plane endpoint and the servers: which endpoint the nodes use
//! (given, or the server of `admin.conf` on most nodes), whether each
//! apiserver certificate carries it and its own node's names, and whether every
//! kubeconfig's server is the endpoint or the node itself.

use super::node::Node;
use super::{Options, Rows};
use crate::check::verify::{CheckId, Status};
use crate::kubeadm::endpoint::Endpoint;
use crate::kubeadm::inventory;
use crate::kubeadm::kubeconfig::{Kubeconfig, KubeconfigError};
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::node_loader::{self, FileErrorKind};

/// Why a kubeconfig gives no server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ServerError {
    /// The file cannot be read.
    #[error(transparent)]
    File(Box<FileErrorKind>),
    /// It is not a kubeconfig kcerts can read, or has no current context.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// Its current context's cluster has no `server`.
    #[error("its cluster has no server")]
    NoServer,
}

/// The server of a kubeconfig's current context.
pub(super) fn server_of(files: &NodeFiles, file: &str) -> Option<Result<String, ServerError>> {
    let bytes = match node_loader::read(files, &NodePath::kubeconfig(file)) {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => return Some(Err(ServerError::File(e.kind))),
    };
    Some(
        Kubeconfig::parse(bytes)
            .and_then(|k| k.current())
            .map_err(ServerError::from)
            .and_then(|c| c.server.ok_or(ServerError::NoServer)),
    )
}

/// The endpoint: given, or the server of `admin.conf` on more than half the nodes.
pub(super) fn endpoint_row(
    nodes: &[Node<'_>],
    opts: &Options,
    rows: &mut Rows,
) -> Option<Endpoint> {
    const T: &str = "cluster";
    if let Some(given) = &opts.endpoint {
        return match Endpoint::parse(given) {
            Some(e) => {
                rows.push(
                    Status::Pass,
                    T.into(),
                    CheckId::Endpoint,
                    format!("control-plane endpoint {e}, as given"),
                );
                Some(e)
            }
            None => {
                rows.push(
                    Status::Fail,
                    T.into(),
                    CheckId::Endpoint,
                    format!("{given:?} is not a host, host:port or https:// URL"),
                );
                None
            }
        };
    }
    let mut seen: Vec<(Endpoint, Vec<&str>)> = Vec::new();
    for node in nodes {
        if let Some(Ok(server)) = node.server("admin.conf")
            && let Some(e) = Endpoint::parse(server)
        {
            match seen.iter_mut().find(|(s, _)| *s == e) {
                Some((_, names)) => names.push(node.name),
                None => seen.push((e, vec![node.name])),
            }
        }
    }
    seen.sort_by_key(|(_, names)| std::cmp::Reverse(names.len()));
    let Some((best, names)) = seen.first() else {
        rows.push(
            Status::Fail,
            T.into(),
            CheckId::Endpoint,
            "no node has an admin.conf with a server: pass --control-plane-endpoint".into(),
        );
        return None;
    };
    if names.len() == nodes.len() {
        rows.push(
            Status::Pass,
            T.into(),
            CheckId::Endpoint,
            format!("control-plane endpoint {best}, the server of admin.conf on every node"),
        );
        return Some(best.clone());
    }
    if names.len() * 2 > nodes.len() {
        rows.push(
            Status::Pass,
            T.into(),
            CheckId::Endpoint,
            format!(
                "control-plane endpoint {best}, the server of admin.conf on {} of {} nodes",
                names.len(),
                nodes.len()
            ),
        );
        return Some(best.clone());
    }
    let all: Vec<String> = seen
        .iter()
        .map(|(e, n)| format!("{} on {}", e, n.join(", ")))
        .collect();
    rows.push(
        Status::Fail,
        T.into(),
        CheckId::Endpoint,
        format!(
            "cannot tell the control-plane endpoint: admin.conf servers differ ({}): pass --control-plane-endpoint",
            all.join("; ")
        ),
    );
    None
}

pub(super) fn apiserver_sans(node: &Node<'_>, endpoint: Option<&Endpoint>, rows: &mut Rows) {
    let target = format!("{}/apiserver", node.name);
    let id = &node.identity;
    // Missing or unreadable: the read row or check-expiration says so.
    let Some(cert) = node.certificate("apiserver") else {
        return;
    };
    let mut missing = Vec::new();
    if let Some(e) = endpoint
        && !e.in_sans(cert)
    {
        missing.push(format!(
            "{}:{} (the control-plane endpoint)",
            if e.ip().is_some() { "IP" } else { "DNS" },
            e.host
        ));
    }
    if !cert
        .dns_names
        .iter()
        .any(|d| d.eq_ignore_ascii_case(&id.node_name))
    {
        missing.push(format!("DNS:{} (the node name)", id.node_name));
    }
    for ip in &id.addresses {
        if !cert.ip_addresses.contains(ip) {
            missing.push(format!("IP:{ip} (the node's address)"));
        }
    }
    if missing.is_empty() {
        let ep = endpoint
            .map(|e| format!("the endpoint {} and ", e.host))
            .unwrap_or_default();
        rows.push(
            Status::Pass,
            target,
            CheckId::EndpointSans,
            format!("has {ep}the node's names ({})", id.describe()),
        );
    } else {
        rows.push(
            Status::Fail,
            target,
            CheckId::EndpointSans,
            format!(
                "lacks {}: clients reaching this apiserver that way reject it; renew it with those SANs",
                missing.join(", ")
            ),
        );
    }
}

/// The kubeconfigs whose server is checked (kubelet.conf when the copy has it).
pub(super) const KUBECONFIGS: [&str; 5] = [
    "admin.conf",
    "controller-manager.conf",
    "kubelet.conf",
    "scheduler.conf",
    "super-admin.conf",
];

pub(super) fn servers(i: usize, nodes: &[Node<'_>], endpoint: Option<&Endpoint>, rows: &mut Rows) {
    let node = &nodes[i];
    let id = &node.identity;
    for file in KUBECONFIGS {
        let target = format!("{}/{file}", node.name);
        let server = match node.server(file) {
            None => continue,
            Some(Err(e)) => {
                // A kubeconfig of the inventory that does not parse already has a read row.
                if inventory::row(file).is_none() {
                    rows.push(Status::Fail, target, CheckId::Read, e.to_string());
                }
                continue;
            }
            Some(Ok(s)) => s,
        };
        let Some(host) = Endpoint::parse(server) else {
            rows.push(
                Status::Fail,
                target,
                CheckId::Server,
                format!("server {server:?} is not an https:// URL"),
            );
            continue;
        };
        let loopback = host.host == "localhost" || host.ip().is_some_and(|ip| ip.is_loopback());
        let other = nodes
            .iter()
            .enumerate()
            .find(|(j, n)| *j != i && n.identity.is(&host))
            .map(|(_, n)| n.name);
        let (status, reason) = if endpoint.is_some_and(|e| e.matches(&host)) {
            (
                Status::Pass,
                format!("server {server} is the control-plane endpoint"),
            )
        } else if loopback || id.is(&host) {
            (Status::Pass, format!("server {server} is this node"))
        } else if let Some(other) = other {
            (
                Status::Fail,
                format!(
                    "server {server} is another node, {other}: this node's {} stops working when {other} is down; point it at the endpoint or this node",
                    component(file)
                ),
            )
        } else if id.addresses.is_empty() && endpoint.is_some() {
            (
                Status::Warn,
                format!(
                    "server {server} is not the control-plane endpoint, and this node's addresses are unknown (they come from its etcd certificates)"
                ),
            )
        } else {
            (
                Status::Fail,
                format!(
                    "server {server} is neither the control-plane endpoint nor this node ({})",
                    id.describe()
                ),
            )
        };
        rows.push(status, target, CheckId::Server, reason);
    }
}

fn component(file: &str) -> &'static str {
    match file {
        "controller-manager.conf" => "controller manager",
        "scheduler.conf" => "scheduler",
        "kubelet.conf" => "kubelet",
        _ => "admin access",
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::check::fleet::testing::{cluster, find, not_pass, run};
    use crate::check::fleet::{FleetError, check};
    use crate::issue::pki::{self, PkiOptions};
    use crate::test_support::{NOW, ecdsa_node};

    #[test]
    fn sa_key_apiserver_sans_and_servers() {
        let mut nodes = cluster();
        let other = NodeFiles::from_generated(
            &pki::generate(&ecdsa_node("cp-2", 12), NOW, &mut crate::seeded_rng(98)).unwrap(),
        );
        // A different sa.key on cp-2.
        let sa = NodePath::cert("sa.key");
        nodes[1]
            .1
            .files
            .insert(sa.clone(), other.files[&sa].clone());
        // cp-3's apiserver without the endpoint (made for another endpoint).
        let mut o = ecdsa_node("cp-3", 13);
        o.control_plane_endpoint = Some("other.example:6443".into());
        let third = NodeFiles::from_generated(
            &pki::generate_joined(&o, &nodes[0].1, NOW, &mut crate::seeded_rng(97)).unwrap(),
        );
        for p in ["apiserver.crt", "apiserver.key"] {
            let p = NodePath::cert(p);
            nodes[2].1.files.insert(p.clone(), third.files[&p].clone());
        }
        // cp-1's scheduler.conf pointing at cp-2.
        let sched = NodePath::kubeconfig("scheduler.conf");
        let second = pki::generate_joined(
            &PkiOptions {
                advertise_address: IpAddr::from([192, 168, 10, 12]),
                ..ecdsa_node("cp-1", 11)
            },
            &nodes[0].1,
            NOW,
            &mut crate::seeded_rng(96),
        )
        .unwrap();
        let second = NodeFiles::from_generated(&second);
        nodes[0]
            .1
            .files
            .insert(sched.clone(), second.files[&sched].clone());
        let f = run(&nodes);
        let row = find(&f, "sa", "same-key");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason.contains("key 1 on cp-1, cp-3; key 2 on cp-2"),
            "{}",
            row.reason
        );
        assert_eq!(find(&f, "sa", "same-pub").status, Status::Pass);
        let row = find(&f, "cp-3/apiserver", "endpoint-sans");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason.starts_with("lacks DNS:k8s.example.internal"),
            "{}",
            row.reason
        );
        assert_eq!(
            find(&f, "cp-2/apiserver", "endpoint-sans").status,
            Status::Pass
        );
        let row = find(&f, "cp-1/scheduler.conf", "server");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason.contains("is another node, cp-2"),
            "{}",
            row.reason
        );
        assert_eq!(not_pass(&f).len(), 3, "{:#?}", not_pass(&f));
    }
    #[test]
    fn endpoint_given_unknown_server_and_names() {
        let nodes = cluster();
        let f = check(
            &nodes,
            &Options {
                endpoint: Some("https://LB.example:6443".into()),
                ..Options::default()
            },
            NOW,
        )
        .unwrap();
        assert_eq!(
            find(&f, "cp-1/apiserver", "endpoint-sans").status,
            Status::Fail
        );
        let row = find(&f, "cp-1/admin.conf", "server");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason
                .contains("neither the control-plane endpoint nor this node (cp-1, 192.168.10.11)")
        );
        assert_eq!(
            check(&[], &Options::default(), NOW).unwrap_err(),
            FleetError::NoNodes
        );
        let dup = vec![nodes[0].clone(), nodes[0].clone()];
        assert_eq!(
            check(&dup, &Options::default(), NOW).unwrap_err(),
            FleetError::Duplicate("cp-1".into())
        );
        let bad = vec![("a/b".to_string(), NodeFiles::default())];
        assert!(matches!(
            check(&bad, &Options::default(), NOW),
            Err(FleetError::BadName(_))
        ));
    }
}
