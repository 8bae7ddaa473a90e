//! `kcerts verify`: the health of a node's PKI, one row per check with
//! pass/warn/fail and a one-line reason.
//!
//! Checks: every certificate's expiry; every leaf chains to its expected CA
//! (signature checked); every key matches its certificate; usages and subject fit
//! the kubeadm role; the apiserver and etcd SANs; kubeconfigs embed the current
//! `ca.crt` (kubeadm #2027); no CA expires before a certificate it signed;
//! `sa.key`/`sa.pub` are a pair; the kubelet client certificate is valid and rotating.

use std::net::IpAddr;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::kubeadm::inventory::{self, Ca, Location, Row};
use crate::kubeadm::kubeconfig::{Kubeconfig, Material};
use crate::kubeadm::node::{FileContent, NodeFiles, NodePath};
use crate::kubeadm::node_loader;
use crate::kubeadm::residual::{self, format_date};
use crate::kubeadm::role::{self, KUBELET_CN_PREFIX, KUBELET_ORG};
use crate::x509::certificate::{self, Certificate, ExtendedKeyUsage};
use crate::x509::keys::{self, PrivateKey};

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
    /// Which check (`expiry`, `chain`, `key`, `usage`, `subject`, `sans`, `ca-data`...).
    pub check: &'static str,
    /// One line, without a trailing period.
    pub reason: String,
}

/// The expiry windows: closer than `warn` is a warning, closer than `crit` a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Warning window.
    pub warn: Duration,
    /// Critical window.
    pub crit: Duration,
}

