//! `kcerts restart COMPONENT...|all`: restart static pods the kubeadm way, one at
//! a time, each checked; also the engine behind `renew --restart`.
//!
//! Per component: its manifest goes to the holding directory (journaled,
//! `fsio/hold.rs`), kcerts waits until its endpoint stops answering (the kubelet
//! stopped the pod), puts the manifest back, and waits until the endpoint serves
//! the certificate now on disk and its health path answers ok. Both waits are
//! bounded; on a timeout the manifest is put back and the restart stops with an
//! error naming the component and what kcerts saw last.
//!
//! [`restart`] is the internal API: components, endpoints, directories, waits
//! and a [`Progress`] sink in; what each restart saw out.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use kcerts_core::certificate;
use kcerts_core::live::{Endpoint, Probe};
use kcerts_core::node::NodePath;
use kcerts_core::static_pod::Component;
use thiserror::Error;

use crate::fsio::{self, NodeDirs, hold};
use crate::live::{EndpointArgs, Endpoints};
use crate::{DirArgs, args, probe};

/// How long each wait may last, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    /// Until the endpoint stops answering after the manifest is moved away.
    pub stop: Duration,
    /// Until the endpoint serves the file on disk and is healthy again.
    pub start: Duration,
    /// Between two probes.
    pub poll: Duration,
}

/// The wait flags shared by `restart` and `renew --restart`.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// How long to wait for each component to come back healthy with the new
    /// certificate.
    #[arg(long, default_value = "3m", value_parser = args::parse_duration, value_name = "DURATION")]
    pub wait: time::Duration,
    /// How long to wait for each component to stop once its manifest is moved away
    /// (the kubelet looks at the manifests every 20 s by default).
    #[arg(long, default_value = "60s", value_parser = args::parse_duration, value_name = "DURATION")]
    pub stop_wait: time::Duration,
}

impl WaitArgs {
    /// The waits, polling every 250 ms.
    pub fn waits(&self) -> Waits {
        let d = |t: time::Duration| Duration::from_millis(t.whole_milliseconds().max(0) as u64);
        Waits {
            stop: d(self.stop_wait),
            start: d(self.wait),
            poll: Duration::from_millis(250),
        }
    }
}

/// Where a restart reports what it does.
pub trait Progress {
    /// A step is done: one line.
    fn step(&mut self, line: &str);
    /// Still waiting for `what`, `elapsed` so far (called at every poll).
    fn waiting(&mut self, what: &str, elapsed: Duration);
}

/// Progress on stdout: one line per step; on a terminal, a line that counts
/// the seconds while waiting and is replaced by the step's line.
pub struct Printer {
    tty: bool,
    shown: Option<u64>,
}

impl Printer {
    /// Counts while waiting only when stdout is a terminal.
    pub fn stdout() -> Self {
        Self {
            tty: std::io::stdout().is_terminal(),
            shown: None,
        }
    }
}

impl Progress for Printer {
    fn step(&mut self, line: &str) {
        let mut out = std::io::stdout().lock();
        if self.shown.take().is_some() {
            let _ = write!(out, "\r\x1b[2K");
        }
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn waiting(&mut self, what: &str, elapsed: Duration) {
        if !self.tty {
            return;
        }
        let secs = elapsed.as_secs();
        if self.shown == Some(secs) {
            return;
        }
        self.shown = Some(secs);
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[2K[restart] {what}... {secs}s");
        let _ = out.flush();
    }
}

/// Why a restart stopped.
#[derive(Debug, Error)]
pub enum RestartError {
    /// The manifest is not there: not a static pod on this node.
    #[error("{component}: {} is missing; is {component} a static pod on this node?", manifest.display())]
    NoManifest {
        /// The component.
        component: &'static str,
        /// Where its manifest should be.
        manifest: PathBuf,
    },
    /// The endpoint still answered after the manifest was moved away.
    #[error(
        "{component} still answers on {address} {waited:?} after its manifest was moved away; \
         the manifest is back in place. Is the kubelet running (systemctl status kubelet), and \
         is --endpoint right?"
    )]
    NotStopped {
        /// The component.
        component: &'static str,
        /// Its endpoint.
        address: String,
        /// How long kcerts waited.
        waited: Duration,
    },
    /// The component did not come back healthy with the file on disk.
    #[error(
        "{component} did not come back within {waited:?}: last seen on {address}: {last}. The \
         manifest is in place; see the kubelet log (journalctl -u kubelet) and the container's \
         (crictl ps -a; crictl logs)"
    )]
    NotBack {
        /// The component.
        component: &'static str,
        /// Its endpoint.
        address: String,
        /// How long kcerts waited.
        waited: Duration,
        /// What the last probe saw.
        last: String,
    },
    /// Moving the manifest failed.
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

