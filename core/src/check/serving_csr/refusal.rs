//! Why a kubelet serving request is not approved: one variant per rule, carrying
//! the name, address or value that broke it. The message is what `kcerts approve
//! kubelet-serving` prints and writes on the request's Denied condition.

use std::net::IpAddr;

use thiserror::Error;

use crate::x509::csr::OddName;
use crate::x509::strength::Weakness;

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
    /// Weak cryptography ([`crate::x509::strength`]): a SHA-1 or MD5 signature, an
    /// RSA key under 2048 bits.
    #[error("the request is weak: {0}")]
    Weak(Weakness),
    /// More than one extensionRequest attribute or value: the Kubernetes signer
    /// reads the names of every one.
    #[error(
        "the request holds {0} extensionRequest attributes (or values of one); a kubelet \
         writes one, and the signer would issue the names of all of them"
    )]
    ExtensionRequests(usize),
    /// More than one CN: readers disagree on which one is the subject.
    #[error(
        "the request's subject has {} CNs ({}); a kubelet's has exactly one",
        .0.len(),
        .0.join(", ")
    )]
    CommonNames(Vec<String>),
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
    /// A SAN of a kind this approver does not check, or that does not parse.
    #[error("the request names {0}; only DNS names and IP addresses are checked and allowed")]
    UncheckedName(OddName),
    /// No DNS name and no IP.
    #[error("the request names neither a DNS name nor an IP address")]
    NoNames,
    /// Email addresses requested.
    #[error("the request names email addresses {0:?}; none are allowed")]
    Email(Vec<String>),
    /// URIs requested.
    #[error("the request names URIs {0:?}; none are allowed")]
    Uri(Vec<String>),
    /// The requester has no Node object: nothing to prove its names against.
    #[error(
        "node {0:?} has no Node object: its addresses cannot be checked (is the node \
         registered, and may the approver list nodes?)"
    )]
    NoNode(String),
    /// A DNS name that is not a lowercase RFC 1123 name.
    #[error("DNS name {0:?} is not a lowercase RFC 1123 DNS name")]
    DnsSyntax(String),
    /// A DNS name that is not the node name nor under it.
    #[error("DNS name {name:?} is neither the node name {node:?} nor starts with \"{node}.\"")]
    DnsName {
        /// The name.
        name: String,
        /// The node.
        node: String,
    },
    /// A DNS name that is a Service's in-cluster name.
    #[error("DNS name {0:?} is a Service's in-cluster name (NAME.NAMESPACE.svc...), not a node's")]
    DnsServiceName(String),
    /// A DNS name `--dns-regex` does not match.
    #[error("DNS name {name:?} does not match --dns-regex {regex:?}")]
    DnsRegex {
        /// The name.
        name: String,
        /// The expression, as given.
        regex: String,
    },
    /// More DNS names than `--max-dns-names`.
    #[error(
        "the request names {} DNS names besides the node's Hostname address ({}); at most \
         {max} are allowed (--max-dns-names)",
        .names.len(),
        .names.join(", ")
    )]
    DnsCount {
        /// The names counted.
        names: Vec<String>,
        /// The limit.
        max: usize,
    },
    /// An address no node serves others on (loopback, unspecified, multicast).
    #[error("IP address {ip} is a {kind} address; a node is never reached on it")]
    IpNotServing {
        /// The address (IPv4-mapped IPv6 shown as IPv4).
        ip: IpAddr,
        /// `loopback`, `unspecified` or `multicast`.
        kind: &'static str,
    },
    /// The `kubernetes` Service's cluster IP.
    #[error(
        "IP address {ip} is the cluster IP of the kubernetes Service (default/kubernetes): \
         every pod reaches the API server on it"
    )]
    IpKubernetesService {
        /// The address.
        ip: IpAddr,
    },
    /// An address within the service range.
    #[error("IP address {ip} is within the service range {range}: it belongs to Services")]
    IpServiceRange {
        /// The address.
        ip: IpAddr,
        /// The range (a ServiceCIDR's).
        range: String,
    },
    /// An address the API server is reached on.
    #[error(
        "IP address {ip} is an address of the API server (the kubernetes EndpointSlice in \
         default, or the server this approver talks to): a certificate for it would let its \
         holder pose as the API server; if this node's kubelet must serve on it, approve it \
         by hand after checking"
    )]
    IpApiServer {
        /// The address.
        ip: IpAddr,
    },
    /// An address of another Node.
    #[error("IP address {ip} is an address of another node, {other:?} ({kind})")]
    IpOtherNode {
        /// The address.
        ip: IpAddr,
        /// The node it belongs to.
        other: String,
        /// The address type there (InternalIP...).
        kind: String,
    },
    /// An address in another Node's pod range.
    #[error("IP address {ip} is within the pod range {range} of another node, {other:?}")]
    IpOtherNodesPods {
        /// The address.
        ip: IpAddr,
        /// The node.
        other: String,
        /// Its pod CIDR.
        range: String,
    },
    /// An address that is not one of the node's own.
    #[error(
        "IP address {ip} is not one of node {node:?}'s InternalIP or ExternalIP addresses \
         ({addresses})"
    )]
    IpNotTheNodes {
        /// The address.
        ip: IpAddr,
        /// The node.
        node: String,
        /// Its InternalIP and ExternalIP addresses, comma-separated (`none` when it has none).
        addresses: String,
    },
    /// An IP outside the allowed prefixes.
    #[error("IP address {ip} is not within --allowed-ip-prefixes ({allowed})")]
    IpPrefixes {
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
