//! The renewal agent's rules: the protocol `kcerts agent` and `kcerts cluster` share
//! through the Kubernetes API (Lease, Node annotations, Events), and the decisions an
//! agent makes on a node (what is due, whether it may take the Lease, whether it may
//! restart, how long it waits first), and its own metrics.
//!
//! Uses `x509`, `kubeadm` and `check` (the rows it judges come from `check`), and
//! `render`'s label escaping for its metrics; never `plan`.

pub mod agent_metrics;
pub mod cluster_view;
pub mod jitter;
pub mod lease_claim;
pub mod node_event;
pub mod protocol;
pub mod renewal_due;
pub mod restart_safety;
