//! `kcerts serve`: the node's certificate metrics over HTTP, for Prometheus.
//!
//! One task reads the node every `--interval` (and on SIGHUP) and renders the
//! exposition text once; every scrape is answered with that text, so the files
//! are never read more often than the interval allows, however often Prometheus
//! (or anyone else) scrapes, and a scrape allocates nothing that grows.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use kcerts_core::node::{Dir, NodeFiles, NodePath};
use kcerts_core::verify::Status;
use time::OffsetDateTime;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::flags::DirArgs;
use crate::flags::value;
use crate::flags::verify::NodeArgs;
use crate::fsio;
use crate::node::probe::ClientCert;
use crate::node::verification;
use crate::report::exit::Code;

/// The exposition format's content type (text format 0.0.4).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long a client may take to send its request headers (and, with TLS, to
/// finish its handshake).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long SIGTERM waits for open connections before stopping anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    ))
)]
pub struct Args {
    #[command(flatten)]
    dirs: DirArgs,
    #[command(flatten)]
    node: NodeArgs,
    /// The address and port to listen on (port 0 picks a free one; the log says which).
    /// Loopback by default: give e.g. 0.0.0.0:9793 to be scraped from elsewhere.
    #[arg(long, default_value = "127.0.0.1:9793", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Serve HTTPS with this certificate (PEM; intermediates may follow it).
    #[arg(long, value_name = "FILE", requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// The private key of --tls-cert-file (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,
    /// Accept only clients that present a certificate signed by a CA in this PEM file
    /// (mutual TLS; needs --tls-cert-file). Others are refused during the handshake.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    client_ca_file: Option<PathBuf>,
    /// Serve at most this many connections at once; further ones wait in the
    /// kernel's queue until one closes.
    #[arg(long, default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_connections: u32,
    /// Also check that each private key matches its certificate (the `key` and
    /// `pair` rows of kcerts_verify_check). This reads every private key of the
    /// node; without it no key file is opened.
    #[arg(long)]
    check_keys: bool,
    /// How often to read the files again (at least 1s).
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = value::parse_duration)]
    interval: time::Duration,
}

/// One reading of the node, served until the next one replaces it.
#[derive(Debug)]
struct Reading {
    /// The exposition text.
    body: Bytes,
    /// When the reading finished (for /healthz).
    done: Instant,
    /// Kubeconfigs replaced on the node that this view still shows the old file
    /// of ([`replaced_files`]); /healthz fails while there is one.
    replaced: Vec<String>,
}

pub fn run(a: Args) -> Result<Code> {
    let interval = Duration::try_from(a.interval).unwrap_or_default();
    if interval < Duration::from_secs(1) {
        bail!("--interval must be at least 1s");
    }
    // A bad --service-cidr is refused now rather than logged on every reading.
    a.node.service_ip(None, None)?;
    // So are TLS files that do not load: nothing is served before they do.
    let tls = match (&a.tls_cert_file, &a.tls_private_key_file) {
        (Some(cert), Some(key)) => Some(TlsAcceptor::from(tls_config(
            cert,
            key,
            a.client_ca_file.as_deref(),
        )?)),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(a, interval, tls))?;
    Ok(Code::Ok)
}

