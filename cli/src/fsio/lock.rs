//! The node lock: one `kcerts renew` or `kcerts restore` at a time per node.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::NodeDirs;
use crate::report::Hinted;

/// Held for the whole run; the OS releases it when the process exits, however
/// it exits (an flock on `<kubeconfig-dir>/tmp/kcerts.lock`), so a crash never
/// leaves a stale lock.
#[derive(Debug)]
pub struct NodeLock {
    _file: File,
}

/// Where the lock file lives.
pub fn lock_path(dirs: &NodeDirs) -> PathBuf {
    dirs.kubeconfig_dir.join("tmp").join("kcerts.lock")
}

/// Takes the node lock or fails at once if another run holds it.
pub fn lock_node(dirs: &NodeDirs) -> Result<NodeLock> {
    let path = lock_path(dirs);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        // A symbolic link planted at the lock's name is not followed (ELOOP):
        // root would otherwise create or lock whatever file it points at.
        .custom_flags(super::trust::no_follow())
        .open(&path)
        .map_err(|e| {
            if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                Hinted {
                    message: format!(
                        "the lock file {} is a symbolic link; kcerts does not follow it",
                        path.display()
                    ),
                    hint: "remove the link (kcerts makes the lock file itself) and check who \
                           can write that directory"
                        .into(),
                }
                .into()
            } else {
                anyhow::Error::new(e)
                    .context(format!("cannot open the lock file {}", path.display()))
            }
        })?;
    match file.try_lock() {
        Ok(()) => Ok(NodeLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(Hinted {
            message: format!(
                "another kcerts renew or restore is running on this node ({} is locked)",
                path.display()
            ),
            hint: "wait for it to finish and run this command again; the lock goes away when \
                   that process exits"
                .into(),
        }
        .into()),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}
