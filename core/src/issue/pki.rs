//! Generating a complete kubeadm-style PKI for one control-plane node: three
//! CAs, the seven leaf certificates, the service-account key pair and the
//! kubeconfigs, with the subjects and SANs of docs/kubeadm.md, Subjects and SANs per row.

use std::net::IpAddr;

use rand_core::CryptoRng;
use thiserror::Error;
use time::OffsetDateTime;

use crate::issue::leaf::{self, LeafSpec, RenewError, RenewOptions, SigningCa};
use crate::kubeadm::inventory::{Ca, Usage};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::version::{self, KubernetesVersion};
use crate::x509::certificate::ExtendedKeyUsage;
use crate::x509::encoding;
use crate::x509::keys::{KeyAlgorithm, PrivateKey};

/// What the node looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiOptions {
    /// The node name (`kubeadm init --node-name`).
    pub node_name: String,
    /// The API server advertise address.
    pub advertise_address: IpAddr,
    /// The service CIDR; its first address is the `kubernetes` service IP.
    pub service_cidr: String,
    /// The cluster DNS domain.
    pub dns_domain: String,
    /// The control-plane endpoint (`host` or `host:port`); defaults to the advertise address.
    pub control_plane_endpoint: Option<String>,
    /// Extra apiserver SANs (`apiServer.certSANs`): DNS names or IPs.
    pub extra_sans: Vec<String>,
    /// Key algorithm for every key.
    pub key_algorithm: KeyAlgorithm,
    /// Leaf validity.
    pub validity: time::Duration,
    /// Leave out etcd (external etcd).
    pub external_etcd: bool,
    /// The API server's port on this node (`localAPIEndpoint.bindPort`): the
    /// local kubeconfigs' port, and the endpoint's when it has none.
    pub bind_port: u16,
    /// The cluster's Kubernetes release, when known: what kubeadm writes
    /// differs by release (apiserver-kubelet-client's O).
    pub kubernetes_version: Option<KubernetesVersion>,
}

impl PkiOptions {
    /// The built-in example node used by the README and the tests.
    pub fn example() -> Self {
        Self {
            node_name: "cp-1".into(),
            advertise_address: IpAddr::from([192, 168, 10, 11]),
            service_cidr: "10.96.0.0/12".into(),
            dns_domain: "cluster.local".into(),
            control_plane_endpoint: Some("k8s.example.internal:6443".into()),
            extra_sans: vec![],
            key_algorithm: KeyAlgorithm::Rsa2048,
            validity: leaf::DEFAULT_VALIDITY,
            external_etcd: false,
            bind_port: DEFAULT_BIND_PORT,
            kubernetes_version: None,
        }
    }
}

/// kubeadm's default `localAPIEndpoint.bindPort`.
pub const DEFAULT_BIND_PORT: u16 = 6443;

/// Why a PKI could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PkiError {
    /// The service CIDR is not `address/prefix`.
    #[error("invalid service CIDR {0:?}: expected e.g. 10.96.0.0/12")]
    BadServiceCidr(String),
    /// Issuing failed.
    #[error(transparent)]
    Issue(#[from] RenewError),
    /// A file to share with a joining node is missing or does not parse.
    #[error("pki/{0} of the first node is missing or does not parse; a joining node needs it")]
    Shared(String),
}

/// One generated file.
#[derive(Clone)]
pub struct GeneratedFile {
    /// Where it goes.
    pub path: NodePath,
    /// Its contents.
    pub bytes: Vec<u8>,
    /// Whether it holds a private key (written 0600).
    pub secret: bool,
}

impl std::fmt::Debug for GeneratedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GeneratedFile({}, {} bytes)",
            self.path,
            self.bytes.len()
        )
    }
}

/// A generated node: every file, in a stable order.
#[derive(Debug, Clone)]
pub struct GeneratedNode {
    /// The files.
    pub files: Vec<GeneratedFile>,
}

impl NodeFiles {
    /// The node files of a generated PKI.
    pub fn from_generated(node: &GeneratedNode) -> Self {
        let mut files = NodeFiles::default();
        for f in &node.files {
            files.insert(f.path.clone(), f.bytes.clone());
        }
        files
    }
}

