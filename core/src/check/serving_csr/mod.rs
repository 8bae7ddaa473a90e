//! Whether a kubelet's serving certificate request (signer
//! `kubernetes.io/kubelet-serving`) may be approved: the checks that
//! postfinance/kubelet-csr-approver documents, in kcerts' words. The requester is
//! a node (`system:node:NAME` in group `system:nodes`); the request's subject is
//! that node (CN `system:node:NAME`, O exactly `system:nodes`); its usages are
//! exactly digital signature and server auth, plus key encipherment for an RSA key;
//! it names at least one DNS name or IP and no email or URI; each DNS name starts
//! with the node name or matches the `--dns-regex`; each IP falls within the
//! allowed prefixes; its requested lifetime is within the maximum.
//!
//! Where kcerts differs: the API server's own validation (`ValidateKubeletServingCSR`)
//! accepts key encipherment for any key; kcerts only for RSA keys, the only ones it
//! serves (the kubelet asks it for RSA keys only). kubelet-csr-approver allows one
//! DNS name and resolves it in DNS; kcerts allows several and resolves nothing.

use std::net::IpAddr;

use thiserror::Error;
use time::Duration;

use crate::kubeadm::cidr::Cidr;
use crate::kubeadm::role::{KUBELET_CN_PREFIX, KUBELET_ORG};
use crate::x509::csr;

/// The signer of kubelet serving certificates.
pub const KUBELET_SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";

/// kubelet-csr-approver's default maximum `expirationSeconds`: 367 days.
pub const DEFAULT_MAX_VALIDITY: Duration = Duration::days(367);

/// The usages allowed, as the certificates API spells them.
const DIGITAL_SIGNATURE: &str = "digital signature";
const KEY_ENCIPHERMENT: &str = "key encipherment";
const SERVER_AUTH: &str = "server auth";

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
    /// DNS names that need not start with the node name (matched whole).
    pub dns_regex: Option<regex::Regex>,
    /// IP SANs must fall within one of these.
    pub allowed_ip_prefixes: Vec<Cidr>,
    /// The longest `expirationSeconds` approved.
    pub max_validity: Duration,
}

impl Policy {
    /// A policy; `dns_regex` is anchored (the whole name must match).
    pub fn new(
        dns_regex: Option<&str>,
        allowed_ip_prefixes: Vec<Cidr>,
        max_validity: Duration,
    ) -> Result<Self, regex::Error> {
        let dns_regex = dns_regex
            .map(|r| regex::Regex::new(&format!("^(?:{r})$")))
            .transpose()?;
        Ok(Self {
            dns_regex,
            allowed_ip_prefixes,
            max_validity,
        })
    }

    /// Every IPv4 and IPv6 address (kubelet-csr-approver's default).
    pub fn any_ip() -> Vec<Cidr> {
        ["0.0.0.0/0", "::/0"]
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .collect()
    }
}

/// Why a request is not approved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The requester is not a node.
    #[error("the requester {0:?} is not a node (system:node:NAME)")]
    NotANode(String),
    /// The requester is not in the nodes' group.
    #[error("the requester {user:?} is not in group system:nodes (groups: {groups})")]
    NotInNodesGroup {
        /// The requester.
        user: String,
        /// Its groups, comma-separated.
        groups: String,
    },
    /// `spec.request` is not a CSR with a valid signature.
    #[error("spec.request is not a valid certificate request: {0}")]
    BadCsr(String),
    /// The CN is not the requester.
    #[error("the request's CN {cn:?} is not its requester {user:?}")]
    CommonName {
        /// The CN found.
        cn: String,
        /// The requester.
        user: String,
    },
    /// O is not exactly `system:nodes`.
    #[error("the request's O is {0:?}; it must be exactly [\"system:nodes\"]")]
    Organization(Vec<String>),
    /// The usages are not a kubelet server's.
    #[error(
        "usages {usages:?} are not exactly digital signature and server auth (plus key \
         encipherment for an RSA key; this key is {key})"
    )]
    Usages {
        /// The usages requested.
        usages: Vec<String>,
        /// The key's kind.
        key: String,
    },
    /// No DNS name and no IP.
    #[error("the request names neither a DNS name nor an IP address")]
    NoNames,
    /// Email addresses requested.
    #[error("the request names email addresses {0:?}; none are allowed")]
    Email(Vec<String>),
    /// URIs requested.
    #[error("the request names URIs {0:?}; none are allowed")]
    Uri(Vec<String>),
    /// A DNS name that is not the node's.
    #[error("DNS name {name:?} neither starts with the node name {node:?} nor matches --dns-regex")]
    DnsName {
        /// The name.
        name: String,
        /// The node.
        node: String,
    },
    /// An IP outside the allowed prefixes.
    #[error("IP address {ip} is not within --allowed-ip-prefixes ({allowed})")]
    IpAddress {
        /// The address.
        ip: IpAddr,
        /// The prefixes, comma-separated.
        allowed: String,
    },
    /// Too long a lifetime requested.
    #[error("expirationSeconds {requested} is more than --max-validity ({max} seconds)")]
    Validity {
        /// Requested seconds.
        requested: i64,
        /// Allowed seconds.
        max: i64,
    },
}

