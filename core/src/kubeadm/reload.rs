//! What a running control-plane component reads again by itself, per file, as
//! seen with the real programs (docs/reload.md: etcd 3.7.0, kube-apiserver
//! v1.37.2), and so which components a renewal must restart.
//!
//! - etcd reads `etcd/server` and `etcd/peer` at each new TLS connection.
//! - kube-apiserver reads its serving pair (`apiserver`) within a second, and
//!   its client pairs (`apiserver-kubelet-client`, `front-proxy-client`,
//!   `apiserver-etcd-client`) for each new connection.
//! - Everything else a component loads is held until it restarts: the
//!   controller-manager's and scheduler's kubeconfigs (their embedded client
//!   certificates), the service-account keys, and the CA files (not observed
//!   as read again, so they count as held).
//!
//! `apiserver-etcd-client` is not restarted for: the API server's open
//! connection to etcd keeps the certificate it was opened with, but etcd checks
//! a client certificate only at the handshake, so that connection keeps
//! working even past the old certificate's expiry, and every new connection
//! (a reconnect, another etcd member) uses the renewed file. Restarting the API
//! server for it would take the node's API down for nothing.
//!
//! Only `renew` uses this: `recover` restarts every component whose file it
//! re-issued (a node whose certificates expired is down anyway, and its
//! components may be crash-looping), and CA and service-account key rotation
//! restart every component that loads a changed file (trust changes).

use crate::kubeadm::inventory;
use crate::kubeadm::node::{self, Dir, NodePath};
use crate::kubeadm::static_pod::{self, Component};

/// The reload table: each component, the pair (certificate and key, without
/// `.crt`/`.key`) it reads again by itself, and how.
const READ_AGAIN: [(Component, &str, &str); 6] = [
    (Component::Etcd, "etcd/server", "at each new TLS connection"),
    (Component::Etcd, "etcd/peer", "at each new TLS connection"),
    (Component::Apiserver, "apiserver", "within a second"),
    (
        Component::Apiserver,
        "apiserver-kubelet-client",
        "for each new connection to a kubelet",
    ),
    (
        Component::Apiserver,
        "front-proxy-client",
        "for each new connection to an extension API server",
    ),
    (
        Component::Apiserver,
        "apiserver-etcd-client",
        "for each new connection to etcd; the open one keeps working",
    ),
];

/// The row of [`READ_AGAIN`] for `component` and `path`.
fn table_row(component: Component, path: &NodePath) -> Option<usize> {
    if path.dir != Dir::Cert {
        return None;
    }
    let rel = path.rel.as_str();
    let base = rel
        .strip_suffix(".crt")
        .or_else(|| rel.strip_suffix(".key"))?;
    READ_AGAIN
        .iter()
        .position(|(c, b, _)| *c == component && *b == base)
}

/// How `component` reads `path` again without a restart, when it does: the
/// words after "reads FILE again by itself", e.g. "at each new TLS connection".
pub fn reads_again(component: Component, path: &NodePath) -> Option<&'static str> {
    table_row(component, path).map(|i| READ_AGAIN[i].2)
}

/// A component not restarted after a renewal, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRestarted {
    /// Which.
    pub component: Component,
    /// The renewed files it reads again by itself (certificates; their keys go
    /// with them), each with how.
    pub files: Vec<(NodePath, &'static str)>,
}

impl NotRestarted {
    /// `etcd reads pki/etcd/server.crt and pki/etcd/peer.crt again by itself (at
    /// each new TLS connection)`; files read again in different ways each with
    /// their own parenthesis.
    pub fn reason(&self) -> String {
        let mut groups: Vec<(&'static str, Vec<String>)> = Vec::new();
        for (p, how) in &self.files {
            match groups.iter_mut().find(|(h, _)| h == how) {
                Some((_, files)) => files.push(p.to_string()),
                None => groups.push((how, vec![p.to_string()])),
            }
        }
        let pod = self.component.pod_name();
        match groups.as_slice() {
            [(how, files)] => format!("{pod} reads {} again by itself ({how})", and(files)),
            _ => {
                let clauses: Vec<String> = groups
                    .iter()
                    .map(|(how, files)| format!("{} ({how})", and(files)))
                    .collect();
                format!("{pod} reads again by itself: {}", clauses.join("; "))
            }
        }
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What a renewal restarts: the components holding a renewed file until they
/// restart (in restart order), and those that read every renewed file they
/// load again by themselves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenewalRestart {
    /// To restart, in restart order.
    pub restart: Vec<Component>,
    /// Not restarted, in restart order.
    pub not_restarted: Vec<NotRestarted>,
}

/// The restart plan after the files at `paths` were renewed (written in place
/// with a new certificate and key of the same CA).
pub fn after_renewal_files<'a>(paths: impl IntoIterator<Item = &'a NodePath>) -> RenewalRestart {
    let mut out = RenewalRestart::default();
    let paths: Vec<&NodePath> = paths.into_iter().collect();
    for c in Component::ALL {
        let loaded: Vec<&NodePath> = paths
            .iter()
            .copied()
            .filter(|p| static_pod::loading(p).contains(&c))
            .collect();
        if loaded.is_empty() {
            continue;
        }
        if loaded.iter().any(|p| reads_again(c, p).is_none()) {
            out.restart.push(c);
            continue;
        }
        // One entry per pair, named by its certificate, in the table's order.
        let mut rows: Vec<usize> = loaded.iter().filter_map(|p| table_row(c, p)).collect();
        rows.sort_unstable();
        rows.dedup();
        let files = rows
            .into_iter()
            .map(|i| {
                let (_, base, how) = READ_AGAIN[i];
                (NodePath::cert(format!("{base}.crt")), how)
            })
            .collect();
        out.not_restarted.push(NotRestarted {
            component: c,
            files,
        });
    }
    out
}

/// The restart plan after kubeadm's rows `rows` were renewed.
pub fn after_renewal<'a>(rows: impl IntoIterator<Item = &'a str>) -> RenewalRestart {
    let paths: Vec<NodePath> = rows
        .into_iter()
        .filter_map(inventory::row)
        .map(node::certificate_path)
        .collect();
    after_renewal_files(&paths)
}

