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
//!    component, `restart all`, then `renew all --restart` in one command.
//!
//! Skipped, with a message, only when the programs are not built
//! (scripts/kube-binaries.sh; scripts/test.sh builds them).

use kcerts_tests::real_cluster::RealCluster;
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
