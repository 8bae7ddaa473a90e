//! `kcerts agent` on the real three-node control plane (issue 25): three agents as
//! processes, each with its node's directories and a token of the shipped
//! ServiceAccount kube-system/kcerts-agent (its RBAC applied as deploy/ ships it),
//! so every call the agents make is one that RBAC allows, against the real
//! Lease, Node and Event APIs of the real API servers. One cluster, in phases (a
//! cluster costs 25-45 s of two loaded cores):
//!
//! 1. report only: the status and a CertificateExpirationWarning Event, no file
//!    changed (every file byte-identical);
//! 2. a node whose renewal fails (its ca.key made unreadable garbage) releases the
//!    Lease with kcerts.io/rollout-failed and a CertificateRenewalFailed Event; another
//!    node then waits, and renews with --continue-on-failure;
//! 3. an agent SIGKILLed while it holds the Lease, half-way through renew's renames:
//!    the Lease runs out and another node takes it and renews; the killed node's next
//!    start puts its files back (the journal) and renews;
//! 4. the rollout: three agents started at once renew all three nodes one at a time
//!    (the Lease's holders polled, each agent's renewal window from its log lines,
//!    no two overlapping), while at every probe at least two of three API servers
//!    answer /readyz; CertificatesRenewed Events on each Node. Figures printed: the
//!    rollout's time, the longest moment one API server was down, the agents' VmHWM.
//!    Each agent serves its metrics (`--listen`): /healthz answers during the
//!    rollout, and after it /metrics (read by prometheus_client, linted by
//!    `promtool check metrics`) says renewed, with the renewal's time;
//! 5. `kcerts cluster renew` with three agents that find nothing due by themselves:
//!    the dry run writes no request; the request renews every node (each serial
//!    changes), its lines name each node renewed, exit 0; `cluster status` shows
//!    each node renewed with a last renewal. Figure printed: its wall time.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kcerts_tests::real_cluster::RealCluster;
use kcerts_tests::*;

/// The Lease's duration in these tests (the holder renews it every 5 s).
const LEASE: &str = "15s";

/// The kubeconfig each agent runs with: node `n`'s API server and a token of the
/// shipped ServiceAccount kube-system/kcerts-agent (RBAC as deploy/ ships it),
/// written by [`agent_identities`].
fn agent_kubeconfig(n: &kcerts_tests::real_cluster::RealNode) -> PathBuf {
    n.root.join("kube-system-kcerts-agent.conf")
}

/// Applies the shipped RBAC and gives every node its agent's kubeconfig, so the
/// agents run with exactly the permissions the DaemonSet gets.
fn agent_identities(c: &RealCluster) {
    c.apply_shipped_rbac("kcerts-agent.yaml");
    for i in 0..c.nodes.len() {
        let conf = c.service_account_kubeconfig(i, "kube-system", "kcerts-agent");
        assert_eq!(conf, agent_kubeconfig(&c.nodes[i]));
    }
}

