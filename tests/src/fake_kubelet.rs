//! A small fake kubelet for the `verify --live` and `restart` tests: it runs
//! kubeadm's static pods as TLS servers on loopback, the way the real kubelet
//! runs them as containers.
//!
//! - Every [`Options::period`] (kubelet's `fileCheckFrequency`, 20 s by default,
//!   shortened in tests) it reads the manifests directory: a manifest that
//!   appeared starts its pod, one that disappeared stops it, one whose content
//!   changed restarts it. Hidden files are ignored, as the kubelet does.
//! - A pod of a known component (by `metadata.name`) is one TLS listener per
//!   address its command line names, with the certificate and key that command
//!   line names. Where the real program reads its serving pair again by itself
//!   (docs/reload.md: etcd's client and peer pairs, the API server's), the fake
//!   reads it at each TLS handshake; everything else (client CAs, the
//!   controller-manager's and scheduler's files) is read when the pod starts,
//!   and a pod whose files cannot be read does not start:
//!   kube-apiserver `--advertise-address`/`--secure-port` with
//!   `--tls-cert-file`/`--tls-private-key-file` (client certificates from
//!   `--client-ca-file` optional; a client certificate it does not accept fails
//!   the handshake), `/livez`, `/readyz`, `/healthz`, `/version`; etcd
//!   `--listen-client-urls` with `--cert-file`/`--key-file`, requiring a client
//!   certificate from `--trusted-ca-file` when `--client-cert-auth=true`,
//!   `--listen-peer-urls` with `--peer-cert-file`/`--peer-key-file`, and plain
//!   HTTP on `--listen-metrics-urls`, all answering `/health`;
//!   kube-controller-manager and kube-scheduler `--bind-address`/`--secure-port`
//!   with `--tls-cert-file` when given, else a self-signed certificate made at
//!   start as client-go's `GenerateSelfSignedCertKey` does (`localhost@<unix
//!   time>`, valid from an hour before), `/healthz`.
//! - Listeners bind loopback only: a non-loopback host in a flag is served on
//!   127.0.0.1 instead (the tests' manifests use loopback anyway).
//! - [`FakeKubelet::refuse`] makes a pod fail to start (a crash-looping
//!   container); a pod that cannot start (a missing file) is retried each period.
//! - With [`Options::serving`] the kubelet's own endpoint (`:10250`) serves a
//!   self-signed `kubelet.crt`, written like the kubelet writes it.
//!
//! It stops everything when dropped or after [`Options::lifetime`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kcerts_core::KeyAlgorithm;
use kcerts_core::certificate::{self, ExtendedKeyUsage};
use kcerts_core::leaf::{self as renew, LeafSpec, RenewOptions};
use kcerts_core::static_pod::StaticPod;
use rustls::pki_types::CertificateDer;

/// How the fake kubelet behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The static pod manifests directory it watches.
    pub manifests_dir: PathBuf,
    /// How often it reads the directory (kubelet's `fileCheckFrequency`).
    pub period: Duration,
    /// The kubelet's own serving endpoint: the address and the directory for
    /// its self-signed `kubelet.crt`/`kubelet.key` (made when missing).
    pub serving: Option<(SocketAddr, PathBuf)>,
    /// It stops by itself after this long.
    pub lifetime: Duration,
    /// etcd and the API server read their serving pairs only when they start,
    /// as a program that does not read them again would (to test what kcerts
    /// does when a component does not behave as docs/reload.md says).
    pub pairs_at_start: bool,
}

impl Options {
    /// Watches `manifests_dir` every 200 ms, for at most 5 minutes.
    pub fn new(manifests_dir: &Path) -> Self {
        Self {
            manifests_dir: manifests_dir.to_path_buf(),
            period: Duration::from_millis(200),
            serving: None,
            lifetime: Duration::from_secs(300),
            pairs_at_start: false,
        }
    }
}