impl Default for Thresholds {
    /// 30 days and 7 days.
    fn default() -> Self {
        Self {
            warn: Duration::days(30),
            crit: Duration::days(7),
        }
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
    let status = if left < th.crit.whole_seconds() {
        Status::Fail
    } else if left < th.warn.whole_seconds() {
        Status::Warn
    } else {
        Status::Pass
    };
    (status, text)
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
    /// The node name; when `None` it is taken from the kubelet certificate
    /// (`system:node:<name>`) or the etcd server certificate's CN.
    pub node_name: Option<String>,
    /// The `kubernetes` service IP; `None` means "probably 10.96.0.1" (a warning if absent).
    pub service_ip: Option<IpAddr>,
    /// Expiry windows.
    pub thresholds: Thresholds,
    /// The moment to verify for.
    pub now: OffsetDateTime,
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
const DEFAULT_SERVICE_IP: [u8; 4] = [10, 96, 0, 1];

struct Out(Vec<Check>);

impl Out {
    fn push(
        &mut self,
        status: Status,
        target: &str,
        check: &'static str,
        reason: impl Into<String>,
    ) {
        self.0.push(Check {
            status,
            target: target.to_string(),
            check,
            reason: reason.into(),
        });
    }
}

struct Leaf {
    row: &'static Row,
    cert: Certificate,
}

/// Runs every check.
pub fn verify(input: &Input<'_>) -> Verification {
    let files = input.files;
    let now = input.now;
    let th = input.thresholds;
    let mut out = Out(Vec::new());
    let external_etcd = node_loader::is_external_etcd(files);

    // Load every leaf first: the CA checks need them (does the CA outlive them?).
    let mut leaves = Vec::new();
    let mut leaf_errors = Vec::new();
    for row in inventory::rows(external_etcd) {
        match node_loader::load_row_certificate(files, row) {
            Ok(Some(cert)) => leaves.push(Leaf { row, cert }),
            Ok(None) => leaf_errors.push((row, None)),
            Err(e) => leaf_errors.push((row, Some(e.message))),
        }
    }
    let kubelet = load_kubelet(input);
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

    // CAs.
    let mut cas: Vec<(Ca, Certificate)> = Vec::new();
    for ca in inventory::cas(external_etcd) {
        let name = ca.name();
        let mut errors = Vec::new();
        let state = node_loader::load_ca(files, ca, &mut errors);
        let key_path = NodePath::cert(ca.key_file());
        for e in &errors {
            let check = if e.path == key_path { "key" } else { "read" };
            out.push(
                Status::Fail,
                name,
                check,
                format!("{}: {}", e.path, e.message),
            );
        }
        let Some(cert) = state.cert else {
            if errors.is_empty() {
                out.push(
                    Status::Fail,
                    name,
                    "read",
                    format!("pki/{} is missing", ca.cert_file()),
                );
            }
            continue;
        };
        let (s, r) = expiry(&cert, now, th);
        out.push(s, name, "expiry", r);
        if errors.iter().all(|e| e.path != key_path) {
            if state.external {
                out.push(
                    Status::Pass,
                    name,
                    "key",
                    format!("external CA: no pki/{} on this node", ca.key_file()),
                );
            } else {
                out.push(
                    Status::Pass,
                    name,
                    "key",
                    format!("pki/{} matches the certificate", ca.key_file()),
                );
            }
        }
        let signed: Vec<&Leaf> = leaves.iter().filter(|l| l.row.ca == ca).collect();
        let outlived: Vec<&str> = signed
            .iter()
            .filter(|l| l.cert.not_after > cert.not_after)
            .map(|l| l.row.name)
            .collect();
        if outlived.is_empty() {
            out.push(
                Status::Pass,
                name,
                "outlives-leaves",
                match signed.len() {
                    1 => "outlives the certificate it signs".to_string(),
                    n => format!("outlives the {n} certificates it signs"),
                },
            );
        } else {
            out.push(
                Status::Warn,
                name,
                "outlives-leaves",
                format!(
                    "expires on {}, before {} (clients will reject them then): renew the CA first",
                    format_date(cert.not_after),
                    outlived.join(", ")
                ),
            );
        }
        cas.push((ca, cert));
    }
    let ca_cert = |ca: Ca| cas.iter().find(|(c, _)| *c == ca).map(|(_, cert)| cert);

    // Leaves, in inventory order.
    for row in inventory::rows(external_etcd) {
        let name = row.name;
        if let Some((_, err)) = leaf_errors.iter().find(|(r, _)| r.name == name) {
            match err {
                Some(message) => out.push(Status::Fail, name, "read", message.clone()),
                None if name == "super-admin.conf" => out.push(
                    Status::Pass,
                    name,
                    "read",
                    "absent: kubeadm writes it on the first control-plane node only",
                ),
                None => out.push(
                    Status::Fail,
                    name,
                    "read",
                    format!("{} is missing", crate::kubeadm::node::certificate_path(row)),
                ),
            }
            continue;
        }
        let Some(leaf) = leaves.iter().find(|l| l.row.name == name) else {
            continue;
        };
        let cert = &leaf.cert;
        let (s, r) = expiry(cert, now, th);
        out.push(s, name, "expiry", r);
        match ca_cert(row.ca) {
            Some(ca) => match cert.verify_signed_by(ca) {
                Ok(()) => out.push(
                    Status::Pass,
                    name,
                    "chain",
                    format!("signed by {} (signature verified)", row.ca.name()),
                ),
                Err(e) => out.push(
                    Status::Fail,
                    name,
                    "chain",
                    format!("not signed by pki/{}: {e}", row.ca.cert_file()),
                ),
            },
            None => out.push(
                Status::Fail,
                name,
                "chain",
                format!("cannot check: pki/{} did not load", row.ca.cert_file()),
            ),
        }
        let (s, r) = key_check(files, row, cert);
        out.push(s, name, "key", r);
        let (s, r) = usage_check(cert, row.usage.extended_key_usages());
        out.push(s, name, "usage", r);
        match role::check_subject(
            row,
            cert.common_name.as_deref(),
            &cert.organizations,
            &cert.dns_names,
            node_name.as_deref(),
        ) {
            Ok(()) => out.push(Status::Pass, name, "subject", subject_text(cert)),
            Err(m) => out.push(Status::Fail, name, "subject", m.0),
        }
        match name {
            "apiserver" => {
                let (s, r) = apiserver_sans(cert, node_name.as_deref(), input.service_ip);
                out.push(s, name, "sans", r);
            }
            "etcd-server" | "etcd-peer" => {
                let (s, r) = etcd_sans(cert, node_name.as_deref());
                out.push(s, name, "sans", r);
            }
            _ => {}
        }
        if let Location::Kubeconfig { file } = row.location {
            let (s, r) = ca_data_check(files, file, ca_cert(Ca::Ca));
            out.push(s, name, "ca-data", r);
        }
    }

    sa_checks(files, &mut out);
    kubelet_checks(
        input,
        &kubelet,
        node_name.as_deref(),
        ca_cert(Ca::Ca),
        &mut out,
    );

    Verification {
        now,
        node_name,
        checks: out.0,
    }
}

fn subject_text(cert: &Certificate) -> String {
    let cn = cert.common_name.as_deref().unwrap_or("");
    if cert.organizations.is_empty() {
        format!("CN={cn} fits the role")
    } else {
        format!("CN={cn}, O={} fit the role", cert.organizations.join("+"))
    }
}

fn key_check(files: &NodeFiles, row: &Row, cert: &Certificate) -> (Status, String) {
    let bits = match row.location {
        Location::CertDir { base } => {
            let path = NodePath::cert(format!("{base}.key"));
            match node_loader::read(files, &path) {
                Ok(Some(bytes)) => {
                    PrivateKey::public_key_bits_of(bytes).map_err(|e| format!("{path}: {e}"))
                }
                Ok(None) => Err(format!("{path} is missing")),
                Err(e) => Err(format!("{path}: {}", e.message)),
            }
        }
        Location::Kubeconfig { file } => {
            match node_loader::read(files, &NodePath::kubeconfig(file)) {
                Ok(Some(bytes)) => match Kubeconfig::parse(bytes).and_then(|k| k.current()) {
                    Ok(c) => match c.client_key_data {
                        Some(k) => PrivateKey::public_key_bits_of(&k)
                            .map_err(|e| format!("client-key-data: {e}")),
                        None => Err("no embedded client-key-data".to_string()),
                    },
                    Err(e) => Err(e.to_string()),
                },
                _ => Err(format!("{file} cannot be read")),
            }
        }
    };
    let what = match row.location {
        Location::CertDir { base } => format!("pki/{base}.key"),
        Location::Kubeconfig { .. } => "client-key-data".to_string(),
    };
    match bits {
        Ok(b) if b == cert.public_key_bits() => {
            (Status::Pass, format!("{what} matches the certificate"))
        }
        Ok(_) => (
            Status::Fail,
            format!("{what} is not the key of this certificate (renew it to get a matching pair)"),
        ),
        Err(e) => (Status::Fail, e),
    }
}

/// Usages kubeadm gives every leaf: digital signature + key encipherment, plus
/// the role's extended key usages; never a CA.
fn usage_check(cert: &Certificate, wanted: Vec<ExtendedKeyUsage>) -> (Status, String) {
    if cert.is_ca {
        return (
            Status::Fail,
            "is a CA certificate (basic constraints CA:TRUE); a leaf must not be".into(),
        );
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|u| !cert.extended_key_usage.contains(u))
        .map(|u| u.name())
        .collect();
    if !missing.is_empty() {
        return (
            Status::Fail,
            format!("lacks the extended key usage {}", missing.join(", ")),
        );
    }
    if !cert.key_usage.iter().any(|k| k == "digitalSignature") {
        return (Status::Fail, "lacks the key usage digitalSignature".into());
    }
    let names: Vec<String> = wanted.iter().map(|u| u.name()).collect();
    let extra: Vec<String> = cert
        .extended_key_usage
        .iter()
        .filter(|u| !wanted.contains(u))
        .map(|u| u.name())
        .collect();
    if !extra.is_empty() {
        return (
            Status::Warn,
            format!(
                "has {} beside {}: more than kubeadm gives this role",
                extra.join(", "),
                names.join(" + ")
            ),
        );
    }
    if !cert.key_usage.iter().any(|k| k == "keyEncipherment") {
        return (
            Status::Warn,
            format!(
                "{} but no keyEncipherment (kubeadm sets it)",
                names.join(" + ")
            ),
        );
    }
    (
        Status::Pass,
        format!("digitalSignature, keyEncipherment, {}", names.join(" + ")),
    )
}

fn apiserver_sans(
    cert: &Certificate,
    node_name: Option<&str>,
    service_ip: Option<IpAddr>,
) -> (Status, String) {
    let mut missing = Vec::new();
    let mut dns = vec!["kubernetes", "kubernetes.default", "kubernetes.default.svc"];
    if let Some(n) = node_name {
        dns.insert(0, n);
    }
    for d in dns {
        if !cert.dns_names.iter().any(|x| x == d) {
            missing.push(format!("DNS:{d}"));
        }
    }
    let ip = service_ip.unwrap_or(IpAddr::from(DEFAULT_SERVICE_IP));
    let has_ip = cert.ip_addresses.contains(&ip);
    if !missing.is_empty() || (!has_ip && service_ip.is_some()) {
        if !has_ip {
            missing.push(format!("IP:{ip}"));
        }
        return (
            Status::Fail,
            format!(
                "lacks {}: clients using those names will reject the apiserver",
                missing.join(", ")
            ),
        );
    }
    if !has_ip {
        return (
            Status::Warn,
            format!(
                "lacks IP:{ip}, the default service IP; pass --service-cidr if the cluster uses another"
            ),
        );
    }
    let node = node_name.map(|n| format!("{n}, ")).unwrap_or_default();
    (
        Status::Pass,
        format!("has {node}kubernetes.default names and the service IP {ip}"),
    )
}

fn etcd_sans(cert: &Certificate, node_name: Option<&str>) -> (Status, String) {
    let mut missing = Vec::new();
    if !cert.dns_names.iter().any(|d| d == "localhost") {
        missing.push("DNS:localhost".to_string());
    }
    let lo = IpAddr::from([127, 0, 0, 1]);
    if !cert.ip_addresses.contains(&lo) {
        missing.push("IP:127.0.0.1".to_string());
    }
    if let Some(n) = node_name
        && !cert.dns_names.iter().any(|d| d == n)
    {
        missing.push(format!("DNS:{n}"));
    }
    if missing.is_empty() {
        (Status::Pass, "has localhost and 127.0.0.1".into())
    } else {
        (
            Status::Fail,
            format!(
                "lacks {}: the apiserver and etcdctl on this node connect that way",
                missing.join(", ")
            ),
        )
    }
}

/// A kubeconfig's `certificate-authority-data` must be today's `ca.crt`
/// (kubeadm before 1.18 left the old CA there after renewal: kubeadm #2027).
fn ca_data_check(files: &NodeFiles, file: &str, ca: Option<&Certificate>) -> (Status, String) {
    let Ok(Some(bytes)) = node_loader::read(files, &NodePath::kubeconfig(file)) else {
        return (Status::Fail, format!("{file} cannot be read"));
    };
    let data = match Kubeconfig::parse(bytes).and_then(|k| k.current()) {
        Ok(c) => c.ca_data,
        Err(e) => return (Status::Fail, e.to_string()),
    };
    compare_ca_data(&data, ca, &format!("kcerts renew {file}"))
}

fn compare_ca_data(data: &[u8], ca: Option<&Certificate>, fix: &str) -> (Status, String) {
    let Some(ca) = ca else {
        return (Status::Fail, "cannot check: pki/ca.crt did not load".into());
    };
    match certificate::parse_all(data) {
        Ok(certs) if certs.iter().any(|c| c.der == ca.der) => (
            Status::Pass,
            "certificate-authority-data is pki/ca.crt".into(),
        ),
        Ok(_) => (
            Status::Fail,
            format!(
                "certificate-authority-data is not pki/ca.crt (a stale CA, kubeadm #2027): `{fix}` resets it"
            ),
        ),
        Err(e) => (Status::Fail, format!("certificate-authority-data: {e}")),
    }
}

fn sa_checks(files: &NodeFiles, out: &mut Out) {
    let key = node_loader::read(files, &NodePath::cert("sa.key"));
    let public = node_loader::read(files, &NodePath::cert("sa.pub"));
    let (status, reason) = match (key, public) {
        (Ok(None), Ok(None)) => (
            Status::Fail,
            "pki/sa.key and pki/sa.pub are missing: service-account tokens cannot be signed".into(),
        ),
        (Ok(None), _) => (Status::Fail, "pki/sa.key is missing".into()),
        (_, Ok(None)) => (Status::Fail, "pki/sa.pub is missing".into()),
        (Err(e), _) | (_, Err(e)) => (Status::Fail, format!("{}: {}", e.path, e.message)),
        (Ok(Some(k)), Ok(Some(p))) => match (PrivateKey::public_key_bits_of(k), public_key_file_bits(p)) {
            (Err(e), _) => (Status::Fail, format!("pki/sa.key: {e}")),
            (_, None) => (Status::Fail, "pki/sa.pub is not a PEM PUBLIC KEY".into()),
            (Ok(a), Some(b)) if a == b => (Status::Pass, "pki/sa.pub is the public half of pki/sa.key".into()),
            (Ok(_), Some(_)) => (
                Status::Fail,
                "pki/sa.pub is not the public half of pki/sa.key: tokens signed with one fail verification with the other".into(),
            ),
        },
    };
    out.push(status, "sa", "pair", reason);
}

/// The public key bits of a PEM (or DER) `PUBLIC KEY` file such as `sa.pub`.
fn public_key_file_bits(bytes: &[u8]) -> Option<Vec<u8>> {
    let blocks = crate::x509::encoding::blocks(bytes).ok()?;
    let block = blocks
        .iter()
        .find(|b| b.label == "PUBLIC KEY" || b.label.is_empty())?;
    keys::spki_bits(&block.der)
}

/// What kubelet.conf says about the kubelet's client certificate.
enum KubeletSource {
    /// No kubelet.conf.
    NoConf,
    /// kubelet.conf could not be used; why.
    BadConf(String),
    /// kubelet.conf embeds the certificate (no rotation).
    Embedded,
    /// kubelet.conf refers to this file (rotation).
    File(String),
}

struct KubeletState {
    source: KubeletSource,
    ca_data: Option<Vec<u8>>,
    /// The certificate in use, if it loaded.
    cert: Option<Certificate>,
    /// Its key's public bits, or why not.
    key: Result<Vec<u8>, String>,
    /// Why the certificate did not load.
    error: Option<String>,
}

fn load_kubelet(input: &Input<'_>) -> KubeletState {
    let mut st = KubeletState {
        source: KubeletSource::NoConf,
        ca_data: None,
        cert: None,
        key: Err("no key".into()),
        error: None,
    };
    let conf = match node_loader::read(input.files, &NodePath::kubeconfig("kubelet.conf")) {
        Ok(Some(b)) => Some(b),
        Ok(None) => None,
        Err(e) => {
            st.source = KubeletSource::BadConf(e.message);
            None
        }
    };
    let mut embedded: Option<(Vec<u8>, Option<Vec<u8>>)> = None;
    if let Some(bytes) = conf {
        match Kubeconfig::parse(bytes).and_then(|k| k.entries()) {
            Ok(entries) => {
                let mut cert = None;
                let mut key = None;
                for e in entries {
                    match (e.kind, e.field, e.material) {
                        ("cluster", "certificate-authority", Material::Embedded { bytes }) => {
                            st.ca_data.get_or_insert(bytes);
                        }
                        ("user", "client-certificate", m) => {
                            cert.get_or_insert(m);
                        }
                        ("user", "client-key", Material::Embedded { bytes }) => {
                            key.get_or_insert(bytes);
                        }
                        _ => {}
                    }
                }
                match cert {
                    Some(Material::Embedded { bytes }) => {
                        st.source = KubeletSource::Embedded;
                        embedded = Some((bytes, key));
                    }
                    Some(Material::File { path }) => st.source = KubeletSource::File(path),
                    None => {
                        st.source =
                            KubeletSource::BadConf("kubelet.conf has no client certificate".into())
                    }
                }
            }
            Err(e) => st.source = KubeletSource::BadConf(format!("kubelet.conf: {e}")),
        }
    }
    match (&st.source, embedded, &input.kubelet_client) {
        (KubeletSource::Embedded, Some((cert, key)), _) => {
            match certificate::parse_first(&cert) {
                Ok(c) => st.cert = Some(c),
                Err(e) => st.error = Some(format!("kubelet.conf client-certificate-data: {e}")),
            }
            st.key = match key {
                Some(k) => {
                    PrivateKey::public_key_bits_of(&k).map_err(|e| format!("client-key-data: {e}"))
                }
                None => Err("kubelet.conf has no embedded client-key-data".into()),
            };
        }
        (_, _, Some(client)) => match &client.content {
            None => st.error = Some(format!("{} is missing", client.path)),
            Some(FileContent::Unreadable(r)) => {
                st.error = Some(format!("{} cannot be read: {r}", client.path))
            }
            Some(FileContent::Bytes(b)) => {
                match certificate::parse_first(b) {
                    Ok(c) => st.cert = Some(c),
                    Err(e) => st.error = Some(format!("{}: {e}", client.path)),
                }
                // The kubelet keeps certificate and key in the one file.
                st.key =
                    PrivateKey::public_key_bits_of(b).map_err(|e| format!("{}: {e}", client.path));
            }
        },
        _ => st.error = Some("no kubelet client certificate was read".into()),
    }
    st
}

/// The kubelet renews its client certificate at 70–90% of its lifetime
/// (client-go's certificate manager, jittered); past 90% it is not rotating.
const ROTATION_DEADLINE: f64 = 0.9;

fn kubelet_checks(
    input: &Input<'_>,
    st: &KubeletState,
    node_name: Option<&str>,
    ca: Option<&Certificate>,
    out: &mut Out,
) {
    const T: &str = "kubelet";
    let client_path = input
        .kubelet_client
        .as_ref()
        .map(|c| c.path.as_str())
        .unwrap_or("");
    match &st.source {
        KubeletSource::NoConf => out.push(
            Status::Warn,
            T,
            "rotation",
            "kubelet.conf is missing: cannot tell how the kubelet authenticates",
        ),
        KubeletSource::BadConf(e) => out.push(Status::Fail, T, "rotation", e.clone()),
        KubeletSource::Embedded => out.push(
            Status::Warn,
            T,
            "rotation",
            "kubelet.conf embeds its client certificate, so the kubelet cannot rotate it \
             (kubeadm #2054): point client-certificate and client-key at \
             /var/lib/kubelet/pki/kubelet-client-current.pem",
        ),
        KubeletSource::File(p) if !client_path.is_empty() && p != client_path => out.push(
            Status::Warn,
            T,
            "rotation",
            format!("kubelet.conf refers to {p}, but kcerts read {client_path} (pass --kubelet-client-cert {p})"),
        ),
        KubeletSource::File(p) => out.push(
            Status::Pass,
            T,
            "rotation",
            format!("kubelet.conf refers to {p}, which the kubelet rotates"),
        ),
    }
    if let Some(data) = &st.ca_data {
        let (s, r) = compare_ca_data(data, ca, "kubeadm init phase kubeconfig kubelet");
        out.push(s, T, "ca-data", r);
    }
    let Some(cert) = &st.cert else {
        if let Some(e) = &st.error {
            let status = if matches!(st.source, KubeletSource::NoConf)
                && input
                    .kubelet_client
                    .as_ref()
                    .is_some_and(|c| c.content.is_none())
            {
                Status::Warn
            } else {
                Status::Fail
            };
            out.push(status, T, "read", e.clone());
        }
        return;
    };
    let (s, r) = expiry(cert, input.now, input.thresholds);
    out.push(s, T, "expiry", r);
    match ca {
        Some(ca) => match cert.verify_signed_by(ca) {
            Ok(()) => out.push(
                Status::Pass,
                T,
                "chain",
                "signed by ca (signature verified)",
            ),
            Err(e) => out.push(
                Status::Fail,
                T,
                "chain",
                format!("not signed by pki/ca.crt: {e}"),
            ),
        },
        None => out.push(
            Status::Fail,
            T,
            "chain",
            "cannot check: pki/ca.crt did not load",
        ),
    }
    match &st.key {
        Ok(b) if *b == cert.public_key_bits() => out.push(
            Status::Pass,
            T,
            "key",
            "the key beside it matches the certificate",
        ),
        Ok(_) => out.push(
            Status::Fail,
            T,
            "key",
            "the key beside it is not this certificate's",
        ),
        Err(e) => out.push(Status::Fail, T, "key", e.clone()),
    }
    let (s, r) = usage_check(cert, vec![ExtendedKeyUsage::ClientAuth]);
    out.push(s, T, "usage", r);
    let cn = cert.common_name.as_deref().unwrap_or("");
    let want_cn = node_name.map(|n| format!("{KUBELET_CN_PREFIX}{n}"));
    let subject_ok = match &want_cn {
        Some(w) => cn == w,
        None => cn.starts_with(KUBELET_CN_PREFIX),
    } && cert.organizations == [KUBELET_ORG];
    if subject_ok {
        out.push(
            Status::Pass,
            T,
            "subject",
            format!("CN={cn}, O={KUBELET_ORG} fit the role"),
        );
    } else {
        out.push(
            Status::Fail,
            T,
            "subject",
            format!(
                "CN={cn}, O={}; the kubelet needs CN={}, O={KUBELET_ORG}",
                cert.organizations.join("+"),
                want_cn.unwrap_or_else(|| format!("{KUBELET_CN_PREFIX}<node name>"))
            ),
        );
    }
    if matches!(st.source, KubeletSource::File(_)) {
        let life = (cert.not_after - cert.not_before).whole_seconds().max(1) as f64;
        let used = (input.now - cert.not_before).whole_seconds() as f64 / life;
        let pct = (used * 100.0).floor() as i64;
        if used > ROTATION_DEADLINE {
            out.push(
                Status::Warn,
                T,
                "rotating",
                format!(
                    "{pct}% of its lifetime has passed and it was not renewed (the kubelet renews at 70-90%): \
                     check the kubelet log and pending CSRs (kubectl get csr)"
                ),
            );
        } else {
            out.push(
                Status::Pass,
                T,
                "rotating",
                format!("{pct}% of its lifetime has passed; the kubelet renews it at 70-90%"),
            );
        }
    }
}

/// The checks as an aligned table (`RESULT TARGET CHECK REASON`) and a summary line.
pub fn render_text(v: &Verification) -> String {
    let mut t = String::from("RESULT\tTARGET\tCHECK\tREASON\n");
    for c in &v.checks {
        t.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            c.status.as_str(),
            c.target,
            c.check,
            c.reason
        ));
    }
    let mut s = crate::render::tabwriter::format(&t, 0, 2);
    s.push_str(&format!(
        "\n{} checks: {} pass, {} warn, {} fail\n",
        v.checks.len(),
        v.count(Status::Pass),
        v.count(Status::Warn),
        v.count(Status::Fail)
    ));
    s
}

