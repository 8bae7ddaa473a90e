//! The subject alternative names kubeadm gives its serving certificates, from
//! the cluster's configuration (kubeadm's pkiutil.GetAPIServerAltNames,
//! getAltNames and appendSANsToAltNames), and the `DNS:`/`IP:` form of
//! `--add-san`. Used to generate a PKI, to renew with `--sans-from-config` and
//! by verify's SAN check.

use std::fmt;
use std::net::IpAddr;

use thiserror::Error;

use crate::kubeadm::endpoint;

/// A set of SANs in kubeadm's order: DNS names, then IP addresses, each
/// without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AltNames {
    /// DNS names.
    pub dns: Vec<String>,
    /// IP addresses.
    pub ips: Vec<IpAddr>,
}

/// One SAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    /// `DNS:name`.
    Dns(String),
    /// `IP:address`.
    Ip(IpAddr),
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(d) => write!(f, "DNS:{d}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

/// Why a SAN was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SanError {
    /// `IP:` followed by something that is not an address.
    #[error("{0:?} is not an IP address (IP:203.0.113.7 or IP:fd00::7)")]
    BadIp(String),
    /// Not a DNS name kubeadm accepts (RFC 1123 subdomain, `*.` wildcard allowed).
    #[error(
        "{0:?} is not a valid IP address, DNS name or wildcard DNS name (kubeadm's certSANs rule)"
    )]
    BadName(String),
    /// An unknown `TYPE:` prefix.
    #[error("{0:?}: use DNS:name or IP:address")]
    BadPrefix(String),
}

impl AltNames {
    /// Adds a SAN unless already there.
    pub fn add(&mut self, san: San) {
        match san {
            San::Dns(d) => {
                if !self.dns.contains(&d) {
                    self.dns.push(d);
                }
            }
            San::Ip(ip) => {
                if !self.ips.contains(&ip) {
                    self.ips.push(ip);
                }
            }
        }
    }

    /// kubeadm's appendSANsToAltNames: an IP when it parses as one, else a DNS
    /// name when valid; invalid names are returned (kubeadm warns and skips them).
    pub fn add_config_san(&mut self, name: &str) -> Result<(), SanError> {
        let san = config_san(name)?;
        self.add(san);
        Ok(())
    }

    /// Every SAN, DNS names first.
    pub fn sans(&self) -> Vec<San> {
        self.dns
            .iter()
            .cloned()
            .map(San::Dns)
            .chain(self.ips.iter().copied().map(San::Ip))
            .collect()
    }

    /// The SANs of `self` that `dns`/`ips` lack.
    pub fn missing_from(&self, dns: &[String], ips: &[IpAddr]) -> Vec<San> {
        self.sans()
            .into_iter()
            .filter(|s| match s {
                San::Dns(d) => !dns.contains(d),
                San::Ip(ip) => !ips.contains(ip),
            })
            .collect()
    }

    /// `DNS:a, IP:b` (or `none`).
    pub fn describe(&self) -> String {
        describe(&self.sans())
    }
}

/// `DNS:a, IP:b` for a list of SANs (or `none`).
pub fn describe(sans: &[San]) -> String {
    if sans.is_empty() {
        return "none".into();
    }
    sans.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A configuration SAN (`apiServer.certSANs`, `etcd.local.serverCertSANs`):
/// an IP address, else a DNS name or wildcard DNS name.
pub fn config_san(name: &str) -> Result<San, SanError> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(San::Ip(ip));
    }
    let bare = name.strip_prefix("*.").unwrap_or(name);
    if is_dns1123_subdomain(bare) {
        Ok(San::Dns(name.to_string()))
    } else {
        Err(SanError::BadName(name.to_string()))
    }
}

