//! `kcerts verify --live`: what each control-plane endpoint serves, compared
//! with the node's files. The CLI connects and hands over what it saw; the rules
//! deciding pass, warn and fail are here.
//!
//! - apiserver, etcd-server, etcd-peer: the served leaf must be the node's file
//!   (`pki/apiserver.crt`, `pki/etcd/server.crt`, `pki/etcd/peer.crt`), unexpired
//!   and chaining to its CA. Another leaf means the process started before the
//!   file was renewed: restart it.
//! - controller-manager, scheduler: kubeadm gives them no serving certificate, so
//!   they make a self-signed one when they start, named `localhost@<unix time>`
//!   (client-go's `GenerateSelfSignedCertKey`). That time is when the process
//!   started; a process started before its kubeconfig was last written still uses
//!   the old client certificate (the files it holds are `reload::held_after_renewal`'s,
//!   the rule `renew --restart` follows). With `--tls-cert-file` in the manifest,
//!   the file it names is compared instead.
//! - kubelet: its serving certificate file (`/var/lib/kubelet/pki/kubelet.crt` or
//!   `kubelet-server-current.pem`) when the CLI found one.
//! - an endpoint that does not answer is a warning: kcerts cannot tell.

use serde::Serialize;
use time::OffsetDateTime;

use crate::check::verify::{Check, CheckId, Status};
use crate::kubeadm::endpoint::join_host_port;
use crate::kubeadm::inventory::Ca;
use crate::kubeadm::node::{FileContent, NodeFiles, NodePath};
use crate::kubeadm::node_loader;
use crate::kubeadm::reload;
use crate::kubeadm::residual::{format_date, format_instant};
use crate::kubeadm::static_pod::{Component, StaticPod};
use crate::x509::certificate::{self, Certificate};

/// A TLS endpoint of a control-plane node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    /// kube-apiserver, `:6443`.
    Apiserver,
    /// etcd's client listener, `:2379`.
    EtcdServer,
    /// etcd's peer listener, `:2380`.
    EtcdPeer,
    /// kube-controller-manager, `:10257`.
    ControllerManager,
    /// kube-scheduler, `:10259`.
    Scheduler,
    /// The kubelet, `:10250`.
    Kubelet,
}

impl Endpoint {
    /// Every endpoint, in report order.
    pub const ALL: [Endpoint; 6] = [
        Endpoint::Apiserver,
        Endpoint::EtcdServer,
        Endpoint::EtcdPeer,
        Endpoint::ControllerManager,
        Endpoint::Scheduler,
        Endpoint::Kubelet,
    ];

