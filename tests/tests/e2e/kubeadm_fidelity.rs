//! Where kcerts follows kubeadm closely (issue 11): the key algorithm kept on
//! renewal, certificate layout as Go writes it, several O values, kubeadm's
//! refusals. Every renewed certificate is read back with openssl.

use std::path::Path;

use kcerts_core::inventory::{self, Row};
use kcerts_tests::*;

use kcerts_tests::node_rows::row_pems;
use kcerts_tests::openssl_issue::{Ca, Leaf};
use kcerts_tests::openssl_node::openssl_node;
use kcerts_tests::openssl_read::{check_with_openssl, openssl_extensions, openssl_key};

/// What Go writes for a kubeadm leaf, in order (SAN only when there are names).
fn go_extension_order(with_sans: bool) -> Vec<String> {
    let mut v = vec![
        "Key Usage",
        "Extended Key Usage",
        "Basic Constraints",
        "Authority Key Identifier",
    ];
    if with_sans {
        v.push("Subject Alternative Name");
    }
    v.into_iter().map(String::from).collect()
}

fn renew(root: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["renew".to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(dir_args(root));
    kcerts(&args)
}

fn keys_of(root: &Path, scratch: &Path) -> Vec<(&'static Row, String)> {
    inventory::ROWS
        .iter()
        .map(|row| (row, openssl_key(&row_pems(root, row).0, scratch)))
        .collect()
}

#[test]
fn renewal_keeps_each_key_type_and_size_on_an_openssl_node() {
    let dir = tempdir();
    let root = dir.path();
    openssl_node(root);
    let scratch = tempdir();
    let before = keys_of(root, scratch.path());
    // The fixture really mixes algorithms, or this test would prove nothing.
    let kinds: std::collections::BTreeSet<_> = before.iter().map(|(_, k)| k.clone()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["EC P-256", "EC P-384", "RSA 2048"]
    );

    let out = renew(root, &["all", "--dry-run"]);
    assert_ok(&out, "renew all --dry-run");
    let text = stdout(&out);
    for (row, key) in &before {
        let name = match key.as_str() {
            "EC P-256" => "ECDSA-P256",
            "EC P-384" => "ECDSA-P384",
            _ => "RSA-2048",
        };
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("[dry-run] would renew {} until", row.name)))
            .unwrap_or_else(|| panic!("no dry-run line for {}:\n{text}", row.name));
        assert!(
            line.contains(&format!(" with a new {name} key: ")),
            "{line}"
        );
    }

    assert_ok(&renew(root, &["all"]), "renew all");
    let after = keys_of(root, scratch.path());
    for ((row, old), (_, new)) in before.iter().zip(&after) {
        assert_eq!(new, old, "{}: key type changed", row.name);
        check_with_openssl(root, row, scratch.path());
        let pem = row_pems(root, row).0;
        let with_sans = !kcerts_core::certificate::parse_first(pem.as_bytes())
            .unwrap()
            .dns_names
            .is_empty();
        assert_eq!(
            openssl_extensions(&pem, scratch.path()),
            go_extension_order(with_sans),
            "{}",
            row.name
        );
    }
}

#[test]
fn an_ecdsa_node_stays_ecdsa_and_key_algorithm_overrides() {
    let n = NodeDir::now(31);
    let root = n.root();
    let scratch = tempdir();
    assert_ok(&renew(root, &["apiserver", "admin.conf"]), "renew");
    for name in ["apiserver", "admin.conf"] {
        let row = inventory::row(name).unwrap();
        assert_eq!(
            openssl_key(&row_pems(root, row).0, scratch.path()),
            "EC P-256"
        );
    }
    assert_ok(
        &renew(root, &["apiserver", "--key-algorithm", "ECDSA-P384"]),
        "renew --key-algorithm",
    );
    let row = inventory::row("apiserver").unwrap();
    assert_eq!(
        openssl_key(&row_pems(root, row).0, scratch.path()),
        "EC P-384"
    );
    check_with_openssl(root, row, scratch.path());
}

