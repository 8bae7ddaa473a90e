//! What `approve kubelet-serving` reads about the cluster before judging a
//! request ([`ClusterFacts`]): every Node (`list nodes`), the `kubernetes`
//! Service's cluster IPs and the API server's addresses from the `kubernetes`
//! EndpointSlice (the Endpoints when there is no EndpointSlice) in `default`, the
//! ServiceCIDRs (none on an API server without that API), and the address this
//! approver reaches the API server on. Read once per pass, only when a request
//! waits. A fact the approver cannot read is an error: nothing is approved without
//! it.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::networking::v1::ServiceCIDR;
use kcerts_core::cidr::Cidr;
use kcerts_core::endpoint::Endpoint;
use kcerts_core::serving_csr::{ClusterFacts, NodeAddress, NodeFacts};
use kube::api::{Api, ListParams};

use crate::node::apiserver_addresses::timed;
use crate::node::csr_api::api_error;

/// The Service, EndpointSlice and Endpoints that name the API server.
const KUBERNETES: &str = "kubernetes";
/// Their namespace.
const DEFAULT: &str = "default";

/// Reads the facts through `client`; `server` is the URL the client uses.
pub async fn read(client: &kube::Client, server: &str, bound: Duration) -> Result<ClusterFacts> {
    let nodes: Api<Node> = Api::all(client.clone());
    let nodes = timed(bound, nodes.list(&ListParams::default()), server)
        .await?
        .map_err(|e| {
            api_error(
                e,
                "cannot list the nodes (their addresses are the evidence)",
            )
        })?;
    let services: Api<Service> = Api::namespaced(client.clone(), DEFAULT);
    let service = timed(bound, services.get(KUBERNETES), server)
        .await?
        .map_err(|e| api_error(e, "cannot read the kubernetes Service in default"))?;
    let mut apiserver_addresses =
        crate::node::apiserver_addresses::read(client, server, bound).await?;
    apiserver_addresses.extend(server_ip(server));
    Ok(ClusterFacts {
        nodes: nodes.items.iter().map(node_facts).collect(),
        kubernetes_service_ips: cluster_ips(&service)?,
        service_ranges: service_ranges(client, server, bound).await?,
        apiserver_addresses,
    })
}

/// A Node as the rules take it: its fields as the API gives them.
fn node_facts(n: &Node) -> NodeFacts {
    let spec = n.spec.as_ref();
    let mut pod_cidrs: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if pod_cidrs.is_empty() {
        pod_cidrs.extend(spec.and_then(|s| s.pod_cidr.clone()));
    }
    NodeFacts {
        name: n.metadata.name.clone().unwrap_or_default(),
        addresses: n
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .map(|a| NodeAddress::new(&a.type_, &a.address))
            .collect(),
        pod_cidrs,
    }
}

/// `spec.clusterIPs` (or `spec.clusterIP`) of the `kubernetes` Service.
fn cluster_ips(service: &Service) -> Result<Vec<IpAddr>> {
    let spec = service.spec.as_ref();
    let mut ips: Vec<String> = spec.and_then(|s| s.cluster_ips.clone()).unwrap_or_default();
    if ips.is_empty() {
        ips.extend(spec.and_then(|s| s.cluster_ip.clone()));
    }
    if ips.is_empty() {
        anyhow::bail!("the kubernetes Service in default has no cluster IP");
    }
    ips.iter()
        .map(|ip| {
            ip.parse::<IpAddr>()
                .with_context(|| format!("the kubernetes Service's cluster IP {ip:?} is not an IP"))
        })
        .collect()
}

/// Every ServiceCIDR's ranges; none when the API server has no ServiceCIDR API
/// (404: Kubernetes before 1.33 without the feature).
async fn service_ranges(client: &kube::Client, server: &str, bound: Duration) -> Result<Vec<Cidr>> {
    let api: Api<ServiceCIDR> = Api::all(client.clone());
    let list = match timed(bound, api.list(&ListParams::default()), server).await? {
        Ok(l) => l,
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Vec::new()),
        Err(e) => return Err(api_error(e, "cannot list the ServiceCIDRs")),
    };
    let mut out = Vec::new();
    for sc in &list.items {
        for c in sc
            .spec
            .as_ref()
            .and_then(|s| s.cidrs.as_ref())
            .into_iter()
            .flatten()
        {
            out.push(Cidr::parse(c).with_context(|| {
                format!(
                    "ServiceCIDR {:?} holds {c:?}",
                    sc.metadata.name.as_deref().unwrap_or_default()
                )
            })?);
        }
    }
    Ok(out)
}

/// The host of the server URL when it is an IP (`https://10.0.0.10:6443/`,
/// `https://[fd00::10]:6443`).
fn server_ip(server: &str) -> Option<IpAddr> {
    Endpoint::parse(server)?.ip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_ip_is_read_from_the_url() {
        assert_eq!(
            server_ip("https://10.0.0.10:6443/"),
            Some("10.0.0.10".parse().unwrap())
        );
        assert_eq!(
            server_ip("https://[fd00::10]:6443"),
            Some("fd00::10".parse().unwrap())
        );
        assert_eq!(server_ip("https://cp.example:6443"), None);
    }
}
