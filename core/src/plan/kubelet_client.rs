//! Planning a new kubelet client certificate on a node, in memory: the pair file
//! `kubelet-client-<time>.pem`, the `kubelet-client-current.pem` link to it, and
//! kubelet.conf rewritten to read both certificate and key from the link (kubeadm
//! #1317, #2054: a kubelet.conf that embeds its certificate stops rotation).

use rand_core::CryptoRng;
use time::{Duration, OffsetDateTime};

use crate::issue::kubelet::{self, KubeletError};
use crate::issue::leaf::{RenewOptions, SigningCa};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::x509::certificate::{self, Certificate};
use crate::x509::keys::{KeyAlgorithm, PrivateKey};

/// What the node holds, as bytes.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// kubelet.conf.
    pub kubelet_conf: &'a [u8],
    /// The cluster CA certificate (ca.crt).
    pub ca_cert: &'a [u8],
    /// The current pair file (`kubelet-client-current.pem`), when readable.
    pub current: Option<&'a [u8]>,
    /// `--node-name`.
    pub node_name: Option<&'a str>,
    /// The kubelet's certificate directory as kubelet.conf should name it
    /// (`/var/lib/kubelet/pki`).
    pub pki_dir: &'a str,
}

/// Where the new certificate comes from.
pub enum Source<'a> {
    /// Issue one with the cluster CA key (a control-plane node).
    Issue {
        /// ca.key.
        ca_key: &'a [u8],
        /// `--key-algorithm`; `None` keeps the current key's, else ECDSA P-256.
        key_algorithm: Option<KeyAlgorithm>,
        /// Validity.
        validity: Duration,
    },
    /// Install a certificate signed elsewhere and its key (a worker).
    Install {
        /// The certificate (PEM).
        cert: &'a [u8],
        /// The key (PEM).
        key: &'a [u8],
    },
}

/// The writes, decided.
pub struct Plan {
    /// The node name.
    pub node_name: String,
    /// The new pair file's name inside the kubelet's directory.
    pub file_name: String,
    /// The pair file's bytes (certificate then key; secret).
    pub pair: Vec<u8>,
    /// The link's destination: `<pki_dir>/<file_name>`.
    pub link_to: String,
    /// The new kubelet.conf.
    pub kubelet_conf: Vec<u8>,
    /// The new certificate.
    pub cert: Certificate,
    /// What kind of key it has (`ECDSA P-256`).
    pub key_kind: String,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the pair: it holds the private key.
        f.debug_struct("Plan")
            .field("node_name", &self.node_name)
            .field("file_name", &self.file_name)
            .field("link_to", &self.link_to)
            .finish_non_exhaustive()
    }
}

/// The node name: `--node-name`, else the current certificate's CN, else the
/// certificate embedded in kubelet.conf, else kubelet.conf's user
/// (`system:node:NAME`, as kubeadm names it).
pub fn node_name(input: &Input<'_>) -> Result<String, KubeletError> {
    if let Some(n) = input.node_name {
        kubelet::check_node_name(n)?;
        return Ok(n.to_string());
    }
    let from_cert = |bytes: &[u8]| {
        certificate::parse_first(bytes)
            .ok()
            .and_then(|c| c.common_name)
            .and_then(|cn| kubelet::node_of(&cn).map(str::to_string))
    };
    let conf = Kubeconfig::parse(input.kubelet_conf).ok();
    let found = input
        .current
        .and_then(from_cert)
        .or_else(|| {
            let cur = conf.as_ref()?.current().ok()?;
            from_cert(&cur.client_certificate_data)
        })
        .or_else(|| {
            let conf = conf.as_ref()?;
            conf.entries()
                .ok()?
                .iter()
                .filter(|e| e.kind == "user")
                .find_map(|e| kubelet::node_of(&e.name).map(str::to_string))
        })
        .ok_or(KubeletError::NoNodeName)?;
    kubelet::check_node_name(&found)?;
    Ok(found)
}