pub use crate::kubeadm::alt_names::first_service_ip;
use crate::kubeadm::alt_names::{self, AltNames};
use crate::kubeadm::endpoint::{join_host_port, with_default_port};

fn with_sans(mut spec: LeafSpec, names: &AltNames) -> LeafSpec {
    spec.dns_names = names.dns.clone();
    spec.ip_addresses = names.ips.clone();
    spec
}

fn leaf(cn: &str, org: Option<&str>, usage: Usage) -> LeafSpec {
    LeafSpec {
        common_name: cn.into(),
        organizations: org.map(|o| vec![o.to_string()]).unwrap_or_default(),
        extended_key_usage: usage.extended_key_usages(),
        ..LeafSpec::default()
    }
}

/// Generates the PKI and kubeconfigs for `opts` as of `now`.
pub fn generate<R: CryptoRng + ?Sized>(
    opts: &PkiOptions,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<GeneratedNode, PkiError> {
    generate_inner(opts, None, now, rng)
}

/// Generates another control-plane node of the cluster `first` belongs to, as
/// `kubeadm join --control-plane` does after the CAs and `sa.key`/`sa.pub` were
/// copied over: the same CAs and service-account keys, its own leaves and kubeconfigs.
pub fn generate_joined<R: CryptoRng + ?Sized>(
    opts: &PkiOptions,
    first: &NodeFiles,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<GeneratedNode, PkiError> {
    generate_inner(opts, Some(first), now, rng)
}

fn shared_bytes<'a>(first: &'a NodeFiles, rel: &str) -> Result<&'a [u8], PkiError> {
    match first.get(&NodePath::cert(rel)) {
        Some(crate::kubeadm::node::FileContent::Bytes(b)) => Ok(b),
        _ => Err(PkiError::Shared(rel.to_string())),
    }
}

fn shared_ca(first: &NodeFiles, ca: Ca) -> Result<SigningCa, PkiError> {
    let cert = crate::x509::certificate::parse_first(shared_bytes(first, &ca.cert_file())?)
        .map_err(|_| PkiError::Shared(ca.cert_file()))?;
    let key = PrivateKey::parse(shared_bytes(first, &ca.key_file())?)
        .map_err(|_| PkiError::Shared(ca.key_file()))?;
    Ok(SigningCa::new(cert, key)?)
}

