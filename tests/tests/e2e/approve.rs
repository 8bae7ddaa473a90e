//! `kcerts approve kubelet-serving` against the fake API server: requests created
//! by the real kubectl (`kubectl create -f`) authenticated with node client
//! certificates (so the API server records `system:node:NAME` in `system:nodes` as
//! their requester), decided by kcerts against the cluster's Node objects, the
//! `kubernetes` Service, EndpointSlice and ServiceCIDR (a kubeadm cluster's, see
//! [`with_worker`]), and read back with `kubectl get csr`: the Approved and Denied
//! conditions, every refusal reason, the attacks of issue 23 with stolen kubelet
//! credentials under the default settings, `--dry-run`, `--watch` stopped by
//! SIGTERM and by SIGINT, in-cluster configuration (a service-account token, in a
//! mount namespace), and the shipped Deployment and RBAC (schemas, kubectl, and
//! every API call the approver made allowed by the shipped rules). Every wait is
//! bounded.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kcerts_tests::bounded::finish;
use kcerts_tests::fake_apiserver::{Options, objects};
use kcerts_tests::fake_cluster::{Cluster, cluster};
use kcerts_tests::fake_discovery::{FakeDiscovery, SERVICE_ACCOUNT_AND_RBAC};
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

/// A fake cluster with a kubeadm cluster's objects (`objects::kubeadm_cluster`:
/// cp-1 10.0.0.10, the API server's advertise address; worker-1 10.0.0.7; worker-2
/// 10.0.0.8; services 10.96.0.0/12), a work directory, and the kubeconfig
/// of worker-1's kubelet. The fake's signer issues approved kubelet serving
/// requests with the cluster CA, as kube-controller-manager does.
fn with_worker() -> (Cluster, PathBuf, PathBuf) {
    with_worker_and(|_| {})
}

/// [`with_worker`], with more settings of the fake.
fn with_worker_and(tune: impl FnOnce(&mut Options)) -> (Cluster, PathBuf, PathBuf) {
    let c = cluster(|o| {
        o.signers.push(SERVING.into());
        o.objects = objects::kubeadm_cluster();
        tune(o);
    });
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
pub(super) struct Req<'a> {
    pub(super) name: &'a str,
    /// The CSR subject.
    pub(super) subj: &'a str,
    /// `subjectAltName=...`, or none.
    pub(super) san: Option<&'a str>,
    /// An RSA key of this many bits instead of ECDSA P-256.
    pub(super) rsa: Option<u32>,
    pub(super) usages: &'a [&'a str],
    pub(super) expiration_seconds: Option<u32>,
    pub(super) signer: &'a str,
}

pub(super) const SERVING: &str = "kubernetes.io/kubelet-serving";
const USAGES: &[&str] = &["digital signature", "server auth"];

impl Default for Req<'_> {
    fn default() -> Self {
        Self {
            name: "",
            subj: "/O=system:nodes/CN=system:node:worker-1",
            san: Some("DNS:worker-1,IP:10.0.0.7"),
            rsa: None,
            usages: USAGES,
            expiration_seconds: None,
            signer: SERVING,
        }
    }
}