/// What to restart, and where.
pub struct Request<'a> {
    /// The components, restarted in [`Component::ALL`] order whatever the order here.
    pub components: &'a [Component],
    /// Where each component listens, and the manifests directory.
    pub endpoints: &'a Endpoints,
    /// The node's directories (the certificates to expect, the holding directory).
    pub dirs: &'a NodeDirs,
    /// The bounds of each wait.
    pub waits: Waits,
}

/// One component restarted.
#[derive(Debug)]
pub struct Restarted {
    /// Which.
    pub component: Component,
    /// How long it took, from moving the manifest away to healthy.
    pub took: Duration,
}

fn manifest_path(endpoints: &Endpoints, c: Component) -> PathBuf {
    endpoints.manifests_dir.join(c.manifest_file())
}

/// The leaf the component must serve after the restart: its node file.
fn expected_leaf(dirs: &NodeDirs, e: Endpoint) -> Option<(NodePath, Vec<u8>)> {
    let (path, _) = e.node_file()?;
    let bytes = fsio::read_limited(&dirs.path(&path)).ok()??;
    let cert = certificate::parse_first(&bytes).ok()?;
    Some((path, cert.der))
}

/// Restarts each component in order; stops at the first that fails.
pub fn restart(
    req: &Request<'_>,
    progress: &mut dyn Progress,
) -> Result<Vec<Restarted>, RestartError> {
    let mut order: Vec<Component> = req.components.to_vec();
    order.sort();
    order.dedup();
    if let Some(r) = hold::recover(req.dirs)? {
        progress.step(&recovered_line(&r));
    }
    let mut done = Vec::new();
    for c in order {
        done.push(restart_one(req, c, progress)?);
    }
    Ok(done)
}

fn recovered_line(r: &hold::Recovered) -> String {
    match r {
        hold::Recovered::PutBack(p) => {
            format!(
                "[restart] an interrupted restart left {} away: put it back",
                p.display()
            )
        }
        hold::Recovered::InPlace(p) => {
            format!(
                "[restart] an interrupted restart was recorded; {} is in place",
                p.display()
            )
        }
    }
}

