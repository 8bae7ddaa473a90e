//! `--config FILE` and `--from-cluster`: the cluster's kubeadm configuration,
//! read from a file or from the `kubeadm-config` ConfigMap in kube-system (the
//! rules are in kcerts_core::cluster_config).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use kcerts_core::apiserver_manifest::ApiserverManifest;
use kcerts_core::cluster_config::{self, ClusterConfig};
use kube::Api;

use crate::flags::config::ConfigArgs;
use crate::flags::{DirArgs, OutputFormat};
use crate::fsio::{self, NodeDirs};
use crate::report::Hinted;
use crate::report::out::outln;

/// How long `--from-cluster` waits for the API server, connection included.
pub const FROM_CLUSTER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where kubeadm's progress lines go: stdout before a text report; nowhere
/// before JSON, YAML or Prometheus output, as kubeadm's printer for `-o json|yaml`
/// drops them (its Printf prints nothing), so that output stays parseable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    Stdout,
    Quiet,
}

impl Lines {
    /// Stdout before a text report, nothing before any other format.
    pub fn before(output: OutputFormat) -> Self {
        if output == OutputFormat::Text {
            Lines::Stdout
        } else {
            Lines::Quiet
        }
    }

    fn say(self, line: &str) -> Result<()> {
        if self == Lines::Stdout {
            outln!("{line}")?;
        }
        Ok(())
    }
}

impl ConfigArgs {
    /// The configuration, when --config or --from-cluster was given. `prefix`
    /// is kubeadm's (`check-expiration`, `renew`...). A file that cannot be
    /// read or parsed is an error; a cluster that does not answer is not.
    pub fn load(&self, prefix: &str, lines: Lines) -> Result<Option<ClusterConfig>> {
        let cfg = if let Some(path) = &self.config {
            Some(read_file(path)?)
        } else if self.from_cluster {
            from_cluster(&self.kubeconfig, prefix, lines)?
        } else {
            None
        };
        if let Some(c) = &cfg {
            for w in c.validity_warnings() {
                eprintln!("{w}");
            }
        }
        Ok(cfg)
    }
}

fn read_file(path: &Path) -> Result<ClusterConfig> {
    let hint = "pass a kubeadm configuration (kubeadm config print init-defaults shows one), \
                or leave out --config to read the files only";
    let bytes = match fsio::read_up_to(path, fsio::MAX_FILE_BYTES, "a kubeadm configuration") {
        Ok(Some(b)) => b,
        Ok(None) => {
            return Err(Hinted {
                message: format!(
                    "the kubeadm configuration {} does not exist",
                    path.display()
                ),
                hint: hint.into(),
            }
            .into());
        }
        Err(reason) => {
            return Err(Hinted {
                message: format!(
                    "cannot read the kubeadm configuration {}: {reason}",
                    path.display()
                ),
                hint: hint.into(),
            }
            .into());
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    cluster_config::parse(&text).map_err(|e| {
        Hinted {
            message: format!("the kubeadm configuration {}: {e}", path.display()),
            hint: hint.into(),
        }
        .into()
    })
}

/// kubeadm's getInternalCfg: try the ConfigMap, else fall back with its line.
fn from_cluster(kubeconfig: &Path, prefix: &str, lines: Lines) -> Result<Option<ClusterConfig>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let client = match runtime.block_on(client(kubeconfig)) {
        Ok(c) => c,
        Err(e) => {
            // kubeadm falls back silently when the kubeconfig is unusable; say why.
            eprintln!("warning: --from-cluster: {e:#}; reading the files only");
            return Ok(None);
        }
    };
    lines.say(&format!(
        "[{prefix}] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"..."
    ))?;
    lines.say(&format!(
        "[{prefix}] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it."
    ))?;
    let fetched = runtime.block_on(async {
        match tokio::time::timeout(FROM_CLUSTER_TIMEOUT, fetch(client)).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "the API server did not answer within {} s",
                FROM_CLUSTER_TIMEOUT.as_secs()
            )),
        }
    });
    match fetched {
        Ok(cfg) => {
            lines.say("")?;
            // kubeadm's getInternalCfg: --cert-dir (default /etc/kubernetes/pki)
            // wins over the ConfigMap's certificatesDir.
            Ok(Some(ClusterConfig {
                certificates_dir: None,
                ..cfg
            }))
        }
        Err(_) => {
            // kubeadm says only this (the reason shows with its --v=5).
            lines.say(&format!(
                "[{prefix}] Error reading configuration from the Cluster. Falling back to default configuration"
            ))?;
            lines.say("")?;
            Ok(None)
        }
    }
}

async fn client(kubeconfig: &Path) -> Result<kube::Client> {
    let mut config = crate::node::kube_client::config(kubeconfig).await?;
    config.connect_timeout = Some(FROM_CLUSTER_TIMEOUT);
    config.read_timeout = Some(FROM_CLUSTER_TIMEOUT);
    crate::node::kube_client::client(config, kubeconfig)
}

