//! `kcerts inspect`: snapshots of the text and JSON forms, chains, keys,
//! kubeconfigs, CSRs and bad input.

use insta::assert_snapshot;
use kcerts_tests::*;

use kcerts_tests::run_in_node::*;

#[test]
fn inspect_a_chain_a_key_a_kubeconfig_and_a_public_key() {
    let n = NodeDir::new(21);
    let root = n.root();
    // A chain: leaf then CA, in one file.
    let mut chain = std::fs::read(root.join("pki/apiserver.crt")).unwrap();
    chain.extend(std::fs::read(root.join("pki/ca.crt")).unwrap());
    std::fs::write(root.join("chain.pem"), chain).unwrap();
    let o = kcerts_in(
        root,
        &[
            "inspect",
            "--at",
            AT,
            "chain.pem",
            "pki/apiserver.key",
            "admin.conf",
            "pki/sa.pub",
            "pki/sa.key",
        ],
    );
    assert_ok(&o, "inspect");
    let text = stdout(&o);
    assert!(
        !text.contains("PRIVATE KEY"),
        "key material must never be printed"
    );
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    insta::with_settings!({description => "inspect (text) of a chain (apiserver then CA), apiserver.key, admin.conf, sa.pub and sa.key of the example node (seed 21)"}, {
        assert_snapshot!("inspect_text", text);
    });
    let o = kcerts_in(
        root,
        &[
            "inspect",
            "--at",
            AT,
            "-o",
            "json",
            "chain.pem",
            "pki/apiserver.key",
        ],
    );
    assert_ok(&o, "inspect -o json");
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 3);
    assert_eq!(json["links"][0]["child"], 0);
    assert_eq!(json["links"][0]["issuer"], 1);
    assert_eq!(json["keyMatches"][0]["key"], 2);
    assert_eq!(
        json["items"][0]["signatureAlgorithmName"],
        "ecdsa-with-SHA256"
    );
    assert_eq!(json["items"][0]["certificate"]["publicKey"], "ECDSA P-256");
    assert!(!stdout(&o).contains("PRIVATE KEY"));
}

#[test]
fn inspect_der_and_a_csr_match_openssl() {
    let n = NodeDir::new(22);
    let root = n.root();
    let openssl = |args: &[&str]| {
        let o = std::process::Command::new("openssl")
            .current_dir(root)
            .args(args)
            .output()
            .unwrap();
        assert_ok(&o, &format!("openssl {}", args.join(" ")));
        stdout(&o)
    };
    openssl(&[
        "x509",
        "-in",
        "pki/apiserver.crt",
        "-outform",
        "DER",
        "-out",
        "apiserver.der",
    ]);
    let fp = openssl(&[
        "x509",
        "-noout",
        "-fingerprint",
        "-sha256",
        "-in",
        "pki/apiserver.crt",
    ]);
    let fp = fp.trim().split('=').nth(1).unwrap().to_string();
    let o = kcerts_in(root, &["inspect", "--at", AT, "apiserver.der"]);
    assert_ok(&o, "inspect DER");
    assert!(
        stdout(&o).contains(&format!("SHA-256 fingerprint: {fp}")),
        "{}",
        stdout(&o)
    );

    openssl(&[
        "req",
        "-new",
        "-key",
        "pki/apiserver.key",
        "-subj",
        "/CN=kube-apiserver",
        "-addext",
        "subjectAltName=DNS:cp-1,IP:10.96.0.1",
        "-out",
        "apiserver.csr",
    ]);
    let o = kcerts_in(
        root,
        &["inspect", "--at", AT, "apiserver.csr", "pki/apiserver.key"],
    );
    assert_ok(&o, "inspect CSR");
    insta::with_settings!({description => "inspect (text) of an openssl-made CSR for kube-apiserver and its key"}, {
        assert_snapshot!("inspect_csr", stdout(&o));
    });
}

#[test]
fn inspect_bad_and_missing_files_exit_1_and_show_the_rest() {
    let n = NodeDir::new(23);
    let root = n.root();
    std::fs::write(
        root.join("junk.pem"),
        "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let o = kcerts_in(
        root,
        &[
            "inspect",
            "--at",
            AT,
            "junk.pem",
            "nope.crt",
            "pki/front-proxy-ca.crt",
        ],
    );
    assert_eq!(code(&o), 1);
    assert_eq!(stderr(&o), "error: nope.crt: no such file\n");
    insta::with_settings!({description => "inspect (text) of a broken PEM, a missing file and a good CA certificate: the good one is still shown"}, {
        assert_snapshot!("inspect_bad", stdout(&o));
    });
}

#[test]
fn inspect_takes_warn_and_crit_like_verify() {
    let n = NodeDir::new(24);
    let root = n.root();
    // apiserver.crt has 365 days left at AT.
    let findings = |extra: &[&str]| {
        let mut args = vec!["inspect", "--at", AT, "pki/apiserver.crt"];
        args.extend_from_slice(extra);
        let o = kcerts_in(root, &args);
        assert_ok(&o, &args.join(" "));
        let text = stdout(&o);
        text.lines()
            .filter(|l| l.contains("expires in"))
            .map(str::trim)
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        findings(&[]),
        Vec::<String>::new(),
        "365d left: no finding by default"
    );
    let warned = findings(&["--warn", "400d"]);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].starts_with("warning"), "{warned:?}");
    assert!(
        warned[0].contains("expires in 365d (on Mar 01, 2027 12:00 UTC)"),
        "{warned:?}"
    );
    // --crit alone: the warning window widens to it, as in verify.
    let critical = findings(&["--crit", "400d"]);
    assert_eq!(critical.len(), 1, "{critical:?}");
    assert!(critical[0].starts_with("critical"), "{critical:?}");
    // The JSON form carries the same finding; the exit status stays 0.
    let o = kcerts_in(
        root,
        &[
            "inspect",
            "--at",
            AT,
            "-o",
            "json",
            "--crit",
            "366d",
            "pki/apiserver.crt",
        ],
    );
    assert_ok(&o, "inspect -o json --crit 366d");
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["warnings"][0]["severity"], "critical", "{json}");
    let o = kcerts_in(root, &["inspect", "--warn", "soon", "pki/apiserver.crt"]);
    assert_eq!(code(&o), 2, "a bad duration is a usage error");
}
