//! kubeadm's configuration, reduced to what decides certificates: the documents
//! of a `--config` file (kubeadm.k8s.io/v1beta3 or v1beta4 InitConfiguration,
//! ClusterConfiguration, JoinConfiguration, as `kubeadm config print
//! init-defaults` writes them) or the ClusterConfiguration held by the
//! `kubeadm-config` ConfigMap. Unknown fields and other kinds
//! (KubeletConfiguration...) are ignored, as kubeadm's lenient decoding does; a
//! field kcerts reads with a bad value is named.

use std::net::IpAddr;

use serde_json::Value;
use thiserror::Error;
use time::Duration;

use crate::kubeadm::alt_names::{self, AltNames, SanError};
use crate::kubeadm::duration;
use crate::kubeadm::version::{self, KubernetesVersion};
use crate::kubeadm::yaml::{self, YamlError};
use crate::x509::keys::KeyAlgorithm;

/// kubeadm's `constants.CertificateValidityPeriod` (one year).
pub const DEFAULT_CERTIFICATE_VALIDITY: Duration = Duration::days(365);
/// kubeadm's `constants.CACertificateValidityPeriod` (ten years).
pub const DEFAULT_CA_CERTIFICATE_VALIDITY: Duration = Duration::days(3650);
/// kubeadm's default `certificatesDir`.
pub const DEFAULT_CERTIFICATES_DIR: &str = "/etc/kubernetes/pki";
/// kubeadm's default `networking.serviceSubnet`.
pub const DEFAULT_SERVICE_SUBNET: &str = "10.96.0.0/12";
/// kubeadm's default `networking.dnsDomain`.
pub const DEFAULT_DNS_DOMAIN: &str = "cluster.local";

/// The kubeadm API versions kcerts reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `kubeadm.k8s.io/v1beta3` (kubeadm 1.22+).
    V1beta3,
    /// `kubeadm.k8s.io/v1beta4` (kubeadm 1.31+).
    V1beta4,
}

