//! One way from a kubeconfig file to a Kubernetes API client (kube-rs), for
//! `renew --use-api`, `approve`, `--from-cluster` and `recover`'s wait; and a
//! pod's in-cluster configuration, for `approve` in its Deployment.

use std::path::Path;

use anyhow::{Context, Result};

/// The client configuration the kubeconfig file's current context gives.
pub async fn config(kubeconfig: &Path) -> Result<kube::Config> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("cannot read the kubeconfig {}", kubeconfig.display()))?;
    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .with_context(|| format!("cannot use the kubeconfig {}", kubeconfig.display()))
}

/// A client from `config` (read from `kubeconfig`, named in the error).
pub fn client(config: kube::Config, kubeconfig: &Path) -> Result<kube::Client> {
    kube::Client::try_from(config)
        .with_context(|| format!("cannot build a client from {}", kubeconfig.display()))
}

/// Where a pod's service-account token, CA and namespace are mounted (kube-rs
/// reads them there).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A pod's in-cluster configuration: the API server from `KUBERNETES_SERVICE_HOST`
/// and `KUBERNETES_SERVICE_PORT`, the service account's token and CA from
/// [`SERVICE_ACCOUNT_DIR`]. Outside a pod (no `KUBERNETES_SERVICE_HOST`), an error
/// naming both ways to give an API server.
pub fn in_cluster() -> Result<kube::Config> {
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
        anyhow::bail!(
            "no API server given: pass --kubeconfig FILE, or run in a pod with the in-cluster \
             configuration (KUBERNETES_SERVICE_HOST and the service account's token in \
             {SERVICE_ACCOUNT_DIR}); there is no default kubeconfig"
        );
    }
    kube::Config::incluster().with_context(|| {
        format!(
            "cannot use the in-cluster configuration (KUBERNETES_SERVICE_HOST, \
             KUBERNETES_SERVICE_PORT, and token, ca.crt and namespace in {SERVICE_ACCOUNT_DIR})"
        )
    })
}

/// A client for the API server `--kubeconfig` names, else the pod's in-cluster
/// one, and the server's URL.
pub async fn connect(kubeconfig: Option<&Path>) -> Result<(kube::Client, String)> {
    let config = match kubeconfig {
        Some(path) => config(path).await?,
        None => in_cluster()?,
    };
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config)
        .with_context(|| format!("cannot build a client for {server}"))?;
    Ok((client, server))
}
