//! Hostile input: truncated DER at every length, wrong PEM labels, junk between
//! blocks, bad base64, encrypted and DSA keys, huge files, billion-laughs and
//! deeply nested YAML, kubeconfigs with missing fields, non-UTF-8 bytes, symlink
//! loops, FIFOs, unreadable files, and pyca's malformed certificates. Each bad
//! file gets one clear error naming it, the other files are still reported,
//! nothing panics and nothing hangs.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kcerts_core::encoding::to_pem;
use kcerts_core::inventory;
use kcerts_core::key_choice::KeyChoice;
use kcerts_core::node::{NodeFiles, NodePath};
use kcerts_core::{KeyAlgorithm, PrivateKey, certificate, csr, expiration, kubeconfig, renewal};
use kcerts_tests::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cryptography-vectors")
}

fn files_in(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures().join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    assert!(v.len() > 10, "{sub}: fixtures missing");
    v
}

fn ecdsa_node() -> kcerts_core::pki::GeneratedNode {
    generate(&example_options(KeyAlgorithm::EcdsaP256), NOW, 71)
}

fn file_of(node: &kcerts_core::pki::GeneratedNode, rel: &str) -> Vec<u8> {
    node.files
        .iter()
        .find(|f| f.path.to_string() == rel)
        .unwrap()
        .bytes
        .clone()
}

fn der_of(pem: &[u8]) -> Vec<u8> {
    certificate::parse_first(pem).unwrap().der
}