/// The verification in the Prometheus text format: `kcerts_verify_check` per
/// check (0 pass, 1 warn, 2 fail) and the counts per status. The reason is left
/// out of the labels: it holds dates, and a label that changes every run would
/// make a new series every run.
pub fn to_prometheus(v: &Verification) -> String {
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let mut out = String::from(
        "# HELP kcerts_verify_check Result of one kcerts verify check: 0 pass, 1 warn, 2 fail.\n\
         # TYPE kcerts_verify_check gauge\n",
    );
    for c in &v.checks {
        let value = match c.status {
            Status::Pass => 0,
            Status::Warn => 1,
            Status::Fail => 2,
        };
        out.push_str(&format!(
            "kcerts_verify_check{{target=\"{}\",check=\"{}\"}} {value}\n",
            esc(&c.target),
            c.check
        ));
    }
    out.push_str(
        "# HELP kcerts_verify_checks Number of kcerts verify checks by result.\n\
         # TYPE kcerts_verify_checks gauge\n",
    );
    for s in [Status::Pass, Status::Warn, Status::Fail] {
        out.push_str(&format!(
            "kcerts_verify_checks{{status=\"{}\"}} {}\n",
            s.as_str(),
            v.count(s)
        ));
    }
    out
}

/// The verification as pretty JSON.
pub fn to_json(v: &Verification) -> String {
    // Plain data with string keys: serialising cannot fail.
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;
    use crate::issue::pki::{self, PkiOptions};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC); // 2026-03-01

    fn node() -> NodeFiles {
        let opts = PkiOptions {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            ..PkiOptions::example()
        };
        NodeFiles::from_generated(&pki::generate(&opts, NOW, &mut crate::seeded_rng(5)).unwrap())
    }

    fn run(files: &NodeFiles, now: OffsetDateTime) -> Verification {
        verify(&Input {
            files,
            kubelet_client: None,
            node_name: None,
            service_ip: None,
            thresholds: Thresholds::default(),
            now,
        })
    }

    fn find<'a>(v: &'a Verification, target: &str, check: &str) -> &'a Check {
        v.checks
            .iter()
            .find(|c| c.target == target && c.check == check)
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
        assert_eq!(not_pass[0].check, "rotation");
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
            &pki::generate(
                &PkiOptions {
                    key_algorithm: KeyAlgorithm::EcdsaP256,
                    ..PkiOptions::example()
                },
                NOW,
                &mut crate::seeded_rng(6),
            )
            .unwrap(),
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
    fn missing_super_admin_is_normal() {
        let mut files = node();
        files
            .files
            .remove(&NodePath::kubeconfig("super-admin.conf"));
        let v = run(&files, NOW);
        assert_eq!(find(&v, "super-admin.conf", "read").status, Status::Pass);
    }
}
