//! `kcerts agent`: renewal that runs itself on every control-plane node, one node
//! at a time. Every `--interval` it reads the node and writes what it saw on its
//! Node (`kcerts.io/agent-status`); with `--renew`, when rows are due (or
//! `kcerts cluster renew` asked), it waits a random moment, takes the Lease
//! `kube-system/kcerts-agent`, checks that a restart is safe, runs `kcerts renew
//! ROWS --restart`, checks `verify --live`, and releases the Lease only then (with
//! `kcerts.io/rollout-failed` when something failed). Events on the Node say what
//! happened. The rules are the core's (`kcerts_core::{protocol, renewal_due,
//! lease_claim, restart_safety, jitter, node_event}`).

mod renewal;
mod safety;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::coordination::v1::Lease;
use kcerts_core::agent_metrics::{self, Tally};
use kcerts_core::lease_claim::{self, Release};
use kcerts_core::protocol::{
    self, AgentStatus, Outcome, RENEW_REQUEST_ANNOTATION, RolloutFailed, STATUS_ANNOTATION,
};
use kcerts_core::renewal_due::{self, DueRule, NodeDue};
use kcerts_core::static_pod::Component;
use kcerts_core::{jitter, node_event, restart_safety};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::flags::DirArgs;
use crate::flags::endpoints::EndpointArgs;
use crate::flags::listen::ListenArgs;
use crate::flags::value;
use crate::flags::waits::WaitArgs;
use crate::node::agent_api::{AgentApi, lease_view};
use crate::node::endpoints::Endpoints;
use crate::node::guard::lock_and_recover;
use crate::node::metrics_server::{self, Owner, Page};
use crate::report::exit::Code;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Report only by default: without --renew the agent changes no file; it \
writes its status on its Node (annotation kcerts.io/agent-status) and raises a \
CertificateExpirationWarning Event when rows are due.\n\
A row is due when it expires before the next run plus --buffer, or once \
--renew-at-fraction of its lifetime has passed, or when `kcerts cluster renew` wrote a new \
request id on the Node (kcerts.io/renew-request): then every row `kcerts renew all` renews \
is due.\n\
With --renew, a due node waits up to --jitter, takes the Lease kube-system/kcerts-agent \
(one node at a time; renewed every third of --lease-duration), checks that etcd keeps \
quorum without this member (each member's /health with the node's etcd client \
certificate) and that every other API server answers /readyz, runs `kcerts renew ROWS \
--restart` (backups, journal, health-gated restarts), checks `verify --live`, and releases \
the Lease. When any step fails it releases the Lease with kcerts.io/rollout-failed: no \
other agent renews until that node succeeds or `kcerts cluster renew` clears it (unless \
started with --continue-on-failure). Events on the Node: CertificateExpirationWarning, \
CertificatesRenewed, CertificateRenewalFailed.\n\
A renewal an earlier run left half done (the process killed) is put back at start, as \
`kcerts renew` does. With --once: exit 0 when nothing was due or all was renewed, 2 when \
rows are due and were not renewed (report only, or waiting), 1 when the renewal failed.\n\
With --listen it serves its own metrics as `kcerts serve` does, with the same TLS, client \
certificate and connection options: GET /metrics (kcerts_agent_runs_total by outcome, \
kcerts_agent_last_run_outcome, kcerts_agent_due_certificates, \
kcerts_agent_soonest_expiry_timestamp_seconds, kcerts_agent_last_renewal_timestamp_seconds, \
kcerts_agent_info) and GET /healthz (503 once no run finished within three intervals plus \
the longest a run may take). Without --listen it opens no port.",
    mut_arg("listen", |a| a.help(
        "Serve the agent's metrics (/metrics, /healthz) on this address and port (port 0 \
         picks a free one; the log says which). Without it no port is opened; the DaemonSet \
         gives 127.0.0.1:9794"
    ))
)]
pub struct Args {
    /// Kubeconfig to reach the API server [default: the pod's in-cluster configuration].
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// This node's name: its Node object and the Lease holder [default: the host name].
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// How often to look at the node.
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = value::parse_duration)]
    interval: time::Duration,
    /// Look once and exit (for a CronJob or a test).
    #[arg(long)]
    once: bool,
    /// Renew what is due (without it: report only, no file is changed).
    #[arg(long)]
    renew: bool,
    /// A row is due when it expires before the next run plus this margin.
    #[arg(long, default_value = "30d", value_name = "DURATION", value_parser = value::parse_duration)]
    buffer: time::Duration,
    /// A row is also due once this fraction of its lifetime has passed (e.g. 0.8).
    #[arg(long, value_name = "FRACTION")]
    renew_at_fraction: Option<f64>,
    /// How long the Lease holds without being renewed (it is renewed every third).
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = value::parse_duration)]
    lease_duration: time::Duration,
    /// Renew even while another node's failed renewal stopped the rollout.
    #[arg(long)]
    continue_on_failure: bool,
    /// The longest random wait before taking the Lease (0s: none).
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_jitter)]
    jitter: time::Duration,
    #[command(flatten)]
    dirs: DirArgs,
    #[command(flatten)]
    endpoints: EndpointArgs,
    #[command(flatten)]
    waits: WaitArgs,
    #[command(flatten)]
    listen: ListenArgs,
}

