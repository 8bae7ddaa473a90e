//! `kcerts generate-csr`: kubeadm's `certs generate-csr` (keys and CSRs for an
//! external CA); the files come from kcerts_core::generate_csr.

use std::net::{IpAddr, UdpSocket};

use anyhow::{Context, Result};
use kcerts_core::KeyAlgorithm;
use kcerts_core::cluster_config::ClusterConfig;
use kcerts_core::generate_csr::{self, Inputs};
use kcerts_core::pki::{self, PkiOptions};

use crate::flags::DirArgs;
use crate::flags::value;
use crate::fsio::{self, NodeDirs};
use crate::report::Hinted;
use crate::report::exit::Code;
use crate::report::out::outln;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Like kubeadm (External CA mode): a new key and a CSR for every leaf certificate \
kubeadm makes (<cert-dir>/<base>.key and <base>.csr, etcd's included) and for every kubeconfig \
(<kubeconfig-dir>/<name>.conf holding only the server and the client key, and <name>.conf.csr), \
all 0600, with the subjects and SANs kubeadm's init would give them from the configuration \
(--config or --from-cluster), never from existing certificates; keys of the configuration's \
encryptionAlgorithm (RSA-2048 by default); nothing is overwritten. Sign each CSR with the \
external CA, save the certificate beside its key as <base>.crt, and put the kubeconfigs' \
certificates (base64) in client-certificate-data.\n\
Differs from kubeadm: every file is checked before any is written, and nothing is written when \
one exists already (kubeadm stops at the first, leaving the ones before it); the output lists \
the files in kubeadm's certificate order (kubeadm's is random); without a configuration the node \
name is the host name and the advertise address the one of the default route, as kubeadm's \
defaults, or --node-name and --advertise-address (not kubeadm flags)."
)]
pub struct Args {
    #[command(flatten)]
    dirs: DirArgs,
    #[command(flatten)]
    config: crate::flags::config::ConfigArgs,
    /// The node name [default: the configuration's nodeRegistration.name, else the host name].
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// The API server advertise address [default: the configuration's
    /// localAPIEndpoint.advertiseAddress, else the address of the default route].
    #[arg(long, value_name = "IP")]
    advertise_address: Option<IpAddr>,
    /// Algorithm of the new keys [default: the configuration's encryptionAlgorithm, else RSA-2048].
    #[arg(long, value_name = "ALGORITHM", value_parser = value::parse_key_algorithm)]
    key_algorithm: Option<KeyAlgorithm>,
}

pub fn run(a: Args) -> Result<Code> {
    let cfg = a
        .config
        .load("generate-csr", crate::node::cluster_config::Lines::Stdout)?
        .unwrap_or_default();
    let dirs = crate::node::cluster_config::dirs_with(a.dirs.dirs(), Some(&cfg));
    let node = PkiOptions {
        node_name: node_name(&a, &cfg)?,
        advertise_address: advertise_address(&a, &cfg)?,
        service_cidr: cfg.service_subnet().to_string(),
        dns_domain: cfg.dns_domain().to_string(),
        control_plane_endpoint: cfg.control_plane_endpoint.clone(),
        extra_sans: cfg.cert_sans.clone(),
        key_algorithm: a
            .key_algorithm
            .or(cfg.encryption_algorithm)
            .unwrap_or(KeyAlgorithm::Rsa2048),
        bind_port: cfg.bind_port.unwrap_or(pki::DEFAULT_BIND_PORT),
        kubernetes_version: cfg.kubernetes_version,
        ..PkiOptions::example()
    };
    let mut rng = kcerts_core::system_rng();
    let plan = generate_csr::plan(
        &Inputs {
            node: &node,
            cluster_name: cfg.cluster_name(),
            etcd_server_sans: &cfg.etcd_server_sans,
            etcd_peer_sans: &cfg.etcd_peer_sans,
        },
        &mut rng,
    )?;
    if refuse_existing(&dirs, &plan) {
        return Ok(Code::Error);
    }
    write_all(&dirs, &plan)?;
    outln!("generating keys and CSRs in {}", dirs.cert_dir.display())?;
    for r in &plan.certs {
        outln!("  {}", r.name)?;
    }
    outln!(
        "generating keys and CSRs in {}",
        dirs.kubeconfig_dir.display()
    )?;
    for r in &plan.kubeconfigs {
        outln!("  {}", r.name)?;
    }
    Ok(Code::Ok)
}

