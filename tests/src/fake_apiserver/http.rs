//! The fake API server's transport: TLS (a serving certificate from the cluster
//! CA, client certificates verified against it), HTTP/1.1 requests read from the
//! stream, the user of each request (certificate CN or bearer token), and the
//! response: a watch is handed to [`super::watch`], everything else to [`super::routes`].

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kcerts_core::KeyAlgorithm;
use kcerts_core::certificate::{Certificate, ExtendedKeyUsage};
use kcerts_core::leaf::{self, LeafSpec, RenewOptions, SigningCa};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivateSec1KeyDer};

use super::Shared;
use super::routes::{self, CSRS, status};

pub(super) fn tls_config(ca: &SigningCa) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.cert.der.clone()))
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .unwrap();
    let spec = LeafSpec {
        common_name: "kube-apiserver".into(),
        dns_names: vec!["localhost".into()],
        ip_addresses: vec!["127.0.0.1".parse().unwrap()],
        extended_key_usage: vec![ExtendedKeyUsage::ServerAuth],
        ..LeafSpec::default()
    };
    let opts = RenewOptions {
        key_algorithm: KeyAlgorithm::EcdsaP256,
        validity: time::Duration::days(1),
    };
    let serving = leaf::issue(
        &spec,
        ca,
        &opts,
        time::OffsetDateTime::now_utc(),
        &mut kcerts_core::system_rng(),
    )
    .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![
                CertificateDer::from(serving.cert.der.clone()),
                CertificateDer::from(ca.cert.der.clone()),
            ],
            key_der(&serving.key_pem()),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

fn key_der(pem: &str) -> PrivateKeyDer<'static> {
    let block = kcerts_core::encoding::blocks(pem.as_bytes())
        .unwrap()
        .remove(0);
    match block.label.as_str() {
        "EC PRIVATE KEY" => PrivateSec1KeyDer::from(block.der).into(),
        "RSA PRIVATE KEY" => PrivatePkcs1KeyDer::from(block.der).into(),
        _ => PrivateKeyDer::Pkcs8(block.der.into()),
    }
}

pub(super) fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let started = Instant::now();
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        if started.elapsed() > shared.opts.lifetime {
            shared.stop.store(true, Ordering::SeqCst);
            shared.changed.notify_all();
            break;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                let s = Arc::clone(shared);
                workers.push(std::thread::spawn(move || {
                    let _ = serve_connection(stream, &s);
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

pub(super) struct Request {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) query: BTreeMap<String, String>,
    pub(super) headers: BTreeMap<String, String>,
    pub(super) body: Vec<u8>,
}

pub(super) type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

fn serve_connection(stream: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let conn = rustls::ServerConnection::new(Arc::clone(&shared.tls)).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut buf = Vec::new();
    loop {
        let Some(req) = read_request(&mut tls, &mut buf, shared)? else {
            return Ok(());
        };
        let user = authenticate(&tls, &req, shared);
        let keep = handle(&mut tls, &req, user.as_ref(), shared)?;
        tls.flush()?;
        if !keep {
            tls.conn.send_close_notify();
            let _ = tls.flush();
            return Ok(());
        }
    }
}

/// Reads one request; `None` when the client closed or the server stops.
fn read_request(tls: &mut Tls, buf: &mut Vec<u8>, shared: &Shared) -> io::Result<Option<Request>> {
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        if !fill(tls, buf, &mut chunk, shared)? {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default().to_string();
    let mut headers = BTreeMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + 4 + len {
        if !fill(tls, buf, &mut chunk, shared)? {
            return Ok(None);
        }
    }
    let body = buf[head_end + 4..head_end + 4 + len].to_vec();
    buf.drain(..head_end + 4 + len);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_query(q)),
        None => (target, BTreeMap::new()),
    };
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        body,
    }))
}

/// Reads more bytes; `false` on EOF or stop. Read timeouts only let us look at the stop flag.
fn fill(tls: &mut Tls, buf: &mut Vec<u8>, chunk: &mut [u8], shared: &Shared) -> io::Result<bool> {
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(false);
        }
        match tls.read(chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Who made a request, as the API server's authenticators say: the name and the
/// groups (`system:authenticated` added to every authenticated user).
pub(super) struct User {
    pub(super) name: String,
    pub(super) groups: Vec<String>,
}

/// The user: the client certificate's CN with its O values as groups (verified by
/// rustls against the CA; the x509 authenticator), or a token's user.
fn authenticate(tls: &Tls, req: &Request, shared: &Shared) -> Option<User> {
    let (name, mut groups) =
        if let Some(cert) = tls.conn.peer_certificates().and_then(|c| c.first()) {
            let c = Certificate::from_der(cert.as_ref()).ok()?;
            (c.common_name?, c.organizations)
        } else {
            let token = req.headers.get("authorization")?.strip_prefix("Bearer ")?;
            let (_, u) = shared.opts.tokens.iter().find(|(t, _)| t == token)?;
            (u.clone(), Vec::new())
        };
    groups.push("system:authenticated".into());
    Some(User { name, groups })
}

/// Handles one request; returns whether to keep the connection.
fn handle(tls: &mut Tls, req: &Request, user: Option<&User>, shared: &Shared) -> io::Result<bool> {
    let (code, body) = match user {
        None => status(401, "Unauthorized", "Unauthorized"),
        Some(user) => {
            if req.method == "GET" && req.path == CSRS && is_true(req.query.get("watch")) {
                log(shared, req, &user.name, 200);
                super::watch::watch(tls, req, shared)?;
                return Ok(true);
            }
            routes::route(req, user, shared)
        }
    };
    log(shared, req, user.map_or("-", |u| u.name.as_str()), code);
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        reason_phrase(code),
        body.len()
    );
    tls.write_all(head.as_bytes())?;
    tls.write_all(&body)?;
    Ok(req.headers.get("connection").map(String::as_str) != Some("close"))
}

fn log(shared: &Shared, req: &Request, user: &str, code: u16) {
    let q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let line = format!(
        "{} {}{}{} user={user} -> {code}",
        req.method,
        req.path,
        if q.is_empty() { "" } else { "?" },
        q.join("&")
    );
    shared.state.lock().unwrap().log.push(line);
}

fn is_true(v: Option<&String>) -> bool {
    matches!(v.map(String::as_str), Some("true" | "1"))
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        _ => "Status",
    }
}