/// A running fake kubelet; dropping it stops every pod.
pub struct FakeKubelet {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    opts: Options,
    stop: AtomicBool,
    refused: Mutex<BTreeSet<String>>,
    log: Mutex<Vec<String>>,
    running: Mutex<BTreeSet<String>>,
}

impl Shared {
    fn note(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
}

impl FakeKubelet {
    /// Starts watching.
    pub fn start(opts: Options) -> Self {
        let shared = Arc::new(Shared {
            opts,
            stop: AtomicBool::new(false),
            refused: Mutex::new(BTreeSet::new()),
            log: Mutex::new(Vec::new()),
            running: Mutex::new(BTreeSet::new()),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::spawn(move || sync_loop(&s));
        Self {
            shared,
            thread: Some(thread),
        }
    }

    /// From now on the pod `name` (`kube-apiserver`...) fails to start.
    pub fn refuse(&self, name: &str) {
        self.shared.refused.lock().unwrap().insert(name.into());
    }

    /// The pod `name` may start again.
    pub fn allow(&self, name: &str) {
        self.shared.refused.lock().unwrap().remove(name);
    }

    /// The pods running now.
    pub fn running(&self) -> BTreeSet<String> {
        self.shared.running.lock().unwrap().clone()
    }

    /// Waits until exactly `names` run (bounded by `timeout`); whether they did.
    pub fn wait_running(&self, names: &[&str], timeout: Duration) -> bool {
        let want: BTreeSet<String> = names.iter().map(|s| s.to_string()).collect();
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.running() == want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// What it did, one line per event: `started etcd`, `stopped kube-apiserver`,
    /// `refused kube-scheduler`, `cannot start etcd: <why>`.
    pub fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One running pod: its listeners, stopped together.
struct Pod {
    content: Vec<u8>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Pod {
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

const KNOWN: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

fn sync_loop(shared: &Arc<Shared>) {
    let started = Instant::now();
    let mut pods: BTreeMap<String, Pod> = BTreeMap::new();
    let kubelet =
        shared
            .opts
            .serving
            .as_ref()
            .and_then(|(addr, dir)| match kubelet_serving(*addr, dir) {
                Ok(p) => Some(p),
                Err(e) => {
                    shared.note(format!("cannot serve the kubelet endpoint: {e}"));
                    None
                }
            });
    while !shared.stop.load(Ordering::SeqCst) && started.elapsed() < shared.opts.lifetime {
        sync_once(shared, &mut pods);
        let tick = Instant::now();
        while tick.elapsed() < shared.opts.period && !shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    for (name, pod) in std::mem::take(&mut pods) {
        pod.stop();
        shared.running.lock().unwrap().remove(&name);
    }
    if let Some(k) = kubelet {
        k.stop();
    }
}

/// The manifests in the directory, by pod name (hidden files ignored).
fn read_manifests(dir: &Path) -> BTreeMap<String, (Vec<u8>, StaticPod)> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !(name.ends_with(".yaml") || name.ends_with(".json")) {
            continue;
        }
        let Ok(bytes) = std::fs::read(e.path()) else {
            continue;
        };
        if let Ok(pod) = StaticPod::parse(&bytes) {
            out.insert(pod.name.clone(), (bytes, pod));
        }
    }
    out
}

fn sync_once(shared: &Arc<Shared>, pods: &mut BTreeMap<String, Pod>) {
    let manifests = read_manifests(&shared.opts.manifests_dir);
    let gone: Vec<String> = pods
        .iter()
        .filter(|(name, pod)| manifests.get(*name).is_none_or(|(b, _)| *b != pod.content))
        .map(|(name, _)| name.clone())
        .collect();
    for name in gone {
        if let Some(pod) = pods.remove(&name) {
            pod.stop();
            shared.running.lock().unwrap().remove(&name);
            shared.note(format!("stopped {name}"));
        }
    }
    for (name, (bytes, manifest)) in manifests {
        if pods.contains_key(&name) || !KNOWN.contains(&name.as_str()) {
            continue;
        }
        if shared.refused.lock().unwrap().contains(&name) {
            let line = format!("refused {name}");
            if shared.log.lock().unwrap().last() != Some(&line) {
                shared.note(line);
            }
            continue;
        }
        let pairs = if shared.opts.pairs_at_start {
            PairRead::AtStart
        } else {
            PairRead::AtHandshake
        };
        match start_pod(&manifest, pairs) {
            Ok((stop, threads)) => {
                pods.insert(
                    name.clone(),
                    Pod {
                        content: bytes,
                        stop,
                        threads,
                    },
                );
                shared.running.lock().unwrap().insert(name.clone());
                shared.note(format!("started {name}"));
            }
            Err(e) => shared.note(format!("cannot start {name}: {e}")),
        }
    }
}

/// What one listener serves.
struct Listener {
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    health: &'static [&'static str],
    body: &'static str,
    /// The answer to `/version` (kube-apiserver's, which anyone may read).
    version: Option<&'static str>,
}

fn loopback(hostport: &str) -> Result<SocketAddr, String> {
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("{hostport:?} has no port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("bad port in {hostport:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() => ip,
        _ => std::net::IpAddr::from([127, 0, 0, 1]),
    };
    Ok(SocketAddr::new(ip, port))
}

fn urls(pod: &StaticPod, flag: &str) -> Vec<String> {
    pod.flag(flag)
        .unwrap_or_default()
        .split(',')
        .filter_map(|u| {
            let rest = u.trim().split_once("://").map_or(u.trim(), |(_, r)| r);
            let hp = rest.split('/').next()?;
            (!hp.is_empty()).then(|| hp.to_string())
        })
        .collect()
}

fn need<'a>(pod: &'a StaticPod, flag: &str) -> Result<&'a str, String> {
    pod.flag(flag).ok_or_else(|| format!("--{flag} is not set"))
}

const K8S_HEALTH: &[&str] = &["/livez", "/readyz", "/healthz"];
const ETCD_HEALTH: &[&str] = &["/health", "/readyz", "/livez"];
/// kube-apiserver's `/version` (its shape; the fields client-go reads).
const K8S_VERSION: &str = "{\"major\":\"1\",\"minor\":\"32\",\"gitVersion\":\"v1.32.0\",\"gitCommit\":\"fake-kubelet\",\"gitTreeState\":\"clean\",\"buildDate\":\"2024-12-11T17:59:15Z\",\"goVersion\":\"go1.23.3\",\"compiler\":\"gc\",\"platform\":\"linux/amd64\"}";
const ETCD_OK: &str = "{\"health\":\"true\",\"reason\":\"\"}";

/// The listeners of `pod`; etcd's and the API server's serving pairs read as `pairs` says.
fn listeners(pod: &StaticPod, pairs: PairRead) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    match pod.name.as_str() {
        "etcd" => {
            let client_ca = (pod.flag("client-cert-auth") == Some("true"))
                .then(|| need(pod, "trusted-ca-file"))
                .transpose()?;
            let client = server_config(
                need(pod, "cert-file")?,
                need(pod, "key-file")?,
                client_ca,
                true,
                pairs,
            )?;
            for hp in urls(pod, "listen-client-urls") {
                out.push(Listener {
                    addr: loopback(&hp)?,
                    tls: Some(client.clone()),
                    health: ETCD_HEALTH,
                    body: ETCD_OK,
                    version: None,
                });
            }
            let peer_ca = (pod.flag("peer-client-cert-auth") == Some("true"))
                .then(|| need(pod, "peer-trusted-ca-file"))
                .transpose()?;
            let peer = server_config(
                need(pod, "peer-cert-file")?,
                need(pod, "peer-key-file")?,
                peer_ca,
                true,
                pairs,
            )?;
            for hp in urls(pod, "listen-peer-urls") {
                out.push(Listener {
                    addr: loopback(&hp)?,
                    tls: Some(peer.clone()),
                    health: ETCD_HEALTH,
                    body: ETCD_OK,
                    version: None,
                });
            }
            for hp in urls(pod, "listen-metrics-urls") {
                out.push(Listener {
                    addr: loopback(&hp)?,
                    tls: None,
                    health: ETCD_HEALTH,
                    body: ETCD_OK,
                    version: None,
                });
            }
        }
        "kube-apiserver" => {
            let tls = server_config(
                need(pod, "tls-cert-file")?,
                need(pod, "tls-private-key-file")?,
                pod.flag("client-ca-file"),
                false,
                pairs,
            )?;
            let host = pod.flag("advertise-address").unwrap_or("127.0.0.1");
            let port = pod.flag("secure-port").unwrap_or("6443");
            out.push(Listener {
                addr: loopback(&format!("{host}:{port}"))?,
                tls: Some(tls),
                health: K8S_HEALTH,
                body: "ok",
                version: Some(K8S_VERSION),
            });
        }
        "kube-controller-manager" | "kube-scheduler" => {
            let tls = match (pod.flag("tls-cert-file"), pod.flag("tls-private-key-file")) {
                (Some(c), Some(k)) => server_config(c, k, None, false, PairRead::AtStart)?,
                _ => self_signed_config("localhost")?,
            };
            let default_port = if pod.name == "kube-scheduler" {
                "10259"
            } else {
                "10257"
            };
            let host = pod.flag("bind-address").unwrap_or("127.0.0.1");
            let port = pod.flag("secure-port").unwrap_or(default_port);
            out.push(Listener {
                addr: loopback(&format!("{host}:{port}"))?,
                tls: Some(tls),
                health: K8S_HEALTH,
                body: "ok",
                version: None,
            });
        }
        other => return Err(format!("unknown pod {other}")),
    }
    Ok(out)
}

type Started = (Arc<AtomicBool>, Vec<JoinHandle<()>>);

fn start_pod(pod: &StaticPod, pairs: PairRead) -> Result<Started, String> {
    let ls = listeners(pod, pairs)?;
    serve_all(ls)
}

fn serve_all(ls: Vec<Listener>) -> Result<Started, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut bound = Vec::new();
    for l in ls {
        let tcp =
            TcpListener::bind(l.addr).map_err(|e| format!("cannot listen on {}: {e}", l.addr))?;
        tcp.set_nonblocking(true).map_err(|e| e.to_string())?;
        bound.push((tcp, l));
    }
    let threads = bound
        .into_iter()
        .map(|(tcp, l)| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || accept_loop(&tcp, &l, &stop))
        })
        .collect();
    Ok((stop, threads))
}

