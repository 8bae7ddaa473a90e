//! `--restart` with `--endpoint`, `--manifests-dir` and the waits: restarting
//! what a phase of `ca rotate` or `sa rotate` changed (run by `node::rotation`).

use crate::flags::DirArgs;
use crate::flags::endpoints::EndpointArgs;
use crate::flags::waits::WaitArgs;
use crate::fsio::NodeDirs;

/// `--restart` with `--endpoint`, `--manifests-dir` and the waits, as for
/// `renew --restart` (shared by `ca rotate` and `sa rotate`).
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// After --apply, restart the control-plane components that load the files the phase
    /// changed, one at a time in kubeadm's order, each checked as `kcerts restart` does
    /// (without --apply: print that plan too).
    #[arg(long)]
    pub restart: bool,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    #[command(flatten)]
    pub waits: WaitArgs,
}

impl RestartArgs {
    /// The node's dirs with the manifests where `--manifests-dir` says.
    pub fn dirs(&self, dirs: &DirArgs) -> NodeDirs {
        let mut d = dirs.dirs();
        d.manifests_dir.clone_from(&self.endpoints.manifests_dir);
        d
    }
}