/// The renewable files `component` holds until it restarts: after one of them
/// was written, a process started before that still uses the old one
/// (`verify --live` compares the start time of the controller-manager and
/// scheduler with these files' times).
pub fn held_after_renewal(component: Component) -> Vec<NodePath> {
    inventory::ROWS
        .iter()
        .map(node::certificate_path)
        .filter(|p| static_pod::loading(p).contains(&component))
        .filter(|p| reads_again(component, p).is_none())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Component::*;

    #[test]
    fn renew_all_restarts_only_the_controller_manager_and_the_scheduler() {
        let all: Vec<&str> = inventory::ROWS.iter().map(|r| r.name).collect();
        let plan = after_renewal(all);
        assert_eq!(plan.restart, [ControllerManager, Scheduler]);
        let kept: Vec<Component> = plan.not_restarted.iter().map(|n| n.component).collect();
        assert_eq!(kept, [Etcd, Apiserver]);
        assert_eq!(
            plan.not_restarted[0].reason(),
            "etcd reads pki/etcd/server.crt and pki/etcd/peer.crt again by itself (at each new \
             TLS connection)"
        );
        let api = plan.not_restarted[1].reason();
        assert!(
            api.starts_with("kube-apiserver reads again by itself: "),
            "{api}"
        );
        for f in [
            "pki/apiserver.crt",
            "pki/apiserver-kubelet-client.crt",
            "pki/front-proxy-client.crt",
            "pki/apiserver-etcd-client.crt",
        ] {
            assert!(api.contains(&format!("{f} (")), "{api}");
        }
    }

    #[test]
    fn one_row_at_a_time() {
        let plan = after_renewal(["etcd-server", "etcd-peer"]);
        assert!(plan.restart.is_empty());
        assert_eq!(plan.not_restarted.len(), 1);
        let plan = after_renewal(["apiserver-etcd-client"]);
        assert!(plan.restart.is_empty());
        assert_eq!(plan.not_restarted[0].component, Apiserver);
        assert_eq!(
            plan.not_restarted[0].reason(),
            "kube-apiserver reads pki/apiserver-etcd-client.crt again by itself (for each new \
             connection to etcd; the open one keeps working)"
        );
        assert_eq!(
            after_renewal(["scheduler.conf", "apiserver"]).restart,
            [Scheduler]
        );
        let none = after_renewal(["admin.conf", "super-admin.conf", "etcd-healthcheck-client"]);
        assert_eq!(none, RenewalRestart::default());
    }

    #[test]
    fn held_files_restart_even_with_files_read_again() {
        // A CA file is held (not observed as read again): the API server restarts.
        let plan =
            after_renewal_files(&[NodePath::cert("apiserver.crt"), NodePath::cert("ca.crt")]);
        assert_eq!(plan.restart, [Apiserver, ControllerManager]);
        assert!(plan.not_restarted.is_empty());
        // Keys go with their certificates, shown once.
        let plan = after_renewal_files(&[
            NodePath::cert("etcd/peer.crt"),
            NodePath::cert("etcd/peer.key"),
        ]);
        assert_eq!(plan.not_restarted[0].files.len(), 1);
        assert_eq!(reads_again(Apiserver, &NodePath::cert("sa.pub")), None);
        assert_eq!(
            reads_again(Apiserver, &NodePath::cert("etcd/server.crt")),
            None
        );
        assert_eq!(
            reads_again(Etcd, &NodePath::kubeconfig("manifests/etcd.yaml")),
            None
        );
    }

    #[test]
    fn held_after_renewal_is_what_verify_live_compares() {
        assert_eq!(
            held_after_renewal(ControllerManager),
            [NodePath::kubeconfig("controller-manager.conf")]
        );
        assert_eq!(
            held_after_renewal(Scheduler),
            [NodePath::kubeconfig("scheduler.conf")]
        );
        assert!(held_after_renewal(Etcd).is_empty());
        assert!(held_after_renewal(Apiserver).is_empty());
    }
}
