//! Helpers for the end-to-end tests: seeded node fixtures, and runners for the
//! `kcerts` binary and the real tools we cross-check against (openssl, kubectl).
//! What several test modules share lives here, one module per job: clusters and
//! nodes to run against, processes to run and wait for, and the real tools' views.
#![allow(clippy::disallowed_methods)] // test helpers read and write files
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failing helper fails the test

pub mod bounded;
pub mod fake_apiserver;
pub mod fake_cluster;
pub mod fake_discovery;
pub mod fake_kubelet;
pub mod kube_bin;
pub mod kubeadm_manifests;
pub mod kubectl;
pub mod kubelet_node;
pub mod live_node;
pub mod netns;
mod node_dir;
pub mod node_rows;
pub mod openssl_issue;
pub mod openssl_node;
pub mod openssl_read;
pub mod pip;
pub mod process_kubelet;
pub mod prometheus;
pub mod real_cluster;
pub mod rotating_kubelet;
pub mod run_in_node;
pub mod serve_process;

pub use kubectl::{kubectl_data, kubectl_field};
pub use node_dir::NodeDir;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use kcerts_core::pki::{self, GeneratedNode, PkiOptions};
use kcerts_core::{KeyAlgorithm, NodeFiles};
use time::OffsetDateTime;
use time::macros::datetime;

/// The fixed "now" of every snapshot: 2026-03-01 12:00 UTC.
pub const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

/// The example node, with ECDSA keys unless `rsa` (RSA keys are slower to make).
pub fn example_options(key_algorithm: KeyAlgorithm) -> PkiOptions {
    PkiOptions {
        key_algorithm,
        ..PkiOptions::example()
    }
}

/// Generates a node at `now` with a seeded RNG: the same bytes every run.
pub fn generate(opts: &PkiOptions, now: OffsetDateTime, seed: u64) -> GeneratedNode {
    pki::generate(opts, now, &mut kcerts_core::seeded_rng(seed)).unwrap()
}

/// The node as in-memory files.
pub fn node_files(node: &GeneratedNode) -> NodeFiles {
    NodeFiles::from_generated(node)
}

/// Writes a generated node in the kubeadm layout under `root` (`pki/`, `*.conf`).
pub fn write_node(node: &GeneratedNode, root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for f in &node.files {
        let path = node_path(root, &f.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &f.bytes).unwrap();
        let mode = if f.secret { 0o600 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// The example node issued `age` ago (1-year leaves, 10-year CAs) under `root`.
pub fn write_node_aged(root: &Path, age: time::Duration, seed: u64) {
    let now = OffsetDateTime::now_utc() - age;
    let node = generate(&example_options(KeyAlgorithm::EcdsaP256), now, seed);
    write_node(&node, root);
}

/// The real path of a node file under `root`.
pub fn node_path(root: &Path, p: &kcerts_core::node::NodePath) -> PathBuf {
    root.join(p.to_string())
}

/// `--cert-dir ROOT/pki --kubeconfig-dir ROOT`.
pub fn dir_args(root: &Path) -> Vec<String> {
    vec![
        "--cert-dir".into(),
        root.join("pki").display().to_string(),
        "--kubeconfig-dir".into(),
        root.display().to_string(),
    ]
}

/// `CMD... --cert-dir ROOT/pki --kubeconfig-dir ROOT EXTRA...`
pub fn cmd_with_dirs(root: &Path, cmd: &[&str], extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    v.extend(dir_args(root));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// The `kcerts` binary of this workspace, built once per test run.
pub fn kcerts_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "kcerts-cli", "--bin", "kcerts"]);
        // Drop what cargo sets for this test process: ring's build script watches
        // CARGO_MANIFEST_DIR, and seeing it change made every test run and every
        // plain `cargo build` after it rebuild ring, rustls and kube (50 s each).
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_BIN_")
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_RUSTC_CURRENT_DIR",
                ]
                .contains(&key.as_ref())
            {
                build.env_remove(key.as_ref());
            }
        }
        let status = build.status().unwrap();
        assert!(status.success(), "building kcerts failed");
        // target/debug/deps/e2e-HASH -> target/debug/kcerts
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("kcerts")
    })
    .clone()
}

/// Runs `kcerts ARGS`.
pub fn kcerts<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(kcerts_bin()).args(args).output().unwrap()
}

/// Runs a tool and returns its output.
pub fn run<I, S>(tool: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"))
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the command succeeded, showing its output when not.
pub fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// `kcerts generate-pki` of node cp-1 (127.0.0.1, ECDSA P-256) into `root`, its
/// kubeconfigs pointing at `endpoint`, made at `at` (default: now).
pub fn generate_pki_at(root: &Path, endpoint: &str, at: Option<OffsetDateTime>) {
    let mut args = vec![
        "generate-pki".to_string(),
        "--out".into(),
        root.display().to_string(),
    ];
    for arg in [
        "--node-name",
        "cp-1",
        "--advertise-address",
        "127.0.0.1",
        "--control-plane-endpoint",
        endpoint,
        "--key-algorithm",
        "ECDSA-P256",
    ] {
        args.push(arg.into());
    }
    if let Some(at) = at {
        args.extend(["--at".into(), rfc3339(at)]);
    }
    assert_ok(&kcerts(&args), "generate-pki");
}

/// RFC 3339 form of a time, for `--at`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The backup directory a command named in its `... backed up N files to DIR` line.
pub fn backup_dir_in(out: &str) -> String {
    out.lines()
        .find_map(|l| l.split(" to ").nth(1).filter(|_| l.contains("backed up")))
        .unwrap_or_else(|| panic!("no backup line in: {out}"))
        .trim()
        .to_string()
}

/// The backup directories under `<root>/tmp` whose names start with `prefix`.
pub fn backup_dirs(root: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(root.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect()
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Starts `cmd` paused by the binary's test hook before durable step `step`
/// (`KCERTS_TEST_FAULT_STEP`, `KCERTS_TEST_FAULT_MODE=hang`) and waits until it
/// says so on stderr; returns the running process and the stderr read so far.
pub fn spawn_paused_at(mut cmd: Command, step: usize) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = cmd
        .env("KCERTS_TEST_FAULT_STEP", step.to_string())
        .env("KCERTS_TEST_FAULT_MODE", "hang")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("kcerts-test: paused before step") {
            break;
        }
    }
    (child, seen)
}

/// [`spawn_paused_at`], then SIGKILL there; returns the stderr read up to the pause.
pub fn sigkill_paused_at(cmd: Command, step: usize) -> String {
    let (mut child, seen) = spawn_paused_at(cmd, step);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(seen.contains("paused before step"), "step {step}: {seen}");
    seen
}
