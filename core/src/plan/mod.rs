//! Plans, made in memory before anything is written: a node's renewal (which rows,
//! what new bytes, why a row is skipped) and the requests of a renewal through the
//! Kubernetes certificates API. The CLI carries a plan out; the core never writes.
//!
//! Uses `x509`, `kubeadm` (a plan starts from what `kubeadm::node_loader` reads) and
//! `issue`; never `check` or `render`.

pub mod api_request;
pub mod backup_set;
pub mod ca_rotation;
pub mod expiring;
pub mod generate_csr;
pub mod journal;
pub mod kubelet_client;
pub mod kubelet_serving_renewal;
pub mod renewal;
pub mod sa_rotation;
