//! A small HTTPS Kubernetes API server for the `renew --use-api` tests: the parts
//! of certificates.k8s.io/v1 that kcerts (kube-rs) and `kubectl certificate
//! approve|deny` use, with kube-controller-manager's signer behind it.
//!
//! - TLS on 127.0.0.1 with a serving certificate from the node's cluster CA;
//!   clients authenticate with a certificate from that CA (user = CN) or a bearer
//!   token given in [`Options::tokens`].
//! - Discovery (`/api`, `/apis`, `/api/v1`, `/apis/certificates.k8s.io/v1`,
//!   `/version`); OpenAPI answers 404, which kubectl accepts.
//! - CertificateSigningRequests: create (with `generateName`), get, list and watch
//!   (`fieldSelector=metadata.name=`, `resourceVersion`, `timeoutSeconds`), PUT of
//!   the `approval` and `status` subresources, delete. Validation as the real one
//!   for what kcerts sends: signer name required, the legacy signer refused.
//! - The signer: once Approved, requests for `kubernetes.io/kube-apiserver-client`
//!   or for a signer in [`Options::signers`] are signed with the cluster CA,
//!   honouring usages and `expirationSeconds`; bad usages set a Failed condition.
//!   Signers in [`Options::auto_approve`] approve on creation, as cert-manager's
//!   approver would.
//!
//! It speaks HTTP/1.1 only (ALPN `http/1.1`), one thread per connection, and stops
//! when dropped or after [`Options::lifetime`], whichever comes first.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kcerts_core::certificate::{self, Certificate, ExtendedKeyUsage};
use kcerts_core::leaf::{self, LeafSpec, RenewOptions, SigningCa};
use kcerts_core::{KeyAlgorithm, PrivateKey};
use kcerts_core::{api_request, api_signer};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivateSec1KeyDer};
use serde_json::{Value, json};

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster CA certificate (PEM): trusted for client certificates, issues
    /// the serving certificate, signs approved requests.
    pub ca_cert_pem: Vec<u8>,
    /// The cluster CA key (PEM).
    pub ca_key_pem: Vec<u8>,
    /// Bearer tokens accepted, with the user name each stands for.
    pub tokens: Vec<(String, String)>,
    /// Custom signer names this server's signer issues for (with the cluster CA).
    pub signers: Vec<String>,
    /// Signer names whose requests are approved on creation.
    pub auto_approve: Vec<String>,
    /// kube-controller-manager's `--cluster-signing-duration`.
    pub signing_duration: time::Duration,
    /// Answer this many watches with a 410 Expired error event (tests re-listing).
    pub expire_watches: u32,
    /// Close every watch after this long, whatever the client asked (tests resuming).
    pub watch_cap: Option<Duration>,
    /// The server stops by itself after this long.
    pub lifetime: Duration,
}

impl Options {
    /// A server for the cluster CA in `pki_dir` (`ca.crt`, `ca.key`).
    pub fn for_pki(pki_dir: &std::path::Path) -> Self {
        Self {
            ca_cert_pem: std::fs::read(pki_dir.join("ca.crt")).unwrap(),
            ca_key_pem: std::fs::read(pki_dir.join("ca.key")).unwrap(),
            tokens: Vec::new(),
            signers: Vec::new(),
            auto_approve: Vec::new(),
            signing_duration: time::Duration::days(365),
            expire_watches: 0,
            watch_cap: None,
            lifetime: Duration::from_secs(180),
        }
    }
}

/// A running server; dropping it stops it.
pub struct FakeApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    opts: Options,
    ca: SigningCa,
    tls: Arc<rustls::ServerConfig>,
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    /// Every change: (resourceVersion, event type, object).
    events: Vec<(u64, &'static str, Value)>,
    version: u64,
    expire_watches: u32,
    log: Vec<String>,
    serial: u64,
}