/// What kcerts takes from a kubeadm configuration. `None` and empty lists mean
/// the field is absent (kubeadm's default applies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The API version of the ClusterConfiguration (or of the first kubeadm document).
    pub api_version: Option<ApiVersion>,
    /// `certificatesDir`.
    pub certificates_dir: Option<String>,
    /// `encryptionAlgorithm` (v1beta4, kubeadm's exact names), or from the
    /// `PublicKeysECDSA` feature gate where kubeadm still knows it (v1.36 and
    /// older, v1beta3 and v1beta4): ECDSA-P256 when true, RSA-2048 when false,
    /// over `encryptionAlgorithm`.
    pub encryption_algorithm: Option<KeyAlgorithm>,
    /// `certificateValidityPeriod` (v1beta4).
    pub certificate_validity: Option<Duration>,
    /// `caCertificateValidityPeriod` (v1beta4).
    pub ca_certificate_validity: Option<Duration>,
    /// `etcd.external` is set: no etcd rows and no etcd CA on this node.
    pub external_etcd: bool,
    /// `etcd.local.serverCertSANs`.
    pub etcd_server_sans: Vec<String>,
    /// `etcd.local.peerCertSANs`.
    pub etcd_peer_sans: Vec<String>,
    /// `apiServer.certSANs`.
    pub cert_sans: Vec<String>,
    /// `controlPlaneEndpoint`.
    pub control_plane_endpoint: Option<String>,
    /// `networking.serviceSubnet`.
    pub service_subnet: Option<String>,
    /// `networking.dnsDomain`.
    pub dns_domain: Option<String>,
    /// `clusterName`.
    pub cluster_name: Option<String>,
    /// `nodeRegistration.name` (InitConfiguration or JoinConfiguration).
    pub node_name: Option<String>,
    /// `localAPIEndpoint.advertiseAddress` (Init) or
    /// `controlPlane.localAPIEndpoint.advertiseAddress` (Join).
    pub advertise_address: Option<IpAddr>,
    /// `localAPIEndpoint.bindPort`.
    pub bind_port: Option<u16>,
    /// `kubernetesVersion`, when it names a release (a label such as `stable`
    /// is resolved online by kubeadm: `None`).
    pub kubernetes_version: Option<KubernetesVersion>,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Not YAML.
    #[error("not a YAML file: {0}")]
    Yaml(#[from] YamlError),
    /// A document without `apiVersion` and `kind`.
    #[error("document {document} has no apiVersion and kind; kubeadm's documents start with both")]
    NoKind {
        /// 1-based document number.
        document: usize,
    },
    /// A kubeadm document of an API version kcerts does not read.
    #[error(
        "{kind} is {api_version}; kcerts reads kubeadm.k8s.io/v1beta3 and v1beta4: convert it \
         with `kubeadm config migrate --old-config FILE --new-config NEW`"
    )]
    UnsupportedVersion {
        /// The kind.
        kind: String,
        /// Its apiVersion.
        api_version: String,
    },
    /// kubeadm.k8s.io/v1beta3 for a release whose kubeadm no longer reads it.
    #[error(
        "{kind} is kubeadm.k8s.io/v1beta3, which kubeadm v1.37 and later (kubernetesVersion \
         {release}) no longer read: convert it with kubeadm v1.36's `kubeadm config migrate \
         --old-config FILE --new-config NEW`"
    )]
    RemovedVersion {
        /// The kind.
        kind: String,
        /// The configuration's kubernetesVersion.
        release: KubernetesVersion,
    },
    /// The same kind twice.
    #[error("{kind} appears more than once; a kubeadm configuration has one of each kind")]
    Duplicate {
        /// The kind.
        kind: String,
    },
    /// Nothing kubeadm would read.
    #[error(
        "no InitConfiguration, ClusterConfiguration or JoinConfiguration \
         (kubeadm.k8s.io/v1beta3 or v1beta4) in it"
    )]
    NoKubeadmDocument,
    /// A field kcerts reads holds a bad value.
    #[error("{kind} {field}: {value} {problem}")]
    BadField {
        /// The kind holding it.
        kind: String,
        /// Its path (`networking.serviceSubnet`).
        field: String,
        /// The value as written.
        value: String,
        /// What is wrong.
        problem: String,
    },
}

/// Parses a kubeadm configuration file (one or more `---`-separated documents).
pub fn parse(text: &str) -> Result<ClusterConfig, ConfigError> {
    let docs = yaml::parse_documents(text, yaml::Limits::default())?;
    let mut cfg = ClusterConfig::default();
    let mut seen: Vec<String> = Vec::new();
    let release = release_of(&docs);
    for (i, doc) in docs.iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let api_version = doc.get("apiVersion").and_then(Value::as_str);
        let kind = doc.get("kind").and_then(Value::as_str);
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            return Err(ConfigError::NoKind { document: i + 1 });
        };
        let Some(version) = api_version.strip_prefix("kubeadm.k8s.io/") else {
            continue; // KubeletConfiguration, KubeProxyConfiguration...
        };
        if !matches!(
            kind,
            "InitConfiguration" | "ClusterConfiguration" | "JoinConfiguration"
        ) {
            continue; // ResetConfiguration, UpgradeConfiguration
        }
        let version = match version {
            "v1beta3" => match release {
                // kubeadm checks the API version before any field.
                Some(release) if !version::reads_v1beta3_and_public_keys_ecdsa(Some(release)) => {
                    return Err(ConfigError::RemovedVersion {
                        kind: kind.into(),
                        release,
                    });
                }
                _ => ApiVersion::V1beta3,
            },
            "v1beta4" => ApiVersion::V1beta4,
            _ => {
                return Err(ConfigError::UnsupportedVersion {
                    kind: kind.into(),
                    api_version: api_version.into(),
                });
            }
        };
        if seen.iter().any(|k| k == kind) {
            return Err(ConfigError::Duplicate { kind: kind.into() });
        }
        seen.push(kind.to_string());
        let doc = Doc { kind, value: doc };
        match kind {
            "ClusterConfiguration" => {
                cfg.api_version = Some(version);
                read_cluster(&doc, version, &mut cfg)?;
            }
            "InitConfiguration" => {
                cfg.api_version.get_or_insert(version);
                cfg.node_name = doc.string("nodeRegistration.name")?;
                cfg.advertise_address = doc.ip("localAPIEndpoint.advertiseAddress")?;
                cfg.bind_port = doc.port("localAPIEndpoint.bindPort")?;
            }
            _ => {
                cfg.api_version.get_or_insert(version);
                cfg.node_name = doc.string("nodeRegistration.name")?;
                cfg.advertise_address = doc.ip("controlPlane.localAPIEndpoint.advertiseAddress")?;
                cfg.bind_port = doc.port("controlPlane.localAPIEndpoint.bindPort")?;
            }
        }
    }
    if seen.is_empty() {
        return Err(ConfigError::NoKubeadmDocument);
    }
    Ok(cfg)
}

