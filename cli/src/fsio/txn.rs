//! Crash-safe renewal writes: a journal in the backup directory, every new file
//! staged beside its target before any target is replaced, then renames.
//!
//! The order, and what a crash or failure at each point leaves on the node:
//! 1. copy each file to be replaced into the backup directory and write its
//!    journal, `kcerts-manifest.tsv` (old mode, owner, whether it existed):
//!    nothing changed yet;
//! 2. write `<kubeconfig-dir>/tmp/kcerts-renew-pending`, naming the backup;
//! 3. stage: write each new file as `.<name>.kcerts-new` in its target's
//!    directory and fsync it. Nothing changed yet: a full disk fails here, the
//!    staged files and the marker are removed, and the old files are intact;
//! 4. commit: rename each staged file over its target and fsync the directory.
//!    Each file is always wholly old or wholly new, but a certificate and its key
//!    are two renames, so between them the pair on disk does not match. A failed
//!    rename rolls every file back at once;
//! 5. remove the marker.
//!
//! A process killed between 2 and 5 leaves the marker. The next `kcerts renew`
//! (or `kcerts restore --backup-dir DIR`) then puts back the old version of every
//! file in the journal and removes staged files before anything else, so every
//! certificate matches its key again (as it did before the interrupted run).
//!
//! Beyond the node's two directories, a transaction may write into extra
//! directories (the kubelet's `/var/lib/kubelet/pki`), named in the journal as
//! `#root` lines, and may replace symbolic links (`kubelet-client-current.pem`):
//! the new link is made beside the old one and renamed over it, and the old
//! link is kept in the backup as a link.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kcerts_core::journal::{self, Entry, FileMeta, Old};
use kcerts_core::node::{NodeFiles, NodePath};
use kcerts_core::renewal::FileWrite;
use time::OffsetDateTime;

use super::{NodeDirs, fault, trust};
use crate::report::Hinted;

/// The journal of a renewal, in its backup directory.
pub const MANIFEST: &str = "kcerts-manifest.tsv";
const PENDING: &str = "kcerts-renew-pending";
const STAGED_SUFFIX: &str = ".kcerts-new";

/// What a transaction puts at one path.
#[derive(Clone)]
pub enum Content {
    /// A regular file; `secret` files (keys) get mode 0600.
    File { bytes: Vec<u8>, secret: bool },
    /// A symbolic link to this path.
    Symlink(PathBuf),
    /// Nothing: the path is removed (its old version stays in the backup). Done
    /// after every write is in place.
    Removed,
}

/// One write of a transaction.
#[derive(Clone)]
pub struct Op {
    /// The path written.
    pub target: PathBuf,
    /// Where its old version goes inside the backup directory (`pki/apiserver.key`).
    pub rel: String,
    /// What is written.
    pub content: Content,
}

/// A file's mode (masked to the permission bits) and owner, from its metadata.
fn meta_of(meta: &fs::Metadata) -> FileMeta {
    FileMeta::new(meta.mode(), meta.uid(), meta.gid())
}

/// The node's directories, canonical: every write must land inside one of them.
pub struct Roots {
    roots: Vec<PathBuf>,
    shown: String,
}

impl Roots {
    /// The canonical cert and kubeconfig directories.
    pub fn new(dirs: &NodeDirs) -> Self {
        let roots = [&dirs.cert_dir, &dirs.kubeconfig_dir]
            .into_iter()
            .filter_map(|d| fs::canonicalize(d).ok())
            .collect();
        let shown = format!(
            "{} and {}",
            dirs.cert_dir.display(),
            dirs.kubeconfig_dir.display()
        );
        Self { roots, shown }
    }

    /// The node's directories and `extra` (from the command line: the kubelet's
    /// directory, `--manifests-dir`, the directories of admin.conf's copies).
    pub fn with(dirs: &NodeDirs, extra: &[PathBuf]) -> Self {
        let mut roots = Self::new(dirs);
        for r in extra {
            roots.add(r);
        }
        roots
    }

    /// Allows writes under `dir` too (the kubelet's directory).
    pub fn add(&mut self, dir: &Path) {
        if let Ok(real) = fs::canonicalize(dir) {
            self.shown.push_str(&format!(" and {}", dir.display()));
            self.roots.push(real);
        }
    }

