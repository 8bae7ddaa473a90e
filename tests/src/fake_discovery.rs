//! A fake Kubernetes API server that only answers discovery, so that
//! `kubectl apply --dry-run=client` can map the shipped manifests' kinds to
//! resources without a cluster.
//!
//! Plain HTTP on 127.0.0.1, one request per connection. It serves the legacy
//! discovery documents a real API server serves (`/api`, `/apis`,
//! `/api/v1`, `/apis/<group>/<version>`) for the resources it is given, and
//! answers everything else, objects and OpenAPI included, with a 404 Status (a
//! real server's answer for an object that does not exist, which `apply` takes
//! as "create"). It stops when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// One API resource: `("apps/v1", "daemonsets", "DaemonSet")`; the core group is `"v1"`.
pub type Resource = (&'static str, &'static str, &'static str);

/// A ServiceAccount and the four RBAC kinds, which every shipped manifest that
/// grants permissions holds.
pub const SERVICE_ACCOUNT_AND_RBAC: [Resource; 5] = [
    ("v1", "serviceaccounts", "ServiceAccount"),
    (
        "rbac.authorization.k8s.io/v1",
        "clusterroles",
        "ClusterRole",
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
    ),
    ("rbac.authorization.k8s.io/v1", "roles", "Role"),
    (
        "rbac.authorization.k8s.io/v1",
        "rolebindings",
        "RoleBinding",
    ),
];

/// The running server.
pub struct FakeDiscovery {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDiscovery {
    /// Starts it on 127.0.0.1 with a free port, serving `resources` (all namespaced).
    pub fn start(resources: &[Resource]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let resources = resources.to_vec();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // Bounded: a test that forgets to drop it does not keep it for long.
            for _ in 0..6000 {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = answer(stream, &resources);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FakeDiscovery {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig that points kubectl at this server (no credentials).
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.url()
        )
    }
}

impl Drop for FakeDiscovery {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(mut stream: TcpStream, resources: &[Resource]) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    let (code, body) = route(&path, resources);
    let body = body.to_string();
    let reason = if code == 200 { "OK" } else { "Not Found" };
    write!(
        stream,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn route(path: &str, resources: &[Resource]) -> (u16, Value) {
    let list = |gv: &str| {
        let items: Vec<Value> = resources
            .iter()
            .filter(|(g, _, _)| *g == gv)
            .map(|(_, name, kind)| {
                json!({"name": name, "singularName": "", "namespaced": true, "kind": kind,
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
            })
            .collect();
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items})
    };
    match path {
        "/api" => (200, json!({"kind": "APIVersions", "versions": ["v1"]})),
        "/apis" => {
            let mut groups: Vec<&str> = resources
                .iter()
                .map(|(g, _, _)| *g)
                .filter(|g| g.contains('/'))
                .collect();
            groups.dedup();
            let groups: Vec<Value> = groups
                .iter()
                .map(|gv| {
                    let (name, version) = gv.split_once('/').unwrap_or((gv, ""));
                    let v = json!({"groupVersion": gv, "version": version});
                    json!({"name": name, "versions": [v], "preferredVersion": v})
                })
                .collect();
            (
                200,
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            )
        }
        "/api/v1" => (200, list("v1")),
        p if p.starts_with("/apis/") && p.matches('/').count() == 3 => {
            (200, list(&p["/apis/".len()..]))
        }
        _ => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "the server could not find the requested resource",
                "reason": "NotFound", "code": 404}),
        ),
    }
}
