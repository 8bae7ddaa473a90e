//! A node's verification as `verify` and `serve` run it: the node's files with
//! kubelet.conf and the kubelet's certificates through the core's checks and,
//! with `--live`, the endpoints probed.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use kcerts_core::apiserver_manifest::ApiserverManifest;
use kcerts_core::cluster_config::ClusterConfig;
use kcerts_core::live::Row as LiveRow;
use kcerts_core::node::{FileContent, NodeFiles, NodePath};
use kcerts_core::verify::{self as checks, KubeletClient, KubeletServing, Verification};
use time::OffsetDateTime;

use crate::flags::verify::NodeArgs;
use crate::fsio;
use crate::node::endpoints::{self, Endpoints};

/// One verification of a node: its files (with kubelet.conf), the rows (with the
/// live rows under `--live`) and the live rows again for their own metrics.
pub struct NodeReading {
    pub files: NodeFiles,
    /// What the kube-apiserver manifest showed, when no configuration was
    /// given and it was used for the SAN checks.
    pub manifest: Option<ApiserverManifest>,
    pub verification: Verification,
    pub live: Vec<LiveRow>,
}

/// The node's files without opening a private key: each `*.key` that exists (a
/// stat, not a read) is recorded as not read, so `serve` works where the keys
/// cannot be read at all, and a reading never holds a key in memory.
pub fn load_without_keys(dirs: &fsio::NodeDirs) -> NodeFiles {
    let (keys, others): (Vec<NodePath>, Vec<NodePath>) =
        NodeFiles::wanted().into_iter().partition(NodeFiles::is_key);
    let mut files = dirs.load_paths(&others);
    for k in keys {
        if std::fs::symlink_metadata(dirs.path(&k)).is_ok() {
            files.insert_unreadable(k, fsio::ReadError::NotRead);
        }
    }
    files.keys_not_read = true;
    files
}

impl NodeArgs {
    /// The service IP: --service-cidr's first address (a bad CIDR is refused before
    /// anything is read), else the configuration's service subnet, else the
    /// kube-apiserver manifest's service range.
    pub fn service_ip(
        &self,
        cfg: Option<&ClusterConfig>,
        manifest: Option<&ApiserverManifest>,
    ) -> Result<Option<IpAddr>> {
        Ok(match &self.service_cidr {
            Some(c) => match kcerts_core::pki::first_service_ip(c) {
                Some(ip) => Some(ip),
                None => bail!("invalid --service-cidr {c:?}: expected e.g. 10.96.0.0/12"),
            },
            None => match cfg {
                Some(c) => kcerts_core::alt_names::service_ip(c.service_subnet()),
                None => manifest.and_then(ApiserverManifest::service_ip),
            },
        })
    }

    /// Verifies the node's `files` at `now` (reading kubelet.conf and the kubelet's
    /// certificates too) and, with `--live`, probes the endpoints.
    pub fn verify(
        &self,
        dirs: &fsio::NodeDirs,
        mut files: NodeFiles,
        cfg: Option<&ClusterConfig>,
        now: OffsetDateTime,
    ) -> Result<NodeReading> {
        // Without a configuration, what the kube-apiserver manifest shows.
        let manifest = cfg
            .is_none()
            .then(|| crate::node::cluster_config::apiserver_manifest(dirs))
            .flatten()
            .filter(|m| !m.is_empty());
        let service_ip = self.service_ip(cfg, manifest.as_ref())?;
        let kubelet_conf = NodePath::kubeconfig("kubelet.conf");
        match fsio::read_limited(&dirs.path(&kubelet_conf)) {
            Ok(Some(b)) => files.insert(kubelet_conf, b),
            Ok(None) => {}
            Err(r) => files.insert_unreadable(kubelet_conf, r),
        }
        let kubelet_serving = self.serving_files(files.keys_not_read);
        let mut v = checks::verify(&checks::Input {
            files: &files,
            kubelet_client: Some(KubeletClient {
                path: self.kubelet_client_cert.display().to_string(),
                content: fsio::read_content(&self.kubelet_client_cert),
            }),
            kubelet_serving: Some(kubelet_serving.clone()),
            node_name: self
                .node_name
                .clone()
                .or_else(|| cfg.and_then(|c| c.node_name.clone())),
            service_ip,
            advertise_address: manifest.as_ref().and_then(|m| m.advertise_address),
            thresholds: self.thresholds.rule(),
            now,
            config: cfg,
        });
        let live = if self.live {
            let endpoints = Endpoints::resolve(&self.endpoints, dirs);
            let serving = kubelet_serving
                .content
                .is_some()
                .then(|| PathBuf::from(&kubelet_serving.path));
            let observed = endpoints::observe(&endpoints, dirs, &files, serving.as_deref());
            let written = endpoints::written(dirs);
            let rows = kcerts_core::live::check(&kcerts_core::live::Input {
                files: &files,
                observed: &observed,
                written: &written,
                now: v.now,
            });
            v.checks.extend(rows.iter().map(LiveRow::to_check));
            rows
        } else {
            Vec::new()
        };
        Ok(NodeReading {
            files,
            manifest,
            verification: v,
            live,
        })
    }

    /// The verification's metrics, and the live ones with `--live`.
    pub fn prometheus(&self, r: &NodeReading) -> String {
        let mut out = kcerts_core::verify_output::to_prometheus(&r.verification);
        if self.live {
            out.push_str(&kcerts_core::verify_output::live_to_prometheus(&r.live));
        }
        out
    }

    /// The serving certificate: --kubelet-serving-cert, else the kubelet's bootstrapped
    /// pair beside the client certificate, else its self-signed kubelet.crt.
    fn serving_files(&self, keys_not_read: bool) -> KubeletServing {
        use kcerts_core::kubelet_selfsigned::{CERT_FILE, KEY_FILE, SERVER_CURRENT};
        let dir = self
            .kubelet_client_cert
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let with_key = |cert: &Path| {
            let is_pair = cert.file_name().is_some_and(|n| n != CERT_FILE);
            let key = (!is_pair).then(|| {
                let k = cert.with_file_name(KEY_FILE);
                let content = if keys_not_read {
                    Some(FileContent::Unreadable(fsio::ReadError::NotRead))
                } else {
                    fsio::read_content(&k)
                };
                (k.display().to_string(), content)
            });
            KubeletServing {
                path: cert.display().to_string(),
                content: fsio::read_content(cert),
                key,
            }
        };
        match &self.kubelet_serving_cert {
            Some(p) => with_key(p),
            None => {
                let bootstrapped = with_key(&dir.join(SERVER_CURRENT));
                if bootstrapped.content.is_some() {
                    bootstrapped
                } else {
                    with_key(&dir.join(CERT_FILE))
                }
            }
        }
    }
}
