//! Checks that read and judge, never change: kubeadm's expiration report, `verify`'s
//! pass/warn/fail rows, the analysis of an arbitrary set of files (the web page and
//! `inspect`), and the cross-node checks of several nodes (`fleet`).
//!
//! Uses `x509`, `kubeadm` and `issue` (only to build test fixtures).

pub mod analysis;
pub mod expiration;
pub mod fleet;
pub mod inspect;
pub mod kubeadm_refusal;
pub mod summary;
pub mod verify;