/// Judges one request: the node it is for, or why it is refused.
pub fn judge(req: &Request<'_>, policy: &Policy) -> Result<String, Refusal> {
    let node = req
        .username
        .strip_prefix(KUBELET_CN_PREFIX)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Refusal::NotANode(req.username.to_string()))?;
    if !req.groups.iter().any(|g| g == KUBELET_ORG) {
        return Err(Refusal::NotInNodesGroup {
            user: req.username.to_string(),
            groups: req.groups.join(", "),
        });
    }
    let csr = csr::parse(req.csr_pem).map_err(|e| Refusal::BadCsr(e.to_string()))?;
    if !csr.signature_valid {
        return Err(Refusal::BadCsr("its signature does not verify".into()));
    }
    let cn = csr.common_name.clone().unwrap_or_default();
    if cn != req.username {
        return Err(Refusal::CommonName {
            cn,
            user: req.username.to_string(),
        });
    }
    if csr.organizations != [KUBELET_ORG] {
        return Err(Refusal::Organization(csr.organizations.clone()));
    }
    let rsa = csr.public_key.starts_with("RSA ");
    let mut usages: Vec<&str> = req.usages.iter().map(String::as_str).collect();
    usages.sort_unstable();
    usages.dedup();
    let plain = [DIGITAL_SIGNATURE, SERVER_AUTH];
    let with_ke = [DIGITAL_SIGNATURE, KEY_ENCIPHERMENT, SERVER_AUTH];
    if usages != plain && !(rsa && usages == with_ke) {
        return Err(Refusal::Usages {
            usages: req.usages.to_vec(),
            key: csr.public_key.clone(),
        });
    }
    if csr.dns_names.is_empty() && csr.ip_addresses.is_empty() {
        return Err(Refusal::NoNames);
    }
    if !csr.email_addresses.is_empty() {
        return Err(Refusal::Email(csr.email_addresses.clone()));
    }
    if !csr.uris.is_empty() {
        return Err(Refusal::Uri(csr.uris.clone()));
    }
    for name in &csr.dns_names {
        let by_regex = policy.dns_regex.as_ref().is_some_and(|r| r.is_match(name));
        if !name.starts_with(node) && !by_regex {
            return Err(Refusal::DnsName {
                name: name.clone(),
                node: node.to_string(),
            });
        }
    }
    for ip in &csr.ip_addresses {
        if !policy.allowed_ip_prefixes.iter().any(|c| c.contains(*ip)) {
            return Err(Refusal::IpAddress {
                ip: *ip,
                allowed: policy
                    .allowed_ip_prefixes
                    .iter()
                    .map(Cidr::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    if let Some(s) = req.expiration_seconds
        && s > policy.max_validity.whole_seconds()
    {
        return Err(Refusal::Validity {
            requested: s,
            max: policy.max_validity.whole_seconds(),
        });
    }
    Ok(node.to_string())
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn approves_a_kubelets_request_and_says_why_not_otherwise() {
        let policy = Policy::new(
            Some(r"[a-z0-9-]+\.nodes\.example"),
            vec![Cidr::parse("10.0.0.0/8").unwrap()],
            Duration::days(30),
        )
        .unwrap();
        let pem = csr(
            "system:node:worker-1",
            &["system:nodes"],
            &["worker-1", "worker-1.lan"],
            &["10.0.0.7"],
            KeyAlgorithm::EcdsaP256,
        );
        let groups = strings(&["system:nodes", "system:authenticated"]);
        let usages = strings(&["digital signature", "server auth"]);
        let ok = Request {
            username: "system:node:worker-1",
            groups: &groups,
            usages: &usages,
            expiration_seconds: Some(86_400),
            csr_pem: pem.as_bytes(),
        };
        assert_eq!(judge(&ok, &policy).as_deref(), Ok("worker-1"));
        let refused = |r: Request<'_>| judge(&r, &policy).unwrap_err();
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
            &["w.nodes.example"],
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
                &policy
            )
            .is_ok(),
            "RSA with key encipherment; a DNS name by the regex"
        );
        let cases: [(&[&str], &[&str], &[&str]); 4] = [
            (&["system:masters"], &["worker-1"], &[]),
            (&["system:nodes"], &[], &[]),
            (&["system:nodes"], &["evil.example"], &[]),
            (&["system:nodes"], &["worker-1"], &["192.168.0.1"]),
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
        assert!(got[2].contains("\"evil.example\""), "{got:?}");
        assert!(
            got[3].contains("192.168.0.1") && got[3].contains("10.0.0.0/8"),
            "{got:?}"
        );
    }
}