/// The manifest `kubectl create -f` reads: a CSR made by openssl, base64 in spec.request.
pub(super) fn manifest(work: &Path, r: &Req<'_>) -> PathBuf {
    let key = work.join(format!("{}.key", r.name));
    let csr = work.join(format!("{}.csr", r.name));
    let p = |x: &Path| x.display().to_string();
    let mut args: Vec<String> = ["req", "-new", "-nodes", "-subj", r.subj, "-keyout"]
        .map(String::from)
        .to_vec();
    args.push(p(&key));
    args.extend(["-out".into(), p(&csr), "-newkey".into()]);
    if let Some(bits) = r.rsa {
        args.push(format!("rsa:{bits}"));
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
    let out = c.kubectl(&["get", "csr", "-o", kubectl::CSR_CONDITIONS_JSONPATH]);
    assert_ok(&out, "kubectl get csr");
    kubectl::csr_conditions(&stdout(&out))
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
    r"[a-z0-9-]+(\.nodes\.example)?",
    "--allowed-ip-prefixes",
    "10.0.0.0/8,127.0.0.0/8",
    "--max-validity",
    "720h",
];

#[test]
fn approves_what_passes_and_says_why_the_rest_does_not() {
    let (c, work, worker1) = with_worker();
    let not_in_group = client_cert(&c, &work, "worker-3", "/O=ops/CN=system:node:worker-3");

    // The control-plane node's own kubelet, with kubelet.conf's certificate: its
    // name only (its InternalIP is the API server's advertise address, refused).
    let kubelet_conf = c.root.join("kubelet.conf").display().to_string();
    let cp1 = manifest(
        &work,
        &Req {
            name: "cp-1-serving",
            subj: "/O=system:nodes/CN=system:node:cp-1",
            san: Some("DNS:cp-1"),
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
                rsa: Some(2048),
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
                san: Some("DNS:worker-1.nodes.example"),
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
            Some(
                "DNS name \"api.example.com\" is neither the node name \"worker-1\" nor starts \
                 with \"worker-1.\"",
            ),
        ),
        (
            Req {
                name: "not-by-regex",
                san: Some("DNS:worker-1.lan"),
                ..Req::default()
            },
            Some(&worker1),
            Some("DNS name \"worker-1.lan\" does not match --dns-regex"),
        ),
        (
            Req {
                name: "other-ip",
                san: Some("DNS:worker-1,IP:192.168.5.5"),
                ..Req::default()
            },
            Some(&worker1),
            Some(
                "IP address 192.168.5.5 is not one of node \"worker-1\"'s InternalIP or \
                 ExternalIP addresses (10.0.0.7)",
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
        (
            Req {
                name: "weak-rsa-1024",
                rsa: Some(1024),
                usages: &["digital signature", "key encipherment", "server auth"],
                ..Req::default()
            },
            Some(&worker1),
            // (A SHA-1 signed request is refused by the same rule, tested in the core:
            // the fake API server, unlike Go's, cannot verify SHA-1 and refuses to
            // create it.)
            Some("the request is weak: an RSA key of 1024 bits, under 2048"),
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
        text.contains("[approve] 4 approved, 0 denied, 14 left Pending"),
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
    let pem = kubectl::issued_certificate(&stdout(&issued));
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
        text.contains("[approve] 0 approved, 14 denied, 0 left Pending"),
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
        text.matches("[approve] bad: left Pending: DNS name \"evil.example\" is neither")
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

/// The DER elements one after another in `der`: (tag, whole element, content).
fn der_elements(mut der: &[u8]) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while der.len() >= 2 {
        let (len, head) = match der[1] {
            n if n < 0x80 => (usize::from(n), 2),
            n => {
                let k = usize::from(n & 0x7f);
                let len = der[2..2 + k]
                    .iter()
                    .fold(0usize, |a, b| (a << 8) | usize::from(*b));
                (len, 2 + k)
            }
        };
        out.push((
            der[0],
            der[..head + len].to_vec(),
            der[head..head + len].to_vec(),
        ));
        der = &der[head + len..];
    }
    out
}

/// One DER element.
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if content.len() < 0x80 {
        out.push(content.len() as u8);
    } else {
        let bytes = content.len().to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The manifest of a request whose CSR holds two extensionRequest attributes:
/// worker-1's own names in the first, `smuggled` in the second, laid out from two
/// openssl requests with the same key and signed again by openssl. Go's parser
/// (the signer's) reads the names of both.
pub(super) fn two_extension_requests(work: &Path, name: &str, smuggled: &str) -> PathBuf {
    let first = Req {
        name,
        ..Req::default()
    };
    manifest(work, &first);
    let key = work.join(format!("{name}.key"));
    let second = work.join(format!("{name}-second.csr"));
    let p = |x: &Path| x.display().to_string();
    assert_ok(
        &run(
            "openssl",
            [
                "req",
                "-new",
                "-key",
                &p(&key),
                "-subj",
                first.subj,
                "-addext",
                &format!("subjectAltName={smuggled}"),
                "-outform",
                "DER",
                "-out",
                &p(&second),
            ],
        ),
        "openssl req (second)",
    );
    let der_of = |pem: &Path| {
        let out = run(
            "openssl",
            [
                "req",
                "-in",
                &p(pem),
                "-outform",
                "DER",
                "-out",
                &p(&pem.with_extension("der")),
            ],
        );
        assert_ok(&out, "openssl req -outform DER");
        std::fs::read(pem.with_extension("der")).unwrap()
    };
    // CertificationRequest ::= SEQUENCE { info, signatureAlgorithm, signature }
    let info_parts = |csr: &[u8]| {
        let parts = der_elements(&der_elements(csr)[0].2);
        (der_elements(&parts[0].2), parts[1].1.clone())
    };
    let (mut info, alg) = info_parts(&der_of(&work.join(format!("{name}.csr"))));
    let (other, _) = info_parts(&std::fs::read(&second).unwrap());
    assert_eq!(info[3].0, 0xa0, "the attributes");
    let attrs = [info[3].2.clone(), other[3].2.clone()].concat();
    info[3] = (0xa0, der_tlv(0xa0, &attrs), attrs);
    let tbs: Vec<u8> = info.iter().flat_map(|e| e.1.clone()).collect();
    let tbs = der_tlv(0x30, &tbs);
    let tbs_file = work.join(format!("{name}.tbs"));
    std::fs::write(&tbs_file, &tbs).unwrap();
    let sig_file = work.join(format!("{name}.sig"));
    assert_ok(
        &run(
            "openssl",
            [
                "dgst",
                "-sha256",
                "-sign",
                &p(&key),
                "-out",
                &p(&sig_file),
                &p(&tbs_file),
            ],
        ),
        "openssl dgst -sign",
    );
    let mut bits = vec![0u8];
    bits.extend(std::fs::read(&sig_file).unwrap());
    let csr = der_tlv(0x30, &[tbs, alg, der_tlv(0x03, &bits)].concat());
    let der_file = work.join(format!("{name}.der"));
    std::fs::write(&der_file, &csr).unwrap();
    // openssl reads it back with a valid signature.
    let text = run(
        "openssl",
        [
            "req",
            "-inform",
            "DER",
            "-in",
            &p(&der_file),
            "-noout",
            "-text",
            "-verify",
        ],
    );
    assert!(
        stderr(&text).contains("verify OK") || stdout(&text).contains("verify OK"),
        "{}{}",
        stdout(&text),
        stderr(&text)
    );
    // Two attributes of type extensionRequest (1.2.840.113549.1.9.14); openssl
    // prints only the first, as it reads only the first.
    let oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e,
    ];
    assert_eq!(csr.windows(oid.len()).filter(|w| *w == oid).count(), 2);
    use base64::Engine;
    let pem = format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        base64::engine::general_purpose::STANDARD.encode(&csr)
    );
    let request = base64::engine::general_purpose::STANDARD.encode(pem);
    let yaml = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  \
         name: {name}\nspec:\n  request: {request}\n  signerName: {SERVING}\n  usages:\n  \
         - digital signature\n  - server auth\n"
    );
    let f = work.join(format!("{name}.yaml"));
    std::fs::write(&f, yaml).unwrap();
    f
}

/// Issue 23: with the default settings, a node with stolen kubelet credentials
/// for worker-1 asks for names that are not worker-1's (the kubernetes Service's
/// IP, the API server's advertise address, another node's IP, a longer node name,
/// ...), and shapes a kubelet never writes. Each is refused with its reason, in
/// the output and on the Denied condition; the kubelet's own request (its name,
/// its InternalIP, its hostname) is approved and issued.
#[test]
fn stolen_kubelet_credentials_get_no_foreign_name_by_default() {
    let (c, work, worker1) = with_worker();
    let no_node = client_cert(
        &c,
        &work,
        "worker-3",
        "/O=system:nodes/CN=system:node:worker-3",
    );
    let cases: Vec<(Req<'_>, &PathBuf, Option<&str>)> = vec![
        (
            Req {
                name: "kubelet",
                san: Some("DNS:worker-1,IP:10.0.0.7"),
                ..Req::default()
            },
            &worker1,
            None,
        ),
        (
            Req {
                name: "kubernetes-service-ip",
                san: Some("DNS:worker-1,IP:10.0.0.7,IP:10.96.0.1"),
                ..Req::default()
            },
            &worker1,
            Some(
                "IP address 10.96.0.1 is the cluster IP of the kubernetes Service \
                 (default/kubernetes)",
            ),
        ),
        (
            Req {
                name: "mapped-service-ip",
                san: Some("DNS:worker-1,IP:::ffff:10.96.0.1"),
                ..Req::default()
            },
            &worker1,
            Some("IP address 10.96.0.1 is the cluster IP of the kubernetes Service"),
        ),
        (
            Req {
                name: "service-range",
                san: Some("DNS:worker-1,IP:10.96.0.10"),
                ..Req::default()
            },
            &worker1,
            Some("IP address 10.96.0.10 is within the service range 10.96.0.0/12"),
        ),
        (
            Req {
                name: "apiserver-address",
                san: Some("DNS:worker-1,IP:10.0.0.10"),
                ..Req::default()
            },
            &worker1,
            Some("IP address 10.0.0.10 is an address of the API server"),
        ),
        (
            Req {
                name: "other-node-ip",
                san: Some("DNS:worker-1,IP:10.0.0.8"),
                ..Req::default()
            },
            &worker1,
            Some("IP address 10.0.0.8 is an address of another node, \"worker-2\" (InternalIP)"),
        ),
        (
            Req {
                name: "other-node-pod",
                san: Some("DNS:worker-1,IP:10.244.2.15"),
                ..Req::default()
            },
            &worker1,
            Some(
                "IP address 10.244.2.15 is within the pod range 10.244.2.0/24 of another \
                 node, \"worker-2\"",
            ),
        ),
        (
            Req {
                name: "loopback",
                san: Some("DNS:worker-1,IP:127.0.0.1"),
                ..Req::default()
            },
            &worker1,
            Some("IP address 127.0.0.1 is a loopback address"),
        ),
        (
            Req {
                name: "foreign-ip",
                san: Some("DNS:worker-1,IP:192.168.5.5"),
                ..Req::default()
            },
            &worker1,
            Some(
                "IP address 192.168.5.5 is not one of node \"worker-1\"'s InternalIP or \
                 ExternalIP addresses (10.0.0.7)",
            ),
        ),
        (
            Req {
                name: "longer-node-name",
                san: Some("DNS:worker-10"),
                ..Req::default()
            },
            &worker1,
            Some(
                "DNS name \"worker-10\" is neither the node name \"worker-1\" nor starts with \
                 \"worker-1.\"",
            ),
        ),
        (
            Req {
                name: "service-name",
                san: Some("DNS:worker-1.default.svc.cluster.local"),
                ..Req::default()
            },
            &worker1,
            Some("DNS name \"worker-1.default.svc.cluster.local\" is a Service's in-cluster name"),
        ),
        (
            Req {
                name: "many-names",
                san: Some("DNS:worker-1,DNS:worker-1.a,DNS:worker-1.b"),
                ..Req::default()
            },
            &worker1,
            Some(
                "the request names 2 DNS names besides the node's Hostname address \
                 (worker-1.a, worker-1.b); at most 1 are allowed (--max-dns-names)",
            ),
        ),
        (
            Req {
                name: "two-cns",
                subj: "/O=system:nodes/CN=system:node:worker-1/CN=system:node:worker-2",
                ..Req::default()
            },
            &worker1,
            Some("the request's subject has 2 CNs (system:node:worker-1, system:node:worker-2)"),
        ),
        (
            Req {
                name: "other-name",
                san: Some("DNS:worker-1,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:admin"),
                ..Req::default()
            },
            &worker1,
            Some(
                "the request names an otherName of type 1.3.6.1.4.1.311.20.2.3; only DNS \
                 names and IP addresses are checked and allowed",
            ),
        ),
        (
            Req {
                name: "no-node-object",
                subj: "/O=system:nodes/CN=system:node:worker-3",
                san: Some("DNS:worker-3"),
                ..Req::default()
            },
            &no_node,
            Some("node \"worker-3\" has no Node object"),
        ),
    ];
    for (r, who, _) in &cases {
        create(&c, &manifest(&work, r), Some(*who));
    }
    create(
        &c,
        &two_extension_requests(&work, "two-extension-requests", "IP:10.96.0.1"),
        Some(&worker1),
    );
    let two_ext = "the request holds 2 extensionRequest attributes";

    // The default settings: no --dns-regex, no --allowed-ip-prefixes.
    let out = approve(&c, &[]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{text}\n{}\n{}",
        stderr(&out),
        c.diagnostics()
    );
    let refused = cases.iter().filter(|(_, _, why)| why.is_some()).count() + 1;
    assert!(
        text.contains(&format!(
            "[approve] 1 approved, 0 denied, {refused} left Pending"
        )),
        "{text}"
    );
    assert!(
        text.contains("[approve] kubelet: approved (node worker-1)"),
        "{text}"
    );
    let pending_line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("[approve] {name}: left Pending: ")))
            .unwrap_or_else(|| panic!("{name}: {text}"))
            .to_string()
    };
    for (r, _, why) in &cases {
        if let Some(why) = why {
            let line = pending_line(r.name);
            assert!(line.contains(why), "{}: {line}", r.name);
        }
    }
    assert!(
        pending_line("two-extension-requests").contains(two_ext),
        "{text}"
    );

    // --deny writes each reason on the request's Denied condition.
    let out = approve(&c, &["--deny"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let after = conditions(&c);
    assert!(after["kubelet"].starts_with("Approved|"), "{after:?}");
    let mut reasons: Vec<(&str, &str)> = cases
        .iter()
        .filter_map(|(r, _, why)| why.map(|w| (r.name, w)))
        .collect();
    reasons.push(("two-extension-requests", two_ext));
    for (name, why) in reasons {
        let v = &after[name];
        assert!(
            v.starts_with("Denied|kcerts approve kubelet-serving: ") && v.contains(why),
            "{name}: {v}"
        );
    }
    // The approved request was issued, for exactly its names.
    let issued = c.kubectl(&[
        "get",
        "csr",
        "kubelet",
        "-o",
        "jsonpath={.status.certificate}",
    ]);
    assert_ok(&issued, "kubectl get the issued certificate");
    let pem = kubectl::issued_certificate(&stdout(&issued));
    let san = kubectl::openssl_san(&pem, &work);
    assert!(san.contains("DNS:worker-1, IP Address:10.0.0.7"), "{san}");
}

/// Without --kubeconfig and outside a pod, the approver names both ways to reach
/// the API server instead of falling back to admin.conf.
#[test]
fn without_kubeconfig_or_in_cluster_configuration_it_says_how_to_give_one() {
    let out = Command::new(kcerts_bin())
        .args(["approve", "kubelet-serving", "--dry-run"])
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--kubeconfig")
            && err.contains("KUBERNETES_SERVICE_HOST")
            && err.contains("/var/run/secrets/kubernetes.io/serviceaccount"),
        "{err}"
    );
    assert!(
        !err.contains("cannot read the kubeconfig /etc/kubernetes/admin.conf"),
        "{err}"
    );
}

/// The service account's files as the kubelet mounts them into a pod.
fn service_account_dir(c: &Cluster, work: &Path, token: &str) -> PathBuf {
    let sa = work.join("serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), token).unwrap();
    std::fs::copy(c.root.join("pki/ca.crt"), sa.join("ca.crt")).unwrap();
    std::fs::write(sa.join("namespace"), "kube-system").unwrap();
    sa
}

const APPROVER_SA: &str = "system:serviceaccount:kube-system:kcerts-approver";

/// `kcerts approve kubelet-serving ARGS` as in a pod: in a private mount namespace
/// (unshare) whose /run is a fresh tmpfs holding the service account's files at
/// /var/run/secrets/kubernetes.io/serviceaccount, with KUBERNETES_SERVICE_HOST and
/// _PORT set, and no --kubeconfig. Nothing outside the namespace changes.
fn approve_in_pod(c: &Cluster, sa: &Path, args: &[&str]) -> std::process::Output {
    let script = format!(
        "set -e; mount -t tmpfs kcerts-run /run; \
         mkdir -p /run/secrets/kubernetes.io/serviceaccount; \
         cp {sa}/token {sa}/ca.crt {sa}/namespace /run/secrets/kubernetes.io/serviceaccount/; \
         exec \"$@\"",
        sa = sa.display()
    );
    let bin = kcerts_bin();
    let url = c.url();
    let port = url.rsplit(':').next().unwrap_or_default();
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
        "sh",
    ])
    .arg(&bin)
    .args(["approve", "kubelet-serving"])
    .args(args)
    .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    .env("KUBERNETES_SERVICE_PORT", port)
    .env_remove("KUBECONFIG")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    finish(cmd.spawn().unwrap(), Duration::from_secs(60))
}