    /// The name used in `--endpoint NAME=HOST:PORT` and in the rows.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Apiserver => "apiserver",
            Endpoint::EtcdServer => "etcd-server",
            Endpoint::EtcdPeer => "etcd-peer",
            Endpoint::ControllerManager => "controller-manager",
            Endpoint::Scheduler => "scheduler",
            Endpoint::Kubelet => "kubelet",
        }
    }

    /// An endpoint by name.
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The static pod serving it (`None` for the kubelet).
    pub fn component(self) -> Option<Component> {
        match self {
            Endpoint::Apiserver => Some(Component::Apiserver),
            Endpoint::EtcdServer | Endpoint::EtcdPeer => Some(Component::Etcd),
            Endpoint::ControllerManager => Some(Component::ControllerManager),
            Endpoint::Scheduler => Some(Component::Scheduler),
            Endpoint::Kubelet => None,
        }
    }

    /// The endpoint a restart of `component` waits on (where its health path is served).
    pub fn of(component: Component) -> Endpoint {
        match component {
            Component::Etcd => Endpoint::EtcdServer,
            Component::Apiserver => Endpoint::Apiserver,
            Component::ControllerManager => Endpoint::ControllerManager,
            Component::Scheduler => Endpoint::Scheduler,
        }
    }

    /// The node file this endpoint serves, with the CA it must chain to.
    pub fn node_file(self) -> Option<(NodePath, Ca)> {
        match self {
            Endpoint::Apiserver => Some((NodePath::cert("apiserver.crt"), Ca::Ca)),
            Endpoint::EtcdServer => Some((NodePath::cert("etcd/server.crt"), Ca::EtcdCa)),
            Endpoint::EtcdPeer => Some((NodePath::cert("etcd/peer.crt"), Ca::EtcdCa)),
            _ => None,
        }
    }

    /// The renewable files the process behind a self-signed endpoint holds
    /// from its start until it restarts (`reload::held_after_renewal`: the
    /// controller-manager's and scheduler's kubeconfigs, whose client
    /// certificates they keep in memory).
    pub fn held_files(self) -> Vec<NodePath> {
        match self {
            Endpoint::ControllerManager | Endpoint::Scheduler => self
                .component()
                .map(reload::held_after_renewal)
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Where it listens, from its manifest's flags as the component reads them,
    /// else kubeadm's defaults (loopback, since kcerts runs on the node).
    pub fn default_address(self, pod: Option<&StaticPod>) -> String {
        let flag = |name: &str| pod.and_then(|p| p.flag(name));
        let loopback = |host: Option<&str>| match host {
            None | Some("") | Some("0.0.0.0") => "127.0.0.1".to_string(),
            Some("::") => "::1".to_string(),
            Some(h) => h.to_string(),
        };
        match self {
            Endpoint::Apiserver => join_host_port(
                &loopback(flag("advertise-address")),
                flag("secure-port").unwrap_or("6443"),
            ),
            Endpoint::EtcdServer => pod
                .and_then(|p| p.first_url_address("listen-client-urls"))
                .unwrap_or_else(|| "127.0.0.1:2379".into()),
            Endpoint::EtcdPeer => pod
                .and_then(|p| p.first_url_address("listen-peer-urls"))
                .unwrap_or_else(|| "127.0.0.1:2380".into()),
            Endpoint::ControllerManager => join_host_port(
                &loopback(flag("bind-address")),
                flag("secure-port").unwrap_or("10257"),
            ),
            Endpoint::Scheduler => join_host_port(
                &loopback(flag("bind-address")),
                flag("secure-port").unwrap_or("10259"),
            ),
            Endpoint::Kubelet => "127.0.0.1:10250".into(),
        }
    }
}

/// What connecting to an endpoint gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The certificate chain it served (DER, leaf first), read even when the
    /// handshake then failed (a server asking for a client certificate).
    Served(Vec<Vec<u8>>),
    /// No TLS server answered: refused, timed out, or the handshake failed before
    /// a certificate was seen. The reason.
    Unreachable(String),
}

/// A file the CLI read for an endpoint that serves no node file (the kubelet's
/// serving certificate, a `--tls-cert-file` of the controller-manager).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedFile {
    /// The path as shown to the user.
    pub shown: String,
    /// What reading it gave.
    pub content: FileContent,
}

/// One endpoint as the CLI saw it.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// `host:port` connected to.
    pub address: String,
    /// What it served.
    pub probe: Probe,
    /// The file to compare with, for endpoints without a node file.
    pub file: Option<ExpectedFile>,
}

/// What to check.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The node's files.
    pub files: &'a NodeFiles,
    /// Every endpoint probed.
    pub observed: &'a [Observed],
    /// When the kubeconfigs were last written (the CLI's file times).
    pub written: &'a [(NodePath, OffsetDateTime)],
    /// The moment to check for.
    pub now: OffsetDateTime,
}

/// The result for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// `host:port`.
    pub address: String,
    /// pass, warn or fail.
    pub status: Status,
    /// One line, without a trailing period.
    pub reason: String,
    /// Whether the process serves what is on disk: `None` when kcerts cannot tell.
    pub matches: Option<bool>,
    /// The served leaf's serial (lowercase hex), when one was served.
    pub serial: Option<String>,
}