/// `--add-san` values: `IP:203.0.113.7,DNS:api.example.com`; a value without a
/// prefix is taken as kubeadm takes a certSANs entry.
pub fn parse_add_san(list: &str) -> Result<Vec<San>, SanError> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let san = match item.split_once(':') {
            Some((p, v)) if p.eq_ignore_ascii_case("IP") => {
                San::Ip(v.parse().map_err(|_| SanError::BadIp(v.to_string()))?)
            }
            Some((p, v)) if p.eq_ignore_ascii_case("DNS") => match config_san(v)? {
                San::Dns(d) => San::Dns(d),
                San::Ip(_) => return Err(SanError::BadName(v.to_string())),
            },
            Some((p, _))
                if p.chars().all(|c| c.is_ascii_alphabetic())
                    && item.parse::<IpAddr>().is_err() =>
            {
                return Err(SanError::BadPrefix(item.to_string()));
            }
            _ => config_san(item)?,
        };
        if !out.contains(&san) {
            out.push(san);
        }
    }
    Ok(out)
}

/// Kubernetes' IsDNS1123Subdomain: lower-case labels of `[a-z0-9-]`, not
/// starting or ending with `-`, joined by dots, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The first address of a CIDR plus one (`10.96.0.0/12` → `10.96.0.1`), as kubeadm.
pub fn first_service_ip(cidr: &str) -> Option<IpAddr> {
    crate::kubeadm::cidr::Cidr::parse(cidr).ok()?.first_host()
}

/// The `kubernetes` service IP of a service range as kubeadm's
/// GetAPIServerVirtualIP takes it: the first subnet's first host, also for a
/// dual-stack range (`10.96.0.0/16,fd00:10:96::/112` → `10.96.0.1`).
pub fn service_ip(service_subnet: &str) -> Option<IpAddr> {
    service_subnet
        .split(',')
        .next()
        .and_then(|c| first_service_ip(c.trim()))
}

/// What the apiserver certificate's SANs are made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiServerInputs<'a> {
    /// `nodeRegistration.name`, when known.
    pub node_name: Option<&'a str>,
    /// `localAPIEndpoint.advertiseAddress`, when known.
    pub advertise_address: Option<IpAddr>,
    /// `networking.serviceSubnet` (one CIDR, or two comma-separated for dual-stack).
    pub service_subnet: &'a str,
    /// `networking.dnsDomain`.
    pub dns_domain: &'a str,
    /// `controlPlaneEndpoint`.
    pub control_plane_endpoint: Option<&'a str>,
    /// `apiServer.certSANs`.
    pub cert_sans: &'a [String],
}

