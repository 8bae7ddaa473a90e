//! The four control-plane components kubeadm runs as static pods, and what their
//! manifests (`/etc/kubernetes/manifests/*.yaml`, read as YAML) say about where
//! each one listens and which certificate it serves. Editing manifests is
//! `manifest`'s job.

use serde_json::Value;
use thiserror::Error;

use crate::kubeadm::endpoint;
use crate::kubeadm::node::{Dir, NodePath};

/// A control-plane component kubeadm runs as a static pod, in the order kcerts
/// restarts them (etcd first: the API server needs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// etcd (`etcd.yaml`).
    Etcd,
    /// kube-apiserver (`kube-apiserver.yaml`).
    Apiserver,
    /// kube-controller-manager (`kube-controller-manager.yaml`).
    ControllerManager,
    /// kube-scheduler (`kube-scheduler.yaml`).
    Scheduler,
}

impl Component {
    /// Every component, in restart order.
    pub const ALL: [Component; 4] = [
        Component::Etcd,
        Component::Apiserver,
        Component::ControllerManager,
        Component::Scheduler,
    ];

    /// The short name used on the command line: `etcd`, `apiserver`,
    /// `controller-manager`, `scheduler`.
    pub fn name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::Apiserver => "apiserver",
            Component::ControllerManager => "controller-manager",
            Component::Scheduler => "scheduler",
        }
    }

    /// The pod (and binary) name: `etcd`, `kube-apiserver`...
    pub fn pod_name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::Apiserver => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
        }
    }

    /// The manifest's file name in the manifests dir.
    pub fn manifest_file(self) -> String {
        format!("{}.yaml", self.pod_name())
    }

    /// A component by its short name or pod name.
    pub fn from_name(name: &str) -> Option<Component> {
        Component::ALL
            .into_iter()
            .find(|c| c.name() == name || c.pod_name() == name)
    }

    /// The health path kubeadm's liveness probe asks for.
    pub fn health_path(self) -> &'static str {
        match self {
            Component::Etcd => "/health",
            Component::Apiserver => "/livez",
            Component::ControllerManager | Component::Scheduler => "/healthz",
        }
    }

    /// Whether a health answer means healthy: `ok` for the Kubernetes
    /// components, `{"health":"true",...}` for etcd.
    pub fn healthy(self, status: u16, body: &str) -> bool {
        if status != 200 {
            return false;
        }
        match self {
            Component::Etcd => serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v.get("health").and_then(Value::as_str).map(|h| h == "true"))
                .unwrap_or(false),
            _ => body.trim() == "ok",
        }
    }
}

/// The components that load a node file when they start, as kubeadm's manifests
/// name it, so must restart to use a new version: the certificates and keys of
/// the API server, etcd and kube-controller-manager flags, the kubeconfigs of
/// the controller-manager and scheduler, and each component's own manifest
/// (`manifests/<pod>.yaml` in the kubeconfig dir). `admin.conf` and
/// `super-admin.conf` are for people; `kubelet.conf` is the kubelet's (not a
/// static pod); `etcd-healthcheck-client` is used by no process since kubeadm's
/// etcd probe moved to the plain HTTP metrics port (kubeadm 1.17). kcerts' own
/// rotation files: `pki/ca-signing.crt` is kube-controller-manager's signing
/// certificate while a CA rotation is under way; `ca.new.*` and `sa.new.*` are
/// loaded only once a manifest names them, and that manifest changes then.
pub fn loading(path: &NodePath) -> &'static [Component] {
    use Component::{Apiserver, ControllerManager, Etcd, Scheduler};
    let rel = path.rel.as_str();
    match path.dir {
        Dir::Kubeconfig => match rel {
            "controller-manager.conf" => &[ControllerManager],
            "scheduler.conf" => &[Scheduler],
            _ => match rel.strip_prefix("manifests/") {
                Some(file) => match Component::ALL
                    .iter()
                    .position(|c| c.manifest_file() == file)
                {
                    Some(i) => std::slice::from_ref(&Component::ALL[i]),
                    None => &[],
                },
                None => &[],
            },
        },
        Dir::Cert => {
            let base = rel
                .strip_suffix(".crt")
                .or_else(|| rel.strip_suffix(".key"))
                .or_else(|| rel.strip_suffix(".pub"))
                .unwrap_or(rel);
            match (base, rel) {
                (_, "ca.crt" | "front-proxy-ca.crt" | "sa.key") => &[Apiserver, ControllerManager],
                (_, "ca.key" | "ca-signing.crt") => &[ControllerManager],
                (_, "etcd/ca.crt") => &[Etcd, Apiserver],
                (_, "sa.pub") => &[Apiserver],
                (
                    "apiserver"
                    | "apiserver-etcd-client"
                    | "apiserver-kubelet-client"
                    | "front-proxy-client",
                    _,
                ) => &[Apiserver],
                ("etcd/server" | "etcd/peer", _) => &[Etcd],
                _ => &[],
            }
        }
    }
}

