//! One TLS connection to a control-plane endpoint: the certificate chain it
//! serves and, when asked, the answer to a GET of its health path. Blocking,
//! bounded by one deadline for connect, handshake and answer.
//!
//! The chain is recorded by our own certificate verifier, which accepts any
//! chain (the rules that judge it are in `kcerts_core::live`) but still checks
//! the handshake signature, so the server proved it holds the key. The chain is
//! kept even when the handshake fails afterwards, as it does against a server
//! that requires a client certificate we do not have.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kcerts_core::live::Probe;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
    ServerName, UnixTime,
};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// How long one probe may take at most, unless the caller says otherwise.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The most of a health answer kcerts reads.
const MAX_ANSWER: u64 = 64 * 1024;

/// A client certificate to present (etcd requires one).
pub struct ClientCert {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ClientCert({} certificates, key redacted)",
            self.chain.len()
        )
    }
}

impl ClientCert {
    /// From PEM certificate and key bytes (PKCS#1, SEC1 or PKCS#8 keys).
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Option<Self> {
        let chain: Vec<_> = kcerts_core::encoding::blocks(cert)
            .ok()?
            .into_iter()
            .filter(|b| kcerts_core::certificate::is_certificate_label(&b.label))
            .map(|b| CertificateDer::from(b.der))
            .collect();
        let block = kcerts_core::encoding::blocks(key)
            .ok()?
            .into_iter()
            .find(|b| b.label.ends_with("PRIVATE KEY"))?;
        let key = match block.label.as_str() {
            "EC PRIVATE KEY" => PrivateSec1KeyDer::from(block.der).into(),
            "RSA PRIVATE KEY" => PrivatePkcs1KeyDer::from(block.der).into(),
            _ => PrivatePkcs8KeyDer::from(block.der).into(),
        };
        (!chain.is_empty()).then_some(Self { chain, key })
    }
}

/// What one probe saw.
#[derive(Debug)]
pub struct Seen {
    /// The served chain, or why none was seen.
    pub probe: Probe,
    /// The health answer (status, body), when asked and the handshake succeeded.
    pub health: Option<Result<(u16, String), String>>,
}

/// Connects to `address` (`host:port`), reads the served chain, and GETs
/// `health_path` when given; everything within `timeout`.
pub fn probe(
    address: &str,
    client: Option<&ClientCert>,
    health_path: Option<&str>,
    timeout: Duration,
) -> Seen {
    let deadline = Instant::now() + timeout;
    let recorded = Arc::new(Recorder::new());
    let result = connect_and_ask(address, client, health_path, deadline, &recorded);
    let chain = recorded.chain.lock().ok().and_then(|mut c| c.take());
    match (chain, result) {
        (Some(chain), Ok(health)) => Seen {
            probe: Probe::Served(chain),
            health: health.map(Ok),
        },
        (Some(chain), Err(e)) => Seen {
            probe: Probe::Served(chain),
            health: health_path.map(|_| Err(e)),
        },
        (None, Err(e)) => Seen {
            probe: Probe::Unreachable(e),
            health: None,
        },
        (None, Ok(_)) => Seen {
            probe: Probe::Unreachable("the handshake ended without a certificate".into()),
            health: None,
        },
    }
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("timed out".into())
    } else {
        Ok(left)
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timed out".into(),
        _ => e.to_string(),
    }
}

fn connect(address: &str, deadline: Instant) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {address}: {e}"))?
        .collect();
    let mut last = format!("{address} resolves to no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, remaining(deadline)?) {
            Ok(s) => return Ok(s),
            Err(e) => last = io_reason(&e),
        }
    }
    Err(last)
}

fn connect_and_ask(
    address: &str,
    client: Option<&ClientCert>,
    health_path: Option<&str>,
    deadline: Instant,
    recorder: &Arc<Recorder>,
) -> Result<Option<(u16, String)>, String> {
    let tcp = connect(address, deadline)?;
    let host = address
        .rsplit_once(':')
        .map_or(address, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .unwrap_or_else(|_| ServerName::try_from("localhost").expect("a valid DNS name"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone());
    let mut config = match client {
        Some(c) => builder
            .with_client_auth_cert(c.chain.clone(), c.key.clone_key())
            .map_err(|e| format!("the client certificate cannot be used: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let set_timeouts = |s: &TcpStream| -> Result<(), String> {
        let left = remaining(deadline)?;
        s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(left)).map_err(|e| e.to_string())
    };
    while tls.conn.is_handshaking() {
        set_timeouts(&tls.sock)?;
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| format!("TLS handshake failed: {}", io_reason(&e)))?;
    }
    let Some(path) = health_path else {
        tls.conn.send_close_notify();
        let _ = tls.conn.complete_io(&mut tls.sock);
        return Ok(None);
    };
    set_timeouts(&tls.sock)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: kcerts\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes())
        .and_then(|()| tls.flush())
        .map_err(|e| format!("cannot send the health request: {}", io_reason(&e)))?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        set_timeouts(&tls.sock)?;
        match tls.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if answer.len() as u64 > MAX_ANSWER {
                    break;
                }
                if complete(&answer) {
                    break;
                }
            }
            // A server closing without close_notify has still answered.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("no health answer: {}", io_reason(&e))),
        }
    }
    parse_answer(&answer).map(Some)
}

/// Whether a response with a Content-Length has all its body.
fn complete(answer: &[u8]) -> bool {
    let Some(end) = find(answer, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|len| answer.len() >= end + 4 + len)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `HTTP/1.1 200 OK ... \r\n\r\nbody` → (200, body); chunked bodies joined.
fn parse_answer(answer: &[u8]) -> Result<(u16, String), String> {
    let end = find(answer, b"\r\n\r\n").ok_or("the health answer is not HTTP")?;
    let head = String::from_utf8_lossy(&answer[..end]);
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("the health answer has no HTTP status")?;
    let raw = &answer[end + 4..];
    let chunked = head
        .to_ascii_lowercase()
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked {
        let mut out = Vec::new();
        let mut rest = raw;
        while let Some(eol) = find(rest, b"\r\n") {
            let size_text = String::from_utf8_lossy(&rest[..eol]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .unwrap_or(0);
            rest = &rest[eol + 2..];
            if size == 0 || rest.len() < size {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = rest.get(size + 2..).unwrap_or_default();
        }
        out
    } else {
        raw.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Accepts any server chain and records it; handshake signatures are still checked.
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Option<Vec<Vec<u8>>>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Recorder {
    fn new() -> Self {
        let provider: CryptoProvider = rustls::crypto::ring::default_provider();
        Self {
            chain: Mutex::new(None),
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.to_vec()];
        chain.extend(intermediates.iter().map(|c| c.to_vec()));
        if let Ok(mut slot) = self.chain.lock() {
            *slot = Some(chain);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert!(complete(plain));
        assert_eq!(parse_answer(plain), Ok((200, "ok".into())));
        let chunked =
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nnot\r\n3\r\n ok\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked), Ok((503, "not ok".into())));
        assert!(parse_answer(b"garbage").is_err());
    }

    #[test]
    fn a_closed_port_is_unreachable_quickly() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let seen = probe(&addr, None, None, TIMEOUT);
        assert_eq!(seen.probe, Probe::Unreachable("connection refused".into()));
    }
}