impl FakeApiServer {
    /// Binds 127.0.0.1 on a free port and starts serving.
    pub fn start(opts: Options) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::start_on(listener, opts)
    }

    /// Serves on an already bound loopback listener.
    pub fn start_on(listener: TcpListener, opts: Options) -> Self {
        let addr = listener.local_addr().unwrap();
        assert!(
            addr.ip().is_loopback(),
            "the fake API server listens on loopback only"
        );
        let ca = SigningCa::new(
            certificate::parse_first(&opts.ca_cert_pem).unwrap(),
            PrivateKey::parse(&opts.ca_key_pem).unwrap(),
        )
        .unwrap();
        let tls = Arc::new(tls_config(&ca));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                expire_watches: opts.expire_watches,
                ..State::default()
            }),
            opts,
            ca,
            tls,
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        listener.set_nonblocking(true).unwrap();
        let s = Arc::clone(&shared);
        let thread = std::thread::spawn(move || accept_loop(&listener, &s));
        Self {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// One line per request handled: `METHOD PATH user=NAME -> STATUS`.
    pub fn log(&self) -> Vec<String> {
        self.shared.state.lock().unwrap().log.clone()
    }

    /// The names of the requests created so far, oldest first.
    pub fn request_names(&self) -> Vec<String> {
        let st = self.shared.state.lock().unwrap();
        let mut objs: Vec<&Value> = st.objects.values().collect();
        objs.sort_by_key(|o| {
            o["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        objs.iter()
            .map(|o| {
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// A stored request, as JSON.
    pub fn request(&self, name: &str) -> Option<Value> {
        self.shared.state.lock().unwrap().objects.get(name).cloned()
    }

    /// Waits until `n` requests exist (bounded by `timeout`); returns their names.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<String> {
        let end = Instant::now() + timeout;
        loop {
            let names = self.request_names();
            if names.len() >= n || Instant::now() >= end {
                return names;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn tls_config(ca: &SigningCa) -> rustls::ServerConfig {
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

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
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

struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

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
        let keep = handle(&mut tls, &req, user.as_deref(), shared)?;
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

/// The user: the client certificate's CN (verified by rustls against the CA), or a token's user.
fn authenticate(tls: &Tls, req: &Request, shared: &Shared) -> Option<String> {
    if let Some(cert) = tls.conn.peer_certificates().and_then(|c| c.first()) {
        return Certificate::from_der(cert.as_ref())
            .ok()
            .and_then(|c| c.common_name);
    }
    let token = req.headers.get("authorization")?.strip_prefix("Bearer ")?;
    shared
        .opts
        .tokens
        .iter()
        .find(|(t, _)| t == token)
        .map(|(_, u)| u.clone())
}

const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/// Handles one request; returns whether to keep the connection.
fn handle(tls: &mut Tls, req: &Request, user: Option<&str>, shared: &Shared) -> io::Result<bool> {
    let (code, body) = match user {
        None => status(401, "Unauthorized", "Unauthorized"),
        Some(user) => {
            if req.method == "GET" && req.path == CSRS && is_true(req.query.get("watch")) {
                log(shared, req, user, 200);
                watch(tls, req, shared)?;
                return Ok(true);
            }
            route(req, user, shared)
        }
    };
    log(shared, req, user.unwrap_or("-"), code);
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

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code,
        }),
    )
}

fn route(req: &Request, user: &str, shared: &Shared) -> (u16, Value) {
    let port = shared_port(req);
    if req.method == "GET" {
        match req.path.as_str() {
            "/api" => {
                return (
                    200,
                    json!({"kind": "APIVersions", "versions": ["v1"],
                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": port}]}),
                );
            }
            "/apis" => {
                let gv = json!({"groupVersion": "certificates.k8s.io/v1", "version": "v1"});
                return (
                    200,
                    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                        "name": "certificates.k8s.io", "versions": [gv], "preferredVersion": gv}]}),
                );
            }
            "/api/v1" => {
                return (
                    200,
                    json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": []}),
                );
            }
            "/apis/certificates.k8s.io/v1" => return (200, resource_list()),
            "/version" => {
                return (
                    200,
                    json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-kcerts-fake",
                        "platform": "linux/amd64"}),
                );
            }
            _ => {}
        }
    }
    let Some(rest) = req.path.strip_prefix(CSRS) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", [""]) => create(req, user, shared),
        ("GET", [""]) => list(req, shared),
        ("GET", [name]) => get(name, shared),
        ("DELETE", [name]) => delete(name, shared),
        ("PUT", [name, sub @ ("approval" | "status")]) => update_status(name, sub, req, shared),
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method",
        ),
    }
}

fn shared_port(req: &Request) -> String {
    req.headers.get("host").cloned().unwrap_or_default()
}

fn resource_list() -> Value {
    let verbs_sub = json!(["get", "patch", "update"]);
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "certificates.k8s.io/v1",
    "resources": [
        {"name": "certificatesigningrequests", "singularName": "certificatesigningrequest",
         "namespaced": false, "kind": "CertificateSigningRequest", "shortNames": ["csr"],
         "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]},
        {"name": "certificatesigningrequests/approval", "singularName": "", "namespaced": false,
         "kind": "CertificateSigningRequest", "verbs": verbs_sub},
        {"name": "certificatesigningrequests/status", "singularName": "", "namespaced": false,
         "kind": "CertificateSigningRequest", "verbs": verbs_sub},
    ]})
}