/// Runs `kcerts ARGS`, killing it (and failing) if it takes over `limit`.
fn kcerts_within(args: &[String], limit: Duration, uid: Option<u32>) -> Output {
    let mut cmd = Command::new(kcerts_bin());
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("kcerts {args:?} hung for over {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn assert_no_panic(out: &Output) {
    let err = stderr(out);
    for bad in ["panicked", "RUST_BACKTRACE", "Os {", "Error {"] {
        assert!(!err.contains(bad), "debug output leaked: {err}");
    }
}

#[test]
fn truncated_der_at_every_length_is_an_error() {
    let rsa = generate(&example_options(KeyAlgorithm::Rsa2048), NOW, 72);
    let ec = ecdsa_node();
    for node in [&rsa, &ec] {
        let der = der_of(&file_of(node, "pki/apiserver.crt"));
        for len in 0..der.len() {
            assert!(
                certificate::parse_all(&der[..len]).is_err(),
                "DER cut at {len}"
            );
            let pem = to_pem("CERTIFICATE", &der[..len]);
            assert!(
                certificate::parse_all(pem.as_bytes()).is_err(),
                "PEM cut at {len}"
            );
        }
        let key = file_of(node, "pki/apiserver.key");
        let key_der = kcerts_core::encoding::blocks(&key).unwrap().remove(0);
        for len in 0..key_der.der.len() {
            let pem = to_pem(&key_der.label, &key_der.der[..len]);
            assert!(
                PrivateKey::parse(pem.as_bytes()).is_err(),
                "key cut at {len}"
            );
            assert!(PrivateKey::public_key_bits_of(pem.as_bytes()).is_err());
        }
        // Text cut anywhere (a half-copied file) never panics either.
        let conf = file_of(node, "admin.conf");
        for len in 0..conf.len() {
            if let Ok(k) = kubeconfig::Kubeconfig::parse(&conf[..len]) {
                let _ = k.current();
            }
        }
    }
}

#[test]
fn a_truncated_certificate_is_one_error_and_the_report_goes_on() {
    let node = ecdsa_node();
    let der = der_of(&file_of(&node, "pki/apiserver.crt"));
    for len in (0..der.len()).step_by(37) {
        let mut files = NodeFiles::from_generated(&node);
        files.insert(NodePath::cert("apiserver.crt"), der[..len].to_vec());
        let r = expiration::build(&files, NOW);
        assert_eq!(r.errors.len(), 1, "cut at {len}: {:?}", r.errors);
        assert_eq!(r.errors[0].path, NodePath::cert("apiserver.crt"));
        assert!(!r.errors[0].kind.to_string().contains('\n'));
        assert_eq!(r.certificates.len(), 10, "the other rows are reported");
    }
}

/// A node where nearly every file is hostile, each in its own way.
fn hostile_node(root: &Path) -> Vec<(&'static str, &'static str)> {
    let node = NodeDir::in_dir(root, 71).node;
    let w = |rel: &str, bytes: &[u8]| std::fs::write(root.join(rel), bytes).unwrap();
    let crt = file_of(&node, "pki/apiserver-kubelet-client.crt");
    let key_pem = file_of(&node, "pki/apiserver.key");
    let spki = kcerts_core::pki::public_key_pem(&PrivateKey::parse(&key_pem).unwrap());

    w("pki/apiserver.crt", spki.as_bytes());
    let mut junk = b"subject=CN = x\nissuer=CN = kubernetes\nsome junk\n".to_vec();
    junk.extend_from_slice(&crt);
    junk.extend_from_slice(b"\n# trailing junk\n\x00\xff");
    w("pki/apiserver-kubelet-client.crt", &junk);
    w(
        "pki/front-proxy-client.crt",
        b"-----BEGIN CERTIFICATE-----\nMIIB!!!not*base64\n-----END CERTIFICATE-----\n",
    );
    let f = std::fs::File::create(root.join("pki/apiserver-etcd-client.crt")).unwrap();
    f.set_len(5 << 30).unwrap(); // sparse: 5 GiB that cost nothing
    std::fs::remove_file(root.join("pki/etcd/peer.crt")).unwrap();
    std::os::unix::fs::symlink("peer-loop.crt", root.join("pki/etcd/peer.crt")).unwrap();
    std::os::unix::fs::symlink("peer.crt", root.join("pki/etcd/peer-loop.crt")).unwrap();
    std::fs::remove_file(root.join("pki/etcd/server.crt")).unwrap();
    assert_ok(&run("mkfifo", [root.join("pki/etcd/server.crt")]), "mkfifo");
    let hc = der_of(&file_of(&node, "pki/etcd/healthcheck-client.crt"));
    w("pki/etcd/healthcheck-client.crt", &hc[..hc.len() / 2]);
    let mut laughs = String::from("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    for (p, c) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        laughs.push_str(&format!(
            "{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        ));
    }
    w("admin.conf", laughs.as_bytes());
    w(
        "controller-manager.conf",
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes(),
    );
    let sched = String::from_utf8(file_of(&node, "scheduler.conf")).unwrap();
    let no_context: String = sched
        .lines()
        .filter(|l| !l.starts_with("current-context:"))
        .map(|l| format!("{l}\n"))
        .collect();
    w("scheduler.conf", no_context.as_bytes());
    let mut not_utf8 = file_of(&node, "super-admin.conf");
    not_utf8.splice(0..0, b"# \xff\xfe\xc0\n".iter().copied());
    w("super-admin.conf", &not_utf8);
    let vectors = fixtures().join("keys");
    std::fs::copy(
        vectors.join("enc-rsa-pkcs8.pem"),
        root.join("pki/front-proxy-ca.key"),
    )
    .unwrap();
    std::fs::copy(
        vectors.join("Traditional_OpenSSL_Serialization-dsa.1024.pem"),
        root.join("pki/etcd/ca.key"),
    )
    .unwrap();
    vec![
        (
            "pki/apiserver.crt",
            "no certificate found (PEM labels present: PUBLIC KEY)",
        ),
        ("pki/front-proxy-client.crt", "invalid base64"),
        (
            "pki/apiserver-etcd-client.crt",
            "is 5368709120 bytes, over kcerts' limit",
        ),
        ("pki/etcd/peer.crt", "symbolic links"),
        ("pki/etcd/server.crt", "is not a regular file"),
        ("pki/etcd/healthcheck-client.crt", "not valid X.509"),
        ("admin.conf", "not a valid kubeconfig YAML document"),
        (
            "controller-manager.conf",
            "not a valid kubeconfig YAML document",
        ),
        ("scheduler.conf", "current-context"),
        ("super-admin.conf", "not UTF-8"),
        ("pki/front-proxy-ca.key", "encrypted"),
        ("pki/etcd/ca.key", "DSA"),
    ]
}

#[test]
fn every_hostile_file_gets_its_own_error_and_the_rest_is_reported() {
    let dir = tempdir();
    let root = dir.path();
    let expected = hostile_node(root);
    let mut args = vec!["check-expiration".to_string()];
    args.extend(dir_args(root));
    kcerts_bin(); // built before the clock starts
    let started = Instant::now();
    let out = kcerts_within(&args, Duration::from_secs(20), None);
    let took = started.elapsed();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    for (rel, what) in &expected {
        let prefix = format!("error: {}: ", root.join(rel).display());
        let mine: Vec<&&str> = lines.iter().filter(|l| l.starts_with(&prefix)).collect();
        assert_eq!(mine.len(), 1, "{rel}: expected one error line in:\n{err}");
        assert!(
            mine[0].contains(what),
            "{rel}: {:?} lacks {what:?}",
            mine[0]
        );
    }
    assert_eq!(lines.len(), expected.len(), "{err}");
    let text = stdout(&out);
    // The certificate with junk around it, and the CAs, are still reported.
    assert!(text.contains("\napiserver-kubelet-client "), "{text}");
    for ca in ["\nca ", "\netcd-ca ", "\nfront-proxy-ca "] {
        assert!(text.contains(ca), "{ca:?} missing: {text}");
    }
    assert!(took < Duration::from_secs(10), "took {took:?}");

    // renew refuses as a whole, names each failing row, and changes nothing.
    let before = run(
        "sh",
        [
            "-c",
            &format!("cd {} && ls -lR --time-style=full-iso", root.display()),
        ],
    );
    let mut args = vec!["renew".to_string(), "all".into()];
    args.extend(dir_args(root));
    let out = kcerts_within(&args, Duration::from_secs(20), None);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.ends_with("error: no file was changed\n"), "{err}");
    for row in [
        "apiserver",
        "front-proxy-client",
        "etcd-server",
        "admin.conf",
    ] {
        assert!(
            err.contains(&format!("error: cannot renew {row}: ")),
            "{row}: {err}"
        );
    }
    let after = run(
        "sh",
        [
            "-c",
            &format!("cd {} && ls -lR --time-style=full-iso", root.display()),
        ],
    );
    let strip_tmp = |o: &Output| {
        stdout(o)
            .split("\n\n")
            .filter(|s| !s.starts_with("./tmp"))
            .map(|s| {
                s.lines()
                    .filter(|l| !l.ends_with(" tmp") && !l.starts_with("total "))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_tmp(&before), strip_tmp(&after));
}

#[test]
fn an_unreadable_file_is_named_and_the_rest_is_reported() {
    let n = NodeDir::new(71);
    let root = n.root();
    let is_root = stdout(&run("id", ["-u"])).trim() == "0";
    // root reads every file: run kcerts as nobody, with the rest readable to it.
    let uid = if is_root {
        assert_ok(
            &run("chmod", ["-R", "a+rX", root.to_str().unwrap()]),
            "chmod",
        );
        Some(65534)
    } else {
        None
    };
    let target = root.join("pki/front-proxy-client.crt");
    std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let mut args = vec!["check-expiration".to_string()];
    args.extend(dir_args(root));
    let out = kcerts_within(&args, Duration::from_secs(20), uid);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: {}: cannot be read: Permission denied (os error 13)\n",
            target.display()
        )
    );
    assert!(stdout(&out).contains("\nfront-proxy-ca "));
    assert!(stdout(&out).contains("\napiserver "));
}