fn parse_jitter(s: &str) -> Result<time::Duration, String> {
    if matches!(s, "0" | "0s") {
        return Ok(time::Duration::ZERO);
    }
    value::parse_duration(s)
}

/// One log line on stderr (the container runtime adds the time).
fn log(msg: &str) {
    eprintln!("kcerts agent: {msg}");
}

/// Everything a run needs, fixed at start.
struct Agent {
    node: String,
    kubeconfig: Option<PathBuf>,
    rule: DueRule,
    renew: bool,
    lease_seconds: i32,
    continue_on_failure: bool,
    jitter: Duration,
    interval: Duration,
    endpoints: EndpointArgs,
    renewal: renewal::Renewal,
    /// The metrics listener (`--listen`).
    metrics: Option<Metrics>,
}

/// Where and how the agent serves its metrics.
struct Metrics {
    addr: SocketAddr,
    args: ListenArgs,
    tls: Option<TlsAcceptor>,
    stale_after: Duration,
}

/// What a run came to, whether to look again soon, and the status it wrote.
struct RunEnd {
    outcome: Outcome,
    retry_soon: bool,
    status: Option<AgentStatus>,
}

pub fn run(a: Args) -> Result<Code> {
    let rule = DueRule::new(a.interval, a.buffer, a.renew_at_fraction)
        .map_err(|e| anyhow::anyhow!("--renew-at-fraction: {e}"))?;
    let lease_seconds = i32::try_from(a.lease_duration.whole_seconds()).unwrap_or(i32::MAX);
    if lease_seconds < 3 {
        bail!("--lease-duration must be at least 3s (the holder renews it every third)");
    }
    if a.listen.listen.is_none() && a.listen.tls_given() {
        bail!(
            "--tls-cert-file, --tls-private-key-file and --client-ca-file are for the metrics \
             listener: give --listen too"
        );
    }
    if a.once && a.listen.listen.is_some() {
        bail!("--listen serves metrics between runs, and --once exits after one: give one of them");
    }
    let node = match &a.node_name {
        Some(n) => n.clone(),
        None => hostname()?,
    };
    let mut dirs = a.dirs.dirs();
    dirs.manifests_dir.clone_from(&a.endpoints.manifests_dir);
    // A renewal killed half-way (this agent's child, or a person's) is put back
    // before anything is read (renew's own recovery; its lock is taken only then,
    // so that report-only mode creates no file).
    if crate::fsio::txn::pending(&dirs).is_some() {
        let roots = crate::fsio::txn::manifest_roots(&dirs);
        let _lock = lock_and_recover(&dirs, &roots, "agent", "renewal")?;
    }
    let std = |d: time::Duration| {
        Duration::from_millis(u64::try_from(d.whole_milliseconds()).unwrap_or(0))
    };
    let metrics = match a.listen.listen {
        Some(addr) => Some(Metrics {
            addr,
            tls: metrics_server::tls(&a.listen)?,
            args: a.listen.clone(),
            stale_after: agent_metrics::stale_after(
                std(a.interval),
                agent_metrics::longest_run(
                    std(a.jitter),
                    std(a.waits.wait),
                    std(a.waits.stop_wait),
                ),
            ),
        }),
        None => None,
    };
    let agent = Agent {
        node,
        kubeconfig: a.kubeconfig.clone(),
        rule,
        renew: a.renew,
        lease_seconds,
        continue_on_failure: a.continue_on_failure,
        jitter: std(a.jitter),
        interval: std(a.interval),
        endpoints: a.endpoints.clone(),
        renewal: renewal::Renewal {
            exe: std::env::current_exe().context("cannot find the kcerts binary")?,
            dirs,
            endpoints: a.endpoints.clone(),
            waits: a.waits.clone(),
        },
        metrics,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // A kubeconfig that cannot be used (or no in-cluster configuration) is an
    // error now, not a retry every few seconds; it is read again at every run, so
    // that a renewed admin.conf is picked up.
    runtime.block_on(AgentApi::connect(agent.kubeconfig.as_deref()))?;
    runtime.block_on(agent.main_loop(a.once))
}

/// The host name, as a Node is named after it (lower case).
fn hostname() -> Result<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .context("cannot read the host name (/proc/sys/kernel/hostname): give --node-name")?;
    let h = h.trim().to_ascii_lowercase();
    if h.is_empty() {
        bail!("the host name is empty: give --node-name");
    }
    Ok(h)
}

