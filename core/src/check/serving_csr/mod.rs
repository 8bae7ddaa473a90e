//! Whether a kubelet's serving certificate request (signer
//! `kubernetes.io/kubelet-serving`) may be approved. The Kubernetes documentation
//! warns that approving these is safe only when the approver checks that the
//! requested names and addresses belong to the requesting node; these rules prove
//! that from the request and from what the cluster says ([`ClusterFacts`], fetched
//! by the CLI), and refuse what they cannot prove.
//!
//! - The requester is a node (`system:node:NAME` in group `system:nodes`) with a
//!   Node object; the request holds one extensionRequest, one CN (`system:node:NAME`),
//!   O exactly `system:nodes`, usages exactly digital signature and server auth (plus
//!   key encipherment for an RSA key), at least one DNS name or IP and no other kind
//!   of name (email, URI, otherName...: [`request_shape`]).
//! - DNS names: the node name or under it, `--dns-regex` as well when given, at most
//!   `--max-dns-names` besides the node's Hostname address ([`dns_names`]).
//! - IP addresses: the node's own InternalIP/ExternalIP, within
//!   `--allowed-ip-prefixes` when given, never a cluster address ([`ip_addresses`]).
//! - `expirationSeconds` at most `--max-validity`.
//!
//! Where kcerts differs from postfinance/kubelet-csr-approver: no DNS resolution
//! (the Node object is the evidence, not DNS), IPs must be the Node's, and cluster
//! addresses are refused whatever the prefixes allow. From the API server's own
//! validation (`ValidateKubeletServingCSR`): key encipherment only for RSA keys,
//! the only ones the kubelet asks for.

pub mod cluster;
mod dns_names;
mod ip_addresses;
pub mod refusal;
mod request_shape;

use time::Duration;

use crate::kubeadm::cidr::Cidr;

pub use cluster::{ClusterFacts, NodeAddress, NodeFacts};
pub use refusal::Refusal;

/// The signer of kubelet serving certificates.
pub const KUBELET_SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";

/// kubelet-csr-approver's default maximum `expirationSeconds`: 367 days.
pub const DEFAULT_MAX_VALIDITY: Duration = Duration::days(367);

/// kubelet-csr-approver's default number of DNS names (`--max-dns-names`); here
/// the node's own Hostname address is not counted.
pub const DEFAULT_MAX_DNS_NAMES: usize = 1;

/// What the API object says about one request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `spec.username`: who created it, as the API server authenticated them.
    pub username: &'a str,
    /// `spec.groups`.
    pub groups: &'a [String],
    /// `spec.usages`.
    pub usages: &'a [String],
    /// `spec.expirationSeconds`.
    pub expiration_seconds: Option<i64>,
    /// `spec.request`, decoded (PEM).
    pub csr_pem: &'a [u8],
}

/// The approver's settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// DNS names must also match this (anchored), with the expression as given.
    pub dns_regex: Option<(regex::Regex, String)>,
    /// IP SANs must also fall within one of these (none: no further limit).
    pub allowed_ip_prefixes: Vec<Cidr>,
    /// How many DNS names besides the node's Hostname address.
    pub max_dns_names: usize,
    /// The longest `expirationSeconds` approved.
    pub max_validity: Duration,
}

impl Policy {
    /// A policy; `dns_regex` is anchored (the whole name must match).
    pub fn new(
        dns_regex: Option<&str>,
        allowed_ip_prefixes: Vec<Cidr>,
        max_dns_names: usize,
        max_validity: Duration,
    ) -> Result<Self, regex::Error> {
        let dns_regex = dns_regex
            .map(|r| regex::Regex::new(&format!("^(?:{r})$")).map(|re| (re, r.to_string())))
            .transpose()?;
        Ok(Self {
            dns_regex,
            allowed_ip_prefixes,
            max_dns_names,
            max_validity,
        })
    }
}

/// Judges one request against the cluster's facts: the node it is for, or why it
/// is refused (the first rule broken).
pub fn judge(
    req: &Request<'_>,
    policy: &Policy,
    cluster: &ClusterFacts,
) -> Result<String, Refusal> {
    let (node_name, csr) = request_shape::check(req)?;
    let node = cluster
        .node(&node_name)
        .ok_or_else(|| Refusal::NoNode(node_name.clone()))?;
    dns_names::check(&csr.dns_names, node, policy)?;
    ip_addresses::check(&csr.ip_addresses, node, cluster, policy)?;
    if let Some(s) = req.expiration_seconds
        && s > policy.max_validity.whole_seconds()
    {
        return Err(Refusal::Validity {
            requested: s,
            max: policy.max_validity.whole_seconds(),
        });
    }
    Ok(node_name)
}

