//! Where the real Kubernetes programs are: the directory scripts/kube-binaries.sh
//! built them into (KCERTS_KUBE_BIN, default `~/.cache/kcerts/kube/v1.37.2`).
//! A test that needs them calls [`kube_bin`] with the programs it runs and
//! returns early (skipped, with the reason printed) when one is absent.

use std::path::{Path, PathBuf};

/// The Kubernetes release the programs are built from (tests/kube/v1.37/go.mod).
pub const KUBE_VERSION: &str = "v1.37.2";

/// The control-plane programs: what a [`crate::real_cluster`] runs.
pub const CONTROL_PLANE: &[&str] = &[
    "kubeadm",
    "etcd",
    "etcdctl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// The directory of the built programs when every one of `needed` is there;
/// `None`, with the missing ones printed, when not.
pub fn kube_bin(needed: &[&str]) -> Option<PathBuf> {
    let dir = std::env::var_os("KCERTS_KUBE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/kcerts/kube")
                .join(KUBE_VERSION)
        });
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|p| !dir.join(p).is_file())
        .collect();
    if missing.is_empty() {
        return Some(dir);
    }
    eprintln!(
        "skipped: the real {} {} not built (not in {}); run scripts/kube-binaries.sh \
         (KCERTS_KUBE_BINARIES=\"{}\" for only these) or set KCERTS_KUBE_BIN to its output \
         directory",
        missing.join(", "),
        if missing.len() == 1 { "is" } else { "are" },
        dir.display(),
        missing.join(" ")
    );
    None
}
