//! Server addresses as kubeadm and the components write them: `host`,
//! `host:port`, `[v6]:port` and URLs (`https://host:port/path`), taken apart,
//! put together with IPv6 brackets, and completed with a default port. The one
//! host:port parser: fleet's endpoints, the control-plane endpoint's SAN and
//! kubeconfig server, and the addresses in static pod manifests all use it.
//!
//! Uses `x509` (the SAN check).

use std::net::IpAddr;

use serde::Serialize;

use crate::x509::certificate::Certificate;

/// A server address: host (lowercase) and optional port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// DNS name or IP address, without brackets.
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
}

impl Endpoint {
    /// Parses `https://host:port/path`, `host:port`, `[v6]:port` or `host`.
    pub fn parse(text: &str) -> Option<Self> {
        let (host, port) = split_host_port(authority(text.trim()))?;
        let port = match port {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        Some(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Parses `host:port` or `[v6]:port` as Go's `net.SplitHostPort` does
    /// (the form of `--endpoint NAME=HOST:PORT`): the port is required, and an
    /// IPv6 host must be in brackets (`::1:6443` is refused, naming `[::1]:6443`).
    pub fn parse_host_port(text: &str) -> Result<Self, HostPortError> {
        let bad = |problem| HostPortError {
            address: text.to_string(),
            problem,
        };
        if !text.starts_with('[') && text.matches(':').count() > 1 {
            // `::1:6443` is `[::1]:6443` when what is before the last colon is
            // an IPv6 address; otherwise the port is missing (`fd00::1`).
            let hint = match text.rsplit_once(':') {
                Some((host, port)) if host.parse::<std::net::Ipv6Addr>().is_ok() => {
                    format!("[{host}]:{port}")
                }
                _ => format!("[{text}]:PORT"),
            };
            return Err(bad(HostPortProblem::UnbracketedIpv6 { hint }));
        }
        let (host, port) = split_host_port(text).ok_or(bad(HostPortProblem::Brackets))?;
        let port = port.ok_or(bad(HostPortProblem::NoPort))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| bad(HostPortProblem::BadPort(port.to_string())))?;
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(HostPortProblem::BadHost));
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port: Some(port),
        })
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// Whether `other` (a kubeconfig's server) is this endpoint: same host, and
    /// the same port when this one names a port.
    pub fn matches(&self, other: &Endpoint) -> bool {
        let same_host = match (self.ip(), other.ip()) {
            (Some(a), Some(b)) => a == b,
            _ => self.host == other.host,
        };
        same_host && (self.port.is_none() || self.port == other.port)
    }

    /// Whether `cert` has this host among its SANs.
    pub fn in_sans(&self, cert: &Certificate) -> bool {
        match self.ip() {
            Some(ip) => cert.ip_addresses.contains(&ip),
            None => cert
                .dns_names
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&self.host)),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => f.write_str(&host),
        }
    }
}

/// A `host:port` that [`Endpoint::parse_host_port`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address {address:?}: {problem}")]
pub struct HostPortError {
    /// The text given.
    pub address: String,
    /// What is wrong with it.
    pub problem: HostPortProblem,
}

/// What is wrong with a `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostPortProblem {
    /// An IPv6 address with a port but no brackets (`::1:6443`).
    #[error("an IPv6 address goes in brackets: write {hint}")]
    UnbracketedIpv6 {
        /// The address written with brackets (`[::1]:6443`).
        hint: String,
    },
    /// A bracket left open, or text after the closing one that is not `:port`.
    #[error("unbalanced brackets: use HOST:PORT or [IPV6]:PORT")]
    Brackets,
    /// No `:port`.
    #[error("no port: use HOST:PORT")]
    NoPort,
    /// The port is not a number from 0 to 65535.
    #[error("port {0:?} is not a number from 0 to 65535")]
    BadPort(String),
    /// The host is empty or holds spaces or control characters.
    #[error("no host name or address: use HOST:PORT")]
    BadHost,
}

/// The `host:port` part of a URL (`https://user@host:port/path?q` is
/// `host:port`); text without a scheme is taken as the address itself.
pub fn authority(url: &str) -> &str {
    let s = url.split_once("://").map_or(url, |(_, rest)| rest);
    let s = s.split(['/', '?', '#']).next().unwrap_or(s);
    s.rsplit_once('@').map_or(s, |(_, h)| h)
}

/// Takes `host`, `host:port` or `[v6]:port` apart: the host without brackets
/// and the text after its colon, if any. A bare IPv6 address (`fd00::1`) is a
/// host without a port. `None`: a bracket left open, or text after the closing
/// bracket that is not `:port`.
pub fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    Some(match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (s, None),
    })
}

/// The host of a `host`, `host:port` or `[v6]:port` endpoint, as kubeadm takes
/// it for the apiserver's SANs: a part after the colon that is not a number is
/// part of the host; the text inside an unclosed bracket is the host.
pub fn host(endpoint: &str) -> &str {
    let numeric = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    match split_host_port(endpoint) {
        Some((_, Some(port))) if !endpoint.starts_with('[') && !numeric(port) => endpoint,
        Some((host, _)) => host,
        None => endpoint[1..].split(']').next().unwrap_or_default(),
    }
}