fn json_body(req: &Request) -> Result<Value, (u16, Value)> {
    let ct = req.headers.get("content-type").cloned().unwrap_or_default();
    // kubectl 1.32's typed clients prefer protobuf for built-in kinds (client-go's
    // gentype.PrefersProtobuf): its approval PUT arrives as protobuf.
    if ct.starts_with("application/vnd.kubernetes.protobuf") {
        return proto::csr_to_json(&req.body).ok_or_else(|| {
            status(
                400,
                "BadRequest",
                "cannot decode the protobuf CertificateSigningRequest",
            )
        });
    }
    if !ct.is_empty() && !ct.starts_with("application/json") {
        return Err(status(
            415,
            "UnsupportedMediaType",
            &format!("the body of the request was in an unknown format: {ct}"),
        ));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| status(400, "BadRequest", &format!("invalid JSON: {e}")))
}

fn invalid(name: &str, detail: &str) -> (u16, Value) {
    status(
        422,
        "Invalid",
        &format!("CertificateSigningRequest.certificates.k8s.io \"{name}\" is invalid: {detail}"),
    )
}

fn create(req: &Request, user: &str, shared: &Shared) -> (u16, Value) {
    let mut obj = match json_body(req) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let generate = obj["metadata"]["generateName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut st = shared.state.lock().unwrap();
    st.serial += 1;
    let name = match obj["metadata"]["name"].as_str() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ if !generate.is_empty() => format!("{generate}{}", suffix(st.serial)),
        _ => {
            return invalid(
                "",
                "metadata.name: Required value: name or generateName is required",
            );
        }
    };
    if st.objects.contains_key(&name) {
        return status(
            409,
            "AlreadyExists",
            &format!("certificatesigningrequests.certificates.k8s.io \"{name}\" already exists"),
        );
    }
    let signer = obj["spec"]["signerName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if signer.is_empty() {
        return invalid(&name, "spec.signerName: Required value");
    }
    if signer == api_request::LEGACY_UNKNOWN_SIGNER {
        return invalid(
            &name,
            "spec.signerName: Invalid value: \"kubernetes.io/legacy-unknown\": the legacy signerName is not allowed via this API version",
        );
    }
    if obj["spec"]["usages"].as_array().is_none_or(Vec::is_empty) {
        return invalid(&name, "spec.usages: Required value");
    }
    let csr_ok = obj["spec"]["request"]
        .as_str()
        .and_then(|b| STANDARD.decode(b).ok())
        .is_some_and(|pem| kcerts_core::csr::parse(&pem).is_ok_and(|c| c.signature_valid));
    if !csr_ok {
        return invalid(
            &name,
            "spec.request: Invalid value: []byte{...}: PEM block type must be CERTIFICATE REQUEST",
        );
    }
    if obj["spec"]["expirationSeconds"]
        .as_i64()
        .is_some_and(|s| s < 600)
    {
        return invalid(
            &name,
            "spec.expirationSeconds: Invalid value: may not specify a duration less than 600 seconds (10 minutes)",
        );
    }
    let meta = obj["metadata"].as_object_mut();
    let Some(meta) = meta else {
        return invalid(&name, "metadata: Required value");
    };
    meta.insert("name".into(), json!(name));
    meta.insert(
        "uid".into(),
        json!(format!("00000000-0000-0000-0000-{:012}", st.serial)),
    );
    meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
    obj["apiVersion"] = json!("certificates.k8s.io/v1");
    obj["kind"] = json!("CertificateSigningRequest");
    obj["spec"]["username"] = json!(user);
    obj["spec"]["groups"] = json!(["system:authenticated"]);
    obj["status"] = json!({});
    commit(&mut st, "ADDED", obj);
    if shared.opts.auto_approve.contains(&signer) {
        let mut o = st.objects[&name].clone();
        o["status"]["conditions"] = json!([condition(
            "Approved",
            "AutoApproved",
            "approved by the test signer's approver"
        )]);
        commit(&mut st, "MODIFIED", o);
        sign_if_ours(&mut st, &name, shared);
    }
    let out = st.objects[&name].clone();
    drop(st);
    shared.changed.notify_all();
    (201, out)
}

