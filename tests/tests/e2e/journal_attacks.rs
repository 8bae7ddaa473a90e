//! The journal and the backups as an attacker on the node would use them
//! (issue 23 item 2): kcerts runs as root, so a user who can write a backup
//! directory, plant a journal, a pending marker or a symbolic link must not get
//! root to write where they choose. Each attack is refused with its reason and
//! changes nothing; the legitimate recovery still works (crash_safety.rs has
//! the rest of it).
//!
//! "Another user" is uid 65534 (nobody): the tests run as root and chown to it.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kcerts_tests::*;
use time::{Duration, OffsetDateTime};

const NOBODY: u32 = 65534;
const AT: OffsetDateTime = NOW.saturating_add(Duration::days(30));
const JOURNAL_HEADER: &str =
    "# kcerts renewal journal v1: old-state mode uid gid backup-path target";

fn renew(root: &Path, at: OffsetDateTime, extra: &[&str]) -> Output {
    Command::new(kcerts_bin())
        .args(["renew", "all", "--key-algorithm", "ECDSA-P256", "--at"])
        .arg(rfc3339(at))
        .args(dir_args(root))
        .args(extra)
        .output()
        .unwrap()
}

fn restore(root: &Path, backup: &Path) -> Output {
    Command::new(kcerts_bin())
        .args(["restore", "--backup-dir"])
        .arg(backup)
        .args(dir_args(root))
        .output()
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn set_mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn assert_refused(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{}\n{err}", stdout(out));
    for n in needles {
        assert!(err.contains(n), "{n:?} not in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// A backup directory as kcerts makes one (root's, 0700) holding `copies` and a
/// journal of `lines`: what an attacker would plant if they could write there.
fn plant_backup(dir: &Path, lines: &[String], copies: &[(&str, &[u8])]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    set_mode(dir, 0o700);
    for (rel, bytes) in copies {
        std::fs::write(dir.join(rel), bytes).unwrap();
    }
    let journal = dir.join("kcerts-manifest.tsv");
    std::fs::write(
        &journal,
        format!("{JOURNAL_HEADER}\n{}\n", lines.join("\n")),
    )
    .unwrap();
    set_mode(&journal, 0o600);
    journal
}

#[test]
fn a_root_line_cannot_widen_where_restore_writes() {
    let n = NodeDir::new(81);
    let root = n.root();
    let outside = tempdir();
    let planted = outside.path().join("suid-shell");
    let backup = root.join("tmp/kcerts-renew-planted");
    let journal = plant_backup(
        &backup,
        &[
            format!("#root\t{}", outside.path().display()),
            format!("present\t4755\t0\t0\tshell\t{}", planted.display()),
        ],
        &[("shell", b"#!/bin/sh\nexec /bin/sh -p\n")],
    );
    let out = restore(root, &backup);
    assert_refused(
        &out,
        &[
            &format!(
                "{}: line 2: {}",
                journal.display(),
                outside.path().display()
            ),
            "is outside the directories this command may write",
            "a journal never widens them",
        ],
    );
    assert!(!planted.exists(), "the setuid file was planted");

    // The same journal met by the recovery at the start of `kcerts renew`.
    std::fs::write(
        root.join("tmp/kcerts-renew-pending"),
        format!("{}\n", std::fs::canonicalize(&backup).unwrap().display()),
    )
    .unwrap();
    set_mode(&root.join("tmp/kcerts-renew-pending"), 0o600);
    let before = std::fs::read(root.join("pki/apiserver.crt")).unwrap();
    let out = renew(root, AT, &[]);
    assert_refused(&out, &["line 2", "a journal never widens them"]);
    assert!(
        !planted.exists(),
        "the setuid file was planted by the recovery"
    );
    assert_eq!(
        std::fs::read(root.join("pki/apiserver.crt")).unwrap(),
        before
    );
}

#[test]
fn a_target_outside_the_node_is_refused_even_without_a_root_line() {
    let n = NodeDir::new(82);
    let root = n.root();
    let outside = tempdir();
    let planted = outside.path().join("x");
    let backup = root.join("tmp/kcerts-renew-planted");
    let journal = plant_backup(
        &backup,
        &[format!("present\t644\t0\t0\tx\t{}", planted.display())],
        &[("x", b"x")],
    );
    let out = restore(root, &backup);
    assert_refused(&out, &[&format!("{}: line 2: ", journal.display())]);
    assert!(!planted.exists());
}

#[test]
fn modes_from_a_journal_lose_setuid_setgid_and_sticky() {
    let n = NodeDir::new(83);
    let root = n.root();
    let target = std::fs::canonicalize(root.join("pki/ca.crt")).unwrap();
    let bytes = std::fs::read(&target).unwrap();
    let backup = root.join("tmp/kcerts-renew-modes");
    plant_backup(
        &backup,
        &[format!("present\t7755\t0\t0\tca.crt\t{}", target.display())],
        &[("ca.crt", &bytes)],
    );
    assert_ok(&restore(root, &backup), "restore");
    assert_eq!(mode(&target), 0o755);
    assert_eq!(std::fs::read(&target).unwrap(), bytes);
}

#[test]
fn a_pending_marker_naming_a_backup_elsewhere_is_refused() {
    let n = NodeDir::new(84);
    let root = n.root();
    let elsewhere = tempdir();
    let backup = elsewhere.path().join("kcerts-renew-x");
    let ca = std::fs::canonicalize(root.join("pki/ca.crt")).unwrap();
    let ca_before = std::fs::read(&ca).unwrap();
    plant_backup(
        &backup,
        &[format!("present\t644\t0\t0\tca.crt\t{}", ca.display())],
        &[("ca.crt", b"-----BEGIN CERTIFICATE-----\nnot the CA\n")],
    );
    let marker = root.join("tmp/kcerts-renew-pending");
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::write(&marker, format!("{}\n", backup.display())).unwrap();
    set_mode(&marker, 0o600);
    let out = renew(root, AT, &[]);
    assert_refused(
        &out,
        &[
            &format!(
                "the pending-renewal marker {} names {}, outside",
                marker.display(),
                backup.display()
            ),
            &format!("kcerts restore --backup-dir {}", backup.display()),
        ],
    );
    assert_eq!(std::fs::read(&ca).unwrap(), ca_before);

    // A marker another user can write, or a link, is not followed either.
    std::fs::remove_file(&marker).unwrap();
    let inside = root.join("tmp/kcerts-renew-y");
    plant_backup(
        &inside,
        &[format!("present\t644\t0\t0\tca.crt\t{}", ca.display())],
        &[("ca.crt", b"-----BEGIN CERTIFICATE-----\nnot the CA\n")],
    );
    std::fs::write(&marker, format!("{}\n", inside.display())).unwrap();
    set_mode(&marker, 0o666);
    assert_refused(
        &renew(root, AT, &[]),
        &[
            "the pending-renewal marker",
            "is writable by its group or by others (mode 0666)",
        ],
    );
    std::fs::remove_file(&marker).unwrap();
    let decoy = root.join("tmp/decoy");
    std::fs::write(&decoy, format!("{}\n", inside.display())).unwrap();
    set_mode(&decoy, 0o600);
    symlink(&decoy, &marker).unwrap();
    assert_refused(&renew(root, AT, &[]), &["is a symbolic link"]);
    assert_eq!(std::fs::read(&ca).unwrap(), ca_before);
}

#[test]
fn a_symlinked_lock_file_is_not_followed() {
    let n = NodeDir::new(85);
    let root = n.root();
    let victim_dir = tempdir();
    let victim = victim_dir.path().join("created-by-root");
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    symlink(&victim, root.join("tmp/kcerts.lock")).unwrap();
    let before = std::fs::read(root.join("pki/apiserver.crt")).unwrap();
    let out = renew(root, AT, &[]);
    assert_refused(
        &out,
        &[&format!(
            "the lock file {} is a symbolic link",
            root.join("tmp/kcerts.lock").display()
        )],
    );
    assert!(!victim.exists(), "root created a file through the link");
    assert_eq!(
        std::fs::read(root.join("pki/apiserver.crt")).unwrap(),
        before
    );
}

#[test]
fn a_backup_dir_another_user_can_write_is_refused() {
    let n = NodeDir::new(86);
    let root = n.root();
    let shared = tempdir();
    let before = std::fs::read(root.join("pki/apiserver.crt")).unwrap();

    // World-writable, as /tmp/x made by anyone would be.
    let open = shared.path().join("open");
    std::fs::create_dir(&open).unwrap();
    set_mode(&open, 0o777);
    let out = renew(root, AT, &["--backup-dir", open.to_str().unwrap()]);
    assert_refused(
        &out,
        &[
            &format!("the backup directory {}", open.display()),
            "is writable by its group or by others (mode 0777)",
            "mkdir -m 700",
        ],
    );
    assert_eq!(
        std::fs::read_dir(&open).unwrap().count(),
        0,
        "nothing written there"
    );

    // Private, but another user's.
    let theirs = shared.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    set_mode(&theirs, 0o700);
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    let out = renew(root, AT, &["--backup-dir", theirs.to_str().unwrap()]);
    assert_refused(
        &out,
        &["is owned by uid 65534, not by the user running kcerts"],
    );

    // A symbolic link to a directory of ours.
    let ours = shared.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    set_mode(&ours, 0o700);
    let link = shared.path().join("link");
    symlink(&ours, &link).unwrap();
    let out = renew(root, AT, &["--backup-dir", link.to_str().unwrap()]);
    assert_refused(&out, &["is a symbolic link"]);
    assert_eq!(
        std::fs::read(root.join("pki/apiserver.crt")).unwrap(),
        before
    );

    // Ours, but inside a directory another user owns (who could swap it).
    let their_parent = shared.path().join("their-parent");
    std::fs::create_dir(&their_parent).unwrap();
    set_mode(&their_parent, 0o755);
    std::os::unix::fs::chown(&their_parent, Some(NOBODY), Some(NOBODY)).unwrap();
    let inside = their_parent.join("ours");
    std::fs::create_dir(&inside).unwrap();
    set_mode(&inside, 0o700);
    let out = renew(root, AT, &["--backup-dir", inside.to_str().unwrap()]);
    assert_refused(
        &out,
        &[&format!(
            "the backup directory {} is inside {} which is owned by uid 65534, another user",
            inside.display(),
            their_parent.display()
        )],
    );
    assert_eq!(std::fs::read_dir(&inside).unwrap().count(), 0);

    // A directory only root can write is used; the backup inside is 0700.
    let out = renew(root, AT, &["--backup-dir", ours.to_str().unwrap()]);
    assert_ok(&out, "renew into a private --backup-dir");
    let backup = PathBuf::from(backup_dir_in(&stdout(&out)));
    assert!(backup.starts_with(&ours), "{}", backup.display());
    assert_eq!(mode(&backup), 0o700);
}

#[test]
fn restore_refuses_a_backup_another_user_could_have_changed() {
    let n = NodeDir::new(87);
    let root = n.root();
    let before = std::fs::read(root.join("pki/apiserver.crt")).unwrap();
    let out = renew(root, AT, &[]);
    assert_ok(&out, "renew");
    let backup = PathBuf::from(backup_dir_in(&stdout(&out)));
    let journal = backup.join("kcerts-manifest.tsv");
    let renewed = std::fs::read(root.join("pki/apiserver.crt")).unwrap();

    std::os::unix::fs::chown(&backup, Some(NOBODY), None).unwrap();
    assert_refused(
        &restore(root, &backup),
        &[
            &format!("the backup directory {}", backup.display()),
            "is owned by uid 65534",
            "does not trust what another user could have written there",
        ],
    );
    std::os::unix::fs::chown(&backup, Some(0), None).unwrap();

    set_mode(&backup, 0o770);
    assert_refused(&restore(root, &backup), &["(mode 0770)"]);
    set_mode(&backup, 0o700);

    set_mode(&journal, 0o622);
    assert_refused(
        &restore(root, &backup),
        &[&format!("the journal {}", journal.display()), "(mode 0622)"],
    );
    set_mode(&journal, 0o600);

    let real = backup.join("journal.real");
    std::fs::rename(&journal, &real).unwrap();
    symlink(&real, &journal).unwrap();
    assert_refused(&restore(root, &backup), &["is a symbolic link"]);
    std::fs::remove_file(&journal).unwrap();
    std::fs::rename(&real, &journal).unwrap();
    assert_eq!(
        std::fs::read(root.join("pki/apiserver.crt")).unwrap(),
        renewed
    );

    // Untouched, the same backup restores.
    assert_ok(&restore(root, &backup), "restore");
    assert_eq!(
        std::fs::read(root.join("pki/apiserver.crt")).unwrap(),
        before
    );
}

#[test]
fn an_interrupted_renewal_is_still_recovered_by_the_next_one() {
    let n = NodeDir::new(88);
    let root = n.root();
    let before = std::fs::read(root.join("pki/apiserver.crt")).unwrap();
    // Killed before removing its marker: the next renew puts the old files back first.
    let mut cmd = Command::new(kcerts_bin());
    cmd.args(["renew", "all", "--key-algorithm", "ECDSA-P256", "--at"])
        .arg(rfc3339(AT))
        .args(dir_args(root));
    sigkill_paused_at(cmd, 57);
    assert_ne!(
        std::fs::read(root.join("pki/apiserver.crt")).unwrap(),
        before
    );
    let out = renew(root, AT + Duration::days(1), &[]);
    assert_ok(&out, "renew after the kill");
    assert!(
        stdout(&out).contains("a previous renewal was interrupted: put back 18 files from"),
        "{}",
        stdout(&out)
    );
}

fn backups(root: &Path, args: &[&str]) -> Output {
    Command::new(kcerts_bin())
        .arg("backups")
        .args(args)
        .args(dir_args(root))
        .output()
        .unwrap()
}

#[test]
fn backups_are_listed_with_their_keys_and_pruned_to_the_newest() {
    let n = NodeDir::new(89);
    let root = n.root();
    let mut made = Vec::new();
    for day in 1..=3 {
        let out = renew(root, AT + Duration::days(day), &[]);
        assert_ok(&out, "renew");
        made.push(PathBuf::from(backup_dir_in(&stdout(&out))));
    }
    let list = backups(root, &["list"]);
    assert_ok(&list, "backups list");
    let text = stdout(&list);
    for b in &made {
        let name = b.file_name().unwrap().to_string_lossy().into_owned();
        let row = text
            .lines()
            .find(|l| l.starts_with(&name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{text}"));
        // 18 files: 7 key pairs and 4 kubeconfigs, 11 of them holding a key.
        assert!(row.contains(" renew ") && row.contains(" 18 "), "{row}");
        assert!(row.ends_with("11 (secret)"), "{row}");
    }
    assert!(text.contains("3 backups, "), "{text}");

    // An interrupted prune left one renamed aside; the pending marker names the oldest.
    let aside = root.join("tmp/.kcerts-pruning-kcerts-renew-2000-01-01T00-00-00Z");
    std::fs::create_dir_all(aside.join("pki")).unwrap();
    std::fs::write(aside.join("pki/ca.key"), b"x").unwrap();
    let marker = root.join("tmp/kcerts-renew-pending");
    std::fs::write(&marker, format!("{}\n", made[0].display())).unwrap();
    set_mode(&marker, 0o600);

    let dry = backups(root, &["prune", "--keep", "1", "--dry-run"]);
    assert_ok(&dry, "prune --dry-run");
    assert!(
        stdout(&dry).contains(&format!(
            "[dry-run] would remove {} (renew,",
            made[1].display()
        )),
        "{}",
        stdout(&dry)
    );
    assert!(
        made.iter().all(|b| b.exists()) && aside.exists(),
        "a dry run removed something"
    );

    let out = backups(root, &["prune", "--keep", "1"]);
    assert_ok(&out, "prune");
    let text = stdout(&out);
    assert!(text.contains("[prune] finished removing"), "{text}");
    assert!(
        text.contains("an interrupted renewal needs it")
            && text.ends_with("[prune] removed 1 of 3 backups, kept the newest 2\n"),
        "{text}"
    );
    assert!(!aside.exists());
    assert!(made[0].exists(), "the pending renewal's backup was removed");
    assert!(!made[1].exists());
    assert!(made[2].exists(), "the newest backup was removed");

    // A backup base another user can write is not pruned as root.
    set_mode(&root.join("tmp"), 0o777);
    assert_refused(
        &backups(root, &["prune", "--keep", "1"]),
        &["is writable by its group or by others (mode 0777)"],
    );
    set_mode(&root.join("tmp"), 0o755);
    assert!(made[0].exists() && made[2].exists());
}
