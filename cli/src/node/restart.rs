//! The restart engine behind `kcerts restart`, `renew --restart`, `ca|sa rotate
//! --restart` and `recover`: restart static pods the kubeadm way, one at a time,
//! each checked.
//!
//! Per component: its manifest goes to the holding directory (journaled,
//! `fsio/hold.rs`), kcerts waits until its endpoint stops answering (the kubelet
//! stopped the pod), puts the manifest back, and waits until the endpoint serves
//! the certificate now on disk and its health path answers ok. Both waits are
//! bounded; on a timeout the manifest is put back and the restart stops with an
//! error naming the component and what kcerts saw last.
//!
//! [`restart`] is the internal API: components, endpoints, directories, waits
//! and a [`Progress`] sink in; what each restart saw out. [`wait_served`] checks
//! a component left running (it reads its renewed files again by itself).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use kcerts_core::certificate;
use kcerts_core::live::{Endpoint, Probe};
use kcerts_core::node::NodePath;
use kcerts_core::static_pod::Component;
use thiserror::Error;

use crate::flags::waits::Waits;
use crate::fsio::{self, NodeDirs, hold};
use crate::node::endpoints::{self, Endpoints};
use crate::node::probe;

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

/// Where the manifest of `c` is.
pub fn manifest_path(endpoints: &Endpoints, c: Component) -> PathBuf {
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

/// The line that says what [`hold::recover`] put back.
pub fn recovered_line(r: &hold::Recovered) -> String {
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
    let client = endpoints::client_cert(endpoint, req.dirs);
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

/// For a component left running because it reads its renewed files again by
/// itself (`kcerts_core::reload`): waits, bounded by `waits.start`, until it
/// serves the certificate now on disk and its health path answers ok.
/// `Ok` with the step's line, `Err` with what was seen last.
pub fn wait_served(req: &Request<'_>, c: Component) -> Result<String, String> {
    let endpoint = Endpoint::of(c);
    let address = req.endpoints.address(endpoint).to_string();
    let client = endpoints::client_cert(endpoint, req.dirs);
    let expected = expected_leaf(req.dirs, endpoint);
    let t = Instant::now();
    loop {
        let seen = probe::probe(
            &address,
            client.as_ref(),
            Some(c.health_path()),
            probe::TIMEOUT.min(req.waits.start.max(Duration::from_secs(1))),
        );
        match judge(c, &seen, expected.as_ref()) {
            Ok(line) => {
                return Ok(format!(
                    "[restart] {}: {line} after {:.1}s, without a restart",
                    c.pod_name(),
                    t.elapsed().as_secs_f64()
                ));
            }
            Err(last) if t.elapsed() >= req.waits.start => {
                return Err(format!("{} on {address}: {last}", c.pod_name()));
            }
            Err(_) => std::thread::sleep(req.waits.poll),
        }
    }
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