/// In a pod, with the service account's token: the approver reads the cluster and
/// approves as its own identity; and every call it made is one the shipped RBAC
/// (deploy/kubernetes/kcerts-approver.yaml) allows.
#[test]
fn in_cluster_it_approves_as_its_service_account_within_the_shipped_rbac() {
    let token = "kcerts-approver-token-0123456789";
    let (c, work, worker1) = with_worker_and(|o| o.tokens.push((token.into(), APPROVER_SA.into())));
    for (name, san) in [
        ("kubelet", "DNS:worker-1,IP:10.0.0.7"),
        ("svc", "IP:10.96.0.1"),
    ] {
        let r = Req {
            name,
            san: Some(san),
            ..Req::default()
        };
        create(&c, &manifest(&work, &r), Some(&worker1));
    }
    let sa = service_account_dir(&c, &work, token);
    let out = approve_in_pod(&c, &sa, &[]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{text}\n{}\n{}",
        stderr(&out),
        c.diagnostics()
    );
    assert!(
        text.contains("[approve] kubelet: approved (node worker-1)"),
        "{text}"
    );
    assert!(
        text.contains("[approve] svc: left Pending: IP address 10.96.0.1 is the cluster IP"),
        "{text}"
    );
    let after = conditions(&c);
    assert!(after["kubelet"].starts_with("Approved|"), "{after:?}");
    // Every call was made as the service account, and each is allowed by the
    // shipped rules.
    let rules = shipped_rules();
    let calls: Vec<String> = server_log(&c)
        .into_iter()
        .filter(|l| l.contains(&format!("user={APPROVER_SA} ")))
        .collect();
    assert!(
        calls
            .iter()
            .any(|l| l.starts_with("PUT ") && l.contains("/approval")),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|l| l.contains("/api/v1/nodes")),
        "{calls:?}"
    );
    for call in &calls {
        let attrs = rbac_attributes(call);
        assert!(
            rules.iter().any(|r| r.allows(&attrs)),
            "{call} ({attrs:?}) is not allowed by deploy/kubernetes/kcerts-approver.yaml"
        );
    }
    // The approval was written by the service account, no one else.
    let approvals: Vec<String> = server_log(&c)
        .into_iter()
        .filter(|l| l.starts_with("PUT ") && l.contains("/approval "))
        .collect();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert!(
        approvals[0].contains(&format!("user={APPROVER_SA} ")),
        "{approvals:?}"
    );
    // The approval itself is one the signer rule covers: approve on the signer.
    assert!(rules.iter().any(|r| r.allows(&Attrs {
        namespace: None,
        group: "certificates.k8s.io".into(),
        resource: "signers".into(),
        name: Some(SERVING.into()),
        verb: "approve".into(),
    })));
    assert!(!rules.iter().any(|r| r.allows(&Attrs {
        namespace: None,
        group: "certificates.k8s.io".into(),
        resource: "signers".into(),
        name: Some("kubernetes.io/kube-apiserver-client".into()),
        verb: "approve".into(),
    })));
}

