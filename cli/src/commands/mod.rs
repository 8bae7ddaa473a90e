//! One module per `kcerts` command: its clap arguments and its `run`. A command
//! uses `node/`, `flags/`, `report/` and `fsio/`, never another command; what
//! two commands share lives in `node/` (operations) or `flags/` (arguments).

pub mod agent;
pub mod approve;
pub mod backups;
pub mod ca;
pub mod check_expiration;
pub mod cluster;
pub mod completions;
pub mod fleet;
pub mod generate_csr;
pub mod generate_pki;
pub mod inspect;
pub mod kubelet;
pub mod recover;
pub mod renew;
pub mod restart;
pub mod restore;
pub mod sa;
pub mod serve;
pub mod sign;
pub mod verify;
