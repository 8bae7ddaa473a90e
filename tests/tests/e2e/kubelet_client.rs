//! `kcerts kubelet client`: on a control-plane node (the CA key there), and on a
//! worker (`--csr-only`, `sign --role kubelet-client`, `--cert/--key`); the pair
//! file, the link and kubelet.conf checked with openssl and kubectl; a write
//! that fails at its last step leaves the node as it was.

use std::path::Path;

use kcerts_core::kubelet;
use kcerts_core::{KeyAlgorithm, PrivateKey};
use kcerts_tests::kubelet_node::{check_installed, kubelet_args, node};
use kcerts_tests::openssl_read::assert_verifies;
use kcerts_tests::*;

#[test]
fn control_plane_issues_and_points_kubelet_conf_at_the_link() {
    let tmp = tempdir();
    let (root, kl) = node(tmp.path());
    let out = kcerts(kubelet_args(&root, &kl, &["kubelet", "client"]));
    assert_ok(&out, "kubelet client");
    let text = stdout(&out);
    assert!(text.contains("CN=system:node:"), "{text}");
    assert!(
        text.contains("(ECDSA P-256)"),
        "kept the current key's kind: {text}"
    );
    // The example node is named after its etcd server certificate's CN.
    let node = kcerts_core::certificate::parse_first(
        &std::fs::read(root.join("pki/etcd/server.crt")).unwrap(),
    )
    .unwrap()
    .common_name
    .unwrap();
    let first = check_installed(&root, &kl, &node);

    // Again, a second later: a new pair file, the link replaced, the old file kept.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = kcerts(kubelet_args(
        &root,
        &kl,
        &["kubelet", "client", "--key-algorithm", "RSA-2048"],
    ));
    assert_ok(&out, "kubelet client again");
    assert!(stdout(&out).contains("(RSA 2048)"));
    let second = check_installed(&root, &kl, &node);
    assert_ne!(first, second);
    assert!(first.exists());
}

#[test]
fn a_failed_commit_leaves_link_and_kubelet_conf_as_they_were() {
    let tmp = tempdir();
    let (root, kl) = node(tmp.path());
    assert_ok(
        &kcerts(kubelet_args(&root, &kl, &["kubelet", "client"])),
        "first",
    );
    let link_before = std::fs::read_link(kl.join(kubelet::CLIENT_CURRENT)).unwrap();
    let conf_before = std::fs::read(root.join("kubelet.conf")).unwrap();
    // A real run, tracing its steps, then undone by `kcerts restore`.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let trace = std::process::Command::new(kcerts_bin())
        .args(kubelet_args(&root, &kl, &["kubelet", "client"]))
        .env("KCERTS_TEST_FAULT_TRACE", "1")
        .output()
        .unwrap();
    assert_ok(&trace, "traced run");
    let last = stderr(&trace)
        .lines()
        .filter(|l| l.contains(": replace ") && l.ends_with("kubelet.conf"))
        .map(|l| {
            l.trim_start_matches("kcerts-test: step ")
                .split(':')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .next()
        .unwrap_or_else(|| panic!("no kubelet.conf step: {}", stderr(&trace)));
    assert_ne!(
        std::fs::read_link(kl.join(kubelet::CLIENT_CURRENT)).unwrap(),
        link_before
    );
    let backup = stdout(&trace)
        .lines()
        .find_map(|l| l.strip_prefix("[kubelet] backed up 2 files to "))
        .unwrap_or_else(|| panic!("{}", stdout(&trace)))
        .to_string();
    let restored = kcerts(
        ["restore", "--backup-dir", &backup, "--kubelet-pki-dir"]
            .into_iter()
            .map(String::from)
            .chain([kl.display().to_string()])
            .chain(dir_args(&root)),
    );
    assert_ok(&restored, "restore");
    assert_eq!(
        std::fs::read_link(kl.join(kubelet::CLIENT_CURRENT)).unwrap(),
        link_before
    );
    assert_eq!(
        std::fs::read(root.join("kubelet.conf")).unwrap(),
        conf_before
    );

    // The same run failing at its last rename puts everything back itself.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let failed = std::process::Command::new(kcerts_bin())
        .args(kubelet_args(&root, &kl, &["kubelet", "client"]))
        .env("KCERTS_TEST_FAULT_STEP", last.to_string())
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("every file was put back"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(
        std::fs::read_link(kl.join(kubelet::CLIENT_CURRENT)).unwrap(),
        link_before
    );
    assert_eq!(
        std::fs::read(root.join("kubelet.conf")).unwrap(),
        conf_before
    );
    let pem_files: Vec<_> = std::fs::read_dir(&kl)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("kubelet-client-2"))
        .collect();
    assert_eq!(
        pem_files.len(),
        1,
        "the new pair file was removed: {pem_files:?}"
    );
}

#[test]
fn worker_csr_signed_on_the_control_plane_then_installed() {
    let tmp = tempdir();
    let (root, kl) = node(tmp.path());
    let csr_dir = tmp.path().join("csr");
    let out = kcerts(kubelet_args(
        &root,
        &kl,
        &[
            "kubelet",
            "client",
            "--node-name",
            "worker-1",
            "--csr-only",
            "--csr-dir",
            csr_dir.to_str().unwrap(),
        ],
    ));
    assert_ok(&out, "csr-only");
    let csr = csr_dir.join("kubelet-client.csr");
    let subject = run(
        "openssl",
        [
            "req",
            "-in",
            csr.to_str().unwrap(),
            "-noout",
            "-verify",
            "-subject",
            "-nameopt",
            "compat",
        ],
    );
    assert_ok(&subject, "openssl req");
    assert!(
        stdout(&subject).contains("O=system:nodes/CN=system:node:worker-1"),
        "{}",
        stdout(&subject)
    );
    let ca_cert = root.join("pki/ca.crt");
    let ca_key = root.join("pki/ca.key");
    let sign = |node: &str, out: &Path| {
        kcerts([
            "sign",
            "--role",
            "kubelet-client",
            "--node-name",
            node,
            "--csr",
            csr.to_str().unwrap(),
            "--ca-cert",
            ca_cert.to_str().unwrap(),
            "--ca-key",
            ca_key.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
    };
    let wrong = sign("worker-2", &tmp.path().join("wrong.crt"));
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("system:node:worker-2"),
        "{}",
        stderr(&wrong)
    );
    let signed = tmp.path().join("kubelet-client.crt");
    assert_ok(&sign("worker-1", &signed), "sign");
    assert_verifies(&ca_cert, &signed, "sslclient");

    // Installing with a key that is not the request's is refused.
    let other = tmp.path().join("other.key");
    std::fs::write(
        &other,
        PrivateKey::generate(KeyAlgorithm::EcdsaP256, &mut kcerts_core::seeded_rng(1))
            .unwrap()
            .to_pem(),
    )
    .unwrap();
    let key = csr_dir.join("kubelet-client.key");
    let bad = kcerts(kubelet_args(
        &root,
        &kl,
        &[
            "kubelet",
            "client",
            "--cert",
            signed.to_str().unwrap(),
            "--key",
            other.to_str().unwrap(),
        ],
    ));
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("do not match"), "{}", stderr(&bad));
    assert!(!kl.join(kubelet::CLIENT_CURRENT).exists());

    let ok = kcerts(kubelet_args(
        &root,
        &kl,
        &[
            "kubelet",
            "client",
            "--cert",
            signed.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    ));
    assert_ok(&ok, "install");
    check_installed(&root, &kl, "worker-1");
}
