//! `kcerts renew` on a generated node, checked with openssl and kubectl: every
//! renewed certificate verifies against its CA for its purpose, keeps CN, O,
//! SANs and EKU, has a new key that matches, and kubeconfigs still load.

use std::collections::BTreeMap;
use std::path::Path;

use kcerts_core::PrivateKey;
use kcerts_core::certificate::{self, Certificate};
use kcerts_core::inventory::{self, Location};
use kcerts_tests::node_rows::row_pems;
use kcerts_tests::openssl_read::check_with_openssl;
use kcerts_tests::*;

fn snapshot(root: &Path) -> BTreeMap<&'static str, (Certificate, String)> {
    inventory::ROWS
        .iter()
        .map(|row| {
            let (cert, key) = row_pems(root, row);
            (
                row.name,
                (certificate::parse_first(cert.as_bytes()).unwrap(), key),
            )
        })
        .collect()
}

fn renew_all_and_check(key_algorithm: &str, expect_key: &str) {
    let n = NodeDir::now(21);
    let root = n.root();
    let before = snapshot(root);
    let out = n.kcerts(&["renew", "all", "--key-algorithm", key_algorithm]);
    assert_ok(&out, "renew all");
    let text = stdout(&out);
    for row in &inventory::ROWS {
        assert!(
            text.contains(&format!("{} renewed\n", row.long_name)),
            "{text}"
        );
    }
    assert!(
        text.ends_with(&format!("\n{}\n", kcerts_core::renewal::DONE_MESSAGE)),
        "{text}"
    );
    let after = snapshot(root);
    let scratch = tempdir();
    for row in &inventory::ROWS {
        let (old, old_key) = &before[row.name];
        let (new, new_key) = &after[row.name];
        assert_eq!(new.common_name, old.common_name, "{}", row.name);
        assert_eq!(new.organizations, old.organizations, "{}", row.name);
        assert_eq!(new.dns_names, {
            let mut d = old.dns_names.clone();
            d.sort();
            d
        });
        assert_eq!(new.ip_addresses, old.ip_addresses, "{}", row.name);
        assert_eq!(
            new.extended_key_usage, old.extended_key_usage,
            "{}",
            row.name
        );
        assert_ne!(new.serial, old.serial, "{}", row.name);
        assert_ne!(new_key, old_key, "{}: key was not replaced", row.name);
        assert_eq!(
            PrivateKey::parse(new_key.as_bytes()).unwrap().describe(),
            expect_key
        );
        assert!(new.not_after >= old.not_after, "{}", row.name);
        check_with_openssl(root, row, scratch.path());
        if let Location::Kubeconfig { file } = row.location {
            // kubeadm resets the embedded CA to ca.crt (the stale-CA bug, kubeadm#2027).
            let ca = kubectl_data(
                &root.join(file),
                "{.clusters[0].cluster.certificate-authority-data}",
            );
            assert_eq!(
                ca,
                std::fs::read(root.join("pki/ca.crt")).unwrap(),
                "{file}"
            );
        }
    }
    // Keys are written 0600, certificates keep 0644.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::metadata(root.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("pki/apiserver.key"), 0o600);
    assert_eq!(mode("pki/apiserver.crt"), 0o644);
    assert_eq!(mode("admin.conf"), 0o600);
    // The backup holds the old files.
    let backups = backup_dirs(root, "kcerts-renew-");
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = &backups[0];
    let old_crt = std::fs::read_to_string(backup.join("pki/apiserver.crt")).unwrap();
    assert_eq!(
        certificate::parse_first(old_crt.as_bytes()).unwrap().serial,
        before["apiserver"].0.serial
    );
}

#[test]
fn renew_all_with_default_rsa_2048_passes_openssl_and_kubectl() {
    renew_all_and_check("RSA-2048", "RSA 2048");
}

#[test]
fn renew_all_with_ecdsa_p384_passes_openssl_and_kubectl() {
    renew_all_and_check("ECDSA-P384", "ECDSA P-384");
}

fn file_hashes(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("tmp") {
                    stack.push(p);
                }
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn single_row_renew_touches_only_that_row() {
    let n = NodeDir::now(22);
    let root = n.root();
    for (row, changed) in [
        ("etcd-peer", vec!["pki/etcd/peer.crt", "pki/etcd/peer.key"]),
        ("scheduler.conf", vec!["scheduler.conf"]),
    ] {
        let before = file_hashes(root);
        let out = n.kcerts(&["renew", row, "--key-algorithm", "ECDSA-P256"]);
        assert_ok(&out, "renew one row");
        assert_eq!(
            stdout(&out).lines().last().unwrap(),
            format!("{} renewed", inventory::row(row).unwrap().long_name)
        );
        let after = file_hashes(root);
        let differ: Vec<_> = before
            .keys()
            .filter(|k| before[*k] != after[*k])
            .map(String::as_str)
            .collect();
        assert_eq!(differ, changed, "{row}");
        check_with_openssl(root, inventory::row(row).unwrap(), tempdir().path());
    }
}

#[test]
fn dry_run_writes_nothing() {
    let n = NodeDir::now(23);
    let root = n.root();
    let before = file_hashes(root);
    let out = n.kcerts(&["renew", "all", "--dry-run"]);
    assert_ok(&out, "renew --dry-run");
    assert!(
        stdout(&out).contains("[dry-run] would renew apiserver until"),
        "{}",
        stdout(&out)
    );
    assert_eq!(file_hashes(root), before);
    assert!(!root.join("tmp").exists());
}

#[test]
fn external_and_missing_rows_are_reported_and_skipped() {
    let n = NodeDir::now(24);
    let root = n.root();
    std::fs::remove_file(root.join("pki/front-proxy-ca.key")).unwrap();
    std::fs::remove_file(root.join("super-admin.conf")).unwrap();
    let fp_before = std::fs::read(root.join("pki/front-proxy-client.crt")).unwrap();
    let out = n.kcerts(&["renew", "all", "--key-algorithm", "ECDSA-P256"]);
    assert_ok(&out, "renew all");
    let text = stdout(&out);
    assert!(text.contains("Detected external front-proxy-ca, certificate for the front proxy client can't be renewed\n"), "{text}");
    assert!(
        text.contains("MISSING! certificate embedded in the kubeconfig file for the super-admin\n"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(root.join("pki/front-proxy-client.crt")).unwrap(),
        fp_before
    );
}

#[test]
fn renew_keeps_owner_and_mode_of_replaced_files() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let n = NodeDir::now(25);
    let root = n.root();
    let crt = root.join("pki/apiserver.crt");
    let key = root.join("pki/apiserver.key");
    std::os::unix::fs::chown(&crt, Some(1234), Some(2345)).unwrap();
    std::os::unix::fs::chown(&key, Some(1234), Some(2345)).unwrap();
    std::fs::set_permissions(&crt, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_ok(
        &n.kcerts(&["renew", "apiserver", "--key-algorithm", "ECDSA-P256"]),
        "renew apiserver",
    );
    for (path, mode) in [(&crt, 0o640), (&key, 0o600)] {
        let m = std::fs::metadata(path).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 2345), "{}", path.display());
        assert_eq!(
            m.permissions().mode() & 0o777,
            mode,
            "{}: keys are always 0600",
            path.display()
        );
    }
}
