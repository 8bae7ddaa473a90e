//! A node built by openssl and kubectl alone (tests/fixtures/openssl-pki.sh, no
//! kcerts code) is read and renewed correctly: PKCS#8 and PKCS#1 RSA keys, SEC1
//! and PKCS#8 EC keys, openssl's extensions and kubectl-written kubeconfigs.

use kcerts_core::inventory;
use kcerts_tests::*;

use kcerts_tests::node_rows::row_pems;
use kcerts_tests::openssl_node::openssl_node;
use kcerts_tests::openssl_read::check_with_openssl;

#[test]
fn openssl_made_node_is_reported_and_renewed() {
    let dir = tempdir();
    let root = dir.path();
    openssl_node(root);

    let mut args = vec!["check-expiration".to_string(), "-o".into(), "json".into()];
    args.extend(dir_args(root));
    let out = kcerts(&args);
    assert_ok(&out, "check-expiration");
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let certs = json["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 11);
    for c in certs {
        assert_eq!(c["missing"], false, "{c}");
        assert!(c["residualTime"].as_i64().unwrap() > 360 * 86400, "{c}");
    }

    let before: Vec<_> = inventory::ROWS.iter().map(|r| row_pems(root, r)).collect();
    let mut args = vec!["renew".to_string(), "all".into()];
    args.extend(dir_args(root));
    assert_ok(&kcerts(&args), "renew all");
    let scratch = tempdir();
    for (row, old) in inventory::ROWS.iter().zip(&before) {
        let new = row_pems(root, row);
        assert_ne!(new.0, old.0, "{} not renewed", row.name);
        check_with_openssl(root, row, scratch.path());
    }
}
