//! The pure core of kcerts: parse, report on and renew the certificates of a
//! kubeadm control-plane node.
//!
//! Every function here is a function of bytes and a `now` argument. Nothing reads
//! files, environment variables or the clock, so the native CLI and the web page
//! share every rule. Randomness (keys, serials) comes from a caller-supplied
//! [`rand_core::CryptoRng`].
//!
//! ```
//! use kcerts_core::{pki, report, NodeFiles};
//! use time::macros::datetime;
//!
//! let now = datetime!(2026-01-01 00:00 UTC);
//! let mut rng = kcerts_core::seeded_rng(7);
//! let opts = pki::PkiOptions {
//!     key_algorithm: kcerts_core::KeyAlgorithm::EcdsaP256,
//!     ..pki::PkiOptions::example()
//! };
//! let node = pki::generate(&opts, now, &mut rng).unwrap();
//! let files = NodeFiles::from_generated(&node);
//! let report = report::build(&files, now);
//! assert!(report.errors.is_empty());
//! assert!(report::text::render(&report).starts_with("CERTIFICATE "));
//! ```
#![deny(missing_docs)]
#![deny(clippy::disallowed_methods)]

pub mod certificate;
pub mod csr;
pub mod csr_api;
pub mod duration;
pub mod encoding;
pub mod expiring;
pub mod extensions;
pub mod inspect;
pub mod inventory;
pub mod keys;
pub mod kubeconfig;
pub mod node;
pub mod pem_stream;
pub mod pki;
pub mod prometheus;
pub mod renew;
pub mod renew_node;
pub mod report;
pub mod residual;
pub mod role;
pub mod sign;
pub mod signature;
mod signing;
pub mod summary;
pub mod upload;
pub mod verify_node;
pub mod yaml;

pub use certificate::Certificate;
pub use keys::{KeyAlgorithm, PrivateKey};
pub use node::NodeFiles;
pub use rand_core;

/// The platform's cryptographic RNG (the OS on native, `crypto.getRandomValues` on wasm32).
///
/// A failing OS RNG is unrecoverable, so errors abort rather than yield weak keys.
pub fn system_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A deterministic RNG for tests, examples and reproducible output.
///
/// Never use it for real keys: the CLI and the web page use the platform RNG.
pub fn seeded_rng(seed: u64) -> rand_chacha::ChaCha20Rng {
    use rand_core::SeedableRng;
    rand_chacha::ChaCha20Rng::seed_from_u64(seed)
}
