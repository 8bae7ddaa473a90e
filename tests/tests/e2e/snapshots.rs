//! Snapshots of the check-expiration report (text, json, yaml) on generated
//! nodes with a fixed time and seeded keys, including missing files, an
//! external front-proxy CA, external etcd and an expired certificate.

use insta::assert_snapshot;
use kcerts_core::leaf::{self, LeafSpec, RenewOptions, SigningCa};
use kcerts_core::node::NodePath;
use kcerts_core::{KeyAlgorithm, NodeFiles, PrivateKey, certificate};
use kcerts_core::{expiration, structured, text};
use kcerts_tests::*;
use time::Duration;

/// Marks each line end with `$` (like `cat -A`) so trailing spaces, which
/// kubeadm's `%-8v` and tabwriter produce, are part of the snapshot.
fn visible_line_ends(s: &str) -> String {
    s.lines().map(|l| format!("{l}$\n")).collect()
}

/// Snapshots are taken 30 days after the node was made, so every residual band shows.
fn at() -> time::OffsetDateTime {
    NOW + Duration::days(30)
}

fn node(external_etcd: bool) -> NodeFiles {
    let mut opts = example_options(KeyAlgorithm::EcdsaP256);
    opts.external_etcd = external_etcd;
    node_files(&generate(&opts, NOW, 11))
}

/// Snapshots the report on `files` in every form: the snapshot `name` with the
/// form as its suffix (`e2e__snapshots__NAME@FORM.snap`), described by `what`.
fn all_forms(name: &str, what: &str, files: &NodeFiles) {
    let r = expiration::build(files, at());
    let errors: Vec<String> = r
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.path, e.kind))
        .collect();
    for (form, rendered) in [
        ("text", visible_line_ends(&text::render(&r))),
        ("json", structured::to_json(&r)),
        ("yaml", structured::to_yaml(&r)),
        ("errors", errors.join("\n")),
    ] {
        insta::with_settings!({
            description => format!("check-expiration report ({form}) of {what}, 30 days after the node was made"),
            snapshot_suffix => form,
            omit_expression => true,
        }, {
            assert_snapshot!(name, rendered);
        });
    }
}

#[test]
fn complete_node() {
    let files = node(false);
    assert!(expiration::build(&files, at()).errors.is_empty());
    all_forms("complete", "the example node (seed 11)", &files);
}

#[test]
fn missing_files_and_external_front_proxy_ca() {
    let mut files = node(false);
    for gone in [
        "pki/etcd/peer.crt",
        "scheduler.conf",
        "super-admin.conf",
        "pki/front-proxy-ca.key",
    ] {
        let path = match gone.strip_prefix("pki/") {
            Some(rel) => NodePath::cert(rel),
            None => NodePath::kubeconfig(gone),
        };
        assert!(files.files.remove(&path).is_some(), "{gone}");
    }
    let r = expiration::build(&files, at());
    let fp = r
        .certificates
        .iter()
        .find(|e| e.name == "front-proxy-client")
        .unwrap();
    assert!(fp.externally_managed);
    all_forms(
        "missing_external_front_proxy",
        "the example node without etcd/peer.crt, scheduler.conf, super-admin.conf and front-proxy-ca.key",
        &files,
    );
}

#[test]
fn external_etcd() {
    let files = node(true);
    let r = expiration::build(&files, at());
    assert!(r.external_etcd);
    assert_eq!(r.certificates.len(), 7);
    assert_eq!(r.certificate_authorities.len(), 2);
    all_forms(
        "external_etcd",
        "the example node with external etcd",
        &files,
    );
}

/// An apiserver certificate that expired 1 hour before the report's time reads
/// `<invalid>`; one expiring in 90 minutes reads `1h30m`.
#[test]
fn expired_and_expiring_certificates() {
    let mut files = node(false);
    let ca = {
        let read = |p: &str| match files.get(&NodePath::cert(p)) {
            Some(kcerts_core::node::FileContent::Bytes(b)) => b.clone(),
            _ => panic!("{p}"),
        };
        SigningCa::new(
            certificate::parse_first(&read("ca.crt")).unwrap(),
            PrivateKey::parse(&read("ca.key")).unwrap(),
        )
        .unwrap()
    };
    let mut rng = kcerts_core::seeded_rng(12);
    let short = |validity, rng: &mut _| {
        let spec = LeafSpec {
            common_name: "kube-apiserver".into(),
            extended_key_usage: vec![kcerts_core::certificate::ExtendedKeyUsage::ServerAuth],
            ..Default::default()
        };
        let opts = RenewOptions {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity,
        };
        leaf::issue(&spec, &ca, &opts, at() - Duration::hours(2), rng).unwrap()
    };
    let expired = short(Duration::hours(1), &mut rng);
    files.insert(
        NodePath::cert("apiserver.crt"),
        expired.cert_pem().into_bytes(),
    );
    let soon = short(Duration::minutes(210), &mut rng);
    files.insert(
        NodePath::cert("front-proxy-client.crt"),
        soon.cert_pem().into_bytes(),
    );
    let r = expiration::build(&files, at());
    let res = |n: &str| {
        r.certificates
            .iter()
            .find(|e| e.name == n)
            .unwrap()
            .residual_seconds
    };
    assert_eq!(res("apiserver"), -3600);
    assert_eq!(res("front-proxy-client"), 90 * 60);
    all_forms(
        "expired",
        "the example node with apiserver.crt expired an hour ago and front-proxy-client.crt expiring in 90 minutes",
        &files,
    );
}

/// The binary prints exactly what the core renders, for the same files and time.
#[test]
fn cli_prints_the_core_report() {
    let n = NodeDir::new(11);
    let at_arg = "2026-03-31T12:00:00Z";
    for (flag, render) in [
        ("text", text::render as fn(&expiration::Report) -> String),
        ("json", structured::to_json),
        ("yaml", structured::to_yaml),
    ] {
        let out = n.kcerts(&["check-expiration", "-o", flag, "--at", at_arg]);
        assert_ok(&out, "check-expiration");
        assert_eq!(
            stdout(&out),
            render(&expiration::build(&node_files(&n.node), at())),
            "{flag}"
        );
    }
}
