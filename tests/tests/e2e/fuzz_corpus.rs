//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz
//! targets' own bodies, so plain `cargo test` (stable, no libFuzzer) keeps every
//! seed and every past crash (`regression-*` files) passing.

#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_entry;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| run(&bytes)).is_err() {
            panic!("fuzz target {target} fails on {}", path.display());
        }
        n += 1;
    }
    assert!(
        n >= 5,
        "{target}: only {n} corpus files in {}",
        dir.display()
    );
}

#[test]
fn cert_corpus() {
    replay("cert", fuzz_entry::cert);
}

#[test]
fn key_corpus() {
    replay("key", fuzz_entry::key);
}

#[test]
fn csr_corpus() {
    replay("csr", fuzz_entry::csr);
}

#[test]
fn kubeconfig_corpus() {
    replay("kubeconfig", fuzz_entry::kubeconfig);
}

#[test]
fn report_corpus() {
    replay("report", fuzz_entry::report);
}

#[test]
fn roundtrip_corpus() {
    replay("roundtrip", fuzz_entry::roundtrip);
}

#[test]
fn bundles_split_into_named_files() {
    let files = fuzz_entry::split_bundle(b"lead\n@@@ pki/ca.crt\nA\n@@@ admin.conf\nB");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["input", "pki/ca.crt", "admin.conf"]);
    assert_eq!(files[1].1, b"A\n");
    assert_eq!(files[2].1, b"B");
}
