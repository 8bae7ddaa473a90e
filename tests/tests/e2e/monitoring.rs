//! `check-expiration -o prometheus` (checked with the Python prometheus_client
//! parser) and the `--warn`/`--crit` exit codes.

use std::process::Command;
use std::sync::OnceLock;

use insta::assert_snapshot;
use kcerts_tests::*;

use crate::beyond_common::*;

/// Makes sure `python3 -c 'import prometheus_client'` works: this test installs
/// prometheus_client from PyPI with pip when it is missing (scripts/test.sh only
/// makes sure python3 exists).
pub(crate) fn prometheus_client() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| pip_module("prometheus_client.parser", "prometheus_client"));
}

/// Makes sure `python3 -c 'import MODULE'` works, installing PACKAGE from PyPI
/// with pip when it does not.
pub fn pip_module(module: &str, package: &str) {
    let has = || {
        Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has() {
        return;
    }
    let pip = |extra: &[&str]| {
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(extra)
            .arg(package)
            .status()
            .is_ok_and(|s| s.success())
    };
    // Debian's own python refuses pip installs without the flag (PEP 668).
    let _ = pip(&[]) || pip(&["--break-system-packages"]);
    assert!(has(), "cannot install {package} with pip");
}

/// Parses exposition text with prometheus_client and returns one line per
/// sample: `name{sorted labels} value`, families in order.
pub(crate) fn parse_with_prometheus_client(text: &str) -> String {
    prometheus_client();
    let script = r##"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    print(f"# family {fam.name} {fam.type} {len(fam.samples)}")
    for s in fam.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value:.0f}")
"##;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_ok(&o, "the prometheus_client parser");
    stdout(&o)
}

#[test]
fn prometheus_output_parses_with_prometheus_client() {
    let n = NodeDir::new(41);
    let root = n.root();
    // One broken file, to show x509_cert_error.
    std::fs::write(root.join("pki/front-proxy-client.crt"), "junk").unwrap();
    let mut args = vec!["check-expiration", "-o", "prometheus"];
    args.extend(node_args(&[]));
    let o = kcerts_in(root, &args);
    assert_eq!(code(&o), 1, "a broken file is an error");
    let text = stdout(&o);
    insta::with_settings!({description => "check-expiration -o prometheus on the example node (seed 41) with a broken front-proxy-client.crt"}, {
        assert_snapshot!("prometheus_text", text);
    });
    let parsed = parse_with_prometheus_client(&text);
    insta::with_settings!({description => "the same exposition as python prometheus_client parses it: each family with its type and sample count, then its samples"}, {
        assert_snapshot!("prometheus_parsed", parsed);
    });
    assert!(
        parsed.contains("# family x509_cert_not_after gauge 13\n"),
        "{parsed}"
    );
    assert!(
        parsed.contains("# family x509_cert_error gauge 1\n"),
        "{parsed}"
    );
    assert!(parsed.contains(
        "x509_cert_not_after{ca=etcd-ca,filename=server.crt,filepath=pki/etcd/server.crt,\
issuer_CN=etcd-ca,name=etcd-server,"
    ));
}

#[test]
fn check_expiration_exit_codes() {
    let n = NodeDir::new(42);
    let root = n.root();
    let run_at = |t: &str, extra: &[&str]| {
        let mut args = vec![
            "check-expiration",
            "--cert-dir",
            "pki",
            "--kubeconfig-dir",
            ".",
            "--at",
            t,
        ];
        args.extend_from_slice(extra);
        code(&kcerts_in(root, &args))
    };
    let th = ["--warn", "30d", "--crit", "7d"];
    assert_eq!(run_at("2026-03-02T00:00:00Z", &th), 0);
    assert_eq!(run_at("2027-02-09T12:00:00Z", &th), 2, "20 days left");
    assert_eq!(run_at("2027-02-25T12:00:00Z", &th), 3, "4 days left");
    assert_eq!(run_at("2027-06-01T00:00:00Z", &th), 3, "expired");
    assert_eq!(
        run_at("2027-06-01T00:00:00Z", &[]),
        0,
        "kubeadm: expiry alone never fails"
    );
    assert_eq!(
        run_at("2027-06-01T00:00:00Z", &["--warn", "30d"]),
        3,
        "expired is critical"
    );
    assert_eq!(run_at("2027-02-09T12:00:00Z", &["--crit", "30d"]), 3);
    std::fs::write(root.join("pki/apiserver.crt"), "junk").unwrap();
    assert_eq!(
        run_at("2027-02-25T12:00:00Z", &th),
        1,
        "an error takes precedence"
    );
    let help = stdout(&kcerts_in(root, &["check-expiration", "--help"]));
    assert!(help.contains("Exit status: 0"), "{help}");
    let help = stdout(&kcerts_in(root, &["verify", "--help"]));
    assert!(help.contains("Exit status: 0 all pass; 1"), "{help}");
}