/// The ClusterConfiguration's `kubernetesVersion`, looked up before the
/// documents are read: what kubeadm release reads them depends on it.
fn release_of(docs: &[Value]) -> Option<KubernetesVersion> {
    docs.iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some("ClusterConfiguration"))
        .filter(|d| {
            d.get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|a| a.starts_with("kubeadm.k8s.io/"))
        })
        .find_map(|d| d.get("kubernetesVersion").and_then(Value::as_str))
        .and_then(KubernetesVersion::parse)
}

fn read_cluster(
    doc: &Doc<'_>,
    version: ApiVersion,
    cfg: &mut ClusterConfig,
) -> Result<(), ConfigError> {
    cfg.certificates_dir = doc.string("certificatesDir")?;
    if let Some(dir) = &cfg.certificates_dir
        && !dir.starts_with('/')
    {
        return Err(doc.bad("certificatesDir", dir, "is not an absolute path"));
    }
    cfg.kubernetes_version = doc
        .string("kubernetesVersion")?
        .and_then(|v| KubernetesVersion::parse(&v));
    if version == ApiVersion::V1beta4 {
        if let Some(name) = doc.string("encryptionAlgorithm")? {
            cfg.encryption_algorithm = Some(encryption_algorithm(doc, &name, cfg)?);
        }
        cfg.certificate_validity = doc.duration("certificateValidityPeriod")?;
        cfg.ca_certificate_validity = doc.duration("caCertificateValidityPeriod")?;
    }
    if let Some(gate) = public_keys_ecdsa(doc, cfg.kubernetes_version)? {
        cfg.encryption_algorithm = Some(gate);
    }
    cfg.external_etcd = doc.get("etcd.external").is_some_and(|v| !v.is_null());
    cfg.etcd_server_sans = doc.strings("etcd.local.serverCertSANs")?;
    cfg.etcd_peer_sans = doc.strings("etcd.local.peerCertSANs")?;
    cfg.cert_sans = doc.strings("apiServer.certSANs")?;
    for (field, list) in [
        ("apiServer.certSANs", &cfg.cert_sans),
        ("etcd.local.serverCertSANs", &cfg.etcd_server_sans),
        ("etcd.local.peerCertSANs", &cfg.etcd_peer_sans),
    ] {
        for s in list {
            if let Err(SanError::BadName(_)) = alt_names::config_san(s) {
                return Err(doc.bad(
                    field,
                    s,
                    "is not a valid IP address, DNS label or a DNS label with subdomain wildcards",
                ));
            }
        }
    }
    cfg.control_plane_endpoint = doc.string("controlPlaneEndpoint")?;
    cfg.service_subnet = doc.string("networking.serviceSubnet")?;
    if let Some(s) = &cfg.service_subnet
        && s.split(',')
            .any(|c| alt_names::first_service_ip(c.trim()).is_none())
    {
        return Err(doc.bad("networking.serviceSubnet", s, "couldn't parse subnet"));
    }
    cfg.dns_domain = doc.string("networking.dnsDomain")?;
    if let Some(d) = &cfg.dns_domain
        && !alt_names::is_dns1123_subdomain(d)
    {
        return Err(doc.bad(
            "networking.dnsDomain",
            d,
            "is not a DNS subdomain (RFC 1123)",
        ));
    }
    cfg.cluster_name = doc.string("clusterName")?;
    Ok(())
}

