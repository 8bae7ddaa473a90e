//! `kcerts fleet`: reads each node (a directory or a tar archive) and prints the
//! core's cross-node report.

use anyhow::Result;
use kcerts_core::fleet::{self, Options};
use kcerts_core::node::{NodeFiles, NodePath};
use kcerts_core::{fleet_report, verify};
use time::OffsetDateTime;

use crate::flags::OutputFormat;
use crate::flags::value;
use crate::node::fleet_input::{Node, parse_node};
use crate::report::color::{self, ColorChoice};
use crate::report::exit::Code;
use crate::report::out;

/// The output formats of this command.
const FORMATS: [(OutputFormat, Option<&str>); 4] = [
    (OutputFormat::Text, None),
    (
        OutputFormat::Json,
        Some("One CertificateExpirationInfo per node (as check-expiration -o json) and the checks"),
    ),
    (
        OutputFormat::Yaml,
        Some("The JSON document as YAML (each node as check-expiration -o yaml)"),
    ),
    (
        OutputFormat::Prometheus,
        Some("check-expiration's metrics with a `node` label, and kcerts_verify_check per check"),
    ),
];

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each NODE is a copy of one control-plane node's /etc/kubernetes: a \
directory, or a .tar/.tar.gz made with `tar czf cp-1.tgz -C /etc/kubernetes .`, named \
NAME=PATH or after the file or directory (cp-1.tgz is cp-1); an archive whose files sit \
under one folder (`tar czf cp-1.tgz -C /etc kubernetes`) is read from inside it. Archives \
are read in memory, never unpacked; an entry with an absolute path, a '..' component or a link leading out of \
the archive is refused.\n\
Prints kubeadm's check-expiration tables with a NODE column, then one row per cross-node \
check: the CA certificates and keys (ca, front-proxy-ca, etcd-ca when etcd is stacked) and \
sa.key/sa.pub are the same on every node; every apiserver certificate carries the \
control-plane endpoint and its own node's name and address (from its etcd server \
certificate); every kubeconfig's server is the endpoint or the node itself; every node's \
leaves chain to the CAs of every other node; no node is given twice (the same node name \
from the etcd certificates or kubelet.conf, or the same per-node certificate, on two \
NODEs fails); and the soonest expiry of the cluster (warn within --warn, fail within \
--crit). During a rotation (a node holds pki/<ca>.new.crt or pki/sa.new.pub) the \
ca-rotation and sa-rotation rows read each node's phase as `kcerts ca status`/`kcerts sa \
status` do (the sa phase also from manifests/kube-apiserver.yaml and \
kube-controller-manager.yaml) and fail when one node presents or signs with what another \
does not trust, or the new CA or key differs between nodes; same-cert/same-key/same-pub \
pass while the nodes hold only the rotation's old and new CA or key. Run `kcerts verify` on \
each node for the single-node checks.\n\
Exit status as verify: 0 all pass; 1 a node or file cannot be read or parsed; 2 some warn; \
3 some fail."
)]
pub struct Args {
    /// A node: [NAME=]DIR or [NAME=]ARCHIVE (.tar, .tar.gz, .tgz).
    #[arg(value_name = "NODE", required = true)]
    nodes: Vec<String>,
    /// The control-plane endpoint (HOST, HOST:PORT or https://HOST:PORT) [default: the server
    /// of admin.conf on more than half of the nodes].
    #[arg(long, value_name = "ENDPOINT")]
    control_plane_endpoint: Option<String>,
    #[command(flatten)]
    thresholds: crate::flags::thresholds::Thresholds,
    /// Output format.
    #[arg(short, long, default_value = "text", value_parser = OutputFormat::parser(&FORMATS))]
    output: OutputFormat,
    /// Check as of this RFC 3339 time instead of now.
    #[arg(long, value_name = "TIME", value_parser = value::parse_time)]
    at: Option<OffsetDateTime>,
    /// Colour the results.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

/// Where a node's file is, for the metrics' `filepath` and error lines.
fn display_path(node: &Node, p: &NodePath) -> String {
    if node.is_dir {
        node.path.join(p.to_string()).display().to_string()
    } else {
        format!("{}:{p}", node.path.display())
    }
}

pub fn run(a: Args) -> Result<Code> {
    let nodes: Vec<Node> = a
        .nodes
        .iter()
        .map(|n| parse_node(n))
        .collect::<Result<_>>()?;
    let mut loaded = Vec::with_capacity(nodes.len());
    for node in &nodes {
        loaded.push((node.name.clone(), node.load()?));
    }
    let now = value::now_or(a.at);
    let opts = Options {
        endpoint: a.control_plane_endpoint.clone(),
        thresholds: a.thresholds.rule(),
    };
    let report = fleet::check(&loaded, &opts, now)?;
    match a.output {
        OutputFormat::Text => {
            let text = fleet_report::to_text(&report);
            if color::color_enabled(a.color) {
                out::print(color::paint(&text))?;
            } else {
                out::print(&text)?;
            }
        }
        OutputFormat::Json => out::print(fleet_report::to_json(&report))?,
        OutputFormat::Yaml => out::print(fleet_report::to_yaml(&report))?,
        OutputFormat::Prometheus => {
            let files: Vec<(&str, &NodeFiles)> =
                loaded.iter().map(|(n, f)| (n.as_str(), f)).collect();
            let path_of = |name: &str, p: &NodePath| {
                nodes
                    .iter()
                    .find(|n| n.name == name)
                    .map(|n| display_path(n, p))
                    .unwrap_or_default()
            };
            out::print(fleet_report::to_prometheus(&report, &files, now, &path_of))?;
        }
    }
    // As verify: a failed `read` row is exit 1, else the worst row.
    let v = &report.verification;
    let read_error = v
        .checks
        .iter()
        .any(|c| c.status == verify::Status::Fail && c.check == verify::CheckId::Read);
    Ok(if read_error {
        Code::Error
    } else {
        Code::of(v.worst())
    })
}