fn accept_loop(tcp: &TcpListener, l: &Listener, stop: &Arc<AtomicBool>) {
    let mut workers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match tcp.accept() {
            Ok((stream, _)) => {
                let tls = l.tls.clone();
                let answers = Answers {
                    health: l.health,
                    body: l.body,
                    version: l.version,
                };
                let stop = Arc::clone(stop);
                workers.push(std::thread::spawn(move || {
                    let _ = serve_connection(stream, tls, &answers, &stop);
                }));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

/// What a listener answers: `health` paths with `body`, `/version` with `version`.
struct Answers {
    health: &'static [&'static str],
    body: &'static str,
    version: Option<&'static str>,
}

fn serve_connection(
    stream: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    answers: &Answers,
    stop: &AtomicBool,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    match tls {
        Some(cfg) => {
            let conn = rustls::ServerConnection::new(cfg).map_err(io::Error::other)?;
            let mut s = rustls::StreamOwned::new(conn, stream);
            answer(&mut s, answers, stop)
        }
        None => {
            let mut s = stream;
            answer(&mut s, answers, stop)
        }
    }
}

/// Reads one request (for at most 5 s, or until the pod stops) and answers it.
fn answer(s: &mut impl ReadWrite, answers: &Answers, stop: &AtomicBool) -> io::Result<()> {
    let end = Instant::now() + Duration::from_secs(5);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if stop.load(Ordering::SeqCst) || Instant::now() > end || buf.len() > 16 * 1024 {
            return Ok(());
        }
        match s.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or(path);
    let (status, text) = if answers.health.contains(&path) {
        ("200 OK", answers.body)
    } else if let (Some(v), "/version") = (answers.version, path) {
        ("200 OK", v)
    } else {
        ("404 Not Found", "404 page not found\n")
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{text}",
        text.len()
    );
    s.write_all(response.as_bytes())?;
    s.flush()
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A PEM private key as kubeadm writes them (PKCS#1, SEC1) or PKCS#8, for rustls.
fn key_der(pem: &[u8]) -> Result<rustls::pki_types::PrivateKeyDer<'static>, String> {
    use rustls::pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
    let block = kcerts_core::encoding::blocks(pem)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|b| b.label.ends_with("PRIVATE KEY"))
        .ok_or("no private key")?;
    Ok(match block.label.as_str() {
        "EC PRIVATE KEY" => PrivateSec1KeyDer::from(block.der).into(),
        "RSA PRIVATE KEY" => PrivatePkcs1KeyDer::from(block.der).into(),
        _ => PrivatePkcs8KeyDer::from(block.der).into(),
    })
}

/// When a listener reads its certificate and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PairRead {
    /// Once, when the pod starts.
    AtStart,
    /// At each TLS handshake (and once at start: a pod without them does not start).
    AtHandshake,
}

fn read_file(f: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))
}

