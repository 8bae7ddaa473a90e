//! After renewal: `verify --live` against the fake kubelet's static pods,
//! cross-checked with `openssl s_client`; `restart` and `renew --restart`.

use std::path::Path;
use std::time::Duration;

use kcerts_tests::*;

use kcerts_tests::live_node::{LiveNode, PODS, all_pass, renew_all};
use kcerts_tests::run_in_node::code;

fn status_of<'a>(rows: &'a [(String, String, String)], target: &str) -> (&'a str, &'a str) {
    let r = rows
        .iter()
        .find(|r| r.0 == target)
        .unwrap_or_else(|| panic!("no live row for {target}: {rows:?}"));
    (&r.1, &r.2)
}

#[test]
fn verify_live_passes_fails_after_renewal_and_passes_after_the_pods_restart() {
    let node = LiveNode::start(61);
    all_pass(&node).unwrap();
    let (_, rows) = node.live_rows();
    assert!(
        status_of(&rows, "controller-manager")
            .1
            .starts_with("started "),
        "{rows:?}"
    );
    assert!(
        status_of(&rows, "kubelet")
            .1
            .contains("kubelet/kubelet.crt")
    );

    // After renew all without a restart: etcd and the API server serve the
    // renewed files (they read them at each handshake, as the real programs do:
    // docs/reload.md); the controller-manager and scheduler, started before
    // their kubeconfigs were written, still hold the old client certificates.
    renew_all(&node);
    let (code, rows) = node.live_rows();
    assert_eq!(code, 3, "{rows:#?}");
    for (e, file) in [
        ("apiserver", "pki/apiserver.crt"),
        ("etcd-server", "pki/etcd/server.crt"),
        ("etcd-peer", "pki/etcd/peer.crt"),
    ] {
        let (status, reason) = status_of(&rows, e);
        assert_eq!(status, "pass", "{e}: {reason}");
        assert!(
            reason.starts_with(&format!("serves {file} (serial ")),
            "{e}: {reason}"
        );
    }
    for (e, conf) in [
        ("controller-manager", "controller-manager.conf"),
        ("scheduler", "scheduler.conf"),
    ] {
        let (status, reason) = status_of(&rows, e);
        assert_eq!(status, "fail", "{e}: {reason}");
        assert!(
            reason.contains(&format!("before {conf} was written ("))
                && reason.contains("it still uses the old client certificate"),
            "{e}: {reason}"
        );
        assert!(reason.contains("kcerts restart "), "{e}: {reason}");
    }
    assert_eq!(
        status_of(&rows, "kubelet").0,
        "pass",
        "the kubelet is not renewed"
    );

    // What kubeadm's users do by hand: move the manifests away and back.
    let away = node.root().join("away");
    std::fs::create_dir(&away).unwrap();
    for p in PODS {
        let f = format!("{p}.yaml");
        std::fs::rename(node.manifest(&f), away.join(&f)).unwrap();
    }
    assert!(node.kubelet.wait_running(&[], Duration::from_secs(20)));
    let (code, rows) = node.live_rows();
    assert_eq!(code, 2, "unreachable endpoints warn: {rows:#?}");
    assert!(
        status_of(&rows, "etcd-server")
            .1
            .contains("does not answer (connection refused)")
    );
    for p in PODS {
        let f = format!("{p}.yaml");
        std::fs::rename(away.join(&f), node.manifest(&f)).unwrap();
    }
    assert!(node.kubelet.wait_running(&PODS, Duration::from_secs(20)));
    all_pass(&node).unwrap();
}

