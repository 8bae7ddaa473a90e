//! Crash-safe renewal: `renew all` stopped at every durable step (an injected
//! write error, and SIGKILL), then recovered by `kcerts restore` or the next
//! `kcerts renew`; a full disk (a small tmpfs); the node lock.
//!
//! The invariants checked after every stop: each file is wholly its old version
//! or wholly a new one, and after recovery every certificate matches its key.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kcerts_core::PrivateKey;
use kcerts_core::certificate;
use kcerts_core::inventory::{self, Location};
use kcerts_core::kubeconfig::Kubeconfig;
use kcerts_tests::*;
use time::{Duration, OffsetDateTime};

/// The moment of the interrupted renewal and of the recovering one.
const FIRST: OffsetDateTime = NOW.saturating_add(Duration::days(30));
const SECOND: OffsetDateTime = NOW.saturating_add(Duration::days(60));

/// Every file a renewal may replace, relative to the node root.
fn renewable_files() -> Vec<String> {
    let mut out = Vec::new();
    for row in inventory::rows(false) {
        match row.location {
            Location::CertDir { base } => {
                out.push(format!("pki/{base}.crt"));
                out.push(format!("pki/{base}.key"));
            }
            Location::Kubeconfig { file } => out.push(file.to_string()),
        }
    }
    out
}

fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    renewable_files()
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(root.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

/// The certificate and key a row's files hold.
fn row_pair(root: &Path, row: &inventory::Row) -> (certificate::Certificate, PrivateKey) {
    match row.location {
        Location::CertDir { base } => {
            let crt = std::fs::read(root.join(format!("pki/{base}.crt"))).unwrap();
            let key = std::fs::read(root.join(format!("pki/{base}.key"))).unwrap();
            (
                certificate::parse_first(&crt).unwrap_or_else(|e| panic!("{base}.crt: {e}")),
                PrivateKey::parse(&key).unwrap_or_else(|e| panic!("{base}.key: {e}")),
            )
        }
        Location::Kubeconfig { file } => {
            let bytes = std::fs::read(root.join(file)).unwrap();
            let c = Kubeconfig::parse(&bytes)
                .and_then(|k| k.current())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            (
                certificate::parse_first(&c.client_certificate_data).unwrap(),
                PrivateKey::parse(&c.client_key_data.unwrap()).unwrap(),
            )
        }
    }
}

/// Rows whose certificate does not match its key.
fn mismatched_rows(root: &Path) -> Vec<&'static str> {
    inventory::rows(false)
        .filter(|row| {
            let (cert, key) = row_pair(root, row);
            !cert.matches_key(&key)
        })
        .map(|row| row.name)
        .collect()
}

/// Asserts each file is its old bytes or a complete new version issued at `at`
/// (NotBefore = at - 5m); returns how many are new.
fn assert_old_or_new(root: &Path, old: &[(String, Vec<u8>)], at: OffsetDateTime) -> usize {
    let mut new = 0;
    for row in inventory::rows(false) {
        let (cert, _) = row_pair(root, row);
        let files: Vec<&(String, Vec<u8>)> = old
            .iter()
            .filter(|(f, _)| match row.location {
                Location::CertDir { base } => f.starts_with(&format!("pki/{base}.")),
                Location::Kubeconfig { file } => f == file,
            })
            .collect();
        for (f, bytes) in files {
            if std::fs::read(root.join(f)).unwrap() != *bytes {
                new += 1;
                if f.ends_with(".crt") || f.ends_with(".conf") {
                    assert_eq!(
                        cert.not_before,
                        at - Duration::minutes(5),
                        "{f} is neither the old nor the new version"
                    );
                }
            }
        }
    }
    new
}

fn assert_clean(root: &Path) {
    assert!(
        !root.join("tmp/kcerts-renew-pending").exists(),
        "the pending marker is left"
    );
    let mut stray = Vec::new();
    for dir in [root.to_path_buf(), root.join("pki"), root.join("pki/etcd")] {
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.contains("kcerts-new") || name.ends_with(".tmp") {
                stray.push(name);
            }
        }
    }
    assert!(stray.is_empty(), "staged files left: {stray:?}");
}

