//! `kcerts approve kubelet-serving` against the fake API server: requests created
//! by the real kubectl (`kubectl create -f`) authenticated with node client
//! certificates (so the API server records `system:node:NAME` in `system:nodes` as
//! their requester), decided by kcerts, and read back with `kubectl get csr`: the
//! Approved and Denied conditions, every refusal reason, `--dry-run`, and `--watch`
//! stopped by SIGTERM and by SIGINT. Every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kcerts_tests::bounded::finish;
use kcerts_tests::fake_cluster::{Cluster, cluster};
use kcerts_tests::openssl_issue::openssl_issue;
use kcerts_tests::*;

/// A kubeconfig for a client certificate for `subj` signed by the cluster CA
/// (openssl), as a kubelet's.
fn client_cert(c: &Cluster, work: &Path, name: &str, subj: &str) -> PathBuf {
    let pki = c.root.join("pki");
    let (crt, key) = openssl_issue(
        work,
        &format!("{name}-client"),
        subj,
        "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n",
        &pki,
    );
    let p = |x: &Path| x.display().to_string();
    let conf = work.join(format!("{name}.conf"));
    std::fs::write(
        &conf,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n    \
             certificate-authority: {}\nusers:\n- name: {name}\n  user:\n    client-certificate: {}\n    \
             client-key: {}\ncontexts:\n- name: {name}\n  context:\n    cluster: fake\n    user: {name}\n\
             current-context: {name}\n",
            c.url(),
            p(&pki.join("ca.crt")),
            p(&crt),
            p(&key)
        ),
    )
    .unwrap();
    conf
}

/// A fake cluster, a work directory, and the kubeconfig of worker-1's kubelet.
/// The fake's signer issues approved kubelet serving requests with the cluster CA,
/// as kube-controller-manager does.
fn with_worker() -> (Cluster, PathBuf, PathBuf) {
    let c = cluster(|o| o.signers.push(SERVING.into()));
    let work = c.root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let worker1 = client_cert(
        &c,
        &work,
        "worker-1",
        "/O=system:nodes/CN=system:node:worker-1",
    );
    (c, work, worker1)
}

/// One CertificateSigningRequest to create.
struct Req<'a> {
    name: &'a str,
    /// The CSR subject.
    subj: &'a str,
    /// `subjectAltName=...`, or none.
    san: Option<&'a str>,
    rsa: bool,
    usages: &'a [&'a str],
    expiration_seconds: Option<u32>,
    signer: &'a str,
}

const SERVING: &str = "kubernetes.io/kubelet-serving";
const USAGES: &[&str] = &["digital signature", "server auth"];

impl Default for Req<'_> {
    fn default() -> Self {
        Self {
            name: "",
            subj: "/O=system:nodes/CN=system:node:worker-1",
            san: Some("DNS:worker-1,IP:10.0.0.7"),
            rsa: false,
            usages: USAGES,
            expiration_seconds: None,
            signer: SERVING,
        }
    }
}

/// The manifest `kubectl create -f` reads: a CSR made by openssl, base64 in spec.request.
fn manifest(work: &Path, r: &Req<'_>) -> PathBuf {
    let key = work.join(format!("{}.key", r.name));
    let csr = work.join(format!("{}.csr", r.name));
    let p = |x: &Path| x.display().to_string();
    let mut args: Vec<String> = ["req", "-new", "-nodes", "-subj", r.subj, "-keyout"]
        .map(String::from)
        .to_vec();
    args.push(p(&key));
    args.extend(["-out".into(), p(&csr), "-newkey".into()]);
    if r.rsa {
        args.push("rsa:2048".into());
    } else {
        args.extend([
            "ec".into(),
            "-pkeyopt".into(),
            "ec_paramgen_curve:P-256".into(),
        ]);
    }
    if let Some(san) = r.san {
        args.extend(["-addext".into(), format!("subjectAltName={san}")]);
    }
    assert_ok(&run("openssl", &args), &format!("openssl req {}", r.name));
    use base64::Engine;
    let request = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&csr).unwrap());
    let usages: Vec<String> = r.usages.iter().map(|u| format!("  - {u}\n")).collect();
    let exp = r
        .expiration_seconds
        .map(|s| format!("  expirationSeconds: {s}\n"))
        .unwrap_or_default();
    let yaml = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  \
         name: {}\nspec:\n  request: {request}\n  signerName: {}\n{exp}  usages:\n{}",
        r.name,
        r.signer,
        usages.concat()
    );
    let f = work.join(format!("{}.yaml", r.name));
    std::fs::write(&f, yaml).unwrap();
    f
}

