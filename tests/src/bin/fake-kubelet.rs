//! Runs the tests' fake kubelet by hand, to try `kcerts verify --live` and
//! `kcerts restart` without a cluster (README, "After renewal"):
//!
//! `fake-kubelet NODE_DIR [--write-manifests] [--period MS] [--lifetime SECS]`
//!
//! NODE_DIR holds a node in kubeadm's layout (`pki/`, `*.conf`, e.g. from `kcerts
//! generate-pki`). With `--write-manifests` it first writes kubeadm-shaped
//! manifests for free loopback ports into NODE_DIR/manifests and prints the
//! ports. It watches NODE_DIR/manifests, serves the kubelet's own endpoint with
//! NODE_DIR/kubelet/kubelet.crt, listens on 127.0.0.1 only, and stops after
//! `--lifetime` (default 600 s).
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a demo tool: fail loudly

use std::path::PathBuf;
use std::time::Duration;

use kcerts_tests::fake_kubelet::{FakeKubelet, Options, Ports, write_manifests};

fn main() {
    let usage = "usage: fake-kubelet NODE_DIR [--write-manifests] [--period MS] [--lifetime SECS]";
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(args.next().expect(usage));
    let mut opts = Options::new(&root.join("manifests"));
    opts.lifetime = Duration::from_secs(600);
    let mut write = false;
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--write-manifests" => write = true,
            "--period" => {
                opts.period = Duration::from_millis(args.next().expect(usage).parse().expect(usage))
            }
            "--lifetime" => {
                opts.lifetime = Duration::from_secs(args.next().expect(usage).parse().expect(usage))
            }
            _ => panic!("{usage}"),
        }
    }
    let ports_file = root.join("manifests/ports");
    let ports = if write {
        let p = Ports::free();
        write_manifests(&root, &root.join("manifests"), &p);
        std::fs::write(&ports_file, p.kubelet.to_string()).unwrap();
        p
    } else {
        let mut p = Ports::free();
        if let Ok(k) = std::fs::read_to_string(&ports_file) {
            p.kubelet = k.trim().parse().unwrap();
        }
        p
    };
    opts.serving = Some((
        format!("127.0.0.1:{}", ports.kubelet).parse().unwrap(),
        root.join("kubelet"),
    ));
    eprintln!(
        "fake kubelet: {ports:?}; --endpoint {}",
        ports.kubelet_endpoint()
    );
    let lifetime = opts.lifetime;
    let kubelet = FakeKubelet::start(opts);
    let start = std::time::Instant::now();
    let mut shown = 0;
    while start.elapsed() < lifetime {
        std::thread::sleep(Duration::from_millis(50));
        let log = kubelet.log();
        for line in &log[shown..] {
            eprintln!("fake kubelet: {line}");
        }
        shown = log.len();
    }
}