    /// The real paths of the roots.
    pub fn real(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The real path of a symbolic link to be replaced: its directory resolved,
    /// the link itself not followed.
    pub fn resolve_link(&self, path: &Path) -> Result<PathBuf> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            bail!("{} is not a file path", path.display());
        };
        let real = self.resolve(parent)?.join(name);
        if let Ok(meta) = fs::symlink_metadata(&real)
            && !meta.file_type().is_symlink()
        {
            bail!(
                "{} is not a symbolic link; kcerts replaces only a link there",
                real.display()
            );
        }
        Ok(real)
    }

    /// The real path a write to `path` lands on. Symbolic links (of the file or
    /// of a directory above it) are followed only while they stay inside the
    /// node's directories: writing through a link that leaves them is refused.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf> {
        let real = match fs::symlink_metadata(path) {
            Ok(_) => fs::canonicalize(path).with_context(|| {
                format!(
                    "{} is a symbolic link that cannot be followed (dangling or a loop)",
                    path.display()
                )
            })?,
            Err(_) => {
                let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                    bail!("{} is not a file path", path.display());
                };
                fs::canonicalize(parent)
                    .with_context(|| format!("cannot resolve {}", parent.display()))?
                    .join(name)
            }
        };
        if self.roots.iter().any(|r| real.starts_with(r)) {
            return Ok(real);
        }
        Err(Hinted {
            message: format!(
                "{} resolves to {}, outside {}: kcerts does not write through a symbolic \
                 link that leads out of the node's directories",
                path.display(),
                real.display(),
                self.shown
            ),
            hint: "replace the link with the file itself, or point --cert-dir and \
                   --kubeconfig-dir at the real directories"
                .into(),
        }
        .into())
    }
}

/// `BASE/kcerts-renew-<time>` (with `-2`, `-3`... when that exists).
pub fn unique_backup_dir(base: &Path, now: OffsetDateTime) -> PathBuf {
    super::unique_dir(base, "kcerts-renew", now)
}

/// Where an unfinished renewal is recorded.
pub fn pending_path(dirs: &NodeDirs) -> PathBuf {
    dirs.kubeconfig_dir.join("tmp").join(PENDING)
}

/// The backup directory an unfinished renewal's marker names, if one was
/// interrupted (unchecked: to show it; [`recover`] checks it before use).
pub fn pending(dirs: &NodeDirs) -> Option<PathBuf> {
    let text = fs::read_to_string(pending_path(dirs)).ok()?;
    Some(PathBuf::from(text.trim_end_matches('\n')))
}

/// The backup the pending marker names, checked: the marker is a regular file of
/// this user's that no one else can write, and names a directory inside
/// `<kubeconfig-dir>/tmp` (the core's rule). `Ok(None)` without a marker.
fn trusted_pending(dirs: &NodeDirs) -> Result<Option<PathBuf>> {
    let marker = pending_path(dirs);
    let Some(text) = trust::read_private(&marker, "the pending-renewal marker")? else {
        return Ok(None);
    };
    let backup = PathBuf::from(text.trim_end_matches('\n'));
    let tmp = dirs.kubeconfig_dir.join("tmp");
    let tmp_real = fs::canonicalize(&tmp).unwrap_or(tmp);
    if journal::pending_backup_allowed(&backup, &tmp_real) {
        return Ok(Some(backup));
    }
    Err(Hinted {
        message: format!(
            "the pending-renewal marker {} names {}, outside {}: kcerts recovers by itself \
             only from its backups there",
            marker.display(),
            backup.display(),
            tmp_real.display()
        ),
        hint: format!(
            "if you made that backup (renew --backup-dir), run `kcerts restore --backup-dir \
             {}` yourself; else remove {}",
            backup.display(),
            marker.display()
        ),
    }
    .into())
}

fn staged_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}{STAGED_SUFFIX}"))
}

