//! `kcerts restore --backup-dir DIR`: put back the files a renewal replaced.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::flags::DirArgs;
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
backups), every kubeadm file found in DIR is put back. Safe to run again."
)]
pub struct Args {
    /// The backup directory printed by `kcerts renew` ("[renew] backed up N files to DIR").
    #[arg(long, value_name = "DIR")]
    backup_dir: PathBuf,
    #[command(flatten)]
    dirs: DirArgs,
}

pub fn run(a: Args) -> Result<Code> {
    let dirs = a.dirs.dirs();
    let _lock = fsio::lock::lock_node(&dirs)?;
    let done = fsio::txn::restore_from(&dirs, &a.backup_dir)
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