fn node_name(a: &Args, cfg: &ClusterConfig) -> Result<String> {
    if let Some(n) = a.node_name.clone().or_else(|| cfg.node_name.clone()) {
        return Ok(n);
    }
    // kubeadm's default: the host name, lower-cased (nodeutil.GetHostname).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    if host.is_empty() {
        return Err(Hinted {
            message: "cannot tell the node name: the host name is empty".into(),
            hint: "pass --node-name or a configuration with nodeRegistration.name".into(),
        }
        .into());
    }
    Ok(host)
}

fn advertise_address(a: &Args, cfg: &ClusterConfig) -> Result<IpAddr> {
    if let Some(ip) = a.advertise_address.or(cfg.advertise_address) {
        return Ok(ip);
    }
    // The address the kernel would send from on the default route (kubeadm picks the
    // default route's interface). Connecting a UDP socket sends nothing.
    let from_route = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified() && !ip.is_loopback());
    from_route.ok_or_else(|| {
        Hinted {
            message: "cannot tell the advertise address: this host has no default route".into(),
            hint:
                "pass --advertise-address or a configuration with localAPIEndpoint.advertiseAddress"
                    .into(),
        }
        .into()
    })
}

/// kubeadm's refusals for files that exist (CSROrKeyExist and the kubeconfig
/// check), all of them, before anything is written.
fn refuse_existing(dirs: &NodeDirs, plan: &generate_csr::Plan) -> bool {
    let exists = |p: &kcerts_core::node::NodePath| std::fs::symlink_metadata(dirs.path(p)).is_ok();
    let mut refused = false;
    for r in &plan.certs {
        if r.writes.iter().any(|w| exists(&w.path)) {
            eprintln!(
                "error: file already exists: key or CSR {}",
                dirs.cert_dir.join(&r.name).display()
            );
            refused = true;
        }
    }
    for r in &plan.kubeconfigs {
        let conf = dirs.kubeconfig_dir.join(&r.name);
        if exists(&r.writes[0].path) {
            eprintln!(
                "error: file already exists: kube config: {}",
                conf.display()
            );
            refused = true;
        } else if r.writes[1..].iter().any(|w| exists(&w.path))
            // kubeadm's CSROrKeyExist also refuses a <name>.conf.key it never writes.
            || exists(&kcerts_core::node::NodePath::kubeconfig(format!("{}.key", r.name)))
        {
            eprintln!("error: file already exists: csr: {}", conf.display());
            refused = true;
        }
    }
    if refused {
        eprintln!(
            "error: no file was written; move the existing files away or choose other directories"
        );
    }
    refused
}

/// Writes every file (0600, each atomically), or none: the ones already written
/// are removed when one fails.
fn write_all(dirs: &NodeDirs, plan: &generate_csr::Plan) -> Result<()> {
    let mut written = Vec::new();
    for w in plan.writes() {
        let path = dirs.path(&w.path);
        if let Some(parent) = path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            // kubeadm's WriteKey and kubeconfig WriteToDisk: MkdirAll(dir, 0755).
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        if let Err(e) = fsio::write_new(&path, &w.bytes, w.secret) {
            for p in written.iter().rev() {
                let _ = std::fs::remove_file(p);
            }
            return Err(e.context("no file was left behind"));
        }
        written.push(path);
    }
    Ok(())
}