fn restart_one(
    req: &Request<'_>,
    c: Component,
    progress: &mut dyn Progress,
) -> Result<Restarted, RestartError> {
    let name = c.pod_name();
    let manifest = manifest_path(req.endpoints, c);
    if !manifest.exists() {
        return Err(RestartError::NoManifest {
            component: name,
            manifest,
        });
    }
    let endpoint = Endpoint::of(c);
    let address = req.endpoints.address(endpoint).to_string();
    let client = crate::live::client_cert(endpoint, req.dirs);
    let expected = expected_leaf(req.dirs, endpoint);
    let started = Instant::now();

    let held = hold::hold(req.dirs, &manifest)?;
    progress.step(&format!(
        "[restart] {name}: moved {} to {}",
        held.manifest.display(),
        held.held.display()
    ));

    // 1. Until it stops answering.
    let what = format!("waiting for {name} to stop ({address})");
    let t = Instant::now();
    loop {
        let seen = probe::probe(
            &address,
            client.as_ref(),
            None,
            req.waits.poll.max(Duration::from_secs(1)),
        );
        if matches!(seen.probe, Probe::Unreachable(_)) {
            break;
        }
        if t.elapsed() >= req.waits.stop {
            hold::put_back(&held)?;
            return Err(RestartError::NotStopped {
                component: name,
                address,
                waited: req.waits.stop,
            });
        }
        progress.waiting(&what, t.elapsed());
        std::thread::sleep(req.waits.poll);
    }
    progress.step(&format!(
        "[restart] {name}: stopped after {:.1}s",
        t.elapsed().as_secs_f64()
    ));

    // 2. Back in place.
    hold::put_back(&held)?;
    progress.step(&format!("[restart] {name}: moved the manifest back"));

    // 3. Until it serves the file on disk and is healthy.
    let what =
        format!("waiting for {name} to serve the new certificate and be healthy ({address})");
    let t = Instant::now();
    let last = loop {
        let seen = probe::probe(
            &address,
            client.as_ref(),
            Some(c.health_path()),
            probe::TIMEOUT.min(req.waits.start.max(Duration::from_secs(1))),
        );
        let verdict = judge(c, &seen, expected.as_ref());
        match verdict {
            Ok(line) => {
                progress.step(&format!(
                    "[restart] {name}: {line} after {:.1}s",
                    t.elapsed().as_secs_f64()
                ));
                break None;
            }
            Err(last) if t.elapsed() >= req.waits.start => break Some(last),
            Err(_) => {}
        }
        progress.waiting(&what, t.elapsed());
        std::thread::sleep(req.waits.poll);
    };
    if let Some(last) = last {
        return Err(RestartError::NotBack {
            component: name,
            address,
            waited: req.waits.start,
            last,
        });
    }
    Ok(Restarted {
        component: c,
        took: started.elapsed(),
    })
}

/// Whether a probe shows the component back: the expected leaf served and the
/// health path ok. `Ok` with the step's text, or `Err` with what was seen.
fn judge(
    c: Component,
    seen: &probe::Seen,
    expected: Option<&(NodePath, Vec<u8>)>,
) -> Result<String, String> {
    let chain = match &seen.probe {
        Probe::Unreachable(why) => return Err(why.clone()),
        Probe::Served(chain) => chain,
    };
    let serves = match expected {
        Some((path, der)) => {
            if chain.first() != Some(der) {
                return Err(format!("it serves another certificate than {path}"));
            }
            format!("serves {path}, ")
        }
        None => String::new(),
    };
    match &seen.health {
        Some(Ok((status, body))) if c.healthy(*status, body) => {
            Ok(format!("{serves}{} ok", c.health_path()))
        }
        Some(Ok((status, body))) => Err(format!(
            "{} answered {status}: {}",
            c.health_path(),
            body.chars().take(200).collect::<String>().trim()
        )),
        Some(Err(e)) => Err(format!("{}: {e}", c.health_path())),
        None => Err(format!("no answer on {}", c.health_path())),
    }
}

