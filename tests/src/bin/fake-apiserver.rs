//! Runs the tests' fake Kubernetes API server by hand, to try `kcerts renew
//! --use-api` and kubectl without a cluster (README):
//!
//! `fake-apiserver PKI_DIR PORT [--signer NAME]... [--auto-approve NAME]... [--lifetime SECS] [--kubeadm-objects]`
//!
//! `--kubeadm-objects` serves a kubeadm cluster's Nodes, `kubernetes` Service,
//! EndpointSlice, Endpoints and ServiceCIDR (`objects::kubeadm_cluster`), which
//! `kcerts approve kubelet-serving` reads. Listens on 127.0.0.1:PORT only, and stops after `--lifetime` (default 600 s).
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a demo tool: fail loudly

use std::time::Duration;

use kcerts_tests::fake_apiserver::{FakeApiServer, Options, objects};

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: fake-apiserver PKI_DIR PORT [--signer NAME]... [--auto-approve NAME]... \
                 [--lifetime SECS] [--kubeadm-objects]";
    let pki = args.next().expect(usage);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect(usage);
    let mut opts = Options::for_pki(std::path::Path::new(&pki));
    opts.lifetime = Duration::from_secs(600);
    while let Some(flag) = args.next() {
        if flag == "--kubeadm-objects" {
            opts.objects = objects::kubeadm_cluster();
            continue;
        }
        let value = args.next().expect(usage);
        match flag.as_str() {
            "--signer" => opts.signers.push(value),
            "--auto-approve" => opts.auto_approve.push(value),
            "--lifetime" => opts.lifetime = Duration::from_secs(value.parse().expect(usage)),
            _ => panic!("{usage}"),
        }
    }
    let lifetime = opts.lifetime;
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = FakeApiServer::start_on(listener, opts);
    eprintln!("fake API server on {} for {lifetime:?}", server.url());
    std::thread::sleep(lifetime);
}
