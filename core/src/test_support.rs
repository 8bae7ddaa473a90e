//! What the core's unit tests share: the one fixed "now" and the example node
//! with ECDSA P-256 keys (RSA keys take seconds each to make in a debug build).

use std::net::IpAddr;

use time::OffsetDateTime;
use time::macros::datetime;

use crate::issue::pki::{self, PkiOptions};
use crate::kubeadm::node::NodeFiles;
use crate::x509::keys::KeyAlgorithm;

/// The fixed "now" of the tests: 2026-03-01 12:00 UTC.
pub(crate) const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

/// The example node (cp-1, 192.168.10.11) with ECDSA P-256 keys.
pub(crate) fn ecdsa_example() -> PkiOptions {
    PkiOptions {
        key_algorithm: KeyAlgorithm::EcdsaP256,
        ..PkiOptions::example()
    }
}

/// [`ecdsa_example`] as node `name` of a cluster, advertising 192.168.10.`last`.
pub(crate) fn ecdsa_node(name: &str, last: u8) -> PkiOptions {
    PkiOptions {
        node_name: name.into(),
        advertise_address: IpAddr::from([192, 168, 10, last]),
        ..ecdsa_example()
    }
}

/// The files of [`ecdsa_example`] made at `now` from `seed`.
pub(crate) fn ecdsa_example_files(now: OffsetDateTime, seed: u64) -> NodeFiles {
    let node = pki::generate(&ecdsa_example(), now, &mut crate::seeded_rng(seed)).unwrap();
    NodeFiles::from_generated(&node)
}
