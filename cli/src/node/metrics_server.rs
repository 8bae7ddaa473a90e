//! The metrics listener `serve` and `agent` share: `GET /metrics` and `GET /healthz`
//! over HTTP, or HTTPS with `--tls-cert-file` (client certificates required with
//! `--client-ca-file`), at most `--max-connections` connections at once, a header
//! timeout that also bounds the TLS handshake, and a graceful stop.
//!
//! The owner publishes what is served as a [`Page`] through a watch channel; a
//! scrape answers from the latest page and never reads a file.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
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
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::flags::listen::ListenArgs;
use crate::fsio;
use crate::node::probe::ClientCert;

/// The exposition format's content type (text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long a client may take to send its request headers (and, with TLS, to
/// finish its handshake).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for open connections before closing them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the listener serves until the owner publishes the next one.
#[derive(Debug)]
pub struct Page {
    /// The exposition text of `/metrics`.
    pub metrics: Bytes,
    /// When the owner finished making it (`/healthz` fails once it is too old).
    pub done: Instant,
    /// Why `/healthz` fails whatever the page's age (e.g. a replaced file).
    pub unhealthy: Option<String>,
}

impl Page {
    /// A page made now.
    pub fn new(metrics: String, unhealthy: Option<String>) -> Self {
        Self {
            metrics: Bytes::from(metrics),
            done: Instant::now(),
            unhealthy,
        }
    }
}

/// A running listener.
pub struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Loads the TLS files of `args`, so that a bad one is refused before anything
/// is served: `None` for plain HTTP.
pub fn tls(args: &ListenArgs) -> Result<Option<TlsAcceptor>> {
    Ok(match (&args.tls_cert_file, &args.tls_private_key_file) {
        (Some(cert), Some(key)) => Some(TlsAcceptor::from(tls_config(
            cert,
            key,
            args.client_ca_file.as_deref(),
        )?)),
        _ => None,
    })
}

/// Who serves, for the log and `/healthz`.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The program, in its log lines and on `/` (`kcerts serve`).
    pub who: &'static str,
    /// How old the latest page may be while `/healthz` answers 200.
    pub stale_after: Duration,
    /// How often a new page comes, for the "listening" line (`reading every 300s`).
    pub cadence: String,
}

/// Binds `addr` and serves `pages` there.
pub async fn start(
    addr: SocketAddr,
    args: &ListenArgs,
    tls: Option<TlsAcceptor>,
    pages: watch::Receiver<Arc<Page>>,
    owner: &Owner,
) -> Result<Server> {
    let who = owner.who;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    log(
        who,
        &format!(
            "listening on {local} ({}; at most {} connections; {})",
            match (&tls, &args.client_ca_file) {
                (None, _) => "plain HTTP",
                (Some(_), None) => "HTTPS",
                (Some(_), Some(_)) => "HTTPS, client certificates required",
            },
            args.max_connections,
            owner.cadence,
        ),
    );
    if tls.is_none() && !local.ip().is_loopback() {
        log(
            who,
            &format!(
                "warning: plain HTTP on {local} answers anyone who reaches it; see \
                 docs/monitoring.md (TLS, client certificates, the NetworkPolicy)"
            ),
        );
    }
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(accept_loop(
        listener,
        tls,
        pages,
        Limits {
            connections: args.max_connections as usize,
            stale_after: owner.stale_after,
        },
        who,
        stopped,
    ));
    Ok(Server { stop, task })
}

impl Server {
    /// Stops accepting and gives open connections 5 s to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The listener's bounds.
#[derive(Debug, Clone, Copy)]
struct Limits {
    connections: usize,
    stale_after: Duration,
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
    pages: watch::Receiver<Arc<Page>>,
    limits: Limits,
    who: &'static str,
    mut stopped: oneshot::Receiver<()>,
) {
    // One permit per open connection: at the cap, nothing more is accepted until
    // a connection closes (the kernel queues the others).
    let slots = Arc::new(Semaphore::new(limits.connections));
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
                    let pages = pages.clone();
                    let service = service_fn(move |req| {
                        let page = pages.borrow().clone();
                        async move {
                            Ok::<_, Infallible>(respond(&req, &page, limits.stale_after, who))
                        }
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
                                    Ok(Err(e)) => log(who, &format!("TLS handshake with {peer} refused: {e}")),
                                    Err(_) => log(who, &format!("TLS handshake with {peer} did not finish in time")),
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors, usually: wait rather than spin.
                    log(who, &format!("cannot accept a connection: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => log(who, "connections still open; closing them"),
    }
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

/// Answers one request from the current page.
fn respond<B>(
    req: &Request<B>,
    page: &Page,
    stale_after: Duration,
    who: &str,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let (status, content_type, body) = match (req.method(), path) {
        (&Method::GET | &Method::HEAD, "/metrics") => {
            (StatusCode::OK, CONTENT_TYPE, page.metrics.clone())
        }
        (&Method::GET | &Method::HEAD, "/healthz") => {
            if let Some(why) = &page.unhealthy {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    Bytes::from(format!("{why}\n")),
                )
            } else if page.done.elapsed() <= stale_after {
                (StatusCode::OK, "text/plain", Bytes::from_static(b"ok\n"))
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    Bytes::from(format!(
                        "nothing new for {}s: the metrics are {}s old\n",
                        stale_after.as_secs(),
                        page.done.elapsed().as_secs()
                    )),
                )
            }
        }
        (&Method::GET | &Method::HEAD, "/") => (
            StatusCode::OK,
            "text/plain",
            Bytes::from(format!("{who}: /metrics, /healthz\n")),
        ),
        (_, "/metrics" | "/healthz" | "/") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Bytes::from_static(b"only GET and HEAD\n"),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from(format!("not found: {who} serves /metrics and /healthz\n")),
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

/// One log line on stderr (the container runtime adds the time).
fn log(who: &str, msg: &str) {
    eprintln!("{who}: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str, unhealthy: Option<&str>) -> Page {
        Page::new(body.into(), unhealthy.map(str::to_string))
    }

    fn get(method: Method, path: &str) -> Request<()> {
        let mut r = Request::new(());
        *r.method_mut() = method;
        *r.uri_mut() = path.parse().unwrap_or_default();
        r
    }

    #[test]
    fn routes() {
        let p = page("x 1\n", None);
        let s = Duration::from_secs(900);
        let m = respond(&get(Method::GET, "/metrics"), &p, s, "kcerts serve");
        assert_eq!(m.status(), StatusCode::OK);
        assert_eq!(m.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        assert_eq!(
            respond(&get(Method::GET, "/healthz"), &p, s, "kcerts serve").status(),
            StatusCode::OK
        );
        let post = respond(&get(Method::POST, "/metrics"), &p, s, "kcerts serve");
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(
            respond(&get(Method::GET, "/metrics/x"), &p, s, "kcerts serve").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn health_follows_the_page_age_and_its_reason() {
        let fresh = page("", None);
        let get_health = |p: &Page, s| respond(&get(Method::GET, "/healthz"), p, s, "x").status();
        assert_eq!(get_health(&fresh, Duration::from_secs(60)), StatusCode::OK);
        // A page older than `stale_after` (here: any page, with a limit of zero
        // once a millisecond has passed).
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(
            get_health(&fresh, Duration::ZERO),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let replaced = page("", Some("admin.conf was replaced"));
        assert_eq!(
            get_health(&replaced, Duration::from_secs(60)),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
