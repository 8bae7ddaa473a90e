//! `kcerts sign`: the external-CA side of `renew --csr-only`. kubeadm's CSRs carry
//! only CN, O and SANs (docs/kubeadm.md, CSRs and --csr-only); the CA must add the
//! usages each role needs, and should refuse a request whose subject does not fit the role.

use rand_core::CryptoRng;
use thiserror::Error;
use time::{Duration, OffsetDateTime};

use crate::issue::api_signer::{self, ApiSignError};
use crate::issue::leaf::SigningCa;
use crate::kubeadm::inventory::{Row, Usage};
use crate::kubeadm::role;
use crate::x509::certificate::Certificate;
use crate::x509::csr;

/// What the certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A kubeadm row (`apiserver`, `admin.conf`...): its usages, its subject
    /// checked, its CA checked.
    Role(&'static Row),
    /// Plain usages, no subject check.
    Usage(Usage),
}

impl Profile {
    fn usage(self) -> Usage {
        match self {
            Profile::Role(r) => r.usage,
            Profile::Usage(u) => u,
        }
    }

    /// The usages as the certificates API names them: digital signature and key
    /// encipherment (kubeadm sets both on every leaf) plus the extended key usages.
    pub fn usages(self) -> Vec<String> {
        let mut v = vec![
            "digital signature".to_string(),
            "key encipherment".to_string(),
        ];
        v.extend(self.usage().extended_key_usages().iter().map(|u| u.name()));
        v
    }
}

/// How to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// Role or usages.
    pub profile: Profile,
    /// NotAfter = now + validity, capped at the CA's NotAfter.
    pub validity: Duration,
    /// Sign even when the subject or the CA does not fit the role.
    pub force: bool,
    /// The node name, to check etcd server/peer CNs exactly.
    pub node_name: Option<String>,
}

/// Why a request was not signed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignCsrError {
    /// The request cannot be read or its signature does not verify.
    #[error(transparent)]
    Request(#[from] csr::CsrError),
    /// The subject does not fit the role.
    #[error(
        "the request does not fit {role}: {reason}; check the request, or pass --force to sign it anyway"
    )]
    Subject {
        /// The row name.
        role: &'static str,
        /// What does not fit.
        reason: role::Mismatch,
    },
    /// The CA is not the one kubeadm signs this role with.
    #[error(
        "{role} is signed by the {want} CA (CN {want_cn:?}), but this CA's CN is {have:?}; \
         use the right --ca-cert/--ca-key, or pass --force"
    )]
    WrongCa {
        /// The row name.
        role: &'static str,
        /// The expected CA's row name.
        want: &'static str,
        /// The expected CA's CN.
        want_cn: &'static str,
        /// The given CA's CN.
        have: String,
    },
    /// The validity is zero or negative.
    #[error("the validity must be positive")]
    BadValidity,
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] ApiSignError),
}

/// Signs `csr_pem` with `ca` for `opts.profile`, as of `now`.
pub fn sign_for_profile<R: CryptoRng + ?Sized>(
    csr_pem: &[u8],
    ca: &SigningCa,
    opts: &SignOptions,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Certificate, SignCsrError> {
    if opts.validity <= Duration::ZERO {
        return Err(SignCsrError::BadValidity);
    }
    let req = csr::parse(csr_pem)?;
    if let (Profile::Role(row), false) = (opts.profile, opts.force) {
        role::check_subject(
            row,
            req.common_name.as_deref(),
            &req.organizations,
            &req.dns_names,
            opts.node_name.as_deref(),
        )
        .map_err(|m| SignCsrError::Subject {
            role: row.name,
            reason: m,
        })?;
        let have = ca.cert.common_name.clone().unwrap_or_default();
        if have != row.ca.common_name() {
            return Err(SignCsrError::WrongCa {
                role: row.name,
                want: row.ca.name(),
                want_cn: row.ca.common_name(),
                have,
            });
        }
    }
    Ok(api_signer::sign_with_usages(
        csr_pem,
        &opts.profile.usages(),
        ca,
        opts.validity,
        now,
        rng,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::leaf::{self, LeafSpec};
    use crate::kubeadm::inventory::{Ca, row};
    use crate::test_support::NOW;
    use crate::x509::certificate::ExtendedKeyUsage;
    use crate::x509::keys::{KeyAlgorithm, PrivateKey};

    fn request(cn: &str, orgs: &[&str], dns: &[&str]) -> String {
        let mut rng = crate::seeded_rng(9);
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256, &mut rng).unwrap();
        let spec = LeafSpec {
            common_name: cn.into(),
            organizations: orgs.iter().map(|s| s.to_string()).collect(),
            dns_names: dns.iter().map(|s| s.to_string()).collect(),
            ..LeafSpec::default()
        };
        crate::issue::csr_builder::build(&spec, &key).unwrap()
    }

    fn ca(cn: &str) -> SigningCa {
        leaf::issue_ca(cn, KeyAlgorithm::EcdsaP256, NOW, &mut crate::seeded_rng(8)).unwrap()
    }

    fn opts(profile: Profile) -> SignOptions {
        SignOptions {
            profile,
            validity: leaf::DEFAULT_VALIDITY,
            force: false,
            node_name: None,
        }
    }

    #[test]
    fn a_role_gets_its_usages() {
        let ca = ca(Ca::EtcdCa.common_name());
        let csr = request("cp-1", &[], &["cp-1", "localhost"]);
        let o = opts(Profile::Role(row("etcd-peer").unwrap()));
        let cert =
            sign_for_profile(csr.as_bytes(), &ca, &o, NOW, &mut crate::seeded_rng(1)).unwrap();
        assert_eq!(
            cert.extended_key_usage,
            [ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth]
        );
        assert_eq!(cert.key_usage, ["digitalSignature", "keyEncipherment"]);
        assert!(cert.verify_signed_by(&ca.cert).is_ok());
        assert_eq!(cert.not_after, NOW + leaf::DEFAULT_VALIDITY);
    }

    #[test]
    fn a_wrong_subject_or_ca_is_refused_unless_forced() {
        let ca = ca("kubernetes");
        let csr = request("kubernetes-admin", &[], &[]);
        let mut o = opts(Profile::Role(row("admin.conf").unwrap()));
        let e =
            sign_for_profile(csr.as_bytes(), &ca, &o, NOW, &mut crate::seeded_rng(1)).unwrap_err();
        assert!(e.to_string().contains("O is none"), "{e}");
        o.force = true;
        assert!(sign_for_profile(csr.as_bytes(), &ca, &o, NOW, &mut crate::seeded_rng(1)).is_ok());

        let csr = request("kube-apiserver-etcd-client", &[], &[]);
        let o = opts(Profile::Role(row("apiserver-etcd-client").unwrap()));
        let e =
            sign_for_profile(csr.as_bytes(), &ca, &o, NOW, &mut crate::seeded_rng(1)).unwrap_err();
        assert!(
            matches!(
                e,
                SignCsrError::WrongCa {
                    want: "etcd-ca",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn plain_usages_skip_the_subject_check() {
        let ca = ca("my-ca");
        let csr = request("anything", &[], &["a.example"]);
        let cert = sign_for_profile(
            csr.as_bytes(),
            &ca,
            &opts(Profile::Usage(Usage::Server)),
            NOW,
            &mut crate::seeded_rng(1),
        )
        .unwrap();
        assert_eq!(cert.extended_key_usage, [ExtendedKeyUsage::ServerAuth]);
        assert_eq!(cert.dns_names, ["a.example"]);
    }
}