/// `kubectl create -f` as the user of the kubeconfig `creds`, or as the admin
/// when `None`. (`--validate=false`: the fake API server serves no OpenAPI schema.)
fn create(c: &Cluster, file: &Path, creds: Option<&PathBuf>) {
    let f = file.display().to_string();
    let conf = creds.map(|p| p.display().to_string());
    let mut args = vec!["create", "--validate=false", "-f", &f];
    if let Some(conf) = &conf {
        args.extend(["--kubeconfig", conf]);
    }
    let out = c.kubectl(&args);
    assert!(
        out.status.success(),
        "kubectl create -f {f}:\n{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        c.diagnostics()
    );
}

/// `NAME=CONDITION-TYPES|MESSAGE` per request, as kubectl reads them.
fn conditions(c: &Cluster) -> std::collections::BTreeMap<String, String> {
    let out = c.kubectl(&[
        "get",
        "csr",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[*].type}|{.status.conditions[*].message}{\"\\n\"}{end}",
    ]);
    assert_ok(&out, "kubectl get csr");
    stdout(&out)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn approve(c: &Cluster, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "approve".to_string(),
        "kubelet-serving".into(),
        "--kubeconfig".into(),
        c.root.join("admin.conf").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(kcerts_bin())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, Duration::from_secs(60))
}

const POLICY: &[&str] = &[
    "--dns-regex",
    r"[a-z0-9-]+\.nodes\.example",
    "--allowed-ip-prefixes",
    "10.0.0.0/8,127.0.0.0/8",
    "--max-validity",
    "720h",
];