impl Row {
    /// The row as a `kcerts verify` check (`target` the endpoint, `check` `live`).
    pub fn to_check(&self) -> Check {
        Check {
            status: self.status,
            target: self.endpoint.name().to_string(),
            check: CheckId::Live,
            reason: self.reason.clone(),
        }
    }
}

/// Checks every observed endpoint.
pub fn check(input: &Input<'_>) -> Vec<Row> {
    input.observed.iter().map(|o| check_one(input, o)).collect()
}

fn restart_hint(e: Endpoint) -> String {
    match e.component() {
        Some(c) => format!("restart {} (kcerts restart {})", c.pod_name(), c.name()),
        None => "restart the kubelet (systemctl restart kubelet)".into(),
    }
}

fn served_text(c: &Certificate) -> String {
    format!("serial {}, expires {}", c.serial, format_date(c.not_after))
}

fn check_one(input: &Input<'_>, o: &Observed) -> Row {
    let mut row = Row {
        endpoint: o.endpoint,
        address: o.address.clone(),
        status: Status::Warn,
        reason: String::new(),
        matches: None,
        serial: None,
    };
    let chain = match &o.probe {
        Probe::Unreachable(why) => {
            row.reason = format!(
                "{} does not answer ({why}): cannot tell what it serves",
                o.address
            );
            return row;
        }
        Probe::Served(chain) => chain,
    };
    let Some(leaf_der) = chain.first() else {
        row.status = Status::Fail;
        row.reason = format!("{} served no certificate", o.address);
        return row;
    };
    let leaf = match Certificate::from_der(leaf_der) {
        Ok(c) => c,
        Err(e) => {
            row.status = Status::Fail;
            row.reason = format!(
                "{} served a certificate kcerts cannot parse: {e}",
                o.address
            );
            return row;
        }
    };
    row.serial = Some(leaf.serial.clone());
    let expired = leaf.not_after <= input.now;

    // The file to compare with: the node's, or the one the CLI read.
    let (shown, content, ca) = match (o.endpoint.node_file(), &o.file) {
        (Some((path, ca)), _) => (path.to_string(), input.files.get(&path).cloned(), Some(ca)),
        (None, Some(f)) => (f.shown.clone(), Some(f.content.clone()), None),
        (None, None) => return self_signed(input, o, &leaf, row),
    };
    let on_disk = match content {
        Some(FileContent::Bytes(b)) => certificate::parse_first(&b).map_err(|e| e.to_string()),
        Some(FileContent::Unreadable(e)) => Err(e.to_string()),
        None => Err("it is missing".into()),
    };
    let on_disk = match on_disk {
        Ok(c) => c,
        Err(e) => {
            row.reason = format!(
                "serves {} ({}), but {shown} cannot be compared: {e}",
                leaf.subject,
                served_text(&leaf)
            );
            return row;
        }
    };
    if on_disk.der != leaf.der {
        row.status = Status::Fail;
        row.matches = Some(false);
        let what = if leaf.not_before < on_disk.not_before {
            format!("an older certificate than {shown}")
        } else {
            format!("another certificate than {shown}")
        };
        let expiry = if expired {
            format!(
                "serial {}, expired {}",
                leaf.serial,
                format_date(leaf.not_after)
            )
        } else {
            served_text(&leaf)
        };
        row.reason = format!("serves {what} ({expiry}): {}", restart_hint(o.endpoint));
        return row;
    }
    row.matches = Some(true);
    if expired {
        row.status = Status::Fail;
        row.reason = format!(
            "serves {shown} (serial {}), which expired on {}: renew it, then restart",
            leaf.serial,
            format_date(leaf.not_after)
        );
        return row;
    }
    if let Some(ca) = ca {
        let mut errors = Vec::new();
        let state = node_loader::load_ca(input.files, ca, &mut errors);
        let chained = state
            .cert
            .as_ref()
            .is_some_and(|ca_cert| leaf.verify_signed_by(ca_cert).is_ok());
        if !chained {
            row.status = Status::Fail;
            row.reason = format!(
                "serves {shown} (serial {}), which does not chain to pki/{}",
                leaf.serial,
                ca.cert_file()
            );
            return row;
        }
    }
    row.status = Status::Pass;
    row.reason = format!("serves {shown} ({})", served_text(&leaf));
    row
}

