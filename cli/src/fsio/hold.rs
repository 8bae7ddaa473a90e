//! Holding a static pod manifest away from the kubelet during a restart, without
//! ever losing it: it is always either in the manifests directory or in the
//! holding directory, and a journal says which manifest is held where.
//!
//! 1. write the journal `<kubeconfig-dir>/tmp/kcerts-restart-pending` (one line:
//!    `<manifest path>\t<held path>`) and fsync it;
//! 2. rename the manifest into `<kubeconfig-dir>/tmp/kcerts-restart/` (the
//!    kubelet stops the pod), fsync both directories;
//! 3. rename it back (the kubelet starts the pod), fsync;
//! 4. remove the journal.
//!
//! A process killed between 1 and 4 leaves the journal; [`recover`] (run by
//! `kcerts restart --recover` and at the start of every restart) then moves a
//! held manifest back. Renames need both directories on one filesystem, as
//! kubeadm's own layout has them (`/etc/kubernetes/manifests`, `/etc/kubernetes/tmp`).

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{NodeDirs, fault};
use crate::report::Hinted;

const JOURNAL: &str = "kcerts-restart-pending";
const HOLDING: &str = "kcerts-restart";

/// The journal of a restart in progress.
pub fn journal_path(dirs: &NodeDirs) -> PathBuf {
    dirs.kubeconfig_dir.join("tmp").join(JOURNAL)
}

