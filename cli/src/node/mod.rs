//! Operations on a node that several commands share: the restart engine,
//! rotation runs, the kubelet's files, the certificates-API client, the
//! endpoints and their TLS probe, the checks and lock before a run, the
//! cluster configuration, the kube client, a node's verification, the API
//! servers' addresses, the agent protocol through the API, and the metrics
//! listener of `serve` and `agent`. Uses `flags/`, `report/` and `fsio/`; never a
//! command.

pub mod agent_api;
pub mod apiserver_addresses;
pub mod cluster_config;
pub mod csr_api;
pub mod endpoints;
pub mod fleet_input;
pub mod guard;
pub mod kube_client;
pub mod kubelet;
pub mod metrics_server;
pub mod probe;
pub mod restart;
pub mod rotation;
pub mod verification;
