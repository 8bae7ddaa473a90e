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

use std::net::IpAddr;

use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;

use crate::check::expiration::{self, Report};
use crate::check::verify::{self, Check, CheckId, Status, Thresholds, Verification};
use crate::kubeadm::ca_phase::{self, Phase, Signer};
use crate::kubeadm::inventory::{self, Ca};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::node_loader;
use crate::kubeadm::sa_phase::{self, SaPhase};
use crate::x509::certificate::{self, Certificate};
use crate::x509::keys::PrivateKey;

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

/// A server address: host (lowercase) and optional port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// DNS name or IP address, without brackets.
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
}

impl Endpoint {
    /// Parses `https://host:port/path`, `host:port`, `[v6]:port` or `host`.
    pub fn parse(text: &str) -> Option<Self> {
        let s = text.trim();
        let s = s.split_once("://").map_or(s, |(_, rest)| rest);
        let s = s.split(['/', '?', '#']).next().unwrap_or(s);
        let s = s.rsplit_once('@').map_or(s, |(_, h)| h);
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, after) = rest.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse().ok()?),
                None if after.is_empty() => None,
                None => return None,
            };
            (h, port)
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p.parse().ok()?)),
                _ => (s, None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        Some(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// Whether `other` (a kubeconfig's server) is this endpoint: same host, and
    /// the same port when this one names a port.
    fn matches(&self, other: &Endpoint) -> bool {
        let same_host = match (self.ip(), other.ip()) {
            (Some(a), Some(b)) => a == b,
            _ => self.host == other.host,
        };
        same_host && (self.port.is_none() || self.port == other.port)
    }

    /// Whether `cert` has this host among its SANs.
    fn in_sans(&self, cert: &Certificate) -> bool {
        match self.ip() {
            Some(ip) => cert.ip_addresses.contains(&ip),
            None => cert
                .dns_names
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&self.host)),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => f.write_str(&host),
        }
    }
}

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
    fn of(name: &str, files: &NodeFiles) -> Self {
        let etcd = inventory::row("etcd-server")
            .and_then(|row| node_loader::load_row_certificate(files, row).ok().flatten());
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
    fn is(&self, host: &Endpoint) -> bool {
        match host.ip() {
            Some(ip) => self.addresses.contains(&ip),
            None => host.host.eq_ignore_ascii_case(&self.node_name),
        }
    }

    fn describe(&self) -> String {
        let mut names = vec![self.node_name.clone()];
        names.extend(self.addresses.iter().map(IpAddr::to_string));
        names.join(", ")
    }
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
    let reports: Vec<NodeReport> = nodes
        .iter()
        .map(|(name, files)| NodeReport {
            name: name.clone(),
            identity: Identity::of(name, files),
            report: expiration::build(files, now),
        })
        .collect();
    let mut rows = Rows(Vec::new());

    let endpoint = endpoint_row(nodes, opts, &mut rows);
    distinct_nodes(nodes, &mut rows);
    let stacked = reports.iter().any(|r| !r.report.external_etcd);
    for ca in inventory::cas(!stacked) {
        let rotation = rotation(nodes, ca);
        same_ca(nodes, ca, rotation.as_ref(), &mut rows);
        if let Some(r) = &rotation {
            rotation_row(ca, r, &mut rows);
        }
    }
    let sa = sa_rotation(nodes);
    same_sa(nodes, sa.as_ref(), &mut rows);
    if let Some(r) = &sa {
        sa_rotation_row(r, &mut rows);
    }
    for (i, (name, files)) in nodes.iter().enumerate() {
        apiserver_sans(
            name,
            files,
            &reports[i].identity,
            endpoint.as_ref(),
            &mut rows,
        );
        servers(i, nodes, &reports, endpoint.as_ref(), &mut rows);
        for ca in inventory::cas(!stacked) {
            leaves_trusted(i, nodes, ca, &mut rows);
        }
        for e in &reports[i].report.errors {
            rows.push(
                Status::Fail,
                format!("{name}/{}", e.path),
                CheckId::Read,
                e.kind.to_string(),
            );
        }
    }
    let soonest = soonest_row(nodes, opts.thresholds, now, &mut rows);
    Ok(Fleet {
        now,
        endpoint,
        nodes: reports,
        soonest,
        verification: Verification {
            now,
            node_name: None,
            checks: rows.0,
        },
    })
}

/// The server of a kubeconfig's current context.
fn server_of(files: &NodeFiles, file: &str) -> Option<Result<String, String>> {
    let bytes = match node_loader::read(files, &NodePath::kubeconfig(file)) {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => return Some(Err(e.kind.to_string())),
    };
    Some(
        Kubeconfig::parse(bytes)
            .and_then(|k| k.current())
            .map_err(|e| e.to_string())
            .and_then(|c| {
                c.server
                    .ok_or_else(|| "its cluster has no server".to_string())
            }),
    )
}