fn suffix(n: u64) -> String {
    // The API server's alphabet for generated names: no vowels, no 0/1/3.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn condition(kind: &str, reason: &str, message: &str) -> Value {
    let now = now_rfc3339();
    json!({"type": kind, "status": "True", "reason": reason, "message": message,
        "lastUpdateTime": now, "lastTransitionTime": now})
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Stores `obj` with the next resourceVersion and records the event.
fn commit(st: &mut State, kind: &'static str, mut obj: Value) {
    st.version += 1;
    obj["metadata"]["resourceVersion"] = json!(st.version.to_string());
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    st.events.push((st.version, kind, obj.clone()));
    if kind == "DELETED" {
        st.objects.remove(&name);
    } else {
        st.objects.insert(name, obj);
    }
}

/// kube-controller-manager's signer: signs approved requests for the signers it serves.
fn sign_if_ours(st: &mut State, name: &str, shared: &Shared) {
    let obj = st.objects[name].clone();
    let signer = obj["spec"]["signerName"].as_str().unwrap_or_default();
    let ours = signer == api_request::KUBE_APISERVER_CLIENT_SIGNER
        || shared.opts.signers.iter().any(|s| s == signer);
    let conditions = obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let has = |t: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == t && c["status"] != "False")
    };
    if !ours
        || !has("Approved")
        || has("Denied")
        || has("Failed")
        || obj["status"]["certificate"].is_string()
    {
        return;
    }
    let usages: Vec<String> = obj["spec"]["usages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect();
    let mut validity = shared.opts.signing_duration;
    if let Some(s) = obj["spec"]["expirationSeconds"].as_i64() {
        validity = validity.min(time::Duration::seconds(s));
    }
    let pem = obj["spec"]["request"]
        .as_str()
        .and_then(|b| STANDARD.decode(b).ok())
        .unwrap_or_default();
    let result = api_signer::check_usages(signer, &usages).and_then(|()| {
        api_signer::sign_with_usages(
            &pem,
            &usages,
            &shared.ca,
            validity,
            time::OffsetDateTime::now_utc(),
            &mut kcerts_core::system_rng(),
        )
    });
    let mut o = obj;
    match result {
        Ok(cert) => o["status"]["certificate"] = json!(STANDARD.encode(cert.to_pem())),
        Err(e) => {
            let mut c = conditions;
            c.push(condition(
                "Failed",
                "SignerValidationFailure",
                &e.to_string(),
            ));
            o["status"]["conditions"] = json!(c);
        }
    }
    commit(st, "MODIFIED", o);
}

fn get(name: &str, shared: &Shared) -> (u16, Value) {
    match shared.state.lock().unwrap().objects.get(name) {
        Some(o) => (200, o.clone()),
        None => not_found(name),
    }
}

fn not_found(name: &str) -> (u16, Value) {
    let (code, mut v) = status(
        404,
        "NotFound",
        &format!("certificatesigningrequests.certificates.k8s.io \"{name}\" not found"),
    );
    v["details"] =
        json!({"name": name, "group": "certificates.k8s.io", "kind": "certificatesigningrequests"});
    (code, v)
}

