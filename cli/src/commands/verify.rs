//! `kcerts verify`.

use std::path::PathBuf;

use anyhow::Result;
use kcerts_core::verify::{self as checks, Status};
use time::OffsetDateTime;

use crate::flags::value;
use crate::flags::verify::NodeArgs;
use crate::flags::{DirArgs, OutputFormat};
use crate::fsio;
use crate::node::cluster_config::{ConfiguredNode, Lines, read_node};
use crate::report::color::{self, ColorChoice};
use crate::report::exit::Code;
use crate::report::out;

/// The output formats of this command.
const FORMATS: [(OutputFormat, Option<&str>); 3] = [
    (OutputFormat::Text, None),
    (OutputFormat::Json, None),
    (
        OutputFormat::Prometheus,
        Some("The Prometheus text format (kcerts_verify_check, kcerts_verify_checks)"),
    ),
];

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Checks, one row each with pass/warn/fail and a reason: expiry of every \
certificate (warn within --warn, fail within --crit); every leaf chains to its kubeadm CA \
(signature checked); every key matches its certificate; usages, EKU and CN/O fit the kubeadm \
role; the apiserver SANs hold the node name, the kubernetes.default names and the service IP; \
the etcd SANs hold localhost and 127.0.0.1; kubeconfigs embed the current ca.crt (kubeadm \
#2027); no CA expires before a certificate it signed; sa.key and sa.pub are a pair; the \
kubelet client certificate (kubelet.conf or --kubelet-client-cert) is valid and rotating; the \
kubelet serving certificate (kubelet-server-current.pem, else kubelet.crt and kubelet.key) is \
valid, for server auth, names the node, and who signed it.\n\
With --live (beyond kubeadm): each endpoint (apiserver, etcd-server, etcd-peer, \
controller-manager, scheduler, kubelet) must serve the certificate on disk, unexpired and \
chaining to its CA; the controller-manager and scheduler, which serve a self-signed \
certificate named after their start time, must have started after their kubeconfig was \
written. An endpoint that does not answer is a warning.\n\
With --kubeconfig-copy PATH (beyond kubeadm): a copy of admin.conf warns when a user holds \
an expired certificate or an older admin.conf certificate than admin.conf.\n\
With --config FILE or --from-cluster: the apiserver, etcd server and etcd peer certificates must \
hold every SAN kubeadm derives from the configuration (apiServer.certSANs, controlPlaneEndpoint, \
nodeRegistration.name, localAPIEndpoint.advertiseAddress, the service IP of \
networking.serviceSubnet and dnsDomain, etcd.local.serverCertSANs/peerCertSANs). Without \
either, the node's kube-apiserver manifest gives the service range (--service-cluster-ip-range) \
and the advertise address (--advertise-address) those certificates must hold (said on stderr); \
--service-cidr wins over both.\n\
Exit status: 0 all pass; 1 a file cannot be read or parsed; 2 some warn; 3 some fail."
)]
pub struct Args {
    #[command(flatten)]
    dirs: DirArgs,
    #[command(flatten)]
    node: NodeArgs,
    /// Output format.
    #[arg(short, long, default_value = "text", value_parser = OutputFormat::parser(&FORMATS))]
    output: OutputFormat,
    /// Verify as of this RFC 3339 time instead of now.
    #[arg(long, value_name = "TIME", value_parser = value::parse_time)]
    at: Option<OffsetDateTime>,
    /// Colour the results.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// A copy of admin.conf (e.g. /root/.kube/config): warn when a user in it holds
    /// credentials that expired or that admin.conf's renewal superseded (rows
    /// `kubeconfig-copy`). Repeatable.
    #[arg(long, value_name = "PATH")]
    kubeconfig_copy: Vec<PathBuf>,
    #[command(flatten)]
    config: crate::flags::config::ConfigArgs,
}

pub fn run(a: Args) -> Result<Code> {
    let ConfiguredNode { cfg, dirs, files } =
        read_node(&a.config, &a.dirs, "verify", Lines::before(a.output))?;
    let mut reading = a
        .node
        .verify(&dirs, files, cfg.as_ref(), value::now_or(a.at))?;
    if let Some(m) = &reading.manifest {
        eprintln!(
            "note: no kubeadm configuration was read (--config, --from-cluster); the SAN checks \
             take {} from {}",
            m.describe(),
            crate::node::cluster_config::apiserver_manifest_path(&dirs).display()
        );
    }
    let (files, v) = (&reading.files, &mut reading.verification);
    if !a.kubeconfig_copy.is_empty() {
        let admin = kcerts_core::kubeconfig_copy::admin_certificate(files);
        for path in &a.kubeconfig_copy {
            let content = fsio::read_content(path);
            v.checks.extend(kcerts_core::kubeconfig_copy::check(
                &path.display().to_string(),
                content.as_ref(),
                admin.as_ref(),
                v.now,
            ));
        }
    }
    let v = &reading.verification;
    match a.output {
        OutputFormat::Json => out::print(kcerts_core::verify_output::to_json(v))?,
        OutputFormat::Prometheus => out::print(a.node.prometheus(&reading))?,
        // Text: FORMATS has no yaml.
        _ => {
            let text = kcerts_core::verify_output::render_text(v);
            if color::color_enabled(a.color) {
                out::print(color::paint(&text))?;
            } else {
                out::print(&text)?;
            }
        }
    }
    let read_error = v
        .checks
        .iter()
        .any(|c| c.status == Status::Fail && c.check == checks::CheckId::Read);
    Ok(if read_error {
        Code::Error
    } else {
        Code::of(v.worst())
    })
}
