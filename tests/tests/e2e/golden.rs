//! Golden outputs: every `kcerts` command and output form run on the seeded
//! example node at a fixed time, stdout, stderr and exit code compared byte for
//! byte with the recorded transcripts in `snapshots/` (recorded before the
//! structure work of issue 10, so a refactoring that changes a byte fails here).
//!
//! Commands run in the node's directory with relative paths, so the transcripts
//! hold no temporary path (any that shows is replaced by `[NODE]`). Keys made by
//! the binary come from the system RNG; only outputs that never show them are
//! recorded, and wall-clock dates (`sign`, which has no `--at`) are redacted.
//! Each line of output ends with `$` so trailing spaces count.

use std::path::Path;
use std::process::Command;

use insta::assert_snapshot;
use kcerts_core::inventory;
use kcerts_core::key_choice::KeyChoice;
use kcerts_core::renewal::{self, CsrOutcome};
use kcerts_core::{KeyAlgorithm, NodeFiles};
use kcerts_tests::*;
use time::Duration;

/// `--at` of the checks: 30 days after the node was made.
const AT: &str = "2026-03-31T12:00:00Z";

/// A transcript of commands run in one directory.
struct Transcript {
    dir: std::path::PathBuf,
    text: String,
}

impl Transcript {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            text: String::new(),
        }
    }

    /// Runs `kcerts ARGS` in the directory (NO_COLOR unset, stdout a pipe) and
    /// records the command line, exit code, stdout and stderr.
    fn run(&mut self, args: &[&str]) -> std::process::Output {
        let out = Command::new(kcerts_bin())
            .current_dir(&self.dir)
            .env_remove("NO_COLOR")
            .env_remove("KCERTS_TEST_FAULT_STEP")
            .env_remove("KCERTS_TEST_FAULT_MODE")
            .args(args)
            .output()
            .unwrap();
        let redact = |s: String| {
            let canon = self.dir.canonicalize().unwrap();
            s.replace(&canon.display().to_string(), "[NODE]")
                .replace(&self.dir.display().to_string(), "[NODE]")
        };
        self.text.push_str(&format!(
            "$ kcerts {}\nexit: {}\n--- stdout\n{}--- stderr\n{}\n",
            args.join(" "),
            out.status
                .code()
                .map_or_else(|| format!("{}", out.status), |c| c.to_string()),
            visible(&redact(stdout(&out))),
            visible(&redact(stderr(&out))),
        ));
        out
    }
}

/// Ends each line with `$` (like `cat -A`) so trailing spaces are part of the
/// snapshot, and marks output whose last line has no newline.
fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 16);
    for line in s.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(l) => {
                out.push_str(l);
                out.push_str("$\n");
            }
            None => {
                out.push_str(line);
                out.push_str("[no newline at end]\n");
            }
        }
    }
    out
}

/// The seeded example node (ECDSA P-256, made at [`NOW`], seed 11).
fn node() -> NodeDir {
    NodeDir::new(11)
}

fn node_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--cert-dir", "pki", "--kubeconfig-dir", "."];
    v.extend_from_slice(extra);
    v
}

fn with<'a>(cmd: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = cmd.to_vec();
    v.extend(node_args(extra));
    v
}

/// Runs `CMD -o FORM` at [`AT`] for each form, then `CMD --color always` when
/// `color` (the colour form of verify).
fn every_form(t: &mut Transcript, cmd: &str, forms: &[&str], color: bool) {
    for form in forms {
        t.run(&with(&[cmd, "-o", form], &["--at", AT]));
    }
    if color {
        t.run(&with(&[cmd, "--color", "always"], &["--at", AT]));
    }
}

#[test]
fn golden_check_expiration() {
    let n = node();
    let mut t = Transcript::new(n.root());
    let forms = ["text", "json", "yaml", "prometheus"];
    every_form(&mut t, "check-expiration", &forms, false);
    // Exit codes of --warn/--crit; a time past every certificate.
    t.run(&with(
        &["check-expiration"],
        &["--at", AT, "--warn", "400d"],
    ));
    t.run(&with(
        &["check-expiration", "-o", "prometheus"],
        &["--at", AT, "--warn", "400d", "--crit", "360d"],
    ));
    t.run(&with(
        &["check-expiration"],
        &["--at", "2036-03-31T12:00:00Z"],
    ));
    // Errors: bad arguments, a missing directory, a broken and a missing file.
    t.run(&with(&["check-expiration"], &["--at", "yesterday"]));
    t.run(&with(&["check-expiration", "-o", "xml"], &["--at", AT]));
    t.run(&[
        "check-expiration",
        "--cert-dir",
        "nowhere/pki",
        "--kubeconfig-dir",
        "nowhere",
        "--at",
        AT,
    ]);
    std::fs::write(n.path("pki/apiserver.crt"), b"not a certificate\n").unwrap();
    std::fs::remove_file(n.path("scheduler.conf")).unwrap();
    every_form(&mut t, "check-expiration", &forms, false);
    insta::with_settings!({description => "check-expiration: every output form, --warn/--crit exit codes, an expired node, argument errors, a missing directory, a broken and a missing file", omit_expression => true}, {
        assert_snapshot!(t.text);
    });
}

