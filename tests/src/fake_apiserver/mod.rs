//! A small HTTPS Kubernetes API server for the `renew --use-api` tests: the parts
//! of certificates.k8s.io/v1 that kcerts (kube-rs) and `kubectl certificate
//! approve|deny` use, with kube-controller-manager's signer behind it.
//!
//! - TLS on 127.0.0.1 with a serving certificate from the node's cluster CA;
//!   clients authenticate with a certificate from that CA (user = CN, groups = O,
//!   as the API server's x509 authenticator) or a bearer token given in
//!   [`Options::tokens`]; every authenticated user is also in `system:authenticated`.
//!   A request's `spec.username` and `spec.groups` are the creator's, as the real
//!   API server fills them.
//! - Discovery (`/api`, `/apis`, `/api/v1`, `/apis/certificates.k8s.io/v1`,
//!   `/version`); OpenAPI answers 404, which kubectl accepts.
//! - ConfigMaps given in [`Options::config_maps`], read-only (GET by name; a
//!   missing one is the API server's 404 NotFound `Status`), for kubeadm's
//!   `kubeadm-config` that `--from-cluster` reads.
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
//! - Nodes, the `kubernetes` Service, EndpointSlice and Endpoints in `default`,
//!   and ServiceCIDRs given in [`Options::objects`], read-only (get and list), for
//!   `approve kubelet-serving` ([`objects`]).
//! - `kubectl get csr` tables: server-side printing with the real printer's columns.
//!
//! It speaks HTTP/1.1 only (ALPN `http/1.1`), one thread per connection, and stops
//! when dropped or after [`Options::lifetime`], whichever comes first.
//!
//! One job per file: [`http`] (TLS, HTTP/1.1 parsing, authentication, the
//! connection loop), [`routes`] (discovery and the CertificateSigningRequest
//! endpoints with their validation), [`table`] (server-side printing), [`store`] (the objects, their
//! resourceVersions and events, and kube-controller-manager's signer), [`watch`]
//! (chunked watch streams), [`objects`] (the read-only objects of other kinds) and [`protobuf`] (the part of Kubernetes' protobuf
//! encoding kubectl sends).

mod http;
pub mod objects;
mod protobuf;
mod routes;
mod store;
mod table;
mod watch;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kcerts_core::PrivateKey;
use kcerts_core::certificate;
use kcerts_core::leaf::SigningCa;
use serde_json::Value;

use store::State;

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
    /// ConfigMaps served read-only at `/api/v1/namespaces/NS/configmaps/NAME`:
    /// (namespace, name, data), e.g. kubeadm's `kubeadm-config` in kube-system.
    pub config_maps: Vec<(String, String, std::collections::BTreeMap<String, String>)>,
    /// Read-only objects of the kinds [`objects`] serves (Nodes, the `kubernetes`
    /// Service, EndpointSlice and Endpoints in `default`, ServiceCIDRs), as the
    /// builders there make them.
    pub objects: Vec<Value>,
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
            config_maps: Vec::new(),
            objects: Vec::new(),
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
        let tls = Arc::new(http::tls_config(&ca));
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
        let thread = std::thread::spawn(move || http::accept_loop(&listener, &s));
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
