//! All file I/O of the CLI: loading a node's files, backups, atomic writes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kcerts_core::node::{Dir, FileContent, NodeFiles, NodePath};

pub mod archive;
pub mod fault;
pub mod hold;
pub mod lock;
pub mod trust;
pub mod txn;

/// Files larger than this are refused instead of read (no kubeadm file comes close).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The two directories of a node.
#[derive(Debug, Clone)]
pub struct NodeDirs {
    pub cert_dir: PathBuf,
    pub kubeconfig_dir: PathBuf,
    /// The static pod manifests, when not `<kubeconfig-dir>/manifests`
    /// (`--manifests-dir`): the node files `manifests/...` are read and written there.
    pub manifests_dir: Option<PathBuf>,
}

impl NodeDirs {
    /// The cert and kubeconfig dirs, the manifests in `<kubeconfig-dir>/manifests`.
    pub fn new(cert_dir: PathBuf, kubeconfig_dir: PathBuf) -> Self {
        Self {
            cert_dir,
            kubeconfig_dir,
            manifests_dir: None,
        }
    }

    /// The real path of a node file.
    pub fn path(&self, p: &NodePath) -> PathBuf {
        match p.dir {
            Dir::Cert => self.cert_dir.join(&p.rel),
            Dir::Kubeconfig => match (&self.manifests_dir, p.rel.strip_prefix("manifests/")) {
                (Some(dir), Some(file)) => dir.join(file),
                _ => self.kubeconfig_dir.join(&p.rel),
            },
        }
    }

    /// The static pod manifests directory.
    pub fn manifests(&self) -> PathBuf {
        self.manifests_dir
            .clone()
            .unwrap_or_else(|| self.kubeconfig_dir.join("manifests"))
    }

    /// Reads every file kcerts looks at. Missing files are left out; unreadable
    /// ones (directories, too large, permission denied, symlink loops) are
    /// recorded with their reason so the report can name them.
    pub fn load(&self) -> NodeFiles {
        self.load_paths(&NodeFiles::wanted())
    }

    /// [`NodeDirs::load`] for another list of files.
    pub fn load_paths(&self, wanted: &[NodePath]) -> NodeFiles {
        let mut files = NodeFiles::default();
        for p in wanted.iter().cloned() {
            let path = self.path(&p);
            match read_limited(&path) {
                Ok(Some(bytes)) => files.insert(p, bytes),
                Ok(None) => {}
                Err(reason) => files.insert_unreadable(p, reason),
            }
        }
        files
    }
}

/// A directory under `base` that does not exist yet: `<prefix>-<UTC time>`, with
/// `-2`, `-3`... added when one of that second exists already.
/// (The name is the core's, `backup_set::dir_name`, so `kcerts backups` reads it.)
pub fn unique_dir(base: &Path, prefix: &str, now: time::OffsetDateTime) -> PathBuf {
    use kcerts_core::backup_set::dir_name;
    let mut n = 1;
    let mut dir = base.join(dir_name(prefix, now, n));
    while fs::symlink_metadata(&dir).is_ok() {
        n += 1;
        dir = base.join(dir_name(prefix, now, n));
    }
    dir
}

/// Gives an open file to `uid:gid` when the running user may: root may give
/// any owner, another user keeps its files (the kernel would refuse).
pub fn set_owner(file: &File, uid: u32, gid: u32) {
    if trust::euid() == 0 {
        let _ = std::os::unix::fs::fchown(file, Some(uid), Some(gid));
    }
}

/// Why a file cannot be read: the core's type, so a node's unreadable file
/// carries it into the report (the messages follow the file's name: `PATH is a
/// directory`). The system's refusals are [`ReadError::System`], its message.
pub use kcerts_core::node::ReadError;

/// The system's refusal (permission denied, a symlink loop, an I/O error).
fn system(e: std::io::Error) -> ReadError {
    ReadError::System(e.to_string())
}

/// Reads a file of at most [`MAX_FILE_BYTES`]: `Ok(None)` when it does not exist.
pub fn read_limited(path: &Path) -> Result<Option<Vec<u8>>, ReadError> {
    read_up_to(path, MAX_FILE_BYTES, "a certificate, key or kubeconfig")
}

/// Reads a file that must exist (at most [`MAX_FILE_BYTES`]); `what` names it
/// in the error: `WHAT PATH does not exist`, `WHAT PATH: REASON`.
pub fn read_required(path: &Path, what: &str) -> Result<Vec<u8>> {
    match read_limited(path) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => bail!("{what} {} does not exist", path.display()),
        Err(r) => bail!("{what} {}: {r}", path.display()),
    }
}