#[test]
fn golden_verify() {
    let n = node();
    let mut t = Transcript::new(n.root());
    let forms = ["text", "json", "prometheus"];
    every_form(&mut t, "verify", &forms, true);
    for extra in [
        &[
            "--at",
            AT,
            "--node-name",
            "cp-2",
            "--service-cidr",
            "10.100.0.0/16",
            "--warn",
            "400d",
        ][..],
        &["--at", AT, "--crit", "400d"],
        &["--at", "2036-03-31T12:00:00Z"],
        &["--at", AT, "--kubelet-client-cert", "missing.pem"],
    ] {
        t.run(&with(&["verify"], extra));
    }
    // A broken node: a missing CA, a certificate with another key.
    std::fs::remove_file(n.path("pki/etcd/ca.crt")).unwrap();
    std::fs::copy(
        n.path("pki/apiserver.key"),
        n.path("pki/front-proxy-client.key"),
    )
    .unwrap();
    every_form(&mut t, "verify", &forms, true);
    insta::with_settings!({description => "verify: text, json, prometheus and colour on a healthy node, thresholds, node name and service CIDR, then a broken node", omit_expression => true}, {
        assert_snapshot!(t.text);
    });
}

/// A CSR for apiserver of the node from a seeded RNG (the same bytes every run).
fn seeded_csr(n: &NodeDir) -> String {
    let files = NodeFiles::from_generated(&n.node);
    let row = inventory::row("apiserver").unwrap();
    let opts = renewal::Options {
        key: KeyChoice::Use(KeyAlgorithm::EcdsaP256),
        validity: Duration::days(365),
        ..Default::default()
    };
    let mut rng = kcerts_core::seeded_rng(5);
    match renewal::plan_csrs(&files, &[row], &opts, &mut rng)
        .remove(0)
        .1
    {
        CsrOutcome::Request { csr_pem, .. } => csr_pem,
        _ => panic!("no CSR"),
    }
}

#[test]
fn golden_inspect() {
    let n = node();
    let mut t = Transcript::new(n.root());
    let mut chain = std::fs::read(n.path("pki/apiserver.crt")).unwrap();
    chain.extend(std::fs::read(n.path("pki/ca.crt")).unwrap());
    std::fs::write(n.path("chain.pem"), chain).unwrap();
    std::fs::write(n.path("apiserver.csr"), seeded_csr(&n)).unwrap();
    std::fs::write(n.path("junk.pem"), b"-----BEGIN CERTIFICATE-----\nnope\n").unwrap();
    let files = [
        "chain.pem",
        "pki/apiserver.key",
        "admin.conf",
        "pki/sa.pub",
        "pki/sa.key",
        "apiserver.csr",
        "pki/etcd/server.crt",
    ];
    for form in ["text", "json"] {
        let mut args = vec!["inspect", "--at", AT, "-o", form];
        args.extend(files);
        t.run(&args);
        let mut args = vec!["inspect", "--at", AT, "--summary", "-o", form];
        args.extend(files);
        t.run(&args);
    }
    t.run(&["inspect", "--at", AT, "--color", "always", "chain.pem"]);
    t.run(&["inspect", "--at", "2036-03-31T12:00:00Z", "pki/ca.crt"]);
    // Bad and missing files, alone and among good ones.
    t.run(&["inspect", "--at", AT, "junk.pem"]);
    t.run(&["inspect", "--at", AT, "pki/ca.crt", "junk.pem", "gone.pem"]);
    t.run(&["inspect", "--at", AT, "-o", "json", "junk.pem", "gone.pem"]);
    t.run(&["inspect", "--at", AT, "--summary", "junk.pem", "gone.pem"]);
    t.run(&["inspect"]);
    insta::with_settings!({description => "inspect: a chain, keys, a kubeconfig, a CSR, text/json/--summary, colour, bad and missing files", omit_expression => true}, {
        assert_snapshot!(t.text);
    });
}