async fn serve(a: Args, interval: Duration, tls: Option<TlsAcceptor>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
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
    let reader = tokio::spawn(reader(source, tx, hup, interval));
    let local = listener.local_addr()?;
    log(&format!(
        "listening on {local} ({}; at most {} connections; reading every {}s)",
        match (&tls, &a.client_ca_file) {
            (None, _) => "plain HTTP",
            (Some(_), None) => "HTTPS",
            (Some(_), Some(_)) => "HTTPS, client certificates required",
        },
        a.max_connections,
        interval.as_secs()
    ));
    if tls.is_none() && !local.ip().is_loopback() {
        log(&format!(
            "warning: plain HTTP on {local} answers anyone who reaches it; see \
             docs/monitoring.md (TLS, client certificates, the NetworkPolicy)"
        ));
    }

    // One permit per open connection: at the cap, nothing more is accepted until
    // a connection closes (the kernel queues the others).
    let slots = Arc::new(Semaphore::new(a.max_connections as usize));
    let graceful = GracefulShutdown::new();
    loop {
        let next = async {
            let permit = Arc::clone(&slots)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            (permit, listener.accept().await)
        };
        tokio::select! {
            (permit, accepted) = next => match accepted {
                Ok((stream, peer)) => {
                    let rx = rx.clone();
                    let service = service_fn(move |req| {
                        let reading = rx.borrow().clone();
                        async move { Ok::<_, Infallible>(respond(&req, &reading, interval)) }
                    });
                    let watcher = graceful.watcher();
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        let mut http = http1::Builder::new();
                        http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
                        // A client that hangs up early is its own business.
                        match tls {
                            None => {
                                let conn = http.serve_connection(TokioIo::new(stream), service);
                                let _ = watcher.watch(conn).await;
                            }
                            Some(acceptor) => {
                                match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                                    Ok(Ok(stream)) => {
                                        let conn = http.serve_connection(TokioIo::new(stream), service);
                                        let _ = watcher.watch(conn).await;
                                    }
                                    Ok(Err(e)) => log(&format!("TLS handshake with {peer} refused: {e}")),
                                    Err(_) => log(&format!("TLS handshake with {peer} did not finish in time")),
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors, usually: wait rather than spin.
                    log(&format!("cannot accept a connection: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = term.recv() => { log("SIGTERM: stopping"); break; }
            _ = int.recv() => { log("SIGINT: stopping"); break; }
        }
    }
    drop(listener);
    reader.abort();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => log("connections still open; closing them"),
    }
    log("stopped");
    Ok(())
}

/// The TLS server configuration: the certificate and key, and with `client_ca`
/// the CAs a client certificate must chain to (mutual TLS).
fn tls_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>> {
    let cert_pem = fsio::read_required(cert, "--tls-cert-file")?;
    let key_pem = fsio::read_required(key, "--tls-private-key-file")?;
    let (chain, private) = ClientCert::from_pem(&cert_pem, &key_pem)
        .ok_or_else(|| {
            anyhow!(
                "--tls-cert-file {} must hold a PEM certificate and --tls-private-key-file {} a \
                 PEM private key",
                cert.display(),
                key.display()
            )
        })?
        .into_parts();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("TLS: no protocol version")?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let pem = fsio::read_required(path, "--client-ca-file")?;
            let mut roots = rustls::RootCertStore::empty();
            let blocks = kcerts_core::encoding::blocks(&pem)
                .map_err(|e| anyhow!("--client-ca-file {}: {e}", path.display()))?;
            for b in blocks
                .into_iter()
                .filter(|b| kcerts_core::certificate::is_certificate_label(&b.label))
            {
                roots
                    .add(b.der.into())
                    .map_err(|e| anyhow!("--client-ca-file {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                bail!(
                    "--client-ca-file {} holds no PEM certificate",
                    path.display()
                );
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| anyhow!("--client-ca-file {}: {e}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, private).map_err(|e| {
        anyhow!(
            "--tls-cert-file {} with --tls-private-key-file {}: {e}",
            cert.display(),
            key.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reads the node every `interval` and on SIGHUP, and publishes each reading.
async fn reader(
    source: Source,
    tx: watch::Sender<Arc<Reading>>,
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
async fn read_blocking(source: Source, count: u64) -> Result<Reading> {
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
    fn read(&self, count: u64, now: OffsetDateTime) -> Reading {
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
        Reading {
            body: Bytes::from(body),
            done: Instant::now(),
            replaced,
        }
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

/// Answers one request from the current reading.
fn respond<B>(req: &Request<B>, reading: &Reading, interval: Duration) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let (status, content_type, body) = match (req.method(), path) {
        (&Method::GET | &Method::HEAD, "/metrics") => {
            (StatusCode::OK, CONTENT_TYPE, reading.body.clone())
        }
        (&Method::GET | &Method::HEAD, "/healthz") => {
            if let Some(f) = reading.replaced.first() {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    Bytes::from(format!(
                        "{f} was replaced on the node; this mount shows the old file: restart\n"
                    )),
                )
            } else if healthy(reading.done.elapsed(), interval) {
                (StatusCode::OK, "text/plain", Bytes::from_static(b"ok\n"))
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    Bytes::from_static(b"no reading finished within three intervals\n"),
                )
            }
        }
        (&Method::GET | &Method::HEAD, "/") => (
            StatusCode::OK,
            "text/plain",
            Bytes::from_static(b"kcerts serve: /metrics, /healthz\n"),
        ),
        (_, "/metrics" | "/healthz" | "/") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Bytes::from_static(b"only GET and HEAD\n"),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found: kcerts serves /metrics and /healthz\n"),
        ),
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    resp
}

/// Healthy while the last reading is at most three intervals old (the reader
/// task is alive and the files do not hang, e.g. on a stuck mount).
fn healthy(age: Duration, interval: Duration) -> bool {
    age <= interval.saturating_mul(3)
}

/// One log line on stderr (the container runtime adds the time).
fn log(msg: &str) {
    eprintln!("kcerts serve: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(body: &'static str) -> Reading {
        Reading {
            body: Bytes::from_static(body.as_bytes()),
            done: Instant::now(),
            replaced: Vec::new(),
        }
    }

    fn get(method: Method, path: &str) -> Request<()> {
        let mut r = Request::new(());
        *r.method_mut() = method;
        *r.uri_mut() = path.parse().unwrap_or_default();
        r
    }

    #[test]
    fn routes() {
        let r = reading("x 1\n");
        let i = Duration::from_secs(300);
        let m = respond(&get(Method::GET, "/metrics"), &r, i);
        assert_eq!(m.status(), StatusCode::OK);
        assert_eq!(m.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        assert_eq!(
            respond(&get(Method::GET, "/healthz"), &r, i).status(),
            StatusCode::OK
        );
        let post = respond(&get(Method::POST, "/metrics"), &r, i);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(
            respond(&get(Method::GET, "/metrics/x"), &r, i).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn health_follows_the_reading_age() {
        let i = Duration::from_secs(60);
        assert!(healthy(Duration::from_secs(0), i));
        assert!(healthy(Duration::from_secs(180), i));
        assert!(!healthy(Duration::from_secs(181), i));
    }

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
