//! `kcerts sign`: sign a CSR from `renew --csr-only` with an external CA.

use std::path::PathBuf;

use anyhow::{Context, Result};
use kcerts_core::inventory::{self, Usage};
use kcerts_core::leaf::SigningCa;
use kcerts_core::sign_csr::{self, Profile, SignOptions};
use kcerts_core::{PrivateKey, certificate};
use time::OffsetDateTime;

use crate::flags::value;
use crate::fsio;
use crate::report::Hinted;
use crate::report::exit::Code;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageArg {
    /// server auth
    Server,
    /// client auth
    Client,
    /// server auth + client auth (etcd server and peer)
    ServerAndClient,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The external-CA side of `kcerts renew --csr-only`: kubeadm's requests \
carry only CN, O and SANs, so the CA adds the usages of the role (digital signature, key \
encipherment, and server auth and/or client auth). With --role the subject must be the one \
kubeadm gives that row and the CA must be the row's CA (CN kubernetes, etcd-ca or \
front-proxy-ca); --force signs anyway. NotAfter is capped at the CA's NotAfter.\n\
Row names: admin.conf, apiserver, apiserver-etcd-client, apiserver-kubelet-client, \
controller-manager.conf, etcd-healthcheck-client, etcd-peer, etcd-server, front-proxy-client, \
scheduler.conf, super-admin.conf; or kubelet-client (a kubelet's request from `kcerts kubelet \
client --csr-only`: CN system:node:NAME, O system:nodes, client auth, the cluster CA; \
--node-name makes NAME exact)."
)]
pub struct Args {
    /// The certificate signing request (PEM or DER).
    #[arg(long, value_name = "FILE")]
    csr: PathBuf,
    /// The CA certificate.
    #[arg(long, value_name = "FILE")]
    ca_cert: PathBuf,
    /// The CA private key.
    #[arg(long, value_name = "FILE")]
    ca_key: PathBuf,
    /// The kubeadm row the certificate is for: its usages, subject and CA.
    #[arg(
        long,
        value_name = "ROW",
        required_unless_present = "usage",
        conflicts_with = "usage"
    )]
    role: Option<String>,
    /// Plain usages instead of a row (no subject check).
    #[arg(long, value_enum)]
    usage: Option<UsageArg>,
    /// Validity of the certificate.
    #[arg(long, default_value = "8760h", value_parser = value::parse_duration)]
    validity: time::Duration,
    /// The node name, to check the CN of etcd-server and etcd-peer exactly.
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// Sign even when the subject or the CA does not fit the role.
    #[arg(long)]
    force: bool,
    /// Write the certificate here (refusing to overwrite) instead of to stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
    /// Sign as if now were this RFC 3339 time (tests).
    #[arg(long, value_name = "TIME", value_parser = value::parse_time, hide = true)]
    at: Option<OffsetDateTime>,
}

pub fn run(a: Args) -> Result<Code> {
    sign(&a).map(|()| Code::Ok)
}

fn sign(a: &Args) -> Result<()> {
    if a.role.as_deref() == Some("kubelet-client") {
        return sign_kubelet_client(a);
    }
    let profile = match (&a.role, a.usage) {
        (Some(name), _) => Profile::Role(inventory::row(name).ok_or_else(|| Hinted {
            message: format!("unknown role {name:?}"),
            hint: format!(
                "use kubelet-client or one of: {}",
                inventory::ROWS
                    .iter()
                    .map(|r| r.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?),
        (None, Some(UsageArg::Server)) => Profile::Usage(Usage::Server),
        (None, Some(UsageArg::Client)) => Profile::Usage(Usage::Client),
        (None, Some(UsageArg::ServerAndClient)) => Profile::Usage(Usage::ServerAndClient),
        (None, None) => anyhow::bail!("give --role or --usage"),
    };
    let csr = fsio::read_required(&a.csr, "the CSR")?;
    let ca = load_ca(a)?;
    let opts = SignOptions {
        profile,
        validity: a.validity,
        force: a.force,
        node_name: a.node_name.clone(),
    };
    let cert = sign_csr::sign_for_profile(
        &csr,
        &ca,
        &opts,
        value::now_or(a.at),
        &mut kcerts_core::system_rng(),
    )
    .with_context(|| format!("cannot sign {}", a.csr.display()))?;
    output(a, &cert)
}

fn load_ca(a: &Args) -> Result<SigningCa> {
    let ca_cert = certificate::parse_first(&fsio::read_required(&a.ca_cert, "the CA certificate")?)
        .with_context(|| format!("{}", a.ca_cert.display()))?;
    let ca_key = PrivateKey::parse(&fsio::read_required(&a.ca_key, "the CA key")?)
        .with_context(|| format!("{}", a.ca_key.display()))?;
    SigningCa::new(ca_cert, ca_key)
        .with_context(|| format!("{} and {}", a.ca_cert.display(), a.ca_key.display()))
}

/// `--role kubelet-client`: a kubelet's request, checked by the kubelet rules.
fn sign_kubelet_client(a: &Args) -> Result<()> {
    let csr = fsio::read_required(&a.csr, "the CSR")?;
    let ca = load_ca(a)?;
    let cert = kcerts_core::kubelet::sign_client_csr(
        &csr,
        &ca,
        a.node_name.as_deref(),
        a.force,
        a.validity,
        value::now_or(a.at),
        &mut kcerts_core::system_rng(),
    )
    .with_context(|| format!("cannot sign {}", a.csr.display()))?;
    output(a, &cert)
}

fn output(a: &Args, cert: &kcerts_core::Certificate) -> Result<()> {
    let pem = cert.to_pem();
    match &a.out {
        Some(path) => {
            fsio::write_new(path, pem.as_bytes(), false)?;
            eprintln!(
                "[sign] wrote {} for {} until {}",
                path.display(),
                cert.subject,
                kcerts_core::text::format_date(cert.not_after)
            );
        }
        None => crate::report::out::print(&pem)?,
    }
    Ok(())
}