async fn fetch(client: kube::Client) -> Result<ClusterConfig> {
    let api: Api<ConfigMap> = Api::namespaced(client, "kube-system");
    let cm = api
        .get("kubeadm-config")
        .await
        .context("failed to get config map kubeadm-config")?;
    let data = cm
        .data
        .as_ref()
        .and_then(|d| d.get("ClusterConfiguration"))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "unexpected error when reading kubeadm-config ConfigMap: ClusterConfiguration key value pair missing"
            )
        })?;
    cluster_config::parse(data).context("the kubeadm-config ConfigMap's ClusterConfiguration")
}

/// The node's directories with the configuration's certificatesDir in place of
/// the default --cert-dir (an explicit other --cert-dir wins). A configuration
/// read from the cluster has none: there --cert-dir wins, as in kubeadm.
pub fn dirs_with(dirs: NodeDirs, cfg: Option<&ClusterConfig>) -> NodeDirs {
    match cfg.and_then(|c| c.certificates_dir.as_deref()) {
        Some(dir) if dirs.cert_dir == Path::new(cluster_config::DEFAULT_CERTIFICATES_DIR) => {
            NodeDirs {
                cert_dir: PathBuf::from(dir),
                ..dirs
            }
        }
        _ => dirs,
    }
}

/// A node as kubeadm reads it before a report.
pub struct ConfiguredNode {
    /// The configuration, with --config or --from-cluster.
    pub cfg: Option<ClusterConfig>,
    /// The directories, certificatesDir in place of the default --cert-dir.
    pub dirs: NodeDirs,
    /// The files, with external etcd as the configuration says.
    pub files: kcerts_core::NodeFiles,
}

/// Reads the configuration (`prefix` and `lines` as for [`ConfigArgs::load`]),
/// then the node's files; fails when there is no node at all.
pub fn read_node(
    config: &ConfigArgs,
    dirs: &DirArgs,
    prefix: &str,
    lines: Lines,
) -> Result<ConfiguredNode> {
    let cfg = config.load(prefix, lines)?;
    let dirs = dirs_with(dirs.dirs(), cfg.as_ref());
    let files = load_files(&dirs, cfg.as_ref());
    crate::node::guard::require_node(&dirs, &files)?;
    Ok(ConfiguredNode { cfg, dirs, files })
}

/// Loads the node's files, with external etcd as the configuration says, or,
/// without one, as the static pod manifests show it (said on stderr when they
/// decide it: kubeadm would have read the cluster's configuration).
pub fn load_files(dirs: &NodeDirs, cfg: Option<&ClusterConfig>) -> kcerts_core::NodeFiles {
    let mut files = dirs.load();
    if let Some(c) = cfg {
        files.external_etcd = Some(c.external_etcd);
    } else if let Some(external) = external_etcd_from_manifests(dirs) {
        let inferred = kcerts_core::node_loader::is_external_etcd(&files);
        if external != inferred {
            eprintln!(
                "note: no kubeadm configuration was read (--config, --from-cluster); the static \
                 pod manifests in {} say etcd is {}",
                dirs.manifests().display(),
                if external {
                    "external (no etcd.yaml, kube-apiserver --etcd-servers on another host): its \
                     certificates and CA are left out"
                } else {
                    "local (etcd.yaml): its certificates are expected"
                }
            );
        }
        files.external_etcd = Some(external);
    }
    files
}

/// [`static_pod::external_etcd`] on the node's manifests; an unreadable or
/// unparsable kube-apiserver manifest tells nothing.
fn external_etcd_from_manifests(dirs: &NodeDirs) -> Option<bool> {
    use kcerts_core::static_pod::{self, StaticPod};
    let etcd = std::fs::symlink_metadata(dirs.manifests().join("etcd.yaml")).is_ok();
    let apiserver = apiserver_manifest_bytes(dirs).and_then(|b| StaticPod::parse(&b).ok());
    static_pod::external_etcd(apiserver.as_ref(), etcd)
}

/// What the node's kube-apiserver manifest shows (service range, advertise
/// address, release), for a command run without a configuration; `None` when
/// it is absent, unreadable or not a manifest.
pub fn apiserver_manifest(dirs: &NodeDirs) -> Option<ApiserverManifest> {
    apiserver_manifest_bytes(dirs).and_then(|b| ApiserverManifest::parse(&b).ok())
}

/// The path of the node's kube-apiserver manifest.
pub fn apiserver_manifest_path(dirs: &NodeDirs) -> PathBuf {
    dirs.manifests().join("kube-apiserver.yaml")
}

fn apiserver_manifest_bytes(dirs: &NodeDirs) -> Option<Vec<u8>> {
    fsio::read_up_to(
        &apiserver_manifest_path(dirs),
        fsio::MAX_FILE_BYTES,
        "a static pod manifest",
    )
    .ok()
    .flatten()
}
