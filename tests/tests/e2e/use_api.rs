//! `kcerts renew --use-api` against the fake API server of `kcerts_tests::fake_apiserver`,
//! approved and denied by the real kubectl (/usr/bin/kubectl 1.32), plus an
//! auto-approving signer, token auth, a timeout, Ctrl-C and the signer rules.
//! Every wait is bounded; the server stops when dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kcerts_core::certificate;
use kcerts_core::kubeconfig::Kubeconfig;
use kcerts_tests::bounded::finish;
use kcerts_tests::fake_cluster::cluster;
use kcerts_tests::*;

const SERVING_SIGNER: &str = "example.com/kube-serving";

/// Asserts that no node file was added, removed or changed (naming the ones that were).
fn assert_unchanged(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) {
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert!(changed.is_empty(), "files changed: {changed:?}");
}

/// Runs kcerts with these arguments, for at most 60 s.
fn run_bounded(args: &[String]) -> Output {
    let child = Command::new(kcerts_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, Duration::from_secs(60))
}

fn kubeconfig_cert(path: &Path) -> certificate::Certificate {
    let kc = Kubeconfig::parse(&std::fs::read(path).unwrap()).unwrap();
    certificate::parse_first(&kc.current().unwrap().client_certificate_data).unwrap()
}

fn read_cert(path: &Path) -> certificate::Certificate {
    certificate::parse_first(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn kubectl_approves_while_kcerts_waits() {
    // One watch answered "410 Expired" (re-list) and watches cut after 1 s (resume):
    // the approval must still be seen.
    let c = cluster(|o| {
        o.expire_watches = 1;
        o.watch_cap = Some(Duration::from_secs(1));
    });
    let old_admin = kubeconfig_cert(&c.root.join("admin.conf"));
    let old_kubelet_client = read_cert(&c.root.join("pki/apiserver-kubelet-client.crt"));
    let child = c.spawn_renew(
        &["admin.conf", "apiserver-kubelet-client"],
        &["--timeout", "60s"],
    );
    let names = c.server.wait_for_requests(2, Duration::from_secs(30));
    assert_eq!(names.len(), 2, "{}", c.diagnostics());
    for n in &names {
        assert!(n.starts_with("kubeadm-cert-"), "{n}");
    }
    // Let kcerts reach its watch before approving.
    std::thread::sleep(Duration::from_millis(1500));
    let mut args = vec!["certificate", "approve"];
    args.extend(names.iter().map(String::as_str));
    let approve = c.kubectl(&args);
    assert!(
        approve.status.success(),
        "kubectl certificate approve failed:\n{}\n{}",
        stderr(&approve),
        c.diagnostics()
    );
    assert!(
        stdout(&approve).contains("approved"),
        "{}",
        stdout(&approve)
    );
    let out = finish(child, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "kcerts failed:\nstdout:\n{}\nstderr:\n{}\nkubectl stderr:\n{}\n{}",
        stdout(&out),
        stderr(&out),
        stderr(&approve),
        c.diagnostics()
    );
    let text = stdout(&out);
    for n in &names {
        assert!(
            text.contains(&format!("[certs] certificate request \"{n}\" created")),
            "{text}"
        );
    }
    assert!(text.contains(
        "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself renewed"
    ));
    assert!(text.contains("certificate for the API server to connect to kubelet renewed"));

    let ca = read_cert(&c.root.join("pki/ca.crt"));
    let admin = kubeconfig_cert(&c.root.join("admin.conf"));
    assert_ne!(admin.serial, old_admin.serial);
    assert_eq!(admin.subject, old_admin.subject);
    admin.verify_signed_by(&ca).unwrap();
    let kubelet_client = read_cert(&c.root.join("pki/apiserver-kubelet-client.crt"));
    assert_ne!(kubelet_client.serial, old_kubelet_client.serial);
    kubelet_client.verify_signed_by(&ca).unwrap();
    let key = kcerts_core::PrivateKey::parse(
        &std::fs::read(c.root.join("pki/apiserver-kubelet-client.key")).unwrap(),
    )
    .unwrap();
    assert!(kubelet_client.matches_key(&key));

    // The watch was re-listed after the 410 and resumed after the server cut it.
    let log = c.server.log();
    let watches = log.iter().filter(|l| l.contains("watch=")).count();
    let lists = log
        .iter()
        .filter(|l| {
            l.starts_with("GET /apis/certificates.k8s.io/v1/certificatesigningrequests?")
                && !l.contains("watch=")
        })
        .count();
    assert!(watches >= 3 && lists >= 3, "{}", c.diagnostics());
    // kubectl authenticated with the old admin certificate, kcerts too.
    assert!(
        log.iter()
            .any(|l| l.contains("/approval?") && l.ends_with("user=kubernetes-admin -> 200")),
        "{}",
        c.diagnostics()
    );

    // The renewed admin.conf works: the real kubectl authenticates with the new certificate.
    let get = c.kubectl(&[
        "get",
        "csr",
        &names[0],
        "-o",
        "jsonpath={.status.conditions[0].type}",
    ]);
    assert!(
        get.status.success(),
        "{}\n{}",
        stderr(&get),
        c.diagnostics()
    );
    assert_eq!(stdout(&get), "Approved");
}

#[test]
fn kubectl_deny_is_an_error_and_changes_nothing() {
    let c = cluster(|_| {});
    let before = c.snapshot();
    let child = c.spawn_renew(&["admin.conf"], &["--timeout", "60s"]);
    let names = c.server.wait_for_requests(1, Duration::from_secs(30));
    assert_eq!(names.len(), 1, "{}", c.diagnostics());
    let deny = c.kubectl(&["certificate", "deny", &names[0]]);
    assert!(
        deny.status.success(),
        "kubectl certificate deny failed:\n{}\n{}",
        stderr(&deny),
        c.diagnostics()
    );
    let out = finish(child, Duration::from_secs(60));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "certificate request \"{}\" was denied: KubectlDeny",
            names[0]
        )),
        "{err}"
    );
    assert!(err.contains("no file was changed"), "{err}");
    assert_unchanged(&before, &c.snapshot());
}

