//! The real control plane (issue 24): etcd 3.7.0, kube-apiserver,
//! kube-controller-manager and kube-scheduler v1.37.2 from the manifests the
//! real kubeadm wrote, run by the process kubelet inside a private network
//! namespace (tests/src/real_cluster.rs says how, and why the nodes' addresses
//! are 198.51.100.0/24 there and not 127.0.0.0/8 on the host).
//!
//! 1. Up: `/readyz` through admin.conf, and `kcerts verify --live` passes for
//!    etcd (client and peer), the API server, the controller-manager and the
//!    scheduler.
//! 2. Renew and restart: what `verify --live` says after `renew all` per
//!    component, `restart all`, then `renew all --restart` in one command,
//!    which restarts only the controller-manager and the scheduler (etcd and
//!    the API server read their renewed files again by themselves: same PIDs),
//!    and `renew etcd-server etcd-peer --restart`, which restarts nothing.
//!    kcerts' output is kept in target/real-runs/control_plane_renew.txt (the
//!    README's excerpts come from there).
//!
//! Skipped, with a message, only when the programs are not built
//! (scripts/kube-binaries.sh; scripts/test.sh builds them).

use std::time::{Duration, Instant};

use kcerts_tests::real_cluster::{RealCluster, RunLog};
use kcerts_tests::*;

/// The `live` rows of `verify --live` on node `i`: (component, status, message).
fn live_rows(c: &RealCluster, i: usize) -> Vec<(String, String, String)> {
    let out = c.kcerts(i, &["verify", "--live"]);
    stdout(&out)
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.len() >= 3 && cols[2] == "live").then(|| {
                let msg = l.split_once(" live ").map_or("", |(_, m)| m.trim());
                (cols[1].to_string(), cols[0].to_string(), msg.to_string())
            })
        })
        .collect()
}

/// The components whose live row a real control plane answers (no kubelet runs).
const COMPONENTS: [&str; 5] = [
    "apiserver",
    "etcd-server",
    "etcd-peer",
    "controller-manager",
    "scheduler",
];

/// The status of each component's live row, in [`COMPONENTS`] order.
fn statuses(rows: &[(String, String, String)]) -> Vec<(String, String)> {
    COMPONENTS
        .iter()
        .map(|c| {
            let status = rows
                .iter()
                .find(|r| r.0 == *c)
                .map_or("missing".to_string(), |r| r.1.clone());
            (c.to_string(), status)
        })
        .collect()
}

fn all_pass(c: &RealCluster, i: usize) -> Result<(), String> {
    let rows = live_rows(c, i);
    if statuses(&rows).iter().all(|(_, s)| s == "pass") {
        Ok(())
    } else {
        Err(format!("{rows:#?}"))
    }
}

#[test]
fn up_readyz_and_verify_live_passes_for_every_component() {
    let Some(c) = RealCluster::single() else {
        return;
    };
    let out = c.kubectl(0, &["get", "--raw", "/readyz"]);
    assert_ok(&out, "kubectl get --raw /readyz");
    assert_eq!(stdout(&out).trim(), "ok");
    // The API server stores and serves objects (etcd behind it works).
    let out = c.kubectl(0, &["get", "namespace", "kube-system", "-o", "name"]);
    assert_ok(&out, "kubectl get namespace");
    assert_eq!(stdout(&out).trim(), "namespace/kube-system");
    let out = c.etcdctl(0, &["endpoint", "health"]);
    assert_ok(&out, "etcdctl endpoint health");

    let rows = live_rows(&c, 0);
    for (component, status) in statuses(&rows) {
        assert_eq!(status, "pass", "{component}: {rows:#?}");
    }
    let msg = |name: &str| rows.iter().find(|r| r.0 == name).unwrap().2.clone();
    assert!(
        msg("apiserver").starts_with("serves pki/apiserver.crt"),
        "{rows:#?}"
    );
    assert!(
        msg("etcd-server").starts_with("serves pki/etcd/server.crt"),
        "{rows:#?}"
    );
    assert!(
        msg("etcd-peer").starts_with("serves pki/etcd/peer.crt"),
        "{rows:#?}"
    );
    assert!(
        msg("controller-manager").contains("after controller-manager.conf was written"),
        "{rows:#?}"
    );
    // No kubelet runs: its row says so as a warning, not a pass.
    let kubelet = rows.iter().find(|r| r.0 == "kubelet").unwrap();
    assert_eq!(kubelet.1, "warn", "{rows:#?}");
    eprintln!("bring-up (one node): {:.1}s", c.bring_up.as_secs_f64());
}

