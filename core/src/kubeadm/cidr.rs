//! IP prefixes (`10.96.0.0/12`, `fd00::/8`) as Kubernetes flags take them: the
//! service CIDR, and the addresses a kubelet serving certificate may name.

use std::fmt;
use std::net::IpAddr;

use thiserror::Error;

/// An IP prefix: an address and how many leading bits count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address, its host bits cleared.
    pub network: IpAddr,
    /// The prefix length.
    pub bits: u8,
}

/// Why a string is not an IP prefix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid IP prefix {0:?}: expected ADDRESS/BITS, e.g. 10.0.0.0/8 or fd00::/8")]
pub struct CidrError(pub String);

fn mask4(bits: u8) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(bits))
    }
}

fn mask6(bits: u8) -> u128 {
    if bits == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(bits))
    }
}

impl Cidr {
    /// Parses `ADDRESS/BITS`.
    pub fn parse(s: &str) -> Result<Self, CidrError> {
        let bad = || CidrError(s.to_string());
        let (addr, bits) = s.trim().split_once('/').ok_or_else(bad)?;
        let bits: u8 = bits.parse().map_err(|_| bad())?;
        let network = match addr.parse::<IpAddr>().map_err(|_| bad())? {
            IpAddr::V4(v4) if bits <= 32 => {
                IpAddr::from(std::net::Ipv4Addr::from(u32::from(v4) & mask4(bits)))
            }
            IpAddr::V6(v6) if bits <= 128 => {
                IpAddr::from(std::net::Ipv6Addr::from(u128::from(v6) & mask6(bits)))
            }
            _ => return Err(bad()),
        };
        Ok(Self { network, bits })
    }

    /// Whether `ip` falls within the prefix (an IPv4 address never in an IPv6 prefix).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask4(self.bits) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask6(self.bits) == u128::from(n),
            _ => false,
        }
    }

    /// The network address plus one (`10.96.0.0/12` → `10.96.0.1`), `None` for a
    /// prefix with no room for it (/32, /128).
    pub fn first_host(&self) -> Option<IpAddr> {
        match self.network {
            IpAddr::V4(n) if self.bits <= 31 => {
                Some(IpAddr::from(std::net::Ipv4Addr::from(u32::from(n) + 1)))
            }
            IpAddr::V6(n) if self.bits <= 127 => {
                Some(IpAddr::from(std::net::Ipv6Addr::from(u128::from(n) + 1)))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_contains() {
        let c = Cidr::parse("10.1.2.3/8").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains("10.200.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("192.168.1.1".parse().unwrap()));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::5".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        let host = Cidr::parse("192.168.1.9/32").unwrap();
        assert!(host.contains("192.168.1.9".parse().unwrap()));
        assert_eq!(host.first_host(), None);
        for bad in ["10.0.0.0", "10.0.0.0/33", "x/8", "::/129", "10.0.0.0/-1"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