fn sync_dir(dir: &Path) {
    // Makes renames and new entries durable; not every filesystem allows it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to a new file (replacing a stale one), fsyncs it, and sets its
/// owner (when given) and mode, masked to 0777, on the open handle.
fn write_synced(path: &Path, bytes: &[u8], mode: u32, owner: Option<FileMeta>) -> Result<()> {
    let _ = fs::remove_file(path);
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        if let Some(o) = owner {
            super::set_owner(&f, o.uid, o.gid);
        }
        f.set_permissions(fs::Permissions::from_mode(mode & journal::MODE_MASK))
            .with_context(|| format!("cannot set the mode of {}", path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(path);
    }
    result
}

/// Makes a symbolic link `path -> dest`, replacing a stale entry at `path`.
fn make_link(path: &Path, dest: &Path) -> Result<()> {
    let _ = fs::remove_file(path);
    std::os::unix::fs::symlink(dest, path)
        .with_context(|| format!("cannot create the link {}", path.display()))
}

/// Replaces the link `target` with one to `dest` atomically (new link beside, rename).
fn replace_link(target: &Path, dest: &Path) -> Result<()> {
    let staged = staged_path(target);
    make_link(&staged, dest)?;
    rename_staged(&staged, target)
}

/// Replaces `target` with `bytes` atomically (staged file, then rename).
fn replace(target: &Path, bytes: &[u8], mode: u32, owner: Option<FileMeta>) -> Result<()> {
    let staged = staged_path(target);
    write_synced(&staged, bytes, mode, owner)?;
    rename_staged(&staged, target)
}

/// Renames the staged file or link over `target` and syncs its directory; a failed
/// rename removes the staged copy and leaves `target` as it was.
fn rename_staged(staged: &Path, target: &Path) -> Result<()> {
    fs::rename(staged, target).with_context(|| {
        let _ = fs::remove_file(staged);
        format!("cannot replace {}", target.display())
    })?;
    if let Some(dir) = target.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// A renewal's writes as transaction operations on the node's directories.
pub fn write_ops(dirs: &NodeDirs, writes: &[FileWrite]) -> Vec<Op> {
    writes
        .iter()
        .map(|w| Op {
            target: dirs.path(&w.path),
            rel: w.path.to_string(),
            content: Content::File {
                bytes: w.bytes.clone(),
                secret: w.secret,
            },
        })
        .collect()
}

/// Applies writes in the node's directories, and removes the files in `removes`
/// that exist (backed up and journaled like the others, so `kcerts restore` puts
/// them back), as [`apply_ops`] does.
pub fn apply_changes(
    dirs: &NodeDirs,
    writes: &[FileWrite],
    removes: &[NodePath],
    backup_dir: &Path,
) -> Result<usize> {
    let ops = change_ops(dirs, writes, removes);
    apply_ops(dirs, &manifest_roots(dirs), &ops, backup_dir)
}

/// The operations of [`apply_changes`]: `writes`, then removing each file of
/// `removes` that exists.
pub fn change_ops(dirs: &NodeDirs, writes: &[FileWrite], removes: &[NodePath]) -> Vec<Op> {
    let mut ops = write_ops(dirs, writes);
    ops.extend(
        removes
            .iter()
            .filter(|p| fs::symlink_metadata(dirs.path(p)).is_ok())
            .map(|p| Op {
                target: dirs.path(p),
                rel: p.to_string(),
                content: Content::Removed,
            }),
    );
    ops
}

/// The extra roots of a transaction on `dirs`: manifests outside the kubeconfig
/// dir (--manifests-dir), named in the journal so `kcerts restore` accepts them
/// without the flag.
pub fn manifest_roots(dirs: &NodeDirs) -> Vec<PathBuf> {
    dirs.manifests_dir.iter().cloned().collect()
}

/// The directories of files named on the command line (admin.conf's copies),
/// as extra roots.
pub fn parent_dirs(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter_map(|p| fs::canonicalize(p).ok()?.parent().map(Path::to_path_buf))
        .collect()
}

/// Applies any writes (files and symbolic links, in the node's directories or
/// in `extra_roots`): backup and journal, staging, renames (see the module doc).
/// Returns how many existing files were backed up.
pub fn apply_ops(
    dirs: &NodeDirs,
    extra_roots: &[PathBuf],
    ops: &[Op],
    backup_dir: &Path,
) -> Result<usize> {
    let targets = resolve_targets(dirs, extra_roots, ops)?;
    // 1. Backup and journal.
    let backup_dir = create_backup(backup_dir)?;
    let entries = back_up(&targets, &backup_dir)?;
    write_journal(extra_roots, &entries, &backup_dir)?;
    // 2. The marker that makes the next run recover.
    let marker = mark_pending(dirs, &backup_dir)?;
    // 3. Stage every new file; the node is unchanged until all are on disk.
    let staged = stage(&targets, &entries, &marker)?;
    // 4. Commit: one rename per file.
    commit(dirs, extra_roots, &targets, &staged, &backup_dir, &marker)?;
    // 5. Done.
    clear_marker(&marker)?;
    Ok(entries.iter().filter(|e| e.old != Old::Absent).count())
}

/// One write with the real path it lands on.
struct Target<'a> {
    op: &'a Op,
    path: PathBuf,
}

/// The real path of every write, refusing unsafe backup paths and links that
/// leave the node's directories (and `extra_roots`).
fn resolve_targets<'a>(
    dirs: &NodeDirs,
    extra_roots: &[PathBuf],
    ops: &'a [Op],
) -> Result<Vec<Target<'a>>> {
    let roots = Roots::with(dirs, extra_roots);
    let mut targets = Vec::new();
    for op in ops {
        if !journal::safe_backup_path(&op.rel) {
            bail!("unsafe backup path {:?}", op.rel);
        }
        let path = match op.content {
            Content::File { .. } | Content::Removed => roots.resolve(&op.target)?,
            Content::Symlink(_) => roots.resolve_link(&op.target)?,
        };
        targets.push(Target { op, path });
    }
    Ok(targets)
}

