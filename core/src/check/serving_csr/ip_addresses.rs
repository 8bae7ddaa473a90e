//! The IP address rules. Every address is compared canonical (an IPv4-mapped IPv6
//! address as its IPv4 address, which is how Go writes it into the certificate).
//! Always refused, whatever the node's own addresses say (a node writes its own
//! `status.addresses`): loopback, unspecified and multicast addresses, the
//! `kubernetes` Service's cluster IP and the service ranges, the API server's
//! addresses, another Node's address or pod range. Then the address must be one of
//! the node's InternalIP or ExternalIP addresses, and within `--allowed-ip-prefixes`
//! when given.

use std::net::IpAddr;

use crate::check::serving_csr::cluster::{ClusterFacts, NodeFacts, canonical};
use crate::check::serving_csr::{Policy, Refusal};
use crate::kubeadm::cidr::Cidr;

/// Checks every IP address of a request for `node`.
pub(super) fn check(
    ips: &[IpAddr],
    node: &NodeFacts,
    cluster: &ClusterFacts,
    policy: &Policy,
) -> Result<(), Refusal> {
    for ip in ips {
        check_one(canonical(*ip), node, cluster, policy)?;
    }
    Ok(())
}

fn check_one(
    ip: IpAddr,
    node: &NodeFacts,
    cluster: &ClusterFacts,
    policy: &Policy,
) -> Result<(), Refusal> {
    if let Some(kind) = not_serving(ip) {
        return Err(Refusal::IpNotServing { ip, kind });
    }
    let same = |other: &IpAddr| canonical(*other) == ip;
    if cluster.kubernetes_service_ips.iter().any(same) {
        return Err(Refusal::IpKubernetesService { ip });
    }
    if let Some(range) = cluster.service_ranges.iter().find(|r| r.contains(ip)) {
        return Err(Refusal::IpServiceRange {
            ip,
            range: range.to_string(),
        });
    }
    if cluster.apiserver_addresses.iter().any(same) {
        return Err(Refusal::IpApiServer { ip });
    }
    for other in cluster.nodes.iter().filter(|n| n.name != node.name) {
        if let Some(a) = other.addresses.iter().find(|a| a.ip() == Some(ip)) {
            return Err(Refusal::IpOtherNode {
                ip,
                other: other.name.clone(),
                kind: a.kind.clone(),
            });
        }
        if let Some(range) = other
            .pod_cidrs
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .find(|r| r.contains(ip))
        {
            return Err(Refusal::IpOtherNodesPods {
                ip,
                other: other.name.clone(),
                range: range.to_string(),
            });
        }
    }
    let own = node.serving_ips();
    if !own.contains(&ip) {
        return Err(Refusal::IpNotTheNodes {
            ip,
            node: node.name.clone(),
            addresses: if own.is_empty() {
                "none".into()
            } else {
                join(&own)
            },
        });
    }
    if !policy.allowed_ip_prefixes.is_empty()
        && !policy.allowed_ip_prefixes.iter().any(|c| c.contains(ip))
    {
        return Err(Refusal::IpPrefixes {
            ip,
            allowed: join(&policy.allowed_ip_prefixes),
        });
    }
    Ok(())
}

