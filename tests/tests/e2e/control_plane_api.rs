//! The real control plane's API (issue 24, tests 3 and 4): what kcerts asks of
//! the real kube-apiserver and kube-controller-manager v1.37.2 that kubeadm's
//! manifests started (tests/src/real_cluster.rs).
//!
//! 3. `renew --use-api`: the requests kcerts makes are signed by the
//!    controller-manager's own signer (its `--cluster-signing-cert-file` /
//!    `--cluster-signing-key-file`, `pki/ca.crt` and `pki/ca.key`, as kubeadm
//!    writes them) once `kubectl certificate approve` approves them, and the
//!    renewed kubeconfigs are accepted by the API server.
//! 4. `approve kubelet-serving`: requests made the way a kubelet makes them
//!    (`kubectl --as=system:node:NAME --as-group=system:nodes create`, so the
//!    API server itself records the requester in spec.username), judged
//!    against Node objects whose status.addresses were set through the status
//!    subresource, the real `kubernetes` Service, EndpointSlice and
//!    ServiceCIDR; kcerts runs as the ServiceAccount of
//!    deploy/kubernetes/kcerts-approver.yaml (applied as shipped, a token from
//!    `kubectl create token`): every attack of issue 23 is left Pending, then
//!    Denied, with its reason; the kubelet's own request is approved and the
//!    controller-manager issues it; the same identity cannot approve a client
//!    certificate request.
//!
//! Skipped, with a message, only when the programs are not built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kcerts_core::certificate;
use kcerts_core::kubeconfig::Kubeconfig;
use kcerts_tests::bounded::finish;
use kcerts_tests::real_cluster::RealCluster;
use kcerts_tests::*;

use crate::approve::{Req, manifest, two_extension_requests};

/// The client certificate embedded in a kubeconfig file.
fn kubeconfig_cert(path: &std::path::Path) -> certificate::Certificate {
    let kc = Kubeconfig::parse(&std::fs::read(path).unwrap()).unwrap();
    certificate::parse_first(&kc.current().unwrap().client_certificate_data).unwrap()
}

