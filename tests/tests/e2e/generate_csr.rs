//! `kcerts generate-csr` (issue 11 item 4), as kubeadm's `certs generate-csr`:
//! every key and CSR in kubeadm's layout, 0600, each CSR checked by `openssl req
//! -verify` and against its key, kubeconfigs read by kubectl, nothing overwritten.
//! The CSRs are then signed with openssl (an external CA) and the node they make
//! passes `kcerts verify`'s chain, key and SAN checks.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kcerts_tests::openssl_issue::{Ca, Leaf};
use kcerts_tests::*;

const CONFIG: &str = "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.0.10
  bindPort: 6443
nodeRegistration:
  name: node-a
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: prod
controlPlaneEndpoint: lb.example.com:6443
encryptionAlgorithm: ECDSA-P256
apiServer:
  certSANs: [203.0.113.7]
etcd:
  local:
    serverCertSANs: [etcd.example.com]
";

const CERTS: [&str; 7] = [
    "apiserver",
    "apiserver-kubelet-client",
    "front-proxy-client",
    "etcd/server",
    "etcd/peer",
    "etcd/healthcheck-client",
    "apiserver-etcd-client",
];
const CONFS: [&str; 5] = [
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kubelet.conf",
];

fn openssl(args: &[&str]) -> String {
    let out = run("openssl", args.iter().copied());
    assert_ok(&out, &format!("openssl {args:?}"));
    stdout(&out) + &stderr(&out)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The public key of a CSR and of a key file, as openssl prints them.
fn same_public_key(csr: &Path, key: &Path) {
    let a = openssl(&["req", "-noout", "-pubkey", "-in", csr.to_str().unwrap()]);
    let b = openssl(&["pkey", "-pubout", "-in", key.to_str().unwrap()]);
    assert_eq!(a, b, "{} vs {}", csr.display(), key.display());
}

/// A scratch directory with `kubernetes/` (not created yet) and the configuration.
fn node_dir() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempdir();
    let root = dir.path().join("kubernetes");
    let cfg = dir.path().join("kubeadm.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    (dir, root, cfg)
}

fn generate(root: &Path, cfg: &Path) -> std::process::Output {
    kcerts([
        "generate-csr",
        "--cert-dir",
        root.join("pki").to_str().unwrap(),
        "--kubeconfig-dir",
        root.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ])
}

#[test]
fn keys_and_csrs_as_kubeadm_writes_them() {
    let (dir, root, cfg) = node_dir();
    let out = generate(&root, &cfg);
    assert_ok(&out, "generate-csr");
    let mut want = format!(
        "generating keys and CSRs in {}\n",
        root.join("pki").display()
    );
    for c in CERTS {
        want += &format!("  {c}\n");
    }
    want += &format!("generating keys and CSRs in {}\n", root.display());
    for c in CONFS {
        want += &format!("  {c}\n");
    }
    assert_eq!(stdout(&out), want);
    assert_eq!(stderr(&out), "");

    for c in CERTS {
        let csr = root.join(format!("pki/{c}.csr"));
        let key = root.join(format!("pki/{c}.key"));
        assert_eq!((mode(&csr), mode(&key)), (0o600, 0o600), "{c}");
        let v = openssl(&["req", "-verify", "-noout", "-in", csr.to_str().unwrap()]);
        assert!(v.contains("verify OK"), "{c}: {v}");
        same_public_key(&csr, &key);
        let text = std::fs::read_to_string(&key).unwrap();
        assert!(text.starts_with("-----BEGIN EC PRIVATE KEY-----"), "{c}");
    }
    // Subjects and SANs as kubeadm's init makes them from this configuration (DNS
    // names sorted, as its RemoveDuplicateAltNames; no kubernetesVersion: the
    // apiserver-kubelet-client O that works on every release, kubeadm::version).
    let show = |c: &str| {
        openssl(&[
            "req",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
            "-text",
            "-in",
            root.join(c).to_str().unwrap(),
        ])
    };
    let api = show("pki/apiserver.csr");
    assert!(api.contains("subject=CN=kube-apiserver\n"), "{api}");
    assert!(
        api.contains(
            "DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, \
             DNS:kubernetes.default.svc.cluster.local, DNS:lb.example.com, DNS:node-a, \
             IP Address:10.96.0.1, IP Address:10.0.0.10, IP Address:203.0.113.7"
        ),
        "{api}"
    );
    let etcd = show("pki/etcd/server.csr");
    assert!(etcd.contains("subject=CN=node-a\n"), "{etcd}");
    assert!(
        etcd.contains(
            "DNS:etcd.example.com, DNS:localhost, DNS:node-a, IP Address:10.0.0.10, \
             IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
        ),
        "{etcd}"
    );
    assert!(
        show("pki/apiserver-kubelet-client.csr")
            .contains("subject=CN=kube-apiserver-kubelet-client,O=kubeadm:cluster-admins\n")
    );

    // Kubeconfigs: the server and the key only; kubectl reads them.
    for (c, user, server) in [
        (
            "admin.conf",
            "kubernetes-admin",
            "https://lb.example.com:6443",
        ),
        (
            "super-admin.conf",
            "kubernetes-super-admin",
            "https://lb.example.com:6443",
        ),
        (
            "controller-manager.conf",
            "system:kube-controller-manager",
            "https://10.0.0.10:6443",
        ),
        (
            "scheduler.conf",
            "system:kube-scheduler",
            "https://10.0.0.10:6443",
        ),
        (
            "kubelet.conf",
            "system:node:node-a",
            "https://lb.example.com:6443",
        ),
    ] {
        let conf = root.join(c);
        let csr = root.join(format!("{c}.csr"));
        assert_eq!((mode(&conf), mode(&csr)), (0o600, 0o600), "{c}");
        let v = openssl(&["req", "-verify", "-noout", "-in", csr.to_str().unwrap()]);
        assert!(v.contains("verify OK"), "{c}: {v}");
        let view = |path: &str| kubectl_field(&conf, path);
        assert_eq!(view("{.current-context}"), format!("{user}@prod"), "{c}");
        assert_eq!(view("{.clusters[0].cluster.server}"), server, "{c}");
        assert_eq!(view("{.users[0].user.client-certificate-data}"), "", "{c}");
        assert_eq!(
            view("{.clusters[0].cluster.certificate-authority-data}"),
            "",
            "{c}"
        );
        let key = kubectl_data(&conf, "{.users[0].user.client-key-data}");
        let key_file = dir.path().join("conf.key");
        std::fs::write(&key_file, key).unwrap();
        same_public_key(&csr, &key_file);
        let subject = openssl(&[
            "req",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
            "-in",
            csr.to_str().unwrap(),
        ]);
        assert!(subject.contains(&format!("CN={user}")), "{c}: {subject}");
    }
    let kubelet = openssl(&[
        "req",
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
        "-in",
        root.join("kubelet.conf.csr").to_str().unwrap(),
    ]);
    assert_eq!(
        kubelet.trim(),
        "subject=CN=system:node:node-a,O=system:nodes"
    );
}

#[test]
fn refuses_to_overwrite_and_writes_nothing() {
    let (_dir, root, cfg) = node_dir();
    std::fs::create_dir_all(root.join("pki/etcd")).unwrap();
    std::fs::write(root.join("pki/etcd/peer.key"), "old").unwrap();
    std::fs::write(root.join("scheduler.conf"), "old").unwrap();
    std::fs::write(root.join("admin.conf.csr"), "old").unwrap();
    // kubeadm's CSROrKeyExist refuses a <name>.conf.key too, though it writes none.
    std::fs::write(root.join("kubelet.conf.key"), "old").unwrap();
    let out = generate(&root, &cfg);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!(
            "error: file already exists: key or CSR {pki}/etcd/peer\n\
             error: file already exists: csr: {root}/admin.conf\n\
             error: file already exists: kube config: {root}/scheduler.conf\n\
             error: file already exists: csr: {root}/kubelet.conf\n\
             error: no file was written; move the existing files away or choose other directories\n",
            pki = root.join("pki").display(),
            root = root.display()
        )
    );
    let mut left: Vec<String> = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                left.push(p.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    left.sort();
    assert_eq!(
        left,
        [
            "admin.conf.csr",
            "kubelet.conf.key",
            "pki/etcd/peer.key",
            "scheduler.conf"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(root.join("scheduler.conf")).unwrap(),
        "old"
    );
}

/// The external-CA round trip: openssl signs every CSR with its own CAs, the
/// certificates go beside their keys, and kcerts verify passes the node's leaves.
#[test]
fn signed_by_an_openssl_ca_the_node_verifies() {
    let (dir, root, cfg) = node_dir();
    assert_ok(&generate(&root, &cfg), "generate-csr");
    let pki = root.join("pki");
    for (ca, cn) in [
        ("ca", "kubernetes"),
        ("front-proxy-ca", "front-proxy-ca"),
        ("etcd/ca", "etcd-ca"),
    ] {
        Ca::self_signed(&pki, ca, &format!("/CN={cn}"), 3650);
    }
    let sign = |csr: &Path, ca: &str, eku: &str, out: &Path| {
        // The usages kubeadm puts in each certificate; the SANs come from the CSR.
        let ext =
            format!("keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={eku}\n");
        Ca::at(&pki, ca).issue(&Leaf {
            csr: Some(csr),
            out: Some(out),
            ..Leaf::new(dir.path(), "signing", "", &ext)
        });
    };
    for (base, ca, eku) in [
        ("apiserver", "ca", "serverAuth"),
        ("apiserver-kubelet-client", "ca", "clientAuth"),
        ("front-proxy-client", "front-proxy-ca", "clientAuth"),
        ("etcd/server", "etcd/ca", "serverAuth,clientAuth"),
        ("etcd/peer", "etcd/ca", "serverAuth,clientAuth"),
        ("etcd/healthcheck-client", "etcd/ca", "clientAuth"),
        ("apiserver-etcd-client", "etcd/ca", "clientAuth"),
    ] {
        sign(
            &pki.join(format!("{base}.csr")),
            ca,
            eku,
            &pki.join(format!("{base}.crt")),
        );
    }
    let out = kcerts(
        [
            "verify",
            "--cert-dir",
            pki.to_str().unwrap(),
            "--kubeconfig-dir",
            root.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let text = stdout(&out);
    for base in [
        "apiserver",
        "apiserver-kubelet-client",
        "front-proxy-client",
        "etcd-server",
        "etcd-peer",
        "etcd-healthcheck-client",
        "apiserver-etcd-client",
    ] {
        for check in ["chain", "key", "usage", "subject"] {
            let line = text
                .lines()
                .find(|l| {
                    let f: Vec<_> = l.split_whitespace().collect();
                    f.get(1) == Some(&base) && f.get(2) == Some(&check)
                })
                .unwrap_or_else(|| panic!("no {base} {check} in\n{text}"));
            assert!(line.starts_with("pass"), "{line}");
        }
    }
    for base in ["apiserver", "etcd-server", "etcd-peer"] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(base) && l.contains(" sans "))
            .unwrap();
        assert!(line.starts_with("pass"), "{line}");
    }
}
