//! Rendering results as text for people and machines: kubeadm's tables (through a
//! port of Go's tabwriter), the structured JSON/YAML forms, Prometheus metrics (one
//! label escaper), and the outputs of `verify`, `inspect` and `fleet`.
//!
//! The top layer: uses the data of `check` and the facts of `kubeadm` and `x509`;
//! decides nothing.

pub mod certificate_detail;
pub mod fleet_report;
pub mod inspect_output;
pub mod prometheus;
pub mod structured;
pub mod tabwriter;
pub mod text;
pub mod verify_output;
