//! The renewal agent's rules: the protocol `kcerts agent` and `kcerts cluster` share
//! through the Kubernetes API (Lease, Node annotations, Events), and the decisions an
//! agent makes on a node (what is due, whether it may take the Lease, whether it may
//! restart, how long it waits first).
//!
//! Uses `x509`, `kubeadm` and `check` (the rows it judges come from `check`); never
//! `plan` or `render`.

pub mod cluster_view;
pub mod jitter;
pub mod lease_claim;
pub mod node_event;
pub mod protocol;
pub mod renewal_due;
pub mod restart_safety;