/// `encryptionAlgorithm` as kubeadm's validation takes it: one of its names,
/// spelt exactly; ECDSA-P384 only for a release a kubeadm that knows it sets up.
fn encryption_algorithm(
    doc: &Doc<'_>,
    name: &str,
    cfg: &ClusterConfig,
) -> Result<KeyAlgorithm, ConfigError> {
    let Some(algorithm) = KeyAlgorithm::ALL.into_iter().find(|a| a.name() == name) else {
        let case = KeyAlgorithm::from_name(name)
            .map(|a| format!(" (kubeadm's names are case-sensitive: {a})"))
            .unwrap_or_default();
        return Err(doc.bad(
            "encryptionAlgorithm",
            name,
            &format!("is not one of ECDSA-P256, ECDSA-P384, RSA-2048, RSA-3072, RSA-4096{case}"),
        ));
    };
    if algorithm == KeyAlgorithm::EcdsaP384 && !version::takes_ecdsa_p384(cfg.kubernetes_version) {
        let release = cfg.kubernetes_version.map(|v| v.to_string());
        return Err(doc.bad(
            "encryptionAlgorithm",
            name,
            &format!(
                "came with kubeadm v1.34, which sets up v1.33 and later; kubernetesVersion is {}",
                release.unwrap_or_default()
            ),
        ));
    }
    Ok(algorithm)
}

/// The `PublicKeysECDSA` feature gate (kubeadm's EncryptionAlgorithmType):
/// true is ECDSA-P256, false RSA-2048, either over `encryptionAlgorithm`;
/// refused, as kubeadm v1.37 refuses it, for a release only kubeadm v1.37 and
/// later set up.
fn public_keys_ecdsa(
    doc: &Doc<'_>,
    release: Option<KubernetesVersion>,
) -> Result<Option<KeyAlgorithm>, ConfigError> {
    const GATE: &str = "featureGates.PublicKeysECDSA";
    let Some(value) = doc.get(GATE) else {
        return Ok(None);
    };
    let Some(on) = value.as_bool() else {
        return Err(doc.bad(GATE, &value.to_string(), "is not true or false"));
    };
    if !version::reads_v1beta3_and_public_keys_ecdsa(release) {
        return Err(doc.bad(
            "featureGates",
            "PublicKeysECDSA",
            &format!(
                "is not a valid feature name for kubeadm v1.37 and later (kubernetesVersion {}): \
                 set encryptionAlgorithm instead",
                release.map(|v| v.to_string()).unwrap_or_default()
            ),
        ));
    }
    Ok(Some(if on {
        KeyAlgorithm::EcdsaP256
    } else {
        KeyAlgorithm::Rsa2048
    }))
}

struct Doc<'a> {
    kind: &'a str,
    value: &'a Value,
}