#[test]
fn every_organization_is_kept_as_openssl_shows_it() {
    let dir = tempdir();
    let root = dir.path();
    openssl_node(root);
    // Re-issue apiserver-kubelet-client with two O values, as openssl writes them
    // (one RDN each).
    let pki = root.join("pki");
    let p = |f: &str| pki.join(f).display().to_string();
    Ca::at(&pki, "ca").issue(&Leaf {
        key: Some(&pki.join("apiserver-kubelet-client.key")),
        out: Some(&pki.join("apiserver-kubelet-client.crt")),
        ..Leaf::new(
            &pki,
            "two-o",
            "/O=system:masters/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client",
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=clientAuth\nauthorityKeyIdentifier=keyid\n",
        )
    });
    for f in ["two-o.ext", "two-o.csr", "ca.srl"] {
        let _ = std::fs::remove_file(pki.join(f));
    }
    // --csr-only keeps both O values too, in one RDN as Go's CreateCertificateRequest.
    let csr_dir = tempdir();
    let mut csr_args = vec![
        "renew".to_string(),
        "apiserver-kubelet-client".into(),
        "--csr-only".into(),
        "--csr-dir".into(),
        csr_dir.path().display().to_string(),
    ];
    csr_args.extend(dir_args(root));
    assert_ok(&kcerts(csr_args), "renew --csr-only");
    let csr = csr_dir
        .path()
        .join("apiserver-kubelet-client.csr")
        .display()
        .to_string();
    let out = run(
        "openssl",
        [
            "req", "-noout", "-verify", "-subject", "-nameopt", "RFC2253", "-in", &csr,
        ],
    );
    assert_ok(&out, "openssl req -verify");
    assert!(stderr(&out).contains("verify OK") || stdout(&out).contains("verify OK"));
    assert!(
        stdout(&out).contains(
            "subject=CN=kube-apiserver-kubelet-client,O=kubeadm:cluster-admins+O=system:masters"
        ),
        "{}",
        stdout(&out)
    );
    assert_ok(&renew(root, &["apiserver-kubelet-client"]), "renew");
    let out = run(
        "openssl",
        [
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
            "-in",
            &p("apiserver-kubelet-client.crt"),
        ],
    );
    assert_ok(&out, "openssl x509 -subject");
    // Go's pkix.Name: both O values in one RDN (a DER SET, so the shorter
    // system:masters first), then CN. RFC 2253 prints everything last first.
    assert_eq!(
        stdout(&out).trim(),
        "subject=CN=kube-apiserver-kubelet-client,O=kubeadm:cluster-admins+O=system:masters"
    );
    let renewed = kcerts_core::certificate::parse_first(
        &std::fs::read(pki.join("apiserver-kubelet-client.crt")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        renewed.organizations,
        ["system:masters", "kubeadm:cluster-admins"]
    );
    let scratch = tempdir();
    let row = inventory::row("apiserver-kubelet-client").unwrap();
    check_with_openssl(root, row, scratch.path());
    assert_eq!(
        openssl_extensions(&row_pems(root, row).0, scratch.path()),
        go_extension_order(false)
    );
}

fn check_expiration(root: &Path) -> std::process::Output {
    let mut args = vec!["check-expiration".to_string()];
    args.extend(dir_args(root));
    kcerts(&args)
}

#[test]
fn no_node_at_all_is_one_error_naming_both_paths() {
    let dir = tempdir();
    let root = dir.path().join("nothing-here");
    let out = check_expiration(&root);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let pki = root.join("pki").display().to_string();
    assert_eq!(
        stderr(&out),
        format!(
            "error: no kubeadm node here: neither {pki} nor any kubeconfig in {} exists\n\
             hint: point kcerts at the node's files with --cert-dir and --kubeconfig-dir\n",
            root.display()
        )
    );
    // renew refuses the same way; an existing but empty cert dir is still a node.
    let mut args = vec!["renew".to_string(), "all".into()];
    args.extend(dir_args(&root));
    assert_eq!(kcerts(&args).status.code(), Some(1));
    std::fs::create_dir_all(root.join("pki")).unwrap();
    let out = check_expiration(&root);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("!MISSING! apiserver"));
}

