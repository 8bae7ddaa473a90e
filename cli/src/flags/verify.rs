//! What a node's verification reads besides the two directories: the kubelet's
//! certificates, the node name, the service CIDR, the thresholds and `--live`
//! (flags of `verify` and `serve`; the verification is `node::verification`).

use std::path::PathBuf;

use crate::flags::endpoints::EndpointArgs;
use crate::flags::thresholds::Thresholds;

/// What verify reads besides the two directories (shared with `kcerts serve`).
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// The kubelet's rotating client certificate and key.
    #[arg(
        long,
        default_value = "/var/lib/kubelet/pki/kubelet-client-current.pem",
        value_name = "FILE"
    )]
    pub kubelet_client_cert: PathBuf,
    /// The node name [default: from the kubelet certificate or the etcd server certificate].
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// The service CIDR; its first address must be an apiserver SAN [default: 10.96.0.0/12,
    /// a warning only when its address is absent].
    #[arg(long, value_name = "CIDR")]
    pub service_cidr: Option<String>,
    #[command(flatten)]
    pub thresholds: Thresholds,
    /// Also connect to every control-plane endpoint and check that it serves the
    /// certificate on disk (rows `live`; each endpoint bounded at 3 s).
    #[arg(long)]
    pub live: bool,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// The kubelet's serving certificate (checked, and with --live compared with what the
    /// kubelet serves) [default: kubelet-server-current.pem, else kubelet.crt with
    /// kubelet.key, beside --kubelet-client-cert].
    #[arg(long, value_name = "FILE")]
    pub kubelet_serving_cert: Option<PathBuf>,
}
