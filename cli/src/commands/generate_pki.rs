//! `kcerts generate-pki`.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use kcerts_core::KeyAlgorithm;
use kcerts_core::node::Dir;
use kcerts_core::pki::{self, PkiOptions};
use time::OffsetDateTime;

use crate::flags::value;
use crate::fsio;
use crate::report::exit::Code;
use crate::report::out::outln;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Writes <out>/pki/... and <out>/*.conf in the kubeadm layout (keys 0600) \
and refuses to overwrite any existing file. Not a kubeadm command: it makes test and demo nodes."
)]
pub struct Args {
    /// Directory to create the node's files in (like /etc/kubernetes).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The node name.
    #[arg(long)]
    node_name: String,
    /// The API server advertise address.
    #[arg(long, value_name = "IP")]
    advertise_address: IpAddr,
    /// The service subnet; its first address goes into the apiserver certificate.
    #[arg(long, default_value = "10.96.0.0/12", value_name = "CIDR")]
    service_cidr: String,
    /// The cluster DNS domain.
    #[arg(long, default_value = "cluster.local")]
    dns_domain: String,
    /// The control-plane endpoint (host or host:port); defaults to the advertise address.
    #[arg(long, value_name = "HOST[:PORT]")]
    control_plane_endpoint: Option<String>,
    /// Extra apiserver SANs (DNS names or IPs), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "SAN,...")]
    apiserver_cert_extra_sans: Vec<String>,
    /// Key algorithm for every key: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384.
    #[arg(long, default_value = "RSA-2048", value_parser = value::parse_key_algorithm)]
    key_algorithm: KeyAlgorithm,
    /// Leaf certificate validity.
    #[arg(long, default_value = "8760h", value_parser = value::parse_duration)]
    validity: time::Duration,
    /// Leave out etcd's CA and certificates (external etcd).
    #[arg(long)]
    external_etcd: bool,
    /// Issue as if now were this RFC 3339 time (for tests and demos of expired certificates).
    #[arg(long, value_name = "TIME", value_parser = value::parse_time)]
    at: Option<OffsetDateTime>,
}

pub fn run(a: Args) -> Result<Code> {
    let opts = PkiOptions {
        node_name: a.node_name,
        advertise_address: a.advertise_address,
        service_cidr: a.service_cidr,
        dns_domain: a.dns_domain,
        control_plane_endpoint: a.control_plane_endpoint,
        extra_sans: a.apiserver_cert_extra_sans,
        key_algorithm: a.key_algorithm,
        validity: a.validity,
        external_etcd: a.external_etcd,
        bind_port: pki::DEFAULT_BIND_PORT,
        kubernetes_version: None,
    };
    let dirs = fsio::NodeDirs::new(a.out.join("pki"), a.out.clone());
    let node = pki::generate(&opts, value::now_or(a.at), &mut kcerts_core::system_rng())?;
    let existing: Vec<_> = node
        .files
        .iter()
        .map(|f| dirs.path(&f.path))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect();
    if let Some(first) = existing.first() {
        bail!(
            "{} already exists ({} of the files to generate exist); kcerts generate-pki never overwrites",
            first.display(),
            existing.len()
        );
    }
    for f in &node.files {
        let path = dirs.path(&f.path);
        fsio::write_new(&path, &f.bytes, f.secret)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let certs = node
        .files
        .iter()
        .filter(|f| f.path.rel.ends_with(".crt"))
        .count();
    let confs = node
        .files
        .iter()
        .filter(|f| f.path.dir == Dir::Kubeconfig)
        .count();
    outln!(
        "[certs] wrote {certs} certificates with their keys and sa.key/sa.pub to {}",
        dirs.cert_dir.display()
    )?;
    outln!(
        "[kubeconfig] wrote {confs} kubeconfig files to {}",
        dirs.kubeconfig_dir.display()
    )?;
    Ok(Code::Ok)
}
