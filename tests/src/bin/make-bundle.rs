//! Writes a PEM bundle of N distinct certificates to stdout, for benchmarks
//! (`bench/compare.sh`, `bench/web-perf.mjs`): one ECDSA P-256 CA signs N - 1
//! leaves, each with its own serial, CN, SAN, validity and signature. The leaves
//! share one RSA-2048 key (a key per certificate would take minutes at 100,000),
//! which gives the ~1.2 KB PEM certificates of a real kubeadm or CA bundle.
//!
//!     cargo run --release -p kcerts-tests --bin make-bundle -- 100000 > bundle.pem
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a dev tool: fail loudly

use std::io::Write;

use kcerts_core::keys::PrivateKey;
use kcerts_core::leaf::{self, LeafSpec};
use kcerts_core::{KeyAlgorithm, certificate::ExtendedKeyUsage};
use time::{Duration, OffsetDateTime};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let now = OffsetDateTime::now_utc();
    let mut rng = kcerts_core::seeded_rng(42);
    let ca = leaf::issue_ca(
        "bench-ca",
        KeyAlgorithm::EcdsaP256,
        now - Duration::days(30),
        &mut rng,
    )
    .unwrap();
    let leaf_key = PrivateKey::generate(KeyAlgorithm::Rsa2048, &mut rng).unwrap();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    out.write_all(ca.cert.to_pem().as_bytes()).unwrap();
    for i in 1..n {
        let spec = LeafSpec {
            common_name: format!("leaf-{i}.bench.example"),
            organizations: vec!["kcerts benchmark bundle".into()],
            dns_names: vec![
                format!("leaf-{i}.bench.example"),
                format!("leaf-{i}.internal.bench.example"),
            ],
            extended_key_usage: vec![ExtendedKeyUsage::ServerAuth],
            ..LeafSpec::default()
        };
        let issued = leaf::issue_for_key(
            &spec,
            &ca,
            leaf_key.clone(),
            Duration::days(1 + (i % 700) as i64),
            now - Duration::days((i % 300) as i64),
            &mut rng,
        )
        .unwrap();
        out.write_all(issued.cert_pem().as_bytes()).unwrap();
    }
}
