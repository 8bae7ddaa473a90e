//! One way from a kubeconfig file to a Kubernetes API client (kube-rs), for
//! `renew --use-api`, `approve`, `--from-cluster` and `recover`'s wait.

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