#[test]
fn kubeadms_refusals_on_broken_pkis_in_its_own_words() {
    let cases: [(&[&str], String); 3] = [
        (
            &["pki/ca.crt"],
            "Error checking external CA condition for ca certificate authority: failure loading \
             certificate for CA: couldn't load the certificate file {P}/ca.crt: open {P}/ca.crt: \
             no such file or directory"
                .into(),
        ),
        (
            &["pki/etcd/ca.crt"],
            "Error checking external CA condition for etcd/ca certificate authority: failure \
             loading certificate for etcd CA: couldn't load the certificate file {P}/etcd/ca.crt: \
             open {P}/etcd/ca.crt: no such file or directory"
                .into(),
        ),
        (
            &["pki/ca.key", "pki/apiserver-kubelet-client.key"],
            "Error checking external CA condition for ca certificate authority: failure loading \
             key for apiserver-kubelet-client: couldn't load the private key file \
             {P}/apiserver-kubelet-client.key: open {P}/apiserver-kubelet-client.key: no such \
             file or directory"
                .into(),
        ),
    ];
    for (i, (gone, want)) in cases.iter().enumerate() {
        let n = NodeDir::now(50 + i as u64);
        let root = n.root();
        for f in *gone {
            std::fs::remove_file(root.join(f)).unwrap();
        }
        let want = want.replace("{P}", &root.join("pki").display().to_string());
        for cmd in ["check-expiration", "renew"] {
            let mut args = vec![cmd.to_string()];
            if cmd == "renew" {
                args.push("all".into());
            }
            args.extend(dir_args(root));
            let out = kcerts(&args);
            assert_eq!(out.status.code(), Some(1), "{cmd} {gone:?}");
            assert_eq!(stdout(&out), "", "{cmd} {gone:?}: no table");
            assert_eq!(stderr(&out), format!("error: {want}\n"), "{cmd} {gone:?}");
        }
    }
    // An external CA whose leaf no longer verifies now (expired): refused too.
    let n = NodeDir::now(60);
    let root = n.root();
    std::fs::remove_file(root.join("pki/front-proxy-ca.key")).unwrap();
    let mut args = vec![
        "check-expiration".to_string(),
        "--at".into(),
        "2099-01-01T00:00:00Z".into(),
    ];
    args.extend(dir_args(root));
    let out = kcerts(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(
            "error: Error checking external CA condition for front-proxy-ca certificate \
             authority: certificate front-proxy client is not signed by corresponding CA: x509: \
             certificate has expired or is not yet valid: current time 2099-01-01T00:00:00Z is \
             after "
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_leaf_carrying_intermediates_up_to_an_external_ca_is_accepted_and_verified() {
    let dir = tempdir();
    let root = dir.path();
    openssl_node(root);
    let pki = root.join("pki");
    let p = |f: &str| pki.join(f).display().to_string();
    let int = Ca::at(&pki, "ca")
        .issue(&Leaf::new(
            &pki,
            "int",
            "/CN=intermediate-ca",
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,digitalSignature\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        ))
        .into_ca();
    int.issue(&Leaf {
        key: Some(&pki.join("apiserver.key")),
        ..Leaf::new(
            &pki,
            "a",
            "/CN=kube-apiserver",
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\n\
             subjectAltName=DNS:node-a,DNS:kubernetes,IP:10.96.0.1\n",
        )
    });
    let bundle = [
        std::fs::read_to_string(pki.join("a.crt")).unwrap(),
        std::fs::read_to_string(pki.join("int.crt")).unwrap(),
    ]
    .concat();
    std::fs::write(pki.join("apiserver.crt"), bundle).unwrap();
    for f in [
        "int.ext", "a.ext", "int.csr", "a.csr", "a.crt", "int.crt", "int.key", "ca.srl", "int.srl",
        "ca.key",
    ] {
        let _ = std::fs::remove_file(pki.join(f));
    }
    // openssl agrees the file chains to the CA through its intermediate.
    let out = run(
        "openssl",
        [
            "verify",
            "-CAfile",
            &p("ca.crt"),
            "-untrusted",
            &p("apiserver.crt"),
            &p("apiserver.crt"),
        ],
    );
    assert_ok(&out, "openssl verify");

    let mut args = vec!["check-expiration".to_string(), "-o".into(), "json".into()];
    args.extend(dir_args(root));
    let out = kcerts(&args);
    assert_ok(&out, "check-expiration");
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let apiserver = json["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "apiserver")
        .unwrap()
        .clone();
    assert_eq!(apiserver["externallyManaged"], true, "{apiserver}");

    let mut args = vec!["verify".to_string(), "-o".into(), "json".into()];
    args.extend(dir_args(root));
    let out = kcerts(&args);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let chain = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"] == "apiserver" && c["check"] == "chain")
        .unwrap()
        .clone();
    assert_eq!(chain["status"], "pass", "{chain}");
    assert!(
        chain["reason"]
            .as_str()
            .unwrap()
            .contains("through the 1 intermediate"),
        "{chain}"
    );
}