/// A certificate chain and its key from two PEM files.
fn read_pair(
    cert_file: &Path,
    key_file: &Path,
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    String,
> {
    let certs: Vec<CertificateDer<'static>> = certificate::parse_all(&read_file(cert_file)?)
        .map_err(|e| format!("{}: {e}", cert_file.display()))?
        .into_iter()
        .map(|c| CertificateDer::from(c.der))
        .collect();
    let key = key_der(&read_file(key_file)?)?;
    Ok((certs, key))
}

/// Reads the serving pair from its files at each handshake, as etcd and the
/// API server do; a pair that cannot be read fails that handshake.
#[derive(Debug)]
struct PairAtHandshake {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::server::ResolvesServerCert for PairAtHandshake {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let (certs, key) = read_pair(&self.cert, &self.key).ok()?;
        rustls::sign::CertifiedKey::from_der(certs, key, &self.provider)
            .ok()
            .map(Arc::new)
    }
}

fn server_config(
    cert_file: &str,
    key_file: &str,
    client_ca_file: Option<&str>,
    require_client: bool,
    read: PairRead,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let (certs, key) = read_pair(Path::new(cert_file), Path::new(key_file))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_ca_file {
        Some(f) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certificate::parse_all(&read_file(Path::new(f))?)
                .map_err(|e| format!("{f}: {e}"))?
            {
                roots
                    .add(CertificateDer::from(c.der))
                    .map_err(|e| e.to_string())?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            );
            let v = if require_client {
                v
            } else {
                v.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| e.to_string())?)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = match read {
        PairRead::AtStart => builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("{cert_file} and {key_file}: {e}"))?,
        PairRead::AtHandshake => {
            rustls::sign::CertifiedKey::from_der(certs, key, &provider)
                .map_err(|e| format!("{cert_file} and {key_file}: {e}"))?;
            builder.with_cert_resolver(Arc::new(PairAtHandshake {
                cert: cert_file.into(),
                key: key_file.into(),
                provider,
            }))
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A self-signed pair as client-go's `GenerateSelfSignedCertKey(host)` makes it:
/// a CA `<host>-ca@<unix time>` signing a leaf `<host>@<unix time>`, both valid
/// from an hour ago for a year. Returns the chain (leaf, CA) and the key, as PEM.
pub fn self_signed_pair(host: &str) -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    let unix = now.unix_timestamp();
    // issue() backdates by 5 minutes; client-go by an hour.
    let from = now - time::Duration::minutes(55);
    let mut rng = kcerts_core::system_rng();
    let ca = renew::issue_ca(
        &format!("{host}-ca@{unix}"),
        KeyAlgorithm::EcdsaP256,
        from,
        &mut rng,
    )
    .unwrap();
    let mut spec = LeafSpec {
        common_name: format!("{host}@{unix}"),
        extended_key_usage: vec![ExtendedKeyUsage::ServerAuth],
        ..LeafSpec::default()
    };
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => spec.ip_addresses.push(ip),
        Err(_) => spec.dns_names.push(host.to_string()),
    }
    spec.ip_addresses.push([127, 0, 0, 1].into());
    let opts = RenewOptions {
        key_algorithm: KeyAlgorithm::EcdsaP256,
        validity: time::Duration::days(365),
    };
    let leaf = renew::issue(&spec, &ca, &opts, from, &mut rng).unwrap();
    (
        format!("{}{}", leaf.cert_pem(), ca.cert.to_pem()),
        leaf.key_pem(),
    )
}

fn self_signed_config(host: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (chain, key) = self_signed_pair(host);
    let (c, k) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&c, chain).map_err(|e| e.to_string())?;
    std::fs::write(&k, key).map_err(|e| e.to_string())?;
    server_config(
        &c.display().to_string(),
        &k.display().to_string(),
        None,
        false,
        PairRead::AtStart,
    )
}

