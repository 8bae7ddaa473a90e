//! `kcerts ca status` and `kcerts ca rotate PHASE --ca NAME [--apply]`: CA
//! rotation in phases (the plans are the core's `ca_rotation`; this file reads
//! the node, prints, and writes through the journaled transaction).

use std::path::PathBuf;

use anyhow::{Context, Result};
use kcerts_core::ca_rotation::{self, Phase, PrepareOptions, Status, Step, StepPlan};
use kcerts_core::inventory::Ca;
use kcerts_core::node::NodeFiles;
use time::OffsetDateTime;

use crate::exit::Code;
use crate::fsio::{self, NodeDirs};
use crate::out::outln;
use crate::{DirArgs, args};

/// `kcerts ca ...`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CaCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CaCommand {
    /// Show, per CA, the rotation phase this node is in and what is left.
    Status(StatusArgs),
    /// Run one phase of a CA rotation (a dry run unless --apply).
    #[command(after_help = ROTATE_HELP)]
    Rotate(RotateArgs),
}

const ROTATE_HELP: &str = "Phases, in order, each run on every control-plane node before the next:\n  \
prepare  a new CA beside the old one (<ca>.new.crt/.key); copy both to the other nodes\n  \
trust    every trust point holds old + new (ca.crt becomes a bundle, old first; kubeconfigs'\n           \
certificate-authority-data too; kube-controller-manager signs from ca-signing.crt)\n  \
reissue  the new key signs; every leaf of the CA is re-signed by it (refused while any\n           \
trust point lacks the new CA)\n  \
finish   only the new CA is trusted; the old key and the .new copies stay in the backup\n\n\
The phase is read from the files (`kcerts ca status`), so every phase can be re-run.\n\
Each phase backs up and journals what it changes (`kcerts restore --backup-dir DIR` goes back).\n\
kubeadm does not rotate CAs (its docs describe a manual procedure); this is kcerts' own.";

#[derive(Debug, clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    dirs: DirArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    output: StatusOutput,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StatusOutput {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PhaseArg {
    Prepare,
    Trust,
    Reissue,
    Finish,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CaArg {
    #[value(name = "ca")]
    Ca,
    #[value(name = "front-proxy-ca")]
    FrontProxyCa,
    #[value(name = "etcd-ca")]
    EtcdCa,
}

#[derive(Debug, clap::Args)]
struct RotateArgs {
    /// The phase to run.
    #[arg(value_enum)]
    phase: PhaseArg,
    /// The CA to rotate.
    #[arg(long, value_enum)]
    ca: CaArg,
    #[command(flatten)]
    dirs: DirArgs,
    /// Change the files (without it, print what would change).
    #[arg(long)]
    apply: bool,
    /// prepare: validity of the new CA (kubeadm's caCertificateValidityPeriod).
    #[arg(long, default_value = "87600h", value_parser = args::parse_duration)]
    validity: time::Duration,
    /// prepare: use this CA certificate (from an external CA) instead of making one.
    #[arg(long, value_name = "FILE", requires = "new_ca_key")]
    new_ca_cert: Option<PathBuf>,
    /// prepare: the key of --new-ca-cert.
    #[arg(long, value_name = "FILE", requires = "new_ca_cert")]
    new_ca_key: Option<PathBuf>,
    /// Where to keep the backup (default: <kubeconfig-dir>/tmp/kcerts-ca-<phase>-<time>).
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// Act as if now were this RFC 3339 time (tests).
    #[arg(long, value_name = "TIME", value_parser = args::parse_time, hide = true)]
    at: Option<OffsetDateTime>,
}

fn ca_of(a: CaArg) -> Ca {
    match a {
        CaArg::Ca => Ca::Ca,
        CaArg::FrontProxyCa => Ca::FrontProxyCa,
        CaArg::EtcdCa => Ca::EtcdCa,
    }
}

fn load(dirs: &NodeDirs) -> NodeFiles {
    dirs.load_paths(&ca_rotation::wanted())
}

pub fn run(a: Args) -> Result<Code> {
    match a.command {
        CaCommand::Status(s) => status(s),
        CaCommand::Rotate(r) => rotate(r),
    }
}

fn status(a: StatusArgs) -> Result<Code> {
    let dirs = a.dirs.dirs();
    let files = load(&dirs);
    let mut rows: Vec<std::result::Result<Status, String>> = Vec::new();
    for ca in Ca::ALL {
        if ca == Ca::EtcdCa && !files.exists(&kcerts_core::node::NodePath::cert(ca.cert_file())) {
            continue; // external etcd
        }
        rows.push(ca_rotation::status(&files, ca).map_err(|e| e.to_string()));
    }
    match a.output {
        StatusOutput::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|r| match r {
                    Ok(s) => serde_json::to_value(s).unwrap_or_default(),
                    Err(e) => serde_json::json!({ "error": e }),
                })
                .collect();
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
            Ok(Code::Ok)
        }
        StatusOutput::Text => {
            let mut out = String::from("CA\tPHASE\tCA SERIAL\tNEW CA SERIAL\n");
            let mut left = String::new();
            for r in &rows {
                match r {
                    Ok(s) => {
                        out.push_str(&format!(
                            "{}\t{}\t{}\t{}\n",
                            s.ca,
                            s.phase.name(),
                            s.old_serial,
                            s.new_serial.as_deref().unwrap_or("-")
                        ));
                        for l in &s.left {
                            left.push_str(&format!("{}: {l}\n", s.ca));
                        }
                    }
                    Err(e) => left.push_str(&format!("error: {e}\n")),
                }
            }
            let mut text = kcerts_core::tabwriter::format(&out, 0, 2);
            if !left.is_empty() {
                text.push('\n');
                text.push_str(&left);
            }
            crate::out::print(text)?;
            Ok(Code::Ok)
        }
    }
}

