//! `kcerts restart` and `renew --restart` against the fake kubelet: order, what
//! holds a renewed file (etcd and the API server read theirs again by themselves), a component that never comes back, SIGKILL at every step of a
//! restart then recovery, the dry-run plan, progress on a real terminal.

use std::process::Command;
use std::time::Duration;

use kcerts_tests::*;

use kcerts_tests::live_node::{LiveNode, PODS, all_pass, renew_all};
use kcerts_tests::run_in_node::code;

const WAITS: [&str; 4] = ["--stop-wait", "10s", "--wait", "20s"];

/// The stop/start lines of the fake kubelet's log after the first `skip` lines.
fn events(node: &LiveNode, skip: usize) -> Vec<String> {
    node.kubelet.log()[skip..].to_vec()
}

fn with_waits<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(WAITS);
    v
}

#[test]
fn renew_all_restart_restarts_only_what_holds_an_old_file_and_verify_live_passes() {
    let node = LiveNode::start(71);
    let before = node.kubelet.log().len();
    std::thread::sleep(Duration::from_millis(1100));
    let o = node.renew(&with_waits(&["all", "--restart"]));
    assert_ok(&o, "renew all --restart");
    let out = stdout(&o);
    assert!(!out.contains("You must restart"), "{out}");
    // etcd and the API server read their renewed files again by themselves:
    // left running, each named with why, and checked to serve the new files.
    assert!(
        out.contains(
            "[restart] not restarted: etcd reads pki/etcd/server.crt and pki/etcd/peer.crt again \
             by itself (at each new TLS connection)"
        ),
        "{out}"
    );
    assert!(
        out.contains("[restart] not restarted: kube-apiserver reads again by itself: pki/apiserver.crt (within a second)"),
        "{out}"
    );
    assert!(
        out.contains("[restart] etcd: serves pki/etcd/server.crt, /health ok after"),
        "{out}"
    );
    assert!(
        out.contains("[restart] kube-apiserver: serves pki/apiserver.crt, /livez ok after"),
        "{out}"
    );
    assert!(out.contains("s, without a restart"), "{out}");
    // The controller-manager and scheduler hold their kubeconfigs: restarted, in order.
    assert_eq!(
        events(&node, before),
        [
            "stopped kube-controller-manager",
            "started kube-controller-manager",
            "stopped kube-scheduler",
            "started kube-scheduler",
        ]
    );
    for p in ["kube-controller-manager", "kube-scheduler"] {
        assert!(
            out.contains(&format!("[restart] {p}: moved the manifest back")),
            "{out}"
        );
    }
    for p in ["etcd", "kube-apiserver"] {
        assert!(!out.contains(&format!("[restart] {p}: moved")), "{out}");
    }
    assert!(out.contains("[restart] kube-scheduler: /healthz ok after"));
    assert!(
        out.contains("[restart] restarted kube-controller-manager ("),
        "{out}"
    );
    all_pass(&node).unwrap();
    assert!(!node.root().join("tmp/kcerts-restart-pending").exists());
    assert!(
        node.root()
            .join("tmp/kcerts-restart")
            .read_dir()
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn renew_restart_restarts_exactly_the_components_that_hold_a_renewed_file() {
    let node = LiveNode::start(72);
    // The API server reads apiserver-etcd-client for each new connection to
    // etcd, and etcd checks a client certificate only at the handshake: no restart.
    let before = node.kubelet.log().len();
    let o = node.renew(&with_waits(&["apiserver-etcd-client", "--restart"]));
    assert_ok(&o, "renew apiserver-etcd-client --restart");
    let out = stdout(&o);
    assert!(
        out.contains(
            "[restart] not restarted: kube-apiserver reads pki/apiserver-etcd-client.crt again by \
             itself (for each new connection to etcd; the open one keeps working)"
        ),
        "{out}"
    );
    assert!(out.contains("[restart] nothing to restart"), "{out}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(events(&node, before).is_empty(), "{out}");
    // etcd's two pairs on the one-member etcd: no restart, no outage.
    let o = node.renew(&with_waits(&["etcd-server", "etcd-peer", "--restart"]));
    assert_ok(&o, "renew etcd-server etcd-peer --restart");
    assert!(
        stdout(&o).contains("[restart] etcd: serves pki/etcd/server.crt, /health ok after"),
        "{}",
        stdout(&o)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(events(&node, before).is_empty(), "{}", stdout(&o));
    // A kubeconfig the scheduler holds: the scheduler alone restarts.
    let o = node.renew(&with_waits(&["scheduler.conf", "--restart"]));
    assert_ok(&o, "renew scheduler.conf --restart");
    assert_eq!(
        events(&node, before),
        ["stopped kube-scheduler", "started kube-scheduler"]
    );
    all_pass(&node).unwrap();
    let before = node.kubelet.log().len();
    let o = node.renew(&with_waits(&[
        "admin.conf",
        "etcd-healthcheck-client",
        "--restart",
    ]));
    assert_ok(&o, "renew admin.conf --restart");
    assert!(stdout(&o).contains("nothing to restart"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("You must restart"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(events(&node, before).is_empty());

    let o = node.renew(&["scheduler.conf", "apiserver", "--restart", "--dry-run"]);
    assert_ok(&o, "renew --restart --dry-run");
    let out = stdout(&o);
    let plan: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("[dry-run] would"))
        .filter(|l| !l.starts_with("[dry-run] would renew"))
        .collect();
    assert_eq!(plan.len(), 2, "{}", stdout(&o));
    assert_eq!(
        plan[0],
        "[dry-run] would not restart: kube-apiserver reads pki/apiserver.crt again by itself \
         (within a second)"
    );
    assert!(
        plan[1].starts_with(
            "[dry-run] would restart kube-scheduler: move manifests/kube-scheduler.yaml"
        )
    );
}

/// A component that should read its renewed file again but does not (here
/// etcd of a fake kubelet reading pairs only at start): `renew --restart` sees
/// it still serving the old certificate within --wait and restarts it after all.
#[test]
fn renew_restart_restarts_a_component_that_does_not_serve_its_renewed_file() {
    let node = LiveNode::start_with(73, |o| o.pairs_at_start = true);
    let before = node.kubelet.log().len();
    let o = node.renew(&[
        "etcd-server",
        "--restart",
        "--stop-wait",
        "10s",
        "--wait",
        "2s",
    ]);
    assert_ok(&o, "renew etcd-server --restart");
    let out = stdout(&o);
    assert!(
        out.contains("[restart] not restarted: etcd reads pki/etcd/server.crt again by itself"),
        "{out}"
    );
    assert!(
        out.contains(
            "[restart] etcd does not serve the renewed files after 2s (etcd on 127.0.0.1:"
        ),
        "{out}"
    );
    assert!(
        out.contains("it serves another certificate than pki/etcd/server.crt): restarting it"),
        "{out}"
    );
    assert!(
        out.contains("[restart] etcd: serves pki/etcd/server.crt, /health ok after"),
        "{out}"
    );
    assert_eq!(events(&node, before), ["stopped etcd", "started etcd"]);
    all_pass(&node).unwrap();
}

#[test]
fn restart_dry_run_prints_the_plan_in_order_and_changes_nothing() {
    let node = LiveNode::start(73);
    let before = node.kubelet.log().len();
    let o = node.kcerts(&["restart", "scheduler", "etcd", "apiserver", "--dry-run"]);
    assert_ok(&o, "restart --dry-run");
    let order: Vec<String> = stdout(&o)
        .lines()
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect();
    assert_eq!(
        order,
        [
            "[dry-run] would restart etcd",
            "[dry-run] would restart kube-apiserver",
            "[dry-run] would restart kube-scheduler",
        ]
    );
    assert!(stdout(&o).contains(&format!(
        "wait up to 60s for 127.0.0.1:{} to stop answering",
        node.ports.etcd_client
    )));
    std::thread::sleep(Duration::from_millis(500));
    assert!(events(&node, before).is_empty());
    let o = node.kcerts(&["restart", "kubelet"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("unknown component \"kubelet\""));
}

#[test]
fn a_component_that_never_comes_back_leaves_its_manifest_in_place_and_an_error() {
    let node = LiveNode::start(74);
    node.kubelet.refuse("kube-scheduler");
    let o = node.kcerts(&["restart", "all", "--stop-wait", "10s", "--wait", "2s"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "error: kube-scheduler did not come back within 2s: last seen on 127.0.0.1:{}: connection refused",
            node.ports.scheduler
        )),
        "{err}"
    );
    // The three before it were restarted; the scheduler's manifest is back.
    assert!(stdout(&o).contains("[restart] kube-controller-manager: /healthz ok"));
    assert!(node.manifest("kube-scheduler.yaml").exists());
    assert!(!node.root().join("tmp/kcerts-restart-pending").exists());
    node.kubelet.allow("kube-scheduler");
    assert!(node.kubelet.wait_running(&PODS, Duration::from_secs(20)));
    all_pass(&node).unwrap();
}

/// Runs `kcerts restart apiserver` paused before durable step `step`, then SIGKILLs it.
fn kill_restart_at(node: &LiveNode, step: usize) {
    let mut args = vec![
        "restart",
        "apiserver",
        "--cert-dir",
        "pki",
        "--kubeconfig-dir",
        ".",
    ];
    args.extend(["--manifests-dir", "manifests"]);
    args.extend(WAITS);
    let mut restart = Command::new(kcerts_bin());
    restart.current_dir(node.root()).args(&args);
    sigkill_paused_at(restart, step);
}

#[test]
fn sigkill_at_every_step_of_a_restart_then_recover_or_the_next_restart_puts_it_back() {
    let node = LiveNode::start(75);
    let manifest = node.manifest("kube-apiserver.yaml");
    let held = node.root().join("tmp/kcerts-restart/kube-apiserver.yaml");
    let original = std::fs::read(&manifest).unwrap();
    // Steps: 1 write the journal, 2 move the manifest away, 3 move it back,
    // 4 remove the journal.
    for step in 1..=4 {
        kill_restart_at(&node, step);
        let away = step == 3;
        assert_eq!(manifest.exists(), !away, "step {step}");
        assert_eq!(held.exists(), away, "step {step}");
        assert_eq!(
            node.root().join("tmp/kcerts-restart-pending").exists(),
            step > 1,
            "step {step}: the journal"
        );
        if step % 2 == 1 {
            let o = node.kcerts(&["restart", "--recover"]);
            assert_ok(&o, "restart --recover");
            let want = if away {
                "put it back"
            } else {
                "nothing to put back"
            };
            assert!(stdout(&o).contains(want), "step {step}: {}", stdout(&o));
        } else {
            let o = node.kcerts(&with_waits(&["restart", "apiserver"]));
            assert_ok(&o, "the next restart");
            assert!(
                stdout(&o).contains("an interrupted restart"),
                "{}",
                stdout(&o)
            );
            assert!(stdout(&o).contains("[restart] restarted kube-apiserver"));
        }
        assert_eq!(std::fs::read(&manifest).unwrap(), original, "step {step}");
        assert!(!held.exists());
        assert!(!node.root().join("tmp/kcerts-restart-pending").exists());
        assert!(
            node.kubelet.wait_running(&PODS, Duration::from_secs(20)),
            "step {step}: {:?}",
            node.kubelet.log()
        );
    }
}

#[test]
fn progress_on_a_terminal_counts_while_waiting_one_line_per_step() {
    let node = LiveNode::start(76);
    let cmd = format!(
        "{} restart scheduler controller-manager --cert-dir pki --kubeconfig-dir . --manifests-dir manifests --stop-wait 10s --wait 20s",
        kcerts_bin().display()
    );
    let o = Command::new("script")
        .current_dir(node.root())
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    assert_ok(&o, "restart on a pty");
    let out = stdout(&o);
    assert!(
        out.contains("\r\x1b[2K[restart] waiting for kube-controller-manager to stop"),
        "{out:?}"
    );
    // Each step's line replaces the counter and ends with a newline.
    let steps: Vec<&str> = out
        .split("\r\n")
        .map(|l| l.rsplit("\r\x1b[2K").next().unwrap())
        .filter(|l| !l.is_empty())
        .collect();
    let shapes: Vec<String> = steps
        .iter()
        .map(|l| {
            l.split(" after ")
                .next()
                .unwrap()
                .split(" to ")
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(shapes.len(), 9, "{out:?}");
    assert!(shapes[8].starts_with("[restart] restarted kube-controller-manager ("));
    assert_eq!(
        shapes[..8],
        [
            "[restart] kube-controller-manager: moved manifests/kube-controller-manager.yaml",
            "[restart] kube-controller-manager: stopped",
            "[restart] kube-controller-manager: moved the manifest back",
            "[restart] kube-controller-manager: /healthz ok",
            "[restart] kube-scheduler: moved manifests/kube-scheduler.yaml",
            "[restart] kube-scheduler: stopped",
            "[restart] kube-scheduler: moved the manifest back",
            "[restart] kube-scheduler: /healthz ok",
        ],
        "{out:?}"
    );
}

#[test]
fn the_same_restart_without_a_terminal_prints_only_the_steps() {
    let node = LiveNode::start(77);
    renew_all(&node);
    let o = node.kcerts(&with_waits(&["restart", "etcd"]));
    assert_ok(&o, "restart etcd");
    assert!(!stdout(&o).contains('\x1b'), "{}", stdout(&o));
    assert!(!stdout(&o).contains('\r'));
    assert_eq!(stdout(&o).lines().count(), 5, "{}", stdout(&o));
    let (_, rows) = node.live_rows();
    let etcd: Vec<_> = rows.iter().filter(|r| r.0.starts_with("etcd")).collect();
    assert!(etcd.iter().all(|r| r.1 == "pass"), "{etcd:?}");
}