/// The example node of these tests, seed 61.
fn node() -> NodeDir {
    NodeDir::new(61)
}

fn renew_cmd(root: &Path, at: OffsetDateTime) -> Command {
    let mut c = Command::new(kcerts_bin());
    c.args([
        "renew",
        "all",
        "--key-algorithm",
        "ECDSA-P256",
        "--at",
        &rfc3339(at),
    ])
    .args(dir_args(root))
    .env_remove("KCERTS_TEST_FAULT_STEP")
    .env_remove("KCERTS_TEST_FAULT_MODE");
    c
}

/// How many durable steps `renew all` takes on the example node.
fn count_steps() -> usize {
    let n = node();
    let out = renew_cmd(n.root(), FIRST)
        .env("KCERTS_TEST_FAULT_TRACE", "1")
        .output()
        .unwrap();
    assert_ok(&out, "renew all");
    let n = stderr(&out)
        .lines()
        .filter(|l| l.starts_with("kcerts-test: step"))
        .count();
    // 18 backups, journal, marker, 18 staged files, 18 renames, marker removal.
    assert_eq!(n, 57, "{}", stderr(&out));
    n
}

/// The second renewal must succeed and leave every file new and every pair matching.
fn assert_recovers_by_renewing(root: &Path, old: &[(String, Vec<u8>)]) {
    let out = renew_cmd(root, SECOND).output().unwrap();
    assert_ok(&out, "renew all after the interruption");
    assert_eq!(mismatched_rows(root), Vec::<&str>::new());
    for row in inventory::rows(false) {
        let (cert, _) = row_pair(root, row);
        assert_eq!(
            cert.not_before,
            SECOND - Duration::minutes(5),
            "{}",
            row.name
        );
    }
    assert_eq!(assert_old_or_new(root, old, SECOND), old.len());
    assert_clean(root);
}

#[test]
fn an_injected_write_error_at_any_step_changes_nothing_or_rolls_back() {
    let steps = count_steps();
    for step in 1..=steps {
        let n = node();
        let root = n.root();
        let old = snapshot(root);
        let out = renew_cmd(root, FIRST)
            .env("KCERTS_TEST_FAULT_STEP", step.to_string())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "step {step}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("injected fault"), "step {step}: {err}");
        assert!(!err.contains("panicked"), "step {step}: {err}");
        let new = assert_old_or_new(root, &old, FIRST);
        if step < steps {
            // Before the commit nothing changed; during it, everything was put back.
            assert_eq!(new, 0, "step {step}: {err}");
            assert_clean(root);
        } else {
            // Failing to remove the marker: every file is new and matches.
            assert_eq!(new, old.len(), "step {step}");
        }
        assert_eq!(mismatched_rows(root), Vec::<&str>::new(), "step {step}");
        assert_recovers_by_renewing(root, &old);
    }
}

/// `kcerts restore --backup-dir BACKUP` on the node at `root`.
fn restore(root: &Path, backup: &Path) -> std::process::Output {
    let mut args = vec![
        "restore".to_string(),
        "--backup-dir".into(),
        backup.display().to_string(),
    ];
    args.extend(dir_args(root));
    kcerts(&args)
}

fn pending_backup(root: &Path) -> Option<PathBuf> {
    std::fs::read_to_string(root.join("tmp/kcerts-renew-pending"))
        .ok()
        .map(|s| PathBuf::from(s.trim_end()))
}

