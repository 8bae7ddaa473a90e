//! The DNS name rules: each name is a lowercase RFC 1123 name, is the node name or
//! starts with `NAME.` (so `worker-10` is not `worker-1`'s), is not a Service's
//! in-cluster name (`NAME.NAMESPACE.svc...`), and matches `--dns-regex` when one is
//! given (both, as kubelet-csr-approver requires its provider regex and the node
//! prefix); and at most `--max-dns-names` of them are not the node's own Hostname
//! address.

use crate::check::serving_csr::cluster::NodeFacts;
use crate::check::serving_csr::{Policy, Refusal};

/// Checks every DNS name of a request for `node`.
pub(super) fn check(names: &[String], node: &NodeFacts, policy: &Policy) -> Result<(), Refusal> {
    for name in names {
        check_one(name, &node.name, policy)?;
    }
    let counted: Vec<String> = names
        .iter()
        .filter(|n| !node.hostnames().any(|h| h == n.as_str()))
        .cloned()
        .collect();
    if counted.len() > policy.max_dns_names {
        return Err(Refusal::DnsCount {
            names: counted,
            max: policy.max_dns_names,
        });
    }
    Ok(())
}

fn check_one(name: &str, node: &str, policy: &Policy) -> Result<(), Refusal> {
    if !is_dns_name(name) {
        return Err(Refusal::DnsSyntax(name.to_string()));
    }
    let under_node = name
        .strip_prefix(node)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
    if !under_node {
        return Err(Refusal::DnsName {
            name: name.to_string(),
            node: node.to_string(),
        });
    }
    // NAME.NAMESPACE.svc[.cluster.local]: the name of Service NAME in NAMESPACE.
    if name.split('.').nth(2) == Some("svc") {
        return Err(Refusal::DnsServiceName(name.to_string()));
    }
    if let Some((re, given)) = &policy.dns_regex
        && !re.is_match(name)
    {
        return Err(Refusal::DnsRegex {
            name: name.to_string(),
            regex: given.clone(),
        });
    }
    Ok(())
}

/// A lowercase RFC 1123 subdomain, as Kubernetes names nodes: labels of 1 to 63
/// of `a-z0-9-`, neither starting nor ending with `-`, 253 characters at most.
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::serving_csr::cluster::{HOSTNAME, NodeAddress};

    fn node(hostname: Option<&str>) -> NodeFacts {
        NodeFacts {
            name: "worker-1".into(),
            addresses: hostname
                .map(|h| NodeAddress::new(HOSTNAME, h))
                .into_iter()
                .collect(),
            pod_cidrs: vec![],
        }
    }

    fn policy(regex: Option<&str>, max: usize) -> Policy {
        Policy::new(
            regex,
            vec![],
            max,
            crate::check::serving_csr::DEFAULT_MAX_VALIDITY,
        )
        .unwrap()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_node_name_or_under_it_and_never_a_longer_name() {
        let p = policy(None, 1);
        let n = node(Some("worker-1"));
        assert_eq!(check(&names(&["worker-1"]), &n, &p), Ok(()));
        assert_eq!(check(&names(&["worker-1", "worker-1.lan"]), &n, &p), Ok(()));
        for bad in ["worker-10", "worker-1-evil", "api.example.com"] {
            assert_eq!(
                check(&names(&[bad]), &n, &p),
                Err(Refusal::DnsName {
                    name: bad.into(),
                    node: "worker-1".into()
                }),
                "{bad}"
            );
        }
        let msg = check(&names(&["worker-10"]), &n, &p)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "DNS name \"worker-10\" is neither the node name \"worker-1\" nor starts with \"worker-1.\""
        );
    }

    #[test]
    fn names_that_do_not_parse_and_service_names_are_refused() {
        let p = policy(None, 3);
        let n = node(None);
        for bad in [
            "Worker-1",
            "worker-1.",
            "worker-1..lan",
            "worker-1.*",
            "worker-1.-x",
            "worker-1.a_b",
            "",
        ] {
            assert_eq!(
                check(&names(&[bad]), &n, &p),
                Err(Refusal::DnsSyntax(bad.into())),
                "{bad:?}"
            );
        }
        let long = format!("worker-1.{}", "a".repeat(64));
        assert_eq!(
            check(std::slice::from_ref(&long), &n, &p),
            Err(Refusal::DnsSyntax(long.clone()))
        );
        for svc in [
            "worker-1.default.svc",
            "worker-1.kube-system.svc.cluster.local",
        ] {
            assert_eq!(
                check(&names(&[svc]), &n, &p),
                Err(Refusal::DnsServiceName(svc.into())),
                "{svc}"
            );
        }
        assert_eq!(check(&names(&["worker-1.svc.lan"]), &n, &p), Ok(()));
    }

    #[test]
    fn the_regex_must_match_as_well_as_the_node_prefix() {
        let p = policy(Some(r"worker-[0-9]+(\.nodes\.example)?"), 2);
        let n = node(Some("worker-1"));
        assert_eq!(
            check(&names(&["worker-1", "worker-1.nodes.example"]), &n, &p),
            Ok(())
        );
        assert_eq!(
            check(&names(&["worker-1.lan"]), &n, &p),
            Err(Refusal::DnsRegex {
                name: "worker-1.lan".into(),
                regex: r"worker-[0-9]+(\.nodes\.example)?".into()
            })
        );
        // The regex alone is not enough: another node's name matches it.
        assert!(matches!(
            check(&names(&["worker-2.nodes.example"]), &n, &p),
            Err(Refusal::DnsName { .. })
        ));
        // Anchored: a match inside the name is not a match.
        let p = policy(Some("nodes"), 1);
        assert!(matches!(
            check(&names(&["worker-1.nodes.example"]), &n, &p),
            Err(Refusal::DnsRegex { .. })
        ));
    }

    #[test]
    fn at_most_max_names_besides_the_hostname_address() {
        let p = policy(None, 1);
        let with_host = node(Some("worker-1"));
        assert_eq!(
            check(&names(&["worker-1", "worker-1.lan"]), &with_host, &p),
            Ok(()),
            "the Hostname address is not counted"
        );
        let err = check(&names(&["worker-1.a", "worker-1.b"]), &with_host, &p).unwrap_err();
        assert_eq!(
            err,
            Refusal::DnsCount {
                names: names(&["worker-1.a", "worker-1.b"]),
                max: 1
            }
        );
        assert!(
            err.to_string()
                .contains("names 2 DNS names besides the node's Hostname address"),
            "{err}"
        );
        let without = node(None);
        assert!(matches!(
            check(&names(&["worker-1", "worker-1.lan"]), &without, &p),
            Err(Refusal::DnsCount { .. })
        ));
        let p2 = policy(None, 2);
        assert_eq!(
            check(&names(&["worker-1", "worker-1.lan"]), &without, &p2),
            Ok(())
        );
    }
}