/// Where manifests are held during a restart.
pub fn holding_dir(dirs: &NodeDirs) -> PathBuf {
    dirs.kubeconfig_dir.join("tmp").join(HOLDING)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn sync_parent(p: &Path) {
    if let Some(d) = p.parent() {
        sync_dir(d);
    }
}

/// A manifest moved to the holding directory.
#[derive(Debug)]
pub struct Held {
    /// Where it belongs.
    pub manifest: PathBuf,
    /// Where it is now.
    pub held: PathBuf,
    journal: PathBuf,
}

/// Moves `manifest` to the holding directory, journaled.
pub fn hold(dirs: &NodeDirs, manifest: &Path) -> Result<Held> {
    let journal = journal_path(dirs);
    if journal.exists() {
        bail!(
            "{} records a restart in progress; run `kcerts restart --recover` first",
            journal.display()
        );
    }
    let holding = holding_dir(dirs);
    if let Some(tmp) = holding.parent() {
        fs::create_dir_all(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    }
    super::trust::ensure_private_dir(&holding)?;
    let name = manifest
        .file_name()
        .with_context(|| format!("{} has no file name", manifest.display()))?;
    let held = holding.join(name);
    if held.exists() {
        bail!(
            "{} already exists: an earlier restart left it; compare it with {} and remove \
             the one you do not want",
            held.display(),
            manifest.display()
        );
    }
    fault::step(&"write the restart journal")?;
    let line = format!("{}\t{}\n", manifest.display(), held.display());
    let tmp = journal.with_extension("tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // A new file, never one found there (a link planted at that name).
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(line.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
    }
    fs::rename(&tmp, &journal).with_context(|| format!("cannot write {}", journal.display()))?;
    sync_parent(&journal);
    fault::step(&format_args!(
        "move {} to {}",
        manifest.display(),
        held.display()
    ))?;
    if let Err(e) = fs::rename(manifest, &held) {
        let _ = fs::remove_file(&journal);
        return Err(Hinted {
            message: format!(
                "cannot move {} to {}: {e}",
                manifest.display(),
                held.display()
            ),
            hint: "the manifests directory and --kubeconfig-dir/tmp must be on one filesystem \
                   and writable (run as root)"
                .into(),
        }
        .into());
    }
    sync_parent(manifest);
    sync_dir(&holding);
    Ok(Held {
        manifest: manifest.to_path_buf(),
        held,
        journal,
    })
}

/// Moves a held manifest back and clears the journal.
pub fn put_back(h: &Held) -> Result<()> {
    fault::step(&format_args!("move {} back", h.manifest.display()))?;
    fs::rename(&h.held, &h.manifest).with_context(|| {
        format!(
            "cannot move {} back to {}; it is still there: move it back by hand or run \
             `kcerts restart --recover`",
            h.held.display(),
            h.manifest.display()
        )
    })?;
    sync_parent(&h.manifest);
    sync_parent(&h.held);
    fault::step(&"remove the restart journal")?;
    fs::remove_file(&h.journal)
        .with_context(|| format!("cannot remove {}", h.journal.display()))?;
    sync_parent(&h.journal);
    Ok(())
}

/// What recovery did.
#[derive(Debug, PartialEq, Eq)]
pub enum Recovered {
    /// The held manifest was moved back.
    PutBack(PathBuf),
    /// The manifest was already in place (the journal was left by a run killed
    /// before the move or after the move back).
    InPlace(PathBuf),
}

/// Puts back a manifest an interrupted restart left in the holding directory.
pub fn recover(dirs: &NodeDirs) -> Result<Option<Recovered>> {
    let journal = journal_path(dirs);
    let Some(text) = super::trust::read_private(&journal, "the restart journal")? else {
        return Ok(None);
    };
    let (manifest, held) = text
        .trim_end_matches('\n')
        .split_once('\t')
        .map(|(m, h)| (PathBuf::from(m), PathBuf::from(h)))
        .with_context(|| format!("{} is malformed: {text:?}", journal.display()))?;
    // The journal moves a manifest back only from the holding directory.
    let real = |d: &Path| fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf());
    if held.parent().map(real) != Some(real(&holding_dir(dirs))) {
        bail!(
            "{} names {} as held, outside {}: kcerts holds manifests only there; remove {} \
             and check the manifests by hand",
            journal.display(),
            held.display(),
            holding_dir(dirs).display(),
            journal.display()
        );
    }
    let done = match (manifest.exists(), held.exists()) {
        (false, true) => {
            fs::rename(&held, &manifest).with_context(|| {
                format!(
                    "cannot move {} back to {}",
                    held.display(),
                    manifest.display()
                )
            })?;
            sync_parent(&manifest);
            Recovered::PutBack(manifest)
        }
        (true, false) => Recovered::InPlace(manifest),
        (true, true) => bail!(
            "both {} and {} exist: someone wrote the manifest again during the restart; \
             keep the one you want, remove the other, then remove {}",
            manifest.display(),
            held.display(),
            journal.display()
        ),
        (false, false) => bail!(
            "{} names {} held as {}, but neither exists: restore the manifest from your \
             backups (kubeadm init phase control-plane writes it again), then remove {}",
            journal.display(),
            manifest.display(),
            held.display(),
            journal.display()
        ),
    };
    fs::remove_file(&journal).with_context(|| format!("cannot remove {}", journal.display()))?;
    sync_parent(&journal);
    Ok(Some(done))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    use super::*;

    fn node() -> (tempfile_dir::Dir, NodeDirs, PathBuf) {
        let dir = tempfile_dir::Dir::new("hold");
        let root = dir.path().to_path_buf();
        let manifests = root.join("manifests");
        fs::create_dir_all(&manifests).unwrap();
        fs::create_dir_all(root.join("tmp")).unwrap();
        let manifest = manifests.join("kube-apiserver.yaml");
        fs::write(&manifest, b"kind: Pod\n").unwrap();
        (dir, NodeDirs::new(root.join("pki"), root), manifest)
    }

    /// A small self-removing directory (the CLI has no tempfile dependency).
    mod tempfile_dir {
        use std::path::{Path, PathBuf};

        pub struct Dir(PathBuf);

        impl Dir {
            pub fn new(name: &str) -> Self {
                let p = std::env::temp_dir().join(format!(
                    "kcerts-{name}-{}-{:?}",
                    std::process::id(),
                    std::thread::current().id()
                ));
                let _ = std::fs::remove_dir_all(&p);
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }

            pub fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn a_link_planted_at_the_journal_s_temporary_name_is_not_followed() {
        let (dir, dirs, manifest) = node();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"untouched").unwrap();
        symlink(&victim, journal_path(&dirs).with_extension("tmp")).unwrap();
        let held = hold(&dirs, &manifest).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"untouched");
        assert_eq!(
            fs::metadata(&held.journal).unwrap().mode() & 0o777,
            0o600,
            "the journal is a new private file"
        );
        put_back(&held).unwrap();
        assert!(manifest.exists());
    }

    #[test]
    fn a_holding_directory_someone_else_can_write_is_refused() {
        let (_dir, dirs, manifest) = node();
        let holding = holding_dir(&dirs);
        fs::create_dir(&holding).unwrap();
        fs::set_permissions(&holding, fs::Permissions::from_mode(0o777)).unwrap();
        let err = hold(&dirs, &manifest).unwrap_err().to_string();
        assert!(
            err.contains("is writable by its group or by others (mode 0777)"),
            "{err}"
        );
        assert!(manifest.exists(), "the manifest was moved");
        assert!(!journal_path(&dirs).exists());
    }

    #[test]
    fn recovery_moves_back_only_from_the_holding_directory() {
        let (dir, dirs, manifest) = node();
        fs::remove_file(&manifest).unwrap();
        let elsewhere = dir.path().join("planted.yaml");
        fs::write(&elsewhere, b"kind: Pod\nhostPID: true\n").unwrap();
        fs::write(
            journal_path(&dirs),
            format!("{}\t{}\n", manifest.display(), elsewhere.display()),
        )
        .unwrap();
        fs::set_permissions(journal_path(&dirs), fs::Permissions::from_mode(0o600)).unwrap();
        let err = recover(&dirs).unwrap_err().to_string();
        assert!(err.contains("outside"), "{err}");
        assert!(!manifest.exists() && elsewhere.exists());
    }
}
