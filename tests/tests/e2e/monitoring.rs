//! `check-expiration -o prometheus` (checked with the Python prometheus_client
//! parser) and the `--warn`/`--crit` exit codes.

use insta::assert_snapshot;
use kcerts_tests::*;

use kcerts_tests::prometheus::parse_with_prometheus_client;
use kcerts_tests::run_in_node::*;

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