/// The fake API server's log: one line per request (`METHOD PATH user=NAME -> CODE`).
fn server_log(c: &Cluster) -> Vec<String> {
    c.diagnostics()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// What RBAC authorizes one request by.
#[derive(Debug)]
struct Attrs {
    namespace: Option<String>,
    group: String,
    /// `resource` or `resource/subresource`.
    resource: String,
    name: Option<String>,
    verb: String,
}

/// One rule of a Role or ClusterRole, with the namespace it applies in (`None`: all).
#[derive(Debug)]
struct Rule {
    namespace: Option<String>,
    groups: Vec<String>,
    resources: Vec<String>,
    names: Vec<String>,
    verbs: Vec<String>,
}

impl Rule {
    fn allows(&self, a: &Attrs) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|n| a.namespace.as_ref() == Some(n))
            && self.groups.contains(&a.group)
            && self.resources.contains(&a.resource)
            && self.verbs.contains(&a.verb)
            && (self.names.is_empty() || a.name.as_ref().is_some_and(|n| self.names.contains(n)))
    }
}

/// The request attributes of one line of the fake's log (`METHOD PATH... user=...`),
/// as the API server's request-info resolver derives them.
fn rbac_attributes(line: &str) -> Attrs {
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default();
    let target = words.next().unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _v, rest @ ..] => (String::new(), rest.to_vec()),
        ["apis", g, _v, rest @ ..] => (g.to_string(), rest.to_vec()),
        _ => panic!("not a resource request: {line}"),
    };
    let (namespace, rest) = match rest.as_slice() {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest.to_vec()),
        _ => (None, rest),
    };
    let (resource, name) = match rest.as_slice() {
        [r] => (r.to_string(), None),
        [r, n] => (r.to_string(), Some(n.to_string())),
        [r, n, sub] => (format!("{r}/{sub}"), Some(n.to_string())),
        _ => panic!("unexpected path: {line}"),
    };
    let watch = target.contains("watch=true") || target.contains("watch=1");
    let verb = match (method, &name) {
        ("GET", _) if watch => "watch",
        ("GET", None) => "list",
        ("GET", Some(_)) => "get",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("POST", _) => "create",
        ("DELETE", _) => "delete",
        _ => panic!("unexpected method: {line}"),
    };
    Attrs {
        namespace,
        group,
        resource,
        name,
        verb: verb.into(),
    }
}