/// The kubelet's own endpoint: `dir/kubelet.crt` (made self-signed when
/// missing, as the kubelet does without serverTLSBootstrap), `/healthz`.
fn kubelet_serving(addr: SocketAddr, dir: &Path) -> Result<Pod, String> {
    let (c, k) = (dir.join("kubelet.crt"), dir.join("kubelet.key"));
    if !c.exists() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let (chain, key) = self_signed_pair("cp-1");
        std::fs::write(&c, chain).map_err(|e| e.to_string())?;
        std::fs::write(&k, key).map_err(|e| e.to_string())?;
    }
    let tls = server_config(
        &c.display().to_string(),
        &k.display().to_string(),
        None,
        false,
        PairRead::AtStart,
    )?;
    let (stop, threads) = serve_all(vec![Listener {
        addr,
        tls: Some(tls),
        health: K8S_HEALTH,
        body: "ok",
        version: None,
    }])?;
    Ok(Pod {
        content: Vec::new(),
        stop,
        threads,
    })
}

/// Loopback ports for every listener of a test node.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// kube-apiserver `--secure-port`.
    pub apiserver: u16,
    /// etcd client.
    pub etcd_client: u16,
    /// etcd peer.
    pub etcd_peer: u16,
    /// etcd metrics (plain HTTP).
    pub etcd_metrics: u16,
    /// kube-controller-manager `--secure-port`.
    pub controller_manager: u16,
    /// kube-scheduler `--secure-port`.
    pub scheduler: u16,
    /// The kubelet's serving port.
    pub kubelet: u16,
}

