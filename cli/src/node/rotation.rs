//! Running one phase of a CA or service-account key rotation on this node
//! (`ca rotate`, `sa rotate`): print the plan, apply it through the journaled
//! transaction, restart what loads the changed files, print the next steps;
//! before `reissue` and `switch`, the proof that every node trusts the new CA
//! or key (`--fleet`, `--force`).

use anyhow::{Context, Result};
use kcerts_core::ca_rotation::StepPlan;
use kcerts_core::fleet::order;
use kcerts_core::node::{NodeFiles, NodePath};
use kcerts_core::static_pod::{self, Component};
use time::OffsetDateTime;

use crate::flags::order::OrderArgs;
use crate::flags::restart::RestartArgs;
use crate::fsio::{self, NodeDirs};
use crate::node::endpoints::Endpoints;
use crate::node::fleet_input;
use crate::node::kubelet::KubeletFiles;
use crate::node::restart::{self, Request};
use crate::report::out::outln;

impl RestartArgs {
    /// `f` of the restart request for `components` on this node.
    fn with_request<T>(
        &self,
        dirs: &NodeDirs,
        components: &[Component],
        f: impl FnOnce(&Request<'_>) -> T,
    ) -> T {
        let endpoints = Endpoints::resolve(&self.endpoints, dirs);
        f(&Request {
            components,
            endpoints: &endpoints,
            dirs,
            waits: self.waits.waits(),
        })
    }
}

/// The components that load a file the phase writes or removes, in restart order.
fn changed_components(plan: &StepPlan) -> Vec<Component> {
    static_pod::to_restart_files(plan.writes.iter().map(|w| &w.path).chain(&plan.removes))
}

/// With `--restart`, after the phase was applied: restarts the components that
/// load the changed files through the restart command's code. Returns whether
/// it restarted them (else the next steps name the restart to do).
pub fn restart_after(dirs: &NodeDirs, plan: &StepPlan, r: &RestartArgs) -> Result<bool> {
    if !r.restart {
        return Ok(false);
    }
    let components = changed_components(plan);
    if components.is_empty() {
        outln!("[restart] no control-plane component loads the changed files: nothing to restart")?;
        return Ok(true);
    }
    outln!()?;
    r.with_request(dirs, &components, restart::run_restart)
        .context("the phase was applied, but restarting failed; `kcerts restart` does it again")?;
    Ok(true)
}

/// Prints the operator's next steps after a phase: the restarts on this node
/// (unless `--restart` did them), then the phase's own.
pub fn print_next(
    dirs: &NodeDirs,
    plan: &StepPlan,
    restarted: bool,
    kubelet_conf_written: bool,
) -> Result<()> {
    let mut next = Vec::new();
    let components = changed_components(plan);
    if !restarted && !components.is_empty() {
        let pods: Vec<_> = components.iter().map(|c| c.pod_name()).collect();
        let names: Vec<_> = components.iter().map(|c| c.name()).collect();
        next.push(format!(
            "restart {} on this node so they load the changed files: `kcerts restart {}` (or \
             run the phase with --restart)",
            pods.join(", "),
            names.join(" ")
        ));
    }
    let kubelet_conf = NodePath::kubeconfig("kubelet.conf");
    if kubelet_conf_written || plan.writes.iter().any(|w| w.path == kubelet_conf) {
        next.push(format!(
            "the kubelet reads {} only when it starts: `systemctl restart kubelet` on this node",
            dirs.path(&kubelet_conf).display()
        ));
    }
    next.extend(plan.next.iter().cloned());
    if !next.is_empty() {
        outln!("\nNext:")?;
        for n in &next {
            outln!("  - {n}")?;
        }
    }
    Ok(())
}

/// `reissue` of `ca` on a node with the kubelet's directory: its client
/// certificate re-signed by the new CA, installed as `kcerts kubelet client` does.
pub struct KubeletReissue {
    /// The kubelet's files, read.
    pub files: KubeletFiles,
    /// The new certificate.
    pub plan: kcerts_core::kubelet_client::Plan,
    /// Its writes.
    pub ops: Vec<fsio::txn::Op>,
}

/// How one phase is run: the flags and names `carry_out` needs.
pub struct PhaseRun<'a> {
    /// `--apply` (else a dry run).
    pub apply: bool,
    /// `trust of the ca CA`, for the messages.
    pub what: &'a str,
    /// `--backup-dir`.
    pub backup_dir: Option<&'a std::path::Path>,
    /// The backup directory's name before its time.
    pub prefix: &'a str,
    /// Now (`--at`).
    pub now: OffsetDateTime,
    /// `--restart` and where.
    pub restart: &'a RestartArgs,
    /// `reissue`: the kubelet client certificate, written in the same transaction.
    pub kubelet: Option<&'a KubeletReissue>,
}

