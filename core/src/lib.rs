//! The pure core of kcerts: parse, report on and renew the certificates of a
//! kubeadm control-plane node.
//!
//! Every function here is a function of bytes and a `now` argument. Nothing reads
//! files, environment variables or the clock, so the native CLI and the web page
//! share every rule. Randomness (keys, serials) comes from a caller-supplied
//! [`rand_core::CryptoRng`].
//!
//! ```
//! use kcerts_core::{expiration, pki, text, NodeFiles};
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
//! let report = expiration::build(&files, now);
//! assert!(report.errors.is_empty());
//! assert!(text::render(&report).starts_with("CERTIFICATE "));
//! ```
#![deny(missing_docs)]
#![deny(clippy::disallowed_methods)]

// The layers, bottom up: x509, kubeadm, issue, plan, check, render, agent. Each
// layer's mod.rs says which layers it may use; none uses a layer above it.
mod agent;
mod check;
mod issue;
mod kubeadm;
mod plan;
mod render;
mod x509;

#[cfg(test)]
mod test_support;

// The public API. Modules are re-exported by name, so a file can move between
// layers without breaking the CLI, the wasm module or the tests.
pub use agent::{
    agent_metrics, cluster_view, jitter, lease_claim, node_event, protocol, renewal_due,
    restart_safety,
};
pub use check::{
    analysis, clock, expiration, fleet, inspect, kubeadm_refusal, kubeconfig_copy, kubelet_serving,
    live, serving_csr, summary, verify,
};
pub use issue::{
    api_signer, csr_builder, key_choice, kubelet, kubelet_selfsigned, leaf, leaf_spec, pki,
    sign_csr,
};
pub use kubeadm::{
    admin_copy, alt_names, apiserver_manifest, ca_phase, cidr, cluster_config, duration, endpoint,
    inventory, kubeconfig, manifest, node, node_archive, node_loader, reload, residual, role,
    sa_phase, static_pod, version, yaml,
};
pub use plan::{
    api_request, backup_set, ca_rotation, expiring, generate_csr, journal, kubelet_client,
    kubelet_serving_renewal, renewal, sa_rotation,
};
pub use render::{
    certificate_detail, fleet_report, inspect_output, prometheus, structured, tabwriter, text,
    verify_output,
};
pub use x509::{
    certificate, chain, csr, encoding, extensions, hex, keys, pem_stream, signature_check, strength,
};

pub use kubeadm::node::NodeFiles;
pub use rand_core;
pub use x509::certificate::Certificate;
pub use x509::keys::{KeyAlgorithm, PrivateKey};

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
