//! Errors: exit 1 with one clear line naming the file and the problem, no panic
//! and no Rust debug output; other files still reported.

use kcerts_tests::*;

/// The example node, seed 41.
fn node() -> NodeDir {
    NodeDir::new(41)
}

fn assert_clean_failure(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    let err = stderr(out);
    for bad in ["panicked", "RUST_BACKTRACE", "Os {", "Error {", "code:"] {
        assert!(!err.contains(bad), "debug output leaked: {err}");
    }
    err
}

#[test]
fn certificate_key_mismatch_has_its_own_message() {
    let n = node();
    let root = n.root();
    // ca.key replaced by another CA's key.
    std::fs::copy(root.join("pki/front-proxy-ca.key"), root.join("pki/ca.key")).unwrap();
    let err = assert_clean_failure(&n.kcerts(&["renew", "apiserver"]));
    let ca_key = root.join("pki/ca.key").display().to_string();
    assert_eq!(
        err.lines().next().unwrap(),
        format!("error: cannot renew apiserver: {ca_key}: does not match its certificate ca.crt")
    );
    assert!(err.contains("no file was changed"));
}

#[test]
fn a_ca_that_is_not_a_ca_has_its_own_message() {
    let n = node();
    let root = n.root();
    std::fs::copy(root.join("pki/apiserver.crt"), root.join("pki/ca.crt")).unwrap();
    let out = n.kcerts(&["check-expiration"]);
    let err = assert_clean_failure(&out);
    assert!(
        err.contains(&format!(
            "error: {}: is not a CA certificate (basic constraints CA:FALSE), so it cannot be the ca CA",
            root.join("pki/ca.crt").display()
        )),
        "{err}"
    );
    // The other rows are still reported.
    assert!(stdout(&out).contains("etcd-server "), "{}", stdout(&out));
}

#[test]
fn a_kubeconfig_without_embedded_data_has_its_own_message() {
    let n = node();
    let root = n.root();
    let conf = root.join("scheduler.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let replaced: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("client-certificate-data:") {
                "    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem"
                    .to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&conf, replaced).unwrap();
    let out = n.kcerts(&["check-expiration"]);
    let err = assert_clean_failure(&out);
    assert_eq!(
        err.trim_end(),
        format!(
            "error: {}: does not have an embedded client certificate (user system:kube-scheduler; it refers \
             to the file /var/lib/kubelet/pki/kubelet-client-current.pem, which kcerts does not follow)",
            conf.display()
        )
    );
    let renew = assert_clean_failure(&n.kcerts(&["renew", "all"]));
    assert!(renew.contains("cannot renew scheduler.conf"), "{renew}");
}

#[test]
fn garbage_files_are_named_and_the_rest_is_reported() {
    let n = node();
    let root = n.root();
    std::fs::write(root.join("pki/apiserver.crt"), b"\x00\x01garbage").unwrap();
    std::fs::write(root.join("admin.conf"), b"{{{{ not yaml").unwrap();
    let out = n.kcerts(&["check-expiration"]);
    let err = assert_clean_failure(&out);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains(&format!(
            "error: {}: ",
            root.join("pki/apiserver.crt").display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "error: {}: not a valid kubeconfig YAML document",
            root.join("admin.conf").display()
        )),
        "{err}"
    );
    let text = stdout(&out);
    assert!(text.contains("apiserver-etcd-client "), "{text}");
    assert!(!text.contains("\napiserver "), "{text}");
}

#[test]
fn bad_flags_fail_with_one_line() {
    let out = kcerts(["check-expiration", "--at", "tomorrow"]);
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2");
    assert!(
        stderr(&out).contains("invalid time \"tomorrow\""),
        "{}",
        stderr(&out)
    );
    let out = kcerts(["renew", "all", "--validity", "-1h"]);
    assert!(!out.status.success());
}