#[test]
fn golden_renew_and_restore() {
    let n = node();
    let mut t = Transcript::new(n.root());
    let renew = |extra: &[&'static str]| {
        let mut v = vec!["renew"];
        v.extend_from_slice(extra);
        v.extend(node_args(&["--key-algorithm", "ECDSA-P256", "--at", AT]));
        v
    };
    for extra in [
        &["all", "--dry-run"][..],
        &["apiserver", "admin.conf", "apiserver", "--dry-run"],
        &["all", "--dry-run", "--expiring-within", "400d"],
        &["all", "--dry-run", "--expiring-within", "1d"],
        &["all", "--csr-only", "--csr-dir", "csrs", "--dry-run"],
        &["etcd-peer", "--csr-only", "--csr-dir", "csrs"],
        // Errors: rows, arguments, a CA without its key.
        &["kubelet", "--dry-run"],
        &["all", "apiserver", "--dry-run"],
        &["all", "--csr-only"],
        &["all", "--use-api", "--dry-run"],
        &["all", "--validity", "forever"],
    ] {
        t.run(&renew(extra));
    }
    // Real renewals at the fixed time, each followed by the report.
    t.run(&renew(&["apiserver", "admin.conf"]));
    t.run(&with(&["check-expiration"], &["--at", AT]));
    t.run(&renew(&["all"]));
    t.run(&with(&["check-expiration"], &["--at", AT]));
    // Undo the second renewal, then the first.
    let second = "tmp/kcerts-renew-2026-03-31T12-00-00Z-2";
    let first = "tmp/kcerts-renew-2026-03-31T12-00-00Z";
    assert!(n.path(second).is_dir(), "{}", t.text);
    t.run(&with(&["restore", "--backup-dir", second], &[]));
    t.run(&with(&["restore", "--backup-dir", first], &[]));
    t.run(&with(&["check-expiration"], &["--at", AT]));
    t.run(&with(&["restore", "--backup-dir", "tmp/nothing-here"], &[]));
    std::fs::remove_file(n.path("pki/front-proxy-ca.key")).unwrap();
    std::fs::write(n.path("pki/etcd/peer.crt"), b"garbage").unwrap();
    t.run(&renew(&["all", "--dry-run"]));
    t.run(&renew(&["all"]));
    insta::with_settings!({description => "renew: --dry-run, --expiring-within, --csr-only, row and argument errors, two real renewals at a fixed time, restore of both, a failed renewal", omit_expression => true}, {
        assert_snapshot!(t.text);
    });
}

#[test]
fn golden_generate_pki() {
    let dir = tempdir();
    let mut t = Transcript::new(dir.path());
    let check = |pki: &'static str, kubeconfigs: &'static str| {
        let dirs = ["--cert-dir", pki, "--kubeconfig-dir", kubeconfigs];
        [&["check-expiration"][..], &dirs, &["--at", AT]].concat()
    };
    let gen_args = |out: &'static str, extra: &[&'static str]| {
        let mut v = vec![
            "generate-pki",
            "--out",
            out,
            "--node-name",
            "cp-1",
            "--advertise-address",
            "192.168.10.11",
            "--control-plane-endpoint",
            "k8s.example.internal:6443",
            "--key-algorithm",
            "ECDSA-P256",
            "--at",
            "2026-03-01T12:00:00Z",
        ];
        v.extend_from_slice(extra);
        v
    };
    t.run(&gen_args("node", &[]));
    t.run(&check("node/pki", "node"));
    t.run(&gen_args("node", &[]));
    t.run(&gen_args(
        "ext",
        &[
            "--external-etcd",
            "--apiserver-cert-extra-sans",
            "10.0.0.9,api.example",
        ],
    ));
    t.run(&check("ext/pki", "ext"));
    t.run(&gen_args("bad", &["--service-cidr", "10.96.0.0"]));
    t.run(&gen_args("bad", &["--validity", "0h"]));
    insta::with_settings!({description => "generate-pki: a node, the same again (refused), external etcd with extra SANs, bad arguments", omit_expression => true}, {
        assert_snapshot!(t.text);
    });
}