mod crafted;

#[cfg(test)]
mod tests {
    use super::cluster::{HOSTNAME, INTERNAL_IP};
    use super::*;
    use crate::issue::csr_builder;
    use crate::x509::keys::{KeyAlgorithm, PrivateKey};

    fn csr(cn: &str, orgs: &[&str], dns: &[&str], ips: &[&str], alg: KeyAlgorithm) -> String {
        let key = PrivateKey::generate(alg, &mut crate::seeded_rng(3)).unwrap();
        csr_builder::build(
            &crate::issue::leaf::LeafSpec {
                common_name: cn.into(),
                organizations: orgs.iter().map(|s| s.to_string()).collect(),
                dns_names: dns.iter().map(|s| s.to_string()).collect(),
                ip_addresses: ips.iter().map(|s| s.parse().unwrap()).collect(),
                ..Default::default()
            },
            &key,
        )
        .unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn node(name: &str, ip: &str) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            addresses: vec![
                NodeAddress::new(INTERNAL_IP, ip),
                NodeAddress::new(HOSTNAME, name),
            ],
            pod_cidrs: vec![],
        }
    }

    /// kubeadm's defaults: cp-1 advertises the API server on its InternalIP
    /// 10.0.0.10, services in 10.96.0.0/12 (the kubernetes Service at 10.96.0.1),
    /// workers 10.0.0.7 and 10.0.0.8.
    fn cluster() -> ClusterFacts {
        ClusterFacts {
            nodes: vec![
                node("cp-1", "10.0.0.10"),
                node("worker-1", "10.0.0.7"),
                node("worker-2", "10.0.0.8"),
            ],
            kubernetes_service_ips: vec!["10.96.0.1".parse().unwrap()],
            service_ranges: vec![],
            apiserver_addresses: vec!["10.0.0.10".parse().unwrap()],
        }
    }

    fn defaults() -> Policy {
        Policy::new(None, vec![], DEFAULT_MAX_DNS_NAMES, DEFAULT_MAX_VALIDITY).unwrap()
    }

    const GROUPS: &[&str] = &["system:nodes", "system:authenticated"];
    const USAGES: &[&str] = &["digital signature", "server auth"];

    /// worker-1's kubelet asking for `pem`, judged with `policy`.
    fn as_worker1(pem: &str, policy: &Policy) -> Result<String, Refusal> {
        let (groups, usages) = (strings(GROUPS), strings(USAGES));
        judge(
            &Request {
                username: "system:node:worker-1",
                groups: &groups,
                usages: &usages,
                expiration_seconds: None,
                csr_pem: pem.as_bytes(),
            },
            policy,
            &cluster(),
        )
    }

    /// worker-1's kubelet request (DNS:worker-1, IP:10.0.0.7) as openssl 3.0 wrote
    /// it with `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha1
    /// -subj /O=system:nodes/CN=system:node:worker-1 -addext
    /// subjectAltName=DNS:worker-1,IP:10.0.0.7`: signed with ECDSA-SHA1.
    const OPENSSL_SHA1_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIIBHDCBxAIBADA2MRUwEwYDVQQKDAxzeXN0ZW06bm9kZXMxHTAbBgNVBAMMFHN5
c3RlbTpub2RlOndvcmtlci0xMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXRP0
9uPR/H8SCdAZdbmok3WH6yJJFhMm3ZgwutCoRvnB/ZNgFYP0FeS7AgTtiYqFBaZ+
NTjAxl+KVIDaLyRCXKAsMCoGCSqGSIb3DQEJDjEdMBswGQYDVR0RBBIwEIIId29y
a2VyLTGHBAoAAAcwCQYHKoZIzj0EAQNIADBFAiALyDg0ihQE5UJ52LQjzxEiR2tA
yr3DQdzrt9j6YkGVqQIhAK+6RTnuqOzL5QCY64g2la1uCr/QOLE3v3fvy3BOFQiN
-----END CERTIFICATE REQUEST-----
";

    /// The same with `-newkey rsa:1024` (signed with SHA-256).
    const OPENSSL_RSA_1024_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIIBojCCAQsCAQAwNjEVMBMGA1UECgwMc3lzdGVtOm5vZGVzMR0wGwYDVQQDDBRz
