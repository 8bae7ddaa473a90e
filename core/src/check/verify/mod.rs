//! `kcerts verify`: the health of a node's PKI, one row per check with
//! pass/warn/fail and a one-line reason.
//!
//! Checks: every certificate's expiry; every leaf chains to its expected CA
//! (signature checked); every key matches its certificate; usages and subject fit
//! the kubeadm role; the apiserver and etcd SANs; kubeconfigs embed the current
//! `ca.crt` (kubeadm #2027); no CA expires before a certificate it signed;
//! `sa.key`/`sa.pub` are a pair; the kubelet client certificate is valid and rotating;
//! the kubelet serving certificate is valid, serves, and names the node.

use std::net::IpAddr;

use serde::Serialize;
use time::OffsetDateTime;

use crate::kubeadm::inventory::{self, Ca, Row};
use crate::kubeadm::node::{FileContent, NodeFiles};
use crate::kubeadm::node_loader;
use crate::kubeadm::residual::{self, format_date};
use crate::kubeadm::role::KUBELET_CN_PREFIX;
use crate::x509::certificate::Certificate;
use crate::x509::strength;

mod ca;
mod kubelet;
mod kubelet_serving;
mod leaf;
mod thresholds;

pub use kubelet_serving::KubeletServing;
pub use thresholds::{Thresholds, expiration_status};

/// The outcome of one check; ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Pass,
    /// Works now, but needs attention (expires within the warning window, a
    /// departure from what kubeadm writes that does not break anything yet).
    Warn,
    /// Broken now or soon (expired, within the critical window, wrong CA, wrong key).
    Fail,
}

impl Status {
    /// `pass`, `warn`, `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One row of the verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The result.
    pub status: Status,
    /// What was checked: a row name (`apiserver`), a CA (`etcd-ca`), `sa` or `kubelet`.
    pub target: String,
    /// Which check.
    pub check: CheckId,
    /// One line, without a trailing period.
    pub reason: String,
}

/// Which check a [`Check`] row is; serialised and printed as its kebab-case name
/// (`expiry`, `ca-data`, `outlives-leaves`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    /// The file loads (or why not).
    Read,
    /// Time left before NotAfter, against the thresholds.
    Expiry,
    /// The private key matches the certificate.
    Key,
    /// The certificate is signed by its expected CA (signature checked).
    Chain,
    /// Key usages and extended key usages fit the role.
    Usage,
    /// CN and O fit the kubeadm role.
    Subject,
    /// The SANs clients connect with are present.
    Sans,
    /// A kubeconfig's certificate-authority-data is today's `ca.crt`.
    CaData,
    /// A CA expires after every certificate it signs.
    OutlivesLeaves,
    /// `sa.key` and `sa.pub` are one key pair.
    Pair,
    /// kubelet.conf lets the kubelet rotate its client certificate.
    Rotation,
    /// The kubelet client certificate is renewed in time.
    Rotating,
    /// Who signed the kubelet's serving certificate (itself, the cluster CA, another).
    Signer,
    /// Nodes agree on an endpoint (fleet).
    Endpoint,
    /// The apiserver certificate names each node's endpoint (fleet).
    EndpointSans,
    /// A file is the same on every node (fleet).
    SameCert,
    /// A key is the same on every node (fleet).
    SameKey,
    /// A public key file is the same on every node (fleet).
    SamePub,
    /// A kubeconfig's server (fleet).
    Server,
    /// Each node's leaves chain to the CAs of every node (fleet).
    LeavesTrusted,
    /// The nodes' phases of a CA rotation fit together (fleet).
    CaRotation,
    /// The nodes' phases of a service-account key rotation fit together (fleet).
    SaRotation,
    /// The soonest expiry across the nodes (fleet).
    SoonestExpiry,
    /// No node is given twice: two inputs with one node name or the same
    /// per-node certificate (fleet).
    DistinctNodes,
    /// A running component serves the certificate on disk (`verify --live`).
    Live,
    /// A copy of admin.conf holds admin.conf's current credentials (`verify --kubeconfig-copy`).
    KubeconfigCopy,
    /// Weak cryptography: a SHA-1 or MD5 signature, an RSA key under 2048 bits
    /// (a warn row only when found).
    Crypto,
}