/// Creates the backup directory (0700, exclusively: never one that exists) in a
/// base only this user can write, and returns its canonical path.
fn create_backup(backup_dir: &Path) -> Result<PathBuf> {
    if let Some(base) = backup_dir.parent() {
        trust::prepare_backup_base(base)?;
    }
    super::create_backup_dir(backup_dir)?;
    fs::canonicalize(backup_dir).with_context(|| format!("cannot resolve {}", backup_dir.display()))
}

/// Copies what is at each target into the backup (a link as a link); one
/// journal entry per target.
fn back_up(targets: &[Target<'_>], backup_dir: &Path) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for t in targets {
        let target = &t.path;
        let rel = t.op.rel.clone();
        fault::step(&format_args!("back up {}", target.display()))?;
        let dst = backup_dir.join(&rel);
        let link = fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink());
        let old = match fs::metadata(target) {
            _ if link => {
                let dest = fs::read_link(target)
                    .with_context(|| format!("cannot read the link {}", target.display()))?;
                create_parent(&dst)?;
                make_link(&dst, &dest)?;
                Old::Link
            }
            Ok(meta) => {
                let bytes = fs::read(target)
                    .with_context(|| format!("cannot read {}", target.display()))?;
                create_parent(&dst)?;
                let old = meta_of(&meta);
                write_synced(&dst, &bytes, old.mode, None)?;
                Old::File(old)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Old::Absent,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", target.display())),
        };
        entries.push(Entry {
            old,
            rel,
            target: target.clone(),
        });
    }
    Ok(entries)
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(())
}

