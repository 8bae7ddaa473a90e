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

use kcerts_core::endpoint::Endpoint;
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

    /// The chain and the key, for a TLS server's own certificate (`serve`).
    pub fn into_parts(self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (self.chain, self.key)
    }
}

/// What one probe saw.
#[derive(Debug)]
pub struct Seen {
    /// The served chain, or why none was seen.
    pub probe: Probe,
    /// The health answer (status, body), when asked and the handshake succeeded.
    pub health: Option<Result<(u16, String), ProbeError>>,
}

/// Why a probe saw no certificate or no health answer (`Probe::Unreachable`
/// carries its message).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The deadline passed.
    #[error("timed out")]
    TimedOut,
    /// The address does not resolve.
    #[error("cannot resolve {address}: {error}")]
    Resolve {
        /// `host:port`.
        address: String,
        /// The resolver's error.
        error: std::io::Error,
    },
    /// The address resolves to nothing.
    #[error("{0} resolves to no address")]
    NoAddress(String),
    /// No connection (the last address tried).
    #[error("{0}")]
    Connect(IoReason),
    /// rustls refused the client configuration.
    #[error("{0}")]
    Config(rustls::Error),
    /// The client certificate (etcd's) cannot be used.
    #[error("the client certificate cannot be used: {0}")]
    ClientCert(rustls::Error),
    /// A socket option could not be set.
    #[error("{0}")]
    Socket(std::io::Error),
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    Handshake(IoReason),
    /// The handshake ended without a server certificate.
    #[error("the handshake ended without a certificate")]
    NoCertificate,
    /// The health request could not be sent.
    #[error("cannot send the health request: {0}")]
    Send(IoReason),
    /// The health answer did not come.
    #[error("no health answer: {0}")]
    NoAnswer(IoReason),
    /// The answer is not HTTP.
    #[error("the health answer is not HTTP")]
    NotHttp,
    /// The answer has no status line.
    #[error("the health answer has no HTTP status")]
    NoStatus,
}

/// A socket error in few words.
#[derive(Debug, thiserror::Error)]
pub enum IoReason {
    /// The port is closed.
    #[error("connection refused")]
    Refused,
    /// No answer in time.
    #[error("timed out")]
    TimedOut,
    /// Anything else, in the system's words.
    #[error("{0}")]
    Other(std::io::Error),
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
            probe: Probe::Unreachable(e.to_string()),
            health: None,
        },
        (None, Ok(_)) => Seen {
            probe: Probe::Unreachable(ProbeError::NoCertificate.to_string()),
            health: None,
        },
    }
}

fn remaining(deadline: Instant) -> Result<Duration, ProbeError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(ProbeError::TimedOut)
    } else {
        Ok(left)
    }
}

fn io_reason(e: std::io::Error) -> IoReason {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => IoReason::Refused,
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => IoReason::TimedOut,
        _ => IoReason::Other(e),
    }
}

fn connect(address: &str, deadline: Instant) -> Result<TcpStream, ProbeError> {
    let addrs: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|error| ProbeError::Resolve {
            address: address.to_string(),
            error,
        })?
        .collect();
    let mut last = ProbeError::NoAddress(address.to_string());
    for a in addrs {
        match TcpStream::connect_timeout(&a, remaining(deadline)?) {
            Ok(s) => return Ok(s),
            Err(e) => last = ProbeError::Connect(io_reason(e)),
        }
    }
    Err(last)
}

/// The TLS server name of `address` (`host:port`, `[v6]:port`): its host,
/// else `localhost` (the probe reads whatever chain is served).
fn server_name(address: &str) -> ServerName<'static> {
    Endpoint::parse(address)
        .and_then(|e| ServerName::try_from(e.host).ok())
        .unwrap_or_else(|| ServerName::try_from("localhost").expect("a valid DNS name"))
}

fn connect_and_ask(
    address: &str,
    client: Option<&ClientCert>,
    health_path: Option<&str>,
    deadline: Instant,
    recorder: &Arc<Recorder>,
) -> Result<Option<(u16, String)>, ProbeError> {
    let tcp = connect(address, deadline)?;
    let name = server_name(address);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ProbeError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone());
    let mut config = match client {
        Some(c) => builder
            .with_client_auth_cert(c.chain.clone(), c.key.clone_key())
            .map_err(ProbeError::ClientCert)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(ProbeError::Config)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let set_timeouts = |s: &TcpStream| -> Result<(), ProbeError> {
        let left = remaining(deadline)?;
        s.set_read_timeout(Some(left)).map_err(ProbeError::Socket)?;
        s.set_write_timeout(Some(left)).map_err(ProbeError::Socket)
    };
    while tls.conn.is_handshaking() {
        set_timeouts(&tls.sock)?;
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| ProbeError::Handshake(io_reason(e)))?;
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
        .map_err(|e| ProbeError::Send(io_reason(e)))?;
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
            Err(e) => return Err(ProbeError::NoAnswer(io_reason(e))),
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
fn parse_answer(answer: &[u8]) -> Result<(u16, String), ProbeError> {
    let end = find(answer, b"\r\n\r\n").ok_or(ProbeError::NotHttp)?;
    let head = String::from_utf8_lossy(&answer[..end]);
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(ProbeError::NoStatus)?;
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
    fn the_server_name_is_the_address_host() {
        let ip = |s: &str| ServerName::IpAddress(s.parse::<std::net::IpAddr>().unwrap().into());
        assert_eq!(server_name("[::1]:6443"), ip("::1"));
        assert_eq!(server_name("127.0.0.1:2379"), ip("127.0.0.1"));
        assert_eq!(
            server_name("LB.example:6443"),
            ServerName::try_from("lb.example").unwrap()
        );
        assert_eq!(
            server_name("[::1:6443"),
            ServerName::try_from("localhost").unwrap()
        );
    }

    #[test]
    fn answers_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert!(complete(plain));
        assert_eq!(parse_answer(plain).unwrap(), (200, "ok".into()));
        let chunked =
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nnot\r\n3\r\n ok\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked).unwrap(), (503, "not ok".into()));
        let not_http = parse_answer(b"garbage").unwrap_err();
        assert_eq!(not_http.to_string(), "the health answer is not HTTP");
        let no_status = parse_answer(b"HTTP/1.1\r\n\r\n").unwrap_err();
        assert_eq!(
            no_status.to_string(),
            "the health answer has no HTTP status"
        );
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
