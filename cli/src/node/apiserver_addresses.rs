//! The API servers' addresses as the cluster lists them: the `kubernetes`
//! EndpointSlice in `default` (the `kubernetes` Endpoints when there is no
//! EndpointSlice), where each API server keeps its own address. Read by `approve`
//! (a serving request naming one is not a kubelet's) and by `agent` (the other API
//! servers it falls back to, and checks before a restart).

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::core::v1::Endpoints;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;

use crate::node::csr_api::api_error;

/// The EndpointSlice and Endpoints that name the API servers.
const KUBERNETES: &str = "kubernetes";
/// Their namespace.
const DEFAULT: &str = "default";

/// `call`, bounded by `bound`; the error names `server`.
pub async fn timed<T>(
    bound: Duration,
    call: impl std::future::Future<Output = T>,
    server: &str,
) -> Result<T> {
    tokio::time::timeout(bound, call)
        .await
        .map_err(|_| anyhow!("the API server {server} did not answer within {bound:?}"))
}

/// The API server's addresses: the `kubernetes` EndpointSlice's, else the
/// `kubernetes` Endpoints'.
pub async fn read(client: &kube::Client, server: &str, bound: Duration) -> Result<Vec<IpAddr>> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), DEFAULT);
    let slice = timed(bound, slices.get_opt(KUBERNETES), server)
        .await?
        .map_err(|e| api_error(e, "cannot read the kubernetes EndpointSlice in default"))?;
    let addresses: Vec<String> = match slice {
        Some(s) => s.endpoints.into_iter().flat_map(|e| e.addresses).collect(),
        None => {
            let eps: Api<Endpoints> = Api::namespaced(client.clone(), DEFAULT);
            let ep = timed(bound, eps.get_opt(KUBERNETES), server)
                .await?
                .map_err(|e| api_error(e, "cannot read the kubernetes Endpoints in default"))?
                .ok_or_else(|| {
                    anyhow!(
                        "neither the kubernetes EndpointSlice nor the kubernetes Endpoints \
                         exists in default: the API server's addresses are unknown"
                    )
                })?;
            ep.subsets
                .into_iter()
                .flatten()
                .flat_map(|s| s.addresses.into_iter().flatten().map(|a| a.ip))
                .collect()
        }
    };
    addresses
        .iter()
        .map(|a| {
            a.parse::<IpAddr>()
                .with_context(|| format!("the kubernetes endpoint address {a:?} is not an IP"))
        })
        .collect()
}