/// The agent's arguments for node `i`: its directories, its agent kubeconfig, its name.
fn agent_args(c: &RealCluster, i: usize, extra: &[&str]) -> Vec<String> {
    let n = &c.nodes[i];
    let mut a: Vec<String> = [
        "agent",
        "--node-name",
        &n.name,
        "--kubeconfig",
        agent_kubeconfig(n).to_str().unwrap(),
        "--cert-dir",
        n.pki().to_str().unwrap(),
        "--kubeconfig-dir",
        n.etc().to_str().unwrap(),
        "--lease-duration",
        LEASE,
        "--wait",
        "2m",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !extra.contains(&"--jitter") {
        a.extend(["--jitter".to_string(), "2s".to_string()]);
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn agent_cmd(c: &RealCluster, i: usize, extra: &[&str]) -> Command {
    let mut cmd = c.command(kcerts_bin());
    cmd.args(agent_args(c, i, extra))
        .env_remove("KCERTS_TEST_FAULT_STEP")
        .env_remove("KCERTS_TEST_FAULT_MODE");
    cmd
}

/// `kcerts agent --once` on node `i`, bounded.
fn agent_once(c: &RealCluster, i: usize, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["--once"];
    args.extend_from_slice(extra);
    let mut child = agent_cmd(c, i, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(&mut child, Duration::from_secs(300));
    (out.0, out.1)
}

/// Waits at most `limit` for `child` (killed after); (exit code, stdout and stderr).
fn wait_bounded(child: &mut Child, limit: Duration) -> (i32, String) {
    let follow = |r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            for l in BufReader::new(r).lines().map_while(Result::ok) {
                s.push_str(&l);
                s.push('\n');
            }
            s
        })
    };
    let out = follow(Box::new(child.stdout.take().unwrap()));
    let err = follow(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let text = format!("{}{}", out.join().unwrap(), err.join().unwrap());
            return (st.code().unwrap_or(-1), text);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the agent did not finish within {limit:?}: {}{}",
                out.join().unwrap(),
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An agent running in the background, its stderr lines stamped as they come.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Running {
    fn start(mut cmd: Command) -> Self {
        use std::os::unix::process::CommandExt;
        let mut child = cmd
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), l));
            }
        });
        Self { child, lines }
    }

    fn log(&self) -> String {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| format!("{l}\n"))
            .collect()
    }

    /// When a line containing `text` first came, if it did.
    fn when(&self, text: &str) -> Option<Instant> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|(_, l)| l.contains(text))
            .map(|(t, _)| *t)
    }

    fn wait_for(&self, text: &str, limit: Duration) -> Instant {
        let start = Instant::now();
        loop {
            if let Some(t) = self.when(text) {
                return t;
            }
            assert!(
                start.elapsed() < limit,
                "no {text:?} within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The peak resident memory (VmHWM) of the agent, in KiB.
    fn vm_hwm_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// SIGKILL to the agent and its children (its own process group).
    fn kill_group(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
        let _ = self.child.wait();
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.kill_group();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill_group();
        }
    }
}

/// kubectl through the first node whose API server answers.
fn kubectl_any(c: &RealCluster, args: &[&str]) -> Option<String> {
    (0..c.nodes.len()).find_map(|i| {
        let out = c.kubectl(i, args);
        out.status.success().then(|| stdout(&out))
    })
}

fn create_nodes(c: &RealCluster) {
    for n in &c.nodes {
        let yaml = format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {}\n",
            n.name
        );
        let f = n.root.join("node.yaml");
        std::fs::write(&f, yaml).unwrap();
        assert_ok(
            &c.kubectl(0, &["create", "-f", f.to_str().unwrap()]),
            "kubectl create node",
        );
    }
}

/// The agent's status on the Node, parsed.
fn status(c: &RealCluster, node: &str) -> Option<serde_json::Value> {
    let raw = kubectl_any(
        c,
        &[
            "get",
            "node",
            node,
            "-o",
            "jsonpath={.metadata.annotations.kcerts\\.io/agent-status}",
        ],
    )?;
    serde_json::from_str(raw.trim()).ok()
}

fn lease(c: &RealCluster) -> Option<serde_json::Value> {
    let raw = kubectl_any(
        c,
        &[
            "-n",
            "kube-system",
            "get",
            "lease",
            "kcerts-agent",
            "-o",
            "json",
        ],
    )?;
    serde_json::from_str(&raw).ok()
}

