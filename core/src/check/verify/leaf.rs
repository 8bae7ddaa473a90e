//! verify's checks of each kubeadm leaf certificate: expiry, chain, key, usages,
//! subject, SANs and the kubeconfigs' CA data.

use std::net::IpAddr;

use crate::check::verify::{
    CheckId, DEFAULT_SERVICE_IP, Input, Leaf, Out, Status, ca_cert, expiry,
};
use crate::kubeadm::alt_names::{self, AltNames};
use crate::kubeadm::inventory::{self, Ca, Location, Row};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::node_loader;
use crate::kubeadm::role;
use crate::x509::certificate::{self, Certificate, ExtendedKeyUsage};
use crate::x509::chain;
use crate::x509::keys::PrivateKey;

/// The certificates after the leaf in a row's `.crt` file (none for kubeconfigs).
pub(super) fn intermediates_of(files: &NodeFiles, row: &Row) -> Vec<Certificate> {
    let Location::CertDir { base } = row.location else {
        return Vec::new();
    };
    match node_loader::read(files, &NodePath::cert(format!("{base}.crt"))) {
        Ok(Some(bytes)) => certificate::parse_all(bytes)
            .map(|mut v| v.split_off(1))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Checks every leaf row, in inventory order.
pub(super) fn check_leaves(
    input: &Input<'_>,
    external_etcd: bool,
    leaves: &[Leaf],
    leaf_errors: &[(&'static Row, Option<String>)],
    cas: &[(Ca, Certificate)],
    node_name: Option<&str>,
    out: &mut Out,
) {
    let files = input.files;
    let now = input.now;
    let th = input.thresholds;
    for row in inventory::rows(external_etcd) {
        let name = row.name;
        if let Some((_, err)) = leaf_errors.iter().find(|(r, _)| r.name == name) {
            match err {
                Some(message) => out.push(Status::Fail, name, CheckId::Read, message.clone()),
                None if name == "super-admin.conf" => out.push(
                    Status::Pass,
                    name,
                    CheckId::Read,
                    "absent: kubeadm writes it on the first control-plane node only",
                ),
                None => out.push(
                    Status::Fail,
                    name,
                    CheckId::Read,
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
        out.push(s, name, CheckId::Expiry, r);
        out.weak_crypto(cert, name);
        match ca_cert(cas, row.ca) {
            // kubeadm accepts intermediates after the leaf (TryLoadCertChainFromDisk).
            Some(ca) if !leaf.intermediates.is_empty() => {
                let n = leaf.intermediates.len();
                match chain::verify(cert, &leaf.intermediates, ca, now) {
                    Ok(()) => out.push(
                        Status::Pass,
                        name,
                        CheckId::Chain,
                        format!(
                            "signed by {} through the {n} intermediate certificate(s) in its file \
                             (signatures and validity verified)",
                            row.ca.name()
                        ),
                    ),
                    Err(e) => out.push(
                        Status::Fail,
                        name,
                        CheckId::Chain,
                        format!(
                            "does not chain to pki/{} through the {n} certificate(s) after it: {e}",
                            row.ca.cert_file()
                        ),
                    ),
                }
            }
            Some(ca) => match cert.verify_signed_by(ca) {
                Ok(()) => out.push(
                    Status::Pass,
                    name,
                    CheckId::Chain,
                    format!("signed by {} (signature verified)", row.ca.name()),
                ),
                Err(e) => out.push(
                    Status::Fail,
                    name,
                    CheckId::Chain,
                    format!("not signed by pki/{}: {e}", row.ca.cert_file()),
                ),
            },
            None => out.push(
                Status::Fail,
                name,
                CheckId::Chain,
                format!("cannot check: pki/{} did not load", row.ca.cert_file()),
            ),
        }
        if !files.keys_not_read {
            let (s, r) = key_check(files, row, cert);
            out.push(s, name, CheckId::Key, r);
        }
        let (s, r) = usage_check(cert, row.usage.extended_key_usages());
        out.push(s, name, CheckId::Usage, r);
        match role::check_subject(
            row,
            cert.common_name.as_deref(),
            &cert.organizations,
            &cert.dns_names,
            node_name,
        ) {
            Ok(()) => out.push(Status::Pass, name, CheckId::Subject, subject_text(cert)),
            Err(m) => out.push(Status::Fail, name, CheckId::Subject, m.to_string()),
        }
        let wanted = input.config.and_then(|c| c.sans_for_row(name, node_name));
        match name {
            "apiserver" | "etcd-server" | "etcd-peer" if wanted.is_some() => {
                let (s, r) = configured_sans(cert, name, wanted.as_ref());
                out.push(s, name, CheckId::Sans, r);
            }
            "apiserver" => {
                let (s, r) =
                    apiserver_sans(cert, node_name, input.service_ip, input.advertise_address);
                out.push(s, name, CheckId::Sans, r);
            }
            "etcd-server" | "etcd-peer" => {
                let (s, r) = etcd_sans(cert, node_name, input.advertise_address);
                out.push(s, name, CheckId::Sans, r);
            }
            _ => {}
        }
        if let Location::Kubeconfig { file } = row.location {
            let (s, r) = ca_data_check(files, file, ca_cert(cas, Ca::Ca));
            out.push(s, name, CheckId::CaData, r);
        }
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
                Err(e) => Err(format!("{path}: {}", e.kind)),
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
pub(super) fn usage_check(cert: &Certificate, wanted: Vec<ExtendedKeyUsage>) -> (Status, String) {
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
    advertise_address: Option<IpAddr>,
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
    let advertise = advertise_address.filter(|a| *a != ip);
    let lacks_advertise = advertise.filter(|a| !cert.ip_addresses.contains(a));
    if !missing.is_empty() || (!has_ip && service_ip.is_some()) || lacks_advertise.is_some() {
        if !has_ip {
            missing.push(format!("IP:{ip}"));
        }
        if let Some(a) = lacks_advertise {
            missing.push(format!("IP:{a}"));
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
    let text = match advertise {
        Some(a) => format!(
            "has {node}kubernetes.default names, the service IP {ip} and the advertise address {a}"
        ),
        None => format!("has {node}kubernetes.default names and the service IP {ip}"),
    };
    (Status::Pass, text)
}

/// The SANs kubeadm derives from the cluster configuration (certSANs,
/// controlPlaneEndpoint, node name, advertise address, service IP) must all be there.
fn configured_sans(cert: &Certificate, row: &str, wanted: Option<&AltNames>) -> (Status, String) {
    let Some(wanted) = wanted else {
        return (Status::Pass, "no SANs asked for".into());
    };
    let missing = wanted.missing_from(&cert.dns_names, &cert.ip_addresses);
    if missing.is_empty() {
        return (
            Status::Pass,
            format!(
                "has every SAN the cluster configuration asks for: {}",
                wanted.describe()
            ),
        );
    }
    (
        Status::Fail,
        format!(
            "lacks {}, which the cluster configuration asks for: clients using those \
             names will reject the {row} certificate; `kcerts renew {row} --sans-from-config` \
             with the same --config or --from-cluster adds them",
            alt_names::describe(&missing)
        ),
    )
}

fn etcd_sans(
    cert: &Certificate,
    node_name: Option<&str>,
    advertise_address: Option<IpAddr>,
) -> (Status, String) {
    let mut missing = Vec::new();
    if !cert.dns_names.iter().any(|d| d == "localhost") {
        missing.push("DNS:localhost".to_string());
    }
    let lo = IpAddr::from([127, 0, 0, 1]);
    if !cert.ip_addresses.contains(&lo) {
        missing.push("IP:127.0.0.1".to_string());
    }
    if let Some(a) = advertise_address
        && !cert.ip_addresses.contains(&a)
    {
        missing.push(format!("IP:{a}"));
    }
    if let Some(n) = node_name
        && !cert.dns_names.iter().any(|d| d == n)
    {
        missing.push(format!("DNS:{n}"));
    }
    if missing.is_empty() {
        let text = match advertise_address {
            Some(a) => format!("has localhost, 127.0.0.1 and the advertise address {a}"),
            None => "has localhost and 127.0.0.1".into(),
        };
        (Status::Pass, text)
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

pub(super) fn compare_ca_data(
    data: &[u8],
    ca: Option<&Certificate>,
    fix: &str,
) -> (Status, String) {
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