impl Ports {
    /// Free ports (bound to port 0, then released).
    pub fn free() -> Self {
        let listeners: Vec<TcpListener> = (0..7)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let p: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        Self {
            apiserver: p[0],
            etcd_client: p[1],
            etcd_peer: p[2],
            etcd_metrics: p[3],
            controller_manager: p[4],
            scheduler: p[5],
            kubelet: p[6],
        }
    }

    /// `--endpoint kubelet=127.0.0.1:PORT`: the one endpoint no manifest names.
    pub fn kubelet_endpoint(&self) -> String {
        format!("kubelet=127.0.0.1:{}", self.kubelet)
    }
}

/// Writes the four manifests as kubeadm 1.32 writes them (the flags that matter
/// here, in kubeadm's order), with `root`'s `pki/` and `*.conf` paths and
/// loopback `ports`, into `manifests_dir`.
pub fn write_manifests(root: &Path, manifests_dir: &Path, ports: &Ports) {
    std::fs::create_dir_all(manifests_dir).unwrap();
    let pki = root.join("pki").display().to_string();
    let conf = root.display().to_string();
    for (file, text) in [
        ("etcd.yaml", etcd_manifest(&pki, ports)),
        ("kube-apiserver.yaml", apiserver_manifest(&pki, ports)),
        (
            "kube-controller-manager.yaml",
            controller_manager_manifest(&pki, &conf, ports),
        ),
        ("kube-scheduler.yaml", scheduler_manifest(&conf, ports)),
    ] {
        std::fs::write(manifests_dir.join(file), text).unwrap();
    }
}