impl Agent {
    async fn main_loop(&self, once: bool) -> Result<Code> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        log(&format!(
            "node {}: {}, every {}s, due within the next run + {}",
            self.node,
            if self.renew {
                "renewing"
            } else {
                "report only"
            },
            self.interval.as_secs(),
            kcerts_core::duration::format_go(self.rule.buffer),
        ));
        let mut rng = kcerts_core::system_rng();
        let mut tally = Tally::default();
        let page = |tally: &Tally| Arc::new(Page::new(self.metrics_text(tally), None));
        let (pages, rx) = watch::channel(page(&tally));
        let server = match &self.metrics {
            Some(m) => {
                let owner = Owner {
                    who: "kcerts agent",
                    stale_after: m.stale_after,
                    cadence: format!("a run every {}s", self.interval.as_secs()),
                };
                Some(metrics_server::start(m.addr, &m.args, m.tls.clone(), rx, &owner).await?)
            }
            None => None,
        };
        let stop = |server: Option<metrics_server::Server>| async move {
            if let Some(s) = server {
                s.stop().await;
            }
        };
        loop {
            let started = OffsetDateTime::now_utc();
            let end = match self.run_once(&mut rng).await {
                Ok(end) => end,
                Err(e) => {
                    log(&format!("error: {e:#}"));
                    RunEnd {
                        outcome: Outcome::Failed,
                        retry_soon: true,
                        status: None,
                    }
                }
            };
            log(&format!("run: {}", end.outcome));
            tally.record(end.outcome, started, end.status);
            pages.send_replace(page(&tally));
            if once {
                return Ok(match end.outcome {
                    Outcome::NothingDue | Outcome::Renewed => Code::Ok,
                    Outcome::ReportOnly | Outcome::Waiting => Code::Warning,
                    Outcome::Failed => Code::Error,
                });
            }
            let wait = if end.retry_soon {
                jitter::retry_after(self.lease_seconds, self.interval)
            } else {
                self.interval
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = term.recv() => { log("SIGTERM: stopping"); stop(server).await; return Ok(Code::Ok); }
                _ = int.recv() => { log("SIGINT: stopping"); stop(server).await; return Ok(Code::Ok); }
            }
        }
    }

    /// The metrics text of `tally`.
    fn metrics_text(&self, tally: &Tally) -> String {
        tally.render(&self.node, env!("CARGO_PKG_VERSION"), self.renew)
    }

    /// One look at the node, and a renewal when one is due and allowed.
    async fn run_once<R: kcerts_core::rand_core::Rng>(&self, rng: &mut R) -> Result<RunEnd> {
        let now = OffsetDateTime::now_utc();
        let files = self.renewal.dirs.load();
        let mut api = AgentApi::connect(self.kubeconfig.as_deref()).await?;
        let others = match api.add_endpoints().await {
            Ok(_) => api.endpoint_ips().to_vec(),
            Err(e) => {
                log(&format!(
                    "warning: cannot list the other API servers: {e:#}"
                ));
                Vec::new()
            }
        };
        let annotations = match api.node_annotations(&self.node).await? {
            Some(a) => Some(a),
            None => {
                log(&format!(
                    "warning: there is no Node {}: no status is written (give --node-name?)",
                    self.node
                ));
                None
            }
        };
        let get = |k: &str| {
            annotations
                .as_ref()
                .and_then(|a| a.get(k))
                .map(String::as_str)
        };
        let previous = get(STATUS_ANNOTATION).and_then(|v| match AgentStatus::parse(v) {
            Ok(s) => Some(s),
            Err(e) => {
                log(&format!("warning: the previous status is ignored: {e}"));
                None
            }
        });
        let pending =
            match protocol::pending_request(get(RENEW_REQUEST_ANNOTATION), previous.as_ref()) {
                Ok(p) => p,
                Err(e) => {
                    log(&format!("warning: the renew request is ignored: {e}"));
                    None
                }
            };
        if let Some(id) = &pending {
            log(&format!("renewal requested ({id}): every row is due"));
        }
        let due = renewal_due::judge(&files, &self.rule, pending.is_some(), now);
        for e in &due.errors {
            log(&format!("error: {e}"));
        }
        let mut status = AgentStatus {
            node: self.node.clone(),
            observed_at: now,
            soonest_expiry: due.soonest.as_ref().map(|s| s.1),
            soonest_name: due.soonest.as_ref().map(|s| s.0.clone()),
            due: due.names(),
            outcome: Outcome::NothingDue,
            message: String::new(),
            last_renewal: previous.as_ref().and_then(|p| p.last_renewal),
            handled_request: previous.as_ref().and_then(|p| p.handled_request.clone()),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let has_node = annotations.is_some();
        if due.due.is_empty() {
            status.message = match &due.soonest {
                Some((name, t)) => format!(
                    "nothing due; the soonest is {name}, expiring {}",
                    protocol::rfc3339(*t)
                ),
                None => "nothing due; no certificate was read".into(),
            };
            if pending.is_some() {
                status.handled_request = pending;
            }
            return self.finish(&api, has_node, status, None, false).await;
        }
        log(&format!("due: {}", due.names().join(", ")));
        if !self.renew {
            status.outcome = Outcome::ReportOnly;
            status.message = format!(
                "{} row(s) due; report only (the agent runs without --renew)",
                due.due.len()
            );
            let ev = node_event::expiration_warning(
                &self.node,
                &due.due,
                "report only: the agent runs without --renew",
            );
            return self.finish(&api, has_node, status, Some(ev), false).await;
        }
        let wait = jitter::draw(self.jitter, rng);
        if !wait.is_zero() {
            log(&format!(
                "waiting {:.1}s (jitter) before taking the Lease",
                wait.as_secs_f64()
            ));
            tokio::time::sleep(wait).await;
        }
        match self.take_lease(&api).await? {
            Err(why) => {
                log(&format!("waiting: {why}"));
                status.outcome = Outcome::Waiting;
                status.message = why.clone();
                let ev = node_event::expiration_warning(
                    &self.node,
                    &due.due,
                    &format!("waiting: {why}"),
                );
                self.finish(&api, has_node, status, Some(ev), true).await
            }
            Ok(lease) => {
                let (end, release) = self
                    .renew_holding(&api, lease, &due, &others, &mut status)
                    .await;
                if pending.is_some() && end.outcome != Outcome::Waiting {
                    status.handled_request = pending;
                }
                let ev = match end.outcome {
                    Outcome::Renewed => Some(node_event::renewed(
                        &self.node,
                        &status.due,
                        &restarted(&status.due),
                    )),
                    Outcome::Failed => Some(node_event::failed(&self.node, &status.message)),
                    _ => Some(node_event::expiration_warning(
                        &self.node,
                        &due.due,
                        &format!("waiting: {}", status.message),
                    )),
                };
                self.release_lease(&api, &release).await;
                self.finish(&api, has_node, status, ev, end.retry_soon)
                    .await
            }
        }
    }

    /// Writes the status and the Event (errors logged: they never undo a renewal).
    async fn finish(
        &self,
        api: &AgentApi,
        has_node: bool,
        status: AgentStatus,
        event: Option<node_event::NodeEvent>,
        retry_soon: bool,
    ) -> Result<RunEnd> {
        log(&format!("{}: {}", status.outcome, status.message));
        let outcome = status.outcome;
        if has_node
            && let Err(e) = api
                .annotate_node(&self.node, STATUS_ANNOTATION, Some(&status.render()))
                .await
        {
            log(&format!("error: cannot write the status: {e:#}"));
        }
        if let Some(ev) = event
            && let Err(e) = api.record_event(&ev, OffsetDateTime::now_utc()).await
        {
            log(&format!(
                "error: cannot record the Event {}: {e:#}",
                ev.reason
            ));
        }
        Ok(RunEnd {
            outcome,
            retry_soon,
            status: Some(status),
        })
    }

    /// Takes the Lease: `Ok(Err(why))` when this node must wait.
    async fn take_lease(&self, api: &AgentApi) -> Result<Result<Lease, String>> {
        let old = api.lease().await?;
        let view = old.as_ref().map(lease_view);
        if let Some(why) =
            lease_claim::rollout_blocks(view.as_ref(), &self.node, self.continue_on_failure)
        {
            return Ok(Err(why));
        }
        let now = OffsetDateTime::now_utc();
        let claim = lease_claim::judge(view.as_ref(), &self.node, now);
        if !claim.may_take() {
            return Ok(Err(claim.describe()));
        }
        let taken = lease_claim::take(view.as_ref(), &self.node, self.lease_seconds, now);
        match api.write_lease(old.as_ref(), &taken).await? {
            Some(l) => {
                log(&format!(
                    "took the Lease ({}; transitions {})",
                    claim.describe(),
                    taken.transitions.unwrap_or(0)
                ));
                Ok(Ok(l))
            }
            None => Ok(Err("another node took the Lease first".into())),
        }
    }

    /// Checks the safety rules, renews and verifies while renewing the Lease;
    /// the run's end and how to release the Lease.
    async fn renew_holding(
        &self,
        api: &AgentApi,
        mut lease: Lease,
        due: &NodeDue,
        others: &[std::net::IpAddr],
        status: &mut AgentStatus,
    ) -> (RunEnd, Release) {
        let rows = due.names();
        let work = {
            let renewal = self.renewal.clone();
            let endpoints = self.endpoints.clone();
            let rows = rows.clone();
            let others = others.to_vec();
            let port = api.port();
            tokio::task::spawn_blocking(move || work(&renewal, &endpoints, &rows, &others, port))
        };
        tokio::pin!(work);
        let every = Duration::try_from(lease_claim::renew_every(self.lease_seconds))
            .unwrap_or(Duration::from_secs(1));
        let mut lost = None;
        let result = loop {
            tokio::select! {
                r = &mut work => break r,
                () = tokio::time::sleep(every) => {
                    match self.keep_lease(api, &lease).await {
                        Ok(Some(l)) => lease = l,
                        Ok(None) => {
                            if lost.is_none() {
                                log("error: the Lease was taken by another node while this one renews");
                            }
                            lost = Some("the Lease was taken by another node during the renewal".to_string());
                        }
                        Err(e) => log(&format!("warning: cannot renew the Lease: {e:#}")),
                    }
                }
            }
        };
        let now = OffsetDateTime::now_utc();
        let result =
            result.unwrap_or_else(|e| Work::Failed(format!("the renewal task stopped: {e}")));
        match result {
            Work::Unsafe(why) => {
                status.outcome = Outcome::Waiting;
                status.message = why;
                (
                    RunEnd {
                        outcome: Outcome::Waiting,
                        retry_soon: true,
                        status: None,
                    },
                    Release::Unchanged,
                )
            }
            Work::Renewed => {
                status.outcome = Outcome::Renewed;
                status.last_renewal = Some(now);
                status.message = format!(
                    "renewed {}; restarted {}; verify --live passed{}",
                    rows.join(", "),
                    restarted(&rows).join(", "),
                    lost.map(|l| format!(" ({l})")).unwrap_or_default()
                );
                (
                    RunEnd {
                        outcome: Outcome::Renewed,
                        retry_soon: false,
                        status: None,
                    },
                    Release::Succeeded,
                )
            }
            Work::Failed(why) => {
                status.outcome = Outcome::Failed;
                status.message = why.clone();
                (
                    RunEnd {
                        outcome: Outcome::Failed,
                        retry_soon: true,
                        status: None,
                    },
                    Release::Failed(RolloutFailed::new(&self.node, now, &why)),
                )
            }
        }
    }

    /// Renews the Lease this node holds: `Ok(None)` when another node holds it now.
    async fn keep_lease(&self, api: &AgentApi, lease: &Lease) -> Result<Option<Lease>> {
        let mut current = lease.clone();
        for _ in 0..3 {
            let view = lease_view(&current);
            if view.holder() != Some(self.node.as_str()) {
                return Ok(None);
            }
            let renewed = lease_claim::renew(&view, OffsetDateTime::now_utc());
            if let Some(l) = api.write_lease(Some(&current), &renewed).await? {
                return Ok(Some(l));
            }
            // Changed since (an annotation written by `cluster renew`): read again.
            match api.lease().await? {
                Some(l) => current = l,
                None => return Ok(None),
            }
        }
        anyhow::bail!("the Lease kept changing")
    }

    /// Releases the Lease as `how` says, unless another node holds it now.
    async fn release_lease(&self, api: &AgentApi, how: &Release) {
        for _ in 0..5 {
            let current = match api.lease().await {
                Ok(Some(l)) => l,
                Ok(None) => return,
                Err(e) => {
                    log(&format!(
                        "error: cannot read the Lease to release it: {e:#}"
                    ));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let view = lease_view(&current);
            if view.holder() != Some(self.node.as_str()) {
                log("the Lease is not this node's any more: nothing to release");
                return;
            }
            let released = lease_claim::release(&view, &self.node, how);
            match api.write_lease(Some(&current), &released).await {
                Ok(Some(_)) => {
                    log(match how {
                        Release::Failed(_) => "released the Lease with kcerts.io/rollout-failed",
                        _ => "released the Lease",
                    });
                    return;
                }
                Ok(None) => continue,
                Err(e) => {
                    log(&format!("error: cannot release the Lease: {e:#}"));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        log("error: the Lease could not be released; it runs out after --lease-duration");
    }
}

/// What the blocking part of a renewal came to.
enum Work {
    /// A safety rule said no: nothing was changed.
    Unsafe(String),
    /// Renewed, restarted, verified.
    Renewed,
    /// Something failed (the message).
    Failed(String),
}

/// The safety checks, the renewal and the verification (blocking I/O).
fn work(
    renewal: &renewal::Renewal,
    endpoint_args: &EndpointArgs,
    rows: &[String],
    others: &[std::net::IpAddr],
    port: u16,
) -> Work {
    let endpoints = Endpoints::resolve(endpoint_args, &renewal.dirs);
    // Every component that loads a renewed file, not only those the reload table
    // restarts: renew --restart still restarts one that does not serve its renewed
    // file within --wait, so etcd's quorum is checked whenever its files change.
    let components = kcerts_core::static_pod::to_restart(rows.iter().map(String::as_str));
    let restarts_etcd = components.contains(&Component::Etcd);
    let members = if restarts_etcd {
        safety::etcd_members(&endpoints, &renewal.dirs)
    } else {
        Ok(Vec::new())
    };
    let apiservers = safety::other_apiservers(&endpoints, others, port);
    if let Err(e) = restart_safety::check(
        restarts_etcd,
        members.as_deref().map_err(Clone::clone),
        &apiservers,
    ) {
        return Work::Unsafe(e.to_string());
    }
    if let Ok(m) = &members {
        log(&format!(
            "etcd: {} of {} members healthy; other API servers ready: {}",
            m.iter().filter(|m| m.healthy).count(),
            m.len(),
            apiservers.len()
        ));
    }
    if let Err(e) = renewal.renew(rows, &log) {
        return Work::Failed(e);
    }
    match renewal.verify_live() {
        Ok(_) => Work::Renewed,
        Err(e) => Work::Failed(e),
    }
}

/// The components `kcerts renew ROWS --restart` restarts, by pod name: those
/// that hold a renewed file until restarted (the reload table); etcd and the API
/// server read their renewed serving and client pairs again by themselves.
fn restarted(rows: &[String]) -> Vec<String> {
    kcerts_core::reload::after_renewal(rows.iter().map(String::as_str))
        .restart
        .into_iter()
        .map(|c| c.pod_name().to_string())
        .collect()
}
