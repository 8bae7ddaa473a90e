//! The kubelet's client certificate: its subject (`system:node:NAME` in
//! `system:nodes`), the one file holding certificate and key that the kubelet
//! itself writes (`kubelet-client-<time>.pem`, behind `kubelet-client-current.pem`,
//! as k8s.io/client-go/util/certificate names them), and signing a kubelet's CSR.

use rand_core::CryptoRng;
use thiserror::Error;
use time::{Duration, OffsetDateTime};

use crate::issue::api_signer::{self, ApiSignError};
use crate::issue::csr_builder;
use crate::issue::leaf::{self, Issued, LeafSpec, RenewError, RenewOptions, SigningCa};
use crate::issue::sign_csr::Profile;
use crate::kubeadm::inventory::{Ca, Usage};
use crate::kubeadm::kubeconfig::KubeconfigError;
use crate::kubeadm::role::{KUBELET_CN_PREFIX, KUBELET_ORG};
use crate::x509::certificate::{self, Certificate, ExtendedKeyUsage};
use crate::x509::csr;
use crate::x509::keys::{KeyAlgorithm, PrivateKey};

/// The link the kubelet reads its client certificate and key through.
pub const CLIENT_CURRENT: &str = crate::kubeadm::ca_phase::KUBELET_CLIENT;

/// The kubelet makes ECDSA P-256 keys for the certificates it requests.
pub const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = KeyAlgorithm::EcdsaP256;

/// Why a kubelet client certificate cannot be made, signed or installed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KubeletError {
    /// Nothing names the node.
    #[error(
        "cannot tell the node name: neither the kubelet client certificate nor kubelet.conf \
         names it; pass --node-name"
    )]
    NoNodeName,
    /// The node name is not a DNS subdomain name.
    #[error(
        "invalid node name {0:?}: use the node's name as `kubectl get nodes` shows it \
         (lowercase letters, digits, '-' and '.')"
    )]
    BadNodeName(String),
    /// The subject is not a kubelet client's.
    #[error(
        "the subject is CN={cn:?} O={orgs:?}, but a kubelet client certificate for {want} \
         needs CN=system:node:{want} O=system:nodes; check --node-name"
    )]
    Subject {
        /// The common name found.
        cn: String,
        /// The organizations found.
        orgs: Vec<String>,
        /// The node name wanted (or `NAME` when any node is accepted).
        want: String,
    },
    /// The certificate lacks client auth.
    #[error("the certificate does not allow client auth (extended key usage)")]
    NotClientAuth,
    /// The certificate and key are not a pair.
    #[error("the certificate and the key do not match")]
    KeyMismatch,
    /// The certificate is not signed by the cluster CA.
    #[error("the certificate is not signed by the cluster CA ca.crt: {0}")]
    NotSignedByCa(String),
    /// The certificate is not valid now.
    #[error("the certificate is valid from {not_before} to {not_after}, not now; sign a new one")]
    NotValidNow {
        /// Validity start (RFC 3339).
        not_before: String,
        /// Validity end (RFC 3339).
        not_after: String,
    },
    /// The CA is not the cluster CA.
    #[error(
        "the kubelet client certificate is signed by the cluster CA (CN kubernetes), but this \
         CA's CN is {0:?}; use /etc/kubernetes/pki/ca.crt and ca.key, or pass --force"
    )]
    WrongCa(String),
    /// A certificate, key, CSR or kubeconfig cannot be read.
    #[error("{0}")]
    Read(String),
    /// Issuing failed.
    #[error(transparent)]
    Issue(#[from] RenewError),
    /// kubelet.conf cannot be used.
    #[error("kubelet.conf: {0}")]
    Kubeconfig(#[from] KubeconfigError),
    /// Signing the request failed.
    #[error(transparent)]
    Sign(#[from] ApiSignError),
    /// Nothing names the host of a new serving certificate.
    #[error(
        "cannot tell the node's hostname: kubelet.crt is missing or names no host; pass \
         --node-name (and --address for its IPs)"
    )]
    NoServingHost,
    /// The kubelet uses a CA-signed serving certificate.
    #[error(
        "kubelet-server-current.pem is there: the kubelet bootstraps a CA-signed serving \
         certificate (serverTLSBootstrap) and would not use a self-signed one; approve its \
         pending request instead (kcerts approve kubelet-serving, or kubectl certificate approve)"
    )]
    ServingBootstrapped,
}