fn pod_header(name: &str, annotation: Option<String>) -> String {
    let annotations = match annotation {
        Some(a) => format!("  annotations:\n    {a}\n"),
        None => String::new(),
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n{annotations}  labels:\n    component: {name}\n    \
         tier: control-plane\n  name: {name}\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n"
    )
}

fn command(args: &[String]) -> String {
    args.iter().map(|a| format!("    - {a}\n")).collect()
}

fn pod_footer(name: &str, image: &str, probe_path: &str, probe_port: u16, scheme: &str) -> String {
    format!(
        "    image: registry.k8s.io/{image}\n    imagePullPolicy: IfNotPresent\n    livenessProbe:\n      \
         failureThreshold: 8\n      httpGet:\n        host: 127.0.0.1\n        path: {probe_path}\n        \
         port: {probe_port}\n        scheme: {scheme}\n      initialDelaySeconds: 10\n      periodSeconds: 10\n      \
         timeoutSeconds: 15\n    name: {name}\n    resources:\n      requests:\n        cpu: 250m\n  \
         hostNetwork: true\n  priority: 2000001000\n  priorityClassName: system-node-critical\n  \
         securityContext:\n    seccompProfile:\n      type: RuntimeDefault\nstatus: {{}}\n"
    )
}

fn etcd_manifest(pki: &str, p: &Ports) -> String {
    let ip = "127.0.0.1";
    let args = [
        "etcd".to_string(),
        format!("--advertise-client-urls=https://{ip}:{}", p.etcd_client),
        format!("--cert-file={pki}/etcd/server.crt"),
        "--client-cert-auth=true".into(),
        "--data-dir=/var/lib/etcd".into(),
        "--experimental-initial-corrupt-check=true".into(),
        "--experimental-watch-progress-notify-interval=5s".into(),
        format!("--initial-advertise-peer-urls=https://{ip}:{}", p.etcd_peer),
        format!("--initial-cluster=cp-1=https://{ip}:{}", p.etcd_peer),
        format!("--key-file={pki}/etcd/server.key"),
        format!("--listen-client-urls=https://127.0.0.1:{}", p.etcd_client),
        format!("--listen-metrics-urls=http://127.0.0.1:{}", p.etcd_metrics),
        format!("--listen-peer-urls=https://{ip}:{}", p.etcd_peer),
        "--name=cp-1".into(),
        format!("--peer-cert-file={pki}/etcd/peer.crt"),
        "--peer-client-cert-auth=true".into(),
        format!("--peer-key-file={pki}/etcd/peer.key"),
        format!("--peer-trusted-ca-file={pki}/etcd/ca.crt"),
        "--snapshot-count=10000".into(),
        format!("--trusted-ca-file={pki}/etcd/ca.crt"),
    ];
    format!(
        "{}{}{}",
        pod_header(
            "etcd",
            Some(format!(
                "kubeadm.kubernetes.io/etcd.advertise-client-urls: https://{ip}:{}",
                p.etcd_client
            ))
        ),
        command(&args),
        pod_footer(
            "etcd",
            "etcd:3.5.16-0",
            "/health?exclude=NOSPACE&serializable=true",
            p.etcd_metrics,
            "HTTP"
        )
    )
}

