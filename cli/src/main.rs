//! `kcerts`: check and renew the certificates of a kubeadm control-plane node.
//!
//! All file I/O lives in this crate; every rule lives in `kcerts-core`.
//!
//! This file holds the command line (`Cli`, `Command`) and the dispatch. The
//! layers below, each importing only the ones under it (`cli/tests/layers.rs`):
//! - `commands/`: one module per command (its flags, its run);
//! - `node/`: operations several commands share (restarts, rotation runs, the
//!   kubelet's files, the certificates API, endpoints and probes, guards,
//!   the cluster configuration, the kube client, a node's verification);
//! - `flags/`: the shared clap argument groups and value parsers;
//! - `report/`: stdout, colours, exit codes, errors with a hint;
//! - `fsio/`: all file reading and writing (atomic writes, journal, lock).
// The workspace clippy.toml bans file and clock access for the pure core; the
// CLI is where I/O belongs.
#![allow(clippy::disallowed_methods)]

mod commands;
mod flags;
mod fsio;
mod node;
mod report;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use commands::{
    agent, approve, backups, ca, check_expiration, cluster, completions, fleet, generate_csr,
    generate_pki, inspect, kubelet, recover, renew, restart, restore, sa, serve, sign, verify,
};

/// Check and renew the certificates of a kubeadm cluster (a kubeadm-compatible
/// `certs check-expiration` and `certs renew`, with safer renewal).
#[derive(Debug, Parser)]
#[command(name = "kcerts", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check certificates expiration for a kubeadm node (like `kubeadm certs check-expiration`).
    CheckExpiration(check_expiration::Args),
    /// Renew certificates of a kubeadm node (like `kubeadm certs renew`), with backups.
    Renew(renew::Args),
    /// Generate keys and certificate signing requests for an external CA (like `kubeadm
    /// certs generate-csr`).
    GenerateCsr(generate_csr::Args),
    /// Generate a kubeadm-style PKI and kubeconfigs for one control-plane node.
    GeneratePki(generate_pki::Args),
    /// Put back the files a renewal replaced, from its backup directory.
    Restore(restore::Args),
    /// The backups kcerts keeps (they hold private keys): `backups list`, `backups prune --keep N`.
    Backups(backups::Args),
    /// Restart static-pod components (etcd, apiserver, controller-manager, scheduler) one at a
    /// time, each checked: it must come back serving the certificate on disk.
    Restart(restart::Args),
    /// Show everything in certificate, key, CSR and kubeconfig files (like `openssl x509 -text`, readable).
    Inspect(inspect::Args),
    /// Check the health of a node's PKI: chains, keys, usages, SANs, kubeconfig CAs, kubelet.
    Verify(verify::Args),
    /// Check several control-plane nodes against each other: same CAs and keys, SANs, servers.
    Fleet(fleet::Args),
    /// Serve the node's certificate metrics over HTTP for Prometheus (/metrics, /healthz).
    Serve(serve::Args),
    /// Sign a CSR (from `renew --csr-only`) with an external CA, adding the usages of a kubeadm role.
    Sign(sign::Args),
    /// The kubelet's certificates: its client certificate; its serving certificate.
    Kubelet(kubelet::Args),
    /// CA rotation in phases: `ca status`, `ca rotate prepare|trust|reissue|finish --ca NAME`.
    Ca(ca::Args),
    /// Service-account key rotation in phases: `sa status`, `sa rotate prepare|trust|switch|finish`.
    Sa(sa::Args),
    /// Approve certificate requests through the API: `approve kubelet-serving`.
    Approve(approve::Args),
    /// The whole control plane through its agents: `cluster status`, `cluster renew`.
    Cluster(cluster::Args),
    /// Recover a control-plane node whose certificates expired: clock check, renewals,
    /// the kubelet client certificate and kubelet.conf, restarts.
    Recover(recover::Args),
    /// Renew the control plane by itself, one node at a time: an agent per control-plane
    /// node (report only unless --renew), coordinated by a Lease, with Events on the Node.
    Agent(agent::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionArgs),
    /// Print the man page (roff), or write one page per command with --dir.
    Man(completions::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::CheckExpiration(a) => check_expiration::run(a),
        Command::Renew(a) => renew::run(a),
        Command::GenerateCsr(a) => generate_csr::run(a),
        Command::GeneratePki(a) => generate_pki::run(a),
        Command::Restore(a) => restore::run(a),
        Command::Backups(a) => backups::run(a),
        Command::Restart(a) => restart::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Fleet(a) => fleet::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Sign(a) => sign::run(a),
        Command::Kubelet(a) => kubelet::run(a),
        Command::Ca(a) => ca::run(a),
        Command::Sa(a) => sa::run(a),
        Command::Recover(a) => recover::run(a),
        Command::Approve(a) => approve::run(a),
        Command::Agent(a) => agent::run(a),
        Command::Cluster(a) => cluster::run(a),
        Command::Completions(a) => completions::completions(a, Cli::command()),
        Command::Man(a) => completions::man(a, Cli::command()),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            report::hint::report(&e);
            report::exit::Code::Error.into()
        }
    }
}
