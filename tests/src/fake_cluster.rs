//! A node whose kubeconfigs point at the fake API server on loopback: the cluster
//! of the `--use-api`, approve and cluster-configuration tests, with the real
//! kubectl pointed at it and `kcerts renew --use-api` run against it.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::fake_apiserver::{FakeApiServer, Options};
use crate::{dir_args, generate_pki_at, kcerts_bin, run, tempdir};

/// A node whose kubeconfigs point at a fake API server on a free loopback port.
pub struct Cluster {
    _dir: tempfile::TempDir,
    /// The node (`pki/`, the kubeconfigs).
    pub root: PathBuf,
    /// The fake API server (its log, its requests).
    pub server: FakeApiServer,
}

/// A node generated now (ECDSA P-256) whose kubeconfigs point at a fake API server
/// on a free loopback port, its options tuned by `tune` (server certificates live
/// 120 s unless told otherwise).
pub fn cluster(tune: impl FnOnce(&mut Options)) -> Cluster {
    let dir = tempdir();
    let root = dir.path().join("kubernetes");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    generate_pki_at(&root, &format!("127.0.0.1:{port}"), None);
    let mut opts = Options::for_pki(&root.join("pki"));
    opts.lifetime = Duration::from_secs(120);
    tune(&mut opts);
    let server = FakeApiServer::start_on(listener, opts);
    Cluster {
        _dir: dir,
        root,
        server,
    }
}

impl Cluster {
    /// `renew ROWS --cert-dir --kubeconfig-dir --use-api --kubeconfig admin.conf
    /// --key-algorithm ECDSA-P256 EXTRA...`.
    pub fn renew_args(&self, rows: &[&str], extra: &[&str]) -> Vec<String> {
        let mut args = vec!["renew".to_string()];
        args.extend(rows.iter().map(|r| r.to_string()));
        args.extend(dir_args(&self.root));
        args.extend(
            [
                "--use-api",
                "--kubeconfig",
                self.root.join("admin.conf").to_str().unwrap(),
                "--key-algorithm",
                "ECDSA-P256",
            ]
            .map(String::from),
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Starts `kcerts renew ROWS --use-api ...` in the background.
    pub fn spawn_renew(&self, rows: &[&str], extra: &[&str]) -> Child {
        Command::new(kcerts_bin())
            .args(self.renew_args(rows, extra))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The real kubectl with the node's admin.conf and a private discovery cache.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        let cache = self.root.join("kubectl-cache");
        let mut all = vec![
            "--kubeconfig".to_string(),
            self.root.join("admin.conf").display().to_string(),
            "--cache-dir".into(),
            cache.display().to_string(),
            "--request-timeout".into(),
            "20s".into(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        run("kubectl", all)
    }

    /// Every node file with its bytes (kubectl's cache and the renew lock left out).
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    if !p.ends_with("kubectl-cache") {
                        stack.push(p);
                    }
                } else if !p.ends_with("tmp/kcerts.lock") {
                    // The renew lock (kubeconfig-dir/tmp/kcerts.lock) is not a node file.
                    out.insert(p.clone(), std::fs::read(&p).unwrap());
                }
            }
        }
        out
    }

    /// The fake API server's URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The fake API server's log, for a failure message.
    pub fn diagnostics(&self) -> String {
        format!("server log:\n{}", self.server.log().join("\n"))
    }
}