/// kubeadm's GetAPIServerAltNames: the node name and the `kubernetes` service
/// names, the first service subnet's service IP and the advertise address, the control-plane
/// endpoint's host, then `apiServer.certSANs`. Returns the names with the
/// certSANs entries kubeadm would skip (with a warning).
pub fn apiserver(inputs: &ApiServerInputs<'_>) -> (AltNames, Vec<SanError>) {
    let mut names = AltNames::default();
    if let Some(n) = inputs.node_name {
        names.add(San::Dns(n.to_string()));
    }
    for d in [
        "kubernetes".to_string(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{}", inputs.dns_domain),
    ] {
        names.add(San::Dns(d));
    }
    if let Some(ip) = service_ip(inputs.service_subnet) {
        names.add(San::Ip(ip));
    }
    if let Some(ip) = inputs.advertise_address {
        names.add(San::Ip(ip));
    }
    let mut skipped = Vec::new();
    if let Some(ep) = inputs.control_plane_endpoint {
        let host = endpoint::host(ep);
        if !host.is_empty()
            && let Err(e) = names.add_config_san(host)
        {
            skipped.push(e);
        }
    }
    for s in inputs.cert_sans {
        if let Err(e) = names.add_config_san(s) {
            skipped.push(e);
        }
    }
    (names, skipped)
}

/// kubeadm's getAltNames for etcd's server and peer certificates: the node
/// name and `localhost`, the advertise address, 127.0.0.1 and ::1, then
/// `etcd.local.serverCertSANs` or `peerCertSANs`.
pub fn etcd(
    node_name: Option<&str>,
    advertise_address: Option<IpAddr>,
    extra: &[String],
) -> (AltNames, Vec<SanError>) {
    let mut names = AltNames::default();
    if let Some(n) = node_name {
        names.add(San::Dns(n.to_string()));
    }
    names.add(San::Dns("localhost".into()));
    if let Some(ip) = advertise_address {
        names.add(San::Ip(ip));
    }
    names.add(San::Ip(IpAddr::from([127, 0, 0, 1])));
    names.add(San::Ip(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)));
    let mut skipped = Vec::new();
    for s in extra {
        if let Err(e) = names.add_config_san(s) {
            skipped.push(e);
        }
    }
    (names, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apiserver_names_in_kubeadms_order() {
        let sans = vec![
            "api.example.com".to_string(),
            "203.0.113.7".into(),
            "Bad_Name".into(),
        ];
        let (names, skipped) = apiserver(&ApiServerInputs {
            node_name: Some("cp-1"),
            advertise_address: Some("192.168.10.11".parse().unwrap()),
            service_subnet: "10.96.0.0/12",
            dns_domain: "cluster.local",
            control_plane_endpoint: Some("k8s.example.internal:6443"),
            cert_sans: &sans,
        });
        assert_eq!(
            names.describe(),
            "DNS:cp-1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, \
             DNS:kubernetes.default.svc.cluster.local, DNS:k8s.example.internal, \
             DNS:api.example.com, IP:10.96.0.1, IP:192.168.10.11, IP:203.0.113.7"
        );
        assert_eq!(skipped, [SanError::BadName("Bad_Name".into())]);
    }

    #[test]
    fn etcd_names_and_dual_stack_service_ips() {
        let (names, _) = etcd(Some("cp-1"), Some("10.0.0.5".parse().unwrap()), &[]);
        assert_eq!(
            names.describe(),
            "DNS:cp-1, DNS:localhost, IP:10.0.0.5, IP:127.0.0.1, IP:::1"
        );
        let (api, _) = apiserver(&ApiServerInputs {
            service_subnet: "10.96.0.0/12,fd00::/108",
            dns_domain: "example.org",
            ..Default::default()
        });
        // Only the first subnet's IP, as kubeadm (GetAPIServerVirtualIP).
        assert_eq!(api.ips, ["10.96.0.1".parse::<IpAddr>().unwrap()]);
        assert!(
            api.dns
                .contains(&"kubernetes.default.svc.example.org".to_string())
        );
    }

    #[test]
    fn add_san_syntax() {
        assert_eq!(
            parse_add_san("IP:203.0.113.7, DNS:api.example.com,10.0.0.9,*.apps.example.com")
                .unwrap(),
            [
                San::Ip("203.0.113.7".parse().unwrap()),
                San::Dns("api.example.com".into()),
                San::Ip("10.0.0.9".parse().unwrap()),
                San::Dns("*.apps.example.com".into()),
            ]
        );
        assert_eq!(
            parse_add_san("IP:nope"),
            Err(SanError::BadIp("nope".into()))
        );
        assert!(matches!(
            parse_add_san("URI:x"),
            Err(SanError::BadPrefix(_))
        ));
        assert!(matches!(
            parse_add_san("DNS:Not_Valid"),
            Err(SanError::BadName(_))
        ));
        assert_eq!(
            parse_add_san("IP:fd00::7").unwrap(),
            [San::Ip("fd00::7".parse().unwrap())]
        );
    }

    #[test]
    fn missing_sans_are_listed() {
        let (names, _) = etcd(Some("cp-1"), None, &[]);
        let missing = names.missing_from(&["localhost".into()], &["127.0.0.1".parse().unwrap()]);
        assert_eq!(describe(&missing), "DNS:cp-1, IP:::1");
    }
}
