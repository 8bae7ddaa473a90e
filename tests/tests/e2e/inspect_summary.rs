//! `kcerts inspect --summary`: every certificate of a bundle checked against
//! openssl, bad blocks reported by position while the rest is read, and a
//! bundle far larger than the memory the command uses.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use kcerts_tests::*;

use kcerts_tests::run_in_node::*;

/// The example node's certificates, in a stable order.
fn node_certificates(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["pki", "pki/etcd"] {
        let mut names: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "crt"))
            .collect();
        names.sort();
        for p in names {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

/// One line of `openssl x509 -noout -serial -enddate -fingerprint -sha256`, by key.
fn openssl_facts(pem_path: &str) -> HashMap<String, String> {
    let o = run(
        "openssl",
        [
            "x509",
            "-noout",
            "-serial",
            "-enddate",
            "-startdate",
            "-fingerprint",
            "-sha256",
            "-in",
            pem_path,
        ],
    );
    assert_ok(&o, "openssl x509");
    stdout(&o)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// openssl's `notAfter=Mar  1 12:00:00 2027 GMT` as RFC 3339.
fn openssl_time(s: &str) -> String {
    let o = run("date", ["-u", "-d", s, "+%Y-%m-%dT%H:%M:%SZ"]);
    assert_ok(&o, "date");
    stdout(&o).trim().to_string()
}

#[test]
fn every_certificate_matches_openssl_and_bad_blocks_are_named() {
    let n = NodeDir::new(31);
    let root = n.root();
    let certs = node_certificates(root);
    assert!(certs.len() >= 10, "the example node has its CAs and leaves");
    // 40 rounds of every certificate with junk between blocks (about 400 KiB, so
    // blocks straddle the 256 KiB read chunks), then a key, a block that is not
    // base64, a truncated certificate, and one last good certificate.
    let mut bundle = b"Bundle made by the kcerts tests\n".to_vec();
    for round in 0..40 {
        for (_, pem) in &certs {
            bundle.extend_from_slice(format!("# round {round}\r\n").as_bytes());
            bundle.extend_from_slice(pem);
        }
    }
    let key = std::fs::read(root.join("pki/apiserver.key")).unwrap();
    bundle.extend_from_slice(&key);
    bundle.extend_from_slice(
        b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    );
    let (_, first_pem) = &certs[0];
    let der = kcerts_core::certificate::parse_first(first_pem)
        .unwrap()
        .der;
    let truncated = kcerts_core::encoding::to_pem("CERTIFICATE", &der[..der.len() / 2]);
    bundle.extend_from_slice(truncated.as_bytes());
    bundle.extend_from_slice(first_pem);
    std::fs::write(root.join("bundle.pem"), &bundle).unwrap();

    let o = kcerts_in(
        root,
        &[
            "inspect",
            "--summary",
            "-o",
            "json",
            "--at",
            AT,
            "bundle.pem",
            "absent.pem",
        ],
    );
    assert_eq!(code(&o), 1, "bad blocks and a missing file fail the run");
    let out = stdout(&o);
    let key_body = String::from_utf8_lossy(&key)
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(!out.contains(&key_body) && !stderr(&o).contains(&key_body));
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is one JSON object"))
        .collect();
    let good: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r.get("error").is_none())
        .collect();
    assert_eq!(good.len(), 40 * certs.len() + 1);
    // Block positions: n certificates a round, then the key, the bad block, the
    // truncated certificate and the last certificate.
    let n = certs.len();
    let errors: Vec<(Option<u64>, &str, &str)> = records
        .iter()
        .filter_map(|r| {
            Some((
                r["index"].as_u64(),
                r["file"].as_str()?,
                r.get("error")?.as_str()?,
            ))
        })
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(errors[0].0, Some(40 * n as u64 + 2));
    assert!(errors[0].2.contains("base64"), "{}", errors[0].2);
    assert_eq!(errors[1].0, Some(40 * n as u64 + 3));
    assert!(
        errors[1].2.contains("not a valid certificate"),
        "{}",
        errors[1].2
    );
    assert_eq!((errors[2].0, errors[2].1), (None, "absent.pem"));
    assert_eq!(good.last().unwrap()["index"], 40 * n + 4);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("error: bundle.pem: block {}: ", 40 * n + 2)),
        "{err}"
    );
    assert!(err.contains("error: absent.pem: no such file"), "{err}");

    // The first round against openssl, field by field; every later round the same.
    for (i, (path, _)) in certs.iter().enumerate() {
        let facts = openssl_facts(path);
        let r = good[i];
        assert_eq!(r["index"], i + 1);
        assert_eq!(r["file"], "bundle.pem");
        // openssl drops the 00 byte that keeps a DER integer positive.
        let serial = r["serial"].as_str().unwrap().to_uppercase();
        assert!(
            serial == facts["serial"] || serial == format!("00{}", facts["serial"]),
            "{path}: {serial} vs {}",
            facts["serial"]
        );
        assert_eq!(r["notAfter"], openssl_time(&facts["notAfter"]), "{path}");
        assert_eq!(r["notBefore"], openssl_time(&facts["notBefore"]), "{path}");
        assert_eq!(
            r["sha256Fingerprint"].as_str().unwrap().to_uppercase(),
            facts["sha256 Fingerprint"].replace(':', ""),
            "{path}"
        );
        for round in 1..40 {
            assert_eq!(
                good[round * n + i]["sha256Fingerprint"],
                r["sha256Fingerprint"]
            );
        }
    }
    // Subjects and issuers read as the full inspection reads them.
    let full = kcerts_in(root, &["inspect", "-o", "json", "--at", AT, &certs[1].0]);
    let full: serde_json::Value = serde_json::from_str(&stdout(&full)).unwrap();
    let cert = &full["items"][0]["certificate"];
    assert_eq!(good[1]["subject"], cert["subject"]);
    assert_eq!(good[1]["issuer"], cert["issuer"]);

    // Text: one line a certificate, then a count with the skipped key block.
    let o = kcerts_in(root, &["inspect", "--summary", "--at", AT, "bundle.pem"]);
    assert_eq!(code(&o), 1);
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 40 * n + 1 + 1);
    let last = text.lines().last().unwrap();
    assert_eq!(
        last,
        format!(
            "bundle.pem: {} certificates, 0 expired, 2 errors, skipped {}",
            40 * n + 1,
            String::from_utf8_lossy(&key)
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("-----BEGIN ")
                .trim_end_matches("-----")
        )
    );
    assert!(text.starts_with("bundle.pem[1]: "), "{text}");
}