/// Prints a phase's plan and, with `apply`, carries it out through the
/// journaled transaction. Returns whether files were changed.
pub fn carry_out(dirs: &NodeDirs, plan: &StepPlan, run: &PhaseRun<'_>) -> Result<bool> {
    let PhaseRun {
        apply,
        what,
        backup_dir,
        prefix,
        now,
        restart,
        kubelet,
    } = *run;
    if plan.writes.is_empty() && plan.removes.is_empty() && kubelet.is_none() {
        outln!("[rotate] {what} is already done on this node; nothing to change")?;
        return Ok(false);
    }
    let verb = if apply {
        "[rotate] "
    } else {
        "[dry-run] would "
    };
    print_plan(dirs, plan, verb)?;
    if let Some(k) = kubelet {
        outln!(
            "{verb}write {} (kubelet client certificate for {}, serial {}, and its key)",
            k.plan.link_to,
            k.plan.cert.subject,
            k.plan.cert.serial
        )?;
        outln!(
            "{verb}point {} at it and {} at the link",
            k.files
                .pki_dir()
                .join(kcerts_core::kubelet::CLIENT_CURRENT)
                .display(),
            dirs.path(&NodePath::kubeconfig("kubelet.conf")).display()
        )?;
    }
    if !apply {
        if restart.restart {
            let components = changed_components(plan);
            if components.is_empty() {
                outln!(
                    "[dry-run] no control-plane component loads the changed files: nothing to restart"
                )?;
            }
            for l in restart.with_request(dirs, &components, restart::plan_lines) {
                outln!("{l}")?;
            }
        }
        outln!("[dry-run] no file was changed; run again with --apply to make these changes")?;
        return Ok(false);
    }
    let base = backup_dir.map_or_else(|| dirs.kubeconfig_dir.join("tmp"), ToOwned::to_owned);
    let backup_dir = fsio::unique_dir(&base, prefix, now);
    let n = match kubelet {
        None => fsio::txn::apply_changes(dirs, &plan.writes, &plan.removes, &backup_dir)?,
        Some(k) => {
            // One transaction: the phase's files, the kubelet's pair, link and kubelet.conf.
            let mut ops = fsio::txn::change_ops(dirs, &plan.writes, &plan.removes);
            ops.extend(k.ops.iter().cloned());
            let mut roots = fsio::txn::manifest_roots(dirs);
            roots.push(k.files.pki_dir().to_path_buf());
            fsio::txn::apply_ops(dirs, &roots, &ops, &backup_dir)?
        }
    };
    outln!(
        "[rotate] {what} done; backed up {n} files to {}",
        backup_dir.display()
    )?;
    Ok(true)
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

/// Before `reissue` (a CA) or `switch` (the sa key) changes anything: whether
/// every control-plane node trusts the new CA or key, by the core's rule
/// ([`order::check`]) on the `--fleet` copies with this node's files as the
/// phase leaves them (`planned`). Prints what was proven (stdout) or why not
/// (stderr); returns whether the phase may go on (`--force` always may, and
/// says so on stderr).
pub fn prove_order(
    args: &OrderArgs,
    planned: &NodeFiles,
    rotated: order::Rotated,
    now: OffsetDateTime,
) -> Result<bool> {
    let (step, what) = match rotated {
        order::Rotated::Ca(ca) => ("reissue", format!("the new {} CA", ca.name())),
        order::Rotated::ServiceAccountKey => ("switch", "the new service-account key".into()),
    };
    if args.fleet.is_empty() {
        if args.force {
            eprintln!(
                "warning: --force: `{step}` runs without proof that every control-plane node trusts {what}"
            );
            return Ok(true);
        }
        eprintln!(
            "error: `{step}` refused: nothing proves that every control-plane node trusts {what} yet \
             (a node that does not would reject what this node signs from now on)"
        );
        eprintln!(
            "error: pass --fleet with a copy of each control-plane node's /etc/kubernetes (a directory, or \
             `tar czf NODE.tgz -C /etc/kubernetes .` made there) taken after `trust` ran on it, \
             or --force to run it anyway; no file was changed"
        );
        return Ok(false);
    }
    let copies = fleet_input::load_all(&args.fleet)?;
    match order::check(&copies, planned, rotated, now) {
        Ok(proven) => {
            let names: Vec<String> = proven
                .nodes
                .iter()
                .map(|n| {
                    if Some(n) == proven.this_node.as_ref() || n == order::THIS_NODE {
                        format!("{n} (this node, after `{step}`)")
                    } else {
                        n.clone()
                    }
                })
                .collect();
            outln!(
                "[order] every node given trusts {what}: {} ({} nodes, from the --fleet copies)",
                names.join(", "),
                proven.nodes.len()
            )?;
            Ok(true)
        }
        Err(refusal) if args.force => {
            eprintln!("warning: --force: {refusal}");
            eprintln!("warning: --force: `{step}` runs anyway");
            Ok(true)
        }
        Err(refusal) => {
            eprintln!("error: {refusal}");
            eprintln!(
                "error: run `trust` on those nodes and take their copies again, or pass --force to run it anyway; no file was changed"
            );
            Ok(false)
        }
    }
}
