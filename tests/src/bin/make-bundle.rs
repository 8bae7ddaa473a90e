//! Writes a PEM bundle of N distinct certificates to stdout, for benchmarks
//! (`bench/compare.sh`, `bench/web-perf.mjs`): one ECDSA P-256 CA signs N - 1
//! ECDSA P-256 leaves, each with its own key, serial, CN, SAN and validity.
//!
//!     cargo run --release -p kcerts-tests --bin make-bundle -- 100000 > bundle.pem
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a dev tool: fail loudly

use std::io::Write;

use kcerts_core::renew::{self, LeafSpec, RenewOptions};
use kcerts_core::{KeyAlgorithm, certificate::ExtendedKeyUsage};
use time::{Duration, OffsetDateTime};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let now = OffsetDateTime::now_utc();
    let mut rng = kcerts_core::seeded_rng(42);
    let ca = renew::issue_ca(
        "bench-ca",
        KeyAlgorithm::EcdsaP256,
        now - Duration::days(30),
        &mut rng,
    )
    .unwrap();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    out.write_all(ca.cert.to_pem().as_bytes()).unwrap();
    for i in 1..n {
        let spec = LeafSpec {
            common_name: format!("leaf-{i}.bench.example"),
            dns_names: vec![format!("leaf-{i}.bench.example")],
            extended_key_usage: vec![ExtendedKeyUsage::ServerAuth],
            ..LeafSpec::default()
        };
        let opts = RenewOptions {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity: Duration::days(1 + (i % 700) as i64),
        };
        let issued = renew::issue(
            &spec,
            &ca,
            &opts,
            now - Duration::days((i % 300) as i64),
            &mut rng,
        )
        .unwrap();
        out.write_all(issued.cert_pem().as_bytes()).unwrap();
    }
}