eXN0ZW06bm9kZTp3b3JrZXItMTCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkCgYEA
vY3rW0HzFWmP7BO4UTLxLfX1tvuSfUkbECRYzc4edsbfnUzsaBEWNqTH0KmvfPsZ
hAYnULPGCM0oRsSFZQbDf/euo/0dZqW9vCSerwV+V3rimeVY6HZ0olUMh8oC9Z1e
YyF96DzyRDO6B4fQW3I5Ed7ruCw05TvsyWMLH4Q4bUMCAwEAAaAsMCoGCSqGSIb3
DQEJDjEdMBswGQYDVR0RBBIwEIIId29ya2VyLTGHBAoAAAcwDQYJKoZIhvcNAQEL
BQADgYEAG1WUed6LQe6ji2fnRAv93S95hrkI9Ow/UmWB2QoGlgKmLMDhkFvbCFif
HR7eqp+R6HEZ4JK55JghJFA0Xq5NtBQ/3eJ9nshwg1fQRMZEN3g7Eoscl93Xbc27
fRbwQW1SvQ9T/1EO/2WriALi0zl0/N3BRps6G7Qbr/e6kYgbOyU=
-----END CERTIFICATE REQUEST-----
";

    #[test]
    fn sha1_and_rsa_1024_requests_are_refused_as_weak() {
        use crate::x509::strength::Weakness;
        let e = as_worker1(OPENSSL_SHA1_CSR, &defaults()).unwrap_err();
        assert_eq!(
            e,
            Refusal::Weak(Weakness::Signature {
                algorithm: "ECDSA-SHA1",
                hash: "SHA-1"
            })
        );
        assert!(
            e.to_string()
                .starts_with("the request is weak: signed with ECDSA-SHA1: SHA-1 collisions"),
            "{e}"
        );
        let e = as_worker1(OPENSSL_RSA_1024_CSR, &defaults()).unwrap_err();
        assert_eq!(e, Refusal::Weak(Weakness::SmallRsaKey { bits: 1024 }));
        // The same names on a P-256 key with SHA-256: approved.
        assert_eq!(
            as_worker1(&worker1_csr(&["worker-1"], &["10.0.0.7"]), &defaults()),
            Ok("worker-1".into())
        );
    }

    fn worker1_csr(dns: &[&str], ips: &[&str]) -> String {
        csr(
            "system:node:worker-1",
            &["system:nodes"],
            dns,
            ips,
            KeyAlgorithm::EcdsaP256,
        )
    }

    /// Issue 23's attacks with stolen worker-1 kubelet credentials, under the
    /// default settings: each refused with its own reason; the kubelet's own
    /// request (its name, its InternalIP) approved.
    #[test]
    fn stolen_kubelet_credentials_get_no_foreign_name_by_default() {
        let p = defaults();
        assert_eq!(
            as_worker1(&worker1_csr(&["worker-1"], &["10.0.0.7"]), &p).as_deref(),
            Ok("worker-1")
        );
        let refused = |dns: &[&str], ips: &[&str]| as_worker1(&worker1_csr(dns, ips), &p);
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(
            refused(&["worker-1"], &["10.0.0.7", "10.96.0.1"]),
            Err(Refusal::IpKubernetesService {
                ip: ip("10.96.0.1")
            })
        );
        assert_eq!(
            refused(&["worker-1"], &["::ffff:10.96.0.1"]),
            Err(Refusal::IpKubernetesService {
                ip: ip("10.96.0.1")
            })
        );
        assert_eq!(
            refused(&["worker-1"], &["10.0.0.10"]),
            Err(Refusal::IpApiServer {
                ip: ip("10.0.0.10")
            })
        );
        assert_eq!(
            refused(&["worker-1"], &["10.0.0.8"]),
            Err(Refusal::IpOtherNode {
                ip: ip("10.0.0.8"),
                other: "worker-2".into(),
                kind: "InternalIP".into()
            })
        );
        assert_eq!(
            refused(&["worker-1"], &["127.0.0.1"]),
            Err(Refusal::IpNotServing {
                ip: ip("127.0.0.1"),
                kind: "loopback"
            })
        );
        assert_eq!(
            refused(&["worker-1"], &["192.168.5.5"]),
            Err(Refusal::IpNotTheNodes {
                ip: ip("192.168.5.5"),
                node: "worker-1".into(),
                addresses: "10.0.0.7".into()
            })
        );
        assert_eq!(
            refused(&["worker-10"], &[]),
            Err(Refusal::DnsName {
                name: "worker-10".into(),
                node: "worker-1".into()
            })
        );
        assert!(matches!(
            refused(&["worker-1", "worker-1.a", "worker-1.b"], &[]),
            Err(Refusal::DnsCount { max: 1, .. })
        ));
    }

    #[test]
    fn a_node_without_a_node_object_is_refused() {
        let pem = csr(
            "system:node:worker-9",
            &["system:nodes"],
            &["worker-9"],
            &[],
            KeyAlgorithm::EcdsaP256,
        );
        let (groups, usages) = (strings(GROUPS), strings(USAGES));
        let req = Request {
            username: "system:node:worker-9",
            groups: &groups,
            usages: &usages,
            expiration_seconds: None,
            csr_pem: pem.as_bytes(),
        };
        let err = judge(&req, &defaults(), &cluster()).unwrap_err();
        assert_eq!(err, Refusal::NoNode("worker-9".into()));
        assert!(err.to_string().contains("has no Node object"), "{err}");
    }

    /// Shapes a kubelet never writes and readers disagree on: refused before any
    /// name is compared, each naming what it found.
    #[test]
    fn requests_of_shapes_no_kubelet_writes_are_refused() {
        use crafted::*;
        let p = defaults();
        let us = || subject(&[("O", "system:nodes"), ("CN", "system:node:worker-1")]);
        let names = [dns("worker-1"), ip(&[10, 0, 0, 7])];
        let one = extension_request(&[&[san(&names)]]);
        assert_eq!(
            as_worker1(&csr(us(), std::slice::from_ref(&one)), &p).as_deref(),
            Ok("worker-1"),
            "the hand-made layout itself is approved"
        );
        let two_cns = subject(&[
            ("O", "system:nodes"),
            ("CN", "system:node:worker-1"),
            ("CN", "system:node:worker-2"),
        ]);
        assert_eq!(
            as_worker1(&csr(two_cns, std::slice::from_ref(&one)), &p),
            Err(Refusal::CommonNames(strings(&[
                "system:node:worker-1",
                "system:node:worker-2"
            ])))
        );
        // A second extensionRequest attribute smuggling the kubernetes Service's IP:
        // Go's parser (the signer's) reads both.
        let smuggled = extension_request(&[&[san(&[ip(&[10, 96, 0, 1])])]]);
        let err = as_worker1(&csr(us(), &[one.clone(), smuggled]), &p).unwrap_err();
        assert_eq!(err, Refusal::ExtensionRequests(2));
        assert!(
            err.to_string()
                .contains("holds 2 extensionRequest attributes"),
            "{err}"
        );
        let two_values = extension_request(&[&[san(&names)], &[san(&[dns("worker-1.lan")])]]);
        // Two values in one attribute's SET: x509-parser reads the first only.
        assert_eq!(
            as_worker1(&csr(us(), &[two_values]), &p),
            Err(Refusal::ExtensionRequests(2))
        );
        let two_sans = extension_request(&[&[san(&names), san(&[dns("worker-1.lan")])]]);
        assert_eq!(
            as_worker1(&csr(us(), &[two_sans]), &p),
            Err(Refusal::UncheckedName(crate::x509::csr::OddName::Duplicate))
        );
        let odd: [(Vec<u8>, &str); 3] = [
            (
                other_name("1.3.6.1.4.1.311.20.2.3", "admin@example"),
                "the request names an otherName of type 1.3.6.1.4.1.311.20.2.3; only DNS names and IP addresses are checked and allowed",
            ),
            (
                registered_id("1.2.3.4"),
                "the request names a registeredID 1.2.3.4; only DNS names and IP addresses are checked and allowed",
            ),
            (
                ip(&[10, 0, 0, 7, 1]),
                "the request names an IP address of 5 bytes (neither 4 nor 16); only DNS names and IP addresses are checked and allowed",
            ),
        ];
        for (name, want) in odd {
            let attr = extension_request(&[&[san(&[dns("worker-1"), name])]]);
            let err = as_worker1(&csr(us(), &[attr]), &p).unwrap_err();
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn approves_a_kubelets_request_and_says_why_not_otherwise() {
        let policy = Policy::new(
            Some(r"worker-1(\.nodes\.example)?"),
            vec![Cidr::parse("10.0.0.0/8").unwrap()],
            2,
            Duration::days(30),
        )
        .unwrap();
        let facts = cluster();
        let pem = csr(
            "system:node:worker-1",
            &["system:nodes"],
            &["worker-1", "worker-1.nodes.example"],
            &["10.0.0.7"],
            KeyAlgorithm::EcdsaP256,
        );
        let groups = strings(GROUPS);
        let usages = strings(USAGES);
        let ok = Request {
            username: "system:node:worker-1",
            groups: &groups,
            usages: &usages,
            expiration_seconds: Some(86_400),
            csr_pem: pem.as_bytes(),
        };
        assert_eq!(judge(&ok, &policy, &facts).as_deref(), Ok("worker-1"));
        let refused = |r: Request<'_>| judge(&r, &policy, &facts).unwrap_err();
        assert_eq!(
            refused(Request {
                username: "alice",
                ..ok
            }),
            Refusal::NotANode("alice".into())
        );
        let no_group = strings(&["system:authenticated"]);
        assert!(matches!(
            refused(Request {
                groups: &no_group,
                ..ok
            }),
            Refusal::NotInNodesGroup { .. }
        ));
        assert!(matches!(
            refused(Request {
                username: "system:node:worker-2",
                ..ok
            }),
            Refusal::CommonName { .. }
        ));
        let with_ke = strings(&["digital signature", "key encipherment", "server auth"]);
        assert!(matches!(
            refused(Request {
                usages: &with_ke,
                ..ok
            }),
            Refusal::Usages { .. }
        ));
        let client = strings(&["digital signature", "client auth"]);
        assert!(matches!(
            refused(Request {
                usages: &client,
                ..ok
            }),
            Refusal::Usages { .. }
        ));
        assert_eq!(
            refused(Request {
                expiration_seconds: Some(31 * 86_400),
                ..ok
            }),
            Refusal::Validity {
                requested: 31 * 86_400,
                max: 30 * 86_400
            }
        );
        assert!(matches!(
            refused(Request {
                csr_pem: b"junk",
                ..ok
            }),
            Refusal::BadCsr(_)
        ));
        // An RSA key may ask key encipherment.
        let rsa = csr(
            "system:node:worker-1",
            &["system:nodes"],
            &["worker-1.nodes.example"],
            &[],
            KeyAlgorithm::Rsa2048,
        );
        assert!(
            judge(
                &Request {
                    usages: &with_ke,
                    csr_pem: rsa.as_bytes(),
                    ..ok
                },
                &policy,
                &facts
            )
            .is_ok(),
            "RSA with key encipherment"
        );
        let cases: [(&[&str], &[&str], &[&str]); 4] = [
            (&["system:masters"], &["worker-1"], &[]),
            (&["system:nodes"], &[], &[]),
            (&["system:nodes"], &["evil.example"], &[]),
            (&["system:nodes"], &["worker-1.lan"], &[]),
        ];
        let got: Vec<String> = cases
            .iter()
            .map(|(o, d, i)| {
                let pem = csr("system:node:worker-1", o, d, i, KeyAlgorithm::EcdsaP256);
                refused(Request {
                    csr_pem: pem.as_bytes(),
                    ..ok
                })
                .to_string()
            })
            .collect();
        assert!(got[0].contains("must be exactly"), "{got:?}");
        assert!(got[1].contains("neither a DNS name nor an IP"), "{got:?}");
        assert!(
            got[2].contains("\"evil.example\" is neither the node name"),
            "{got:?}"
        );
        assert!(got[3].contains("does not match --dns-regex"), "{got:?}");
        // Within the prefixes is not enough: the node must own the address.
        let other = csr(
            "system:node:worker-1",
            &["system:nodes"],
            &["worker-1"],
            &["10.0.0.99"],
            KeyAlgorithm::EcdsaP256,
        );
        assert!(matches!(
            refused(Request {
                csr_pem: other.as_bytes(),
                ..ok
            }),
            Refusal::IpNotTheNodes { .. }
        ));
    }
}