fn rotate(a: RotateArgs) -> Result<Code> {
    let dirs = a.dirs.dirs();
    let ca = ca_of(a.ca);
    let step = match a.phase {
        PhaseArg::Prepare => Step::Prepare,
        PhaseArg::Trust => Step::Trust,
        PhaseArg::Reissue => Step::Reissue,
        PhaseArg::Finish => Step::Finish,
    };
    let phase_name = format!("{:?}", a.phase).to_lowercase();
    let _lock = lock_for_apply(&dirs, a.apply)?;
    let files = load(&dirs);
    let external = match (&a.new_ca_cert, &a.new_ca_key) {
        (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
        _ => None,
    };
    let opts = PrepareOptions {
        validity: a.validity,
        external,
    };
    let now = args::now_or(a.at);
    let mut rng = kcerts_core::system_rng();
    let plan = match ca_rotation::plan_step(&files, ca, step, &opts, now, &mut rng) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("error: no file was changed");
            return Ok(Code::Error);
        }
    };
    let what = format!("{phase_name} of the {} CA", ca.name());
    let prefix = format!("kcerts-ca-{}-{phase_name}", ca.name());
    if !carry_out(
        &dirs,
        &plan,
        a.apply,
        &what,
        a.backup_dir.as_deref(),
        &prefix,
        now,
    )? {
        return Ok(Code::Ok);
    }
    if let Ok(s) = ca_rotation::status(&load(&dirs), ca) {
        outln!("[rotate] this node is now in phase `{}`", s.phase.name())?;
        if s.phase == Phase::Idle && step == Step::Finish {
            outln!(
                "[rotate] the rotation of the {} CA is complete on this node",
                ca.name()
            )?;
        }
    }
    print_next(&plan)?;
    Ok(Code::Ok)
}

/// Prints the operator's next steps after a phase.
pub(crate) fn print_next(plan: &StepPlan) -> Result<()> {
    if !plan.next.is_empty() {
        outln!("\nNext:")?;
        for n in &plan.next {
            outln!("  - {n}")?;
        }
    }
    Ok(())
}

/// Prints a phase's plan and, with `apply`, carries it out through the
/// journaled transaction. Returns whether files were changed.
pub(crate) fn carry_out(
    dirs: &NodeDirs,
    plan: &StepPlan,
    apply: bool,
    what: &str,
    backup_dir: Option<&std::path::Path>,
    prefix: &str,
    now: OffsetDateTime,
) -> Result<bool> {
    if plan.writes.is_empty() && plan.removes.is_empty() {
        outln!("[rotate] {what} is already done on this node; nothing to change")?;
        return Ok(false);
    }
    let verb = if apply {
        "[rotate] "
    } else {
        "[dry-run] would "
    };
    print_plan(dirs, plan, verb)?;
    if !apply {
        outln!("[dry-run] no file was changed; run again with --apply to make these changes")?;
        return Ok(false);
    }
    let base = backup_dir.map_or_else(|| dirs.kubeconfig_dir.join("tmp"), ToOwned::to_owned);
    let backup_dir = fsio::unique_dir(&base, prefix, now);
    let n = fsio::txn::apply_changes(dirs, &plan.writes, &plan.removes, &backup_dir)?;
    outln!(
        "[rotate] {what} done; backed up {n} files to {}",
        backup_dir.display()
    )?;
    Ok(true)
}

/// Takes the node lock for `--apply`, first putting back an interrupted run.
pub(crate) fn lock_for_apply(dirs: &NodeDirs, apply: bool) -> Result<Option<fsio::lock::NodeLock>> {
    if !apply {
        return Ok(None);
    }
    let lock = fsio::lock::lock_node(dirs)?;
    if let Some((backup, n)) = fsio::txn::recover(dirs)? {
        outln!(
            "[rotate] a previous run was interrupted: put back {n} files from {}",
            backup.display()
        )?;
    }
    Ok(Some(lock))
}

fn print_plan(dirs: &NodeDirs, plan: &StepPlan, verb: &str) -> Result<()> {
    for w in &plan.writes {
        let what = if w.secret && w.path.rel.ends_with(".key") {
            "a new private key".to_string()
        } else {
            match kcerts_core::certificate::parse_all(&w.bytes) {
                Ok(c) if !w.path.rel.ends_with(".conf") => {
                    let serials: Vec<_> = c.iter().map(|c| c.serial.as_str()).collect();
                    format!("{} certificate(s): serial {}", c.len(), serials.join(", "))
                }
                _ => "updated contents".into(),
            }
        };
        outln!("{verb}write {} ({what})", dirs.path(&w.path).display())?;
    }
    for r in &plan.removes {
        outln!(
            "{verb}remove {} (kept in the backup)",
            dirs.path(r).display()
        )?;
    }
    Ok(())
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    fsio::read_limited(path)
        .map_err(anyhow::Error::msg)
        .and_then(|b| b.with_context(|| format!("{} does not exist", path.display())))
        .with_context(|| format!("cannot read {}", path.display()))
}