#[test]
fn a_bundle_much_larger_than_the_memory_used_is_streamed() {
    let n = NodeDir::new(32);
    let root = n.root();
    let pem = std::fs::read(root.join("pki/apiserver.crt")).unwrap();
    // About 48 MB of certificates.
    let copies = 48_000_000 / pem.len();
    let file = std::fs::File::create(root.join("big.pem")).unwrap();
    let mut w = std::io::BufWriter::new(file);
    for _ in 0..copies {
        std::io::Write::write_all(&mut w, &pem).unwrap();
    }
    drop(w);
    let o = Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib %M"])
        .arg(kcerts_bin())
        .args(["inspect", "--summary", "-o", "json", "--at", AT, "big.pem"])
        .current_dir(root)
        .output()
        .unwrap();
    assert_ok(&o, "inspect --summary on a 48 MB bundle");
    assert_eq!(stdout(&o).lines().count(), copies);
    let err = stderr(&o);
    let peak_kib: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak from /usr/bin/time: {err}"));
    // The file is 47,000 KiB; streaming keeps the process near its own size.
    assert!(peak_kib < 16 * 1024, "peak resident memory {peak_kib} KiB");
    // The full inspection refuses such a file and points to --summary.
    let o = kcerts_in(root, &["inspect", "--at", AT, "big.pem"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("kcerts inspect --summary"),
        "{}",
        stderr(&o)
    );
}
