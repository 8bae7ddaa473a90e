//! The metrics listener's flags, shared by `serve` and `agent`: where to listen,
//! HTTPS and client certificates, and the connection cap. The listener itself is
//! `node::metrics_server`.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// The address and port to listen on (port 0 picks a free one; the log says which).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Serve HTTPS with this certificate (PEM; intermediates may follow it).
    #[arg(long, value_name = "FILE", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key of --tls-cert-file (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// Accept only clients that present a certificate signed by a CA in this PEM file
    /// (mutual TLS; needs --tls-cert-file). Others are refused during the handshake.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub client_ca_file: Option<PathBuf>,
    /// Serve at most this many connections at once; further ones wait in the
    /// kernel's queue until one closes.
    #[arg(long, default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_connections: u32,
}

impl ListenArgs {
    /// Whether any TLS file was given (the agent refuses them without --listen).
    pub fn tls_given(&self) -> bool {
        self.tls_cert_file.is_some()
            || self.tls_private_key_file.is_some()
            || self.client_ca_file.is_some()
    }
}
