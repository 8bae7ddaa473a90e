//! `kcerts serve`: the node's certificate metrics over HTTP, for Prometheus.
//!
//! One task reads the node every `--interval` (and on SIGHUP) and renders the
//! exposition text once; every scrape is answered with that text, so the files
//! are never read more often than the interval allows, however often Prometheus
//! (or anyone else) scrapes, and a scrape allocates nothing that grows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kcerts_core::node::{Dir, NodeFiles, NodePath};
use kcerts_core::verify::Status;
use time::OffsetDateTime;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::flags::DirArgs;
use crate::flags::listen::ListenArgs;
use crate::flags::value;
use crate::flags::verify::NodeArgs;
use crate::fsio;
use crate::node::metrics_server::{self, Owner, Page};
use crate::node::verification;
use crate::report::exit::Code;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Serves GET /metrics (the metrics of `check-expiration -o prometheus` \
and `verify -o prometheus`, plus kcerts_serve_reads_total and \
kcerts_serve_read_duration_seconds) and GET /healthz (200 \"ok\"; 503 when no reading \
finished within three intervals).\n\
The files are read at start, then every --interval and on SIGHUP; scrapes are answered \
from the last reading, so scraping faster never reads the files more often. A file that \
cannot be read or parsed is the x509_cert_error metric and a log line on stderr, never a \
stop. With --live each reading also probes the endpoints as `verify --live` does (the \
`live` rows and kcerts_live_* gauges; the pod then needs the host network). SIGTERM or \
SIGINT stops it (open connections get 5 s to finish).\n\
It listens on 127.0.0.1:9793 unless --listen says otherwise. Anyone who reaches the port \
can read the metrics (names, SANs, expiry dates of the node's certificates, never a key): \
serve HTTPS with --tls-cert-file/--tls-private-key-file, and with --client-ca-file accept \
only clients whose certificate that CA signed. By default no private key is read; \
--check-keys adds the key/certificate match checks and reads every key for them.\n\
deploy/kubernetes/ runs it as a DaemonSet on the control-plane nodes; see \
docs/monitoring.md. x509-certificate-exporter's metric names, so its alerts work.",
    mut_arg("warn", |a| a.help(
        "Mark a certificate expiring within this window as warn in kcerts_verify_check \
         (e.g. 30d, 720h; serve never exits on it)"
    )),
    mut_arg("crit", |a| a.help(
        "Mark a certificate expiring within this window (e.g. 7d), or expired, as fail in \
         kcerts_verify_check"
    )),
    mut_arg("listen", |a| a.default_value("127.0.0.1:9793").help(
        "The address and port to listen on (port 0 picks a free one; the log says which). \
         Loopback by default: give e.g. 0.0.0.0:9793 to be scraped from elsewhere"
    ))
)]
pub struct Args {
    #[command(flatten)]
    dirs: DirArgs,
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    listen: ListenArgs,
    /// Also check that each private key matches its certificate (the `key` and
    /// `pair` rows of kcerts_verify_check). This reads every private key of the
    /// node; without it no key file is opened.
    #[arg(long)]
    check_keys: bool,
    /// How often to read the files again (at least 1s).
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = value::parse_duration)]
    interval: time::Duration,
}

pub fn run(a: Args) -> Result<Code> {
    let interval = Duration::try_from(a.interval).unwrap_or_default();
    if interval < Duration::from_secs(1) {
        bail!("--interval must be at least 1s");
    }
    // A bad --service-cidr is refused now rather than logged on every reading.
    a.node.service_ip(None, None)?;
    // So are TLS files that do not load: nothing is served before they do.
    let tls = metrics_server::tls(&a.listen)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(a, interval, tls))?;
    Ok(Code::Ok)
}

async fn serve(a: Args, interval: Duration, tls: Option<TlsAcceptor>) -> Result<()> {
    let addr = a
        .listen
        .listen
        .context("--listen has a default; clap gave no address")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let source = Source {
        dirs: a.dirs.dirs(),
        node: a.node,
        check_keys: a.check_keys,
    };
    // The first reading is done before the first scrape is answered.
    let first = read_blocking(source.clone(), 1).await?;
    let (tx, rx) = watch::channel(Arc::new(first));
    let owner = Owner {
        who: "kcerts serve",
        // Older than three intervals: the reader task is gone, or the files hang
        // (a stuck mount).
        stale_after: interval.saturating_mul(3),
        cadence: format!("reading every {}s", interval.as_secs()),
    };
    let server = metrics_server::start(addr, &a.listen, tls, rx, &owner).await?;
    let reader = tokio::spawn(reader(source, tx, hup, interval));
    tokio::select! {
        _ = term.recv() => log("SIGTERM: stopping"),
        _ = int.recv() => log("SIGINT: stopping"),
    }
    reader.abort();
    server.stop().await;
    log("stopped");
    Ok(())
}