/// Why no one reaches a node on `ip`, if so.
fn not_serving(ip: IpAddr) -> Option<&'static str> {
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() || ip == IpAddr::from([255, 255, 255, 255]) {
        Some("multicast or broadcast")
    } else {
        None
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::serving_csr::DEFAULT_MAX_VALIDITY;
    use crate::check::serving_csr::cluster::{EXTERNAL_IP, HOSTNAME, INTERNAL_IP, NodeAddress};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn node(name: &str, addresses: &[(&str, &str)], pods: &[&str]) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            addresses: addresses
                .iter()
                .map(|(k, a)| NodeAddress::new(k, a))
                .collect(),
            pod_cidrs: pods.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A kubeadm cluster: cp-1 (the API server's advertise address 10.0.0.10),
    /// worker-1 (10.0.0.7, dual-stack fd00::7) and worker-2 (10.0.0.8); services
    /// 10.96.0.0/12 and fd00:96::/112.
    fn cluster() -> ClusterFacts {
        ClusterFacts {
            nodes: vec![
                node(
                    "cp-1",
                    &[(INTERNAL_IP, "10.0.0.10"), (HOSTNAME, "cp-1")],
                    &["10.244.0.0/24"],
                ),
                node(
                    "worker-1",
                    &[
                        (INTERNAL_IP, "10.0.0.7"),
                        (INTERNAL_IP, "fd00::7"),
                        (EXTERNAL_IP, "203.0.113.7"),
                        (HOSTNAME, "worker-1"),
                    ],
                    &["10.244.1.0/24"],
                ),
                node(
                    "worker-2",
                    &[(INTERNAL_IP, "10.0.0.8"), (HOSTNAME, "worker-2")],
                    &["10.244.2.0/24"],
                ),
            ],
            kubernetes_service_ips: vec![ip("10.96.0.1"), ip("fd00:96::1")],
            service_ranges: vec![Cidr::parse("10.96.0.0/12").unwrap()],
            apiserver_addresses: vec![ip("10.0.0.10")],
        }
    }

    fn judge(ips: &[&str], c: &ClusterFacts, p: &Policy) -> Result<(), Refusal> {
        let ips: Vec<IpAddr> = ips.iter().map(|s| ip(s)).collect();
        check(&ips, c.node("worker-1").unwrap(), c, p)
    }

    fn policy(prefixes: &[&str]) -> Policy {
        let p = prefixes.iter().map(|c| Cidr::parse(c).unwrap()).collect();
        Policy::new(None, p, 1, DEFAULT_MAX_VALIDITY).unwrap()
    }

    #[test]
    fn the_nodes_own_addresses_pass() {
        let c = cluster();
        assert_eq!(
            judge(&["10.0.0.7", "fd00::7", "203.0.113.7"], &c, &policy(&[])),
            Ok(())
        );
        assert_eq!(
            judge(&["::ffff:10.0.0.7"], &c, &policy(&[])),
            Ok(()),
            "IPv4-mapped is the IPv4 address"
        );
    }

    #[test]
    fn an_address_the_node_does_not_have_is_refused() {
        let c = cluster();
        let err = judge(&["10.0.0.7", "192.168.5.5"], &c, &policy(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "IP address 192.168.5.5 is not one of node \"worker-1\"'s InternalIP or ExternalIP \
             addresses (10.0.0.7, fd00::7, 203.0.113.7)"
        );
        let mut bare = cluster();
        bare.nodes[1].addresses.retain(|a| a.kind == HOSTNAME);
        assert!(
            judge(&["10.0.0.7"], &bare, &policy(&[]))
                .unwrap_err()
                .to_string()
                .ends_with("addresses (none)")
        );
    }

    #[test]
    fn prefixes_restrict_even_the_nodes_own_addresses() {
        let c = cluster();
        let p = policy(&["10.0.0.0/24", "fd00::/64"]);
        assert_eq!(judge(&["10.0.0.7", "fd00::7"], &c, &p), Ok(()));
        assert_eq!(
            judge(&["203.0.113.7"], &c, &p),
            Err(Refusal::IpPrefixes {
                ip: ip("203.0.113.7"),
                allowed: "10.0.0.0/24, fd00::/64".into()
            })
        );
    }

    /// A node may write any address into its own status: these stay refused when
    /// worker-1 claims them.
    #[test]
    fn cluster_addresses_are_refused_even_when_the_node_claims_them() {
        let mut c = cluster();
        for claimed in [
            "10.96.0.1",
            "fd00:96::1",
            "10.96.5.5",
            "10.0.0.10",
            "10.0.0.8",
            "10.244.2.9",
            "127.0.0.1",
            "::1",
            "0.0.0.0",
            "224.0.0.1",
        ] {
            c.nodes[1]
                .addresses
                .push(NodeAddress::new(INTERNAL_IP, claimed));
        }
        let p = policy(&["0.0.0.0/0", "::/0"]);
        let cases: [(&str, Refusal); 12] = [
            (
                "10.96.0.1",
                Refusal::IpKubernetesService {
                    ip: ip("10.96.0.1"),
                },
            ),
            (
                "::ffff:10.96.0.1",
                Refusal::IpKubernetesService {
                    ip: ip("10.96.0.1"),
                },
            ),
            (
                "fd00:96::1",
                Refusal::IpKubernetesService {
                    ip: ip("fd00:96::1"),
                },
            ),
            (
                "10.96.5.5",
                Refusal::IpServiceRange {
                    ip: ip("10.96.5.5"),
                    range: "10.96.0.0/12".into(),
                },
            ),
            (
                "10.0.0.10",
                Refusal::IpApiServer {
                    ip: ip("10.0.0.10"),
                },
            ),
            (
                "10.0.0.8",
                Refusal::IpOtherNode {
                    ip: ip("10.0.0.8"),
                    other: "worker-2".into(),
                    kind: INTERNAL_IP.into(),
                },
            ),
            (
                "10.244.2.9",
                Refusal::IpOtherNodesPods {
                    ip: ip("10.244.2.9"),
                    other: "worker-2".into(),
                    range: "10.244.2.0/24".into(),
                },
            ),
            (
                "127.0.0.1",
                Refusal::IpNotServing {
                    ip: ip("127.0.0.1"),
                    kind: "loopback",
                },
            ),
            (
                "::ffff:127.0.0.1",
                Refusal::IpNotServing {
                    ip: ip("127.0.0.1"),
                    kind: "loopback",
                },
            ),
            (
                "::1",
                Refusal::IpNotServing {
                    ip: ip("::1"),
                    kind: "loopback",
                },
            ),
            (
                "0.0.0.0",
                Refusal::IpNotServing {
                    ip: ip("0.0.0.0"),
                    kind: "unspecified",
                },
            ),
            (
                "224.0.0.1",
                Refusal::IpNotServing {
                    ip: ip("224.0.0.1"),
                    kind: "multicast or broadcast",
                },
            ),
        ];
        for (requested, want) in cases {
            assert_eq!(
                judge(&["10.0.0.7", requested], &c, &p),
                Err(want),
                "{requested}"
            );
        }
    }

    #[test]
    fn the_messages_name_the_address_and_whose_it_is() {
        let c = cluster();
        let p = policy(&[]);
        let msg = |s: &str| judge(&[s], &c, &p).unwrap_err().to_string();
        assert_eq!(
            msg("::ffff:10.96.0.1"),
            "IP address 10.96.0.1 is the cluster IP of the kubernetes Service \
             (default/kubernetes): every pod reaches the API server on it"
        );
        assert!(
            msg("10.0.0.10").starts_with("IP address 10.0.0.10 is an address of the API server"),
            "{}",
            msg("10.0.0.10")
        );
        assert_eq!(
            msg("10.0.0.8"),
            "IP address 10.0.0.8 is an address of another node, \"worker-2\" (InternalIP)"
        );
    }
}
