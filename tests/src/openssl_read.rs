//! What openssl itself says of certificates and keys: whether a chain verifies for
//! a purpose, a certificate matches its key, its key type, extensions and end date.

use std::path::{Path, PathBuf};
use std::process::Output;

use kcerts_core::certificate::{self, ExtendedKeyUsage};
use kcerts_core::inventory::Row;

use crate::node_rows::row_pems;
use crate::{assert_ok, run, stdout};

/// `openssl verify -CAfile CA_FILE -purpose PURPOSE CERT`.
fn verify(ca_file: &Path, cert: &Path, purpose: &str) -> Output {
    run(
        "openssl",
        [
            "verify",
            "-CAfile",
            &ca_file.display().to_string(),
            "-purpose",
            purpose,
            &cert.display().to_string(),
        ],
    )
}

/// Whether openssl verifies `cert` against `ca_file` for `purpose`.
pub fn verifies(ca_file: &Path, cert: &Path, purpose: &str) -> bool {
    verify(ca_file, cert, purpose).status.success()
}

/// Asserts that openssl verifies `cert` against `ca_file` for `purpose`.
pub fn assert_verifies(ca_file: &Path, cert: &Path, purpose: &str) {
    let out = verify(ca_file, cert, purpose);
    assert_ok(&out, &format!("openssl verify -purpose {purpose}"));
}

/// openssl verifies `cert_pem` against `ca` for `purpose`.
pub fn openssl_verify(ca: &Path, cert_pem: &[u8], purpose: &str, dir: &Path) {
    let f = dir.join("verify.pem");
    std::fs::write(&f, cert_pem).unwrap();
    assert_verifies(ca, &f, purpose);
}

fn ca_file(root: &Path, row: &Row) -> PathBuf {
    root.join("pki").join(row.ca.cert_file())
}

fn pubkey_with(tool_args: &[&str], pem: &str, dir: &Path) -> String {
    let f = dir.join("in.pem");
    std::fs::write(&f, pem).unwrap();
    let mut args: Vec<String> = tool_args.iter().map(|s| s.to_string()).collect();
    args.extend(["-in".into(), f.display().to_string()]);
    let out = run("openssl", &args);
    assert_ok(&out, &format!("openssl {tool_args:?}"));
    stdout(&out)
}

/// Checks one renewed row with openssl: chain and purpose, and key pair.
pub fn check_with_openssl(root: &Path, row: &Row, scratch: &Path) {
    let (cert_pem, key_pem) = row_pems(root, row);
    let cert_path = scratch.join(format!("{}.crt", row.name));
    std::fs::write(&cert_path, &cert_pem).unwrap();
    let cert = certificate::parse_first(cert_pem.as_bytes()).unwrap();
    for eku in &cert.extended_key_usage {
        let purpose = match eku {
            ExtendedKeyUsage::ServerAuth => "sslserver",
            ExtendedKeyUsage::ClientAuth => "sslclient",
            ExtendedKeyUsage::Other(_) => continue,
        };
        let out = verify(&ca_file(root, row), &cert_path, purpose);
        assert_ok(
            &out,
            &format!("openssl verify -purpose {purpose} {}", row.name),
        );
        assert!(
            stdout(&out).trim_end().ends_with(": OK"),
            "{}",
            stdout(&out)
        );
    }
    let from_cert = pubkey_with(&["x509", "-pubkey", "-noout"], &cert_pem, scratch);
    let from_key = pubkey_with(&["pkey", "-pubout"], &key_pem, scratch);
    assert_eq!(
        from_cert, from_key,
        "{}: certificate and key do not match",
        row.name
    );
}

/// `openssl x509 -noout -text` of `cert_pem`, written to `scratch/FILE` first.
fn x509_text(cert_pem: &str, scratch: &Path, file: &str) -> String {
    let f = scratch.join(file);
    std::fs::write(&f, cert_pem).unwrap();
    let out = run(
        "openssl",
        ["x509", "-noout", "-text", "-in", &f.display().to_string()],
    );
    assert_ok(&out, "openssl x509 -text");
    stdout(&out)
}

/// The public key of a certificate as openssl reads it: `RSA 2048`, `EC P-256`.
pub fn openssl_key(cert_pem: &str, scratch: &Path) -> String {
    let text = x509_text(cert_pem, scratch, "key-of.pem");
    let line = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
    };
    match line("NIST CURVE: ") {
        Some(curve) => format!("EC {curve}"),
        None => {
            let bits = line("Public-Key: (").unwrap_or_else(|| panic!("no key in:\n{text}"));
            format!("RSA {}", bits.trim_end_matches(" bit)"))
        }
    }
}

/// The extension names of a certificate in the order openssl prints them.
pub fn openssl_extensions(cert_pem: &str, scratch: &Path) -> Vec<String> {
    x509_text(cert_pem, scratch, "ext-of.pem")
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("X509v3 "))
        .filter(|l| *l != "extensions:")
        .map(|l| {
            l.trim_end_matches(": critical")
                .trim_end_matches(':')
                .to_string()
        })
        .collect()
}

/// NotAfter of a PEM certificate as openssl prints it (ISO 8601).
pub fn openssl_enddate(pem_path: &Path) -> String {
    let out = run(
        "openssl",
        [
            "x509",
            "-noout",
            "-enddate",
            "-dateopt",
            "iso_8601",
            "-in",
            &pem_path.display().to_string(),
        ],
    );
    assert_ok(&out, "openssl x509 -enddate");
    stdout(&out).trim().to_string()
}