/// The objects of the shipped manifest, as kubectl reads them (`apply
/// --dry-run=client -o json` against a server that answers discovery only).
fn shipped_objects() -> Vec<serde_json::Value> {
    let server = FakeDiscovery::start(
        &[
            &SERVICE_ACCOUNT_AND_RBAC[..],
            &[("apps/v1", "deployments", "Deployment")],
        ]
        .concat(),
    );
    let dir = tempdir();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    let o = run(
        "kubectl",
        [
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "apply",
            "--dry-run=client",
            "--validate=false",
            "-o",
            "json",
            "-f",
            approver_manifest().to_str().unwrap(),
        ],
    );
    assert_ok(&o, "kubectl apply --dry-run=client -o json");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["items"].as_array().cloned().unwrap_or_else(|| vec![v])
}

fn approver_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("deploy/kubernetes/kcerts-approver.yaml")
}

/// The rules bound to the approver's service account.
fn shipped_rules() -> Vec<Rule> {
    let objs = shipped_objects();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let bound = |kind: &str, name: &str| {
        objs.iter().any(|o| {
            o["kind"].as_str().is_some_and(|k| k.ends_with("Binding"))
                && o["roleRef"]["kind"] == kind
                && o["roleRef"]["name"] == name
                && o["subjects"].as_array().is_some_and(|s| {
                    s.iter().any(|s| {
                        s["kind"] == "ServiceAccount"
                            && s["name"] == "kcerts-approver"
                            && s["namespace"] == "kube-system"
                    })
                })
        })
    };
    let mut rules = Vec::new();
    for o in &objs {
        let kind = o["kind"].as_str().unwrap_or_default();
        let name = o["metadata"]["name"].as_str().unwrap_or_default();
        if !(kind == "ClusterRole" || kind == "Role") || !bound(kind, name) {
            continue;
        }
        let namespace = (kind == "Role")
            .then(|| o["metadata"]["namespace"].as_str().map(str::to_string))
            .flatten();
        for r in o["rules"].as_array().into_iter().flatten() {
            rules.push(Rule {
                namespace: namespace.clone(),
                groups: strings(&r["apiGroups"]),
                resources: strings(&r["resources"]),
                names: strings(&r["resourceNames"]),
                verbs: strings(&r["verbs"]),
            });
        }
    }
    rules
}

