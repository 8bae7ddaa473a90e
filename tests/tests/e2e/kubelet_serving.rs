//! `kcerts kubelet serving`: the report of the kubelet's serving certificate
//! (self-signed kubelet.crt, or the bootstrapped kubelet-server-current.pem),
//! `--renew` making a new self-signed pair as the kubelet does, checked with
//! openssl (the leaf verified against the CA in kubelet.crt for TLS server use,
//! its host name and IP), `--dry-run`, the backup and `kcerts restore`, verify's rows.

use std::path::Path;

use kcerts_core::certificate;
use kcerts_tests::*;

use kcerts_tests::kubelet_node::{kubelet_args, node};
use kcerts_tests::openssl_issue::openssl_issue;

fn serving(root: &Path, kl: &Path, extra: &[&str]) -> std::process::Output {
    kcerts(kubelet_args(
        root,
        kl,
        &[&["kubelet", "serving"][..], extra].concat(),
    ))
}

/// `kcerts verify` of the node with the kubelet directory `kl`, as JSON rows
/// `(status, reason)` of the kubelet-serving target.
fn verify_rows(root: &Path, kl: &Path) -> Vec<(String, String, String)> {
    let client = kl.join("kubelet-client-current.pem");
    let mut args = vec![
        "verify".to_string(),
        "-o".into(),
        "json".into(),
        "--kubelet-client-cert".into(),
        client.display().to_string(),
    ];
    args.extend(dir_args(root));
    let out = kcerts(&args);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["target"] == "kubelet-serving")
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn row<'a>(rows: &'a [(String, String, String)], check: &str) -> &'a (String, String, String) {
    rows.iter()
        .find(|r| r.0 == check)
        .unwrap_or_else(|| panic!("no {check} in {rows:?}"))
}