#[test]
fn golden_sign() {
    let n = node();
    let mut t = Transcript::new(n.root());
    std::fs::write(n.path("apiserver.csr"), seeded_csr(&n)).unwrap();
    let sign = |csr: &'static str, ca_key: &'static str, extra: &[&'static str]| {
        let mut v = vec!["sign", "--csr", csr, "--ca-cert", "pki/ca.crt"];
        v.extend(["--ca-key", ca_key]);
        v.extend_from_slice(extra);
        v
    };
    for extra in [
        &["--role", "apiserver", "-o", "out.crt"][..],
        &["--role", "apiserver", "-o", "out.crt"],
        &[
            "--role",
            "apiserver",
            "-o",
            "out.crt",
            "--force",
            "--validity",
            "720h",
        ],
        &["--role", "admin.conf", "-o", "other.crt"],
        &["--usage", "server", "-o", "usage.crt"],
        &["--role", "apiserver", "--node-name", "cp-2", "-o", "n.crt"],
    ] {
        t.run(&sign("apiserver.csr", "pki/ca.key", extra));
    }
    // Not a CSR; the wrong CA key.
    t.run(&sign(
        "pki/ca.crt",
        "pki/ca.key",
        &["--role", "apiserver", "-o", "x.crt"],
    ));
    t.run(&sign(
        "apiserver.csr",
        "pki/front-proxy-ca.key",
        &["--role", "apiserver", "-o", "y.crt"],
    ));
    insta::with_settings!({description => "sign: roles, usages, refusals (existing output, wrong role, not a CSR, wrong CA key); dates redacted", omit_expression => true, filters => vec![
        (r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d{2}:\d{2} UTC", "[DATE]"),
    ]}, {
        assert_snapshot!(t.text);
    });
}

#[test]
fn golden_completions_and_man() {
    let dir = tempdir();
    let mut t = Transcript::new(dir.path());
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        t.run(&["completions", shell]);
    }
    t.run(&["completions", "tcsh"]);
    t.run(&["man"]);
    t.run(&["man", "--dir", "pages"]);
    let mut pages: Vec<_> = std::fs::read_dir(dir.path().join("pages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    for p in pages {
        t.text.push_str(&format!(
            "=== pages/{}\n{}\n",
            p.file_name().unwrap().to_string_lossy(),
            std::fs::read_to_string(&p).unwrap()
        ));
    }
    insta::with_settings!({description => "completions for every shell, the man page and man --dir", omit_expression => true}, {
        assert_snapshot!(t.text);
    });
}

#[test]
fn golden_help() {
    let dir = tempdir();
    let mut t = Transcript::new(dir.path());
    t.run(&["--help"]);
    t.run(&["--version"]);
    t.run(&[]);
    t.run(&["frobnicate"]);
    for cmd in [
        "check-expiration",
        "renew",
        "generate-csr",
        "generate-pki",
        "restore",
        "restart",
        "inspect",
        "verify",
        "sign",
        "completions",
        "man",
    ] {
        t.run(&[cmd, "--help"]);
        t.run(&[cmd, "-h"]);
    }
    t.run(&["kubelet", "serving", "--help"]);
    t.run(&["approve", "kubelet-serving", "--help"]);
    t.run(&["help", "renew"]);
    insta::with_settings!({description => "--help and -h of kcerts and of every subcommand, --version, usage errors", omit_expression => true}, {
        assert_snapshot!(t.text);
    });
}

/// `renew --use-api` against the fake API server: an auto-approved client
/// certificate, a serving certificate without a signer, and a timeout. The
/// node is made with the wall clock, so the backup directory's time is redacted.
#[test]
fn golden_use_api() {
    let c = kcerts_tests::fake_cluster::cluster(|o| {
        o.auto_approve = vec!["kubernetes.io/kube-apiserver-client".into()];
    });
    let mut t = Transcript::new(&c.root);
    let api = |rows: &[&'static str], extra: &[&'static str]| {
        let mut v = vec!["renew"];
        v.extend_from_slice(rows);
        v.extend(node_args(&[
            "--use-api",
            "--kubeconfig",
            "admin.conf",
            "--key-algorithm",
            "ECDSA-P256",
        ]));
        v.extend_from_slice(extra);
        v
    };
    t.run(&api(&["admin.conf", "apiserver-kubelet-client"], &[]));
    t.run(&api(&["apiserver", "etcd-peer"], &[]));
    t.run(&api(
        &["all"],
        &["--signer-name", "example.com/none", "--timeout", "1s"],
    ));
    t.run(&with(
        &["renew", "scheduler.conf", "--use-api"],
        &["--kubeconfig", "nowhere.conf"],
    ));
    insta::with_settings!({description => "renew --use-api against the fake API server: auto-approved, no signer, timeout, bad kubeconfig; backup time redacted", omit_expression => true, filters => vec![
        (r"kcerts-renew-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z", "kcerts-renew-[TIME]"),
    ]}, {
        assert_snapshot!(t.text);
    });
}
