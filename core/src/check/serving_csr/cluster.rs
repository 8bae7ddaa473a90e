//! What the cluster says, as the approver reads it before judging: every Node's
//! addresses and pod ranges, the `kubernetes` Service's cluster IPs, the service
//! ranges and the API server's addresses. The CLI fetches these; the rules only read
//! them. Node fields stay as the API gives them (a node writes its own
//! `status.addresses`): an address that does not parse is no address.

use std::net::IpAddr;

use crate::kubeadm::cidr::Cidr;

/// One entry of a Node's `status.addresses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    /// `type`: InternalIP, ExternalIP, Hostname, InternalDNS, ExternalDNS.
    pub kind: String,
    /// `address`.
    pub address: String,
}

impl NodeAddress {
    /// An address entry.
    pub fn new(kind: &str, address: &str) -> Self {
        Self {
            kind: kind.to_string(),
            address: address.to_string(),
        }
    }

    /// The IP, canonical (IPv4-mapped IPv6 as IPv4), when the entry holds one
    /// (any type: a node may list an IP under another type).
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.trim().parse::<IpAddr>().ok().map(canonical)
    }

    /// Whether the entry is an address the node serves on (InternalIP, ExternalIP).
    pub fn is_serving_ip(&self) -> bool {
        self.kind == INTERNAL_IP || self.kind == EXTERNAL_IP
    }
}

/// `NodeAddressType` values.
pub const INTERNAL_IP: &str = "InternalIP";
/// See [`INTERNAL_IP`].
pub const EXTERNAL_IP: &str = "ExternalIP";
/// See [`INTERNAL_IP`].
pub const HOSTNAME: &str = "Hostname";

/// One Node object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeFacts {
    /// `metadata.name`.
    pub name: String,
    /// `status.addresses`.
    pub addresses: Vec<NodeAddress>,
    /// `spec.podCIDRs` (or `spec.podCIDR`).
    pub pod_cidrs: Vec<String>,
}

impl NodeFacts {
    /// The InternalIP and ExternalIP addresses that parse, canonical, in order.
    pub fn serving_ips(&self) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = self
            .addresses
            .iter()
            .filter(|a| a.is_serving_ip())
            .filter_map(NodeAddress::ip)
            .collect();
        ips.dedup();
        ips
    }

    /// The Hostname addresses.
    pub fn hostnames(&self) -> impl Iterator<Item = &str> {
        self.addresses
            .iter()
            .filter(|a| a.kind == HOSTNAME)
            .map(|a| a.address.as_str())
    }
}

/// Everything the rules compare a request with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterFacts {
    /// Every Node, the requester's included when it exists.
    pub nodes: Vec<NodeFacts>,
    /// `spec.clusterIPs` of the `kubernetes` Service in `default`: the first IP of
    /// each service range, where every pod reaches the API server.
    pub kubernetes_service_ips: Vec<IpAddr>,
    /// The service ranges (ServiceCIDR objects' `spec.cidrs`), where the API has them.
    pub service_ranges: Vec<Cidr>,
    /// The API server's addresses: the `kubernetes` EndpointSlice's (or Endpoints')
    /// addresses in `default`, plus the address the approver reaches it on.
    pub apiserver_addresses: Vec<IpAddr>,
}

impl ClusterFacts {
    /// The Node named `name`.
    pub fn node(&self, name: &str) -> Option<&NodeFacts> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:10.96.0.1`) as the IPv4 address
/// it stands for: Go writes such an address into a certificate as 4 bytes, so it
/// is that IPv4 address for every client.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_canonical_and_only_ips_serve() {
        let n = NodeFacts {
            name: "worker-1".into(),
            addresses: vec![
                NodeAddress::new(INTERNAL_IP, "::ffff:10.0.0.7"),
                NodeAddress::new(EXTERNAL_IP, "203.0.113.7"),
                NodeAddress::new(INTERNAL_IP, "not-an-ip"),
                NodeAddress::new(HOSTNAME, "worker-1"),
                NodeAddress::new("InternalDNS", "10.0.0.9"),
            ],
            pod_cidrs: vec![],
        };
        let ips: Vec<String> = n.serving_ips().iter().map(IpAddr::to_string).collect();
        assert_eq!(ips, ["10.0.0.7", "203.0.113.7"]);
        assert_eq!(n.hostnames().collect::<Vec<_>>(), ["worker-1"]);
        assert_eq!(
            n.addresses[4].ip().map(|i| i.to_string()).as_deref(),
            Some("10.0.0.9"),
            "an IP under another type is still that node's IP"
        );
        let facts = ClusterFacts {
            nodes: vec![n],
            ..ClusterFacts::default()
        };
        assert!(facts.node("worker-1").is_some() && facts.node("worker-10").is_none());
    }
}