/// `kubelet-client-2026-03-01-12-00-00.pem`: the kubelet's name for a new pair
/// file (the kubelet uses its local time; kcerts uses UTC).
pub fn client_file_name(now: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]");
    let stamp = now
        .to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default();
    format!("kubelet-client-{stamp}.pem")
}

/// Checks a node name: a DNS subdomain name (RFC 1123), as Kubernetes requires.
pub fn check_node_name(name: &str) -> Result<(), KubeletError> {
    if crate::kubeadm::alt_names::is_dns1123_subdomain(name) {
        Ok(())
    } else {
        Err(KubeletError::BadNodeName(name.to_string()))
    }
}

/// The node a kubelet identity (`system:node:NAME`) names.
pub fn node_of(identity: &str) -> Option<&str> {
    identity
        .strip_prefix(KUBELET_CN_PREFIX)
        .filter(|n| !n.is_empty())
}

/// Checks a subject against the kubelet client's (CN `system:node:NAME`, O
/// `system:nodes` only) and returns the node name. With `node_name`, the CN must
/// name that node.
pub fn check_client_subject(
    cn: Option<&str>,
    orgs: &[String],
    node_name: Option<&str>,
) -> Result<String, KubeletError> {
    let mismatch = || KubeletError::Subject {
        cn: cn.unwrap_or_default().to_string(),
        orgs: orgs.to_vec(),
        want: node_name.unwrap_or("NAME").to_string(),
    };
    let node = cn.and_then(node_of).ok_or_else(mismatch)?;
    if node_name.is_some_and(|n| n != node) || orgs != [KUBELET_ORG] {
        return Err(mismatch());
    }
    check_node_name(node)?;
    Ok(node.to_string())
}

/// What a kubelet client certificate says: CN, O and client auth.
pub fn client_spec(node_name: &str) -> LeafSpec {
    LeafSpec {
        common_name: format!("{KUBELET_CN_PREFIX}{node_name}"),
        organizations: vec![KUBELET_ORG.to_string()],
        extended_key_usage: vec![ExtendedKeyUsage::ClientAuth],
        ..LeafSpec::default()
    }
}

