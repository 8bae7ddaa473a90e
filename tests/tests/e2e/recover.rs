//! `kcerts recover`: a control-plane node whose every certificate, the kubelet's
//! client certificate included, expired a year ago (made here with backdated
//! validity) is recovered; openssl verifies every new certificate; kubectl talks
//! to a fake API server with admin.conf and with kubelet.conf (through the
//! kubelet-client-current.pem link); a clock behind the CA is refused.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration as StdDuration;

use kcerts_core::inventory::{self, Location};
use kcerts_core::kubeconfig::Kubeconfig;
use kcerts_tests::fake_apiserver::{FakeApiServer, Options};
use kcerts_tests::fake_kubelet::{self, FakeKubelet, Ports};
use kcerts_tests::*;
use time::{Duration, OffsetDateTime};

use kcerts_tests::kubectl::kubectl_version;
use kcerts_tests::kubelet_node::{check_installed, kubelet_args, node};
use kcerts_tests::live_node::PODS;
use kcerts_tests::openssl_read::openssl_verify;

/// Every file under `root`, with its bytes (links as their destination).
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let name = p.strip_prefix(root).unwrap().display().to_string();
            if name.ends_with("kcerts.lock") {
                continue;
            }
            if meta.file_type().is_symlink() {
                let dest = std::fs::read_link(&p).unwrap();
                out.push((name, dest.display().to_string().into_bytes()));
            } else if meta.is_dir() {
                stack.push(p);
            } else {
                out.push((name, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A node made two years ago with one-year certificates, the kubelet's rotated
/// pair included: all expired a year ago (the CAs last ten). Its control-plane
/// endpoint is 127.0.0.1:`port`.
fn expired_node(root: &Path, kl: &Path, port: u16) {
    let made = OffsetDateTime::now_utc() - Duration::days(730);
    generate_pki_at(root, &format!("127.0.0.1:{port}"), Some(made));
    let mut args = kubelet_args(root, kl, &["kubelet", "client", "--at"]);
    args.insert(3, rfc3339(made));
    assert_ok(&kcerts(args), "backdated kubelet client");
}

#[test]
fn recovers_a_node_expired_a_year_ago() {
    let tmp = tempdir();
    let root = tmp.path().join("kubernetes");
    let kl = tmp.path().join("kubelet-pki");
    std::fs::create_dir_all(&kl).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    expired_node(&root, &kl, port);
    let old_link = std::fs::read_link(kl.join("kubelet-client-current.pem")).unwrap();

    let mut opts = Options::for_pki(&root.join("pki"));
    opts.lifetime = StdDuration::from_secs(120);
    let _server = FakeApiServer::start_on(listener, opts);

    // Down: the API server refuses the expired admin and kubelet certificates.
    let before = kubectl_version(&root.join("admin.conf"));
    assert!(
        !before.status.success(),
        "an expired admin.conf was accepted"
    );
    assert!(!kubectl_version(&root.join("kubelet.conf")).status.success());

    // --dry-run prints the plan and changes nothing.
    let all_files = || {
        let mut t = tree(&root);
        t.extend(tree(&kl));
        t
    };
    let untouched = all_files();
    let mut dry = kubelet_args(&root, &kl, &["recover", "--dry-run"]);
    dry.extend(["--node-name".into(), "cp-1".into()]);
    let plan = kcerts(dry);
    assert_ok(&plan, "recover --dry-run");
    let text = stdout(&plan);
    for row in inventory::rows(false) {
        assert!(
            text.contains(&format!("[dry-run] would renew {} until", row.name)),
            "{text}"
        );
    }
    assert!(text.contains("[dry-run] kubelet: the kubelet client certificate expired on"));
    assert!(text.contains("[dry-run] no file was changed"));
    assert_eq!(all_files(), untouched);

    // Recover, restart (no systemd here: printed), wait for the API server.
    let mut args = kubelet_args(&root, &kl, &["recover", "--restart", "--timeout", "30s"]);
    args.extend([
        "--kubeconfig".into(),
        root.join("admin.conf").display().to_string(),
    ]);
    let out = kcerts(args);
    assert_ok(&out, "recover");
    let text = stdout(&out);
    assert!(text.contains("[recover] backed up 20 files to"), "{text}");
    assert!(
        text.contains("systemd is not running here") || text.contains("systemctl restart kubelet")
    );
    assert!(text.contains("the API server answers with"), "{text}");
    assert!(text.contains("kcerts kubelet client --csr-only"), "{text}");
    // No manifests on this node: no static pod to restart, each one said.
    assert!(
        text.contains("[restart] etcd: no manifest at ")
            && text.contains("[restart] kube-scheduler: no manifest at "),
        "{text}"
    );

    // openssl: every certificate a row holds, for its purpose, against its CA.
    for row in inventory::rows(false) {
        let ca = root.join("pki").join(row.ca.cert_file());
        let pem = match row.location {
            Location::CertDir { base } => {
                std::fs::read(root.join(format!("pki/{base}.crt"))).unwrap()
            }
            Location::Kubeconfig { file } => {
                let bytes = std::fs::read(root.join(file)).unwrap();
                Kubeconfig::parse(&bytes)
                    .unwrap()
                    .current()
                    .unwrap()
                    .client_certificate_data
            }
        };
        let cert = kcerts_core::certificate::parse_first(&pem).unwrap();
        assert!(
            cert.not_after > OffsetDateTime::now_utc() + Duration::days(300),
            "{} not renewed",
            row.name
        );
        let purpose = if cert
            .extended_key_usage
            .contains(&kcerts_core::certificate::ExtendedKeyUsage::ServerAuth)
        {
            "sslserver"
        } else {
            "sslclient"
        };
        openssl_verify(&ca, &pem, purpose, tmp.path());
    }
    // The kubelet: a new pair behind the link, kubelet.conf reading it, kubectl too.
    let new = check_installed(&root, &kl, "cp-1");
    assert_ne!(new, old_link);
    // admin.conf, super-admin.conf and kubelet.conf name the control-plane
    // endpoint (the fake server); the controller-manager's and scheduler's name
    // the local advertise address (kubeadm's choice), so kubectl only reads those.
    for conf in ["admin.conf", "super-admin.conf", "kubelet.conf"] {
        let v = kubectl_version(&root.join(conf));
        assert_ok(&v, &format!("kubectl get --raw /version with {conf}"));
        assert!(stdout(&v).contains("gitVersion"), "{}", stdout(&v));
    }
    for conf in ["controller-manager.conf", "scheduler.conf"] {
        let path = root.join(conf);
        let v = run(
            "kubectl",
            [
                "config",
                "view",
                "--kubeconfig",
                path.to_str().unwrap(),
                "--raw",
                "--flatten",
            ],
        );
        assert_ok(&v, &format!("kubectl config view {conf}"));
    }

    // Run again: nothing is due.
    let again = kcerts(kubelet_args(&root, &kl, &["recover"]));
    assert_ok(&again, "recover again");
    assert!(
        stdout(&again).contains("nothing expired"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn a_clock_behind_the_ca_is_refused() {
    let tmp = tempdir();
    let (root, kl) = node(tmp.path());
    let before = tree(tmp.path());
    let mut args = kubelet_args(&root, &kl, &["recover", "--at"]);
    args.insert(2, rfc3339(NOW - Duration::days(2)));
    let out = kcerts(args);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("refusing to issue certificates: the clock is behind the ca CA"),
        "{err}"
    );
    assert!(err.contains("hint: check `date -u`"), "{err}");
    assert_eq!(tree(tmp.path()), before, "no file may change");
}

/// `verify --live -o json` of a node run by the fake kubelet: the exit code and
/// the live rows (endpoint, status, reason).
fn verify_live(
    root: &Path,
    kl: &Path,
    ports: &Ports,
) -> (i32, Vec<(String, String, String)>, String) {
    let mut args: Vec<String> = ["verify", "--live", "-o", "json"]
        .map(String::from)
        .to_vec();
    args.extend(dir_args(root));
    args.extend([
        "--manifests-dir".into(),
        root.join("manifests").display().to_string(),
        "--kubelet-client-cert".into(),
        kl.join("kubelet-client-current.pem").display().to_string(),
        "--endpoint".into(),
        ports.kubelet_endpoint(),
    ]);
    let o = kcerts(args);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    let checks = json["checks"].as_array().unwrap();
    let rows = checks
        .iter()
        .filter(|c| c["check"] == "live")
        .map(|c| {
            let f = |k: &str| c[k].as_str().unwrap().to_string();
            (f("target"), f("status"), f("reason"))
        })
        .collect();
    let failing: Vec<String> = checks
        .iter()
        .filter(|c| c["status"] != "pass")
        .map(|c| c.to_string())
        .collect();
    (o.status.code().unwrap_or(-1), rows, failing.join("\n"))
}

#[test]
fn recover_restart_brings_an_expired_node_back_under_the_fake_kubelet() {
    let tmp = tempdir();
    let root = tmp.path().join("kubernetes");
    let kl = tmp.path().join("kubelet-pki");
    std::fs::create_dir_all(&kl).unwrap();
    let ports = Ports::free();
    expired_node(&root, &kl, ports.apiserver);
    // The control plane runs (on expired certificates) under the fake kubelet.
    fake_kubelet::write_manifests(&root, &root.join("manifests"), &ports);
    let mut opts = fake_kubelet::Options::new(&root.join("manifests"));
    opts.serving = Some((
        format!("127.0.0.1:{}", ports.kubelet).parse().unwrap(),
        kl.clone(),
    ));
    let kubelet = FakeKubelet::start(opts);
    assert!(
        kubelet.wait_running(&PODS, StdDuration::from_secs(20)),
        "{:?}",
        kubelet.log()
    );
    let (code, rows, _) = verify_live(&root, &kl, &ports);
    assert_ne!(code, 0);
    assert!(
        rows.iter().any(|r| r.0 == "apiserver" && r.1 == "fail"),
        "{rows:#?}"
    );
    // The controller-manager's start and its kubeconfig's write are compared
    // in whole seconds.
    std::thread::sleep(StdDuration::from_millis(1100));

    // The dry run names the restarts; nothing moves.
    let seen = kubelet.log().len();
    let mut dry = kubelet_args(&root, &kl, &["recover", "--dry-run", "--restart"]);
    dry.extend([
        "--manifests-dir".into(),
        root.join("manifests").display().to_string(),
    ]);
    let plan = kcerts(dry);
    assert_ok(&plan, "recover --dry-run --restart");
    let text = stdout(&plan);
    let pods: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("[dry-run] would restart "))
        .filter(|l| !l.starts_with("the kubelet"))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(pods, PODS, "{text}");
    assert!(
        text.contains("[dry-run] would restart the kubelet (systemctl restart kubelet)"),
        "{text}"
    );
    assert!(
        text.contains("would wait up to 300s for the API server"),
        "{text}"
    );
    assert_eq!(kubelet.log().len(), seen);

    let mut args = kubelet_args(
        &root,
        &kl,
        &[
            "recover",
            "--restart",
            "--timeout",
            "30s",
            "--stop-wait",
            "10s",
            "--wait",
            "20s",
        ],
    );
    args.extend([
        "--kubeconfig".into(),
        root.join("admin.conf").display().to_string(),
        "--manifests-dir".into(),
        root.join("manifests").display().to_string(),
    ]);
    let out = kcerts(args);
    assert_ok(&out, "recover --restart");
    let text = stdout(&out);
    assert!(
        text.contains("[recover] systemd is not running here"),
        "{text}"
    );
    assert!(
        text.contains("[restart] restarted etcd (",)
            && text.contains("kube-apiserver (")
            && text.contains("kube-scheduler ("),
        "{text}"
    );
    // The four pods, each stopped and started once, in kubeadm's order.
    let events: Vec<String> = kubelet.log()[seen..].to_vec();
    let expected: Vec<String> = PODS
        .iter()
        .flat_map(|p| [format!("stopped {p}"), format!("started {p}")])
        .collect();
    assert_eq!(events, expected);
    // Then the API server answered /version with admin.conf's new credentials.
    let after_restart = text.find("[restart] restarted").unwrap();
    let answered = text
        .find("the API server answers with")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(answered > after_restart, "{text}");
    assert!(!text.contains("Left to do on this node"), "{text}");

    let (code, rows, failing) = verify_live(&root, &kl, &ports);
    assert_eq!(code, 0, "{failing}");
    assert_eq!(rows.len(), 6, "{rows:#?}");
    assert!(rows.iter().all(|r| r.1 == "pass"), "{rows:#?}");
}
