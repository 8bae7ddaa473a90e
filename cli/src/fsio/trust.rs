//! Whether what kcerts reads back as root can be trusted: a backup directory, its
//! journal and the pending-renewal marker. Someone who can write one of them could
//! otherwise have root put any file anywhere, so each must be owned by the user
//! running kcerts, writable by no one else, and not a symbolic link; and no
//! directory above a backup may let another user swap it (writable by others
//! without the sticky bit, or owned by someone but root and this user).
//!
//! Checks are made on the open handle where there is one (the journal and the
//! marker are opened without following a symbolic link, then checked with fstat).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context, Result};

use crate::report::Hinted;

/// The user id kcerts runs as.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `O_NOFOLLOW`: opening a symbolic link fails (ELOOP) instead of following it.
pub fn no_follow() -> i32 {
    // The flag's bits fit an i32 (open(2) takes an int).
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// What a file or directory must be to be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

/// Why a path is not trusted, or `None`.
fn flaw(meta: &fs::Metadata, kind: Kind) -> Option<String> {
    let me = euid();
    let mode = meta.mode() & 0o7777;
    if meta.file_type().is_symlink() {
        return Some("is a symbolic link".into());
    }
    match kind {
        Kind::Dir if !meta.is_dir() => return Some("is not a directory".into()),
        Kind::File if !meta.is_file() => return Some("is not a regular file".into()),
        _ => {}
    }
    if meta.uid() != me {
        return Some(format!(
            "is owned by uid {}, not by the user running kcerts (uid {me})",
            meta.uid()
        ));
    }
    if mode & 0o022 != 0 {
        return Some(format!(
            "is writable by its group or by others (mode {mode:04o})"
        ));
    }
    None
}

fn refuse(path: &Path, what: &str, why: &str, fix: &str) -> anyhow::Error {
    Hinted {
        message: format!(
            "{what} {} {why}: kcerts runs as root and does not trust what another user \
             could have written there",
            path.display()
        ),
        hint: fix.to_string(),
    }
    .into()
}

/// Every directory above `dir` (its real path) must be owned by root or this
/// user, and writable by others only with the sticky bit (`/tmp`).
fn check_ancestors(dir: &Path, what: &str) -> Result<()> {
    let real =
        fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    let me = euid();
    for a in real.ancestors().skip(1) {
        let meta = fs::metadata(a).with_context(|| format!("cannot read {}", a.display()))?;
        let mode = meta.mode() & 0o7777;
        let why = if meta.uid() != 0 && meta.uid() != me {
            format!("which is owned by uid {}, another user", meta.uid())
        } else if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            format!("which is writable by others without the sticky bit (mode {mode:04o})")
        } else {
            continue;
        };
        return Err(refuse(
            a,
            &format!("{what} {} is inside", dir.display()),
            &why,
            "keep backups in a directory only root can write (the default, \
             <kubeconfig-dir>/tmp), or fix the owner and mode of that directory",
        ));
    }
    Ok(())
}

/// A backup directory read back (by `restore` or a recovery): owned by this
/// user, writable by no one else, not a symbolic link, in a safe place.
pub fn check_backup_dir(dir: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("the backup directory {} does not exist", dir.display())
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the backup directory {}", dir.display()));
        }
    };
    if let Some(why) = flaw(&meta, Kind::Dir) {
        return Err(refuse(
            dir,
            "the backup directory",
            &why,
            "restore only from a backup you know root wrote; if you are sure of this one, \
             `chown -R root: DIR && chmod 700 DIR` and run the command again",
        ));
    }
    check_ancestors(dir, "the backup directory")
}

/// Where new backups go (`--backup-dir`, or `<kubeconfig-dir>/tmp`): created
/// (0700) when missing, else it must be owned by this user and writable by no
/// one else, since another user who can write it could replace a backup.
pub fn prepare_backup_base(base: &Path) -> Result<()> {
    if fs::symlink_metadata(base).is_err() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(base)
            .with_context(|| format!("cannot create the backup directory {}", base.display()))?;
    }
    let meta = fs::symlink_metadata(base)
        .with_context(|| format!("cannot read the backup directory {}", base.display()))?;
    if let Some(why) = flaw(&meta, Kind::Dir) {
        return Err(refuse(
            base,
            "the backup directory",
            &why,
            "give --backup-dir a directory only root can write (`mkdir -m 700 DIR`), or \
             leave the flag out to use <kubeconfig-dir>/tmp",
        ));
    }
    check_ancestors(base, "the backup directory")
}

/// A private directory kcerts keeps (the restart's holding directory): created
/// with 0700 when missing, else checked as a backup directory is.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = fs::symlink_metadata(dir)
                .with_context(|| format!("cannot read {}", dir.display()))?;
            match flaw(&meta, Kind::Dir) {
                None => Ok(()),
                Some(why) => Err(refuse(
                    dir,
                    "the directory",
                    &why,
                    "remove it (kcerts makes it again, owned by root, mode 0700)",
                )),
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", dir.display())),
    }
}

/// Opens a file kcerts wrote and now reads back as a source of truth (a journal,
/// the pending marker): not through a symbolic link, and checked on the open
/// handle. `Ok(None)` when it does not exist.
pub fn open_private(path: &Path, what: &str) -> Result<Option<File>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(no_follow())
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            let _ = e;
            return Err(refuse(
                path,
                what,
                "is a symbolic link",
                "remove the link; kcerts never follows one to its journal",
            ));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open {what} {}", path.display())),
    };
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if let Some(why) = flaw(&meta, Kind::File) {
        return Err(refuse(
            path,
            what,
            &why,
            "if you are sure root wrote it, `chown root: FILE && chmod 600 FILE`; else \
             remove it",
        ));
    }
    Ok(Some(file))
}

/// Reads a file opened by [`open_private`] (at most [`super::MAX_FILE_BYTES`]).
pub fn read_private(path: &Path, what: &str) -> Result<Option<String>> {
    use std::io::Read;
    let Some(file) = open_private(path, what)? else {
        return Ok(None);
    };
    let mut text = String::new();
    file.take(super::MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    Ok(Some(text))
}
