//! `kcerts cluster status|renew`: the whole control plane from an admin's
//! machine, through the agents (`kcerts agent` on each control-plane node) and
//! the protocol of `kcerts_core::protocol`. `status` shows what each agent
//! last reported and who holds the Lease; `renew` clears a failed rollout,
//! writes a fresh renew request on every control-plane Node and follows the
//! agents' answers node by node. What is shown and when a rollout is over are
//! the core's rules (`kcerts_core::cluster_view`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kcerts_core::cluster_view::{
    CONTROL_PLANE_LABEL, ClusterView, NodeRecord, Rollout, RolloutState,
};
use kcerts_core::protocol::{
    LEASE_NAME, LEASE_NAMESPACE, RENEW_REQUEST_ANNOTATION, ROLLOUT_FAILED_ANNOTATION,
    RenewRequestId,
};
use kcerts_core::{residual, tabwriter};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use time::OffsetDateTime;

use crate::flags::output::OutputFormat;
use crate::flags::value;
use crate::node::agent_api::lease_view;
use crate::node::csr_api::{api_error, std_duration};
use crate::node::kube_client;
use crate::report::exit::Code;
use crate::report::out::{self, outln};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Every control-plane node's soonest expiry, what is due, its last renewal
    /// and outcome, as its agent reported them; who holds the Lease.
    Status(StatusArgs),
    /// Ask every control-plane node's agent to renew now, one node at a time, and
    /// follow them: a line per node as it answers.
    Renew(RenewArgs),
}

/// How to reach the API server.
#[derive(Debug, clap::Args)]
struct ApiArgs {
    /// The kubeconfig to reach the API server with (an admin's: it patches Nodes
    /// and the Lease). Without it, a pod's in-cluster configuration; there is no
    /// default file.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The longest one API call may take.
    #[arg(long, default_value = "30s", value_parser = value::parse_duration, value_name = "DURATION")]
    request_timeout: time::Duration,
}

const STATUS_FORMATS: [(OutputFormat, Option<&str>); 2] = [
    (OutputFormat::Text, None),
    (
        OutputFormat::Json,
        Some("Each node's agent status as its annotation holds it, its age, and the Lease"),
    ),
];

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads the Nodes labelled node-role.kubernetes.io/control-plane (their \
annotation kcerts.io/agent-status, written by `kcerts agent` after every run) and the Lease \
kube-system/kcerts-agent. A node without the annotation has no agent running (or none has \
finished a run yet).\nExit status: 0 read; 1 an error."
)]
struct StatusArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// Output format.
    #[arg(short, long, default_value = "text", value_parser = OutputFormat::parser(&STATUS_FORMATS))]
    output: OutputFormat,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Removes kcerts.io/rollout-failed from the Lease kube-system/kcerts-agent (an \
explicit request overrides an earlier failure), writes a new request id (<RFC 3339 time>-<8 hex>) \
in the annotation kcerts.io/renew-request of every control-plane Node, then reads the Nodes every \
2 seconds and prints a line per node when its agent reports that id handled: renewed, or failed \
with its message. Each agent treats every certificate `kcerts renew all` renews as due, takes the \
Lease (one node at a time), renews, restarts and checks its components. Agents run without \
--renew answer `not renewed (report-only)`.\n\
When a node fails, the other agents wait (the Lease's kcerts.io/rollout-failed) and this command \
stops following, unless --continue-on-failure.\n\
Exit status: 0 every node renewed; 1 an error; 2 --timeout passed with nodes that did not answer \
(each named, with what its agent last reported: no agent, waiting...); 3 a node failed or did not \
renew."
)]
struct RenewArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// Print, per node, what its agent last reported due, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// How long to follow the agents before giving up on those that did not answer.
    #[arg(long, default_value = "30m", value_parser = value::parse_duration, value_name = "DURATION")]
    timeout: time::Duration,
    /// Keep following the other nodes after one failed (agents started with
    /// --continue-on-failure go on; the others wait and are named at the end).
    #[arg(long)]
    continue_on_failure: bool,
}

