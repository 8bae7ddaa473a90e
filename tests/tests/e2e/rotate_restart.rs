//! `ca rotate` and `sa rotate` with `--restart` against the fake kubelet: each
//! phase restarts exactly the components that load the files it changed, in
//! kubeadm's order, and `verify --live` passes after each (the pods serve the
//! new files); the dry run prints the restart plan; `--manifests-dir` keeps the
//! manifests outside the kubeconfig dir, `restore` included.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use kcerts_tests::fake_kubelet::{self, Ports};
use kcerts_tests::*;

use kcerts_tests::live_node::{LiveNode, all_pass};
use kcerts_tests::openssl_read::verifies;

const WAITS: [&str; 4] = ["--stop-wait", "10s", "--wait", "20s"];

fn rotate(node: &LiveNode, what: &str, phase: &str, extra: &[&str]) -> Output {
    let mut args = vec![what, "rotate", phase];
    args.extend_from_slice(extra);
    // The proof a phase needs (issue 23): this one node trusts the new CA or key
    // (its own directory, `--fleet .`); sa finish is forced, the manifest sets no
    // token lifetime cap.
    match (what, phase) {
        (_, "reissue" | "switch") => args.extend(["--fleet", "."]),
        ("sa", "finish") => args.push("--force"),
        _ => {}
    }
    node.kcerts(&args)
}

/// Applies a phase with --restart; returns its stdout and the pods the fake
/// kubelet stopped meanwhile (in order, each once).
fn apply_restart(
    node: &LiveNode,
    what: &str,
    phase: &str,
    extra: &[&str],
) -> (String, Vec<String>) {
    // The controller-manager's and scheduler's self-signed certificates record
    // whole seconds; `verify --live` compares their start with the kubeconfigs'.
    std::thread::sleep(Duration::from_millis(1100));
    let before = node.kubelet.log().len();
    let mut args = extra.to_vec();
    args.extend(["--apply", "--restart"]);
    args.extend(WAITS);
    let o = rotate(node, what, phase, &args);
    assert_ok(&o, &format!("{what} rotate {phase} --apply --restart"));
    let mut stopped: Vec<String> = Vec::new();
    for e in &node.kubelet.log()[before..] {
        if let Some(p) = e.strip_prefix("stopped ")
            && !stopped.iter().any(|s| s == p)
        {
            stopped.push(p.to_string());
        }
    }
    (stdout(&o), stopped)
}

/// `verify --live` passes: every check, the six live rows included.
fn passes(node: &LiveNode) {
    if let Err(e) = all_pass(node) {
        let o = node.kcerts(&["verify", "--live"]);
        panic!("{e}\n{}{}", stdout(&o), stderr(&o));
    }
}

/// The `[restart] restarted ...` summary line's pods, in order.
fn restarted(out: &str) -> Vec<String> {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("[restart] restarted "))
        .unwrap_or_else(|| panic!("no summary line: {out}"));
    line.split(", ")
        .map(|p| p.split(' ').next().unwrap().to_string())
        .collect()
}