/// The Events on Nodes: (node, reason, type, component, count).
fn node_events(c: &RealCluster) -> Vec<(String, String, String, String, i64)> {
    let raw = kubectl_any(
        c,
        &[
            "get",
            "events",
            "-A",
            "--field-selector",
            "involvedObject.kind=Node",
            "-o",
            "json",
        ],
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["involvedObject"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                e["reason"].as_str().unwrap_or("").to_string(),
                e["type"].as_str().unwrap_or("").to_string(),
                e["source"]["component"].as_str().unwrap_or("").to_string(),
                e["count"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

/// The files added, removed or changed between two snapshots.
fn changed(a: &BTreeMap<PathBuf, Vec<u8>>, b: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<PathBuf> {
    a.keys()
        .chain(b.keys())
        .filter(|p| a.get(*p) != b.get(*p))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Every file under the node's etc/kubernetes, with its bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.is_file() {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, &mut out);
    out
}

fn serial(c: &RealCluster, i: usize) -> String {
    let out = run(
        "openssl",
        [
            "x509",
            "-noout",
            "-serial",
            "-in",
            c.nodes[i].pki().join("apiserver.crt").to_str().unwrap(),
        ],
    );
    assert_ok(&out, "openssl x509 -serial");
    stdout(&out).trim().to_string()
}

/// Polls the Lease's holder and every API server's /readyz once a second.
struct Watch {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<Vec<Probe>>>,
}

/// One round of probes.
#[derive(Debug, Clone)]
struct Probe {
    at: Instant,
    holder: Option<String>,
    ready: Vec<bool>,
}

impl Watch {
    fn start(c: &RealCluster) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let admin: Vec<PathBuf> = c.nodes.iter().map(|n| n.admin_conf()).collect();
        let addrs: Vec<String> = c
            .nodes
            .iter()
            .map(|n| format!("{}:6443", n.address))
            .collect();
        let ns = c.ns.path();
        let handle = std::thread::spawn(move || {
            let mut out = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let at = Instant::now();
                let in_ns = |program: &str| {
                    let mut cmd = Command::new("nsenter");
                    cmd.arg(format!("--net={}", ns.display()))
                        .arg("--")
                        .arg(program);
                    cmd
                };
                let ready: Vec<bool> = addrs
                    .iter()
                    .map(|a| {
                        in_ns("curl")
                            .args(["--silent", "--insecure", "--max-time", "2"])
                            .arg(format!("https://{a}/readyz"))
                            .output()
                            .is_ok_and(|o| {
                                o.status.success()
                                    && String::from_utf8_lossy(&o.stdout).trim() == "ok"
                            })
                    })
                    .collect();
                let holder = admin.iter().find_map(|conf| {
                    let o = in_ns("kubectl")
                        .arg("--kubeconfig")
                        .arg(conf)
                        .args([
                            "--request-timeout",
                            "3s",
                            "-n",
                            "kube-system",
                            "get",
                            "lease",
                            "kcerts-agent",
                            "-o",
                            "jsonpath={.spec.holderIdentity}",
                        ])
                        .env_remove("KUBECONFIG")
                        .output()
                        .ok()?;
                    o.status
                        .success()
                        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
                });
                out.push(Probe {
                    at,
                    holder: holder.filter(|h| !h.is_empty()),
                    ready,
                });
                let spent = at.elapsed();
                if spent < Duration::from_secs(1) {
                    std::thread::sleep(Duration::from_secs(1) - spent);
                }
            }
            out
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> Vec<Probe> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.handle.take().unwrap().join().unwrap()
    }
}

/// The address an agent started with `--listen` serves its metrics on (its log's
/// "listening on" line).
fn listening_on(agent: &Running) -> String {
    agent.wait_for("kcerts agent: listening on ", Duration::from_secs(60));
    let log = agent.log();
    log.lines()
        .find_map(|l| l.strip_prefix("kcerts agent: listening on "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string()
}

/// `curl http://AT/PATH` in the cluster's namespace: (status, body).
fn scrape(c: &RealCluster, at: &str, path: &str) -> (u16, String) {
    let o = c.run(
        "curl",
        &[
            "--silent",
            "--max-time",
            "5",
            "--write-out",
            "\n%{http_code}",
            &format!("http://{at}{path}"),
        ],
    );
    let out = stdout(&o);
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// An agent's /metrics after its renewal, read by prometheus_client and linted by
/// promtool: renew mode, the last run renewed, one renewal counted, the renewal's
/// time after `after` (Unix seconds), the soonest expiry in the future.
fn agent_metrics_say_renewed(c: &RealCluster, node: &str, at: &str, after: i64) {
    let (code, text) = scrape(c, at, "/metrics");
    assert_eq!(code, 200, "{node}: {text}");
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        lint.stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics, {node}: {}{}\n{text}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let parsed = kcerts_tests::prometheus::parse_with_prometheus_client(&text);
    let version = env!("CARGO_PKG_VERSION");
    for want in [
        format!("kcerts_agent_info{{mode=renew,node={node},version={version}}} 1"),
        "kcerts_agent_last_run_outcome{outcome=renewed} 1".to_string(),
        "kcerts_agent_last_run_outcome{outcome=failed} 0".to_string(),
        "kcerts_agent_runs_total{outcome=renewed} 1".to_string(),
        "kcerts_agent_runs_total{outcome=failed} 0".to_string(),
    ] {
        assert!(
            parsed.lines().any(|l| l == want),
            "{node}: no {want:?} in\n{parsed}"
        );
    }
    let value = |name: &str| -> i64 {
        parsed
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{node}: no {name} in\n{parsed}"))
    };
    let renewed = value("kcerts_agent_last_renewal_timestamp_seconds");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (after..=now).contains(&renewed),
        "{node}: renewed at {renewed}, not between {after} and {now}"
    );
    assert!(value("kcerts_agent_soonest_expiry_timestamp_seconds") > now);
}

/// One agent per node in the background, each with `extra`.
fn start_agents(c: &RealCluster, extra: &[&str]) -> Vec<Running> {
    (0..c.nodes.len())
        .map(|i| Running::start(agent_cmd(c, i, extra)))
        .collect()
}

/// Waits until every node in `nodes` has `outcome` in its status, at most `limit`.
fn wait_outcomes(
    c: &RealCluster,
    nodes: &[usize],
    outcome: &str,
    limit: Duration,
    agents: &[&Running],
) {
    let start = Instant::now();
    loop {
        let seen: Vec<String> = nodes
            .iter()
            .map(|&i| {
                status(c, &c.nodes[i].name)
                    .and_then(|s| s["outcome"].as_str().map(String::from))
                    .unwrap_or_default()
            })
            .collect();
        if seen.iter().all(|s| s == outcome) {
            return;
        }
        if start.elapsed() > limit {
            let logs: String = agents
                .iter()
                .map(|a| a.log())
                .collect::<Vec<_>>()
                .join("\n-----\n");
            panic!("not every node {outcome} within {limit:?}: {seen:?}\n{logs}");
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
fn agents_renew_the_control_plane_one_node_at_a_time() {
    let Some(c) = RealCluster::three() else {
        return;
    };
    create_nodes(&c);
    agent_identities(&c);
    let due = ["--renew", "--buffer", "400d"];

    // 1. Report only: a status, a warning Event, no file changed.
    let before = snapshot(&c.nodes[0].etc());
    let (code, log) = agent_once(&c, 0, &["--buffer", "400d"]);
    assert_eq!(code, 2, "{log}");
    assert_eq!(
        snapshot(&c.nodes[0].etc()),
        before,
        "report only changed a file: {log}"
    );
    let s = status(&c, "cp-1").unwrap();
    assert_eq!(s["outcome"], "report-only", "{s}");
    assert_eq!(s["node"], "cp-1");
    assert!(s["due"].as_array().unwrap().len() >= 10, "{s}");
    assert!(s["soonestExpiry"].is_string(), "{s}");
    let events = node_events(&c);
    assert!(
        events.iter().any(|e| e.0 == "cp-1"
            && e.1 == "CertificateExpirationWarning"
            && e.2 == "Warning"
            && e.3 == "kcerts-agent"),
        "{events:?}"
    );
    // A second look updates the same Event rather than adding one.
    let (code, log) = agent_once(&c, 0, &["--buffer", "400d", "--jitter", "0s"]);
    assert_eq!(code, 2, "{log}");
    let warnings: Vec<_> = node_events(&c)
        .into_iter()
        .filter(|e| e.0 == "cp-1" && e.1 == "CertificateExpirationWarning")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].4, 2, "{warnings:?} {log}");
    // Nothing due with the default 30-day buffer: exit 0.
    let (code, log) = agent_once(&c, 0, &[]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(status(&c, "cp-1").unwrap()["outcome"], "nothing-due");

    // 2. A failing renewal stops the rollout.
    let ca_key = c.nodes[1].pki().join("ca.key");
    let good_key = std::fs::read(&ca_key).unwrap();
    std::fs::write(
        &ca_key,
        b"-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let serial_2 = serial(&c, 1);
    let (code, log) = agent_once(&c, 1, &due);
    assert_eq!(code, 1, "{log}");
    assert_eq!(
        serial(&c, 1),
        serial_2,
        "a failed renewal changed apiserver.crt"
    );
    let l = lease(&c).unwrap();
    assert_eq!(
        l["spec"]["holderIdentity"].as_str().unwrap_or(""),
        "",
        "{l}"
    );
    let failed: serde_json::Value = serde_json::from_str(
        l["metadata"]["annotations"]["kcerts.io/rollout-failed"]
            .as_str()
            .unwrap_or_else(|| panic!("no rollout-failed annotation: {l}")),
    )
    .unwrap();
    assert_eq!(failed["node"], "cp-2");
    assert_eq!(status(&c, "cp-2").unwrap()["outcome"], "failed");
    assert!(
        node_events(&c)
            .iter()
            .any(|e| e.0 == "cp-2" && e.1 == "CertificateRenewalFailed" && e.2 == "Warning"),
        "{:?}",
        node_events(&c)
    );
    // The others wait...
    let before = snapshot(&c.nodes[0].etc());
    let (code, log) = agent_once(&c, 0, &due);
    assert_eq!(code, 2, "{log}");
    assert_eq!(
        changed(&before, &snapshot(&c.nodes[0].etc())),
        Vec::<PathBuf>::new()
    );
    let s = status(&c, "cp-1").unwrap();
    assert_eq!(s["outcome"], "waiting", "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("renewal of cp-2 failed"),
        "{s}"
    );
    // ...unless told to go on.
    let serial_1 = serial(&c, 0);
    let (code, log) = agent_once(
        &c,
        0,
        &["--renew", "--buffer", "400d", "--continue-on-failure"],
    );
    assert_eq!(code, 0, "{log}");
    assert_ne!(serial(&c, 0), serial_1);
    assert_eq!(status(&c, "cp-1").unwrap()["outcome"], "renewed");
    std::fs::write(&ca_key, &good_key).unwrap();

    // 3. An agent killed while it holds the Lease, half-way through renew's renames.
    let mut killed = {
        // cp-2's failure is still on the Lease: cp-3 goes on past it.
        let mut cmd = agent_cmd(
            &c,
            2,
            &["--renew", "--buffer", "400d", "--continue-on-failure"],
        );
        cmd.env("KCERTS_TEST_FAULT_STEP", "48")
            .env("KCERTS_TEST_FAULT_MODE", "hang");
        Running::start(cmd)
    };
    killed.wait_for(
        "kcerts-test: paused before step 48",
        Duration::from_secs(180),
    );
    assert_eq!(
        lease(&c).unwrap()["spec"]["holderIdentity"],
        "cp-3",
        "{}",
        killed.log()
    );
    killed.kill_group();
    let killed_at = Instant::now();
    let pending = c.nodes[2].etc().join("tmp");
    assert!(pending.exists(), "no backup left by the killed renewal");
    // cp-2 (its own failure on the Lease) retries, and takes the Lease once it runs out.
    let second = Running::start(agent_cmd(&c, 1, &due));
    wait_outcomes(&c, &[1], "renewed", Duration::from_secs(300), &[&second]);
    let took = second.when("took the Lease").unwrap();
    assert!(
        took.duration_since(killed_at) >= Duration::from_secs(5),
        "cp-2 took the Lease {:?} after cp-3 was killed: before it ran out?",
        took.duration_since(killed_at)
    );
    let l = lease(&c).unwrap();
    assert!(
        l["metadata"]["annotations"]
            .get("kcerts.io/rollout-failed")
            .is_none(),
        "cp-2's success leaves its failure on the Lease: {l}"
    );
    drop(second);
    // The killed node's next start puts its files back, then renews.
    let (code, log) = agent_once(&c, 2, &due);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("a previous renewal was interrupted: put back"),
        "{log}"
    );
    assert_eq!(status(&c, "cp-3").unwrap()["outcome"], "renewed");

    // 4. The rollout: three agents at once.
    let serials: Vec<String> = (0..3).map(|i| serial(&c, i)).collect();
    let watch = Watch::start(&c);
    let started = Instant::now();
    // Statuses read "renewed" from the earlier phases: reset them to see this rollout.
    for n in &c.nodes {
        let _ = kubectl_any(
            &c,
            &["annotate", "node", &n.name, "kcerts.io/agent-status-"],
        );
    }
    let renewed_after = time::OffsetDateTime::now_utc().unix_timestamp();
    let agents = start_agents(
        &c,
        &[
            "--renew",
            "--buffer",
            "400d",
            "--jitter",
            "5s",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let refs: Vec<&Running> = agents.iter().collect();
    let metrics_at: Vec<String> = agents.iter().map(listening_on).collect();
    for (i, at) in metrics_at.iter().enumerate() {
        let (code, body) = scrape(&c, at, "/healthz");
        assert_eq!((code, body.as_str()), (200, "ok\n"), "{}", c.nodes[i].name);
    }
    wait_outcomes(&c, &[0, 1, 2], "renewed", Duration::from_secs(600), &refs);
    let rollout = started.elapsed();
    for (i, at) in metrics_at.iter().enumerate() {
        agent_metrics_say_renewed(&c, &c.nodes[i].name, at, renewed_after);
    }
    let hwm: Vec<Option<u64>> = agents.iter().map(Running::vm_hwm_kib).collect();
    let probes = watch.finish();
    for (i, s) in serials.iter().enumerate() {
        assert_ne!(&serial(&c, i), s, "{} not renewed", c.nodes[i].name);
    }
    // Each agent's window: from running renew to releasing the Lease.
    let windows: Vec<(Instant, Instant)> = agents
        .iter()
        .map(|a| {
            (
                a.when("running kcerts renew").unwrap(),
                a.when("released the Lease").unwrap(),
            )
        })
        .collect();
    for i in 0..3 {
        for j in i + 1..3 {
            let (a, b) = (windows[i], windows[j]);
            assert!(
                a.1 <= b.0 || b.1 <= a.0,
                "the renewals of {} and {} overlap",
                c.nodes[i].name,
                c.nodes[j].name
            );
        }
    }
    // The Lease's holders, in order, changed only between whole renewals.
    let mut holders: Vec<String> = Vec::new();
    for p in &probes {
        if let Some(h) = &p.holder
            && holders.last() != Some(h)
        {
            holders.push(h.clone());
        }
    }
    let mut distinct = holders.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "holders seen: {holders:?}");
    // At least two of three API servers ready at every probe; the longest outage.
    let mut longest = Duration::ZERO;
    let mut down_since: Vec<Option<Instant>> = vec![None; 3];
    for p in &probes {
        let up = p.ready.iter().filter(|r| **r).count();
        assert!(
            up >= 2,
            "only {up} API servers ready at one probe: {:?}",
            p.ready
        );
        for (i, r) in p.ready.iter().enumerate() {
            match (r, down_since[i]) {
                (false, None) => down_since[i] = Some(p.at),
                (true, Some(t)) => {
                    longest = longest.max(p.at - t);
                    down_since[i] = None;
                }
                _ => {}
            }
        }
    }
    let events = node_events(&c);
    for n in &c.nodes {
        assert!(
            events
                .iter()
                .any(|e| e.0 == n.name && e.1 == "CertificatesRenewed" && e.2 == "Normal"),
            "{}: {events:?}",
            n.name
        );
    }
    eprintln!(
        "agent rollout of three nodes: {:.1}s; {} probes; the longest API server outage: {:.1}s; \
         agent VmHWM (KiB): {hwm:?}; holders in order: {holders:?}",
        rollout.as_secs_f64(),
        probes.len(),
        longest.as_secs_f64()
    );
    for mut a in agents {
        a.stop();
    }

    // 5. `kcerts cluster renew` with the real agents: three daemons that find nothing
    // due by themselves (the certificates are a minute old) renew every node when
    // asked, one at a time; `cluster status` then shows each node renewed.
    for n in &c.nodes {
        assert_ok(
            &c.kubectl(
                0,
                &[
                    "label",
                    "node",
                    &n.name,
                    "node-role.kubernetes.io/control-plane=",
                ],
            ),
            "kubectl label node",
        );
    }
    let serials: Vec<String> = (0..3).map(|i| serial(&c, i)).collect();
    let agents = start_agents(&c, &["--renew", "--interval", "3s", "--jitter", "1s"]);
    let refs: Vec<&Running> = agents.iter().collect();
    wait_outcomes(
        &c,
        &[0, 1, 2],
        "nothing-due",
        Duration::from_secs(120),
        &refs,
    );
    let admin = c.nodes[0].admin_conf();
    let cluster = |args: &[&str]| {
        let mut cmd = c.command(kcerts_bin());
        cmd.arg("cluster")
            .args(args)
            .arg("--kubeconfig")
            .arg(&admin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        wait_bounded(&mut cmd.spawn().unwrap(), Duration::from_secs(600))
    };
    let (code, out) = cluster(&["renew", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    for n in &c.nodes {
        assert!(out.contains(&n.name), "{out}");
        let request = kubectl_any(
            &c,
            &[
                "get",
                "node",
                &n.name,
                "-o",
                "jsonpath={.metadata.annotations.kcerts\\.io/renew-request}",
            ],
        );
        assert_eq!(request.as_deref(), Some(""), "the dry run wrote a request");
    }
    let asked = Instant::now();
    let (code, out) = cluster(&["renew", "--timeout", "8m"]);
    let took = asked.elapsed();
    assert_eq!(
        code,
        0,
        "{out}\n{}",
        refs.iter()
            .map(|a| a.log())
            .collect::<Vec<_>>()
            .join("\n-----\n")
    );
    assert!(
        out.contains("[cluster] every node renewed (3 of 3)"),
        "{out}"
    );
    for n in &c.nodes {
        // What the reload table restarts: etcd and the API server read their
        // renewed pairs by themselves and keep running.
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("[cluster] {}: renewed", n.name)))
            .unwrap_or_else(|| panic!("no line for {}: {out}", n.name));
        assert!(
            line.contains("; restarted kube-controller-manager, kube-scheduler;"),
            "{line}"
        );
    }
    for (i, s) in serials.iter().enumerate() {
        assert_ne!(
            &serial(&c, i),
            s,
            "{} not renewed on request",
            c.nodes[i].name
        );
    }
    // Each agent recorded the request as handled, with its renewal's time (its
    // next runs, every 3 s, then find nothing due and say so).
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("[cluster] renew request "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no request id: {out}"))
        .to_string();
    let (code, status_out) = cluster(&["status"]);
    assert_eq!(code, 0, "{status_out}");
    for n in &c.nodes {
        let s = status(&c, &n.name).unwrap();
        assert_eq!(s["handledRequest"], id.as_str(), "{}: {s}", n.name);
        let last = s["lastRenewal"].as_str().unwrap_or_default();
        assert!(
            last > id.as_str(),
            "{}: renewed at {last}, asked at {id}",
            n.name
        );
        assert!(
            status_out
                .lines()
                .any(|l| l.starts_with(&format!("{} ", n.name))),
            "no row for {}: {status_out}",
            n.name
        );
    }
    eprintln!(
        "cluster renew with three real agents: {:.1}s\n{out}{status_out}",
        took.as_secs_f64()
    );
    for mut a in agents {
        a.stop();
    }
}

/// The metrics flags the agent cannot use are refused before anything is read or
/// asked: TLS files without --listen, and --listen with --once (no cluster needed).
#[test]
fn the_agent_refuses_metrics_flags_it_cannot_use() {
    let dir = tempdir();
    let cert = dir.path().join("tls.crt");
    let o = kcerts([
        "agent",
        "--node-name",
        "cp-1",
        "--tls-cert-file",
        cert.to_str().unwrap(),
        "--tls-private-key-file",
        cert.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("are for the metrics listener: give --listen too"),
        "{}",
        stderr(&o)
    );
    let o = kcerts([
        "agent",
        "--node-name",
        "cp-1",
        "--once",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--listen serves metrics between runs, and --once exits after one"),
        "{}",
        stderr(&o)
    );
}
