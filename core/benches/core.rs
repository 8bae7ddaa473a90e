//! Criterion benchmarks of the core: parsing, the check-expiration report,
//! renewal with each key algorithm, and a 10,000-certificate bundle.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kcerts_core::leaf::{self, RenewOptions, SigningCa};
use kcerts_core::pki::{self, PkiOptions};
use kcerts_core::{KeyAlgorithm, NodeFiles, PrivateKey, certificate, expiration};
use time::macros::datetime;

const NOW: time::OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

fn node(alg: KeyAlgorithm) -> NodeFiles {
    let opts = PkiOptions {
        key_algorithm: alg,
        ..PkiOptions::example()
    };
    NodeFiles::from_generated(&pki::generate(&opts, NOW, &mut kcerts_core::seeded_rng(1)).unwrap())
}

fn file(files: &NodeFiles, rel: &str) -> Vec<u8> {
    match files.get(&kcerts_core::node::NodePath::cert(rel)) {
        Some(kcerts_core::node::FileContent::Bytes(b)) => b.clone(),
        _ => panic!("{rel}"),
    }
}

fn benches(c: &mut Criterion) {
    let files = node(KeyAlgorithm::Rsa2048);
    let apiserver = file(&files, "apiserver.crt");
    c.bench_function("parse one certificate (PEM)", |b| {
        b.iter(|| certificate::parse_first(black_box(&apiserver)).unwrap())
    });
    c.bench_function("check-expiration report for a kubeadm node", |b| {
        b.iter(|| expiration::build(black_box(&files), NOW))
    });
    c.bench_function("check-expiration report, rendered as text", |b| {
        b.iter(|| kcerts_core::text::render(&expiration::build(black_box(&files), NOW)))
    });

    let ca = SigningCa::new(
        certificate::parse_first(&file(&files, "ca.crt")).unwrap(),
        PrivateKey::parse(&file(&files, "ca.key")).unwrap(),
    )
    .unwrap();
    let old = certificate::parse_first(&apiserver).unwrap();
    let mut group = c.benchmark_group("renew one certificate (new key + sign)");
    group.sample_size(10);
    for alg in KeyAlgorithm::ALL {
        let opts = RenewOptions {
            key_algorithm: alg,
            ..RenewOptions::default()
        };
        let mut rng = kcerts_core::seeded_rng(2);
        group.bench_with_input(BenchmarkId::from_parameter(alg.name()), &opts, |b, opts| {
            b.iter(|| leaf::renew(&old, &ca, opts, NOW, &mut rng).unwrap())
        });
    }
    group.finish();

    let bundle: Vec<u8> = std::iter::repeat_n(apiserver.as_slice(), 10_000)
        .flatten()
        .copied()
        .collect();
    let mut group = c.benchmark_group("bundle");
    group.sample_size(10);
    group.bench_function("parse 10,000 certificates", |b| {
        b.iter(|| {
            let certs = certificate::parse_all(black_box(&bundle)).unwrap();
            assert_eq!(certs.len(), 10_000);
        })
    });
    group.finish();
}

criterion_group!(core_benches, benches);
criterion_main!(core_benches);
