//! `--config FILE`, `--from-cluster` and `--kubeconfig`: where the cluster's
//! kubeadm configuration comes from (read by `node::cluster_config`).

use std::path::PathBuf;

/// The configuration flags shared by check-expiration, renew, generate-csr and verify.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// A kubeadm configuration file (kubeadm.k8s.io/v1beta3 or v1beta4
    /// InitConfiguration, ClusterConfiguration, JoinConfiguration documents).
    #[arg(long, value_name = "FILE", conflicts_with = "from_cluster")]
    pub config: Option<PathBuf>,
    /// Read the ClusterConfiguration from the kubeadm-config ConfigMap in kube-system
    /// through --kubeconfig (10 s at most); when the cluster does not answer, go on
    /// with the files, as kubeadm does.
    #[arg(long)]
    pub from_cluster: bool,
    /// Kubeconfig to reach the API server (--from-cluster, --use-api).
    #[arg(
        long,
        default_value = "/etc/kubernetes/admin.conf",
        value_name = "FILE"
    )]
    pub kubeconfig: PathBuf,
}
