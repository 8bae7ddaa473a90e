//! Plans, made in memory before anything is written: a node's renewal (which rows,
//! what new bytes, why a row is skipped) and the requests of a renewal through the
//! Kubernetes certificates API. The CLI carries a plan out; the core never writes.
//!
//! Uses `x509`, `kubeadm`, `issue` and `check` (a plan starts from what the node holds).

pub mod api_request;
pub mod ca_rotation;
pub mod expiring;
pub mod kubelet_client;
pub mod renewal;
pub mod sa_rotation;
