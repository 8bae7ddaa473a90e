//! Weak cryptography (issue 23, item 4): certificates and requests openssl makes
//! with SHA-1 signatures and RSA-1024 keys are flagged by `verify` and `inspect`
//! (a warning, the node keeps working) and refused by `sign`, naming why.
//! (`approve kubelet-serving` refuses the same requests: approve.rs.)

use std::path::Path;

use kcerts_tests::openssl_issue::{Ca, Leaf};
use kcerts_tests::*;

const CLIENT_EXT: &str = "basicConstraints=critical,CA:FALSE\n\
    keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n";

/// A node whose front-proxy-client openssl re-issued with SHA-1 and whose
/// apiserver-kubelet-client is on a new RSA-1024 key (key files beside them).
fn weak_node() -> NodeDir {
    let n = NodeDir::new(81);
    let pki = n.root().join("pki");
    Ca::at(&pki, "front-proxy-ca").issue(&Leaf {
        digest: Some("sha1"),
        ..Leaf::new(
            &pki,
            "front-proxy-client",
            "/CN=front-proxy-client",
            CLIENT_EXT,
        )
    });
    Ca::at(&pki, "ca").issue(&Leaf {
        rsa_bits: Some(1024),
        ..Leaf::new(
            &pki,
            "apiserver-kubelet-client",
            "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client",
            CLIENT_EXT,
        )
    });
    n
}

#[test]
fn verify_warns_on_sha1_signatures_and_rsa_1024_keys() {
    let n = weak_node();
    let o = n.kcerts(&["verify", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", stdout(&o), stderr(&o));
    });
    let crypto: Vec<(String, String, String)> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "crypto")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("target"), s("status"), s("reason"))
        })
        .collect();
    assert_eq!(
        crypto.len(),
        2,
        "one row each, nothing else flagged: {crypto:?}"
    );
    assert_eq!(crypto[0].0, "apiserver-kubelet-client", "{crypto:?}");
    assert_eq!(crypto[0].1, "warn");
    assert!(
        crypto[0]
            .2
            .starts_with("an RSA key of 1024 bits, under 2048"),
        "{crypto:?}"
    );
    assert_eq!(crypto[1].0, "front-proxy-client", "{crypto:?}");
    assert_eq!(crypto[1].1, "warn");
    assert!(
        crypto[1]
            .2
            .starts_with("signed with ECDSA-SHA1: SHA-1 collisions"),
        "{crypto:?}"
    );
    // The text table says it too.
    let text = stdout(&n.kcerts(&["verify"]));
    assert!(
        text.lines()
            .any(|l| l.contains("front-proxy-client") && l.contains("crypto")),
        "{text}"
    );

    // A node kcerts made has none.
    let clean = NodeDir::new(82);
    let o = clean.kcerts(&["verify", "-o", "json"]);
    assert!(!stdout(&o).contains("\"crypto\""), "{}", stdout(&o));
}

#[test]
fn inspect_warns_on_sha1_signatures_and_rsa_1024_keys() {
    let n = weak_node();
    let pki = n.root().join("pki");
    let files: Vec<String> = [
        "front-proxy-client.crt",
        "apiserver-kubelet-client.crt",
        "ca.crt",
    ]
    .iter()
    .map(|f| pki.join(f).display().to_string())
    .collect();
    let o = kcerts(["inspect".to_string()].into_iter().chain(files.clone()));
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        text.contains("signed with ECDSA-SHA1: SHA-1 collisions can be forged"),
        "{text}"
    );
    assert!(
        text.contains("an RSA key of 1024 bits, under 2048"),
        "{text}"
    );
    let o = kcerts(
        ["inspect", "-o", "json"]
            .map(String::from)
            .into_iter()
            .chain(files),
    );
    let json = stdout(&o);
    assert_eq!(
        json.matches("SHA-1 collisions can be forged").count(),
        1,
        "{json}"
    );
    assert_eq!(json.matches("an RSA key of 1024 bits").count(), 1, "{json}");
}

#[test]
fn sign_refuses_sha1_and_rsa_1024_requests_naming_why() {
    let n = weak_node();
    let root = n.root();
    let pki = root.join("pki");
    let sign = |csr: &Path, role: &str, ca: &str| {
        kcerts([
            "sign",
            "--csr",
            &csr.display().to_string(),
            "--ca-cert",
            &pki.join(format!("{ca}.crt")).display().to_string(),
            "--ca-key",
            &pki.join(format!("{ca}.key")).display().to_string(),
            "--role",
            role,
            "--out",
            &root.join("signed.crt").display().to_string(),
        ])
    };
    // The requests openssl made for the two certificates above.
    let o = sign(
        &pki.join("front-proxy-client.csr"),
        "front-proxy-client",
        "front-proxy-ca",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the request is refused: signed with ECDSA-SHA1"),
        "{}",
        stderr(&o)
    );
    let o = sign(
        &pki.join("apiserver-kubelet-client.csr"),
        "apiserver-kubelet-client",
        "ca",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the request is refused: an RSA key of 1024 bits, under 2048"),
        "{}",
        stderr(&o)
    );
    assert!(!root.join("signed.crt").exists(), "nothing written");

    // The same request on a strong key is signed.
    let work = root.join("work");
    std::fs::create_dir(&work).unwrap();
    Ca::at(&pki, "ca").issue(&Leaf {
        rsa_bits: Some(2048),
        ..Leaf::new(
            &work,
            "strong",
            "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client",
            CLIENT_EXT,
        )
    });
    let o = sign(&work.join("strong.csr"), "apiserver-kubelet-client", "ca");
    assert_ok(&o, "sign a strong request");
}
