//! Planning a new self-signed kubelet serving certificate, in memory: which host,
//! IPs and DNS names it names (the flags, else the current `kubelet.crt`), and the
//! bytes of the new `kubelet.crt` (leaf then CA) and `kubelet.key`. A node whose
//! kubelet bootstraps a CA-signed serving certificate is refused: a self-signed one
//! would not be used.

use std::net::IpAddr;

use rand_core::CryptoRng;
use time::OffsetDateTime;

use crate::issue::kubelet::KubeletError;
use crate::issue::kubelet_selfsigned::{self, SelfSigned, ServingSpec};
use crate::x509::certificate::{self, Certificate};

/// What the node holds and what was asked.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The current `kubelet.crt`, when readable.
    pub current: Option<&'a [u8]>,
    /// Whether `kubelet-server-current.pem` exists (serverTLSBootstrap).
    pub bootstrapped: bool,
    /// `--node-name`: the hostname the kubelet names itself by.
    pub host: Option<&'a str>,
    /// `--address`: IP SANs (none: the current certificate's).
    pub addresses: &'a [IpAddr],
    /// `--dns`: more DNS SANs (none: the current certificate's).
    pub dns: &'a [String],
}

/// The writes, decided.
#[derive(Debug)]
pub struct Plan {
    /// What the new certificate names.
    pub spec: ServingSpec,
    /// The new pair.
    pub new: SelfSigned,
    /// `kubelet.crt`: leaf then CA.
    pub cert_pem: Vec<u8>,
}

impl Plan {
    /// `kubelet.key` (secret).
    pub fn key_pem(&self) -> Vec<u8> {
        self.new.key.to_pem().into_bytes()
    }
}

/// What the new certificate names: the flags, else what the current one names
/// (its host from the CN `HOST@<unix>`, its other SANs).
pub fn spec(input: &Input<'_>) -> Result<ServingSpec, KubeletError> {
    if input.bootstrapped {
        return Err(KubeletError::ServingBootstrapped);
    }
    let current: Option<Certificate> = input
        .current
        .map(certificate::parse_first)
        .transpose()
        .map_err(|e| {
            KubeletError::Read(format!(
                "{}: {e}; pass --node-name and --address to make a new one",
                kubelet_selfsigned::CERT_FILE
            ))
        })?;
    let host = match (input.host, &current) {
        (Some(h), _) => h.to_string(),
        (None, Some(c)) => kubelet_selfsigned::host_of(c).ok_or(KubeletError::NoServingHost)?,
        (None, None) => return Err(KubeletError::NoServingHost),
    };
    let ips: Vec<IpAddr> = if input.addresses.is_empty() {
        current
            .as_ref()
            .map(|c| c.ip_addresses.clone())
            .unwrap_or_default()
    } else {
        input.addresses.to_vec()
    };
    // The current certificate's names beside its own host (a new --node-name replaces it).
    let dns: Vec<String> = if input.dns.is_empty() {
        current
            .as_ref()
            .map(|c| {
                let old_host = kubelet_selfsigned::host_of(c);
                c.dns_names
                    .iter()
                    .filter(|d| Some(*d) != old_host.as_ref())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    } else {
        input.dns.to_vec()
    };
    // The host is the first SAN already.
    let mut seen_ips = Vec::new();
    for ip in ips {
        if ip.to_string() != host && !seen_ips.contains(&ip) {
            seen_ips.push(ip);
        }
    }
    let mut seen_dns: Vec<String> = Vec::new();
    for d in dns {
        if d != host && !seen_dns.contains(&d) {
            seen_dns.push(d);
        }
    }
    Ok(ServingSpec {
        host,
        ips: seen_ips,
        dns: seen_dns,
    })
}

/// Plans the new pair as of `now`.
pub fn plan<R: CryptoRng + ?Sized>(
    input: &Input<'_>,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Plan, KubeletError> {
    let spec = spec(input)?;
    let new = kubelet_selfsigned::generate(&spec, now, rng)?;
    Ok(Plan {
        cert_pem: new.cert_pem().into_bytes(),
        spec,
        new,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::NOW;

    fn input<'a>(current: Option<&'a [u8]>) -> Input<'a> {
        Input {
            current,
            bootstrapped: false,
            host: None,
            addresses: &[],
            dns: &[],
        }
    }

    #[test]
    fn keeps_the_current_names_unless_told_otherwise() {
        let old = kubelet_selfsigned::generate(
            &ServingSpec {
                host: "node-a".into(),
                ips: vec!["10.0.0.7".parse().unwrap()],
                dns: vec!["node-a.lan".into()],
            },
            NOW,
            &mut crate::seeded_rng(3),
        )
        .unwrap();
        let pem = old.cert_pem();
        let s = spec(&input(Some(pem.as_bytes()))).unwrap();
        assert_eq!(s.host, "node-a");
        assert_eq!(s.ips, ["10.0.0.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(s.dns, ["node-a.lan"]);

        let addrs = ["192.168.0.2".parse().unwrap()];
        let s = spec(&Input {
            host: Some("node-b"),
            addresses: &addrs,
            ..input(Some(pem.as_bytes()))
        })
        .unwrap();
        assert_eq!(s.host, "node-b");
        assert_eq!(s.ips, addrs);
        assert_eq!(s.dns, ["node-a.lan"]);
    }

    #[test]
    fn refuses_without_a_host_or_when_bootstrapped() {
        assert_eq!(spec(&input(None)), Err(KubeletError::NoServingHost));
        assert!(matches!(
            spec(&input(Some(b"garbage"))),
            Err(KubeletError::Read(_))
        ));
        assert_eq!(
            spec(&Input {
                bootstrapped: true,
                host: Some("n"),
                ..input(None)
            }),
            Err(KubeletError::ServingBootstrapped)
        );
        let p = plan(
            &Input {
                host: Some("n1"),
                ..input(None)
            },
            NOW,
            &mut crate::seeded_rng(4),
        )
        .unwrap();
        assert_eq!(p.new.leaf.dns_names, ["n1"]);
        assert!(
            p.new
                .leaf
                .matches_key(&crate::PrivateKey::parse(&p.key_pem()).unwrap())
        );
    }
}