impl Doc<'_> {
    fn get(&self, path: &str) -> Option<&Value> {
        path.split('.')
            .try_fold(self.value, |v, key| v.get(key))
            .filter(|v| !v.is_null())
    }

    fn bad(&self, field: &str, value: &str, problem: &str) -> ConfigError {
        ConfigError::BadField {
            kind: self.kind.into(),
            field: field.into(),
            value: format!("{value:?}"),
            problem: problem.into(),
        }
    }

    fn string(&self, path: &str) -> Result<Option<String>, ConfigError> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.bad(path, &other.to_string(), "is not a string")),
        }
    }

    fn strings(&self, path: &str) -> Result<Vec<String>, ConfigError> {
        match self.get(path) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.bad(path, &other.to_string(), "is not a string")),
                })
                .collect(),
            Some(other) => Err(self.bad(path, &other.to_string(), "is not a list of strings")),
        }
    }

    fn ip(&self, path: &str) -> Result<Option<IpAddr>, ConfigError> {
        match self.string(path)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| self.bad(path, &s, "ip address is not valid")),
        }
    }

    fn port(&self, path: &str) -> Result<Option<u16>, ConfigError> {
        match self.get(path) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| self.bad(path, &v.to_string(), "port number is not valid")),
        }
    }

    fn duration(&self, path: &str) -> Result<Option<Duration>, ConfigError> {
        match self.string(path)? {
            None => Ok(None),
            Some(s) => match duration::parse_go(&s) {
                Ok(d) if d > Duration::ZERO => Ok(Some(d)),
                _ => Err(self.bad(path, &s, "is not a positive duration such as 8760h0m0s")),
            },
        }
    }
}

impl ClusterConfig {
    /// `networking.serviceSubnet` or kubeadm's default.
    pub fn service_subnet(&self) -> &str {
        self.service_subnet
            .as_deref()
            .unwrap_or(DEFAULT_SERVICE_SUBNET)
    }

    /// `networking.dnsDomain` or kubeadm's default.
    pub fn dns_domain(&self) -> &str {
        self.dns_domain.as_deref().unwrap_or(DEFAULT_DNS_DOMAIN)
    }

    /// `clusterName` or kubeadm's default.
    pub fn cluster_name(&self) -> &str {
        self.cluster_name.as_deref().unwrap_or("kubernetes")
    }

