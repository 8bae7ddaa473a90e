//! Before a command reads or changes a node: the checks kubeadm makes before it
//! shows or renews anything (is there a node at all, does it refuse this PKI,
//! kcerts_core::kubeadm_refusal?), and the node lock taken with the recovery of
//! an interrupted run.

use std::path::PathBuf;

use anyhow::Result;
use kcerts_core::{NodeFiles, kubeadm_refusal, node_loader};
use time::OffsetDateTime;

use crate::fsio::NodeDirs;
use crate::fsio::lock::{NodeLock, lock_node};
use crate::report::Hinted;
use crate::report::out::outln;

/// Fails when neither the cert dir nor any kubeconfig exists: a table of
/// MISSING rows would only hide a wrong path.
pub fn require_node(dirs: &NodeDirs, files: &NodeFiles) -> Result<()> {
    if dirs.cert_dir.exists() || !files.files.is_empty() {
        return Ok(());
    }
    Err(Hinted {
        message: format!(
            "no kubeadm node here: neither {} nor any kubeconfig in {} exists",
            dirs.cert_dir.display(),
            dirs.kubeconfig_dir.display()
        ),
        hint: "point kcerts at the node's files with --cert-dir and --kubeconfig-dir".into(),
    }
    .into())
}

/// Whether kubeadm would accept this PKI; when not, prints kubeadm's own
/// message on stderr (the command then exits 1).
pub fn kubeadm_accepts(dirs: &NodeDirs, files: &NodeFiles, now: OffsetDateTime) -> bool {
    let external_etcd = node_loader::is_external_etcd(files);
    match kubeadm_refusal::check(files, now, external_etcd) {
        None => true,
        Some(r) => {
            eprintln!(
                "error: {}",
                r.message(&|p| dirs.path(p).display().to_string())
            );
            false
        }
    }
}

/// Takes the node lock (one run that changes files at a time per node), then
/// puts back the files of a run that was interrupted, saying so as `[TAG] a
/// previous RUN was interrupted: put back N files from DIR`. The recovery
/// writes only in the node's directories and `extra_roots` (the directories the
/// running command names: the kubelet's, `--manifests-dir`...).
pub fn lock_and_recover(
    dirs: &NodeDirs,
    extra_roots: &[PathBuf],
    tag: &str,
    run: &str,
) -> Result<NodeLock> {
    let lock = lock_node(dirs)?;
    if let Some((backup, n)) = crate::fsio::txn::recover(dirs, extra_roots)? {
        outln!(
            "[{tag}] a previous {run} was interrupted: put back {n} files from {}",
            backup.display()
        )?;
    }
    Ok(lock)
}