fn generate_inner<R: CryptoRng + ?Sized>(
    opts: &PkiOptions,
    shared: Option<&NodeFiles>,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<GeneratedNode, PkiError> {
    // Checked here so a bad CIDR is an error, not a missing SAN.
    first_service_ip(&opts.service_cidr)
        .ok_or_else(|| PkiError::BadServiceCidr(opts.service_cidr.clone()))?;
    let renew_opts = RenewOptions {
        key_algorithm: opts.key_algorithm,
        validity: opts.validity,
    };
    let mut files = Vec::new();
    let put_pair =
        |base: &str, cert_pem: String, key_pem: String, files: &mut Vec<GeneratedFile>| {
            files.push(GeneratedFile {
                path: NodePath::cert(format!("{base}.crt")),
                bytes: cert_pem.into_bytes(),
                secret: false,
            });
            files.push(GeneratedFile {
                path: NodePath::cert(format!("{base}.key")),
                bytes: key_pem.into_bytes(),
                secret: true,
            });
        };

    let mut cas = Vec::new();
    for ca in Ca::ALL {
        if opts.external_etcd && ca == Ca::EtcdCa {
            continue;
        }
        let signing = match shared {
            Some(first) => shared_ca(first, ca)?,
            None => leaf::issue_ca(ca.common_name(), opts.key_algorithm, now, rng)?,
        };
        put_pair(
            ca.base(),
            signing.cert.to_pem(),
            signing.key.to_pem(),
            &mut files,
        );
        cas.push((ca, signing));
    }
    let ca_of = |which: Ca| -> Result<&SigningCa, PkiError> {
        cas.iter()
            .find(|(c, _)| *c == which)
            .map(|(_, s)| s)
            .ok_or_else(|| {
                RenewError::Build(format!("the {} CA was not generated", which.name())).into()
            })
    };

    let leaves = leaf_specs(opts);
    for (base, ca, spec) in &leaves {
        let issued = leaf::issue(spec, ca_of(*ca)?, &renew_opts, now, rng)?;
        put_pair(base, issued.cert_pem(), issued.key_pem(), &mut files);
    }

    // Service-account signing key pair: a key, not a certificate.
    let (sa_key, sa_pub) = match shared {
        Some(first) => (
            shared_bytes(first, "sa.key")?.to_vec(),
            shared_bytes(first, "sa.pub")?.to_vec(),
        ),
        None => {
            let sa = PrivateKey::generate(opts.key_algorithm, rng).map_err(RenewError::from)?;
            (sa.to_pem().into_bytes(), public_key_pem(&sa).into_bytes())
        }
    };
    files.push(GeneratedFile {
        path: NodePath::cert("sa.key"),
        bytes: sa_key,
        secret: true,
    });
    files.push(GeneratedFile {
        path: NodePath::cert("sa.pub"),
        bytes: sa_pub,
        secret: false,
    });

    let ca = ca_of(Ca::Ca)?;
    let ca_pem = ca.cert.to_pem();
    for conf in kubeconfig_specs(opts) {
        let (file, cn, org, server) = (
            conf.file,
            conf.client_name.as_str(),
            conf.organization,
            &conf.server,
        );
        let issued = leaf::issue(&leaf(cn, org, Usage::Client), ca, &renew_opts, now, rng)?;
        let kc = Kubeconfig::build(
            "kubernetes",
            server,
            cn,
            ca_pem.as_bytes(),
            &issued.cert_pem(),
            &issued.key_pem(),
        );
        let yaml = kc.to_yaml().map_err(|e| RenewError::Build(e.to_string()))?;
        files.push(GeneratedFile {
            path: NodePath::kubeconfig(file),
            bytes: yaml.into_bytes(),
            secret: true,
        });
    }
    Ok(GeneratedNode { files })
}

/// The control-plane endpoint: the one given, else the advertise address on
/// the bind port (`[fd00::10]:6443` for an IPv6 address, as kubeadm joins it).
fn control_plane_endpoint(opts: &PkiOptions) -> String {
    opts.control_plane_endpoint
        .clone()
        .unwrap_or_else(|| join_host_port(&opts.advertise_address.to_string(), opts.bind_port))
}

/// The leaf certificates kubeadm makes for a node, in kubeadm's order
/// (GetDefaultCertList): base file name, signing CA and what the certificate says
/// (subjects, SANs by kubeadm's rules, usages). Without etcd when `opts.external_etcd`.
pub fn leaf_specs(opts: &PkiOptions) -> Vec<(&'static str, Ca, LeafSpec)> {
    let endpoint = control_plane_endpoint(opts);
    let (api_names, _) = alt_names::apiserver(&alt_names::ApiServerInputs {
        node_name: Some(&opts.node_name),
        advertise_address: Some(opts.advertise_address),
        service_subnet: &opts.service_cidr,
        dns_domain: &opts.dns_domain,
        control_plane_endpoint: Some(&endpoint),
        cert_sans: &opts.extra_sans,
    });
    let apiserver = with_sans(leaf("kube-apiserver", None, Usage::Server), &api_names);
    let (etcd_names, _) = alt_names::etcd(Some(&opts.node_name), Some(opts.advertise_address), &[]);
    let etcd_server = with_sans(
        leaf(&opts.node_name, None, Usage::ServerAndClient),
        &etcd_names,
    );

    let mut leaves: Vec<(&'static str, Ca, LeafSpec)> = vec![
        ("apiserver", Ca::Ca, apiserver),
        (
            "apiserver-kubelet-client",
            Ca::Ca,
            leaf(
                "kube-apiserver-kubelet-client",
                version::apiserver_kubelet_client_organization(opts.kubernetes_version),
                Usage::Client,
            ),
        ),
        (
            "front-proxy-client",
            Ca::FrontProxyCa,
            leaf("front-proxy-client", None, Usage::Client),
        ),
    ];
    if !opts.external_etcd {
        leaves.push(("etcd/server", Ca::EtcdCa, etcd_server.clone()));
        leaves.push(("etcd/peer", Ca::EtcdCa, etcd_server));
        leaves.push((
            "etcd/healthcheck-client",
            Ca::EtcdCa,
            leaf("kube-etcd-healthcheck-client", None, Usage::Client),
        ));
        leaves.push((
            "apiserver-etcd-client",
            Ca::EtcdCa,
            leaf("kube-apiserver-etcd-client", None, Usage::Client),
        ));
    }
    leaves
}

/// One kubeconfig kubeadm writes (getKubeConfigSpecsBase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigSpec {
    /// The file name in the kubeconfig dir.
    pub file: &'static str,
    /// The user and certificate CN.
    pub client_name: String,
    /// The certificate's O, if any.
    pub organization: Option<&'static str>,
    /// The API server URL: the control-plane endpoint, or the local one for the
    /// controller-manager and scheduler.
    pub server: String,
}

