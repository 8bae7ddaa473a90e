//! A reader that goes away (`kcerts check-expiration | head -1`) is not an
//! error: every command that prints exits as it would have with a reader, with
//! no panic and nothing on stderr but its own messages.

use std::process::{Command, Stdio};

use kcerts_tests::*;

const AT: &str = "2026-03-31T12:00:00Z";

/// Runs `kcerts ARGS` in `dir` with stdout a pipe whose reader is already closed.
fn run_closed(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(kcerts_bin())
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn every_command_treats_a_closed_stdout_as_success() {
    let n = NodeDir::new(11);
    let node = ["--cert-dir", "pki", "--kubeconfig-dir", ".", "--at", AT];
    let with = |cmd: &[&'static str]| -> Vec<&str> {
        let mut v = cmd.to_vec();
        v.extend(node);
        v
    };
    let cases: Vec<Vec<&str>> = vec![
        with(&["check-expiration"]),
        with(&["check-expiration", "-o", "json"]),
        with(&["check-expiration", "-o", "yaml"]),
        with(&["check-expiration", "-o", "prometheus"]),
        with(&["check-expiration", "--warn", "400d"]),
        with(&["verify"]),
        with(&["verify", "-o", "json"]),
        with(&["verify", "-o", "prometheus", "--crit", "400d"]),
        with(&["renew", "all", "--dry-run", "--key-algorithm", "ECDSA-P256"]),
        vec!["inspect", "--at", AT, "pki/ca.crt", "admin.conf"],
        vec!["inspect", "--at", AT, "-o", "json", "pki/ca.crt"],
        vec!["inspect", "--at", AT, "--summary", "pki/ca.crt"],
        vec!["ca", "status", "--cert-dir", "pki", "--kubeconfig-dir", "."],
        vec![
            "ca",
            "status",
            "-o",
            "json",
            "--cert-dir",
            "pki",
            "--kubeconfig-dir",
            ".",
        ],
        vec!["completions", "bash"],
        vec!["man"],
        vec!["--help"],
    ];
    for args in cases {
        // With a reader: the exit code and stderr the closed pipe must not change.
        let read = Command::new(kcerts_bin())
            .current_dir(n.root())
            .env_remove("NO_COLOR")
            .args(&args)
            .output()
            .unwrap();
        assert!(!read.stdout.is_empty(), "{args:?} prints nothing");
        let out = run_closed(n.root(), &args);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), read.status.code(), "{args:?}: {err}");
        assert_eq!(err, stderr(&read), "{args:?}");
    }
}

/// The shell form: `set -o pipefail; kcerts check-expiration ... | head -1`.
#[test]
fn check_expiration_piped_into_head_exits_0() {
    let n = NodeDir::new(11);
    let cmd = format!(
        "set -o pipefail; '{}' check-expiration --cert-dir pki --kubeconfig-dir . --at {AT} | head -1",
        kcerts_bin().display()
    );
    let out = Command::new("bash")
        .current_dir(n.root())
        .args(["-c", &cmd])
        .output()
        .unwrap();
    assert_ok(&out, "check-expiration | head -1");
    assert!(stdout(&out).starts_with("CERTIFICATE "), "{}", stdout(&out));
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}