/// The shipped approver: valid for the Kubernetes schemas, applied by kubectl,
/// least privilege (no wildcard; approve on the kubelet-serving signer only; no
/// write but the approval), its own identity, `approve kubelet-serving --watch`
/// on control-plane nodes, unprivileged.
#[test]
fn the_shipped_approver_deployment_and_rbac_validate_and_grant_only_what_it_needs() {
    let file = approver_manifest();
    let validate = kcerts_tests::pip::kubernetes_validate;
    let o = validate(&file);
    assert_ok(&o, "kubernetes-validate");
    let out = format!("{}{}", stdout(&o), stderr(&o));
    for kind in [
        "serviceaccount/kcerts-approver",
        "clusterrole/kcerts-approver",
        "clusterrolebinding/kcerts-approver",
        "role/kcerts-approver",
        "rolebinding/kcerts-approver",
        "deployment/kcerts-approver",
    ] {
        assert!(
            out.contains(&format!("passed for resource {kind}")),
            "{kind}: {out}"
        );
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let dir = tempdir();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, text.replace("resourceNames:", "resourceName:")).unwrap();
    assert!(
        !validate(&bad).status.success(),
        "the validator catches a misspelt field"
    );

    let objs = shipped_objects();
    let kinds: Vec<String> = objs
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount/kcerts-approver",
            "ClusterRole/kcerts-approver",
            "ClusterRoleBinding/kcerts-approver",
            "Role/kcerts-approver",
            "RoleBinding/kcerts-approver",
            "Deployment/kcerts-approver",
        ]
    );
    let rules = shipped_rules();
    assert_eq!(rules.len(), 7, "{rules:?}");
    for r in &rules {
        for v in r
            .groups
            .iter()
            .chain(&r.resources)
            .chain(&r.verbs)
            .chain(&r.names)
        {
            assert!(!v.contains('*'), "no wildcard: {r:?}");
        }
        for verb in &r.verbs {
            let write = !["get", "list", "watch"].contains(&verb.as_str());
            if write {
                assert!(
                    (r.resources == ["certificatesigningrequests/approval"] && verb == "update")
                        || (r.resources == ["signers"]
                            && verb == "approve"
                            && r.names == [SERVING]),
                    "the only writes are the approval and approve on {SERVING}: {r:?}"
                );
            }
        }
    }
    let attrs =
        |ns: Option<&str>, group: &str, resource: &str, name: Option<&str>, verb: &str| Attrs {
            namespace: ns.map(str::to_string),
            group: group.into(),
            resource: resource.into(),
            name: name.map(str::to_string),
            verb: verb.into(),
        };
    let allowed = |a: Attrs| rules.iter().any(|r| r.allows(&a));
    assert!(allowed(attrs(None, "", "nodes", Some("worker-1"), "get")));
    assert!(allowed(attrs(None, "", "nodes", None, "list")));
    assert!(!allowed(attrs(
        None,
        "",
        "nodes",
        Some("worker-1"),
        "update"
    )));
    assert!(!allowed(attrs(
        None,
        "",
        "nodes/status",
        Some("worker-1"),
        "patch"
    )));
    assert!(!allowed(attrs(None, "", "secrets", None, "list")));
    assert!(!allowed(attrs(
        Some("default"),
        "",
        "services",
        Some("other"),
        "get"
    )));
    assert!(!allowed(attrs(
        Some("kube-system"),
        "",
        "services",
        Some("kubernetes"),
        "get"
    )));
    assert!(!allowed(attrs(
        None,
        "certificates.k8s.io",
        "certificatesigningrequests",
        Some("x"),
        "delete"
    )));
    assert!(!allowed(attrs(
        None,
        "certificates.k8s.io",
        "certificatesigningrequests/status",
        Some("x"),
        "update"
    )));

    let deploy = &objs[5];
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(deploy["spec"]["replicas"], 1);
    assert_eq!(pod["serviceAccountName"], "kcerts-approver");
    assert_eq!(
        pod["nodeSelector"]["node-role.kubernetes.io/control-plane"],
        ""
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(
        pod["volumes"].is_null() && pod["hostNetwork"].is_null(),
        "{pod}"
    );
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(&args[..3], ["approve", "kubelet-serving", "--watch"]);
    assert!(!args.iter().any(|a| a.contains("kubeconfig")), "{args:?}");
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    // The arguments parse: kcerts takes them, and stops only for want of a cluster.
    let out = Command::new(kcerts_bin())
        .args(["approve", "kubelet-serving"])
        .args(&args[2..])
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("KUBERNETES_SERVICE_HOST"),
        "{}",
        stderr(&out)
    );
}
