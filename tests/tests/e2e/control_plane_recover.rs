//! `kcerts recover` on the real control plane (issue 24, test 7): a kubeadm-made
//! node (tests/src/real_cluster.rs) whose every certificate expired stops
//! answering; `kcerts recover --restart` brings its API server back and kubectl
//! works again.
//!
//! Expired leaves are made with kcerts' own signing at a past time: `renew all
//! --at T --validity 10s`, T just after the CAs' NotBefore, so every leaf and
//! kubeconfig is signed by the node's real CAs and already expired; then every
//! static pod is stopped and started again (its manifest moved out and back,
//! as a reboot would), so no process keeps a connection made before.
//!
//! Skipped, with a message, only when the programs are not built.

use std::time::{Duration as StdDuration, Instant};

use kcerts_core::certificate;
use kcerts_tests::real_cluster::{READY_LIMIT, RealCluster, RunLog};
use kcerts_tests::*;
use time::{Duration, OffsetDateTime};

/// The static pods kubeadm's manifests run.
const PODS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// Stops every static pod of node 0 (manifests moved out) and starts them
/// again (moved back), as a reboot would.
fn restart_every_pod(c: &RealCluster) {
    let node = &c.nodes[0];
    let off = node.etc().join("manifests-off");
    std::fs::rename(node.manifests(), &off).unwrap();
    std::fs::create_dir(node.manifests()).unwrap();
    let start = Instant::now();
    while PODS.iter().any(|p| node.kubelet.pid(p).is_some()) {
        assert!(
            start.elapsed() < StdDuration::from_secs(60),
            "the pods did not stop: {}",
            c.logs(20)
        );
        std::thread::sleep(StdDuration::from_millis(200));
    }
    std::fs::remove_dir(node.manifests()).unwrap();
    std::fs::rename(&off, node.manifests()).unwrap();
}

fn read_cert(path: &std::path::Path) -> certificate::Certificate {
    certificate::parse_first(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn recover_brings_back_a_node_whose_certificates_all_expired() {
    let Some(c) = RealCluster::single() else {
        return;
    };
    let node = &c.nodes[0];
    let pki = node.pki();
    // T: one second after the latest CA's NotBefore, so each CA signs at T.
    let at = ["ca.crt", "etcd/ca.crt", "front-proxy-ca.crt"]
        .iter()
        .map(|f| read_cert(&pki.join(f)).not_before)
        .max()
        .unwrap()
        + Duration::seconds(1);
    let expired_at = at + Duration::seconds(10);
    while OffsetDateTime::now_utc() < expired_at + Duration::seconds(2) {
        std::thread::sleep(StdDuration::from_millis(500));
    }
    let out = c.kcerts(
        0,
        &["renew", "all", "--at", &rfc3339(at), "--validity", "10s"],
    );
    assert_ok(&out, "renew all at a past time");
    let apiserver = read_cert(&pki.join("apiserver.crt"));
    assert_eq!(apiserver.not_after, expired_at);
    assert!(apiserver.not_after < OffsetDateTime::now_utc());

    restart_every_pod(&c);
    // Down: the API server cannot reach etcd with its expired client
    // certificate (etcd's expired serving certificate is refused too), so it
    // exits before it serves; kubectl gets no answer.
    let down_since = Instant::now();
    let start = Instant::now();
    loop {
        let out = c.kubectl(0, &["get", "--raw", "/readyz"]);
        assert!(
            !out.status.success(),
            "kubectl worked with expired certificates"
        );
        if node
            .kubelet
            .logs(200)
            .contains("x509: certificate has expired")
        {
            break;
        }
        assert!(
            start.elapsed() < StdDuration::from_secs(120),
            "no process said its peer's certificate expired: {}",
            stderr(&out)
        );
        std::thread::sleep(StdDuration::from_millis(500));
    }
    assert!(c.not_ready().is_some());

    let kubelet_pki = node.root.join("var/lib/kubelet/pki");
    std::fs::create_dir_all(&kubelet_pki).unwrap();
    // kcerts' output, kept for the README (target/real-runs).
    let log = RunLog::new("control_plane_recover");
    let out = c.kcerts_logged(&log, 0, &["check-expiration"]);
    // Every leaf expired: kubeadm's `<invalid>` residual time on each row.
    assert_eq!(
        stdout(&out).matches("<invalid>").count(),
        11,
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let started = Instant::now();
    let out = c.kcerts_logged(
        &log,
        0,
        &[
            "recover",
            "--restart",
            "--timeout",
            "240s",
            "--kubeconfig",
            node.admin_conf().to_str().unwrap(),
            "--kubelet-pki-dir",
            kubelet_pki.to_str().unwrap(),
            "--node-name",
            &node.name,
        ],
    );
    let recover_took = started.elapsed();
    assert_ok(&out, "kcerts recover --restart");
    let text = stdout(&out);
    assert!(text.contains("the API server answers with"), "{text}");
    let ready_after = c.wait_ready(READY_LIMIT);
    let out = c.kubectl(0, &["get", "namespace", "kube-system", "-o", "name"]);
    assert_ok(&out, "kubectl after recover");
    assert_eq!(stdout(&out).trim(), "namespace/kube-system");
    let out = c.etcdctl(0, &["endpoint", "health"]);
    assert_ok(&out, "etcdctl endpoint health after recover");
    for f in [
        "apiserver.crt",
        "etcd/server.crt",
        "apiserver-etcd-client.crt",
    ] {
        let cert = read_cert(&pki.join(f));
        assert!(
            cert.not_after > OffsetDateTime::now_utc() + Duration::days(300),
            "{f} not renewed"
        );
    }
    eprintln!(
        "recover: down for {:.1}s in all; `kcerts recover --restart` took {:.1}s, \
         then {:.1}s until every component was healthy",
        down_since.elapsed().as_secs_f64(),
        recover_took.as_secs_f64(),
        ready_after.as_secs_f64()
    );
}
