//! The node's control-plane endpoints (from the static pod manifests and
//! `--endpoint`), and probing them all for `verify --live`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kcerts_core::NodeFiles;
use kcerts_core::live::{Endpoint, ExpectedFile, Observed};
use kcerts_core::node::{FileContent, NodePath, ReadError};
use kcerts_core::static_pod::{Component, StaticPod};
use time::OffsetDateTime;

use crate::flags::endpoints::EndpointArgs;
use crate::fsio::{self, NodeDirs};
use crate::node::probe::{self, ClientCert};

/// Where every endpoint is, and the manifests read to find out.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The manifests directory.
    pub manifests_dir: PathBuf,
    addresses: BTreeMap<Endpoint, String>,
    pods: BTreeMap<Component, StaticPod>,
}

impl Endpoints {
    /// Reads the manifests (a missing one means kubeadm's defaults; an
    /// unreadable one is reported on stderr) and applies `--endpoint`.
    pub fn resolve(args: &EndpointArgs, dirs: &NodeDirs) -> Self {
        let manifests_dir = args
            .manifests_dir
            .clone()
            .unwrap_or_else(|| dirs.manifests());
        let mut pods = BTreeMap::new();
        for c in Component::ALL {
            let path = manifests_dir.join(c.manifest_file());
            match fsio::read_limited(&path) {
                Ok(Some(bytes)) => match StaticPod::parse(&bytes) {
                    Ok(pod) => {
                        pods.insert(c, pod);
                    }
                    Err(e) => eprintln!("warning: {}: {e}", path.display()),
                },
                Ok(None) => {}
                Err(e) => eprintln!("warning: {} {e}", path.display()),
            }
        }
        let mut addresses: BTreeMap<Endpoint, String> = Endpoint::ALL
            .into_iter()
            .map(|e| {
                let pod = e.component().and_then(|c| pods.get(&c));
                (e, e.default_address(pod))
            })
            .collect();
        for (e, a) in &args.endpoints {
            addresses.insert(*e, a.clone());
        }
        Self {
            manifests_dir,
            addresses,
            pods,
        }
    }

    /// `host:port` of an endpoint.
    pub fn address(&self, e: Endpoint) -> &str {
        self.addresses.get(&e).map_or("", String::as_str)
    }

    /// The parsed manifest of a component, when it was read.
    pub fn pod(&self, c: Component) -> Option<&StaticPod> {
        self.pods.get(&c)
    }
}

/// The client certificate kcerts presents to an endpoint: etcd requires one,
/// and the API server's own (`apiserver-etcd-client`) is what it accepts.
pub fn client_cert(e: Endpoint, dirs: &NodeDirs) -> Option<ClientCert> {
    match e {
        Endpoint::EtcdServer | Endpoint::EtcdPeer => {
            let cert = fsio::read_limited(&dirs.cert_dir.join("apiserver-etcd-client.crt"));
            let key = fsio::read_limited(&dirs.cert_dir.join("apiserver-etcd-client.key"));
            match (cert, key) {
                (Ok(Some(c)), Ok(Some(k))) => ClientCert::from_pem(&c, &k),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The last time a file was written, when the filesystem says.
pub fn modified(path: &Path) -> Option<OffsetDateTime> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(OffsetDateTime::from)
}

fn read_expected(path: &Path) -> ExpectedFile {
    let content = match fsio::read_limited(path) {
        Ok(Some(b)) => FileContent::Bytes(b),
        Ok(None) => FileContent::Unreadable(ReadError::Missing),
        Err(e) => FileContent::Unreadable(e),
    };
    ExpectedFile {
        shown: path.display().to_string(),
        content,
    }
}

/// The file each endpoint without a node file should serve: a
/// `--tls-cert-file` in the controller-manager's or scheduler's manifest, the
/// kubelet's serving certificate.
fn expected_file(
    e: Endpoint,
    endpoints: &Endpoints,
    kubelet_serving: Option<&Path>,
) -> Option<ExpectedFile> {
    match e {
        Endpoint::ControllerManager | Endpoint::Scheduler => {
            let c = e.component()?;
            let path = endpoints.pod(c)?.flag("tls-cert-file")?;
            Some(read_expected(Path::new(path)))
        }
        Endpoint::Kubelet => kubelet_serving.map(read_expected),
        _ => None,
    }
}

/// Probes every endpoint of the node at once, each bounded by [`probe::TIMEOUT`].
/// etcd's endpoints are left out when etcd is external.
pub fn observe(
    endpoints: &Endpoints,
    dirs: &NodeDirs,
    files: &NodeFiles,
    kubelet_serving: Option<&Path>,
) -> Vec<Observed> {
    let external_etcd = kcerts_core::node_loader::is_external_etcd(files);
    let wanted: Vec<Endpoint> = Endpoint::ALL
        .into_iter()
        .filter(|e| !(external_etcd && e.component() == Some(Component::Etcd)))
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = wanted
            .iter()
            .map(|&e| {
                let address = endpoints.address(e).to_string();
                let client = client_cert(e, dirs);
                let file = expected_file(e, endpoints, kubelet_serving);
                s.spawn(move || {
                    let seen = probe::probe(&address, client.as_ref(), None, probe::TIMEOUT);
                    Observed {
                        endpoint: e,
                        address,
                        probe: seen.probe,
                        file,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(&wanted)
            .map(|(h, &e)| {
                h.join().unwrap_or_else(|_| Observed {
                    endpoint: e,
                    address: endpoints.address(e).to_string(),
                    probe: kcerts_core::live::Probe::Unreachable("the probe failed".into()),
                    file: None,
                })
            })
            .collect()
    })
}

/// When the files the controller-manager and scheduler hold until a restart
/// (their kubeconfigs) were last written.
pub fn written(dirs: &NodeDirs) -> Vec<(NodePath, OffsetDateTime)> {
    Endpoint::ALL
        .into_iter()
        .flat_map(|e| e.held_files())
        .filter_map(|p| modified(&dirs.path(&p)).map(|t| (p, t)))
        .collect()
}