/// The endpoint: given, or the server of `admin.conf` on more than half the nodes.
fn endpoint_row(
    nodes: &[(String, NodeFiles)],
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
    for (name, files) in nodes {
        if let Some(Ok(server)) = server_of(files, "admin.conf")
            && let Some(e) = Endpoint::parse(&server)
        {
            match seen.iter_mut().find(|(s, _)| *s == e) {
                Some((_, names)) => names.push(name),
                None => seen.push((e, vec![name])),
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

/// The node names a node's files state, each with the file that states it: the
/// CN of the etcd server and peer certificates (kubeadm sets it to the node
/// name) and `system:node:NAME` of kubelet.conf's embedded client certificate.
fn stated_names(files: &NodeFiles) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for (row, file) in [
        ("etcd-server", "etcd/server.crt"),
        ("etcd-peer", "etcd/peer.crt"),
    ] {
        if let Some(cn) = inventory::row(row)
            .and_then(|r| node_loader::load_row_certificate(files, r).ok().flatten())
            .and_then(|c| c.common_name)
        {
            out.push((cn, file));
        }
    }
    let kubelet = node_loader::read(files, &NodePath::kubeconfig("kubelet.conf"))
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
fn per_node_leaves(files: &NodeFiles) -> Vec<(String, Vec<u8>)> {
    inventory::rows(node_loader::is_external_etcd(files))
        .filter_map(|row| {
            let cert = node_loader::load_row_certificate(files, row)
                .ok()
                .flatten()?;
            let file = match row.location {
                inventory::Location::CertDir { base } => format!("pki/{base}.crt"),
                inventory::Location::Kubeconfig { file } => file.to_string(),
            };
            Some((file, cert.der))
        })
        .collect()
}

/// Two inputs that are one node (the same node name, or the same per-node
/// certificate) fail: every other row would compare that node with itself and
/// look consistent.
fn distinct_nodes(nodes: &[(String, NodeFiles)], rows: &mut Rows) {
    if nodes.len() < 2 {
        return;
    }
    let names: Vec<Vec<(String, &str)>> = nodes.iter().map(|(_, f)| stated_names(f)).collect();
    let leaves: Vec<Vec<(String, Vec<u8>)>> =
        nodes.iter().map(|(_, f)| per_node_leaves(f)).collect();
    let mut failed = false;
    for j in 1..nodes.len() {
        for i in 0..j {
            let (a, b) = (&nodes[i].0, &nodes[j].0);
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
            .map(|((n, _), stated)| match stated.first() {
                Some((name, _)) if name != n => format!("{n} ({name})"),
                Some(_) => n.clone(),
                None => format!("{n} (no node name in its files)"),
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

/// Groups nodes by a value; `None` values (missing or unreadable) are kept apart.
fn groups<V: PartialEq>(items: Vec<(&str, Option<V>)>) -> (Vec<(V, Vec<&str>)>, Vec<&str>) {
    let mut out: Vec<(V, Vec<&str>)> = Vec::new();
    let mut absent = Vec::new();
    for (name, v) in items {
        match v {
            None => absent.push(name),
            Some(v) => match out.iter_mut().find(|(x, _)| *x == v) {
                Some((_, names)) => names.push(name),
                None => out.push((v, vec![name])),
            },
        }
    }
    (out, absent)
}

fn ca_file_certs(files: &NodeFiles, ca: Ca) -> Option<Vec<Certificate>> {
    let bytes = node_loader::read(files, &NodePath::cert(ca.cert_file()))
        .ok()
        .flatten()?;
    certificate::parse_all(bytes).ok().filter(|c| !c.is_empty())
}

fn short(cert: &Certificate) -> String {
    format!(
        "CN={} serial {}",
        cert.common_name.as_deref().unwrap_or(""),
        cert.serial
    )
}

fn same_ca(
    nodes: &[(String, NodeFiles)],
    ca: Ca,
    rotation: Option<&Rotation<'_>>,
    rows: &mut Rows,
) {
    let name = ca.name();
    let certs: Vec<(&str, Option<Vec<Certificate>>)> = nodes
        .iter()
        .map(|(n, f)| (n.as_str(), ca_file_certs(f, ca)))
        .collect();
    let ders: Vec<(&str, Option<Vec<Vec<u8>>>)> = certs
        .iter()
        .map(|(n, c)| {
            (
                *n,
                c.as_ref()
                    .map(|c| c.iter().map(|x| x.der.clone()).collect()),
            )
        })
        .collect();
    let (found, absent) = groups(ders);
    let file = format!("pki/{}", ca.cert_file());
    let describe = |der: &Vec<Vec<u8>>| -> String {
        certs
            .iter()
            .filter_map(|(_, c)| c.as_ref())
            .find(|c| c.iter().map(|x| &x.der).eq(der.iter()))
            .map(|c| c.iter().map(short).collect::<Vec<_>>().join(" + "))
            .unwrap_or_default()
    };
    let rotating = rotation.filter(|r| r.consistent());
    if found.len() == 1 && absent.is_empty() {
        rows.push(
            Status::Pass,
            name.into(),
            CheckId::SameCert,
            format!(
                "{file} is the same on every node ({})",
                describe(&found[0].0)
            ),
        );
    } else if let Some(r) = rotating.filter(|r| {
        absent.is_empty()
            && found
                .iter()
                .all(|(d, _)| d.iter().all(|x| *x == r.old.der || *x == r.new.der))
    }) {
        let parts: Vec<String> = found
            .iter()
            .map(|(d, n)| {
                let which: Vec<&str> = d
                    .iter()
                    .map(|x| if *x == r.new.der { "new" } else { "old" })
                    .collect();
                format!("{}: {}", n.join(", "), which.join(" + "))
            })
            .collect();
        rows.push(
            Status::Pass,
            name.into(),
            CheckId::SameCert,
            format!(
                "{file} holds only the rotation's old and new CA on every node ({}); the ca-rotation row says whether the phases fit",
                parts.join("; ")
            ),
        );
    } else {
        let mut parts: Vec<String> = found
            .iter()
            .map(|(d, n)| format!("{}: {}", n.join(", "), describe(d)))
            .collect();
        if !absent.is_empty() {
            parts.push(format!("{} cannot load it", absent.join(", ")));
        }
        rows.push(
            Status::Fail,
            name.into(),
            CheckId::SameCert,
            format!(
                "{file} differs between nodes ({}): nodes reject what the others sign; copy one CA to every node",
                parts.join("; ")
            ),
        );
    }

    // Per node: `None` when the key is absent, `Some(None)` when it does not load.
    type Key = Option<Option<Vec<u8>>>;
    let keys: Vec<(&str, Key)> = nodes
        .iter()
        .map(|(n, f)| {
            let key = match node_loader::read(f, &NodePath::cert(ca.key_file())) {
                Ok(None) => None,
                Ok(Some(b)) => Some(PrivateKey::public_key_bits_of(b).ok()),
                Err(_) => Some(None),
            };
            (n.as_str(), key)
        })
        .collect();
    let without: Vec<&str> = keys
        .iter()
        .filter(|(_, k)| k.is_none())
        .map(|(n, _)| *n)
        .collect();
    let broken: Vec<&str> = keys
        .iter()
        .filter(|(_, k)| matches!(k, Some(None)))
        .map(|(n, _)| *n)
        .collect();
    let (found, _) = groups(keys.into_iter().map(|(n, k)| (n, k.flatten())).collect());
    let key_file = format!("pki/{}", ca.key_file());
    let rotation_keys = rotating.filter(|r| {
        found.len() == 2
            && found
                .iter()
                .all(|(k, _)| *k == r.old.public_key_bits() || *k == r.new.public_key_bits())
    });
    let (status, reason) = if !broken.is_empty() {
        (
            Status::Fail,
            format!(
                "{key_file} cannot be read or parsed on {}",
                broken.join(", ")
            ),
        )
    } else if found.is_empty() {
        (Status::Pass, format!("external CA: no node has {key_file}"))
    } else if let Some(r) = rotation_keys {
        let on = |new: bool| {
            found
                .iter()
                .find(|(k, _)| (*k == r.new.public_key_bits()) == new)
                .map(|(_, n)| n.join(", "))
                .unwrap_or_default()
        };
        (
            Status::Pass,
            format!(
                "{key_file} is the old CA's key on {} and the new CA's on {} (the rotation's phases; see ca-rotation)",
                on(false),
                on(true)
            ),
        )
    } else if found.len() > 1 {
        let parts: Vec<String> = found
            .iter()
            .enumerate()
            .map(|(i, (_, n))| format!("key {} on {}", i + 1, n.join(", ")))
            .collect();
        (
            Status::Fail,
            format!(
                "{key_file} differs between nodes ({}): a certificate renewed on one node is rejected by the others",
                parts.join("; ")
            ),
        )
    } else if !without.is_empty() {
        (
            Status::Warn,
            format!(
                "{key_file} is on {} but not on {}: renew cannot sign there (kubeadm treats the CA as external)",
                found[0].1.join(", "),
                without.join(", ")
            ),
        )
    } else {
        (
            Status::Pass,
            format!("{key_file} is the same key on every node"),
        )
    };
    rows.push(status, name.into(), CheckId::SameKey, reason);
}

/// Where one node stands in a rotation, as the fleet compares nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    /// No `<ca>.new.crt` here; the CA file is the old CA alone.
    NotPrepared,
    /// `prepared`, `trusted` or `reissued`, as `kcerts ca status` reads it.
    Under(Phase),
    /// The CA file is the new CA alone (`finish` done; `.new` copies may remain).
    Finished,
}

impl Place {
    fn name(self) -> &'static str {
        match self {
            Place::NotPrepared => "not prepared",
            Place::Under(p) => p.name(),
            Place::Finished => "finished",
        }
    }

    /// The next phase to run on a node here, for the messages.
    fn next(self, ca: Ca, nodes: &str) -> Option<String> {
        let n = ca.name();
        let base = ca.base();
        Some(match self {
            Place::NotPrepared => format!(
                "copy pki/{base}.new.crt and pki/{base}.new.key to {nodes}, then `kcerts ca rotate trust --ca {n} --apply` there"
            ),
            Place::Under(Phase::Prepared) => {
                format!("`kcerts ca rotate trust --ca {n} --apply` on {nodes}")
            }
            Place::Under(Phase::Trusted) => {
                format!("`kcerts ca rotate reissue --ca {n} --apply` on {nodes}")
            }
            Place::Under(Phase::Reissued) => {
                format!("`kcerts ca rotate finish --ca {n} --apply` on {nodes}")
            }
            Place::Under(Phase::Idle) | Place::Finished => return None,
        })
    }
}

/// One node in a rotation.
struct NodePlace<'a> {
    node: &'a str,
    place: Place,
    /// It signs with the new key or holds a leaf of the new CA.
    presents_new: bool,
    /// It signs with the old key or holds a leaf of the old CA.
    presents_old: bool,
    /// Its trust points without the new CA.
    lacks_new: Vec<String>,
    /// Its trust points without the old CA.
    lacks_old: Vec<String>,
}

/// A rotation of one CA under way on the fleet: a node holds `<ca>.new.crt`.
/// The old and new CA are the first such node's.
struct Rotation<'a> {
    old: Certificate,
    new: Certificate,
    places: Vec<NodePlace<'a>>,
    /// Nodes whose `<ca>.new.crt` or `<ca>.new.key` is not the first node's.
    other_new: Vec<&'a str>,
    /// Nodes whose CA file is neither (same-cert says what it is).
    unknown: Vec<&'a str>,
}

impl Rotation<'_> {
    /// Every node is somewhere in this one rotation.
    fn consistent(&self) -> bool {
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
fn rotation(nodes: &[(String, NodeFiles)], ca: Ca) -> Option<Rotation<'_>> {
    let statuses: Vec<(&str, &NodeFiles, Option<ca_phase::Status>)> = nodes
        .iter()
        .map(|(n, f)| (n.as_str(), f, ca_phase::status(f, ca).ok()))
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

/// A node in a rotation (of a CA or of the service-account key), as the one
/// outage rule of both reads it.
trait RotationNode {
    /// Where the node stands, ordered from the start of the rotation to its end.
    type Place: Copy + Ord;
    fn node(&self) -> &str;
    fn place(&self) -> Self::Place;
    fn place_name(&self) -> &'static str;
    /// It presents the new CA (signs with its key, holds its leaves), or signs
    /// tokens with the new key.
    fn presents_new(&self) -> bool;
    /// It presents the old CA, or signs tokens with the old key.
    fn presents_old(&self) -> bool;
    /// Every trust point trusts the new CA, or its apiserver accepts the new key.
    fn trusts_new(&self) -> bool;
    /// Every trust point trusts the old CA, or its apiserver accepts the old key.
    fn trusts_old(&self) -> bool;
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

/// What a rotation's nodes amount to, by the rule both rotations follow.
enum Verdict<'a, N: RotationNode> {
    /// `presenters` present the new CA or key where `lacking` do not trust it yet:
    /// an outage.
    NewUntrusted {
        presenters: Vec<&'a N>,
        lacking: Vec<&'a N>,
    },
    /// `dropping` no longer trust the old CA or key while `presenters` still
    /// present it: an outage.
    OldDropped {
        dropping: Vec<&'a N>,
        presenters: Vec<&'a N>,
    },
    /// Every node trusts what the others present. `least` is the place furthest
    /// behind and `behind` the nodes there; `dropped_old` is whether some node
    /// no longer trusts the old CA or key.
    Safe {
        least: Option<N::Place>,
        behind: Vec<&'a N>,
        one_place: bool,
        dropped_old: bool,
    },
}

fn verdict<N: RotationNode>(nodes: &[N]) -> Verdict<'_, N> {
    let those = |f: &dyn Fn(&N) -> bool| nodes.iter().filter(|n| f(n)).collect::<Vec<_>>();
    let presenters = those(&|n| n.presents_new());
    let lacking = those(&|n| !n.trusts_new());
    if !presenters.is_empty() && !lacking.is_empty() {
        return Verdict::NewUntrusted {
            presenters,
            lacking,
        };
    }
    let dropping = those(&|n| !n.trusts_old());
    let presenters = those(&|n| n.presents_old());
    if !dropping.is_empty() && !presenters.is_empty() {
        return Verdict::OldDropped {
            dropping,
            presenters,
        };
    }
    let least = nodes.iter().map(N::place).min();
    let behind = those(&|n| Some(n.place()) == least);
    Verdict::Safe {
        least,
        one_place: behind.len() == nodes.len(),
        behind,
        dropped_old: !dropping.is_empty(),
    }
}

/// `cp-1, cp-2 (reissued)`: nodes with their places.
fn with_places<P: RotationNode>(places: &[&P]) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for p in places {
        match groups.iter_mut().find(|(pl, _)| *pl == p.place_name()) {
            Some((_, n)) => n.push(p.node()),
            None => groups.push((p.place_name(), vec![p.node()])),
        }
    }
    groups
        .iter()
        .map(|(pl, n)| format!("{} ({pl})", n.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names<P: RotationNode>(places: &[&P]) -> String {
    places
        .iter()
        .map(|p| p.node())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `ca-rotation` row of a rotation under way.
fn rotation_row(ca: Ca, r: &Rotation<'_>, rows: &mut Rows) {
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
                "{} no longer trust the old {n} CA but {} still present certificates signed by it: those are rejected; run `kcerts ca rotate reissue --ca {n} --apply` on {} (or `kcerts restore` the finish on {})",
                with_places(&dropping),
                with_places(&presenters),
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

fn same_sa(nodes: &[(String, NodeFiles)], rotation: Option<&SaRotation<'_>>, rows: &mut Rows) {
    for (file, check, what) in [
        (
            "sa.key",
            CheckId::SameKey,
            "service-account tokens signed on one node fail on the others",
        ),
        (
            "sa.pub",
            CheckId::SamePub,
            "tokens are checked against a different key on each node",
        ),
    ] {
        let values: Vec<(&str, Option<Vec<u8>>)> = nodes
            .iter()
            .map(|(n, f)| (n.as_str(), sa_phase::key_bits(f, file)))
            .collect();
        let (found, absent) = groups(values);
        let rotating = rotation.filter(|r| {
            r.consistent()
                && absent.is_empty()
                && found.iter().all(|(k, _)| *k == r.old || *k == r.new)
        });
        if found.len() == 1 && absent.is_empty() {
            rows.push(
                Status::Pass,
                "sa".into(),
                check,
                format!("pki/{file} is the same on every node"),
            );
        } else if let Some(r) = rotating {
            let on = |new: bool| {
                found
                    .iter()
                    .find(|(k, _)| (*k == r.new) == new)
                    .map(|(_, n)| n.join(", "))
                    .unwrap_or_default()
            };
            rows.push(
                Status::Pass,
                "sa".into(),
                check,
                format!(
                    "pki/{file} is the rotation's old key on {} and its new key on {} (the rotation's phases; see sa-rotation)",
                    on(false),
                    on(true)
                ),
            );
        } else {
            let mut parts: Vec<String> = found
                .iter()
                .enumerate()
                .map(|(i, (_, n))| format!("key {} on {}", i + 1, n.join(", ")))
                .collect();
            if !absent.is_empty() {
                parts.push(format!("missing or unreadable on {}", absent.join(", ")));
            }
            rows.push(
                Status::Fail,
                "sa".into(),
                check,
                format!(
                    "pki/{file} differs between nodes ({}): {what}; copy one pair to every node",
                    parts.join("; ")
                ),
            );
        }
    }
}

/// Where one node stands in a service-account key rotation, as the fleet
/// compares nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SaPlace {
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

    /// The next phase to run on a node here, for the messages.
    fn next(self, nodes: &str) -> Option<String> {
        Some(match self {
            SaPlace::NotPrepared => format!(
                "copy pki/sa.new.key and pki/sa.new.pub to {nodes}, then `kcerts sa rotate trust --apply` there"
            ),
            SaPlace::Under(SaPhase::Prepared) => {
                format!("`kcerts sa rotate trust --apply` on {nodes}")
            }
            SaPlace::Under(SaPhase::Trusted) => {
                format!("`kcerts sa rotate switch --apply` on {nodes}")
            }
            SaPlace::Under(SaPhase::Switched) => format!(
                "once every token signed by the old key is replaced (bound tokens within their lifetime, 1h by default), `kcerts sa rotate finish --apply` on {nodes}"
            ),
            SaPlace::Under(SaPhase::Idle) | SaPlace::Finished => return None,
        })
    }
}

/// One node in a service-account key rotation.
struct SaNode<'a> {
    node: &'a str,
    place: SaPlace,
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
struct SaRotation<'a> {
    old: Vec<u8>,
    new: Vec<u8>,
    nodes: Vec<SaNode<'a>>,
    /// Nodes whose `sa.new.key` or `sa.new.pub` is not the first node's.
    other_new: Vec<&'a str>,
    /// Nodes whose phase cannot be read, with why.
    unknown: Vec<(&'a str, String)>,
}

impl SaRotation<'_> {
    /// Every node is somewhere in this one rotation.
    fn consistent(&self) -> bool {
        self.other_new.is_empty() && self.unknown.is_empty()
    }
}

/// The service-account key rotation on the nodes, read with `kcerts sa status`'s rules.
fn sa_rotation(nodes: &[(String, NodeFiles)]) -> Option<SaRotation<'_>> {
    let pair = |f: &NodeFiles| {
        (
            sa_phase::key_bits(f, sa_phase::NEW_PUB),
            sa_phase::key_bits(f, sa_phase::NEW_KEY),
        )
    };
    let (first_files, new) = nodes.iter().find_map(|(_, f)| {
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
    for (node, files) in nodes {
        let node = node.as_str();
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

/// The `sa-rotation` row of a service-account key rotation under way.
fn sa_rotation_row(r: &SaRotation<'_>, rows: &mut Rows) {
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
                "pki/sa.new.key or pki/sa.new.pub differs between nodes ({} hold one new key; {} another): `prepare` ran on more than one node; keep one node's pair, copy it to the others and run `kcerts sa rotate trust --apply` again there",
                same.join(", "),
                r.other_new.join(", ")
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
                "the apiservers of {} no longer accept tokens signed by the old service-account key but {} still sign with it: those tokens are rejected; run `kcerts sa rotate switch --apply` on {} (or `kcerts restore` the finish on {}){unknown}",
                with_places(&dropping),
                with_places(&presenters),
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

fn apiserver_sans(
    name: &str,
    files: &NodeFiles,
    id: &Identity,
    endpoint: Option<&Endpoint>,
    rows: &mut Rows,
) {
    let target = format!("{name}/apiserver");
    let Some(row) = inventory::row("apiserver") else {
        return;
    };
    let cert = match node_loader::load_row_certificate(files, row) {
        Ok(Some(c)) => c,
        // Missing or unreadable: the read row or check-expiration says so.
        _ => return,
    };
    let mut missing = Vec::new();
    if let Some(e) = endpoint
        && !e.in_sans(&cert)
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
const KUBECONFIGS: [&str; 5] = [
    "admin.conf",
    "controller-manager.conf",
    "kubelet.conf",
    "scheduler.conf",
    "super-admin.conf",
];

fn servers(
    i: usize,
    nodes: &[(String, NodeFiles)],
    reports: &[NodeReport],
    endpoint: Option<&Endpoint>,
    rows: &mut Rows,
) {
    let (name, files) = &nodes[i];
    let id = &reports[i].identity;
    for file in KUBECONFIGS {
        let target = format!("{name}/{file}");
        let server = match server_of(files, file) {
            None => continue,
            Some(Err(e)) => {
                // A kubeconfig of the inventory that does not parse already has a read row.
                if inventory::row(file).is_none() {
                    rows.push(Status::Fail, target, CheckId::Read, e);
                }
                continue;
            }
            Some(Ok(s)) => s,
        };
        let Some(host) = Endpoint::parse(&server) else {
            rows.push(
                Status::Fail,
                target,
                CheckId::Server,
                format!("server {server:?} is not an https:// URL"),
            );
            continue;
        };
        let loopback = host.host == "localhost" || host.ip().is_some_and(|ip| ip.is_loopback());
        let other = reports
            .iter()
            .enumerate()
            .find(|(j, r)| *j != i && r.identity.is(&host))
            .map(|(_, r)| r.name.as_str());
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

/// Every leaf of node `i` signed by `ca` must chain to `ca` on every node: a leaf
/// signed by a CA that another node does not have is rejected there.
fn leaves_trusted(i: usize, nodes: &[(String, NodeFiles)], ca: Ca, rows: &mut Rows) {
    let (name, files) = &nodes[i];
    let external_etcd = node_loader::is_external_etcd(files);
    let leaves: Vec<(&str, Certificate)> = inventory::rows(external_etcd)
        .filter(|r| r.ca == ca)
        .filter_map(|r| {
            node_loader::load_row_certificate(files, r)
                .ok()
                .flatten()
                .map(|c| (r.name, c))
        })
        .collect();
    if leaves.is_empty() {
        return;
    }
    // Nodes whose CA does not load are reported by same-cert, not here.
    let bundles: Vec<(&str, Vec<Certificate>)> = nodes
        .iter()
        .filter_map(|(n, f)| ca_file_certs(f, ca).map(|c| (n.as_str(), c)))
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

fn soonest_row(
    nodes: &[(String, NodeFiles)],
    th: Thresholds,
    now: OffsetDateTime,
    rows: &mut Rows,
) -> Option<Soonest> {
    let mut best: Option<(&str, &str, Certificate)> = None;
    for (name, files) in nodes {
        let external_etcd = node_loader::is_external_etcd(files);
        let mut certs: Vec<(&str, Certificate)> = Vec::new();
        for row in inventory::rows(external_etcd) {
            if let Ok(Some(c)) = node_loader::load_row_certificate(files, row) {
                certs.push((row.name, c));
            }
        }
        for ca in inventory::cas(external_etcd) {
            if let Some(c) = node_loader::load_ca(files, ca, &mut Vec::new()).cert {
                certs.push((ca.name(), c));
            }
        }
        for (row, cert) in certs {
            if best
                .as_ref()
                .is_none_or(|(_, _, b)| cert.not_after < b.not_after)
            {
                best = Some((name, row, cert));
            }
        }
    }
    let Some((node, row, cert)) = best else {
        rows.push(
            Status::Fail,
            "cluster".into(),
            CheckId::SoonestExpiry,
            "no certificate loaded on any node".into(),
        );
        return None;
    };
    let (status, reason) = verify::expiry(&cert, now, th);
    rows.push(
        status,
        "cluster".into(),
        CheckId::SoonestExpiry,
        format!("{node}/{row} {reason}"),
    );
    Some(Soonest {
        node: node.to_string(),
        name: row.to_string(),
        expiration_date: cert.not_after,
        residual_seconds: cert.residual_seconds(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;
    use crate::issue::pki::{self, PkiOptions};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC); // 2026-03-01

    fn opts(node: &str, last: u8) -> PkiOptions {
        PkiOptions {
            node_name: node.into(),
            advertise_address: IpAddr::from([192, 168, 10, last]),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            ..PkiOptions::example()
        }
    }

    /// Three nodes of one cluster, as `kubeadm join --control-plane` makes them.
    fn cluster() -> Vec<(String, NodeFiles)> {
        let mut rng = crate::seeded_rng(11);
        let first =
            NodeFiles::from_generated(&pki::generate(&opts("cp-1", 11), NOW, &mut rng).unwrap());
        let mut out = vec![("cp-1".to_string(), first.clone())];
        for (n, last) in [("cp-2", 12), ("cp-3", 13)] {
            let node = pki::generate_joined(&opts(n, last), &first, NOW, &mut rng).unwrap();
            out.push((n.to_string(), NodeFiles::from_generated(&node)));
        }
        out
    }

    fn run(nodes: &[(String, NodeFiles)]) -> Fleet {
        check(nodes, &Options::default(), NOW).unwrap()
    }

    fn find<'a>(f: &'a Fleet, target: &str, check: &str) -> &'a Check {
        f.verification
            .checks
            .iter()
            .find(|c| c.target == target && c.check.as_str() == check)
            .unwrap_or_else(|| panic!("no {target} {check} in {:#?}", f.verification.checks))
    }

    fn not_pass(f: &Fleet) -> Vec<&Check> {
        f.verification
            .checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .collect()
    }

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
        let again = pki::generate_joined(&opts("cp-2", 12), &nodes[0].1, NOW, &mut rng).unwrap();
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

    #[test]
    fn a_different_ca_on_one_node() {
        let mut nodes = cluster();
        let other = NodeFiles::from_generated(
            &pki::generate(&opts("cp-3", 13), NOW, &mut crate::seeded_rng(99)).unwrap(),
        );
        nodes[2].1 = other;
        let f = run(&nodes);
        let row = find(&f, "ca", "same-cert");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason.contains("(cp-1, cp-2: CN=kubernetes"),
            "{}",
            row.reason
        );
        assert!(
            row.reason.contains("; cp-3: CN=kubernetes"),
            "{}",
            row.reason
        );
        assert_eq!(find(&f, "ca", "same-key").status, Status::Fail);
        assert_eq!(find(&f, "sa", "same-key").status, Status::Fail);
        let row = find(&f, "cp-3/ca", "leaves-trusted");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason.contains("apiserver (not by cp-1, cp-2)"),
            "{}",
            row.reason
        );
        assert_eq!(
            find(&f, "cp-1/etcd-ca", "leaves-trusted").status,
            Status::Fail
        );
    }

    #[test]
    fn a_rotated_ca_bundle_trusts_both_and_is_flagged_as_different() {
        let mut nodes = cluster();
        let extra = pki::generate(&opts("x", 1), NOW, &mut crate::seeded_rng(5)).unwrap();
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

    const SA_API: &str = "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --service-account-issuer=https://kubernetes.default.svc.cluster.local\n    - --service-account-key-file=/etc/kubernetes/pki/sa.pub\n    - --service-account-signing-key-file=/etc/kubernetes/pki/sa.key\n    name: kube-apiserver\n";
    const SA_KCM: &str = "spec:\n  containers:\n  - command:\n    - kube-controller-manager\n    - --service-account-private-key-file=/etc/kubernetes/pki/sa.key\n    name: kube-controller-manager\n";

    /// The cluster with kubeadm's two manifests that name the sa files.
    fn sa_cluster() -> Vec<(String, NodeFiles)> {
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

    fn sa_step(nodes: &mut [(String, NodeFiles)], i: usize, step: crate::sa_rotation::SaStep) {
        use crate::ca_rotation::apply_in_memory;
        let f = &nodes[i].1;
        let plan =
            crate::sa_rotation::plan_step(f, step, &mut crate::seeded_rng(60 + i as u64)).unwrap();
        nodes[i].1 = apply_in_memory(f, &plan);
    }

    /// Copies node 0's new sa pair to node `i`, as the operator does after prepare.
    fn sa_copy_new(nodes: &mut [(String, NodeFiles)], i: usize) {
        for name in [sa_phase::NEW_KEY, sa_phase::NEW_PUB] {
            let p = NodePath::cert(name);
            let f = nodes[0].1.files[&p].clone();
            nodes[i].1.files.insert(p, f);
        }
    }

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

    #[test]
    fn sa_key_apiserver_sans_and_servers() {
        let mut nodes = cluster();
        let other = NodeFiles::from_generated(
            &pki::generate(&opts("cp-2", 12), NOW, &mut crate::seeded_rng(98)).unwrap(),
        );
        // A different sa.key on cp-2.
        let sa = NodePath::cert("sa.key");
        nodes[1]
            .1
            .files
            .insert(sa.clone(), other.files[&sa].clone());
        // cp-3's apiserver without the endpoint (made for another endpoint).
        let mut o = opts("cp-3", 13);
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
                ..opts("cp-1", 11)
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

    #[test]
    fn soonest_and_read_errors() {
        let mut nodes = cluster();
        nodes[1]
            .1
            .insert(NodePath::cert("front-proxy-client.crt"), b"junk".to_vec());
        nodes[2].1.files.clear();
        let f = check(&nodes, &Options::default(), NOW + time::Duration::days(360)).unwrap();
        let row = find(&f, "cluster", "soonest-expiry");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason.starts_with("cp-1/admin.conf expires on"),
            "{}",
            row.reason
        );
        assert_eq!(
            find(&f, "cp-2/pki/front-proxy-client.crt", "read").status,
            Status::Fail
        );
        assert_eq!(find(&f, "ca", "same-cert").status, Status::Fail);
        assert!(
            find(&f, "ca", "same-cert")
                .reason
                .contains("cp-3 cannot load it")
        );
        assert!(
            find(&f, "sa", "same-pub")
                .reason
                .contains("missing or unreadable on cp-3")
        );
        let none = vec![("x".to_string(), NodeFiles::default())];
        let f = run(&none);
        assert_eq!(f.soonest, None);
        assert_eq!(find(&f, "cluster", "soonest-expiry").status, Status::Fail);
    }

    #[test]
    fn endpoints_parse() {
        let e = |s: &str| Endpoint::parse(s);
        assert_eq!(
            e("https://K8s.Example:6443/x").unwrap().to_string(),
            "k8s.example:6443"
        );
        assert_eq!(e("[fd00::1]:6443").unwrap().host, "fd00::1");
        assert_eq!(e("fd00::1").unwrap().port, None);
        assert_eq!(e("10.0.0.1").unwrap().port, None);
        assert_eq!(e("host:x"), None);
        assert_eq!(e(""), None);
        assert!(e("lb").unwrap().matches(&e("https://lb:6443").unwrap()));
        assert!(!e("lb:443").unwrap().matches(&e("https://lb:6443").unwrap()));
    }
}