#[test]
fn renews_an_expired_self_signed_serving_certificate() {
    let tmp = tempdir();
    let (root, kl) = node(tmp.path());
    let crt = kl.join("kubelet.crt");
    let key = kl.join("kubelet.key");

    // Nothing there yet: the report says what to do.
    let missing = serving(&root, &kl, &[]);
    assert_eq!(missing.status.code(), Some(1), "{}", stdout(&missing));
    assert!(
        stderr(&missing).contains("--renew --node-name"),
        "{}",
        stderr(&missing)
    );
    let no_host = serving(&root, &kl, &["--renew"]);
    assert_eq!(no_host.status.code(), Some(1));
    assert!(
        stderr(&no_host).contains("pass --node-name"),
        "{}",
        stderr(&no_host)
    );

    // One the kubelet would have made two years ago (a one-year certificate: expired).
    let then = rfc3339(time::OffsetDateTime::now_utc() - time::Duration::days(730));
    let made = serving(
        &root,
        &kl,
        &[
            "--renew",
            "--node-name",
            "cp-1",
            "--address",
            "10.0.0.5",
            "--at",
            &then,
        ],
    );
    assert_ok(&made, "backdated serving certificate");
    let report = serving(&root, &kl, &[]);
    assert_ok(&report, "report");
    let text = stdout(&report);
    assert!(text.contains("expired"), "{text}");
    assert!(text.contains("signer:   self-signed"), "{text}");
    assert!(text.contains("SANs:     cp-1, 10.0.0.5"), "{text}");
    assert!(text.contains("key:      matches"), "{text}");
    let rows = verify_rows(&root, &kl);
    let expiry = row(&rows, "expiry");
    assert_eq!(expiry.1, "fail");
    assert!(
        expiry.2.contains("kcerts kubelet serving --renew"),
        "{expiry:?}"
    );
    assert_eq!(row(&rows, "signer").1, "pass");

    // --dry-run writes nothing.
    let old = std::fs::read(&crt).unwrap();
    let old_key = std::fs::read(&key).unwrap();
    let dry = serving(&root, &kl, &["--renew", "--dry-run"]);
    assert_ok(&dry, "dry run");
    assert!(
        stdout(&dry).contains("[dry-run] would write") && stdout(&dry).contains("10.0.0.5"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(std::fs::read(&crt).unwrap(), old);
    assert_eq!(std::fs::read(&key).unwrap(), old_key);

    // Renew, keeping the host and SANs of the current certificate.
    let out = serving(&root, &kl, &["--renew"]);
    assert_ok(&out, "renew");
    let backup = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("[kubelet] backed up 2 files to "))
        .unwrap_or_else(|| panic!("{}", stdout(&out)))
        .to_string();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let pem = std::fs::read(&crt).unwrap();
    let certs = certificate::parse_all(&pem).unwrap();
    assert_eq!(certs.len(), 2, "kubelet.crt: the leaf then its CA");
    // client-go names both by the time they were made, an hour after NotBefore.
    let unix = certs[0].not_before.unix_timestamp() + 3600;
    assert_eq!(certs[0].common_name, Some(format!("cp-1@{unix}")));
    assert_eq!(certs[1].common_name, Some(format!("cp-1-ca@{unix}")));
    assert_eq!((certs[0].not_after - certs[0].not_before).whole_days(), 365);
    let ca = tmp.path().join("serving-ca.pem");
    std::fs::write(&ca, certs[1].to_pem()).unwrap();
    let leaf = tmp.path().join("serving.pem");
    std::fs::write(&leaf, certs[0].to_pem()).unwrap();
    // openssl verifies it for TLS server use against the CA in kubelet.crt, by name and IP.
    let verify = |names: &[&str]| {
        let mut args = vec!["verify", "-purpose", "sslserver", "-CAfile"];
        args.push(ca.to_str().unwrap());
        args.extend_from_slice(names);
        args.push(leaf.to_str().unwrap());
        run("openssl", args)
    };
    let ok = verify(&["-verify_ip", "10.0.0.5", "-verify_hostname", "cp-1"]);
    assert_ok(&ok, "openssl verify the new serving certificate");
    let wrong_host = verify(&["-verify_hostname", "cp-2"]);
    assert!(!wrong_host.status.success(), "openssl checks the host name");
    let m1 = run(
        "openssl",
        ["x509", "-noout", "-pubkey", "-in", leaf.to_str().unwrap()],
    );
    let m2 = run("openssl", ["pkey", "-pubout", "-in", key.to_str().unwrap()]);
    assert_eq!(stdout(&m1), stdout(&m2), "kubelet.key is the leaf's key");
    let text = stdout(&serving(&root, &kl, &[]));
    assert!(
        !text.contains("expired") && text.contains("(in 364d"),
        "{text}"
    );
    let rows = verify_rows(&root, &kl);
    for check in ["expiry", "signer", "key", "usage", "sans"] {
        assert_eq!(row(&rows, check).1, "pass", "{check}: {rows:?}");
    }

    // `kcerts restore` puts the old pair back.
    let restored = kcerts(
        ["restore", "--backup-dir", &backup, "--kubelet-pki-dir"]
            .into_iter()
            .map(String::from)
            .chain([kl.display().to_string()])
            .chain(dir_args(&root)),
    );
    assert_ok(&restored, "restore");
    assert_eq!(std::fs::read(&crt).unwrap(), old);
    assert_eq!(std::fs::read(&key).unwrap(), old_key);
}

#[test]
fn a_bootstrapped_serving_certificate_is_reported_and_not_replaced() {
    let tmp = tempdir();
    let (root, kl) = node(tmp.path());
    // A serving pair signed by the cluster CA with openssl, as the kubelet holds
    // it after its request was approved: certificate then key in one file.
    let (crt, key) = openssl_issue(
        tmp.path(),
        "serving",
        "/O=system:nodes/CN=system:node:cp-1",
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:cp-1,IP:10.0.0.5\n",
        &root.join("pki"),
    );
    let mut pair = std::fs::read(&crt).unwrap();
    pair.extend(std::fs::read(&key).unwrap());
    std::fs::write(kl.join("kubelet-server-current.pem"), pair).unwrap();

    let report = serving(&root, &kl, &[]);
    assert_ok(&report, "report");
    let text = stdout(&report);
    assert!(text.contains("kubelet-server-current.pem"), "{text}");
    assert!(text.contains("signed by the cluster CA"), "{text}");
    assert!(text.contains("key:      matches"), "{text}");
    let rows = verify_rows(&root, &kl);
    assert_eq!(row(&rows, "signer").1, "pass");
    assert_eq!(
        row(&rows, "usage").1,
        "pass",
        "no keyEncipherment is right for ECDSA"
    );
    assert_eq!(row(&rows, "rotating").1, "pass");

    let refused = serving(&root, &kl, &["--renew", "--node-name", "cp-1"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("kcerts approve kubelet-serving"),
        "{}",
        stderr(&refused)
    );
    assert!(!kl.join("kubelet.crt").exists(), "nothing written");
}