#[test]
fn pyca_malformed_and_edge_case_certificates_never_panic() {
    let node = ecdsa_node();
    let rows: Vec<_> = ["apiserver"]
        .iter()
        .map(|n| inventory::row(n).unwrap())
        .collect();
    let opts = renewal::Options {
        key: KeyChoice::Use(KeyAlgorithm::EcdsaP256),
        ..renewal::Options::default()
    };
    let mut parsed = 0;
    for path in files_in("x509") {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let result = std::panic::catch_unwind(|| {
            let ok = certificate::parse_all(&bytes).is_ok();
            let mut files = NodeFiles::from_generated(&node);
            files.insert(NodePath::cert("apiserver.crt"), bytes.clone());
            let r = expiration::build(&files, NOW);
            for e in &r.errors {
                assert_eq!(e.path, NodePath::cert("apiserver.crt"), "{e:?}");
                assert!(!e.kind.to_string().contains('\n'), "{e:?}");
            }
            // Renewing it: renewed with the same names, or a clear per-row error.
            let plans = renewal::plan(&files, &rows, &opts, NOW, &mut kcerts_core::seeded_rng(3));
            if let renewal::Outcome::Failed(e) = &plans[0].outcome {
                assert!(!e.kind.to_string().is_empty());
            }
            ok
        });
        match result {
            Ok(ok) => parsed += usize::from(ok),
            Err(_) => panic!("{name} made kcerts panic"),
        }
    }
    assert!(parsed > 50, "only {parsed} vectors parsed");
}

#[test]
fn pyca_keys_and_csrs_give_clear_errors() {
    let node = ecdsa_node();
    let mut messages = std::collections::BTreeSet::new();
    for path in files_in("keys") {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Err(e) = PrivateKey::parse(&bytes) {
            let m = e.to_string();
            assert!(!m.is_empty() && !m.contains('\n'), "{name}: {m:?}");
            messages.insert(m);
        }
        // As the cluster CA's key: the report names ca.key (never a match).
        let mut files = NodeFiles::from_generated(&node);
        files.insert(NodePath::cert("ca.key"), bytes);
        let r = expiration::build(&files, NOW);
        assert_eq!(r.errors.len(), 1, "{name}: {:?}", r.errors);
        assert_eq!(r.errors[0].path, NodePath::cert("ca.key"), "{name}");
    }
    for needle in ["encrypted", "DSA", "malformed"] {
        assert!(
            messages.iter().any(|m| m.contains(needle)),
            "no {needle:?} error among {messages:#?}"
        );
    }
    for path in files_in("requests") {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        let _ = std::panic::catch_unwind(|| csr::parse(&bytes))
            .unwrap_or_else(|_| panic!("{name} made the CSR parser panic"));
    }
}
