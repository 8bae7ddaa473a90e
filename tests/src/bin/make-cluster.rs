//! Writes the files of N joined control-plane nodes of one cluster to
//! `DIR/cp-1`, `DIR/cp-2`, ... (same CAs and service-account keys, each node its
//! own leaves and kubeconfigs, as `kubeadm join --control-plane` leaves them),
//! made at `AT`, for the web page's multi-node tests.
//!
//!     make-cluster DIR [N] [AT]      (N = 3, AT = now, RFC 3339)
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a dev tool: fail loudly

use kcerts_core::pki::{self, PkiOptions};
use kcerts_core::{KeyAlgorithm, NodeFiles};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("usage: make-cluster DIR [N] [AT]"));
    let n: u8 = args.get(2).map_or(3, |a| a.parse().unwrap());
    let now = args.get(3).map_or_else(OffsetDateTime::now_utc, |a| {
        OffsetDateTime::parse(a, &Rfc3339).unwrap()
    });
    let mut rng = kcerts_core::system_rng();
    let opts = |i: u8| PkiOptions {
        node_name: format!("cp-{i}"),
        advertise_address: std::net::IpAddr::from([192, 168, 10, 30 + i]),
        control_plane_endpoint: Some("cp.example:6443".into()),
        key_algorithm: KeyAlgorithm::EcdsaP256,
        ..PkiOptions::example()
    };
    let first = pki::generate(&opts(1), now, &mut rng).unwrap();
    let shared = NodeFiles::from_generated(&first);
    let mut nodes = vec![first];
    for i in 2..=n {
        nodes.push(pki::generate_joined(&opts(i), &shared, now, &mut rng).unwrap());
    }
    for (i, node) in nodes.iter().enumerate() {
        let root = dir.join(format!("cp-{}", i + 1));
        for f in &node.files {
            let path = root.join(f.path.to_string());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &f.bytes).unwrap();
        }
    }
}