/// Reads the node every `interval` and on SIGHUP, and publishes each reading.
async fn reader(
    source: Source,
    tx: watch::Sender<Arc<Page>>,
    mut hup: tokio::signal::unix::Signal,
    interval: Duration,
) {
    let mut count = 1;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = hup.recv() => log("SIGHUP: reading the files again"),
        }
        count += 1;
        match read_blocking(source.clone(), count).await {
            Ok(r) => {
                tx.send_replace(Arc::new(r));
            }
            // Only a panic in the reading gets here; keep serving the last one.
            Err(e) => log(&format!("reading {count} failed: {e:#}")),
        }
    }
}

/// Runs [`Source::read`] on tokio's blocking pool (file I/O and parsing).
async fn read_blocking(source: Source, count: u64) -> Result<Page> {
    tokio::task::spawn_blocking(move || source.read(count, OffsetDateTime::now_utc()))
        .await
        .context("the reading task stopped")
}

/// What is read on each reading.
#[derive(Debug, Clone)]
struct Source {
    dirs: fsio::NodeDirs,
    node: NodeArgs,
    /// Read the private keys (`--check-keys`).
    check_keys: bool,
}

impl Source {
    /// Reads the files once and renders every metric; logs what went wrong.
    fn read(&self, count: u64, now: OffsetDateTime) -> Page {
        let started = Instant::now();
        let mut body = String::new();
        let files = if self.check_keys {
            self.dirs.load()
        } else {
            verification::load_without_keys(&self.dirs)
        };
        match self.node.verify(&self.dirs, files, None, now) {
            Ok(r) => {
                let (files, v) = (&r.files, &r.verification);
                let report = kcerts_core::expiration::build(files, now);
                for e in &report.errors {
                    log(&format!(
                        "error: {}: {}",
                        self.dirs.path(&e.path).display(),
                        e.kind
                    ));
                }
                body.push_str(&kcerts_core::prometheus::render(files, now, &|p| {
                    self.dirs.path(p).display().to_string()
                }));
                // verify's rows (with the live rows under --live) and, under --live,
                // kcerts_live_*: the same text as `verify -o prometheus`.
                body.push_str(&self.node.prometheus(&r));
                log(&format!(
                    "reading {count}: {} certificates, {} unreadable files; verify: {} pass, \
                     {} warn, {} fail",
                    report.certificates.len() + report.certificate_authorities.len(),
                    report.errors.len(),
                    v.count(Status::Pass),
                    v.count(Status::Warn),
                    v.count(Status::Fail)
                ));
            }
            // Only a bad --service-cidr fails here, and `run` refused it already.
            Err(e) => log(&format!("error: {e:#}")),
        }
        body.push_str(&own_metrics(count, started.elapsed()));
        let replaced = replaced_files(&self.dirs);
        for f in &replaced {
            log(&format!(
                "warning: {f} was replaced on the node, and this single-file mount still \
                 shows the old file: /healthz fails until the container restarts"
            ));
        }
        let unhealthy = replaced.first().map(|f| {
            format!("{f} was replaced on the node; this mount shows the old file: restart")
        });
        Page::new(body, unhealthy)
    }
}

/// The kubeconfigs whose file has no name left (a link count of 0): a
/// single-file mount (the DaemonSet's) keeps the file it was made on, and when
/// the node's file is replaced by a rename (kcerts renew), the old one stays in
/// view with no name, so the metrics would go on describing it.
fn replaced_files(dirs: &fsio::NodeDirs) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    NodeFiles::wanted()
        .into_iter()
        .filter(|p| p.dir == Dir::Kubeconfig)
        .chain([NodePath::kubeconfig("kubelet.conf")])
        .map(|p| dirs.path(&p))
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.nlink() == 0))
        .map(|p| p.display().to_string())
        .collect()
}

/// The exporter's own gauges, part of each reading.
fn own_metrics(count: u64, took: Duration) -> String {
    format!(
        "# HELP kcerts_serve_reads_total How many times kcerts serve has read the files.\n\
         # TYPE kcerts_serve_reads_total counter\n\
         kcerts_serve_reads_total {count}\n\
         # HELP kcerts_serve_read_duration_seconds How long the last reading took.\n\
         # TYPE kcerts_serve_read_duration_seconds gauge\n\
         kcerts_serve_read_duration_seconds {:.6}\n",
        took.as_secs_f64()
    )
}

/// One log line on stderr (the container runtime adds the time).
fn log(msg: &str) {
    eprintln!("kcerts serve: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_metrics_are_a_counter_and_a_gauge() {
        let m = own_metrics(3, Duration::from_millis(1500));
        assert!(m.contains("\nkcerts_serve_reads_total 3\n"), "{m}");
        assert!(
            m.contains("\nkcerts_serve_read_duration_seconds 1.500000\n"),
            "{m}"
        );
    }
}