impl CheckId {
    /// The kebab-case name (`ca-data`).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Read => "read",
            CheckId::Expiry => "expiry",
            CheckId::Key => "key",
            CheckId::Chain => "chain",
            CheckId::Usage => "usage",
            CheckId::Subject => "subject",
            CheckId::Sans => "sans",
            CheckId::CaData => "ca-data",
            CheckId::OutlivesLeaves => "outlives-leaves",
            CheckId::Pair => "pair",
            CheckId::Rotation => "rotation",
            CheckId::Rotating => "rotating",
            CheckId::Signer => "signer",
            CheckId::Endpoint => "endpoint",
            CheckId::EndpointSans => "endpoint-sans",
            CheckId::SameCert => "same-cert",
            CheckId::SameKey => "same-key",
            CheckId::SamePub => "same-pub",
            CheckId::Server => "server",
            CheckId::LeavesTrusted => "leaves-trusted",
            CheckId::CaRotation => "ca-rotation",
            CheckId::SaRotation => "sa-rotation",
            CheckId::SoonestExpiry => "soonest-expiry",
            CheckId::DistinctNodes => "distinct-nodes",
            CheckId::Live => "live",
            CheckId::KubeconfigCopy => "kubeconfig-copy",
            CheckId::Crypto => "crypto",
        }
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a certificate's validity at `now` under `th`, with a reason.
pub fn expiry(cert: &Certificate, now: OffsetDateTime, th: Thresholds) -> (Status, String) {
    let left = cert.residual_seconds(now);
    let date = format_date(cert.not_after);
    if cert.not_before > now {
        return (
            Status::Fail,
            format!(
                "not valid before {} (clock skew?)",
                format_date(cert.not_before)
            ),
        );
    }
    if left <= 0 {
        return (
            Status::Fail,
            format!("expired on {date}, {} ago", residual::human(-left)),
        );
    }
    let text = format!("expires on {date}, in {}", residual::human(left));
    (th.status(left), text)
}

/// The kubelet's client certificate file, as the CLI read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletClient {
    /// The path it was read from (`/var/lib/kubelet/pki/kubelet-client-current.pem`).
    pub path: String,
    /// Its content; `None` when the file does not exist.
    pub content: Option<FileContent>,
}

/// What to verify.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The node's files; `kubelet.conf` is read from here too when present.
    pub files: &'a NodeFiles,
    /// The kubelet's rotating client certificate, when the caller read it.
    pub kubelet_client: Option<KubeletClient>,
    /// The kubelet's serving certificate, when the caller read it.
    pub kubelet_serving: Option<KubeletServing>,
    /// The node name; when `None` it is taken from the kubelet certificate
    /// (`system:node:<name>`) or the etcd server certificate's CN.
    pub node_name: Option<String>,
    /// The `kubernetes` service IP; `None` means "probably 10.96.0.1" (a warning if absent).
    pub service_ip: Option<IpAddr>,
    /// The API server's advertise address, when known without a configuration
    /// (the kube-apiserver manifest's `--advertise-address`): the apiserver and
    /// etcd certificates must hold it, as kubeadm puts it in all three.
    pub advertise_address: Option<IpAddr>,
    /// Expiry windows.
    pub thresholds: Thresholds,
    /// The moment to verify for.
    pub now: OffsetDateTime,
    /// The cluster's kubeadm configuration, when given: the apiserver and etcd
    /// certificates must hold every SAN kubeadm would derive from it.
    pub config: Option<&'a crate::kubeadm::cluster_config::ClusterConfig>,
}

/// The result: every check in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// The moment verified for.
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// The node name used for the SAN and subject checks, if known.
    pub node_name: Option<String>,
    /// Every check.
    pub checks: Vec<Check>,
}

impl Verification {
    /// The worst status (`Pass` when there are no checks).
    pub fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Pass)
    }

    /// How many checks have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// kubeadm's default service subnet is 10.96.0.0/12, so its first IP.
pub(super) const DEFAULT_SERVICE_IP: [u8; 4] = [10, 96, 0, 1];

pub(super) struct Out(pub(super) Vec<Check>);

impl Out {
    pub(super) fn push(
        &mut self,
        status: Status,
        target: &str,
        check: CheckId,
        reason: impl Into<String>,
    ) {
        self.0.push(Check {
            status,
            target: target.to_string(),
            check,
            reason: reason.into(),
        });
    }