#[test]
fn sigkill_at_any_step_is_recovered_by_restore_or_the_next_renew() {
    let steps = count_steps();
    for step in 1..=steps {
        let n = node();
        let root = n.root();
        let old = snapshot(root);
        sigkill_paused_at(renew_cmd(root, FIRST), step);
        // Right after the kill: every file is old or new (pairs may differ).
        let new = assert_old_or_new(root, &old, FIRST);
        if step <= 39 {
            assert_eq!(new, 0, "step {step}: nothing is replaced before the commit");
        }
        match pending_backup(root) {
            None => assert!(step <= 20, "step {step}: the marker is missing"),
            Some(backup) if step % 2 == 0 => {
                assert_ok(&restore(root, &backup), "restore");
                assert_eq!(assert_old_or_new(root, &old, FIRST), 0, "step {step}");
                assert_eq!(snapshot(root), old, "step {step}: restore is exact");
                assert_clean(root);
            }
            Some(_) => {}
        }
        assert_recovers_by_renewing(root, &old);
    }
}

#[test]
fn restore_undoes_a_finished_renewal() {
    let n = node();
    let root = n.root();
    let old = snapshot(root);
    let out = renew_cmd(root, FIRST).output().unwrap();
    assert_ok(&out, "renew all");
    let text = stdout(&out);
    let backup = text
        .lines()
        .find_map(|l| {
            l.split(" to ")
                .nth(1)
                .filter(|_| l.starts_with("[renew] backed up"))
        })
        .unwrap();
    let out = restore(root, Path::new(backup));
    assert_ok(&out, "restore");
    assert!(
        stdout(&out).contains("[restore] restored 18 files from"),
        "{}",
        stdout(&out)
    );
    assert_eq!(snapshot(root), old);
    // Running it again is harmless.
    assert_ok(&restore(root, Path::new(backup)), "restore again");
    assert_eq!(snapshot(root), old);
}

/// Mounts a tmpfs of `size` at `dir` (root only); false when mounting is not allowed.
fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let out = run("stat", ["-f", "-c", "%a %S", dir.to_str().unwrap()]);
    let text = stdout(&out);
    let mut it = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    it.next().unwrap() * it.next().unwrap()
}