fn delete(name: &str, shared: &Shared) -> (u16, Value) {
    let mut st = shared.state.lock().unwrap();
    let Some(obj) = st.objects.get(name).cloned() else {
        return not_found(name);
    };
    commit(&mut st, "DELETED", obj.clone());
    drop(st);
    shared.changed.notify_all();
    (200, obj)
}

/// `metadata.name=NAME` (the only field selector kcerts and kubectl use here).
fn selected(req: &Request) -> Option<String> {
    req.query
        .get("fieldSelector")
        .and_then(|f| f.strip_prefix("metadata.name="))
        .map(str::to_string)
}

fn matches(obj: &Value, name: &Option<String>) -> bool {
    name.as_ref()
        .is_none_or(|n| obj["metadata"]["name"].as_str() == Some(n.as_str()))
}

fn list(req: &Request, shared: &Shared) -> (u16, Value) {
    let name = selected(req);
    let st = shared.state.lock().unwrap();
    let items: Vec<Value> = st
        .objects
        .values()
        .filter(|o| matches(o, &name))
        .cloned()
        .collect();
    (
        200,
        json!({"kind": "CertificateSigningRequestList", "apiVersion": "certificates.k8s.io/v1",
            "metadata": {"resourceVersion": st.version.to_string()}, "items": items}),
    )
}

fn update_status(name: &str, sub: &str, req: &Request, shared: &Shared) -> (u16, Value) {
    let body = match json_body(req) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let mut st = shared.state.lock().unwrap();
    let Some(mut obj) = st.objects.get(name).cloned() else {
        return not_found(name);
    };
    if let Some(rv) = body["metadata"]["resourceVersion"].as_str()
        && !rv.is_empty()
        && Some(rv) != obj["metadata"]["resourceVersion"].as_str()
    {
        return status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        );
    }
    let conditions = body["status"]["conditions"].clone();
    if sub == "approval" {
        let list = conditions.as_array().cloned().unwrap_or_default();
        let has = |t: &str| list.iter().any(|c| c["type"] == t);
        if has("Approved") && has("Denied") {
            return invalid(
                name,
                "status.conditions: Invalid value: \"Approved\": Approved and Denied conditions are mutually exclusive",
            );
        }
        obj["status"]["conditions"] = conditions;
    } else {
        obj["status"] = body["status"].clone();
    }
    commit(&mut st, "MODIFIED", obj);
    sign_if_ours(&mut st, name, shared);
    let out = st.objects[name].clone();
    drop(st);
    shared.changed.notify_all();
    (200, out)
}

/// A chunked stream of watch events from `resourceVersion` on, until
/// `timeoutSeconds` (or [`Options::watch_cap`]) or the server stops.
fn watch(tls: &mut Tls, req: &Request, shared: &Shared) -> io::Result<()> {
    let name = selected(req);
    let secs: u64 = req
        .query
        .get("timeoutSeconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1800);
    let mut limit = Duration::from_secs(secs);
    if let Some(cap) = shared.opts.watch_cap {
        limit = limit.min(cap);
    }
    let end = Instant::now() + limit;
    tls.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )?;
    let send = |tls: &mut Tls, ev: Value| -> io::Result<()> {
        let mut line = serde_json::to_vec(&ev).unwrap_or_default();
        line.push(b'\n');
        tls.write_all(format!("{:x}\r\n", line.len()).as_bytes())?;
        tls.write_all(&line)?;
        tls.write_all(b"\r\n")?;
        tls.flush()
    };
    let rv_param = req
        .query
        .get("resourceVersion")
        .cloned()
        .unwrap_or_default();
    let mut since: u64;
    {
        let mut st = shared.state.lock().unwrap();
        if st.expire_watches > 0 {
            st.expire_watches -= 1;
            drop(st);
            let (_, s) = status(
                410,
                "Expired",
                &format!("too old resource version: {rv_param}"),
            );
            send(tls, json!({"type": "ERROR", "object": s}))?;
            return tls.write_all(b"0\r\n\r\n");
        }
        if rv_param.is_empty() || rv_param == "0" {
            // No version: the current state as ADDED events, then changes.
            since = st.version;
            let current: Vec<Value> = st
                .objects
                .values()
                .filter(|o| matches(o, &name))
                .cloned()
                .collect();
            drop(st);
            for o in current {
                send(tls, json!({"type": "ADDED", "object": o}))?;
            }
        } else {
            since = rv_param.parse().unwrap_or(0);
        }
    }
    loop {
        let pending: Vec<(u64, &'static str, Value)> = {
            let st = shared.state.lock().unwrap();
            let fresh: Vec<_> = st
                .events
                .iter()
                .filter(|(v, _, o)| *v > since && matches(o, &name))
                .cloned()
                .collect();
            if fresh.is_empty() {
                if shared.stop.load(Ordering::SeqCst) || Instant::now() >= end {
                    break;
                }
                let wait = end
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(200));
                let _ = shared.changed.wait_timeout(st, wait).unwrap();
                continue;
            }
            fresh
        };
        for (v, kind, obj) in pending {
            since = v;
            send(tls, json!({"type": kind, "object": obj}))?;
        }
    }
    tls.write_all(b"0\r\n\r\n")
}

