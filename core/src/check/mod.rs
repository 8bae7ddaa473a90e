//! Checks that read and judge, never change: kubeadm's expiration report, `verify`'s
//! pass/warn/fail rows (and its `live` rows: what each control-plane endpoint
//! serves), the analysis of an arbitrary set of files (the web page and
//! `inspect`), the short per-certificate summary of `inspect --summary`, and the
//! cross-node checks of several nodes (`fleet`).
//!
//! Uses `x509` and `kubeadm` (and `issue` in tests, to build fixtures); never `plan`
//! or `render`: the renderers of these results live in `render`.

pub mod analysis;
pub mod clock;
pub mod expiration;
pub mod fleet;
pub mod inspect;
pub mod kubeadm_refusal;
pub mod kubeconfig_copy;
pub mod kubelet_serving;
pub mod live;
pub mod serving_csr;
pub mod summary;
pub mod verify;
