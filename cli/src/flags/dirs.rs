//! `--cert-dir` and `--kubeconfig-dir`: where a node's files are (and
//! `--manifests-dir` for `ca status` and `sa status`).

use std::path::PathBuf;

use crate::fsio::NodeDirs;

/// Directory flags shared by the commands that read a node.
#[derive(Debug, Clone, clap::Args)]
pub struct DirArgs {
    /// The path where certificates are stored.
    #[arg(long, default_value = "/etc/kubernetes/pki", value_name = "DIR")]
    cert_dir: PathBuf,
    /// The path where kubeconfig files are stored.
    #[arg(long, default_value = "/etc/kubernetes", value_name = "DIR")]
    kubeconfig_dir: PathBuf,
}

impl DirArgs {
    /// The node's directories, the manifests in `<kubeconfig-dir>/manifests`.
    pub fn dirs(&self) -> NodeDirs {
        NodeDirs::new(self.cert_dir.clone(), self.kubeconfig_dir.clone())
    }
}

/// [`DirArgs`] and `--manifests-dir`, for `ca status` and `sa status`.
#[derive(Debug, Clone, clap::Args)]
pub struct DirsWithManifests {
    #[command(flatten)]
    dirs: DirArgs,
    /// The static pod manifests directory [default: <kubeconfig-dir>/manifests].
    #[arg(long, value_name = "DIR")]
    manifests_dir: Option<PathBuf>,
}

impl DirsWithManifests {
    /// The node's directories, the manifests where `--manifests-dir` says.
    pub fn dirs(&self) -> NodeDirs {
        let mut d = self.dirs.dirs();
        d.manifests_dir.clone_from(&self.manifests_dir);
        d
    }
}