    /// kubeadm's warnings (ValidateCertValidity) for validity periods above its
    /// defaults, and for a leaf validity above the CA validity, without klog's prefix.
    pub fn validity_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(d) = self.certificate_validity
            && d > DEFAULT_CERTIFICATE_VALIDITY
        {
            out.push(format!(
                "WARNING: certificateValidityPeriod: the value {} is more than the recommended \
                 default for certificate expiration: {}",
                duration::format_go(d),
                duration::format_go(DEFAULT_CERTIFICATE_VALIDITY)
            ));
        }
        if let Some(d) = self.ca_certificate_validity
            && d > DEFAULT_CA_CERTIFICATE_VALIDITY
        {
            out.push(format!(
                "WARNING: caCertificateValidityPeriod: the value {} is more than the recommended \
                 default for CA certificate expiration: {}",
                duration::format_go(d),
                duration::format_go(DEFAULT_CA_CERTIFICATE_VALIDITY)
            ));
        }
        if let (Some(leaf), Some(ca)) = (self.certificate_validity, self.ca_certificate_validity)
            && leaf > ca
        {
            out.push(format!(
                "WARNING: certificateValidityPeriod: the value {} is more than the \
                 caCertificateValidityPeriod: {}",
                duration::format_go(leaf),
                duration::format_go(ca)
            ));
        }
        out
    }

    /// The apiserver SANs kubeadm's init would give this node, with the names
    /// it would skip. `node_name` is used when the configuration has none.
    pub fn apiserver_sans(&self, node_name: Option<&str>) -> (AltNames, Vec<SanError>) {
        alt_names::apiserver(&alt_names::ApiServerInputs {
            node_name: self.node_name.as_deref().or(node_name),
            advertise_address: self.advertise_address,
            service_subnet: self.service_subnet(),
            dns_domain: self.dns_domain(),
            control_plane_endpoint: self.control_plane_endpoint.as_deref(),
            cert_sans: &self.cert_sans,
        })
    }

    /// The etcd server (`peer == false`) or peer SANs kubeadm would give this node.
    pub fn etcd_sans(&self, peer: bool, node_name: Option<&str>) -> (AltNames, Vec<SanError>) {
        alt_names::etcd(
            self.node_name.as_deref().or(node_name),
            self.advertise_address,
            if peer {
                &self.etcd_peer_sans
            } else {
                &self.etcd_server_sans
            },
        )
    }

    /// The SANs kubeadm would give `row` (`apiserver`, `etcd-server`,
    /// `etcd-peer`); `None` for the other rows.
    pub fn sans_for_row(&self, row: &str, node_name: Option<&str>) -> Option<AltNames> {
        match row {
            "apiserver" => Some(self.apiserver_sans(node_name).0),
            "etcd-server" => Some(self.etcd_sans(false, node_name).0),
            "etcd-peer" => Some(self.etcd_sans(true, node_name).0),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kubeadm config print init-defaults` (1.31, v1beta4), with a few fields set.
    const V1BETA4: &str = "apiVersion: kubeadm.k8s.io/v1beta4
bootstrapTokens:
- groups:
  - system:bootstrappers:kubeadm:default-node-token
  token: abcdef.0123456789abcdef
  ttl: 24h0m0s
  usages:
  - signing
  - authentication
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 1.2.3.4
  bindPort: 6443
nodeRegistration:
  criSocket: unix:///var/run/containerd/containerd.sock
  imagePullPolicy: IfNotPresent
  imagePullSerial: true
  name: node
  taints: null
timeouts:
  controlPlaneComponentHealthCheck: 4m0s
---
apiServer:
  certSANs:
  - api.example.com
  - 203.0.113.7
apiVersion: kubeadm.k8s.io/v1beta4
caCertificateValidityPeriod: 87600h0m0s
certificateValidityPeriod: 17520h0m0s
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
controllerManager: {}
dns: {}
encryptionAlgorithm: ECDSA-P256
etcd:
  local:
    dataDir: /var/lib/etcd
    serverCertSANs: [etcd.example.com]
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: 1.31.0
networking:
  dnsDomain: cluster.local
  serviceSubnet: 10.96.0.0/12
proxy: {}
scheduler: {}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
";

    #[test]
    fn reads_a_v1beta4_init_defaults_file() {
        let c = parse(V1BETA4).unwrap();
        assert_eq!(c.api_version, Some(ApiVersion::V1beta4));
        assert_eq!(c.encryption_algorithm, Some(KeyAlgorithm::EcdsaP256));
        assert_eq!(c.certificate_validity, Some(Duration::hours(17520)));
        assert_eq!(c.ca_certificate_validity, Some(Duration::hours(87600)));
        assert_eq!(c.node_name.as_deref(), Some("node"));
        assert_eq!(c.advertise_address, Some("1.2.3.4".parse().unwrap()));
        assert_eq!(c.bind_port, Some(6443));
        assert_eq!(
            c.kubernetes_version,
            crate::kubeadm::version::KubernetesVersion::parse("v1.31.0")
        );
        assert!(!c.external_etcd);
        assert_eq!(c.etcd_server_sans, ["etcd.example.com"]);
        assert_eq!(
            c.validity_warnings(),
            [
                "WARNING: certificateValidityPeriod: the value 17520h0m0s is more than the \
              recommended default for certificate expiration: 8760h0m0s"
            ]
        );
        let (sans, _) = c.apiserver_sans(None);
        assert!(sans.ips.contains(&"203.0.113.7".parse().unwrap()));
        assert!(sans.dns.contains(&"node".to_string()));
        let etcd = c.sans_for_row("etcd-server", None).unwrap();
        assert!(etcd.dns.contains(&"etcd.example.com".to_string()));
        assert!(c.sans_for_row("etcd-peer", None).unwrap().dns.len() == 2);
        assert_eq!(c.sans_for_row("admin.conf", None), None);
    }

    #[test]
    fn reads_a_v1beta3_cluster_configuration_with_external_etcd() {
        let c = parse(
            "apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
certificatesDir: /srv/pki
certificateValidityPeriod: 1h   # not in v1beta3: ignored
featureGates:
  PublicKeysECDSA: true
controlPlaneEndpoint: lb.example.com:6443
etcd:
  external:
    endpoints: [https://10.0.0.9:2379]
    caFile: /etc/etcd/ca.crt
networking:
  serviceSubnet: 10.100.0.0/16
  dnsDomain: example.org
",
        )
        .unwrap();
        assert_eq!(c.api_version, Some(ApiVersion::V1beta3));
        assert_eq!(c.certificates_dir.as_deref(), Some("/srv/pki"));
        assert_eq!(c.certificate_validity, None);
        assert_eq!(c.encryption_algorithm, Some(KeyAlgorithm::EcdsaP256));
        assert!(c.external_etcd);
        assert_eq!(c.service_subnet(), "10.100.0.0/16");
        let (sans, _) = c.apiserver_sans(Some("cp-9"));
        assert_eq!(
            sans.describe(),
            "DNS:cp-9, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, \
             DNS:kubernetes.default.svc.example.org, DNS:lb.example.com, IP:10.100.0.1"
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let bad = |text: &str| parse(text).unwrap_err().to_string();
        assert!(
            bad("apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n")
                .contains("kubeadm config migrate")
        );
        assert_eq!(
            bad(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: DSA\n"
            ),
            "ClusterConfiguration encryptionAlgorithm: \"DSA\" is not one of ECDSA-P256, \
             ECDSA-P384, RSA-2048, RSA-3072, RSA-4096"
        );
        // Go's time.ParseDuration, as kubeadm: no days; fractions and ms are fine.
        assert!(bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificateValidityPeriod: 30d\n")
            .contains("certificateValidityPeriod: \"30d\""));
        let ok = parse("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificateValidityPeriod: 1.5h\ncaCertificateValidityPeriod: 90000000ms\n").unwrap();
        assert_eq!(ok.certificate_validity, Some(Duration::minutes(90)));
        assert_eq!(ok.ca_certificate_validity, Some(Duration::seconds(90_000)));
        assert!(bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificateValidityPeriod: soon\n")
            .contains("certificateValidityPeriod: \"soon\""));
        assert!(bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  serviceSubnet: 10.96.0.0\n")
            .contains("couldn't parse subnet"));
        assert!(bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificatesDir: pki\n")
            .contains("not an absolute path"));
        assert!(bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  certSANs: [Bad_Name]\n")
            .contains("apiServer.certSANs"));
        assert!(bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: nope\n")
            .contains("ip address is not valid"));
        assert!(
            bad("kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n")
                .contains("no InitConfiguration")
        );
        assert!(bad("a: [").contains("not a YAML file"));
        assert!(bad("x: 1\n").contains("document 1"));
        assert!(bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n")
            .contains("more than once"));
    }

    /// What kubeadm v1.34.4 and v1.37.2 do with each spelling (the oracle's
    /// `encryption_algorithm_and_the_ecdsa_gate_as_each_kubeadm_takes_them`).
    #[test]
    fn encryption_algorithm_and_the_ecdsa_gate_by_release() {
        let cfg = |api: &str, release: &str, extra: &str| {
            parse(&format!(
                "apiVersion: kubeadm.k8s.io/{api}\nkind: ClusterConfiguration\n\
                 kubernetesVersion: {release}\n{extra}"
            ))
        };
        let algorithm = |api: &str, release: &str, extra: &str| {
            cfg(api, release, extra).unwrap().encryption_algorithm
        };
        let refused = |api: &str, release: &str, extra: &str| {
            cfg(api, release, extra).unwrap_err().to_string()
        };
        // Exact names only, on every release.
        assert_eq!(
            algorithm("v1beta4", "v1.37.2", "encryptionAlgorithm: RSA-3072\n"),
            Some(KeyAlgorithm::Rsa3072)
        );
        assert_eq!(
            refused("v1beta4", "v1.34.4", "encryptionAlgorithm: ecdsa-p256\n"),
            "ClusterConfiguration encryptionAlgorithm: \"ecdsa-p256\" is not one of ECDSA-P256, \
             ECDSA-P384, RSA-2048, RSA-3072, RSA-4096 (kubeadm's names are case-sensitive: \
             ECDSA-P256)"
        );
        assert!(
            refused("v1beta4", "v1.37.2", "encryptionAlgorithm: ED25519\n").ends_with("RSA-4096")
        );
        // ECDSA-P384 from kubeadm v1.34, which sets up v1.33 and later.
        assert_eq!(
            algorithm("v1beta4", "v1.33.0", "encryptionAlgorithm: ECDSA-P384\n"),
            Some(KeyAlgorithm::EcdsaP384)
        );
        assert!(
            refused("v1beta4", "v1.32.5", "encryptionAlgorithm: ECDSA-P384\n")
                .contains("came with kubeadm v1.34")
        );
        // The gate, up to v1.36, in v1beta3 and v1beta4, over encryptionAlgorithm.
        let gate_on = "encryptionAlgorithm: ECDSA-P384\nfeatureGates:\n  PublicKeysECDSA: true\n";
        let gate_off = "encryptionAlgorithm: ECDSA-P384\nfeatureGates:\n  PublicKeysECDSA: false\n";
        assert_eq!(
            algorithm("v1beta4", "v1.34.4", gate_on),
            Some(KeyAlgorithm::EcdsaP256)
        );
        assert_eq!(
            algorithm("v1beta4", "v1.34.4", gate_off),
            Some(KeyAlgorithm::Rsa2048)
        );
        assert_eq!(
            algorithm(
                "v1beta3",
                "v1.36.0",
                "featureGates: {PublicKeysECDSA: false}\n"
            ),
            Some(KeyAlgorithm::Rsa2048)
        );
        assert_eq!(
            algorithm("v1beta4", "stable", gate_on),
            Some(KeyAlgorithm::EcdsaP256)
        );
        assert!(
            refused(
                "v1beta4",
                "v1.34.4",
                "featureGates: {PublicKeysECDSA: \"true\"}\n"
            )
            .contains("is not true or false")
        );
        // kubeadm v1.37 knows neither the gate nor v1beta3.
        assert_eq!(
            refused("v1beta4", "v1.37.2", gate_on),
            "ClusterConfiguration featureGates: \"PublicKeysECDSA\" is not a valid feature name \
             for kubeadm v1.37 and later (kubernetesVersion v1.37.2): set encryptionAlgorithm \
             instead"
        );
        let err = parse(
            "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n---\n\
             apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
             kubernetesVersion: v1.37.2\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::RemovedVersion {
                kind: "InitConfiguration".into(),
                release: KubernetesVersion::parse("v1.37.2").unwrap()
            }
        );
        assert!(
            err.to_string()
                .contains("kubeadm v1.36's `kubeadm config migrate")
        );
        assert!(cfg("v1beta3", "v1.36.3", "").is_ok());
    }

    #[test]
    fn leaf_validity_above_the_ca_validity_is_warned_about() {
        let c = parse(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
             certificateValidityPeriod: 4000h\ncaCertificateValidityPeriod: 2000h30m\n",
        )
        .unwrap();
        assert_eq!(
            c.validity_warnings(),
            [
                "WARNING: certificateValidityPeriod: the value 4000h0m0s is more than the \
              caCertificateValidityPeriod: 2000h30m0s"
            ]
        );
    }

    #[test]
    fn join_configuration_gives_node_and_address() {
        let c = parse(
            "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration: {name: cp-2}
controlPlane:
  localAPIEndpoint: {advertiseAddress: 10.0.0.12, bindPort: 6443}
",
        )
        .unwrap();
        assert_eq!(c.node_name.as_deref(), Some("cp-2"));
        assert_eq!(c.advertise_address, Some("10.0.0.12".parse().unwrap()));
        assert_eq!(c.validity_warnings(), Vec::<String>::new());
    }
}