/// The components to restart after the files at `paths` changed (written or
/// removed), in restart order, once each.
pub fn to_restart_files<'a>(paths: impl IntoIterator<Item = &'a NodePath>) -> Vec<Component> {
    let mut out: Vec<Component> = paths
        .into_iter()
        .flat_map(|p| loading(p))
        .copied()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The components to restart after the certificates of kubeadm's rows `rows`
/// were renewed, in restart order, once each.
pub fn to_restart<'a>(rows: impl IntoIterator<Item = &'a str>) -> Vec<Component> {
    let paths: Vec<NodePath> = rows
        .into_iter()
        .filter_map(crate::kubeadm::inventory::row)
        .map(crate::kubeadm::node::certificate_path)
        .collect();
    to_restart_files(&paths)
}

/// Why a manifest could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StaticPodError {
    /// Not YAML.
    #[error("not YAML: {0}")]
    Yaml(String),
    /// No `spec.containers[0].command`.
    #[error("no spec.containers[0].command: not a static pod manifest as kubeadm writes it")]
    NoCommand,
}

/// The parts of a static pod manifest kcerts uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPod {
    /// `metadata.name`.
    pub name: String,
    /// The first container's command and args, in order.
    pub command: Vec<String>,
}

impl StaticPod {
    /// Parses a manifest (YAML or JSON).
    pub fn parse(bytes: &[u8]) -> Result<Self, StaticPodError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| StaticPodError::Yaml(format!("not UTF-8 text ({e})")))?;
        let doc = crate::kubeadm::yaml::parse(text, crate::kubeadm::yaml::Limits::default())
            .map_err(|e| StaticPodError::Yaml(e.to_string()))?;
        let container = doc
            .pointer("/spec/containers/0")
            .ok_or(StaticPodError::NoCommand)?;
        let strings = |key: &str| -> Vec<String> {
            container
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let mut command = strings("command");
        command.extend(strings("args"));
        if command.is_empty() {
            return Err(StaticPodError::NoCommand);
        }
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(Self { name, command })
    }

    /// The value of `--name=value` (or `--name value`); the last one wins, as
    /// with Go's flag package.
    pub fn flag(&self, name: &str) -> Option<&str> {
        let long = format!("--{name}");
        let mut found = None;
        let mut args = self.command.iter().peekable();
        while let Some(a) = args.next() {
            if let Some(v) = a.strip_prefix(&long) {
                if let Some(v) = v.strip_prefix('=') {
                    found = Some(v);
                } else if v.is_empty() {
                    found = args.peek().map(|s| s.as_str());
                }
            }
        }
        found
    }

    /// The `host:port` of the first URL of a comma-separated URL flag
    /// (`--listen-client-urls=https://127.0.0.1:2379,https://10.0.0.1:2379`).
    pub fn first_url_address(&self, name: &str) -> Option<String> {
        let url = self.flag(name)?.split(',').next()?.trim();
        let hostport = endpoint::authority(url);
        (!hostport.is_empty()).then(|| hostport.to_string())
    }
}