#[test]
fn approves_what_passes_and_says_why_the_rest_does_not() {
    let (c, work, worker1) = with_worker();
    let not_in_group = client_cert(&c, &work, "worker-3", "/O=ops/CN=system:node:worker-3");

    // The control-plane node's own kubelet, with kubelet.conf's certificate.
    let kubelet_conf = c.root.join("kubelet.conf").display().to_string();
    let cp1 = manifest(
        &work,
        &Req {
            name: "cp-1-serving",
            subj: "/O=system:nodes/CN=system:node:cp-1",
            san: Some("DNS:cp-1,IP:127.0.0.1"),
            ..Req::default()
        },
    );
    let cp1_path = cp1.display().to_string();
    let out = c.kubectl(&[
        "--kubeconfig",
        &kubelet_conf,
        "create",
        "--validate=false",
        "-f",
        &cp1_path,
    ]);
    assert_ok(&out, "kubectl create as the kubelet of cp-1");

    // (name, request, who creates it, the reason kcerts gives, or None: approved)
    let cases: Vec<(Req<'_>, Option<&PathBuf>, Option<&str>)> = vec![
        (
            Req {
                name: "ok-ecdsa",
                ..Req::default()
            },
            Some(&worker1),
            None,
        ),
        (
            Req {
                name: "ok-rsa",
                rsa: true,
                usages: &["digital signature", "key encipherment", "server auth"],
                expiration_seconds: Some(86_400),
                ..Req::default()
            },
            Some(&worker1),
            None,
        ),
        (
            Req {
                name: "ok-regex",
                san: Some("DNS:w1.nodes.example"),
                ..Req::default()
            },
            Some(&worker1),
            None,
        ),
        (
            Req {
                name: "by-admin",
                ..Req::default()
            },
            None,
            Some("is not a node"),
        ),
        (
            Req {
                name: "not-in-group",
                subj: "/O=system:nodes/CN=system:node:worker-3",
                san: Some("DNS:worker-3"),
                ..Req::default()
            },
            Some(&not_in_group),
            Some("is not in group system:nodes"),
        ),
        (
            Req {
                name: "other-cn",
                subj: "/O=system:nodes/CN=system:node:worker-2",
                ..Req::default()
            },
            Some(&worker1),
            Some("is not its requester"),
        ),
        (
            Req {
                name: "other-o",
                subj: "/O=system:masters/CN=system:node:worker-1",
                ..Req::default()
            },
            Some(&worker1),
            Some("it must be exactly [\"system:nodes\"]"),
        ),
        (
            Req {
                name: "client-usage",
                usages: &["digital signature", "client auth"],
                ..Req::default()
            },
            Some(&worker1),
            Some("are not exactly digital signature and server auth"),
        ),
        (
            Req {
                name: "ecdsa-key-encipherment",
                usages: &["digital signature", "key encipherment", "server auth"],
                ..Req::default()
            },
            Some(&worker1),
            Some("this key is ECDSA P-256"),
        ),
        (
            Req {
                name: "no-names",
                san: None,
                ..Req::default()
            },
            Some(&worker1),
            Some("names neither a DNS name nor an IP address"),
        ),
        (
            Req {
                name: "email",
                san: Some("DNS:worker-1,email:ops@example.com"),
                ..Req::default()
            },
            Some(&worker1),
            Some("names email addresses [\"ops@example.com\"]"),
        ),
        (
            Req {
                name: "uri",
                san: Some("DNS:worker-1,URI:spiffe://example/n"),
                ..Req::default()
            },
            Some(&worker1),
            Some("names URIs [\"spiffe://example/n\"]"),
        ),
        (
            Req {
                name: "other-dns",
                san: Some("DNS:worker-1,DNS:api.example.com"),
                ..Req::default()
            },
            Some(&worker1),
            Some("DNS name \"api.example.com\" neither starts with the node name \"worker-1\""),
        ),
        (
            Req {
                name: "other-ip",
                san: Some("DNS:worker-1,IP:192.168.5.5"),
                ..Req::default()
            },
            Some(&worker1),
            Some(
                "IP address 192.168.5.5 is not within --allowed-ip-prefixes (10.0.0.0/8, 127.0.0.0/8)",
            ),
        ),
        (
            Req {
                name: "too-long",
                expiration_seconds: Some(40 * 86_400),
                ..Req::default()
            },
            Some(&worker1),
            Some("expirationSeconds 3456000 is more than --max-validity (2592000 seconds)"),
        ),
    ];
    for (r, who, _) in &cases {
        create(&c, &manifest(&work, r), *who);
    }
    // A request for another signer: not ours, left alone.
    let client = manifest(
        &work,
        &Req {
            name: "kubelet-client",
            usages: &["digital signature", "client auth"],
            signer: "kubernetes.io/kube-apiserver-client-kubelet",
            san: None,
            ..Req::default()
        },
    );
    create(&c, &client, Some(&worker1));

    // The API server recorded each requester.
    let who = c.kubectl(&[
        "get",
        "csr",
        "ok-ecdsa",
        "-o",
        "jsonpath={.spec.username} {.spec.groups}",
    ]);
    assert_ok(&who, "kubectl get csr ok-ecdsa");
    assert!(
        stdout(&who).starts_with("system:node:worker-1 ")
            && stdout(&who).contains("system:nodes")
            && stdout(&who).contains("system:authenticated"),
        "{}",
        stdout(&who)
    );
    let before = conditions(&c);
    assert_eq!(before.len(), cases.len() + 2, "{before:?}");
    assert!(before.values().all(|v| v == "|"), "all Pending: {before:?}");

    // --dry-run: every decision printed, nothing changed.
    let dry = approve(&c, &[POLICY, &["--dry-run"]].concat());
    assert_eq!(
        dry.status.code(),
        Some(2),
        "{}\n{}",
        stdout(&dry),
        stderr(&dry)
    );
    let text = stdout(&dry);
    assert!(
        text.contains("[dry-run] cp-1-serving: would approve (node cp-1)"),
        "{text}"
    );
    assert!(
        text.contains("[dry-run] other-ip: would leave Pending: IP address"),
        "{text}"
    );
    assert_eq!(conditions(&c), before, "--dry-run changed nothing");

    // A real run: approves four, leaves the rest Pending with the reason (exit 2).
    let out = approve(&c, POLICY);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{text}\n{}\n{}",
        stderr(&out),
        c.diagnostics()
    );
    assert!(
        text.contains("[approve] 4 approved, 0 denied, 12 left Pending"),
        "{text}"
    );
    for (r, _, reason) in &cases {
        match reason {
            None => assert!(
                text.contains(&format!("[approve] {}: approved (node ", r.name)),
                "{}: {text}",
                r.name
            ),
            Some(why) => {
                let line = text
                    .lines()
                    .find(|l| l.starts_with(&format!("[approve] {}: left Pending: ", r.name)))
                    .unwrap_or_else(|| panic!("{}: {text}", r.name));
                assert!(line.contains(why), "{}: {line}", r.name);
            }
        }
    }
    assert!(
        !text.contains("kubelet-client"),
        "another signer's request: {text}"
    );
    let after = conditions(&c);
    for (r, _, reason) in &cases {
        let want = if reason.is_none() { "Approved" } else { "" };
        assert!(
            after[r.name].starts_with(&format!("{want}|")),
            "{}: {after:?}",
            r.name
        );
    }
    assert!(after["cp-1-serving"].starts_with("Approved|"), "{after:?}");
    assert_eq!(after["kubelet-client"], "|");
    // The approval is what kubectl certificate approve writes: an Approved condition,
    // seen in kubectl's own table (REQUESTOR and CONDITION columns); the signer then
    // issued the certificate.
    let table = c.kubectl(&["get", "csr", "ok-ecdsa"]);
    let row: Vec<String> = stdout(&table)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        (row[0].as_str(), row[3].as_str(), row[5].as_str()),
        ("ok-ecdsa", "system:node:worker-1", "Approved,Issued"),
        "{}\n{}",
        stdout(&table),
        stderr(&table)
    );
    // The issued certificate, installed as the kubelet would install it
    // (kubelet-server-current.pem: certificate then key), is a TLS server
    // certificate for the node by openssl, and `kcerts kubelet serving` reports it
    // signed by the cluster CA.
    let issued = c.kubectl(&[
        "get",
        "csr",
        "ok-ecdsa",
        "-o",
        "jsonpath={.status.certificate}",
    ]);
    assert_ok(&issued, "kubectl get the issued certificate");
    use base64::Engine;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(stdout(&issued).trim())
        .unwrap();
    let kl = work.join("kubelet-pki");
    std::fs::create_dir_all(&kl).unwrap();
    let mut pair = pem.clone();
    pair.extend(std::fs::read(work.join("ok-ecdsa.key")).unwrap());
    std::fs::write(kl.join("kubelet-server-current.pem"), pair).unwrap();
    let ca = c.root.join("pki/ca.crt");
    let v = run(
        "openssl",
        [
            "verify",
            "-purpose",
            "sslserver",
            "-CAfile",
            ca.to_str().unwrap(),
            "-verify_hostname",
            "worker-1",
            "-verify_ip",
            "10.0.0.7",
            kl.join("kubelet-server-current.pem").to_str().unwrap(),
        ],
    );
    assert_ok(&v, "openssl verify the issued serving certificate");
    let mut args = vec![
        "kubelet".to_string(),
        "serving".into(),
        "--kubelet-pki-dir".into(),
        kl.display().to_string(),
    ];
    args.extend(dir_args(&c.root));
    let report = kcerts(&args);
    assert_ok(&report, "kubelet serving");
    let text = stdout(&report);
    assert!(
        text.contains("signer:   signed by the cluster CA") && text.contains("key:      matches"),
        "{text}"
    );

    // --deny: the refused ones are Denied, with the reason as the message.
    let out = approve(&c, &[POLICY, &["--deny"]].concat());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("[approve] 0 approved, 12 denied, 0 left Pending"),
        "{text}"
    );
    let after = conditions(&c);
    for (r, _, reason) in &cases {
        if let Some(why) = reason {
            let v = &after[r.name];
            assert!(
                v.starts_with("Denied|") && v.contains(why),
                "{}: {v}",
                r.name
            );
        }
    }
    assert_eq!(
        after["kubelet-client"], "|",
        "another signer's request stays Pending"
    );
    let table = c.kubectl(&["get", "csr", "other-ip"]);
    assert_eq!(
        stdout(&table)
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().last()),
        Some("Denied"),
        "{}",
        stdout(&table)
    );
    // Nothing Pending of ours is left: a further run does nothing.
    let out = approve(&c, POLICY);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("[approve] 0 approved, 0 denied, 0 left Pending"));
}

