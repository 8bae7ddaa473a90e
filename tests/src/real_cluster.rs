//! The real control plane in a test: etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler v1.37.2, from the manifests the
//! real kubeadm writes, run by [`ProcessKubelet`]s inside a private network
//! namespace ([`NetNs`]).
//!
//! Use it in three lines:
//! ```ignore
//! let Some(c) = RealCluster::single() else { return }; // or ::three(); skips without binaries
//! assert_ok(&c.kcerts(0, &["renew", "all"]), "renew");       // kcerts on node 0, in the namespace
//! c.wait_ready(READY_LIMIT);                                // /readyz, kcm and scheduler /healthz
//! ```
//! `c.kubectl(i, ..)`, `c.etcdctl(i, ..)`, `c.command(program)` run other
//! programs inside the namespace; `c.nodes[i]` has the node's `etc()`, `pki()`,
//! `manifests()` and its `kubelet` (starts, pids, logs). On a failing test the
//! processes' logs are printed; everything is stopped when the cluster drops.
//!
//! Each node is made by `kubeadm --rootfs NODE_ROOT init phase certs all |
//! kubeconfig all | etcd local | control-plane all --config`, its address on
//! the namespace's loopback: cp-1 198.51.100.11, cp-2 .12, cp-3 .13 (TEST-NET-2;
//! not 127.0.0.0/8, which kubeadm refuses: see [`crate::netns`]). Every
//! listener is bound to the node's address through kubeadm's own configuration
//! (v1beta4 `extraArgs`): the API server's `bind-address` and `etcd-servers`
//! (its own node's etcd), etcd's `listen-client-urls` and `listen-metrics-urls`
//! (peer URLs are the advertise address already), the controller-manager's and
//! scheduler's `bind-address`; on three nodes etcd's `initial-cluster` names
//! all three members (state `new` on each). Nodes 2 and 3 get node 1's CAs
//! (ca, etcd/ca, front-proxy-ca, sa) before their phases, as kubeadm's
//! `--upload-certs` copies them to joining control-plane nodes.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::kube_bin::{CONTROL_PLANE, KUBE_VERSION, kube_bin};
use crate::netns::NetNs;
use crate::process_kubelet::{self, ProcessKubelet};
use crate::{assert_ok, kcerts_bin, stderr, stdout, tempdir};

/// How long a cluster may take to become ready (2 loaded cores: generous).
pub const READY_LIMIT: Duration = Duration::from_secs(240);

/// One control-plane node.
pub struct RealNode {
    /// `cp-1`, `cp-2`, `cp-3`.
    pub name: String,
    /// Its address (advertise and bind), on the namespace's loopback.
    pub address: Ipv4Addr,
    /// The root kubeadm wrote into (`--rootfs`): `etc/kubernetes`, `var/lib/etcd`.
    pub root: PathBuf,
    /// The node's process kubelet.
    pub kubelet: ProcessKubelet,
}

impl RealNode {
    /// `ROOT/etc/kubernetes` (the kubeconfig dir).
    pub fn etc(&self) -> PathBuf {
        self.root.join("etc/kubernetes")
    }

    /// `ROOT/etc/kubernetes/pki` (the cert dir).
    pub fn pki(&self) -> PathBuf {
        self.etc().join("pki")
    }

    /// `ROOT/etc/kubernetes/manifests`.
    pub fn manifests(&self) -> PathBuf {
        self.etc().join("manifests")
    }

    /// `ROOT/etc/kubernetes/admin.conf`.
    pub fn admin_conf(&self) -> PathBuf {
        self.etc().join("admin.conf")
    }

    /// `https://ADDRESS:6443`.
    pub fn apiserver_url(&self) -> String {
        format!("https://{}:6443", self.address)
    }
}