/// Reads a file outside the node's directories as a node file is read
/// (size-limited): `None` when it does not exist, else its bytes or why it
/// cannot be read.
pub fn read_content(path: &Path) -> Option<FileContent> {
    match read_limited(path) {
        Ok(Some(b)) => Some(FileContent::Bytes(b)),
        Ok(None) => None,
        Err(reason) => Some(FileContent::Unreadable(reason)),
    }
}

/// Reads a file of at most `limit` bytes (`what` names the kind of file in the
/// message when it is larger): `Ok(None)` when it does not exist.
pub fn read_up_to(path: &Path, limit: u64, what: &str) -> Result<Option<Vec<u8>>, ReadError> {
    let Some((file, len)) = open_regular(path)? else {
        return Ok(None);
    };
    if len > limit {
        return Err(ReadError::TooLarge {
            len,
            limit,
            what: what.to_string(),
        });
    }
    let mut bytes = Vec::new();
    use std::io::Read;
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(system)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::Grew { limit });
    }
    Ok(Some(bytes))
}

/// Opens a regular file for reading and returns it with its length: `Ok(None)`
/// when it does not exist; directories, devices, FIFOs and dangling symlinks are
/// errors (a FIFO would block, a device could be endless).
pub fn open_regular(path: &Path) -> Result<Option<(File, u64)>, ReadError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symlink is "missing" for kubeadm too; report it as unreadable
            // so the user learns why.
            return match fs::symlink_metadata(path) {
                Ok(_) => Err(ReadError::DanglingSymlink),
                Err(_) => Ok(None),
            };
        }
        Err(e) => return Err(system(e)),
    };
    if meta.is_dir() {
        return Err(ReadError::Directory);
    }
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    let file = File::open(path).map_err(system)?;
    Ok(Some((file, meta.len())))
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory,
/// fsync, rename over the target, fsync the directory. An existing file's owner
/// and mode are kept; keys are always 0600.
pub fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy()
        .into_owned();
    let existing = fs::metadata(path).ok();
    let mode = match (&existing, secret) {
        (_, true) => 0o600,
        (Some(m), false) => m.mode() & 0o7777,
        (None, false) => 0o644,
    };
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".{name}.kcerts-{}.tmp", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
        if let Some(m) = &existing {
            // Keep the owner; only root can give files away, and only root needs to.
            set_owner(&f, m.uid(), m.gid());
        }
        f.set_permissions(fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the mode of {}", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates a backup directory readable by its owner only (backups hold keys),
/// exclusively: a directory that exists already (someone else's) is an error,
/// never reused.
pub fn create_backup_dir(backup_dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(backup_dir)
        .with_context(|| {
            format!(
                "cannot create the backup directory {} (kcerts makes a new one for each run \
                 and never reuses one that exists)",
                backup_dir.display()
            )
        })
}

/// Writes a new file, refusing to replace an existing one.
pub fn write_new(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        bail!(
            "{} already exists; kcerts does not overwrite it",
            path.display()
        );
    }
    write_atomic(path, bytes, secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_errors_say_what_the_file_is() {
        let dir = std::env::temp_dir().join(format!("kcerts-fsio-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big");
        fs::write(&big, [0u8; 11]).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(dir.join("nothing"), &link).unwrap();
        let msg = |r: Result<Option<Vec<u8>>, ReadError>| r.unwrap_err().to_string();
        assert_eq!(msg(read_limited(&dir)), "is a directory");
        assert_eq!(
            msg(read_limited(&link)),
            "is a symbolic link to a file that does not exist"
        );
        assert_eq!(
            msg(read_up_to(&big, 10, "a test file")),
            "is 11 bytes, over kcerts' limit of 10 bytes for a test file"
        );
        assert_eq!(
            msg(read_limited(Path::new("/dev/null"))),
            "is not a regular file (a device, FIFO or socket)"
        );
        assert_eq!(
            read_up_to(&big, 11, "a test file").unwrap(),
            Some(vec![0; 11])
        );
        assert!(read_limited(&dir.join("missing")).unwrap().is_none());
        let err = read_required(&dir.join("missing"), "the CSR").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("the CSR {} does not exist", dir.join("missing").display())
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_backup_directory_is_created_private_and_never_reused() {
        let base = std::env::temp_dir().join(format!("kcerts-backup-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        let dir = base.join("kcerts-renew-x");
        create_backup_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);
        // Exists already (someone else's, or an earlier run's): refused, not reused.
        let err = create_backup_dir(&dir).unwrap_err();
        assert!(
            format!("{err:#}").contains("never reuses one that exists"),
            "{err:#}"
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
