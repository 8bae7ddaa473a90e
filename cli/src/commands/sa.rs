//! `kcerts sa status` and `kcerts sa rotate PHASE [--apply]`: rotation of the
//! service-account signing key (the plans are the core's `sa_rotation`).

use std::path::PathBuf;

use anyhow::Result;
use kcerts_core::sa_rotation::{self, SaStep};
use time::OffsetDateTime;

use crate::flags::DirArgs;
use crate::flags::dirs::DirsWithManifests;
use crate::flags::restart::RestartArgs;
use crate::flags::value;
use crate::node::guard::lock_and_recover;
use crate::node::rotation::{PhaseRun, carry_out, print_next, restart_after};
use crate::report::exit::Code;
use crate::report::out::outln;

/// `kcerts sa ...`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: SaCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SaCommand {
    /// Show the phase of the service-account key rotation on this node.
    Status(StatusArgs),
    /// Run one phase of the service-account key rotation (a dry run unless --apply).
    #[command(after_help = ROTATE_HELP)]
    Rotate(RotateArgs),
}

const ROTATE_HELP: &str = "Phases, in order, each run on every control-plane node before the next:\n  \
prepare  a new key pair beside the old one (sa.new.key/sa.new.pub); copy both to the other nodes\n  \
trust    kube-apiserver also accepts tokens signed by the new key (a second --service-account-key-file)\n  \
switch   kube-apiserver and kube-controller-manager sign with the new key; old tokens still accepted\n  \
finish   the new pair becomes sa.key/sa.pub; tokens signed by the old key are refused\n\n\
The issue asked for prepare|trust|finish; `switch` is separate because on several control-plane\n\
nodes every apiserver must accept the new key before any signs with it, and the old key must be\n\
accepted until the tokens it signed are replaced (bound tokens: within an hour by default).\n\
The manifests (--manifests-dir, default <kubeconfig-dir>/manifests) are edited line by line, keeping\nthe rest of each file; the kubelet restarts a pod whose manifest changed, and --restart restarts\n(and checks) every component that loads a changed file.";

#[derive(Debug, clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    dirs: DirsWithManifests,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PhaseArg {
    Prepare,
    Trust,
    Switch,
    Finish,
}

#[derive(Debug, clap::Args)]
struct RotateArgs {
    /// The phase to run.
    #[arg(value_enum)]
    phase: PhaseArg,
    #[command(flatten)]
    dirs: DirArgs,
    /// Change the files (without it, print what would change).
    #[arg(long)]
    apply: bool,
    /// Where to keep the backup (default: <kubeconfig-dir>/tmp/kcerts-sa-<phase>-<time>).
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    #[command(flatten)]
    restart: RestartArgs,
    /// Act as if now were this RFC 3339 time (tests).
    #[arg(long, value_name = "TIME", value_parser = value::parse_time, hide = true)]
    at: Option<OffsetDateTime>,
}

pub fn run(a: Args) -> Result<Code> {
    match a.command {
        SaCommand::Status(s) => {
            let dirs = s.dirs.dirs();
            let files = dirs.load_paths(&sa_rotation::wanted());
            match sa_rotation::status(&files) {
                Ok(st) => {
                    outln!("service-account key: phase `{}`", st.phase.name())?;
                    outln!("  apiserver accepts: {}", st.verify_files.join(", "))?;
                    outln!(
                        "  apiserver signs with: {}",
                        st.apiserver_signing_file.as_deref().unwrap_or("-")
                    )?;
                    outln!(
                        "  controller-manager signs with: {}",
                        st.controller_manager_signing_file.as_deref().unwrap_or("-")
                    )?;
                    Ok(Code::Ok)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(Code::Error)
                }
            }
        }
        SaCommand::Rotate(r) => rotate(r),
    }
}

fn rotate(a: RotateArgs) -> Result<Code> {
    let dirs = a.restart.dirs(&a.dirs);
    let (step, name) = match a.phase {
        PhaseArg::Prepare => (SaStep::Prepare, "prepare"),
        PhaseArg::Trust => (SaStep::Trust, "trust"),
        PhaseArg::Switch => (SaStep::Switch, "switch"),
        PhaseArg::Finish => (SaStep::Finish, "finish"),
    };
    let _lock = a
        .apply
        .then(|| {
            lock_and_recover(
                &dirs,
                &crate::fsio::txn::manifest_roots(&dirs),
                "rotate",
                "run",
            )
        })
        .transpose()?;
    let files = dirs.load_paths(&sa_rotation::wanted());
    let plan = match sa_rotation::plan_step(&files, step, &mut kcerts_core::system_rng()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("error: no file was changed");
            return Ok(Code::Error);
        }
    };
    let what = format!("{name} of the service-account key");
    let now = value::now_or(a.at);
    let prefix = format!("kcerts-sa-{name}");
    let run = PhaseRun {
        apply: a.apply,
        what: &what,
        backup_dir: a.backup_dir.as_deref(),
        prefix: &prefix,
        now,
        restart: &a.restart,
        kubelet: None,
    };
    if carry_out(&dirs, &plan, &run)? {
        if let Ok(st) = sa_rotation::status(&dirs.load_paths(&sa_rotation::wanted())) {
            outln!("[rotate] this node is now in phase `{}`", st.phase.name())?;
        }
        let restarted = restart_after(&dirs, &plan, &a.restart)?;
        print_next(&dirs, &plan, restarted, false)?;
    }
    Ok(Code::Ok)
}