/// Issues a kubelet client certificate for `node_name` with a new key, signed by
/// the cluster CA.
pub fn issue_client<R: CryptoRng + ?Sized>(
    node_name: &str,
    ca: &SigningCa,
    opts: &RenewOptions,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Issued, KubeletError> {
    check_node_name(node_name)?;
    Ok(leaf::issue(&client_spec(node_name), ca, opts, now, rng)?)
}

/// The pair file the kubelet writes: the certificate, then its key.
pub fn pair_file(cert_pem: &str, key_pem: &str) -> String {
    let mut out = cert_pem.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(key_pem);
    out
}

/// Reads a pair file (or a certificate and a key given apart, concatenated).
pub fn read_pair(bytes: &[u8]) -> Result<(Certificate, PrivateKey), KubeletError> {
    let cert = certificate::parse_first(bytes).map_err(|e| KubeletError::Read(e.to_string()))?;
    let key = PrivateKey::parse(bytes).map_err(|e| KubeletError::Read(e.to_string()))?;
    if !cert.matches_key(&key) {
        return Err(KubeletError::KeyMismatch);
    }
    Ok((cert, key))
}

/// Checks a certificate handed in for installation (`kubelet client --cert --key`):
/// a pair, a kubelet client for `node_name`, signed by `ca`, valid at `now`.
pub fn check_install(
    cert: &Certificate,
    key: &PrivateKey,
    ca: &Certificate,
    node_name: Option<&str>,
    now: OffsetDateTime,
) -> Result<String, KubeletError> {
    if !cert.matches_key(key) {
        return Err(KubeletError::KeyMismatch);
    }
    let node = check_client_subject(cert.common_name.as_deref(), &cert.organizations, node_name)?;
    if !cert
        .extended_key_usage
        .contains(&ExtendedKeyUsage::ClientAuth)
    {
        return Err(KubeletError::NotClientAuth);
    }
    cert.verify_signed_by(ca)
        .map_err(|e| KubeletError::NotSignedByCa(e.to_string()))?;
    if now < cert.not_before || now > cert.not_after {
        let f = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        return Err(KubeletError::NotValidNow {
            not_before: f(cert.not_before),
            not_after: f(cert.not_after),
        });
    }
    Ok(node)
}

/// Builds the request a worker sends for signing (`kubelet client --csr-only`):
/// a new key and a CSR with the kubelet client's subject.
pub fn client_csr<R: CryptoRng + ?Sized>(
    node_name: &str,
    key_algorithm: KeyAlgorithm,
    rng: &mut R,
) -> Result<(String, PrivateKey), KubeletError> {
    check_node_name(node_name)?;
    let key = PrivateKey::generate(key_algorithm, rng).map_err(RenewError::from)?;
    let pem = csr_builder::build(&client_spec(node_name), &key)
        .map_err(|e| KubeletError::Read(e.to_string()))?;
    Ok((pem, key))
}

/// Signs a kubelet's CSR (`sign --role kubelet-client`): the subject must be
/// `system:node:NAME` / `system:nodes` (NAME = `node_name` when given) and the CA
/// the cluster CA, unless `force`. Usages: digital signature, key encipherment,
/// client auth.
pub fn sign_client_csr<R: CryptoRng + ?Sized>(
    csr_pem: &[u8],
    ca: &SigningCa,
    node_name: Option<&str>,
    force: bool,
    validity: Duration,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Certificate, KubeletError> {
    let req = csr::parse(csr_pem).map_err(|e| KubeletError::Read(e.to_string()))?;
    if !force {
        check_client_subject(req.common_name.as_deref(), &req.organizations, node_name)?;
        let have = ca.cert.common_name.clone().unwrap_or_default();
        if have != Ca::Ca.common_name() {
            return Err(KubeletError::WrongCa(have));
        }
    }
    Ok(api_signer::sign_with_usages(
        csr_pem,
        &Profile::Usage(Usage::Client).usages(),
        ca,
        validity,
        now,
        rng,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::NOW;
    use time::macros::datetime;

    fn ca() -> SigningCa {
        leaf::issue_ca(
            "kubernetes",
            KeyAlgorithm::EcdsaP256,
            NOW - Duration::days(400),
            &mut crate::seeded_rng(1),
        )
        .unwrap()
    }

    #[test]
    fn file_name_is_the_kubelets() {
        assert_eq!(
            client_file_name(datetime!(2026-03-01 09:05:07 UTC)),
            "kubelet-client-2026-03-01-09-05-07.pem"
        );
    }

    #[test]
    fn node_names_are_dns_subdomains() {
        for good in ["cp-1", "node.example.com", "a"] {
            check_node_name(good).unwrap();
        }
        for bad in ["", "Node", "a/b", "-a", "a..b", "a b", &"x".repeat(254)] {
            assert!(check_node_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subject_rule() {
        let orgs = vec![KUBELET_ORG.to_string()];
        assert_eq!(
            check_client_subject(Some("system:node:cp-1"), &orgs, None).unwrap(),
            "cp-1"
        );
        check_client_subject(Some("system:node:cp-1"), &orgs, Some("cp-1")).unwrap();
        let other = check_client_subject(Some("system:node:cp-1"), &orgs, Some("cp-2"));
        assert!(matches!(other, Err(KubeletError::Subject { .. })));
        let admin = vec!["system:masters".to_string()];
        assert!(check_client_subject(Some("system:node:cp-1"), &admin, None).is_err());
        let two = vec![KUBELET_ORG.to_string(), "system:masters".to_string()];
        assert!(check_client_subject(Some("system:node:cp-1"), &two, None).is_err());
        assert!(check_client_subject(Some("kubernetes-admin"), &orgs, None).is_err());
    }

    #[test]
    fn issued_pair_reads_back_and_installs() {
        let ca = ca();
        let mut rng = crate::seeded_rng(2);
        let issued = issue_client("cp-1", &ca, &RenewOptions::default(), NOW, &mut rng).unwrap();
        let pair = pair_file(&issued.cert_pem(), &issued.key_pem());
        assert!(pair.starts_with("-----BEGIN CERTIFICATE-----"));
        let (cert, key) = read_pair(pair.as_bytes()).unwrap();
        assert_eq!(cert.common_name.as_deref(), Some("system:node:cp-1"));
        assert_eq!(cert.organizations, [KUBELET_ORG]);
        assert_eq!(cert.extended_key_usage, [ExtendedKeyUsage::ClientAuth]);
        assert_eq!(key.algorithm(), Some(KeyAlgorithm::Rsa2048));
        assert_eq!(
            check_install(&cert, &key, &ca.cert, Some("cp-1"), NOW).unwrap(),
            "cp-1"
        );
        let late = NOW + Duration::days(400);
        assert!(matches!(
            check_install(&cert, &key, &ca.cert, None, late),
            Err(KubeletError::NotValidNow { .. })
        ));
        let other = ca_other();
        assert!(matches!(
            check_install(&cert, &key, &other.cert, None, NOW),
            Err(KubeletError::NotSignedByCa(_))
        ));
    }

    fn ca_other() -> SigningCa {
        leaf::issue_ca(
            "kubernetes",
            KeyAlgorithm::EcdsaP256,
            NOW - Duration::days(1),
            &mut crate::seeded_rng(9),
        )
        .unwrap()
    }

    #[test]
    fn signs_only_kubelet_requests() {
        let ca = ca();
        let mut rng = crate::seeded_rng(3);
        let (csr_pem, key) = client_csr("cp-1", KeyAlgorithm::EcdsaP256, &mut rng).unwrap();
        let d = Duration::days(365);
        let cert = sign_client_csr(
            csr_pem.as_bytes(),
            &ca,
            Some("cp-1"),
            false,
            d,
            NOW,
            &mut rng,
        )
        .unwrap();
        assert!(cert.matches_key(&key));
        assert!(
            cert.extended_key_usage
                .contains(&ExtendedKeyUsage::ClientAuth)
        );
        let wrong = sign_client_csr(
            csr_pem.as_bytes(),
            &ca,
            Some("cp-2"),
            false,
            d,
            NOW,
            &mut rng,
        );
        assert!(matches!(wrong, Err(KubeletError::Subject { .. })));
        let admin = csr_builder::build(
            &LeafSpec {
                common_name: "kubernetes-admin".into(),
                organizations: vec!["kubeadm:cluster-admins".into()],
                ..LeafSpec::default()
            },
            &key,
        )
        .unwrap();
        let refused = sign_client_csr(admin.as_bytes(), &ca, None, false, d, NOW, &mut rng);
        assert!(matches!(refused, Err(KubeletError::Subject { .. })));
        let etcd = leaf::issue_ca("etcd-ca", KeyAlgorithm::EcdsaP256, NOW, &mut rng).unwrap();
        let wrong_ca = sign_client_csr(csr_pem.as_bytes(), &etcd, None, false, d, NOW, &mut rng);
        assert!(matches!(wrong_ca, Err(KubeletError::WrongCa(_))));
    }
}
