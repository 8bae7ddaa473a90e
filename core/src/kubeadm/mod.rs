//! kubeadm's facts: the certificate inventory and the files of a node, each row's
//! subject rules, kubeconfigs (and the YAML reader under them), durations as
//! kubeadm's flags take them and the RESIDUAL TIME column.
//!
//! Uses `x509` only.

pub mod duration;
pub mod inventory;
pub mod kubeconfig;
pub mod manifest;
pub mod node;
pub mod node_loader;
pub mod residual;
pub mod role;
pub mod yaml;