/// External etcd as a node's static pod manifests show it, when no kubeadm
/// configuration was read (issue 22 item 2): kubeadm's stacked etcd runs from
/// `etcd.yaml` and the API server reaches it on loopback
/// (`--etcd-servers=https://127.0.0.1:2379`). `Some(true)` when there is no
/// `etcd.yaml` and every `--etcd-servers` URL of the kube-apiserver manifest
/// names another host; `Some(false)` when `etcd.yaml` is there; `None` when
/// the manifests do not tell (no kube-apiserver manifest, or a loopback etcd
/// without `etcd.yaml`, as while a restart holds it away): the files decide.
pub fn external_etcd(apiserver: Option<&StaticPod>, etcd_manifest: bool) -> Option<bool> {
    if etcd_manifest {
        return Some(false);
    }
    let servers: Vec<&str> = apiserver?
        .flag("etcd-servers")?
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    let loopback = |url: &str| {
        let host = endpoint::host(endpoint::authority(url));
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    (!servers.is_empty() && !servers.iter().any(|u| loopback(u))).then_some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETCD: &str = "apiVersion: v1
kind: Pod
metadata:
  labels:
    component: etcd
    tier: control-plane
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=https://192.168.10.11:2379
    - --cert-file=/etc/kubernetes/pki/etcd/server.crt
    - --client-cert-auth=true
    - --listen-client-urls=https://127.0.0.1:2379,https://192.168.10.11:2379
    - --listen-peer-urls=https://192.168.10.11:2380
    - --name=cp-1
    image: registry.k8s.io/etcd:3.5.16-0
    name: etcd
";

    #[test]
    fn flags_and_urls() {
        let pod = StaticPod::parse(ETCD.as_bytes()).unwrap();
        assert_eq!(pod.name, "etcd");
        assert_eq!(pod.flag("name"), Some("cp-1"));
        assert_eq!(pod.flag("cert"), None, "a prefix is not a flag");
        assert_eq!(
            pod.first_url_address("listen-client-urls").as_deref(),
            Some("127.0.0.1:2379")
        );
        assert_eq!(
            pod.first_url_address("listen-peer-urls").as_deref(),
            Some("192.168.10.11:2380")
        );
    }

    #[test]
    fn not_a_manifest() {
        assert_eq!(
            StaticPod::parse(b"kind: Pod\nspec: {}\n"),
            Err(StaticPodError::NoCommand)
        );
        assert!(matches!(
            StaticPod::parse(b"a: [\n"),
            Err(StaticPodError::Yaml(_))
        ));
    }

    #[test]
    fn components_and_health() {
        assert_eq!(
            Component::from_name("kube-scheduler"),
            Some(Component::Scheduler)
        );
        assert_eq!(Component::Etcd.manifest_file(), "etcd.yaml");
        assert!(Component::Etcd.healthy(200, r#"{"health":"true","reason":""}"#));
        assert!(!Component::Etcd.healthy(200, r#"{"health":"false"}"#));
        assert!(Component::Apiserver.healthy(200, "ok"));
        assert!(!Component::Apiserver.healthy(500, "ok"));
        assert_eq!(
            to_restart([
                "scheduler.conf",
                "front-proxy-client",
                "etcd-peer",
                "apiserver",
                "admin.conf"
            ]),
            [Component::Etcd, Component::Apiserver, Component::Scheduler]
        );
        assert!(to_restart(["admin.conf", "etcd-healthcheck-client"]).is_empty());
        assert_eq!(
            to_restart(["controller-manager.conf", "apiserver-etcd-client"]),
            [Component::Apiserver, Component::ControllerManager]
        );
    }

    #[test]
    fn files_and_the_components_that_load_them() {
        let cert = |r: &str| NodePath::cert(r);
        let conf = |r: &str| NodePath::kubeconfig(r);
        use Component::*;
        assert_eq!(
            to_restart_files(&[cert("ca.crt")]),
            [Apiserver, ControllerManager]
        );
        assert_eq!(to_restart_files(&[cert("etcd/ca.crt")]), [Etcd, Apiserver]);
        assert_eq!(to_restart_files(&[cert("etcd/peer.key")]), [Etcd]);
        assert_eq!(to_restart_files(&[cert("ca.key")]), [ControllerManager]);
        assert_eq!(
            to_restart_files(&[cert("front-proxy-client.key"), cert("sa.pub")]),
            [Apiserver]
        );
        assert_eq!(
            to_restart_files(&[conf("manifests/kube-scheduler.yaml"), conf("kubelet.conf")]),
            [Scheduler]
        );
        // Loaded by nobody (yet): new CA and key copies, people's kubeconfigs.
        assert!(
            to_restart_files(&[
                cert("ca.new.crt"),
                cert("ca.new.key"),
                cert("sa.new.key"),
                cert("sa.new.pub"),
                cert("front-proxy-ca.key"),
                cert("etcd/ca.key"),
                cert("etcd/healthcheck-client.crt"),
                conf("admin.conf"),
                conf("super-admin.conf"),
                conf("kubelet.conf"),
                conf("manifests/other.yaml"),
            ])
            .is_empty()
        );
    }

    #[test]
    fn external_etcd_from_the_manifests() {
        let api = |servers: &str| StaticPod {
            name: "kube-apiserver".into(),
            command: vec!["kube-apiserver".into(), format!("--etcd-servers={servers}")],
        };
        let ext = api("https://192.0.2.21:2379,https://192.0.2.22:2379");
        assert_eq!(external_etcd(Some(&ext), false), Some(true));
        assert_eq!(external_etcd(Some(&ext), true), Some(false));
        for local in [
            "https://127.0.0.1:2379",
            "https://[::1]:2379",
            "https://localhost:2379",
        ] {
            assert_eq!(external_etcd(Some(&api(local)), false), None, "{local}");
        }
        assert_eq!(external_etcd(None, false), None);
    }
}