/// The serial `openssl s_client` sees on `port` (uppercase hex, as openssl prints it).
fn openssl_serial(port: u16, client: Option<(&Path, &Path)>) -> String {
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec!["s_client", "-connect", &connect, "-showcerts"];
    let (c, k);
    if let Some((cert, key)) = client {
        c = cert.display().to_string();
        k = key.display().to_string();
        args.extend(["-cert", &c, "-key", &k]);
    }
    let mut child = std::process::Command::new("openssl")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "openssl s_client hangs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    let text = stdout(&o);
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a served certificate");
    let end = text[begin..].find("-----END CERTIFICATE-----").unwrap() + begin + 25;
    let dir = tempdir();
    let pem = dir.path().join("served.pem");
    std::fs::write(&pem, &text[begin..end]).unwrap();
    let o = run(
        "openssl",
        ["x509", "-in", pem.to_str().unwrap(), "-noout", "-serial"],
    );
    assert_ok(&o, "openssl x509 -serial");
    stdout(&o).trim().trim_start_matches("serial=").to_string()
}

/// The serial a live reason names.
fn reason_serial(reason: &str) -> String {
    let at = reason.find("serial ").unwrap() + 7;
    reason[at..]
        .split([',', ')'])
        .next()
        .unwrap()
        .to_ascii_uppercase()
}

fn file_serial(path: &Path) -> String {
    let o = run(
        "openssl",
        ["x509", "-in", path.to_str().unwrap(), "-noout", "-serial"],
    );
    stdout(&o).trim().trim_start_matches("serial=").to_string()
}

/// After `renew all`: what `openssl s_client` is served is the renewed file,
/// and the serial `verify --live` names.
#[test]
fn openssl_s_client_sees_what_verify_live_reports() {
    let node = LiveNode::start(62);
    let pki = node.root().join("pki");
    let before = file_serial(&pki.join("apiserver.crt"));
    renew_all(&node);
    assert_ne!(
        before,
        file_serial(&pki.join("apiserver.crt")),
        "renewed: a new serial"
    );
    let (_, rows) = node.live_rows();
    let etcd_client = (
        pki.join("apiserver-etcd-client.crt"),
        pki.join("apiserver-etcd-client.key"),
    );
    for (endpoint, port, client, file) in [
        ("apiserver", node.ports.apiserver, None, "apiserver.crt"),
        (
            "etcd-server",
            node.ports.etcd_client,
            Some((etcd_client.0.as_path(), etcd_client.1.as_path())),
            "etcd/server.crt",
        ),
        ("etcd-peer", node.ports.etcd_peer, None, "etcd/peer.crt"),
    ] {
        let served = openssl_serial(port, client);
        let (status, reason) = status_of(&rows, endpoint);
        assert_eq!(status, "pass", "{endpoint}: {reason}");
        // openssl prints serials with an even number of digits.
        let ours = reason_serial(reason);
        assert_eq!(
            served.trim_start_matches('0'),
            ours.trim_start_matches('0'),
            "{endpoint}: {reason}"
        );
        assert_eq!(
            served,
            file_serial(&pki.join(file)),
            "{endpoint} serves the renewed file"
        );
    }
}

#[test]
fn live_rows_in_prometheus_and_endpoint_overrides() {
    let node = LiveNode::start(63);
    let o = node.kcerts(&["verify", "--live", "-o", "prometheus"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let text = stdout(&o);
    let line = format!(
        "kcerts_live_certificate_matches{{endpoint=\"apiserver\",address=\"127.0.0.1:{}\"}} 1",
        node.ports.apiserver
    );
    assert!(text.contains(&line), "{text}");
    assert!(text.contains("kcerts_live_endpoint_up{endpoint=\"kubelet\""));

    // --endpoint wins over the manifest: a closed port is a warning.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let o = node.kcerts(&[
        "verify",
        "--live",
        "--endpoint",
        &format!("scheduler={closed_addr}"),
        "-o",
        "prometheus",
    ]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stdout(&o).contains(&format!(
        "kcerts_live_endpoint_up{{endpoint=\"scheduler\",address=\"{closed_addr}\"}} 0"
    )));
    let o = node.kcerts(&["verify", "--live", "--endpoint", "etcd=127.0.0.1:1"]);
    assert_eq!(code(&o), 2, "a clap usage error");
    assert!(
        stderr(&o).contains("unknown endpoint \"etcd\""),
        "{}",
        stderr(&o)
    );
}