#[test]
fn three_nodes_come_up_with_three_etcd_members() {
    let Some(c) = RealCluster::three() else {
        return;
    };
    for i in 0..3 {
        let out = c.kubectl(i, &["get", "--raw", "/readyz"]);
        assert_ok(&out, &format!("kubectl /readyz on {}", c.nodes[i].name));
        all_pass(&c, i).unwrap();
    }
    let out = c.etcdctl(0, &["member", "list"]);
    assert_ok(&out, "etcdctl member list");
    let members = stdout(&out);
    for n in &c.nodes {
        assert!(
            members.contains(&format!("{}, https://{}:2380", n.name, n.address)),
            "{members}"
        );
    }
    let out = c.etcdctl(0, &["endpoint", "health", "--cluster"]);
    assert_ok(&out, "etcdctl endpoint health --cluster");
    assert_eq!(
        stdout(&out).matches("is healthy").count(),
        3,
        "{}",
        stdout(&out)
    );
    eprintln!("bring-up (three nodes): {:.1}s", c.bring_up.as_secs_f64());
}

/// Waits (at most `limit`) until `pred` holds of the live rows of node `i`;
/// the rows last seen either way.
fn wait_rows(
    c: &RealCluster,
    i: usize,
    limit: Duration,
    pred: impl Fn(&[(String, String)]) -> bool,
) -> (bool, Vec<(String, String, String)>, Duration) {
    let start = Instant::now();
    loop {
        let rows = live_rows(c, i);
        if pred(&statuses(&rows)) {
            return (true, rows, start.elapsed());
        }
        if start.elapsed() >= limit {
            return (false, rows, start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn status_of<'a>(s: &'a [(String, String)], component: &str) -> &'a str {
    s.iter()
        .find(|(c, _)| c == component)
        .map_or("missing", |(_, st)| st)
}

/// The API server's count of requests made with a client certificate that
/// expires within 2 h and within 6 h (`apiserver_client_certificate_expiration_seconds`
/// buckets `le="7200"`, `le="21600"`): which client presents a certificate
/// renewed with a short `--validity`.
fn short_lived_requests(c: &RealCluster) -> (u64, u64) {
    let out = c.kubectl(0, &["get", "--raw", "/metrics"]);
    assert_ok(&out, "kubectl get --raw /metrics");
    let text = stdout(&out);
    let bucket = |le: &str| -> u64 {
        let key = format!("apiserver_client_certificate_expiration_seconds_bucket{{le=\"{le}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
    };
    (bucket("7200"), bucket("21600"))
}

/// Waits (at most `limit`) until `pred` holds of [`short_lived_requests`].
fn wait_requests(
    c: &RealCluster,
    limit: Duration,
    pred: impl Fn((u64, u64)) -> bool,
) -> (u64, u64) {
    let start = Instant::now();
    loop {
        let seen = short_lived_requests(c);
        if pred(seen) || start.elapsed() >= limit {
            return seen;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

const PODS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// `ARGS --stop-wait 60s --wait 180s`: a loaded machine's bounds for each restart.
fn with_waits<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(["--stop-wait", "60s", "--wait", "180s"]);
    v
}

#[test]
fn renew_then_restart_with_the_real_programs() {
    let Some(c) = RealCluster::single() else {
        return;
    };
    let node = &c.nodes[0];
    let log = RunLog::new("control_plane_renew");
    // The controller-manager's and scheduler's start second is in their
    // self-signed certificate: renew in a later second.
    std::thread::sleep(Duration::from_millis(1100));
    let (before_2h, before_6h) = short_lived_requests(&c);
    assert_eq!(
        (before_2h, before_6h),
        (0, 0),
        "no client has a short-lived certificate yet"
    );

    // renew all, then the two kubeconfigs again with validities that tell
    // their clients apart in the API server's metrics: 1 h and 5 h.
    let out = c.kcerts_logged(&log, 0, &["renew", "all"]);
    assert_ok(&out, "renew all");
    assert!(
        stdout(&out).contains("You must restart"),
        "{}",
        stdout(&out)
    );
    for (conf, validity) in [("controller-manager.conf", "1h"), ("scheduler.conf", "5h")] {
        let out = c.kcerts(0, &["renew", conf, "--validity", validity]);
        assert_ok(&out, &format!("renew {conf} --validity {validity}"));
    }

    // verify --live tells the truth per component: etcd (client and peer) and
    // the API server serve the renewed files by themselves (no restart); the
    // controller-manager and scheduler still hold their old client certificates.
    let (ok, rows, took) = wait_rows(&c, 0, Duration::from_secs(90), |s| {
        ["apiserver", "etcd-server", "etcd-peer"]
            .iter()
            .all(|e| status_of(s, e) == "pass")
    });
    assert!(
        ok,
        "etcd and the API server did not serve the renewed files: {rows:#?}"
    );
    eprintln!(
        "after renew all: etcd and the API server served the renewed files within {took:.1?}"
    );
    c.kcerts_logged(&log, 0, &["verify", "--live"]);
    let s = statuses(&rows);
    assert_eq!(status_of(&s, "controller-manager"), "fail", "{rows:#?}");
    assert_eq!(status_of(&s, "scheduler"), "fail", "{rows:#?}");
    for p in PODS {
        assert_eq!(
            node.kubelet.start_count(p),
            1,
            "{p} was restarted: {:?}",
            node.kubelet.events()
        );
    }
    // ... and they do: 20 s on, no request came with either renewed kubeconfig.
    std::thread::sleep(Duration::from_secs(20));
    assert_eq!(
        short_lived_requests(&c),
        (0, 0),
        "the controller-manager or scheduler used its renewed certificate without a restart"
    );

    // restart all: the real processes stop and start, one at a time.
    let started = Instant::now();
    let out = c.kcerts_logged(&log, 0, &with_waits(&["restart", "all"]));
    assert_ok(&out, "restart all");
    let restart_all = started.elapsed();
    let summary = stdout(&out).lines().last().unwrap_or_default().to_string();
    eprintln!("restart all: {summary}");
    // etcd and the API server once more each; the controller-manager and
    // scheduler at least once more: they may exit by themselves (leader
    // election lost) while the API server is down, and the kubelet starts them.
    for p in PODS {
        let n = node.kubelet.start_count(p);
        let ok = if p == "etcd" || p == "kube-apiserver" {
            n == 2
        } else {
            n >= 2
        };
        assert!(ok, "{p} started {n} times: {:?}", node.kubelet.events());
    }
    let (ok, rows, _) = wait_rows(&c, 0, Duration::from_secs(60), |s| {
        s.iter().all(|(_, st)| st == "pass")
    });
    assert!(ok, "verify --live after restart all: {rows:#?}");
    // The renewed admin.conf works, and both restarted clients now present
    // their renewed certificates.
    let out = c.kubectl(0, &["get", "namespace", "default", "-o", "name"]);
    assert_ok(&out, "kubectl with the renewed admin.conf");
    let (kcm, upto_6h) = wait_requests(&c, Duration::from_secs(60), |(a, b)| a > 0 && b > a);
    assert!(
        kcm > 0,
        "no request with the controller-manager's renewed certificate"
    );
    assert!(
        upto_6h > kcm,
        "no request with the scheduler's renewed certificate"
    );

    // renew all --restart in one command: only the controller-manager and the
    // scheduler hold renewed files; etcd and the API server keep running (same
    // process) and are checked to serve the renewed files.
    std::thread::sleep(Duration::from_millis(1100));
    let pids = |p: &str| node.kubelet.pid(p);
    let (etcd_pid, api_pid) = (pids("etcd"), pids("kube-apiserver"));
    assert!(etcd_pid.is_some() && api_pid.is_some());
    let starts = |p: &str| node.kubelet.start_count(p);
    let (etcd_starts, api_starts) = (starts("etcd"), starts("kube-apiserver"));
    let (kcm_starts, sched_starts) = (starts("kube-controller-manager"), starts("kube-scheduler"));
    let started = Instant::now();
    let out = c.kcerts_logged(&log, 0, &with_waits(&["renew", "all", "--restart"]));
    assert_ok(&out, "renew all --restart");
    let took = started.elapsed();
    let text = stdout(&out);
    assert!(!text.contains("You must restart"), "{text}");
    assert!(
        text.contains("[restart] not restarted: etcd reads pki/etcd/server.crt and pki/etcd/peer.crt again by itself"),
        "{text}"
    );
    assert!(
        text.contains(
            "[restart] not restarted: kube-apiserver reads again by itself: pki/apiserver.crt"
        ),
        "{text}"
    );
    assert!(
        text.contains("[restart] etcd: serves pki/etcd/server.crt, /health ok after"),
        "{text}"
    );
    assert!(
        text.contains("[restart] kube-apiserver: serves pki/apiserver.crt, /livez ok after"),
        "{text}"
    );
    let summary = text.lines().last().unwrap_or_default().to_string();
    assert!(
        summary.starts_with("[restart] restarted kube-controller-manager (")
            && summary.contains("kube-scheduler (")
            && !summary.contains("etcd")
            && !summary.contains("kube-apiserver"),
        "{text}"
    );
    eprintln!("renew all --restart: {summary} ({took:.1?} with the renewal)");
    assert_eq!(
        pids("etcd"),
        etcd_pid,
        "etcd restarted: {:?}",
        node.kubelet.events()
    );
    assert_eq!(
        pids("kube-apiserver"),
        api_pid,
        "the API server restarted: {:?}",
        node.kubelet.events()
    );
    assert_eq!(
        (starts("etcd"), starts("kube-apiserver")),
        (etcd_starts, api_starts)
    );
    assert!(starts("kube-controller-manager") > kcm_starts);
    assert!(starts("kube-scheduler") > sched_starts);
    let (ok, rows, _) = wait_rows(&c, 0, Duration::from_secs(60), |s| {
        s.iter().all(|(_, st)| st == "pass")
    });
    assert!(ok, "verify --live after renew all --restart: {rows:#?}");
    c.kcerts_logged(&log, 0, &["verify", "--live"]);
    let out = c.kubectl(0, &["get", "namespace", "default", "-o", "name"]);
    assert_ok(&out, "kubectl with the admin.conf renewed again");
    // The renewed apiserver-etcd-client is used on new connections; the open
    // one keeps working: etcd answers through the API server.
    let out = c.kubectl(
        0,
        &["create", "configmap", "after-renewal", "-n", "default"],
    );
    assert_ok(&out, "a write through the API server to etcd");

    // etcd's own pairs on a one-member etcd: nothing restarts (a restart would
    // be an outage), and etcd serves them at once.
    let before = node.kubelet.starts().len();
    let started = Instant::now();
    let out = c.kcerts_logged(
        &log,
        0,
        &with_waits(&["renew", "etcd-server", "etcd-peer", "--restart"]),
    );
    assert_ok(&out, "renew etcd-server etcd-peer --restart");
    let text = stdout(&out);
    assert!(text.contains("[restart] nothing to restart"), "{text}");
    assert!(
        text.contains("[restart] etcd: serves pki/etcd/server.crt, /health ok after"),
        "{text}"
    );
    eprintln!(
        "renew etcd-server etcd-peer --restart: {:.1?}, etcd not restarted",
        started.elapsed()
    );
    assert_eq!(
        pids("etcd"),
        etcd_pid,
        "etcd restarted: {:?}",
        node.kubelet.events()
    );
    assert_eq!(
        node.kubelet.starts().len(),
        before,
        "{:?}",
        node.kubelet.events()
    );
    let (ok, rows, _) = wait_rows(&c, 0, Duration::from_secs(60), |s| {
        s.iter().all(|(_, st)| st == "pass")
    });
    assert!(
        ok,
        "verify --live after renew etcd-server etcd-peer --restart: {rows:#?}"
    );
    let out = c.etcdctl(0, &["endpoint", "health"]);
    assert_ok(&out, "etcdctl with the renewed etcd-server");
    eprintln!("restart all took {restart_all:.1?}");
    eprintln!("kcerts' output: {}", log.path().display());
}