/// Writes the journal, `kcerts-manifest.tsv`, and makes the backup durable.
fn write_journal(extra_roots: &[PathBuf], entries: &[Entry], backup_dir: &Path) -> Result<()> {
    fault::step(&"write the journal")?;
    let manifest = journal::render(extra_roots, entries);
    write_synced(&backup_dir.join(MANIFEST), manifest.as_bytes(), 0o600, None)?;
    sync_dir(backup_dir);
    if let Some(parent) = backup_dir.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// Writes the pending-renewal marker naming the backup; returns its path.
fn mark_pending(dirs: &NodeDirs, backup_dir: &Path) -> Result<PathBuf> {
    fault::step(&"write the pending-renewal marker")?;
    let marker = pending_path(dirs);
    create_parent(&marker)?;
    replace(
        &marker,
        format!("{}\n", backup_dir.display()).as_bytes(),
        0o600,
        None,
    )?;
    Ok(marker)
}

/// Writes every new file (or link) beside its target: keys 0600, other files
/// keep their old mode, all keep their old owner. On failure removes what was
/// staged and the marker: no file was changed.
fn stage(targets: &[Target<'_>], entries: &[Entry], marker: &Path) -> Result<Vec<Option<PathBuf>>> {
    let mut staged = Vec::new();
    let staging = (|| -> Result<()> {
        for (t, e) in targets.iter().zip(entries) {
            let target = &t.path;
            if let Content::Removed = t.op.content {
                staged.push(None);
                continue;
            }
            fault::step(&format_args!("stage {}", target.display()))?;
            let path = staged_path(target);
            match &t.op.content {
                Content::File { bytes, secret } => {
                    let mode = match (secret, e.old.file()) {
                        (true, _) => 0o600,
                        (false, Some(old)) => old.mode,
                        (false, None) => 0o644,
                    };
                    write_synced(&path, bytes, mode, e.old.file())
                        .with_context(|| format!("cannot stage the new {}", target.display()))?;
                }
                Content::Symlink(dest) => make_link(&path, dest)?,
                Content::Removed => {}
            }
            staged.push(Some(path));
        }
        Ok(())
    })();
    if let Err(e) = staging {
        for s in staged.iter().flatten() {
            let _ = fs::remove_file(s);
        }
        let _ = fs::remove_file(marker);
        return Err(e.context("no file was changed"));
    }
    Ok(staged)
}

/// Renames each staged file over its target, then removes what is removed. A
/// failed rename or removal puts every file back from the backup.
fn commit(
    dirs: &NodeDirs,
    extra_roots: &[PathBuf],
    targets: &[Target<'_>],
    staged: &[Option<PathBuf>],
    backup_dir: &Path,
    marker: &Path,
) -> Result<()> {
    let renames = (|| -> Result<()> {
        for (t, s) in targets.iter().zip(staged) {
            let Some(s) = s else { continue };
            fault::step(&format_args!("replace {}", t.path.display()))?;
            fs::rename(s, &t.path)
                .with_context(|| format!("cannot replace {}", t.path.display()))?;
            if let Some(dir) = t.path.parent() {
                sync_dir(dir);
            }
        }
        for t in targets {
            if let Content::Removed = t.op.content {
                fault::step(&format_args!("remove {}", t.path.display()))?;
                fs::remove_file(&t.path)
                    .with_context(|| format!("cannot remove {}", t.path.display()))?;
                if let Some(dir) = t.path.parent() {
                    sync_dir(dir);
                }
            }
        }
        Ok(())
    })();
    let Err(e) = renames else {
        return Ok(());
    };
    Err(match restore_from(dirs, extra_roots, backup_dir) {
        Ok(_) => {
            let _ = fs::remove_file(marker);
            e.context("every file was put back from the backup; no file was changed")
        }
        Err(r) => e.context(format!(
            "and putting the old files back failed too ({r:#}); run `kcerts restore \
             --backup-dir {}`",
            backup_dir.display()
        )),
    })
}

/// Removes the pending-renewal marker: the transaction is complete.
fn clear_marker(marker: &Path) -> Result<()> {
    fault::step(&"remove the pending-renewal marker")?;
    fs::remove_file(marker).with_context(|| format!("cannot remove {}", marker.display()))?;
    if let Some(parent) = marker.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// What restoring did to one file.
#[derive(Debug)]
pub enum Restored {
    /// The old version was put back.
    Restored(PathBuf),
    /// The file did not exist before the renewal and was removed.
    Removed(PathBuf),
}

/// A backup's copy of one path.
enum Saved {
    Bytes(Vec<u8>),
    Link(PathBuf),
    Nothing,
}

/// Puts every file of a backup back: the journal's files when it has one, else
/// every kubeadm file found in it (backups of older kcerts versions). Staged
/// files of an interrupted renewal are removed. Idempotent: safe to run again
/// after a crash.
///
/// The backup is hostile until checked ([`trust`]): the directory and its
/// journal must be this user's and writable by no one else, and every path the
/// journal names must lie inside the node's directories or `extra_roots` (from
/// the command line; the journal's `#root` lines never add one).
pub fn restore_from(
    dirs: &NodeDirs,
    extra_roots: &[PathBuf],
    backup_dir: &Path,
) -> Result<Vec<Restored>> {
    let roots = Roots::with(dirs, extra_roots);
    trust::check_backup_dir(backup_dir)?;
    let manifest = backup_dir.join(MANIFEST);
    let entries = match trust::read_private(&manifest, "the journal")? {
        Some(text) => {
            let refused = |e: journal::JournalError| -> anyhow::Error {
                Hinted {
                    message: format!("{}: {e}", manifest.display()),
                    hint: match e {
                        journal::JournalError::OutsideRoots { .. } => {
                            "if you made this backup, name that directory on the command \
                             line: `kcerts restore --backup-dir DIR --allow-dir <directory>` \
                             (or --manifests-dir, --kubelet-pki-dir)"
                                .into()
                        }
                        _ => "this journal was not written by kcerts; restore from another \
                              backup"
                            .into(),
                    },
                }
                .into()
            };
            let parsed = journal::parse(&text).map_err(refused)?;
            parsed.check_roots(roots.real()).map_err(refused)?;
            parsed.entries.into_iter().map(|(_, e)| e).collect()
        }
        None => {
            let mut found = Vec::new();
            for p in NodeFiles::wanted() {
                let rel = p.to_string();
                if let Ok(meta) = fs::symlink_metadata(backup_dir.join(&rel))
                    && meta.is_file()
                {
                    let target = dirs.path(&p);
                    // The owner of the file in place (a backup copy may belong to root).
                    let mut old = meta_of(&meta);
                    if let Ok(now) = fs::metadata(&target) {
                        let now = meta_of(&now);
                        (old.uid, old.gid) = (now.uid, now.gid);
                    }
                    found.push(Entry {
                        old: Old::File(old),
                        rel,
                        target,
                    });
                }
            }
            if found.is_empty() {
                bail!(
                    "{} holds neither a {MANIFEST} nor any kubeadm file",
                    backup_dir.display()
                );
            }
            found
        }
    };
    // Check everything before changing anything.
    let mut todo = Vec::new();
    for e in entries {
        let copy = backup_dir.join(&e.rel);
        let (target, saved) = match e.old {
            Old::File(..) => (roots.resolve(&e.target)?, Saved::Bytes(read_copy(&copy)?)),
            Old::Link => {
                (
                    roots.resolve_link(&e.target)?,
                    Saved::Link(fs::read_link(&copy).with_context(|| {
                        format!("cannot read the backup link {}", copy.display())
                    })?),
                )
            }
            // A link made by the transaction is removed itself, not what it points at.
            Old::Absent
                if fs::symlink_metadata(&e.target).is_ok_and(|m| m.file_type().is_symlink()) =>
            {
                (roots.resolve_link(&e.target)?, Saved::Nothing)
            }
            Old::Absent => (roots.resolve(&e.target)?, Saved::Nothing),
        };
        todo.push((e, target, saved));
    }
    let mut done = Vec::new();
    for (e, target, saved) in todo {
        let _ = fs::remove_file(staged_path(&target));
        match (e.old, saved) {
            (Old::File(old), Saved::Bytes(bytes)) => {
                fault::step(&format_args!("restore {}", target.display()))?;
                replace(&target, &bytes, old.mode, Some(old))?;
                done.push(Restored::Restored(target));
            }
            (_, Saved::Link(dest)) => {
                fault::step(&format_args!("restore {}", target.display()))?;
                replace_link(&target, &dest)?;
                done.push(Restored::Restored(target));
            }
            _ => {
                fault::step(&format_args!("remove {}", target.display()))?;
                match fs::remove_file(&target) {
                    Ok(()) => done.push(Restored::Removed(target)),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => {
                        return Err(err)
                            .with_context(|| format!("cannot remove {}", target.display()));
                    }
                }
            }
        }
    }
    Ok(done)
}

/// A backup copy of a regular file, read without following a symbolic link.
fn read_copy(copy: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    OpenOptions::new()
        .read(true)
        .custom_flags(trust::no_follow())
        .open(copy)
        .and_then(|f| f.take(super::MAX_FILE_BYTES).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read the backup copy {}", copy.display()))?;
    Ok(bytes)
}

/// Finishes an interrupted renewal by putting the old files back (see the
/// module doc), allowing writes in the node's directories and `extra_roots`
/// (the running command's). Returns the backup used and how many files it
/// restored.
pub fn recover(dirs: &NodeDirs, extra_roots: &[PathBuf]) -> Result<Option<(PathBuf, usize)>> {
    let Some(backup_dir) = trusted_pending(dirs)? else {
        return Ok(None);
    };
    let done = restore_from(dirs, extra_roots, &backup_dir).with_context(|| {
        format!(
            "a previous renewal was interrupted and its backup {} cannot be restored",
            backup_dir.display()
        )
    })?;
    clear_pending(dirs, &backup_dir)?;
    Ok(Some((backup_dir, done.len())))
}

/// Removes the pending marker if it names `backup_dir`.
pub fn clear_pending(dirs: &NodeDirs, backup_dir: &Path) -> Result<()> {
    let marker = pending_path(dirs);
    let same = pending(dirs).is_some_and(|p| {
        p == backup_dir || fs::canonicalize(&p).ok() == fs::canonicalize(backup_dir).ok()
    });
    if same {
        fs::remove_file(&marker).with_context(|| format!("cannot remove {}", marker.display()))?;
        if let Some(parent) = marker.parent() {
            sync_dir(parent);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_are_hidden_siblings() {
        assert_eq!(
            staged_path(Path::new("/etc/kubernetes/pki/ca.crt")),
            PathBuf::from("/etc/kubernetes/pki/.ca.crt.kcerts-new")
        );
    }
}