/// The algorithm of the key in use now: the current pair file's, else the one
/// embedded in kubelet.conf.
pub fn current_key_algorithm(input: &Input<'_>) -> Option<KeyAlgorithm> {
    let key = input
        .current
        .and_then(|b| PrivateKey::parse(b).ok())
        .or_else(|| {
            let cur = Kubeconfig::parse(input.kubelet_conf).ok()?.current().ok()?;
            PrivateKey::parse(&cur.client_key_data?).ok()
        })?;
    key.algorithm()
}

/// Why the kubelet client certificate should be replaced now, or `None`: no
/// readable `kubelet-client-current.pem`, one that expired or expires within
/// `window`, or a kubelet.conf that does not read it (embedded data stops rotation).
pub fn due(input: &Input<'_>, now: OffsetDateTime, window: Duration) -> Option<String> {
    let link = format!(
        "{}/{}",
        input.pki_dir.trim_end_matches('/'),
        kubelet::CLIENT_CURRENT
    );
    let Some(current) = input.current else {
        return Some(format!("{link} is missing or unreadable"));
    };
    let Ok((cert, _)) = kubelet::read_pair(current) else {
        return Some(format!(
            "{link} does not hold a matching certificate and key"
        ));
    };
    if cert.not_after <= now {
        return Some(format!(
            "the kubelet client certificate expired on {}",
            crate::kubeadm::residual::format_date(cert.not_after)
        ));
    }
    if cert.not_after <= now + window {
        return Some(format!(
            "the kubelet client certificate expires on {}",
            crate::kubeadm::residual::format_date(cert.not_after)
        ));
    }
    let reads_link = Kubeconfig::parse(input.kubelet_conf)
        .and_then(|k| k.entries())
        .map(|entries| {
            let users: Vec<_> = entries.iter().filter(|e| e.kind == "user").collect();
            !users.is_empty()
                && users.iter().all(|e| {
                    e.material == crate::kubeadm::kubeconfig::Material::File { path: link.clone() }
                })
        })
        .unwrap_or(false);
    if !reads_link {
        return Some(format!(
            "kubelet.conf does not read its credentials from {link}"
        ));
    }
    None
}

