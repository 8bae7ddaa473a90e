//! `kcerts restore --backup-dir DIR`: put back the files a renewal replaced.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::flags::dirs::DirsWithManifests;
use crate::fsio::{self, txn::Restored};
use crate::report::exit::Code;
use crate::report::out::outln;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every `kcerts renew` first copies the files it replaces into a backup \
directory (<kubeconfig-dir>/tmp/kcerts-renew-<time>, or --backup-dir) with a journal, \
kcerts-manifest.tsv. `kcerts restore --backup-dir DIR` puts each of those files back \
(atomically, with its old mode and owner) and removes files the renewal created, so the \
node is exactly as before that renewal: use it to undo a renewal, or after a renewal was \
killed (the next `kcerts renew` also does this by itself). Without a journal (older \
backups), every kubeadm file found in DIR is put back. Safe to run again.

A backup is checked before anything is put back: DIR and its journal must be owned by \
the user running kcerts and writable by no one else, and every file the journal names \
must lie in --cert-dir, --kubeconfig-dir, --manifests-dir, --kubelet-pki-dir or an \
--allow-dir: the journal itself never adds a directory. Modes are restored without \
setuid, setgid or sticky bits."
)]
pub struct Args {
    /// The backup directory printed by `kcerts renew` ("[renew] backed up N files to DIR").
    #[arg(long, value_name = "DIR")]
    backup_dir: PathBuf,
    #[command(flatten)]
    dirs: DirsWithManifests,
    /// The kubelet's certificate directory (the journal of `kcerts kubelet` names it).
    #[arg(long, default_value = "/var/lib/kubelet/pki", value_name = "DIR")]
    kubelet_pki_dir: PathBuf,
    /// Also put back files in DIR (the directory of a `renew --update-kubeconfig`
    /// copy). Repeatable.
    #[arg(long = "allow-dir", value_name = "DIR")]
    allow_dirs: Vec<PathBuf>,
}

pub fn run(a: Args) -> Result<Code> {
    let dirs = a.dirs.dirs();
    let _lock = fsio::lock::lock_node(&dirs)?;
    let mut roots = fsio::txn::manifest_roots(&dirs);
    roots.push(a.kubelet_pki_dir.clone());
    roots.extend(a.allow_dirs.iter().cloned());
    let done = fsio::txn::restore_from(&dirs, &roots, &a.backup_dir)
        .with_context(|| format!("cannot restore from {}", a.backup_dir.display()))?;
    for d in &done {
        match d {
            Restored::Restored(p) => outln!("[restore] put back {}", p.display())?,
            Restored::Removed(p) => {
                outln!("[restore] removed {} (the renewal created it)", p.display())?
            }
        }
    }
    fsio::txn::clear_pending(&dirs, &a.backup_dir)?;
    if let Some(other) = fsio::txn::pending(&dirs) {
        eprintln!(
            "warning: another interrupted renewal is recorded ({}); `kcerts renew` puts its old \
             files back",
            other.display()
        );
    }
    outln!(
        "[restore] restored {} files from {}",
        done.len(),
        a.backup_dir.display()
    )?;
    Ok(Code::Ok)
}