/// Who the API server says the holder of `conf` is (`kubectl auth whoami`).
fn whoami(c: &RealCluster, conf: &std::path::Path) -> Result<String, String> {
    let out = c.kubectl_as(
        conf,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    if out.status.success() {
        Ok(stdout(&out))
    } else {
        Err(stderr(&out))
    }
}

/// The names of the pending CSRs whose name starts with `prefix`, waiting until
/// there are `n` of them (at most `limit`).
fn wait_for_csrs(c: &RealCluster, prefix: &str, n: usize, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    loop {
        let out = c.kubectl(
            0,
            &[
                "get",
                "csr",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
            ],
        );
        let names: Vec<String> = stdout(&out)
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string)
            .collect();
        if names.len() >= n {
            return names;
        }
        if start.elapsed() >= limit {
            panic!(
                "{n} CSRs named {prefix}* did not appear within {limit:?}: {names:?} {}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn renew_use_api_is_signed_by_the_controller_managers_signer() {
    let Some(c) = RealCluster::single() else {
        return;
    };
    let node = &c.nodes[0];
    let etc = node.etc();
    // The controller-manager signs with the cluster CA, as kubeadm wrote it.
    let manifest =
        std::fs::read_to_string(node.manifests().join("kube-controller-manager.yaml")).unwrap();
    assert!(
        manifest.contains("--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt")
            && manifest.contains("--cluster-signing-key-file=/etc/kubernetes/pki/ca.key"),
        "{manifest}"
    );
    let confs = ["admin.conf", "controller-manager.conf", "scheduler.conf"];
    let before: Vec<certificate::Certificate> = confs
        .iter()
        .map(|f| kubeconfig_cert(&etc.join(f)))
        .collect();

    let started = Instant::now();
    let child = c
        .command(kcerts_bin())
        .args(["renew"])
        .args(confs)
        .arg("--cert-dir")
        .arg(node.pki())
        .arg("--kubeconfig-dir")
        .arg(&etc)
        .arg("--use-api")
        .arg("--kubeconfig")
        .arg(node.admin_conf())
        .args(["--timeout", "120s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let names = wait_for_csrs(&c, "kubeadm-cert-", confs.len(), Duration::from_secs(120));
    // Nothing is signed before a human approves: the requests wait.
    let out = c.kubectl(
        0,
        &[
            "get",
            "csr",
            &names[0],
            "-o",
            "jsonpath={.status.certificate}",
        ],
    );
    assert_ok(&out, "kubectl get csr");
    assert_eq!(stdout(&out), "", "signed before approval");
    let mut args = vec!["certificate", "approve"];
    args.extend(names.iter().map(String::as_str));
    let approve = c.kubectl(0, &args);
    assert_ok(&approve, "kubectl certificate approve");
    let out = finish(child, Duration::from_secs(150));
    let took = started.elapsed();
    assert_ok(&out, "kcerts renew --use-api");
    let text = stdout(&out);
    for n in &names {
        assert!(
            text.contains(&format!("[certs] certificate request \"{n}\" created")),
            "{text}"
        );
    }

    // Each request names the client signer (kcerts' default), and the controller-manager
    // (not kcerts) issued it: the certificate is in the CSR's status.
    for n in &names {
        let out = c.kubectl(
            0,
            &[
                "get",
                "csr",
                n,
                "-o",
                "jsonpath={.spec.signerName} {.status.conditions[0].type}",
            ],
        );
        assert_ok(&out, "kubectl get csr");
        assert_eq!(
            stdout(&out),
            "kubernetes.io/kube-apiserver-client Approved",
            "{n}"
        );
    }
    let ca = certificate::parse_first(&std::fs::read(node.pki().join("ca.crt")).unwrap()).unwrap();
    for ((f, old), user) in confs.iter().zip(&before).zip([
        "kubernetes-admin",
        "system:kube-controller-manager",
        "system:kube-scheduler",
    ]) {
        let new = kubeconfig_cert(&etc.join(f));
        assert_ne!(new.serial, old.serial, "{f} not renewed");
        assert_eq!(new.subject, old.subject, "{f}");
        new.verify_signed_by(&ca).unwrap();
        // The API server accepts the renewed kubeconfig: it authenticates as before.
        assert_eq!(whoami(&c, &etc.join(f)).as_deref(), Ok(user), "{f}");
    }
    let out = c.kubectl(0, &["get", "namespace", "kube-system", "-o", "name"]);
    assert_ok(&out, "kubectl with the renewed admin.conf");
    eprintln!(
        "renew --use-api of {} kubeconfigs through the real signer: {:.1}s (approval included)",
        confs.len(),
        took.as_secs_f64()
    );
}

/// A Node object with `addresses` (TYPE, ADDRESS) set through the status
/// subresource, as a kubelet reports them, and `pod_cidr` in its spec.
fn node_object(
    c: &RealCluster,
    work: &Path,
    name: &str,
    addresses: &[(&str, &str)],
    pod_cidr: &str,
) {
    let f = work.join(format!("node-{name}.yaml"));
    std::fs::write(
        &f,
        format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\nspec:\n  podCIDR: {pod_cidr}\n  \
             podCIDRs:\n  - {pod_cidr}\n"
        ),
    )
    .unwrap();
    assert_ok(
        &c.kubectl(0, &["create", "-f", f.to_str().unwrap()]),
        "kubectl create node",
    );
    let list: Vec<String> = addresses
        .iter()
        .map(|(t, a)| format!("{{\"type\":\"{t}\",\"address\":\"{a}\"}}"))
        .collect();
    let patch = format!("{{\"status\":{{\"addresses\":[{}]}}}}", list.join(","));
    assert_ok(
        &c.kubectl(
            0,
            &[
                "patch",
                "node",
                name,
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch,
            ],
        ),
        "kubectl patch node --subresource=status",
    );
}

/// `kubectl create -f FILE` as node `node`'s kubelet would: impersonated, so
/// the API server records `system:node:NODE` in `system:nodes` as the requester.
fn create_as_node(c: &RealCluster, file: &Path, node: &str) {
    let out = try_create_as_node(c, file, node);
    assert_ok(
        &out,
        &format!("kubectl create -f {} as {node}", file.display()),
    );
}

/// [`create_as_node`], its output returned.
fn try_create_as_node(c: &RealCluster, file: &Path, node: &str) -> std::process::Output {
    let user = format!("--as=system:node:{node}");
    c.kubectl(
        0,
        &[
            "create",
            "-f",
            file.to_str().unwrap(),
            &user,
            "--as-group=system:nodes",
        ],
    )
}

/// A kubeconfig holding a token of the ServiceAccount kube-system/kcerts-approver.
fn approver_kubeconfig(c: &RealCluster, work: &Path) -> PathBuf {
    let out = c.kubectl(
        0,
        &["create", "token", "kcerts-approver", "-n", "kube-system"],
    );
    assert_ok(&out, "kubectl create token kcerts-approver");
    let token = stdout(&out).trim().to_string();
    let conf = work.join("approver.conf");
    std::fs::write(
        &conf,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: real\n  cluster:\n    server: {}\n    \
             certificate-authority: {}\nusers:\n- name: approver\n  user:\n    token: {token}\n\
             contexts:\n- name: approver\n  context:\n    cluster: real\n    user: approver\n\
             current-context: approver\n",
            c.nodes[0].apiserver_url(),
            c.nodes[0].pki().join("ca.crt").display()
        ),
    )
    .unwrap();
    conf
}

/// `NAME=CONDITION-TYPES|MESSAGES` per request.
fn csr_conditions(c: &RealCluster) -> BTreeMap<String, String> {
    let out = c.kubectl(0, &["get", "csr", "-o", kubectl::CSR_CONDITIONS_JSONPATH]);
    assert_ok(&out, "kubectl get csr");
    kubectl::csr_conditions(&stdout(&out))
}

#[test]
fn approve_kubelet_serving_as_the_shipped_service_account_refuses_every_attack() {
    let Some(c) = RealCluster::single() else {
        return;
    };
    let work = tempdir();
    let work = work.path();
    let apiserver_ip = c.nodes[0].address.to_string();
    node_object(
        &c,
        work,
        "worker-1",
        &[("InternalIP", "10.0.0.7"), ("Hostname", "worker-1")],
        "10.244.1.0/24",
    );
    node_object(
        &c,
        work,
        "worker-2",
        &[("InternalIP", "10.0.0.8"), ("Hostname", "worker-2")],
        "10.244.2.0/24",
    );
    // The Node objects as the approver will read them.
    let out = c.kubectl(
        0,
        &[
            "get",
            "node",
            "worker-1",
            "-o",
            "jsonpath={.status.addresses[0].address}",
        ],
    );
    assert_ok(&out, "kubectl get node");
    assert_eq!(stdout(&out), "10.0.0.7");

    // The shipped objects, applied as shipped (the Deployment stays Pending: no
    // kubelet runs pods here), and a token of its ServiceAccount.
    let shipped =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes/kcerts-approver.yaml");
    assert_ok(
        &c.kubectl(0, &["apply", "-f", shipped.to_str().unwrap()]),
        "kubectl apply the approver",
    );
    let approver = approver_kubeconfig(&c, work);
    let out = c.kubectl_as(
        &approver,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_ok(&out, "auth whoami as the approver");
    assert_eq!(
        stdout(&out),
        "system:serviceaccount:kube-system:kcerts-approver"
    );

    let mapped = "DNS:worker-1,IP:::ffff:10.96.0.1".to_string();
    let apiserver_san = format!("DNS:worker-1,IP:{apiserver_ip}");
    let apiserver_why = format!("IP address {apiserver_ip} is an address of the API server");
    // (request, node it is made as, the reason it is refused)
    let cases: Vec<(Req<'_>, &str, Option<&str>)> = vec![
        (
            Req {
                name: "kubelet",
                ..Req::default()
            },
            "worker-1",
            None,
        ),
        (
            Req {
                name: "kubernetes-service-ip",
                san: Some("DNS:worker-1,IP:10.0.0.7,IP:10.96.0.1"),
                ..Req::default()
            },
            "worker-1",
            Some(
                "IP address 10.96.0.1 is the cluster IP of the kubernetes Service (default/kubernetes)",
            ),
        ),
        (
            Req {
                name: "mapped-service-ip",
                san: Some(&mapped),
                ..Req::default()
            },
            "worker-1",
            Some("IP address 10.96.0.1 is the cluster IP of the kubernetes Service"),
        ),
        (
            Req {
                name: "service-range",
                san: Some("DNS:worker-1,IP:10.96.0.10"),
                ..Req::default()
            },
            "worker-1",
            Some("IP address 10.96.0.10 is within the service range 10.96.0.0/12"),
        ),
        (
            Req {
                name: "apiserver-address",
                san: Some(&apiserver_san),
                ..Req::default()
            },
            "worker-1",
            Some(&apiserver_why),
        ),
        (
            Req {
                name: "other-node-ip",
                san: Some("DNS:worker-1,IP:10.0.0.8"),
                ..Req::default()
            },
            "worker-1",
            Some("IP address 10.0.0.8 is an address of another node, \"worker-2\" (InternalIP)"),
        ),
        (
            Req {
                name: "other-node-pod",
                san: Some("DNS:worker-1,IP:10.244.2.15"),
                ..Req::default()
            },
            "worker-1",
            Some(
                "IP address 10.244.2.15 is within the pod range 10.244.2.0/24 of another node, \"worker-2\"",
            ),
        ),
        (
            Req {
                name: "loopback",
                san: Some("DNS:worker-1,IP:127.0.0.1"),
                ..Req::default()
            },
            "worker-1",
            Some("IP address 127.0.0.1 is a loopback address"),
        ),
        (
            Req {
                name: "foreign-ip",
                san: Some("DNS:worker-1,IP:192.168.5.5"),
                ..Req::default()
            },
            "worker-1",
            Some(
                "IP address 192.168.5.5 is not one of node \"worker-1\"'s InternalIP or ExternalIP addresses (10.0.0.7)",
            ),
        ),
        (
            Req {
                name: "longer-node-name",
                san: Some("DNS:worker-10"),
                ..Req::default()
            },
            "worker-1",
            Some(
                "DNS name \"worker-10\" is neither the node name \"worker-1\" nor starts with \"worker-1.\"",
            ),
        ),
        (
            Req {
                name: "service-name",
                san: Some("DNS:worker-1.default.svc.cluster.local"),
                ..Req::default()
            },
            "worker-1",
            Some("DNS name \"worker-1.default.svc.cluster.local\" is a Service's in-cluster name"),
        ),
        (
            Req {
                name: "many-names",
                san: Some("DNS:worker-1,DNS:worker-1.a,DNS:worker-1.b"),
                ..Req::default()
            },
            "worker-1",
            Some(
                "the request names 2 DNS names besides the node's Hostname address (worker-1.a, worker-1.b); at most 1 are allowed (--max-dns-names)",
            ),
        ),
        (
            Req {
                name: "other-name",
                san: Some("DNS:worker-1,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:admin"),
                ..Req::default()
            },
            "worker-1",
            Some(
                "the request names an otherName of type 1.3.6.1.4.1.311.20.2.3; only DNS names and IP addresses are checked and allowed",
            ),
        ),
        (
            Req {
                name: "no-node-object",
                subj: "/O=system:nodes/CN=system:node:worker-3",
                san: Some("DNS:worker-3"),
                ..Req::default()
            },
            "worker-3",
            Some("node \"worker-3\" has no Node object"),
        ),
    ];
    for (r, node, _) in &cases {
        create_as_node(&c, &manifest(work, r), node);
    }
    // The real API server refuses these already when the kubelet creates them
    // (its NodeRestriction admission: a node's CSR must name the node as CN), so
    // the approver never sees them; approve.rs has kcerts' own refusals of
    // both against the fake API server, which lets them through.
    for (r, node, why) in [
        (
            Req {
                name: "two-cns",
                subj: "/O=system:nodes/CN=system:node:worker-1/CN=system:node:worker-2",
                ..Req::default()
            },
            "worker-1",
            "can only create a node CSR with CN=system:node:worker-1",
        ),
        (
            // Made by worker-2's kubelet for worker-1's name.
            Req {
                name: "foreign-requester",
                ..Req::default()
            },
            "worker-2",
            "can only create a node CSR with CN=system:node:worker-2",
        ),
    ] {
        let out = try_create_as_node(&c, &manifest(work, &r), node);
        assert!(!out.status.success(), "{} was created", r.name);
        assert!(
            stderr(&out).contains("Forbidden") && stderr(&out).contains(why),
            "{}: {}",
            r.name,
            stderr(&out)
        );
    }
    // Two extensionRequest attributes (the Service IP smuggled in the second):
    // the API server's own parser refuses the request.
    let out = try_create_as_node(
        &c,
        &two_extension_requests(work, "two-extension-requests", "IP:10.96.0.1"),
        "worker-1",
    );
    assert!(
        !out.status.success() && stderr(&out).contains("contains duplicate requested extensions"),
        "{}",
        stderr(&out)
    );
    // The API server recorded the requester itself.
    let out = c.kubectl(
        0,
        &[
            "get",
            "csr",
            "kubelet",
            "-o",
            "jsonpath={.spec.username} {.spec.groups}",
        ],
    );
    assert_ok(&out, "kubectl get csr kubelet");
    assert!(
        stdout(&out).starts_with("system:node:worker-1 "),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("system:nodes"), "{}", stdout(&out));
    // A client certificate request the approver must not be able to approve.
    let client = Req {
        name: "client-request",
        subj: "/CN=someone",
        san: None,
        usages: &["digital signature", "client auth"],
        signer: "kubernetes.io/kube-apiserver-client",
        ..Req::default()
    };
    assert_ok(
        &c.kubectl(
            0,
            &["create", "-f", manifest(work, &client).to_str().unwrap()],
        ),
        "create client request",
    );

    let approve = |extra: &[&str]| {
        let mut cmd = c.command(kcerts_bin());
        cmd.args(["approve", "kubelet-serving", "--kubeconfig"])
            .arg(&approver)
            .args(extra);
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        finish(child, Duration::from_secs(120))
    };
    let out = approve(&[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}\n{}", stderr(&out));
    let refused = cases.iter().filter(|(_, _, why)| why.is_some()).count();
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
    assert!(!text.contains("client-request"), "{text}");
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

    // --deny: each reason on the request's Denied condition, as the API server stored it.
    let out = approve(&["--deny"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let after = csr_conditions(&c);
    assert!(after["kubelet"].starts_with("Approved|"), "{after:?}");
    let reasons: Vec<(&str, &str)> = cases
        .iter()
        .filter_map(|(r, _, why)| why.map(|w| (r.name, w)))
        .collect();
    for (name, why) in reasons {
        let v = &after[name];
        assert!(
            v.starts_with("Denied|kcerts approve kubelet-serving: ") && v.contains(why),
            "{name}: {v}"
        );
    }
    assert_eq!(after["client-request"], "|", "{after:?}");

    // The controller-manager's kubelet-serving signer issued the approved request, for exactly its names.
    let start = Instant::now();
    let pem = loop {
        let out = c.kubectl(
            0,
            &[
                "get",
                "csr",
                "kubelet",
                "-o",
                "jsonpath={.status.certificate}",
            ],
        );
        assert_ok(&out, "kubectl get the issued certificate");
        if !stdout(&out).trim().is_empty() {
            break kubectl::issued_certificate(&stdout(&out));
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "not issued: {}",
            c.logs(20)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let cert = certificate::parse_first(&pem).unwrap();
    let ca =
        certificate::parse_first(&std::fs::read(c.nodes[0].pki().join("ca.crt")).unwrap()).unwrap();
    cert.verify_signed_by(&ca).unwrap();
    let san = kubectl::openssl_san(&pem, work);
    assert!(san.contains("DNS:worker-1, IP Address:10.0.0.7"), "{san}");

    // The shipped RBAC is the limit: the approver's identity cannot approve a
    // client certificate request (the API server refuses), nor read Secrets.
    let out = c.kubectl_as(&approver, &["certificate", "approve", "client-request"]);
    assert!(
        !out.status.success(),
        "the approver approved a client request"
    );
    assert!(
        stderr(&out).contains("forbidden") || stderr(&out).contains("Forbidden"),
        "{}",
        stderr(&out)
    );
    for (verb, what) in [
        ("get", "secrets"),
        ("create", "certificatesigningrequests"),
        ("delete", "nodes"),
    ] {
        let out = c.kubectl_as(&approver, &["auth", "can-i", verb, what, "-A"]);
        assert_eq!(stdout(&out).trim(), "no", "{verb} {what}");
    }
    assert_eq!(csr_conditions(&c)["client-request"], "|");
}