#[test]
fn timeout_leaves_the_old_files() {
    let c = cluster(|_| {});
    let before = c.snapshot();
    let started = Instant::now();
    let out = finish(
        c.spawn_renew(&["admin.conf"], &["--timeout", "2s"]),
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(20));
    let err = stderr(&out);
    assert!(
        err.contains("error: timed out after 2s waiting for certificate requests"),
        "{err}"
    );
    assert!(err.contains("hint: approve them"), "{err}");
    assert_unchanged(&before, &c.snapshot());
    // The request is left pending on the server; nothing approved it.
    let names = c.server.request_names();
    assert_eq!(names.len(), 1);
    assert!(c.server.request(&names[0]).unwrap()["status"]["certificate"].is_null());
}

#[test]
fn ctrl_c_leaves_the_old_files() {
    let c = cluster(|_| {});
    let before = c.snapshot();
    let child = c.spawn_renew(&["admin.conf"], &["--timeout", "60s"]);
    let names = c.server.wait_for_requests(1, Duration::from_secs(30));
    assert_eq!(names.len(), 1, "{}", c.diagnostics());
    std::thread::sleep(Duration::from_millis(300));
    let kill = run("kill", ["-INT".to_string(), child.id().to_string()]);
    assert_ok(&kill, "kill -INT");
    let out = finish(child, Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("interrupted while waiting"),
        "{}",
        stderr(&out)
    );
    assert_unchanged(&before, &c.snapshot());
}

#[test]
fn auto_approving_signer_with_token_auth_renews_serving_certificates() {
    // As cert-manager's approver and issuer would: approved and issued on creation.
    let c = cluster(|o| {
        o.signers = vec![SERVING_SIGNER.into()];
        o.auto_approve = vec![SERVING_SIGNER.into()];
        o.tokens = vec![("s3cr3t-token".into(), "renewer".into())];
    });
    let kubeconfig = c.root.join("token.conf");
    let admin = Kubeconfig::parse(&std::fs::read(c.root.join("admin.conf")).unwrap()).unwrap();
    let ca = admin.current().unwrap().ca_data;
    let token_conf = serde_json::json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "c", "cluster": {"server": c.server.url(),
            "certificate-authority-data": base64_encode(&ca)}}],
        "contexts": [{"name": "t", "context": {"cluster": "c", "user": "renewer"}}],
        "users": [{"name": "renewer", "user": {"token": "s3cr3t-token"}}],
    });
    std::fs::write(&kubeconfig, token_conf.to_string()).unwrap();
    let old = read_cert(&c.root.join("pki/apiserver.crt"));
    let mut args = c.renew_args(
        &["apiserver"],
        &["--signer-name", SERVING_SIGNER, "--timeout", "30s"],
    );
    let i = args.iter().position(|a| a == "--kubeconfig").unwrap();
    args[i + 1] = kubeconfig.display().to_string();
    let out = run_bounded(&args);
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        c.diagnostics()
    );
    assert!(stdout(&out).contains("certificate for serving the Kubernetes API renewed"));
    let new = read_cert(&c.root.join("pki/apiserver.crt"));
    assert_ne!(new.serial, old.serial);
    assert_eq!(new.dns_names.len(), old.dns_names.len());
    assert_eq!(new.ip_addresses, old.ip_addresses);
    assert_eq!(new.extended_key_usage, old.extended_key_usage);
    let names = c.server.request_names();
    let req = c.server.request(&names[0]).unwrap();
    assert_eq!(req["spec"]["signerName"], SERVING_SIGNER);
    assert_eq!(req["spec"]["username"], "renewer");
    assert_eq!(
        req["spec"]["usages"],
        serde_json::json!(["digital signature", "key encipherment", "server auth"])
    );
    assert!(
        names[0].starts_with("kubeadm-cert-kube-apiserver-"),
        "{}",
        names[0]
    );
}

#[test]
fn signer_failure_is_reported_with_reason() {
    // The client signer refuses "server auth": a Failed condition, as kube-controller-manager sets.
    let c = cluster(|o| o.auto_approve = vec!["kubernetes.io/kube-apiserver-client".into()]);
    let before = c.snapshot();
    let out = run_bounded(&c.renew_args(
        &["apiserver"],
        &[
            "--signer-name",
            "kubernetes.io/kube-apiserver-client",
            "--timeout",
            "30s",
        ],
    ));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("failed: SignerValidationFailure: missing required usage \"client auth\""),
        "{err}"
    );
    assert_unchanged(&before, &c.snapshot());
}

#[test]
fn serving_certificate_without_signer_name_sends_nothing() {
    let c = cluster(|_| {});
    let before = c.snapshot();
    let out = run_bounded(&c.renew_args(&["apiserver", "admin.conf"], &[]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(
            "error: cannot renew apiserver through the API: apiserver is a serving certificate"
        ),
        "{err}"
    );
    assert!(err.contains("hint: pass --signer-name NAME"), "{err}");
    assert!(err.contains("no request was sent"), "{err}");
    assert!(c.server.log().is_empty(), "{}", c.diagnostics());
    assert_unchanged(&before, &c.snapshot());

    let out = run_bounded(&c.renew_args(
        &["admin.conf"],
        &["--signer-name", "kubernetes.io/legacy-unknown"],
    ));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot be requested with certificates.k8s.io/v1"),
        "{}",
        stderr(&out)
    );
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
