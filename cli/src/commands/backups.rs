//! `kcerts backups list` and `kcerts backups prune --keep N`: the backups every
//! renewal, rotation and kubelet run leaves (`<kubeconfig-dir>/tmp/kcerts-*`, or
//! under `--backup-dir`). Each holds the files it replaced, private keys
//! included (a retired CA key or sa.key too), so they are listed with their keys
//! flagged and pruned on purpose. Names, the key rule and which backups a prune
//! removes are the core's (`backup_set`).
//!
//! A prune is crash-safe: each backup is first renamed to
//! `.kcerts-pruning-<name>` (one atomic step: a crash leaves it whole under its
//! name, or renamed), then deleted; the next prune finishes any renamed one.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kcerts_core::backup_set::{self, BackupName};

use crate::flags::DirArgs;
use crate::fsio::{self, trust};
use crate::report::exit::Code;
use crate::report::out::{outln, print};

const PRUNING: &str = ".kcerts-pruning-";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: BackupsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BackupsCommand {
    /// List the backups: when, which command, how many files, their size, and
    /// how many hold private keys.
    List(Where),
    /// Remove all but the newest N backups (never the one an interrupted
    /// renewal still needs).
    Prune(PruneArgs),
}

/// Where the backups are.
#[derive(Debug, clap::Args)]
struct Where {
    /// The directory holding the backups [default: <kubeconfig-dir>/tmp].
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    #[command(flatten)]
    dirs: DirArgs,
}

#[derive(Debug, clap::Args)]
struct PruneArgs {
    /// How many of the newest backups to keep (at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    keep: u32,
    /// Say what would be removed and remove nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    place: Where,
}

impl Where {
    fn base(&self) -> PathBuf {
        self.backup_dir
            .clone()
            .unwrap_or_else(|| self.dirs.dirs().kubeconfig_dir.join("tmp"))
    }
}

/// One backup directory and what it holds.
struct Backup {
    path: PathBuf,
    name: BackupName,
    files: usize,
    bytes: u64,
    keys: usize,
}

pub fn run(a: Args) -> Result<Code> {
    match a.command {
        BackupsCommand::List(w) => list(&w),
        BackupsCommand::Prune(p) => prune(&p),
    }
}

fn list(w: &Where) -> Result<Code> {
    let base = w.base();
    let backups = scan(&base)?;
    let pending = pending_index(w, &backups);
    let mut table = String::from("BACKUP\tTAKEN\tCOMMAND\tFILES\tBYTES\tPRIVATE KEYS\n");
    for (i, b) in backups.iter().enumerate() {
        let keys = match b.keys {
            0 => "none".to_string(),
            n => format!("{n} (secret)"),
        };
        let note = if Some(i) == pending {
            "  <- an interrupted renewal needs it"
        } else {
            ""
        };
        table.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{keys}{note}\n",
            b.path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            taken(b),
            b.name.command,
            b.files,
            b.bytes
        ));
    }
    if backups.is_empty() {
        outln!("no kcerts backups in {}", base.display())?;
        return Ok(Code::Ok);
    }
    outln!("backups in {}:", base.display())?;
    print(kcerts_core::tabwriter::format(&table, 0, 2))?;
    let keys: usize = backups.iter().map(|b| b.keys).sum();
    let bytes: u64 = backups.iter().map(|b| b.bytes).sum();
    outln!(
        "{} backups, {bytes} bytes, {keys} files with private keys: keep them as private as \
         the node's pki directory; `kcerts backups prune --keep N` removes all but the newest N",
        backups.len()
    )?;
    Ok(Code::Ok)
}