/// `host:port`, with an IPv6 host in brackets (one already in brackets is kept).
pub fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The endpoint with `port` added when it names none (`lb` is `lb:6443`,
/// `fd00::1` is `[fd00::1]:6443`); an endpoint with a port is kept as given.
pub fn with_default_port(endpoint: &str, port: u16) -> String {
    let h = host(endpoint);
    if h == endpoint {
        join_host_port(h, port)
    } else {
        endpoint.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = |s: &str| Endpoint::parse(s);
        assert_eq!(
            e("https://K8s.Example:6443/x").unwrap().to_string(),
            "k8s.example:6443"
        );
        assert_eq!(e("[fd00::1]:6443").unwrap().host, "fd00::1");
        assert_eq!(e("[fd00::1]:6443").unwrap().to_string(), "[fd00::1]:6443");
        assert_eq!(e("fd00::1").unwrap().port, None);
        assert_eq!(e("fd00::1").unwrap().to_string(), "[fd00::1]");
        assert_eq!(e("10.0.0.1").unwrap().port, None);
        assert_eq!(e("https://admin@lb:443?x#y").unwrap().to_string(), "lb:443");
        assert_eq!(e("host:x"), None);
        assert_eq!(e("host:70000"), None);
        assert_eq!(e("[fd00::1"), None);
        assert_eq!(e("[fd00::1]x"), None);
        assert_eq!(e(""), None);
        assert!(e("lb").unwrap().matches(&e("https://lb:6443").unwrap()));
        assert!(!e("lb:443").unwrap().matches(&e("https://lb:6443").unwrap()));
        assert!(
            e("10.0.0.1:6443")
                .unwrap()
                .matches(&e("10.0.0.1:6443").unwrap())
        );
    }

    #[test]
    fn host_port_needs_a_port_and_brackets_around_ipv6() {
        let ok = |s: &str| Endpoint::parse_host_port(s).unwrap().to_string();
        assert_eq!(ok("127.0.0.1:6443"), "127.0.0.1:6443");
        assert_eq!(ok("LB.example:443"), "lb.example:443");
        assert_eq!(ok("[::1]:6443"), "[::1]:6443");
        assert_eq!(ok("[fd00::1]:2379"), "[fd00::1]:2379");
        let err = |s: &str| Endpoint::parse_host_port(s).unwrap_err();
        assert_eq!(
            err("::1:6443").to_string(),
            "invalid address \"::1:6443\": an IPv6 address goes in brackets: write [::1]:6443"
        );
        assert_eq!(
            err("fd00::1").problem,
            HostPortProblem::UnbracketedIpv6 {
                hint: "[fd00::1]:PORT".into()
            }
        );
        assert_eq!(err("lb").problem, HostPortProblem::NoPort);
        assert_eq!(err("[::1]").problem, HostPortProblem::NoPort);
        assert_eq!(err("lb:x").problem, HostPortProblem::BadPort("x".into()));
        assert_eq!(
            err("lb:70000").problem,
            HostPortProblem::BadPort("70000".into())
        );
        assert_eq!(err(":6443").problem, HostPortProblem::BadHost);
        assert_eq!(err("[::1:6443").problem, HostPortProblem::Brackets);
        assert_eq!(err("[::1]x").problem, HostPortProblem::Brackets);
    }

    #[test]
    fn endpoint_host_strips_ports() {
        assert_eq!(host("k8s.example:6443"), "k8s.example");
        assert_eq!(host("10.0.0.1"), "10.0.0.1");
        assert_eq!(host("[fd00::1]:6443"), "fd00::1");
        // kubeadm's sloppy forms: a non-numeric port stays in the host, an
        // unclosed bracket gives what it holds.
        assert_eq!(host("k8s.example:api"), "k8s.example:api");
        assert_eq!(host("fd00::1"), "fd00::1");
        assert_eq!(host("[fd00::1"), "fd00::1");
        assert_eq!(host("[fd00::1]x"), "fd00::1");
    }

    #[test]
    fn ports_are_joined_with_brackets_and_defaulted() {
        assert_eq!(join_host_port("::1", "6443"), "[::1]:6443");
        assert_eq!(join_host_port("[::1]", 6443), "[::1]:6443");
        assert_eq!(join_host_port("10.0.0.1", 2379), "10.0.0.1:2379");
        assert_eq!(with_default_port("lb.example", 6443), "lb.example:6443");
        assert_eq!(with_default_port("lb.example:443", 6443), "lb.example:443");
        assert_eq!(with_default_port("fd00::1", 6443), "[fd00::1]:6443");
        assert_eq!(with_default_port("[fd00::1]:443", 6443), "[fd00::1]:443");
    }

    #[test]
    fn urls_give_their_authority() {
        assert_eq!(authority("https://127.0.0.1:2379"), "127.0.0.1:2379");
        assert_eq!(authority("https://[::1]:2380/x"), "[::1]:2380");
        assert_eq!(authority("lb:6443"), "lb:6443");
    }
}