/// Just enough of Kubernetes' protobuf encoding to read a CertificateSigningRequest's
/// name, resourceVersion and status conditions (k8s.io/api/certificates/v1/generated.proto).
mod proto {
    use serde_json::{Value, json};

    /// One field: (number, wire type, varint value, bytes).
    type Field<'a> = (u64, u8, u64, &'a [u8]);

    /// The fields of one message.
    fn fields(mut b: &[u8]) -> Option<Vec<Field<'_>>> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = varint(&mut b)?;
            let (num, wire) = (key >> 3, (key & 7) as u8);
            match wire {
                0 => out.push((num, 0, varint(&mut b)?, &b[..0])),
                2 => {
                    let len = usize::try_from(varint(&mut b)?).ok()?;
                    let (v, rest) = (b.get(..len)?, b.get(len..)?);
                    out.push((num, 2, 0, v));
                    b = rest;
                }
                1 => b = b.get(8..)?,
                5 => b = b.get(4..)?,
                _ => return None,
            }
        }
        Some(out)
    }

    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn text(b: &[u8]) -> Value {
        json!(String::from_utf8_lossy(b))
    }

    fn time(b: &[u8]) -> Option<Value> {
        let secs = fields(b)?.iter().find(|f| f.0 == 1).map_or(0, |f| f.2);
        let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()?;
        Some(json!(
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()?
        ))
    }

    /// `k8s\0` + runtime.Unknown{raw} + CertificateSigningRequest -> JSON (metadata and status).
    pub fn csr_to_json(body: &[u8]) -> Option<Value> {
        let unknown = fields(body.strip_prefix(b"k8s\0")?)?;
        let raw = unknown.iter().find(|f| f.0 == 2)?.3;
        let mut obj = json!({"metadata": {}, "status": {}});
        for (num, _, _, v) in fields(raw)? {
            match num {
                1 => {
                    for (n, _, _, m) in fields(v)? {
                        match n {
                            1 => obj["metadata"]["name"] = text(m),
                            6 => obj["metadata"]["resourceVersion"] = text(m),
                            _ => {}
                        }
                    }
                }
                3 => {
                    let mut conditions = Vec::new();
                    for (n, _, _, c) in fields(v)? {
                        if n != 1 {
                            continue;
                        }
                        let mut cond = json!({});
                        for (cn, _, _, cv) in fields(c)? {
                            let key = match cn {
                                1 => "type",
                                2 => "reason",
                                3 => "message",
                                4 => "lastUpdateTime",
                                5 => "lastTransitionTime",
                                6 => "status",
                                _ => continue,
                            };
                            cond[key] = if cn == 4 || cn == 5 {
                                time(cv)?
                            } else {
                                text(cv)
                            };
                        }
                        conditions.push(cond);
                    }
                    obj["status"]["conditions"] = json!(conditions);
                }
                _ => {}
            }
        }
        Some(obj)
    }
}