fn prune(p: &PruneArgs) -> Result<Code> {
    let base = p.place.base();
    let dirs = p.place.dirs.dirs();
    let tag = if p.dry_run { "dry-run" } else { "prune" };
    let _lock = if p.dry_run {
        None
    } else {
        // Deleting as root in a directory someone else can write is refused.
        trust::check_backup_dir(&base)?;
        let lock = fsio::lock::lock_node(&dirs)?;
        finish_interrupted(&base)?;
        Some(lock)
    };
    let backups = scan(&base)?;
    let pending = pending_index(&p.place, &backups);
    let names: Vec<BackupName> = backups.iter().map(|b| b.name.clone()).collect();
    let gone = backup_set::to_prune(&names, p.keep as usize, pending);
    for i in &gone {
        let b = &backups[*i];
        let what = format!(
            "{} ({}, {}, {} files, {} with private keys)",
            b.path.display(),
            b.name.command,
            taken(b),
            b.files,
            b.keys
        );
        if p.dry_run {
            outln!("[{tag}] would remove {what}")?;
        } else {
            remove(&base, &b.path)?;
            outln!("[{tag}] removed {what}")?;
        }
    }
    if let Some(i) = pending {
        outln!(
            "[{tag}] kept {}: an interrupted renewal needs it (`kcerts renew` or `kcerts restore` \
             puts its files back)",
            backups[i].path.display()
        )?;
    }
    let verb = if p.dry_run { "would remove" } else { "removed" };
    outln!(
        "[{tag}] {verb} {} of {} backups, kept the newest {}",
        gone.len(),
        backups.len(),
        backups.len() - gone.len()
    )?;
    Ok(Code::Ok)
}

/// When a backup was taken, as RFC 3339 (UTC).
fn taken(b: &Backup) -> String {
    b.name
        .taken
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The backup an interrupted renewal names, if it is one of `backups`.
fn pending_index(w: &Where, backups: &[Backup]) -> Option<usize> {
    let pending = fsio::txn::pending(&w.dirs.dirs())?;
    let real = fs::canonicalize(&pending).unwrap_or(pending);
    backups
        .iter()
        .position(|b| fs::canonicalize(&b.path).is_ok_and(|p| p == real))
}

/// The backups directly under `base` (directories with a backup's name; never
/// through a symbolic link), oldest first.
fn scan(base: &Path) -> Result<Vec<Backup>> {
    let entries = match fs::read_dir(base) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", base.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", base.display()))?;
        let Some(name) = entry.file_name().to_str().and_then(backup_set::parse_name) else {
            continue;
        };
        let path = entry.path();
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let mut b = Backup {
            path,
            name,
            files: 0,
            bytes: 0,
            keys: 0,
        };
        count(&b.path.clone(), &mut b)?;
        out.push(b);
    }
    out.sort_by_key(|b| (b.name.taken, b.name.seq));
    Ok(out)
}

/// Counts the files under `dir` (links as files, never followed), their size
/// and those holding a private key. The journal is not a backed-up file.
fn count(dir: &Path, b: &mut Backup) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let meta = fs::symlink_metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            count(&path, b)?;
            continue;
        }
        if entry.file_name() == fsio::txn::MANIFEST {
            continue;
        }
        b.files += 1;
        if meta.is_file() {
            b.bytes += meta.len();
            if let Ok(Some(bytes)) = fsio::read_limited(&path)
                && backup_set::holds_private_key(&bytes)
            {
                b.keys += 1;
            }
        }
    }
    Ok(())
}

/// Removes one backup: renamed aside first (atomic), then deleted.
fn remove(base: &Path, path: &Path) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no name", path.display()))?
        .to_string_lossy();
    let aside = base.join(format!("{PRUNING}{name}"));
    fs::rename(path, &aside)
        .with_context(|| format!("cannot move {} aside to remove it", path.display()))?;
    sync(base);
    fs::remove_dir_all(&aside).with_context(|| {
        format!(
            "cannot remove {} (the next `kcerts backups prune` finishes it)",
            aside.display()
        )
    })?;
    sync(base);
    Ok(())
}

/// Deletes what an interrupted prune left renamed aside.
fn finish_interrupted(base: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(base) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let is_aside = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PRUNING));
        if is_aside && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let path = entry.path();
            fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            outln!("[prune] finished removing {}", path.display())?;
        }
    }
    sync(base);
    Ok(())
}

fn sync(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
