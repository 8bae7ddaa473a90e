//! The checks kubeadm makes before it shows or renews anything: is there a
//! node at all, and does it refuse this PKI (kcerts_core::kubeadm_refusal)?

use anyhow::Result;
use kcerts_core::{NodeFiles, kubeadm_refusal, node_loader};
use time::OffsetDateTime;

use crate::Hinted;
use crate::fsio::NodeDirs;

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
