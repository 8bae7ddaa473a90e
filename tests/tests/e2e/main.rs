//! End-to-end tests of kcerts: the core and the `kcerts` binary, cross-checked
//! with openssl and kubectl. One test binary (ripgrep's layout); one module per area.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)] // tests read files and fail loudly

mod add_san;
mod approve;
mod ca_rotation;
mod closed_pipe;
mod cluster_config;
mod control_plane;
mod control_plane_api;
mod control_plane_prometheus;
mod control_plane_recover;
mod control_plane_rotation;
mod crash_safety;
mod csr_only;
mod deploy;
mod docs;
mod errors;
mod fleet;
mod fuzz_corpus;
mod generate_csr;
mod golden;
mod hostile;
mod image;
mod inspect_cli;
mod inspect_summary;
mod interop;
mod journal_attacks;
mod kubeadm_fidelity;
mod kubeadm_oracle;
mod kubeconfig_copies;
mod kubelet_client;
mod kubelet_serving;
mod live;
mod monitoring;
mod permissions;
mod recover;
mod renew_openssl;
mod restart_cli;
mod rotate_restart;
mod scheduling;
mod serve;
mod sign_cli;
mod snapshots;
mod use_api;
mod verify_cli;
mod weak_crypto;