/// The plan `--dry-run` prints.
pub fn plan_lines(req: &Request<'_>) -> Vec<String> {
    let mut order: Vec<Component> = req.components.to_vec();
    order.sort();
    order.dedup();
    let holding = hold::holding_dir(req.dirs);
    order
        .into_iter()
        .map(|c| {
            let e = Endpoint::of(c);
            let serve = match e.node_file() {
                Some((p, _)) => format!("serve {p} and "),
                None => String::new(),
            };
            format!(
                "[dry-run] would restart {}: move {} to {}, wait up to {:?} for {} to stop \
                 answering, move it back, wait up to {:?} for it to {serve}answer {} ok",
                c.pod_name(),
                manifest_path(req.endpoints, c).display(),
                holding.display(),
                req.waits.stop,
                req.endpoints.address(e),
                req.waits.start,
                c.health_path()
            )
        })
        .collect()
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Components: etcd, apiserver, controller-manager, scheduler (or their pod \
names kube-apiserver...), or all; restarted in that order, one at a time, whatever the order given.\n\n\
Beyond kubeadm (which only says \"You must restart...\"): each manifest is moved to \
<kubeconfig-dir>/tmp/kcerts-restart, kcerts waits until the component stops answering \
(--stop-wait), moves the manifest back, and waits until the component serves the certificate on \
disk and its health path (/health, /livez, /healthz) answers ok (--wait). A manifest is never \
lost: a journal (<kubeconfig-dir>/tmp/kcerts-restart-pending) records the one held, and \
`kcerts restart --recover` or the next restart puts it back. On a timeout the manifest is put \
back and kcerts stops with an error. Only this node's etcd member is restarted, so an etcd \
cluster never loses more than one member at a time."
)]
pub struct Args {
    /// Components to restart: all, or etcd, apiserver, controller-manager, scheduler.
    #[arg(value_name = "all|COMPONENT", required_unless_present = "recover")]
    components: Vec<String>,
    #[command(flatten)]
    dirs: DirArgs,
    #[command(flatten)]
    endpoints: EndpointArgs,
    #[command(flatten)]
    waits: WaitArgs,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only put back a manifest an interrupted restart left in the holding directory.
    #[arg(long, conflicts_with = "dry_run")]
    recover: bool,
}

/// `all` or names, as components.
pub fn parse_components(names: &[String]) -> Result<Vec<Component>> {
    if names.iter().any(|n| n == "all") {
        return Ok(Component::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            Component::from_name(n).ok_or_else(|| {
                crate::Hinted {
                    message: format!("unknown component {n:?}"),
                    hint: "use all, etcd, apiserver, controller-manager or scheduler".into(),
                }
                .into()
            })
        })
        .collect()
}

pub fn run(a: Args) -> Result<crate::exit::Code> {
    let dirs = a.dirs.dirs();
    let endpoints = Endpoints::resolve(&a.endpoints, &dirs);
    let mut components = parse_components(&a.components)?;
    if a.components.iter().any(|n| n == "all") {
        // External etcd: nothing of etcd runs here.
        let files = dirs.load();
        if kcerts_core::node_loader::is_external_etcd(&files)
            && !manifest_path(&endpoints, Component::Etcd).exists()
        {
            components.retain(|c| *c != Component::Etcd);
        }
    }
    let req = Request {
        components: &components,
        endpoints: &endpoints,
        dirs: &dirs,
        waits: a.waits.waits(),
    };
    if a.dry_run {
        if let Ok(j) = std::fs::read_to_string(hold::journal_path(&dirs)) {
            println!(
                "[dry-run] would first put back the manifest an interrupted restart left: {}",
                j.trim_end()
            );
        }
        for l in plan_lines(&req) {
            println!("{l}");
        }
        return Ok(crate::exit::Code::Ok);
    }
    let _lock = fsio::lock::lock_node(&dirs)?;
    if a.recover {
        match hold::recover(&dirs).context("cannot recover")? {
            Some(r) => println!("{}", recovered_line(&r)),
            None => println!("[restart] no interrupted restart: nothing to put back"),
        }
        return Ok(crate::exit::Code::Ok);
    }
    run_restart(&req)?;
    Ok(crate::exit::Code::Ok)
}

/// Restarts with progress on stdout and a summary line (also for `renew --restart`).
pub fn run_restart(req: &Request<'_>) -> Result<()> {
    let mut progress = Printer::stdout();
    let start = Instant::now();
    let done = restart(req, &mut progress).map_err(anyhow::Error::from)?;
    let names: Vec<String> = done
        .iter()
        .map(|r| format!("{} ({:.1}s)", r.component.pod_name(), r.took.as_secs_f64()))
        .collect();
    progress.step(&format!(
        "[restart] restarted {} in {:.1}s",
        names.join(", "),
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}
