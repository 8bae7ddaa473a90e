//! kubeadm's facts: the certificate inventory and the files of a node, where a
//! node stands in the rotation of a CA or of the service-account key, loading a
//! row's certificate and a CA (with the external-CA rule), each row's subject rules,
//! node archives (tar), kubeconfigs (and the YAML reader under them), kubeadm's configuration files and
//! the SANs it derives from them, static pod manifests, durations as
//! kubeadm's flags take them, and the EXPIRES and RESIDUAL TIME forms.
//!
//! Uses `x509` only.

pub mod admin_copy;
pub mod alt_names;
pub mod apiserver_manifest;
pub mod ca_phase;
pub mod cidr;
pub mod cluster_config;
pub mod duration;
pub mod endpoint;
pub mod inventory;
pub mod kubeconfig;
pub mod manifest;
pub mod node;
pub mod node_archive;
pub mod node_loader;
pub mod reload;
pub mod residual;
pub mod role;
pub mod sa_phase;
pub mod static_pod;
pub mod version;
pub mod yaml;