/// The start time client-go writes into a self-signed serving certificate's CN
/// (`localhost@1767225600`).
fn started_at(leaf: &Certificate) -> Option<OffsetDateTime> {
    let cn = leaf.common_name.as_deref()?;
    let (_, unix) = cn.rsplit_once('@')?;
    OffsetDateTime::from_unix_timestamp(unix.parse().ok()?).ok()
}

fn self_signed(input: &Input<'_>, o: &Observed, leaf: &Certificate, mut row: Row) -> Row {
    if leaf.not_after <= input.now {
        row.status = Status::Fail;
        row.reason = format!(
            "serves {} (serial {}), which expired on {}: {}",
            leaf.subject,
            leaf.serial,
            format_date(leaf.not_after),
            restart_hint(o.endpoint)
        );
        return row;
    }
    let Some(started) = started_at(leaf) else {
        row.reason = format!(
            "serves {} ({}), not a file kcerts knows: cannot tell when it started",
            leaf.subject,
            served_text(leaf)
        );
        return row;
    };
    // The held file written last.
    let held = o.endpoint.held_files();
    let last = input
        .written
        .iter()
        .filter(|(w, _)| held.contains(w))
        .max_by_key(|(_, t)| *t);
    let Some((conf, written)) = last.cloned() else {
        row.status = Status::Pass;
        row.reason = format!("started {}", format_instant(started));
        return row;
    };
    // The CN holds whole seconds: a start within the second the file was
    // written counts as after it.
    if started.unix_timestamp() < written.unix_timestamp() {
        row.status = Status::Fail;
        row.matches = Some(false);
        row.reason = format!(
            "started {}, before {conf} was written ({}): it still uses the old client \
             certificate; {}",
            format_instant(started),
            format_instant(written),
            restart_hint(o.endpoint)
        );
    } else {
        row.status = Status::Pass;
        row.matches = Some(true);
        row.reason = format!(
            "started {}, after {conf} was written ({})",
            format_instant(started),
            format_instant(written)
        );
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;
    use crate::test_support::{NOW, ecdsa_example_files};
    use time::macros::datetime;

    fn node(seed: u64) -> NodeFiles {
        ecdsa_example_files(NOW, seed)
    }

    fn der(files: &NodeFiles, rel: &str) -> Vec<u8> {
        let Some(FileContent::Bytes(b)) = files.get(&NodePath::cert(rel)) else {
            panic!("{rel}")
        };
        certificate::parse_first(b).unwrap().der
    }

    fn one(files: &NodeFiles, e: Endpoint, probe: Probe, now: OffsetDateTime) -> Row {
        let observed = [Observed {
            endpoint: e,
            address: "127.0.0.1:1".into(),
            probe,
            file: None,
        }];
        check(&Input {
            files,
            observed: &observed,
            written: &[],
            now,
        })
        .remove(0)
    }

    #[test]
    fn the_file_on_disk_passes_another_fails_with_a_restart_hint() {
        let files = node(1);
        let served = Probe::Served(vec![der(&files, "apiserver.crt")]);
        let r = one(&files, Endpoint::Apiserver, served, NOW);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.reason.starts_with("serves pki/apiserver.crt (serial "));
        assert_eq!(r.matches, Some(true));

        let other = node(2);
        let r = one(
            &files,
            Endpoint::EtcdServer,
            Probe::Served(vec![der(&other, "etcd/server.crt")]),
            NOW,
        );
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.matches, Some(false));
        assert!(
            r.reason.ends_with("restart etcd (kcerts restart etcd)"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn expired_unchained_and_unreachable() {
        let files = node(3);
        let served = Probe::Served(vec![der(&files, "etcd/peer.crt")]);
        let r = one(
            &files,
            Endpoint::EtcdPeer,
            served.clone(),
            NOW + time::Duration::days(400),
        );
        assert_eq!(r.status, Status::Fail);
        assert!(r.reason.contains("expired on"), "{}", r.reason);

        // The same leaf, but the node's etcd CA replaced by another one.
        let mut swapped = files.clone();
        let other = node(4);
        let ca = NodePath::cert("etcd/ca.crt");
        swapped.files.insert(ca.clone(), other.files[&ca].clone());
        let r = one(&swapped, Endpoint::EtcdPeer, served, NOW);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.reason.contains("does not chain to pki/etcd/ca.crt"),
            "{}",
            r.reason
        );

        let r = one(
            &files,
            Endpoint::Scheduler,
            Probe::Unreachable("connection refused".into()),
            NOW,
        );
        assert_eq!(r.status, Status::Warn);
        assert_eq!(r.matches, None);
        assert!(r.reason.contains("does not answer (connection refused)"));
    }

    #[test]
    fn self_signed_start_time_against_the_kubeconfig() {
        let files = node(5);
        let mut rng = crate::seeded_rng(9);
        let started = datetime!(2026-03-01 11:00 UTC);
        let ca = crate::issue::leaf::issue_ca(
            &format!("localhost-ca@{}", started.unix_timestamp()),
            KeyAlgorithm::EcdsaP256,
            started,
            &mut rng,
        )
        .unwrap();
        let leaf = crate::issue::leaf::issue(
            &crate::issue::leaf::LeafSpec {
                common_name: format!("localhost@{}", started.unix_timestamp()),
                extended_key_usage: vec![crate::x509::certificate::ExtendedKeyUsage::ServerAuth],
                ..Default::default()
            },
            &ca,
            &crate::issue::leaf::RenewOptions {
                key_algorithm: KeyAlgorithm::EcdsaP256,
                validity: time::Duration::days(365),
            },
            started,
            &mut rng,
        )
        .unwrap();
        let observed = [Observed {
            endpoint: Endpoint::ControllerManager,
            address: "127.0.0.1:10257".into(),
            probe: Probe::Served(vec![leaf.cert.der.clone(), ca.cert.der.clone()]),
            file: None,
        }];
        let conf = NodePath::kubeconfig("controller-manager.conf");
        let at = |written: OffsetDateTime| {
            check(&Input {
                files: &files,
                observed: &observed,
                written: &[(conf.clone(), written)],
                now: NOW,
            })
            .remove(0)
        };
        let r = at(started + time::Duration::seconds(1));
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.reason
                .contains("before controller-manager.conf was written")
        );
        let r = at(started + time::Duration::milliseconds(900));
        assert_eq!(r.status, Status::Pass, "within the same second: after");
        let r = at(started - time::Duration::hours(1));
        assert_eq!(r.status, Status::Pass);
        let text = crate::render::verify_output::live_to_prometheus(&[r]);
        assert!(text.contains(
            "kcerts_live_certificate_matches{endpoint=\"controller-manager\",address=\"127.0.0.1:10257\"} 1"
        ));
    }

    #[test]
    fn addresses_from_manifests() {
        let pod = StaticPod {
            name: "kube-apiserver".into(),
            command: vec![
                "kube-apiserver".into(),
                "--advertise-address=192.168.10.11".into(),
                "--secure-port=16443".into(),
            ],
        };
        assert_eq!(
            Endpoint::Apiserver.default_address(Some(&pod)),
            "192.168.10.11:16443"
        );
        assert_eq!(Endpoint::Apiserver.default_address(None), "127.0.0.1:6443");
        assert_eq!(Endpoint::Scheduler.default_address(None), "127.0.0.1:10259");
        assert_eq!(Endpoint::from_name("etcd-peer"), Some(Endpoint::EtcdPeer));
    }
}
