//! Changing the SANs of the apiserver and etcd certificates on renewal (issue 11
//! item 3): `--add-san`, `--sans-from-config`, `--dry-run` showing old and new
//! SANs, and verify's check against the configuration. Nodes made by openssl;
//! every renewed certificate is read back with openssl.

use std::path::Path;

use kcerts_core::inventory;
use kcerts_tests::*;

use kcerts_tests::openssl_node::openssl_node;
use kcerts_tests::openssl_read::{check_with_openssl, openssl_extensions};

/// The SAN line openssl prints for a certificate file.
fn openssl_sans(crt: &Path) -> String {
    let out = run(
        "openssl",
        [
            "x509",
            "-noout",
            "-ext",
            "subjectAltName",
            "-in",
            &crt.display().to_string(),
        ],
    );
    assert_ok(&out, "openssl x509 -ext subjectAltName");
    stdout(&out)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn add_san_to_the_apiserver_and_etcd_certificates() {
    let dir = tempdir();
    let root = dir.path().join("kubernetes");
    openssl_node(&root); // node-a, 10.0.0.10; RSA apiserver, EC etcd server, RSA etcd peer
    let api = root.join("pki/apiserver.crt");
    let before = openssl_sans(&api);
    assert_eq!(
        before,
        "DNS:node-a, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, \
         DNS:kubernetes.default.svc.cluster.local, IP Address:10.96.0.1, IP Address:10.0.0.10"
    );
    // --dry-run prints old and new SANs and writes nothing.
    let out = kcerts(cmd_with_dirs(
        &root,
        &["renew", "apiserver"],
        &[
            "--add-san",
            "IP:203.0.113.7,DNS:api.example.com",
            "--dry-run",
        ],
    ));
    assert_ok(&out, "renew --add-san --dry-run");
    let first = stdout(&out).lines().next().unwrap().to_string();
    assert_eq!(
        first,
        "[dry-run] apiserver SANs: DNS:node-a, DNS:kubernetes, DNS:kubernetes.default, \
         DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, IP:10.96.0.1, \
         IP:10.0.0.10 -> DNS:api.example.com, DNS:kubernetes, DNS:kubernetes.default, \
         DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:node-a, \
         IP:10.96.0.1, IP:10.0.0.10, IP:203.0.113.7 (added: DNS:api.example.com, IP:203.0.113.7)"
    );
    assert_eq!(
        openssl_sans(&api),
        before,
        "--dry-run changed the certificate"
    );

    let out = kcerts(cmd_with_dirs(
        &root,
        &["renew", "apiserver"],
        &["--add-san", "IP:203.0.113.7,DNS:api.example.com"],
    ));
    assert_ok(&out, "renew --add-san");
    assert!(stdout(&out).contains("(added: DNS:api.example.com, IP:203.0.113.7)"));
    assert_eq!(
        openssl_sans(&api),
        "DNS:api.example.com, DNS:kubernetes, DNS:kubernetes.default, \
         DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:node-a, \
         IP Address:10.96.0.1, IP Address:10.0.0.10, IP Address:203.0.113.7"
    );
    let scratch = tempdir();
    // openssl verify -purpose sslserver, the key matches, Go's extension order.
    check_with_openssl(&root, inventory::row("apiserver").unwrap(), scratch.path());
    let pem = std::fs::read_to_string(&api).unwrap();
    assert_eq!(
        openssl_extensions(&pem, scratch.path()),
        [
            "Key Usage",
            "Extended Key Usage",
            "Basic Constraints",
            "Authority Key Identifier",
            "Subject Alternative Name"
        ]
    );

    // The node's IP changed: etcd server and peer get the new one (IPv6 too).
    let out = kcerts(cmd_with_dirs(
        &root,
        &["renew", "etcd-server", "etcd-peer"],
        &["--add-san", "IP:10.0.0.99", "--add-san", "IP:fd00::99"],
    ));
    assert_ok(&out, "renew etcd --add-san");
    for (row, file) in [("etcd-server", "server"), ("etcd-peer", "peer")] {
        let sans = openssl_sans(&root.join(format!("pki/etcd/{file}.crt")));
        assert_eq!(
            sans,
            "DNS:localhost, DNS:node-a, IP Address:10.0.0.10, IP Address:127.0.0.1, \
             IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.99, IP Address:FD00:0:0:0:0:0:0:99",
            "{row}"
        );
        check_with_openssl(&root, inventory::row(row).unwrap(), scratch.path());
    }
}

#[test]
fn add_san_refusals() {
    let dir = tempdir();
    let root = dir.path().join("kubernetes");
    openssl_node(&root);
    let refused = |cmd: &[&str], extra: &[&str], want: &str, code: i32| {
        let out = kcerts(cmd_with_dirs(&root, cmd, extra));
        assert_eq!(
            out.status.code(),
            Some(code),
            "{cmd:?} {extra:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(want),
            "{cmd:?} {extra:?}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty());
    };
    refused(
        &["renew", "all"],
        &["--add-san", "IP:10.0.0.99"],
        "error: --add-san changes the apiserver, etcd-server and etcd-peer certificates only, not all",
        1,
    );
    refused(
        &["renew", "apiserver", "admin.conf"],
        &["--add-san", "DNS:x.example.com"],
        "not admin.conf",
        1,
    );
    refused(
        &["renew", "apiserver"],
        &["--add-san", "IP:300.1.1.1"],
        "\"300.1.1.1\" is not an IP address",
        2,
    );
    refused(
        &["renew", "apiserver"],
        &["--add-san", "DNS:Bad_Name"],
        "\"Bad_Name\" is not a valid IP address, DNS name or wildcard DNS name",
        2,
    );
    refused(
        &["renew", "apiserver"],
        &["--sans-from-config"],
        "error: --sans-from-config needs the cluster's configuration, and none was read",
        1,
    );
}

#[test]
fn sans_from_config_then_verify_passes() {
    let dir = tempdir();
    let root = dir.path().join("kubernetes");
    openssl_node(&root);
    let cfg = dir.path().join("kubeadm.yaml");
    std::fs::write(
        &cfg,
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {advertiseAddress: 10.0.0.10}
nodeRegistration: {name: node-a}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
controlPlaneEndpoint: lb.example.com:6443
apiServer:
  certSANs: [198.51.100.9, '*.apps.example.com']
etcd:
  local:
    peerCertSANs: [10.0.0.200]
",
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    let sans_rows = |out: &std::process::Output| -> Vec<String> {
        stdout(out)
            .lines()
            .filter(|l| l.contains(" sans "))
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect()
    };
    let out = kcerts(cmd_with_dirs(&root, &["verify"], &["--config", &cfg]));
    assert_eq!(
        sans_rows(&out),
        ["fail apiserver", "fail etcd-peer", "pass etcd-server"],
        "{}",
        stdout(&out)
    );
    let out = kcerts(cmd_with_dirs(
        &root,
        &["renew", "all"],
        &["--sans-from-config", "--config", &cfg],
    ));
    assert_ok(&out, "renew all --sans-from-config");
    let text = stdout(&out);
    assert!(
        text.contains("(added: DNS:lb.example.com, DNS:*.apps.example.com, IP:198.51.100.9)\n"),
        "{text}"
    );
    assert!(
        text.contains("[renew] etcd-server already has every SAN asked for"),
        "{text}"
    );
    assert!(text.contains("(added: IP:10.0.0.200)\n"), "{text}");
    assert_eq!(
        openssl_sans(&root.join("pki/apiserver.crt")),
        "DNS:*.apps.example.com, DNS:kubernetes, DNS:kubernetes.default, \
         DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, \
         DNS:lb.example.com, DNS:node-a, IP Address:10.96.0.1, IP Address:10.0.0.10, \
         IP Address:198.51.100.9"
    );
    let scratch = tempdir();
    for row in ["apiserver", "etcd-peer"] {
        check_with_openssl(&root, inventory::row(row).unwrap(), scratch.path());
    }
    let out = kcerts(cmd_with_dirs(&root, &["verify"], &["--config", &cfg]));
    assert_eq!(
        sans_rows(&out),
        ["pass apiserver", "pass etcd-peer", "pass etcd-server"],
        "{}",
        stdout(&out)
    );
}