/// Plans the new certificate, pair file, link and kubelet.conf as of `now`.
pub fn plan<R: CryptoRng + ?Sized>(
    input: &Input<'_>,
    source: &Source<'_>,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Plan, KubeletError> {
    let conf = Kubeconfig::parse(input.kubelet_conf)?;
    let ca_cert = certificate::parse_first(input.ca_cert)
        .map_err(|e| KubeletError::Read(format!("ca.crt: {e}")))?;
    let (node_name, cert, key) = match source {
        Source::Issue {
            ca_key,
            key_algorithm,
            validity,
        } => {
            let node = node_name(input)?;
            let key = PrivateKey::parse(ca_key)
                .map_err(|e| KubeletError::Read(format!("ca.key: {e}")))?;
            let ca = SigningCa::new(ca_cert, key)?;
            let opts = RenewOptions {
                key_algorithm: key_algorithm
                    .or_else(|| current_key_algorithm(input))
                    .unwrap_or(kubelet::DEFAULT_KEY_ALGORITHM),
                validity: *validity,
            };
            let issued = kubelet::issue_client(&node, &ca, &opts, now, rng)?;
            (node, issued.cert, issued.key)
        }
        Source::Install { cert, key } => {
            let cert = certificate::parse_first(cert)
                .map_err(|e| KubeletError::Read(format!("the certificate: {e}")))?;
            let key =
                PrivateKey::parse(key).map_err(|e| KubeletError::Read(format!("the key: {e}")))?;
            let node = kubelet::check_install(&cert, &key, &ca_cert, input.node_name, now)?;
            (node, cert, key)
        }
    };
    let file_name = kubelet::client_file_name(now);
    let dir = input.pki_dir.trim_end_matches('/');
    let link = format!("{dir}/{}", kubelet::CLIENT_CURRENT);
    let kubelet_conf = conf
        .with_client_files(&link, &link, input.ca_cert)?
        .to_yaml()?
        .into_bytes();
    Ok(Plan {
        node_name,
        pair: kubelet::pair_file(&cert.to_pem(), &key.to_pem()).into_bytes(),
        link_to: format!("{dir}/{file_name}"),
        file_name,
        kubelet_conf,
        key_kind: key.describe(),
        cert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{NOW, ecdsa_example_files};

    fn node() -> crate::NodeFiles {
        ecdsa_example_files(NOW - Duration::days(500), 4)
    }

    fn bytes(files: &crate::NodeFiles, p: crate::node::NodePath) -> &[u8] {
        match files.get(&p) {
            Some(crate::node::FileContent::Bytes(b)) => b,
            _ => panic!("{p} missing"),
        }
    }

    #[test]
    fn issues_and_points_kubelet_conf_at_the_link() {
        use crate::node::NodePath;
        let files = node();
        let input = Input {
            kubelet_conf: bytes(&files, NodePath::kubeconfig("kubelet.conf")),
            ca_cert: bytes(&files, NodePath::cert("ca.crt")),
            current: None,
            node_name: None,
            pki_dir: "/var/lib/kubelet/pki/",
        };
        let source = Source::Issue {
            ca_key: bytes(&files, NodePath::cert("ca.key")),
            key_algorithm: None,
            validity: Duration::days(365),
        };
        let p = plan(&input, &source, NOW, &mut crate::seeded_rng(5)).unwrap();
        assert_eq!(p.file_name, "kubelet-client-2026-03-01-12-00-00.pem");
        assert_eq!(
            p.link_to,
            "/var/lib/kubelet/pki/kubelet-client-2026-03-01-12-00-00.pem"
        );
        // The example node's kubelet.conf names the node in its embedded certificate.
        let cn = p.cert.common_name.clone().unwrap();
        assert_eq!(cn, format!("system:node:{}", p.node_name));
        // Same key kind as the embedded one.
        assert_eq!(p.key_kind, "ECDSA P-256");
        let conf = Kubeconfig::parse(&p.kubelet_conf).unwrap();
        let entries = conf.entries().unwrap();
        let users: Vec<_> = entries.iter().filter(|e| e.kind == "user").collect();
        assert_eq!(users.len(), 2, "{users:?}");
        for e in users {
            assert_eq!(
                e.material,
                crate::kubeconfig::Material::File {
                    path: "/var/lib/kubelet/pki/kubelet-client-current.pem".into()
                }
            );
        }
        let (cert, _) = kubelet::read_pair(&p.pair).unwrap();
        assert_eq!(cert.der, p.cert.der);
        assert!(!format!("{p:?}").contains("PRIVATE"));
        // The pair installs on a worker the same way.
        let pair = p.pair.clone();
        let again = plan(
            &input,
            &Source::Install {
                cert: &pair,
                key: &pair,
            },
            NOW,
            &mut crate::seeded_rng(6),
        )
        .unwrap();
        assert_eq!(again.cert.der, p.cert.der);

        // Due: no current file; then installed and pointed at, not due; expired, due.
        let year = Duration::days(365);
        assert!(
            due(&input, NOW, Duration::days(30))
                .unwrap()
                .contains("missing")
        );
        let installed = Input {
            kubelet_conf: &p.kubelet_conf,
            current: Some(&p.pair),
            ..input
        };
        assert_eq!(due(&installed, NOW, Duration::days(30)), None);
        let embedded = Input {
            current: Some(&p.pair),
            ..input
        };
        assert!(
            due(&embedded, NOW, Duration::days(30))
                .unwrap()
                .contains("does not read")
        );
        let late = due(
            &installed,
            NOW + year + Duration::days(1),
            Duration::days(30),
        );
        assert!(late.unwrap().contains("expired on"));
        let soon = due(
            &installed,
            NOW + year - Duration::days(10),
            Duration::days(30),
        );
        assert!(soon.unwrap().contains("expires on"));
    }
}