/// A running cluster; stopped (processes, then the namespace) when dropped.
pub struct RealCluster {
    /// Its nodes (dropped first: their processes stop before the namespace goes).
    pub nodes: Vec<RealNode>,
    /// The network namespace every command runs in.
    pub ns: NetNs,
    /// The directory of the real programs.
    pub bin: PathBuf,
    /// How long [`RealCluster::single`] / [`RealCluster::three`] took to be ready.
    pub bring_up: Duration,
    _dir: tempfile::TempDir,
}

impl RealCluster {
    /// One node, ready; `None` (skipped, reason printed) without the binaries.
    pub fn single() -> Option<Self> {
        Self::with_nodes(1)
    }

    /// Three control-plane nodes (three etcd members, three API servers), ready.
    pub fn three() -> Option<Self> {
        Self::with_nodes(3)
    }

    fn with_nodes(n: usize) -> Option<Self> {
        let bin = kube_bin(CONTROL_PLANE)?;
        let started = Instant::now();
        let dir = tempdir();
        let addresses: Vec<Ipv4Addr> = (0..n)
            .map(|i| Ipv4Addr::new(198, 51, 100, 11 + i as u8))
            .collect();
        let ns = NetNs::new(&addresses);
        let names: Vec<String> = (1..=n).map(|i| format!("cp-{i}")).collect();
        let initial_cluster = names
            .iter()
            .zip(&addresses)
            .map(|(name, a)| format!("{name}=https://{a}:2380"))
            .collect::<Vec<_>>()
            .join(",");
        let mut roots: Vec<PathBuf> = Vec::new();
        for (i, (name, address)) in names.iter().zip(&addresses).enumerate() {
            let root = dir.path().join(name);
            std::fs::create_dir_all(root.join("etc/kubernetes/pki/etcd")).unwrap();
            if i > 0 {
                copy_cas(&roots[0], &root);
            }
            let config = kubeadm_config(
                name,
                *address,
                (n > 1).then_some((initial_cluster.as_str(), addresses.as_slice())),
            );
            std::fs::write(root.join("kubeadm.yaml"), config).unwrap();
            for phase in [
                &["certs", "all"][..],
                &["kubeconfig", "all"],
                &["etcd", "local"],
                &["control-plane", "all"],
            ] {
                let out = ns
                    .command(bin.join("kubeadm"))
                    .arg("--rootfs")
                    .arg(&root)
                    .args(["init", "phase"])
                    .args(phase)
                    .args(["--config", "/kubeadm.yaml"])
                    .env_remove("KUBECONFIG")
                    .output()
                    .unwrap();
                assert_ok(
                    &out,
                    &format!("kubeadm init phase {} on {name}", phase.join(" ")),
                );
            }
            roots.push(root);
        }
        let nodes = names
            .into_iter()
            .zip(addresses)
            .zip(roots)
            .map(|((name, address), root)| {
                let kubelet = ProcessKubelet::start(process_kubelet::Options {
                    manifests: root.join("etc/kubernetes/manifests"),
                    root: root.clone(),
                    bin: bin.clone(),
                    logs: dir.path().join("logs").join(&name),
                    netns: ns.path(),
                });
                RealNode {
                    name,
                    address,
                    root,
                    kubelet,
                }
            })
            .collect();
        let mut cluster = Self {
            nodes,
            ns,
            bin,
            bring_up: Duration::ZERO,
            _dir: dir,
        };
        cluster.bind_cluster_admins(READY_LIMIT);
        cluster.wait_ready(READY_LIMIT);
        cluster.bring_up = started.elapsed();
        eprintln!(
            "real cluster of {n} node(s) ready in {:.1}s (kubeadm phases included)",
            cluster.bring_up.as_secs_f64()
        );
        Some(cluster)
    }