pub fn run(a: Args) -> Result<Code> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match a.command {
        Command::Status(s) => runtime.block_on(status(&s)),
        Command::Renew(r) => runtime.block_on(renew(&r)),
    }
}

/// The client and the per-call bound.
async fn connect(api: &ApiArgs) -> Result<(kube::Client, String, Duration)> {
    if !api.request_timeout.is_positive() {
        anyhow::bail!("--request-timeout must be positive (e.g. 30s)");
    }
    let (client, server) = kube_client::connect(api.kubeconfig.as_deref()).await?;
    Ok((client, server, std_duration(api.request_timeout)))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn status(a: &StatusArgs) -> Result<Code> {
    let (client, server, bound) = connect(&a.api).await?;
    let view = read_view(&client, bound).await?;
    let now = now();
    if a.output == OutputFormat::Json {
        let text = serde_json::to_string_pretty(&view.status_json(now))
            .context("cannot encode the status")?;
        out::print(text + "\n")?;
        return Ok(Code::Ok);
    }
    if view.nodes.is_empty() {
        outln!("no Node labelled node-role.kubernetes.io/control-plane on {server}")?;
        return Ok(Code::Ok);
    }
    let t = view.status_text(now);
    out::print(tabwriter::format(&t.table, 0, 2))?;
    for line in t.lease.iter().chain(&t.notes) {
        outln!("{line}")?;
    }
    Ok(Code::Ok)
}

async fn renew(a: &RenewArgs) -> Result<Code> {
    if !a.timeout.is_positive() {
        anyhow::bail!("--timeout must be positive (e.g. 30m)");
    }
    let (client, server, bound) = connect(&a.api).await?;
    let view = read_view(&client, bound).await?;
    if view.nodes.is_empty() {
        anyhow::bail!(
            "no Node labelled node-role.kubernetes.io/control-plane on {server}: nothing to renew"
        );
    }
    if a.dry_run {
        for line in view.dry_run_lines(now()) {
            outln!("[dry-run] {line}")?;
        }
        return Ok(Code::Ok);
    }
    let started = Instant::now();
    let since = now();
    if view.rollout_failed().is_some() {
        remove_lease_annotation(&client, ROLLOUT_FAILED_ANNOTATION, bound).await?;
        outln!("[cluster] removed {ROLLOUT_FAILED_ANNOTATION} from the Lease")?;
    }
    let id = RenewRequestId::generate(since, &mut kcerts_core::system_rng());
    let names: Vec<String> = view.nodes.iter().map(|n| n.name.clone()).collect();
    for name in &names {
        annotate_node(
            &client,
            name,
            RENEW_REQUEST_ANNOTATION,
            Some(id.as_str()),
            bound,
        )
        .await?;
    }
    outln!(
        "[cluster] renew request {id} written on {} node(s): {}",
        names.len(),
        names.join(", ")
    )?;
    let mut rollout = Rollout::new(id, names);
    let deadline = std_duration(a.timeout);
    let mut unreadable = false;
    loop {
        // The API server the kubeconfig names restarts too during a rollout:
        // a failed read is said once and tried again until --timeout.
        let last = match read_view(&client, bound).await {
            Ok(v) => {
                unreadable = false;
                v
            }
            Err(e) => {
                if !unreadable {
                    outln!("[cluster] cannot read the Nodes now ({e:#}); trying again")?;
                }
                unreadable = true;
                if started.elapsed() >= deadline {
                    return Err(e.context(format!(
                        "--timeout passed; {} of the nodes had answered",
                        rollout.answers().len()
                    )));
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        for line in rollout.observe(&last, since) {
            outln!("[cluster] {line}")?;
        }
        let took = residual::human(i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX));
        match rollout.state(a.continue_on_failure) {
            RolloutState::AllRenewed => {
                outln!(
                    "[cluster] every node renewed ({} of {}) in {took}",
                    rollout.answers().len(),
                    rollout.answers().len()
                )?;
                return Ok(Code::Ok);
            }
            RolloutState::Done => {
                let renewed = rollout
                    .answers()
                    .iter()
                    .filter(|(_, a)| a.renewed())
                    .count();
                outln!(
                    "[cluster] {renewed} of {} node(s) renewed in {took}",
                    rollout.answers().len()
                )?;
                return Ok(Code::Critical);
            }
            RolloutState::Stopped => {
                for line in rollout.unanswered(&last, now()) {
                    outln!("[cluster] {line}")?;
                }
                outln!(
                    "[cluster] the rollout stopped after {took}: a node failed and the other agents \
                     wait ({ROLLOUT_FAILED_ANNOTATION} on the Lease); mend it and run `kcerts cluster \
                     renew` again (or --continue-on-failure)"
                )?;
                return Ok(Code::Critical);
            }
            RolloutState::Following => {}
        }
        if started.elapsed() >= deadline {
            for line in rollout.unanswered(&last, now()) {
                outln!("[cluster] {line}")?;
            }
            outln!(
                "[cluster] timed out after {}: {} of the nodes answered",
                residual::human(a.timeout.whole_seconds()),
                rollout.answers().len()
            )?;
            let failed = rollout.answers().iter().any(|(_, a)| !a.renewed());
            return Ok(if failed {
                Code::Critical
            } else {
                Code::Warning
            });
        }
        tokio::time::sleep(Duration::from_secs(2).min(deadline.saturating_sub(started.elapsed())))
            .await;
    }
}

async fn bounded<T>(
    bound: Duration,
    what: &str,
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T> {
    tokio::time::timeout(bound, call)
        .await
        .map_err(|_| anyhow!("{what}: the API server did not answer within {bound:?}"))?
        .map_err(|e| api_error(e, what))
}

/// Every Node labelled [`CONTROL_PLANE_LABEL`] and the Lease (absent: `None`).
async fn read_view(client: &kube::Client, bound: Duration) -> Result<ClusterView> {
    let nodes: Api<Node> = Api::all(client.clone());
    let list = bounded(
        bound,
        "cannot list the control-plane Nodes",
        nodes.list(&ListParams::default().labels(CONTROL_PLANE_LABEL)),
    )
    .await?;
    let records = list
        .items
        .iter()
        .map(|n| {
            let empty = BTreeMap::new();
            NodeRecord::from_annotations(
                n.metadata.name.as_deref().unwrap_or_default(),
                n.metadata.annotations.as_ref().unwrap_or(&empty),
            )
        })
        .collect();
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let lease = bounded(
        bound,
        &format!("cannot read the Lease {LEASE_NAMESPACE}/{LEASE_NAME}"),
        leases.get_opt(LEASE_NAME),
    )
    .await?;
    Ok(ClusterView::new(records, lease.as_ref().map(lease_view)))
}

/// A JSON merge patch of one annotation (`None` removes it).
fn annotation_patch(key: &str, value: Option<&str>) -> serde_json::Value {
    json!({"metadata": {"annotations": {key: value}}})
}

/// Sets (or with `None` removes) annotation `key` on Node `node`.
async fn annotate_node(
    client: &kube::Client,
    node: &str,
    key: &str,
    value: Option<&str>,
    bound: Duration,
) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    bounded(
        bound,
        &format!("cannot annotate the Node {node} ({key})"),
        nodes.patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(annotation_patch(key, value)),
        ),
    )
    .await?;
    Ok(())
}

/// Removes annotation `key` from the Lease (which must exist).
async fn remove_lease_annotation(client: &kube::Client, key: &str, bound: Duration) -> Result<()> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    bounded(
        bound,
        &format!("cannot remove {key} from the Lease {LEASE_NAMESPACE}/{LEASE_NAME}"),
        leases.patch(
            LEASE_NAME,
            &PatchParams::default(),
            &Patch::Merge(annotation_patch(key, None)),
        ),
    )
    .await?;
    Ok(())
}
