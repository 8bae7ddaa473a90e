//! `kcerts sa status` and `kcerts sa rotate PHASE [--apply]`: rotation of the
//! service-account signing key (the plans are the core's `sa_rotation`).

use std::path::PathBuf;

use anyhow::Result;
use kcerts_core::duration;
use kcerts_core::fleet::order;
use kcerts_core::node::{FileContent, NodeFiles, NodePath};
use kcerts_core::sa_rotation::{self, OldTokens, SaStep};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::flags::DirArgs;
use crate::flags::dirs::DirsWithManifests;
use crate::flags::order::OrderArgs;
use crate::flags::restart::RestartArgs;
use crate::flags::value;
use crate::fsio::NodeDirs;
use crate::node::guard::lock_and_recover;
use crate::node::rotation::{PhaseRun, carry_out, print_next, prove_order, restart_after};
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
switch   kube-apiserver and kube-controller-manager sign with the new key; old tokens still accepted\n           \
(refused unless --fleet copies of every control-plane node show that each apiserver accepts\n           \
the new key, or --force)\n  \
finish   the new pair becomes sa.key/sa.pub; tokens signed by the old key are refused (refused\n           \
until they can no longer be valid: the longest token lifetime kube-apiserver's flags allow,\n           \
counted from this node's switch; unbounded without --service-account-max-token-expiration;\n           \
--force finishes anyway)\n\n\
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
    #[command(flatten)]
    order: OrderArgs,
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
    let now = value::now_or(a.at);
    if step == SaStep::Switch
        && !plan.writes.is_empty()
        && !prove_order(
            &a.order,
            &kcerts_core::ca_rotation::apply_in_memory(&files, &plan),
            order::Rotated::ServiceAccountKey,
            now,
        )?
    {
        return Ok(Code::Error);
    }
    if step == SaStep::Finish
        && !plan.writes.is_empty()
        && !old_tokens_expired(&dirs, &files, a.order.force, now)?
    {
        return Ok(Code::Error);
    }
    let what = format!("{name} of the service-account key");
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

/// When this node's `switch` happened: the last change of the two manifests it
/// edits (a later edit only makes the wait longer).
fn switched_at(dirs: &NodeDirs) -> Option<OffsetDateTime> {
    [
        sa_rotation::APISERVER_MANIFEST,
        sa_rotation::CONTROLLER_MANAGER_MANIFEST,
    ]
    .iter()
    .filter_map(|m| std::fs::metadata(dirs.path(&NodePath::kubeconfig(*m))).ok())
    .filter_map(|meta| meta.modified().ok())
    .map(OffsetDateTime::from)
    .max()
}

/// Before `finish` stops accepting the old key: whether every token it signed
/// has expired (the core's [`sa_rotation::old_tokens`], counted from this node's
/// switch). Prints why on stderr when not; `--force` goes on and says so.
fn old_tokens_expired(
    dirs: &NodeDirs,
    files: &NodeFiles,
    force: bool,
    now: OffsetDateTime,
) -> Result<bool> {
    let api = match files.get(&NodePath::kubeconfig(sa_rotation::APISERVER_MANIFEST)) {
        Some(FileContent::Bytes(b)) => b.as_slice(),
        _ => &[],
    };
    let rfc = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let refusal = match switched_at(dirs) {
        None => format!(
            "cannot tell when this node switched: {} cannot be read",
            dirs.path(&NodePath::kubeconfig(sa_rotation::APISERVER_MANIFEST))
                .display()
        ),
        Some(switched) => match sa_rotation::old_tokens(api, switched) {
            OldTokens::Until {
                until,
                lifetime,
                why,
                ..
            } if until <= now => {
                outln!(
                    "[tokens] every token signed by the old key has expired: the longest lifetime is {} ({why}), counted from this node's switch ({}, when its manifests last changed)",
                    duration::format_go(lifetime),
                    rfc(switched)
                )?;
                return Ok(true);
            }
            OldTokens::Until {
                until,
                lifetime,
                why,
                ..
            } => format!(
                "tokens signed by the old key may be valid until {} ({} left): the longest lifetime is {} ({why}), counted from this node's switch ({}, when its manifests last changed)",
                rfc(until),
                duration::format_go(until - now),
                duration::format_go(lifetime),
                rfc(switched)
            ),
            OldTokens::Unbounded(why) => {
                format!("cannot know when the tokens signed by the old key stop being valid: {why}")
            }
        },
    };
    let note = format!(
        "pods' own tokens are replaced by the kubelet within {} of the last switch; a token made with `kubectl create token` or copied out of a pod stays valid until it expires, and legacy Secret tokens (type kubernetes.io/service-account-token) never expire: every one signed by the old key is refused after `finish`",
        duration::format_go(sa_rotation::KUBELET_REFRESH)
    );
    if force {
        eprintln!("warning: --force: {refusal}");
        eprintln!("warning: --force: {note}; `finish` runs anyway");
        return Ok(true);
    }
    eprintln!("error: `finish` refused: {refusal}");
    eprintln!("error: {note}");
    eprintln!("error: wait, or pass --force to finish now; no file was changed");
    Ok(false)
}