fn apiserver_manifest(pki: &str, p: &Ports) -> String {
    let args = [
        "kube-apiserver".to_string(),
        "--advertise-address=127.0.0.1".into(),
        "--allow-privileged=true".into(),
        "--authorization-mode=Node,RBAC".into(),
        format!("--client-ca-file={pki}/ca.crt"),
        "--enable-admission-plugins=NodeRestriction".into(),
        "--enable-bootstrap-token-auth=true".into(),
        format!("--etcd-cafile={pki}/etcd/ca.crt"),
        format!("--etcd-certfile={pki}/apiserver-etcd-client.crt"),
        format!("--etcd-keyfile={pki}/apiserver-etcd-client.key"),
        format!("--etcd-servers=https://127.0.0.1:{}", p.etcd_client),
        format!("--kubelet-client-certificate={pki}/apiserver-kubelet-client.crt"),
        format!("--kubelet-client-key={pki}/apiserver-kubelet-client.key"),
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".into(),
        format!("--proxy-client-cert-file={pki}/front-proxy-client.crt"),
        format!("--proxy-client-key-file={pki}/front-proxy-client.key"),
        "--requestheader-allowed-names=front-proxy-client".into(),
        format!("--requestheader-client-ca-file={pki}/front-proxy-ca.crt"),
        "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
        "--requestheader-group-headers=X-Remote-Group".into(),
        "--requestheader-username-headers=X-Remote-User".into(),
        format!("--secure-port={}", p.apiserver),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!("--service-account-key-file={pki}/sa.pub"),
        format!("--service-account-signing-key-file={pki}/sa.key"),
        "--service-cluster-ip-range=10.96.0.0/12".into(),
        format!("--tls-cert-file={pki}/apiserver.crt"),
        format!("--tls-private-key-file={pki}/apiserver.key"),
    ];
    format!(
        "{}{}{}",
        pod_header(
            "kube-apiserver",
            Some(format!(
                "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 127.0.0.1:{}",
                p.apiserver
            ))
        ),
        command(&args),
        pod_footer(
            "kube-apiserver",
            "kube-apiserver:v1.32.0",
            "/livez",
            p.apiserver,
            "HTTPS"
        )
    )
}

fn controller_manager_manifest(pki: &str, conf: &str, p: &Ports) -> String {
    let args = [
        "kube-controller-manager".to_string(),
        format!("--authentication-kubeconfig={conf}/controller-manager.conf"),
        format!("--authorization-kubeconfig={conf}/controller-manager.conf"),
        "--bind-address=127.0.0.1".into(),
        format!("--client-ca-file={pki}/ca.crt"),
        "--cluster-name=kubernetes".into(),
        format!("--cluster-signing-cert-file={pki}/ca.crt"),
        format!("--cluster-signing-key-file={pki}/ca.key"),
        "--controllers=*,bootstrapsigner,tokencleaner".into(),
        format!("--kubeconfig={conf}/controller-manager.conf"),
        "--leader-elect=true".into(),
        format!("--requestheader-client-ca-file={pki}/front-proxy-ca.crt"),
        format!("--root-ca-file={pki}/ca.crt"),
        format!("--secure-port={}", p.controller_manager),
        format!("--service-account-private-key-file={pki}/sa.key"),
        "--use-service-account-credentials=true".into(),
    ];
    format!(
        "{}{}{}",
        pod_header("kube-controller-manager", None),
        command(&args),
        pod_footer(
            "kube-controller-manager",
            "kube-controller-manager:v1.32.0",
            "/healthz",
            p.controller_manager,
            "HTTPS"
        )
    )
}

fn scheduler_manifest(conf: &str, p: &Ports) -> String {
    let args = [
        "kube-scheduler".to_string(),
        format!("--authentication-kubeconfig={conf}/scheduler.conf"),
        format!("--authorization-kubeconfig={conf}/scheduler.conf"),
        "--bind-address=127.0.0.1".into(),
        format!("--kubeconfig={conf}/scheduler.conf"),
        "--leader-elect=true".into(),
        format!("--secure-port={}", p.scheduler),
    ];
    format!(
        "{}{}{}",
        pod_header("kube-scheduler", None),
        command(&args),
        pod_footer(
            "kube-scheduler",
            "kube-scheduler:v1.32.0",
            "/healthz",
            p.scheduler,
            "HTTPS"
        )
    )
}