#[test]
fn a_full_disk_leaves_the_old_files_intact() {
    let mnt = tempdir();
    if !mount_tmpfs(mnt.path(), "2m") {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    let _unmount = Unmount(mnt.path().to_path_buf());
    let root = mnt.path().join("node");
    let mut outcomes = (0, 0);
    // From no free space to enough for backup and staging, in 4 KiB pages.
    for free_pages in 0..48u64 {
        let _ = std::fs::remove_dir_all(&root);
        let _ = std::fs::remove_file(mnt.path().join("filler"));
        NodeDir::in_dir(&root, 61);
        let old = snapshot(&root);
        let avail = free_bytes(mnt.path());
        let keep = free_pages * 4096;
        if avail > keep {
            std::fs::write(
                mnt.path().join("filler"),
                vec![0u8; (avail - keep) as usize],
            )
            .unwrap();
        }
        let out = renew_cmd(&root, FIRST).output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{err}");
        if out.status.success() {
            outcomes.1 += 1;
            assert_eq!(assert_old_or_new(&root, &old, FIRST), old.len());
        } else {
            outcomes.0 += 1;
            assert!(
                err.contains("No space left on device"),
                "{free_pages} pages: {err}"
            );
            assert_eq!(snapshot(&root), old, "{free_pages} free pages: {err}");
        }
        assert_eq!(mismatched_rows(&root), Vec::<&str>::new());
        assert_clean(&root);
    }
    assert!(
        outcomes.0 > 0 && outcomes.1 > 0,
        "{outcomes:?}: widen the range"
    );
}

#[test]
fn a_second_renew_fails_fast_while_one_holds_the_lock() {
    let n = node();
    let root = n.root();
    let old = snapshot(root);
    // The first run takes the lock and pauses before its first write.
    let (mut first, seen) = spawn_paused_at(renew_cmd(root, FIRST), 1);
    assert!(
        seen.starts_with("kcerts-test: paused before step 1 ("),
        "{seen}"
    );
    for cmd in [
        vec!["renew", "all"],
        vec!["restore", "--backup-dir", "/nonexistent"],
    ] {
        let started = std::time::Instant::now();
        let out = n.kcerts(&cmd);
        assert_eq!(out.status.code(), Some(1));
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let lock = root.join("tmp/kcerts.lock");
        assert_eq!(
            stderr(&out),
            format!(
                "error: another kcerts renew or restore is running on this node ({} is locked)\n\
                 hint: wait for it to finish and run this command again; the lock goes away when \
                 that process exits\n",
                lock.display()
            )
        );
    }
    // --dry-run and --csr-only only read: they do not wait for the lock.
    assert_ok(&n.kcerts(&["renew", "all", "--dry-run"]), "renew --dry-run");
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(snapshot(root), old);
    // The lock died with the process.
    assert_ok(
        &renew_cmd(root, SECOND).output().unwrap(),
        "renew after the kill",
    );
    assert_eq!(mismatched_rows(root), Vec::<&str>::new());
}

/// `renew --use-api` writes through the same journaled transaction as a local
/// renewal. SIGKILL between the key and the certificate renames of an API
/// renewal leaves a pair that does not match; `kcerts restore` puts the old
/// files back exactly, and so does the next `kcerts renew` (which then renews).
#[test]
fn sigkill_between_key_and_certificate_of_an_api_renewal_is_recovered() {
    const ROW: &str = "apiserver-kubelet-client";
    for by_restore in [true, false] {
        let c = kcerts_tests::fake_cluster::cluster(|o| {
            o.auto_approve = vec!["kubernetes.io/kube-apiserver-client".into()];
        });
        let root = c.root.as_path();
        let old = snapshot(root);
        let row = inventory::row(ROW).unwrap();
        let (old_cert, _) = row_pair(root, row);
        // Steps: back up key and certificate (1, 2), journal (3), marker (4),
        // stage both (5, 6), replace the key (7), replace the certificate (8).
        let mut renew = Command::new(kcerts_bin());
        renew.args(c.renew_args(&[ROW], &["--timeout", "60s"]));
        let seen = sigkill_paused_at(renew, 8);
        assert!(
            seen.contains("paused before step 8 (replace ")
                && seen.contains("pki/apiserver-kubelet-client.crt)"),
            "{seen}"
        );
        // The key is the new one, the certificate the old one: they do not match.
        let key_file = "pki/apiserver-kubelet-client.key";
        let old_key = &old.iter().find(|(f, _)| f == key_file).unwrap().1;
        assert_ne!(&std::fs::read(root.join(key_file)).unwrap(), old_key);
        assert_eq!(mismatched_rows(root), vec![ROW]);
        let backup = pending_backup(root).expect("the pending marker names the backup");

        if by_restore {
            let out = restore(root, &backup);
            assert_ok(&out, "restore");
            assert_eq!(
                stdout(&out),
                format!(
                    "[restore] put back {}\n[restore] put back {}\n[restore] restored 2 files from {}\n",
                    backup
                        .parent()
                        .unwrap()
                        .parent()
                        .unwrap()
                        .join(key_file)
                        .display(),
                    backup
                        .parent()
                        .unwrap()
                        .parent()
                        .unwrap()
                        .join("pki/apiserver-kubelet-client.crt")
                        .display(),
                    backup.display()
                )
            );
            assert_eq!(snapshot(root), old, "restore is exact");
            assert_clean(root);
        } else {
            let out = Command::new(kcerts_bin())
                .args(c.renew_args(&[ROW], &["--timeout", "60s"]))
                .output()
                .unwrap();
            assert_ok(&out, "renew --use-api after the interruption");
            let text = stdout(&out);
            assert!(
                text.starts_with(&format!(
                    "[renew] a previous renewal was interrupted: put back 2 files from {}\n",
                    backup.display()
                )),
                "{text}"
            );
            assert!(
                text.ends_with("certificate for the API server to connect to kubelet renewed\n"),
                "{text}"
            );
            assert_eq!(mismatched_rows(root), Vec::<&str>::new());
            let (cert, _) = row_pair(root, row);
            assert_ne!(cert.serial, old_cert.serial, "renewed after the recovery");
            assert_clean(root);
        }
    }
}
