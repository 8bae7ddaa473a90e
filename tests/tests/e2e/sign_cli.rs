//! `kcerts sign`: the external-CA side of `renew --csr-only`, checked with openssl.

use kcerts_tests::*;

use kcerts_tests::run_in_node::*;

#[test]
fn csr_only_then_sign_gives_what_kubeadm_would() {
    let n = NodeDir::new(51);
    let root = n.root();
    let o = kcerts_in(
        root,
        &[
            "renew",
            "etcd-server",
            "apiserver",
            "--cert-dir",
            "pki",
            "--kubeconfig-dir",
            ".",
            "--csr-only",
            "--csr-dir",
            "csrs",
            "--key-algorithm",
            "ECDSA-P256",
        ],
    );
    assert_ok(&o, "renew --csr-only");
    let o = kcerts_in(
        root,
        &[
            "sign",
            "--csr",
            "csrs/etcd-server.csr",
            "--ca-cert",
            "pki/etcd/ca.crt",
            "--ca-key",
            "pki/etcd/ca.key",
            "--role",
            "etcd-server",
            "--out",
            "etcd-server.crt",
            "--at",
            AT,
        ],
    );
    assert_ok(&o, "sign etcd-server");
    assert_eq!(
        stderr(&o),
        "[sign] wrote etcd-server.crt for CN=cp-1 until Mar 01, 2027 12:00 UTC\n"
    );
    // openssl agrees: it chains to the etcd CA, is valid for TLS server and client use,
    // and matches the key written by --csr-only.
    let v = run(
        "openssl",
        [
            "verify",
            "-CAfile",
            &root.join("pki/etcd/ca.crt").display().to_string(),
            "-purpose",
            "sslserver",
            "-attime",
            "1772370000",
            &root.join("etcd-server.crt").display().to_string(),
        ],
    );
    assert_ok(&v, "openssl verify sslserver");
    let text = stdout(&run(
        "openssl",
        [
            "x509",
            "-noout",
            "-text",
            "-in",
            &root.join("etcd-server.crt").display().to_string(),
        ],
    ));
    assert!(
        text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{text}"
    );
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
    assert!(text.contains("DNS:cp-1, DNS:localhost"), "{text}");
    let o = kcerts_in(
        root,
        &[
            "inspect",
            "--at",
            AT,
            "etcd-server.crt",
            "csrs/etcd-server.key",
        ],
    );
    assert!(
        stdout(&o).contains("Matches:             etcd-server.crt"),
        "{}",
        stdout(&o)
    );

    // The apiserver CSR under the wrong role or CA is refused, then forced.
    let o = kcerts_in(
        root,
        &[
            "sign",
            "--csr",
            "csrs/apiserver.csr",
            "--ca-cert",
            "pki/ca.crt",
            "--ca-key",
            "pki/ca.key",
            "--role",
            "front-proxy-client",
            "--at",
            AT,
        ],
    );
    assert_eq!(code(&o), 1);
    assert_eq!(
        stderr(&o),
        "error: cannot sign csrs/apiserver.csr: the request does not fit front-proxy-client: \
CN is \"kube-apiserver\"; kubeadm's front-proxy-client has CN \"front-proxy-client\"; check \
the request, or pass --force to sign it anyway\n"
    );
    let o = kcerts_in(
        root,
        &[
            "sign",
            "--csr",
            "csrs/apiserver.csr",
            "--ca-cert",
            "pki/etcd/ca.crt",
            "--ca-key",
            "pki/etcd/ca.key",
            "--role",
            "apiserver",
            "--at",
            AT,
        ],
    );
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains(
            "apiserver is signed by the ca CA (CN \"kubernetes\"), but this CA's CN is \"etcd-ca\""
        ),
        "{}",
        stderr(&o)
    );
    let o = kcerts_in(
        root,
        &[
            "sign",
            "--csr",
            "csrs/apiserver.csr",
            "--ca-cert",
            "pki/ca.crt",
            "--ca-key",
            "pki/ca.key",
            "--usage",
            "server",
            "--validity",
            "720h",
            "--at",
            AT,
        ],
    );
    assert_ok(&o, "sign --usage server");
    assert!(stdout(&o).starts_with("-----BEGIN CERTIFICATE-----\n"));
}

#[test]
fn a_mismatched_ca_key_is_refused() {
    let n = NodeDir::new(52);
    let root = n.root();
    let o = kcerts_in(
        root,
        &[
            "renew",
            "admin.conf",
            "--cert-dir",
            "pki",
            "--kubeconfig-dir",
            ".",
            "--csr-only",
            "--csr-dir",
            "csrs",
        ],
    );
    assert_ok(&o, "renew --csr-only");
    let o = kcerts_in(
        root,
        &[
            "sign",
            "--csr",
            "csrs/admin.conf.csr",
            "--ca-cert",
            "pki/ca.crt",
            "--ca-key",
            "pki/front-proxy-ca.key",
            "--role",
            "admin.conf",
        ],
    );
    assert_eq!(code(&o), 1);
    assert_eq!(
        stderr(&o),
        "error: pki/ca.crt and pki/front-proxy-ca.key: the CA private key does not match the CA certificate\n"
    );
}