/// The kubeconfigs kubeadm writes for a node, with their users and servers.
pub fn kubeconfig_specs(opts: &PkiOptions) -> Vec<KubeconfigSpec> {
    let endpoint = control_plane_endpoint(opts);
    let local = format!(
        "https://{}",
        join_host_port(&opts.advertise_address.to_string(), opts.bind_port)
    );
    // kubeadm's GetControlPlaneEndpoint: an endpoint without a port takes the bind port.
    let public = format!("https://{}", with_default_port(&endpoint, opts.bind_port));
    let spec = |file, client_name: String, organization, server: &String| KubeconfigSpec {
        file,
        client_name,
        organization,
        server: server.clone(),
    };
    vec![
        spec(
            "admin.conf",
            "kubernetes-admin".into(),
            Some("kubeadm:cluster-admins"),
            &public,
        ),
        spec(
            "super-admin.conf",
            "kubernetes-super-admin".into(),
            Some("system:masters"),
            &public,
        ),
        spec(
            "controller-manager.conf",
            "system:kube-controller-manager".into(),
            None,
            &local,
        ),
        spec(
            "scheduler.conf",
            "system:kube-scheduler".into(),
            None,
            &local,
        ),
        spec(
            "kubelet.conf",
            format!("system:node:{}", opts.node_name),
            Some("system:nodes"),
            &public,
        ),
    ]
}

/// A client certificate's spec for a kubeconfig user.
pub fn client_spec(cn: &str, org: Option<&str>) -> LeafSpec {
    leaf(cn, org, Usage::Client)
}

/// The public half of a key as a PEM `PUBLIC KEY` (PKIX), like kubeadm's sa.pub.
pub fn public_key_pem(key: &PrivateKey) -> String {
    let spki = crate::x509::keys::spki_der(key);
    encoding::to_pem("PUBLIC KEY", &spki)
}

/// Whether `usage` fits what the certificate carries (used by tests and checks).
pub fn has_usage(ekus: &[ExtendedKeyUsage], usage: Usage) -> bool {
    usage.extended_key_usages().iter().all(|u| ekus.contains(u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_service_ip_matches_kubeadm() {
        assert_eq!(
            first_service_ip("10.96.0.0/12"),
            Some("10.96.0.1".parse().unwrap())
        );
        assert_eq!(
            first_service_ip("10.100.5.7/16"),
            Some("10.100.0.1".parse().unwrap())
        );
        assert_eq!(
            first_service_ip("fd00::/108"),
            Some("fd00::1".parse().unwrap())
        );
        assert_eq!(first_service_ip("10.96.0.0"), None);
        assert_eq!(first_service_ip("10.96.0.0/33"), None);
    }

    #[test]
    fn without_an_endpoint_the_servers_are_the_advertise_address_in_brackets_for_ipv6() {
        let opts = PkiOptions {
            advertise_address: "fd00::10".parse().unwrap(),
            control_plane_endpoint: None,
            ..PkiOptions::example()
        };
        for spec in kubeconfig_specs(&opts) {
            assert_eq!(spec.server, "https://[fd00::10]:6443", "{}", spec.file);
        }
        let v4 = PkiOptions {
            control_plane_endpoint: None,
            ..PkiOptions::example()
        };
        let server = format!("https://{}:6443", v4.advertise_address);
        assert!(kubeconfig_specs(&v4).iter().all(|s| s.server == server));
    }
}