    /// A warn row for each weakness of `cert` ([`strength`]); none when it has none.
    pub(super) fn weak_crypto(&mut self, cert: &Certificate, target: &str) {
        for w in strength::weaknesses(&cert.signature_algorithm, &cert.public_key) {
            self.push(Status::Warn, target, CheckId::Crypto, w.to_string());
        }
    }
}

pub(super) struct Leaf {
    pub(super) row: &'static Row,
    pub(super) cert: Certificate,
    /// Certificates after the first in a `.crt` file: intermediates up to the CA.
    pub(super) intermediates: Vec<Certificate>,
}

/// The certificate of `ca`, when it loaded.
pub(super) fn ca_cert(cas: &[(Ca, Certificate)], ca: Ca) -> Option<&Certificate> {
    cas.iter().find(|(c, _)| *c == ca).map(|(_, cert)| cert)
}

/// Runs every check.
pub fn verify(input: &Input<'_>) -> Verification {
    let files = input.files;
    let mut out = Out(Vec::new());
    let external_etcd = node_loader::is_external_etcd(files);

    // Load every leaf first: the CA checks need them (does the CA outlive them?).
    let mut leaves = Vec::new();
    let mut leaf_errors = Vec::new();
    for row in inventory::rows(external_etcd) {
        match node_loader::load_row_certificate(files, row) {
            Ok(Some(cert)) => leaves.push(Leaf {
                row,
                cert,
                intermediates: leaf::intermediates_of(files, row),
            }),
            Ok(None) => leaf_errors.push((row, None)),
            Err(e) => leaf_errors.push((row, Some(e.kind.to_string()))),
        }
    }
    let kubelet = kubelet::load_kubelet(input);
    let node_name = input.node_name.clone().or_else(|| {
        kubelet
            .cert
            .as_ref()
            .and_then(|c| c.common_name.as_deref()?.strip_prefix(KUBELET_CN_PREFIX))
            .map(str::to_string)
            .or_else(|| {
                leaves
                    .iter()
                    .find(|l| l.row.name == "etcd-server")
                    .and_then(|l| l.cert.common_name.clone())
            })
    });

    let cas = ca::check_cas(input, external_etcd, &leaves, &mut out);
    leaf::check_leaves(
        input,
        external_etcd,
        &leaves,
        &leaf_errors,
        &cas,
        node_name.as_deref(),
        &mut out,
    );
    ca::sa_checks(files, &mut out);
    kubelet::kubelet_checks(
        input,
        &kubelet,
        node_name.as_deref(),
        ca_cert(&cas, Ca::Ca),
        &mut out,
    );
    kubelet_serving::serving_checks(input, node_name.as_deref(), ca_cert(&cas, Ca::Ca), &mut out);

    Verification {
        now: input.now,
        node_name,
        checks: out.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::pki;
    use crate::kubeadm::node::{FileContent, NodePath};
    use crate::test_support::{NOW, ecdsa_example, ecdsa_example_files};
    use time::Duration;

    fn node() -> NodeFiles {
        ecdsa_example_files(NOW, 5)
    }

    fn run(files: &NodeFiles, now: OffsetDateTime) -> Verification {
        verify(&Input {
            files,
            kubelet_client: None,
            kubelet_serving: None,
            node_name: None,
            service_ip: None,
            advertise_address: None,
            thresholds: Thresholds::default(),
            now,
            config: None,
        })
    }

    #[test]
    fn the_configuration_s_sans_are_checked() {
        let files = node();
        let cfg = |sans: &str| {
            crate::kubeadm::cluster_config::parse(&format!(
                "apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
controlPlaneEndpoint: k8s.example.internal:6443
apiServer:
  certSANs: [{sans}]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {{advertiseAddress: 192.168.10.11}}
nodeRegistration: {{name: cp-1}}
"
            ))
            .unwrap()
        };
        let verify_with = |c: &crate::kubeadm::cluster_config::ClusterConfig| {
            verify(&Input {
                files: &files,
                kubelet_client: None,
                kubelet_serving: None,
                node_name: None,
                service_ip: None,
                advertise_address: None,
                thresholds: Thresholds::default(),
                now: NOW,
                config: Some(c),
            })
        };
        // The example node was made from these settings: everything is there.
        let same = cfg("");
        let v = verify_with(&same);
        let api = find(&v, "apiserver", "sans");
        assert_eq!(api.status, Status::Pass, "{api:?}");
        assert!(api.reason.contains("DNS:k8s.example.internal"), "{api:?}");
        assert_eq!(find(&v, "etcd-peer", "sans").status, Status::Pass);
        // A SAN added to the configuration later is reported missing.
        let more = cfg("203.0.113.7, api.example.com");
        let v = verify_with(&more);
        let api = find(&v, "apiserver", "sans");
        assert_eq!(api.status, Status::Fail);
        assert!(
            api.reason
                .starts_with("lacks DNS:api.example.com, IP:203.0.113.7, which the cluster configuration asks for"),
            "{api:?}"
        );
        assert_eq!(find(&v, "etcd-server", "sans").status, Status::Pass);
    }

    /// Without a configuration, the advertise address and service IP the
    /// kube-apiserver manifest shows are checked in the apiserver and etcd SANs.
    #[test]
    fn the_manifest_s_advertise_address_and_service_ip_are_checked() {
        let files = node();
        let verify_with = |service_ip: &str, advertise: &str| {
            verify(&Input {
                files: &files,
                kubelet_client: None,
                kubelet_serving: None,
                node_name: None,
                service_ip: Some(service_ip.parse().unwrap()),
                advertise_address: Some(advertise.parse().unwrap()),
                thresholds: Thresholds::default(),
                now: NOW,
                config: None,
            })
        };
        // The example node: 192.168.10.11, service range 10.96.0.0/12.
        let v = verify_with("10.96.0.1", "192.168.10.11");
        let api = find(&v, "apiserver", "sans");
        assert_eq!(
            (api.status, api.reason.as_str()),
            (
                Status::Pass,
                "has cp-1, kubernetes.default names, the service IP 10.96.0.1 and the advertise \
                 address 192.168.10.11"
            )
        );
        let etcd = find(&v, "etcd-peer", "sans");
        assert_eq!(
            (etcd.status, etcd.reason.as_str()),
            (
                Status::Pass,
                "has localhost, 127.0.0.1 and the advertise address 192.168.10.11"
            )
        );
        // A node whose address or service range moved.
        let v = verify_with("10.100.0.1", "192.168.10.12");
        let api = find(&v, "apiserver", "sans");
        assert_eq!(api.status, Status::Fail);
        assert!(
            api.reason
                .starts_with("lacks IP:10.100.0.1, IP:192.168.10.12: clients"),
            "{api:?}"
        );
        for row in ["etcd-server", "etcd-peer"] {
            let etcd = find(&v, row, "sans");
            assert_eq!(etcd.status, Status::Fail, "{etcd:?}");
            assert!(
                etcd.reason.starts_with("lacks IP:192.168.10.12:"),
                "{etcd:?}"
            );
        }
    }

    fn find<'a>(v: &'a Verification, target: &str, check: &str) -> &'a Check {
        v.checks
            .iter()
            .find(|c| c.target == target && c.check.as_str() == check)
            .unwrap_or_else(|| panic!("no {target} {check} in {:#?}", v.checks))
    }

    #[test]
    fn a_fresh_node_passes_except_the_embedded_kubelet_certificate() {
        let files = node();
        let v = run(&files, NOW);
        let not_pass: Vec<&Check> = v
            .checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .collect();
        // pki::generate embeds the kubelet's certificate in kubelet.conf.
        assert_eq!(not_pass.len(), 1, "{not_pass:#?}");
        assert_eq!(not_pass[0].check, CheckId::Rotation);
        assert_eq!(v.node_name.as_deref(), Some("cp-1"));
        assert!(find(&v, "apiserver", "sans").reason.contains("cp-1"));
    }

    #[test]
    fn expiry_windows() {
        let files = node();
        let v = run(&files, NOW + Duration::days(340));
        assert_eq!(find(&v, "apiserver", "expiry").status, Status::Warn);
        let v = run(&files, NOW + Duration::days(362));
        assert_eq!(find(&v, "apiserver", "expiry").status, Status::Fail);
        let v = run(&files, NOW + Duration::days(400));
        assert!(
            find(&v, "apiserver", "expiry")
                .reason
                .starts_with("expired on")
        );
        assert_eq!(v.worst(), Status::Fail);
    }

    #[test]
    fn stale_kubeconfig_ca_and_swapped_keys_fail() {
        let mut files = node();
        let other = NodeFiles::from_generated(
            &pki::generate(&ecdsa_example(), NOW, &mut crate::seeded_rng(6)).unwrap(),
        );
        // admin.conf from another cluster: stale CA, chain broken.
        let admin = NodePath::kubeconfig("admin.conf");
        files
            .files
            .insert(admin.clone(), other.files[&admin].clone());
        // apiserver.key from another cluster.
        let key = NodePath::cert("apiserver.key");
        files.files.insert(key.clone(), other.files[&key].clone());
        let sa = NodePath::cert("sa.pub");
        files.files.insert(sa.clone(), other.files[&sa].clone());
        let v = run(&files, NOW);
        assert_eq!(find(&v, "admin.conf", "ca-data").status, Status::Fail);
        assert!(find(&v, "admin.conf", "ca-data").reason.contains("#2027"));
        assert_eq!(find(&v, "admin.conf", "chain").status, Status::Fail);
        assert_eq!(find(&v, "apiserver", "key").status, Status::Fail);
        assert_eq!(find(&v, "sa", "pair").status, Status::Fail);
    }

    #[test]
    fn the_kubelet_serving_certificate_gets_its_rows() {
        use crate::issue::kubelet_selfsigned::{ServingSpec, generate};
        let files = node();
        let spec = ServingSpec {
            host: "cp-1".into(),
            ips: vec![],
            dns: vec![],
        };
        let s = generate(&spec, NOW, &mut crate::seeded_rng(7)).unwrap();
        let other = generate(&spec, NOW, &mut crate::seeded_rng(8)).unwrap();
        let with = |key: &PrivateKeyPem, now| {
            verify(&Input {
                files: &files,
                kubelet_client: None,
                kubelet_serving: Some(KubeletServing {
                    path: "/k/kubelet.crt".into(),
                    content: Some(FileContent::Bytes(s.cert_pem().into_bytes())),
                    key: Some((
                        "/k/kubelet.key".into(),
                        Some(FileContent::Bytes(key.0.clone().into_bytes())),
                    )),
                }),
                node_name: None,
                service_ip: None,
                advertise_address: None,
                thresholds: Thresholds::default(),
                now,
                config: None,
            })
        };
        let good = PrivateKeyPem(s.key.to_pem());
        let v = with(&good, NOW);
        for c in ["expiry", "signer", "key", "usage", "sans"] {
            assert_eq!(find(&v, "kubelet-serving", c).status, Status::Pass, "{c}");
        }
        assert!(
            find(&v, "kubelet-serving", "signer")
                .reason
                .contains("self-signed")
        );
        let v = with(&PrivateKeyPem(other.key.to_pem()), NOW);
        assert_eq!(find(&v, "kubelet-serving", "key").status, Status::Fail);
        let v = with(&good, NOW + Duration::days(366));
        let e = find(&v, "kubelet-serving", "expiry");
        assert_eq!(e.status, Status::Fail);
        assert!(
            e.reason.contains("kcerts kubelet serving --renew"),
            "{}",
            e.reason
        );
        let v = verify(&Input {
            files: &files,
            kubelet_client: None,
            kubelet_serving: Some(KubeletServing {
                path: "/k/kubelet.crt".into(),
                content: None,
                key: None,
            }),
            node_name: Some("cp-2".into()),
            service_ip: None,
            advertise_address: None,
            thresholds: Thresholds::default(),
            now: NOW,
            config: None,
        });
        let r = find(&v, "kubelet-serving", "read");
        assert_eq!(r.status, Status::Warn);
        assert!(r.reason.contains("in /k:"), "{}", r.reason);
    }

    /// A key's PEM (the test's own wrapper, so the closure takes one argument type).
    struct PrivateKeyPem(String);

    #[test]
    fn missing_super_admin_is_normal() {
        let mut files = node();
        files
            .files
            .remove(&NodePath::kubeconfig("super-admin.conf"));
        let v = run(&files, NOW);
        assert_eq!(find(&v, "super-admin.conf", "read").status, Status::Pass);
    }
}