/// Sends `signal` to the child and waits for it, bounded.
fn stop(child: std::process::Child, signal: &str) -> std::process::Output {
    let pid = child.id().to_string();
    assert_ok(&run("kill", [signal, pid.as_str()]), "kill");
    finish(child, Duration::from_secs(20))
}

#[test]
fn watch_approves_new_requests_until_sigterm_or_sigint() {
    let (c, work, worker1) = with_worker();
    let spawn = || {
        Command::new(kcerts_bin())
            .args([
                "approve",
                "kubelet-serving",
                "--kubeconfig",
                c.root.join("admin.conf").to_str().unwrap(),
                "--watch",
                "--interval",
                "1s",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let watcher = spawn();
    // A request created while it watches is approved within a few intervals.
    create(
        &c,
        &manifest(
            &work,
            &Req {
                name: "late",
                ..Req::default()
            },
        ),
        Some(&worker1),
    );
    let end = Instant::now() + Duration::from_secs(20);
    while !conditions(&c)["late"].starts_with("Approved|") {
        assert!(
            Instant::now() < end,
            "not approved within 20 s:\n{}",
            c.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = stop(watcher, "-TERM");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("[approve] late: approved (node worker-1)"),
        "{text}"
    );
    assert!(text.contains("[approve] stopped"), "{text}");
    assert!(
        text.contains("[approve] 1 approved, 0 denied, 0 left Pending"),
        "{text}"
    );

    // SIGINT (Ctrl-C) stops it the same way; a refused request is reported once.
    create(
        &c,
        &manifest(
            &work,
            &Req {
                name: "bad",
                san: Some("DNS:evil.example"),
                ..Req::default()
            },
        ),
        Some(&worker1),
    );
    let watcher = spawn();
    std::thread::sleep(Duration::from_millis(3500));
    let out = stop(watcher, "-INT");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert_eq!(
        text.matches("[approve] bad: left Pending: DNS name \"evil.example\"")
            .count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("0 approved, 0 denied, 1 left Pending"),
        "{text}"
    );
    assert_eq!(conditions(&c)["bad"], "|");
}
