//! `kcerts renew --csr-only`: a CSR and key per row that openssl accepts, with
//! the old subject and SANs, written without CA keys and without touching the node.

use kcerts_core::certificate;
use kcerts_core::inventory;
use kcerts_core::{PrivateKey, csr};
use kcerts_tests::*;

use kcerts_tests::node_rows::row_pems;

#[test]
fn csr_only_writes_verifiable_requests_without_ca_keys() {
    let n = NodeDir::new(31);
    let root = n.root();
    // An external CA setup: no CA keys at all.
    for key in ["ca.key", "front-proxy-ca.key", "etcd/ca.key"] {
        std::fs::remove_file(root.join("pki").join(key)).unwrap();
    }
    let before: Vec<_> = inventory::ROWS.iter().map(|r| row_pems(root, r)).collect();
    let csr_dir = root.join("csrs");
    let csr_dir_arg = csr_dir.display().to_string();
    let cmd = ["renew", "all", "--csr-only", "--csr-dir", &csr_dir_arg];
    let out = n.kcerts(&cmd);
    assert_ok(&out, "renew --csr-only");
    for (row, (old_cert, _)) in inventory::ROWS.iter().zip(&before) {
        let csr_path = csr_dir.join(format!("{}.csr", row.name));
        let key_path = csr_dir.join(format!("{}.key", row.name));
        let verify = run(
            "openssl",
            [
                "req",
                "-verify",
                "-noout",
                "-in",
                &csr_path.display().to_string(),
            ],
        );
        assert_ok(&verify, &format!("openssl req -verify {}", row.name));
        assert!(stderr(&verify).contains("verify OK") || stdout(&verify).contains("verify OK"));
        let text = stdout(&run(
            "openssl",
            [
                "req",
                "-noout",
                "-text",
                "-nameopt",
                "RFC2253",
                "-in",
                &csr_path.display().to_string(),
            ],
        ));
        let old = certificate::parse_first(old_cert.as_bytes()).unwrap();
        let cn = old.common_name.clone().unwrap();
        assert!(text.contains(&format!("CN={cn}")), "{}: {text}", row.name);
        for o in &old.organizations {
            assert!(text.contains(&format!("O={o}")), "{}: {text}", row.name);
        }
        for d in &old.dns_names {
            assert!(text.contains(&format!("DNS:{d}")), "{}: {text}", row.name);
        }
        let parsed = csr::parse(&std::fs::read(&csr_path).unwrap()).unwrap();
        assert!(parsed.signature_valid);
        assert_eq!(parsed.ip_addresses, old.ip_addresses);
        let key = PrivateKey::parse(&std::fs::read(&key_path).unwrap()).unwrap();
        assert_eq!(
            parsed.public_key_bits,
            key.public_key_bits(),
            "{}",
            row.name
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key_path), 0o600);
        // kubeadm's WriteCSR: CSR files 0600 in a directory made 0700.
        assert_eq!(mode(&csr_path), 0o600, "{}", row.name);
        assert_eq!(mode(csr_path.parent().unwrap()), 0o700);
    }
    let after: Vec<_> = inventory::ROWS.iter().map(|r| row_pems(root, r)).collect();
    assert_eq!(before, after, "--csr-only changed the node");
    // A second run refuses to overwrite the requests.
    let again = n.kcerts(&cmd);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}