    /// What `kubeadm init` does once the API server answers, so that admin.conf
    /// (group `kubeadm:cluster-admins`) may act: the ClusterRoleBinding
    /// `kubeadm:cluster-admins` to `cluster-admin`, made with super-admin.conf
    /// (group `system:masters`). Retried until the API server takes it.
    fn bind_cluster_admins(&self, limit: Duration) {
        let start = Instant::now();
        let super_admin = self.nodes[0].etc().join("super-admin.conf");
        loop {
            let out = self.kubectl_as(
                &super_admin,
                &[
                    "create",
                    "clusterrolebinding",
                    "kubeadm:cluster-admins",
                    "--clusterrole=cluster-admin",
                    "--group=kubeadm:cluster-admins",
                ],
            );
            if out.status.success() || stderr(&out).contains("AlreadyExists") {
                return;
            }
            if start.elapsed() >= limit {
                panic!(
                    "the API server did not take the kubeadm:cluster-admins binding within \
                     {limit:?}: {}",
                    stderr(&out)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// A command that runs `program` inside the cluster's namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = self.ns.command(program);
        cmd.env_remove("KUBECONFIG");
        cmd
    }

    /// Runs `program ARGS` inside the namespace.
    pub fn run<S: AsRef<std::ffi::OsStr>>(
        &self,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[S],
    ) -> Output {
        self.command(program).args(args).output().unwrap()
    }

    /// `kcerts ARGS --cert-dir PKI --kubeconfig-dir ETC` of node `i`, in the namespace.
    pub fn kcerts(&self, i: usize, args: &[&str]) -> Output {
        let node = &self.nodes[i];
        self.command(kcerts_bin())
            .args(args)
            .arg("--cert-dir")
            .arg(node.pki())
            .arg("--kubeconfig-dir")
            .arg(node.etc())
            .output()
            .unwrap()
    }

    /// [`RealCluster::kcerts`], its stdout appended to `log` as a real run's output.
    pub fn kcerts_logged(&self, log: &RunLog, i: usize, args: &[&str]) -> Output {
        let out = self.kcerts(i, args);
        log.add(&self.nodes[i], args, &out);
        out
    }

    /// `kubectl --kubeconfig ADMIN.CONF ARGS` of node `i`, in the namespace.
    pub fn kubectl(&self, i: usize, args: &[&str]) -> Output {
        self.kubectl_as(&self.nodes[i].admin_conf(), args)
    }

    /// Applies the ServiceAccount and RBAC documents of a shipped manifest
    /// (`deploy/kubernetes/FILE`) as they are, leaving out its DaemonSet,
    /// Deployment and NetworkPolicy (no kubelet registers here, so their pods
    /// would only wait); returns how many documents were applied.
    pub fn apply_shipped_rbac(&self, file: &str) -> usize {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/kubernetes")
            .join(file);
        let text = std::fs::read_to_string(&shipped)
            .unwrap_or_else(|e| panic!("cannot read deploy/kubernetes/{file}: {e}"));
        let rbac: Vec<&str> = text
            .split("\n---\n")
            .filter(|d| {
                !["DaemonSet", "Deployment", "NetworkPolicy"]
                    .iter()
                    .any(|k| d.contains(&format!("\nkind: {k}\n")))
            })
            .collect();
        let f = self.nodes[0].root.join(format!("rbac-{file}"));
        std::fs::write(&f, rbac.join("\n---\n")).unwrap();
        assert_ok(
            &self.kubectl(0, &["apply", "-f", f.to_str().unwrap()]),
            &format!("kubectl apply the RBAC of {file}"),
        );
        rbac.len()
    }

    /// A kubeconfig for node `i`'s API server that authenticates with a fresh
    /// token (2 h) of the ServiceAccount `namespace/name`, and nothing else.
    pub fn service_account_kubeconfig(&self, i: usize, namespace: &str, name: &str) -> PathBuf {
        let out = self.kubectl(
            i,
            &["create", "token", name, "-n", namespace, "--duration", "2h"],
        );
        assert_ok(&out, "kubectl create token");
        let n = &self.nodes[i];
        let conf = n.root.join(format!("{namespace}-{name}.conf"));
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    token: {}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
            n.apiserver_url(),
            n.pki().join("ca.crt").display(),
            stdout(&out).trim()
        );
        std::fs::write(&conf, yaml).unwrap();
        conf
    }

    /// `kubectl --kubeconfig CONF ARGS`, in the namespace.
    pub fn kubectl_as(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        self.command("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--request-timeout", "10s"])
            .args(args)
            .output()
            .unwrap()
    }

    /// `etcdctl` against node `i`'s etcd over TLS (as its healthcheck client).
    pub fn etcdctl(&self, i: usize, args: &[&str]) -> Output {
        let node = &self.nodes[i];
        let pki = node.pki();
        self.command(self.bin.join("etcdctl"))
            .arg(format!("--endpoints=https://{}:2379", node.address))
            .arg(format!("--cacert={}", pki.join("etcd/ca.crt").display()))
            .arg(format!(
                "--cert={}",
                pki.join("etcd/healthcheck-client.crt").display()
            ))
            .arg(format!(
                "--key={}",
                pki.join("etcd/healthcheck-client.key").display()
            ))
            .args(["--dial-timeout=5s", "--command-timeout=10s"])
            .args(args)
            .output()
            .unwrap()
    }

    /// What `GET PATH` over HTTPS answers at `ADDRESS:PORT` (curl; no client
    /// certificate, the server's certificate not checked): `Ok(body)` on 200.
    pub fn get_insecure(&self, address: &str, path: &str) -> Result<String, String> {
        let out = self
            .command("curl")
            .args([
                "--silent",
                "--show-error",
                "--fail",
                "--insecure",
                "--max-time",
                "5",
            ])
            .arg(format!("https://{address}{path}"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
        if out.status.success() {
            Ok(stdout(&out))
        } else {
            Err(stderr(&out).trim().to_string())
        }
    }

    /// What keeps the cluster from being ready now, or `None`: each node's API
    /// server `/readyz` (through its admin.conf), controller-manager and
    /// scheduler `/healthz`.
    pub fn not_ready(&self) -> Option<String> {
        for (i, node) in self.nodes.iter().enumerate() {
            let out = self.kubectl(i, &["get", "--raw", "/readyz"]);
            if !out.status.success() || stdout(&out).trim() != "ok" {
                return Some(format!(
                    "{}: kube-apiserver /readyz: {}{}",
                    node.name,
                    stdout(&out).trim(),
                    stderr(&out).trim()
                ));
            }
            for (what, port) in [
                ("kube-controller-manager", 10257),
                ("kube-scheduler", 10259),
            ] {
                let addr = format!("{}:{port}", node.address);
                match self.get_insecure(&addr, "/healthz") {
                    Ok(body) if body.trim() == "ok" => {}
                    Ok(body) => return Some(format!("{}: {what} /healthz: {body}", node.name)),
                    Err(e) => return Some(format!("{}: {what} /healthz: {e}", node.name)),
                }
            }
        }
        None
    }

    /// Waits until [`RealCluster::not_ready`] is `None`, at most `limit`;
    /// fails the test with what was seen last (and the logs). Returns the wait.
    pub fn wait_ready(&self, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let Some(why) = self.not_ready() else {
                return start.elapsed();
            };
            if start.elapsed() >= limit {
                panic!("the cluster was not ready within {limit:?}: {why}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Every node's process kubelet events and the last `lines` lines of each
    /// process's log.
    pub fn logs(&self, lines: usize) -> String {
        self.nodes
            .iter()
            .map(|n| format!("===== {}\n{}", n.name, n.kubelet.logs(lines)))
            .collect()
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs(40));
        }
        for n in &self.nodes {
            n.kubelet.request_stop();
        }
    }
}

/// The kubeadm configuration of one node.
/// `cluster`: the etcd initial-cluster and every node's address, on more than one node.
fn kubeadm_config(name: &str, address: Ipv4Addr, cluster: Option<(&str, &[Ipv4Addr])>) -> String {
    let mut etcd_args = format!(
        "    - name: listen-client-urls\n      value: https://{address}:2379\n    \
         - name: listen-metrics-urls\n      value: http://{address}:2381\n"
    );
    if let Some((ic, all)) = cluster {
        etcd_args.push_str(&format!(
            "    - name: initial-cluster\n      value: {ic}\n    \
             - name: initial-cluster-state\n      value: new\n"
        ));
        // Every address is on one loopback interface, so the kernel gives a
        // connection to a local address that address as its source: cp-2's
        // peer connection to cp-1 comes from 198.51.100.11, and etcd checks a
        // peer's certificate against the address it connects from.
        etcd_args.push_str("    peerCertSANs:\n");
        for a in all {
            etcd_args.push_str(&format!("    - \"{a}\"\n"));
        }
    }
    let bind = format!("  extraArgs:\n  - name: bind-address\n    value: {address}\n");
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  \
         advertiseAddress: {address}\n  bindPort: 6443\nnodeRegistration:\n  name: {name}\n---\n\
         apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
         kubernetesVersion: {KUBE_VERSION}\n\
         apiServer:\n{bind}  - name: etcd-servers\n    value: https://{address}:2379\n\
         controllerManager:\n{bind}scheduler:\n{bind}\
         etcd:\n  local:\n    extraArgs:\n{etcd_args}"
    )
}

/// The CAs and the service-account key pair a joining control-plane node gets.
fn copy_cas(from: &Path, to: &Path) {
    for f in [
        "ca.crt",
        "ca.key",
        "sa.key",
        "sa.pub",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "etcd/ca.crt",
        "etcd/ca.key",
    ] {
        let src = from.join("etc/kubernetes/pki").join(f);
        let dst = to.join("etc/kubernetes/pki").join(f);
        std::fs::copy(&src, &dst)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", src.display(), dst.display()));
    }
}

/// kcerts' own output in a real-program test, kept for the docs: the README's
/// "After renewal", "When it already expired" and "Rotating a CA" excerpts are
/// taken from these files (`target/real-runs/NAME.txt`, written anew by each
/// run, the node's directory shown as `/etc/kubernetes`).
pub struct RunLog {
    path: PathBuf,
}

impl RunLog {
    /// Where the logs are: `target/real-runs`.
    pub fn dir() -> PathBuf {
        // The test binary is target/debug/deps/e2e-HASH.
        std::env::current_exe()
            .ok()
            .and_then(|p| p.ancestors().nth(3).map(Path::to_path_buf))
            .unwrap_or_else(std::env::temp_dir)
            .join("real-runs")
    }

    /// `target/real-runs/NAME.txt`, emptied, headed by the date of the run.
    pub fn new(name: &str) -> Self {
        let dir = Self::dir();
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{name}.txt"));
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let _ = std::fs::write(
            &path,
            format!("# {name}: real run of {now} (kube {KUBE_VERSION})\n"),
        );
        Self { path }
    }

    /// Appends `$ kcerts ARGS`, then the command's stdout (and its exit code
    /// when not 0), with `node`'s directories shown as `/etc/kubernetes` and
    /// `/var/lib/...`.
    pub fn add(&self, node: &RealNode, args: &[&str], out: &Output) {
        let mut text = stdout(out);
        if !out.status.success() {
            text.push_str(&format!("(exit {})\n", out.status.code().unwrap_or(-1)));
        }
        self.add_stdout(node, args, &text);
    }

    /// [`RunLog::add`] for a command whose stdout the caller already has.
    pub fn add_stdout(&self, node: &RealNode, args: &[&str], stdout: &str) {
        let text = format!("$ kcerts {}\n{stdout}", args.join(" "));
        let text = text
            .replace(&node.etc().display().to_string(), "/etc/kubernetes")
            .replace(&node.root.display().to_string(), "");
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&self.path) {
            let _ = f.write_all(text.as_bytes());
        }
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