#[test]
fn ca_rotation_with_restart_restarts_what_loads_the_changed_files_and_verify_live_passes() {
    let node = LiveNode::start(81);
    // The kubelet's layout: the current pair behind a link.
    let kl = node.root().join("kubelet");
    let pair = kl.join("kubelet-client-2026-01-01-00-00-00.pem");
    std::fs::rename(kl.join("kubelet-client-current.pem"), &pair).unwrap();
    std::os::unix::fs::symlink(&pair, kl.join("kubelet-client-current.pem")).unwrap();
    passes(&node);

    // prepare: only ca.new.* are written, which nothing loads yet.
    let (out, stopped) = apply_restart(&node, "ca", "prepare", &["--ca", "ca"]);
    assert!(out.contains("nothing to restart"), "{out}");
    assert!(stopped.is_empty(), "{stopped:?}");

    // trust, dry run: the plan names the restarts and nothing moves.
    let before = node.kubelet.log().len();
    let o = rotate(&node, "ca", "trust", &["--ca", "ca", "--restart"]);
    assert_ok(&o, "ca rotate trust --restart (dry run)");
    let text = stdout(&o);
    let plan: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("[dry-run] would restart "))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        plan,
        [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler"
        ],
        "{text}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(node.kubelet.log()[before..].is_empty());

    // trust: ca.crt (kube-apiserver, kube-controller-manager), the kubeconfigs
    // (controller-manager.conf, scheduler.conf), the controller-manager's manifest.
    let (out, stopped) = apply_restart(&node, "ca", "trust", &["--ca", "ca"]);
    assert_eq!(
        restarted(&out),
        [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler"
        ]
    );
    assert!(!stopped.contains(&"etcd".to_string()), "{stopped:?}");
    assert!(!out.contains("`kcerts restart"), "{out}");
    assert!(out.contains("systemctl restart kubelet"), "{out}");
    passes(&node);

    // reissue: the new CA signs every leaf; the pods serve the new files.
    let (out, stopped) = apply_restart(
        &node,
        "ca",
        "reissue",
        &["--ca", "ca", "--kubelet-pki-dir", "kubelet"],
    );
    assert_eq!(
        restarted(&out),
        [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler"
        ]
    );
    assert!(!stopped.contains(&"etcd".to_string()), "{stopped:?}");
    // The kubelet's client certificate was re-signed in the same transaction.
    assert!(
        out.contains("[rotate] kubelet client certificate for O=system:nodes, CN=system:node:"),
        "{out}"
    );
    let link = kl.join("kubelet-client-current.pem");
    assert_ne!(std::fs::read_link(&link).unwrap(), pair);
    assert!(
        verifies(&node.root().join("pki/ca.new.crt"), &link, "sslclient"),
        "the re-signed kubelet client certificate does not verify with the new CA"
    );
    // kubelet.conf now names the link by its absolute path; the node's verify
    // reads it relative to the node root, as LiveNode's kubelet.conf did.
    let conf = node.root().join("kubelet.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let prefix = format!("{}/", std::fs::canonicalize(node.root()).unwrap().display());
    std::fs::write(&conf, text.replace(&prefix, "")).unwrap();
    passes(&node);
    // The apiserver now serves a certificate of the new CA only.
    let served = node.root().join("served.pem");
    let s = run(
        "sh",
        [
            "-c",
            &format!(
                "openssl s_client -connect 127.0.0.1:{} -showcerts </dev/null 2>/dev/null \
                 | openssl x509 > {}",
                node.ports.apiserver,
                served.display()
            ),
        ],
    );
    assert_ok(&s, "openssl s_client");
    let chains_to = |ca: &Path| verifies(ca, &served, "sslserver");
    assert!(chains_to(&node.root().join("pki/ca.new.crt")));
    let old = node.root().join("old-ca.pem");
    let bundle = std::fs::read_to_string(node.root().join("pki/ca.crt")).unwrap();
    let second = bundle
        .match_indices("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .unwrap()
        .0;
    std::fs::write(&old, &bundle[second..]).unwrap();
    assert!(
        !chains_to(&old),
        "the served certificate still chains to the old CA"
    );

    // finish: trust files back to one CA; the pods load them.
    let (out, _) = apply_restart(&node, "ca", "finish", &["--ca", "ca"]);
    assert_eq!(
        restarted(&out),
        [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler"
        ]
    );
    passes(&node);

    // etcd-ca: etcd and kube-apiserver load etcd/ca.crt and the etcd leaves.
    apply_restart(&node, "ca", "prepare", &["--ca", "etcd-ca"]);
    let (out, _) = apply_restart(&node, "ca", "trust", &["--ca", "etcd-ca"]);
    assert_eq!(restarted(&out), ["etcd", "kube-apiserver"]);
    let (out, _) = apply_restart(&node, "ca", "reissue", &["--ca", "etcd-ca"]);
    assert_eq!(restarted(&out), ["etcd", "kube-apiserver"]);
    passes(&node);
}

#[test]
fn sa_rotation_with_restart_restarts_the_apiserver_and_controller_manager() {
    let node = LiveNode::start(82);
    let (out, stopped) = apply_restart(&node, "sa", "prepare", &[]);
    assert!(out.contains("nothing to restart"), "{out}");
    assert!(stopped.is_empty(), "{stopped:?}");
    let (out, _) = apply_restart(&node, "sa", "trust", &[]);
    assert_eq!(restarted(&out), ["kube-apiserver"]);
    let (out, _) = apply_restart(&node, "sa", "switch", &[]);
    assert_eq!(
        restarted(&out),
        ["kube-apiserver", "kube-controller-manager"]
    );
    let (out, stopped) = apply_restart(&node, "sa", "finish", &[]);
    assert_eq!(
        restarted(&out),
        ["kube-apiserver", "kube-controller-manager"]
    );
    assert_eq!(stopped, ["kube-apiserver", "kube-controller-manager"]);
    passes(&node);
}

#[test]
fn manifests_dir_keeps_the_manifests_outside_the_kubeconfig_dir() {
    let dir = tempdir();
    let root = dir.path().join("node");
    let pods = dir.path().join("static-pods");
    NodeDir::in_dir(&root, 83);
    fake_kubelet::write_manifests(&root, &pods, &Ports::free());
    let kcm = pods.join("kube-controller-manager.yaml");
    let before = std::fs::read_to_string(&kcm).unwrap();
    let ca = |args: &[&str]| {
        let mut v = vec!["ca"];
        v.extend_from_slice(args);
        v.extend(["--manifests-dir", pods.to_str().unwrap()]);
        let mut all: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        all.extend(dir_args(&root));
        kcerts(all)
    };
    assert_ok(
        &ca(&["rotate", "prepare", "--ca", "ca", "--apply"]),
        "prepare",
    );
    let o = ca(&["rotate", "trust", "--ca", "ca", "--apply"]);
    assert_ok(&o, "trust");
    let out = stdout(&o);
    assert!(
        out.contains(&format!("[rotate] write {}", kcm.display())),
        "{out}"
    );
    assert!(
        out.contains(
            "`kcerts restart apiserver controller-manager scheduler` (or run the phase with --restart)"
        ),
        "{out}"
    );
    let after = std::fs::read_to_string(&kcm).unwrap();
    assert!(
        after.contains(&format!(
            "--cluster-signing-cert-file={}/ca-signing.crt",
            root.join("pki").display()
        )),
        "{after}"
    );
    assert!(
        !root.join("manifests").exists(),
        "nothing in <kubeconfig-dir>/manifests"
    );
    let status = ca(&["status", "-o", "json"]);
    assert!(
        stdout(&status).contains("\"phase\": \"trusted\""),
        "{}",
        stdout(&status)
    );
    // restore needs --manifests-dir: the journal's `#root` line naming the
    // directory is checked against the command line, never trusted.
    let backup = backup_dir_in(&out);
    let mut args: Vec<String> = ["restore", "--backup-dir", &backup]
        .map(String::from)
        .to_vec();
    args.extend(dir_args(&root));
    let refused = kcerts(&args);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("line 2: ") && stderr(&refused).contains("--manifests-dir"),
        "{}",
        stderr(&refused)
    );
    assert_ne!(std::fs::read_to_string(&kcm).unwrap(), before);
    args.extend(["--manifests-dir".into(), pods.display().to_string()]);
    assert_ok(&kcerts(args), "restore");
    assert_eq!(std::fs::read_to_string(&kcm).unwrap(), before);
}
