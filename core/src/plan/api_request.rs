//! The client half of renewal through the Kubernetes certificates API
//! (docs/kubeadm.md, The certificates API flow): what each CertificateSigningRequest carries, how to read its status,
//! and the check of the certificate the cluster issues before anything is written.
//!
//! The HTTP client lives in the CLI; the CA side is [`crate::issue::api_signer`].

use rand_core::CryptoRng;
use thiserror::Error;
use time::{Duration, OffsetDateTime};

pub use crate::issue::api_signer::{KUBE_APISERVER_CLIENT_SIGNER, LEGACY_UNKNOWN_SIGNER};
use crate::issue::csr_builder;
use crate::issue::key_choice::KeyChoice;
use crate::issue::leaf::{self, LeafSpec};
use crate::kubeadm::inventory::{Ca, Location, Row};
use crate::kubeadm::kubeconfig::{Kubeconfig, KubeconfigError};
use crate::kubeadm::node::{NodeFiles, NodePath, certificate_path};
use crate::kubeadm::node_loader::{self, FileErrorKind};
use crate::plan::renewal::{FileWrite, RowError, RowErrorKind};
use crate::x509::certificate::{self, Certificate, ExtendedKeyUsage, IssuerError};
use crate::x509::keys::PrivateKey;

/// How long to wait for approval and issuance by default (kubeadm: 5 minutes).
pub const DEFAULT_TIMEOUT: Duration = Duration::minutes(5);
/// The API server cuts `generateName` prefixes to 58 characters (63 minus the
/// 5 random ones it appends).
pub const MAX_GENERATE_NAME: usize = 58;

/// Why no signer name can be chosen for a row.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignerError {
    /// A serving certificate: v1 has no built-in signer that issues them to kubeadm.
    #[error(
        "{row} is a serving certificate and certificates.k8s.io/v1 has no built-in signer \
         for it ({LEGACY_UNKNOWN_SIGNER} cannot be requested)"
    )]
    Serving {
        /// Row name.
        row: &'static str,
    },
    /// A client certificate of another CA than the cluster CA.
    #[error(
        "{row} is signed by {ca_file}, but {KUBE_APISERVER_CLIENT_SIGNER} signs with the \
         cluster CA (ca.crt)"
    )]
    OtherCa {
        /// Row name.
        row: &'static str,
        /// The CA file that signs the row, e.g. `etcd/ca.crt`.
        ca_file: String,
    },
    /// The given signer name is refused by certificates.k8s.io/v1.
    #[error("signer name {0:?} cannot be requested with certificates.k8s.io/v1")]
    Forbidden(String),
    /// Not of the form `example.com/signer-name`.
    #[error("signer name {0:?} is not of the form example.com/signer-name")]
    Malformed(String),
}

/// Why the certificate the cluster issued is refused (nothing is written then).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IssuedError {
    /// `status.certificate` holds no certificate.
    #[error("status.certificate holds no certificate: {0}")]
    Malformed(String),
    /// The certificate is not for the key kcerts generated.
    #[error("the issued certificate is not for the new key")]
    KeyMismatch,
    /// A name differs from the request.
    #[error("the issued certificate has {field} {got}, but {want} was requested")]
    Names {
        /// Which names: `common name`, `organizations`, `DNS names`, `IP addresses`.
        field: &'static str,
        /// Requested.
        want: String,
        /// Issued.
        got: String,
    },
    /// A requested extended key usage is missing.
    #[error("the issued certificate lacks the {0} usage")]
    MissingUsage(String),
    /// The certificate is a CA.
    #[error("the issued certificate is a CA certificate")]
    IsCa,
    /// Not issued by the CA that signs this row on the node.
    #[error("the issued certificate does not chain to {ca_file}: {source}")]
    WrongCa {
        /// The node's CA file for the row.
        ca_file: String,
        /// Why.
        source: IssuerError,
    },
    /// Not valid now.
    #[error("the issued certificate is not valid now (valid {not_before} to {not_after})")]
    NotValidNow {
        /// NotBefore.
        not_before: OffsetDateTime,
        /// NotAfter.
        not_after: OffsetDateTime,
    },
    /// The kubeconfig cannot take the new credentials.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
}

/// The `generateName` of a row's request: `kubeadm-cert-<CN>-`, the CN made safe
/// for an object name (lowercase alphanumerics, `-` and `.`; anything else becomes
/// `-`), cut to [`MAX_GENERATE_NAME`].
pub fn name_prefix(common_name: &str) -> String {
    let mut safe = String::new();
    for c in common_name.chars() {
        let c = c.to_ascii_lowercase();
        let keep = c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
        let c = if keep { c } else { '-' };
        // Collapse runs so `system:kube-scheduler` reads `system-kube-scheduler`.
        if !(c == '-' && safe.ends_with('-')) {
            safe.push(c);
        }
    }
    let safe = safe.trim_matches(|c| c == '-' || c == '.');
    let mut name = format!("kubeadm-cert-{safe}");
    name.truncate(MAX_GENERATE_NAME - 1);
    // A name segment must end alphanumeric before the separator.
    while name.ends_with(['-', '.']) {
        name.pop();
    }
    name.push('-');
    name
}

/// `spec.usages` for a certificate with these extended key usages: digital
/// signature and key encipherment (which the issued certificate needs and the
/// client signer allows), then `server auth` and/or `client auth`.
pub fn usages(ekus: &[ExtendedKeyUsage]) -> Vec<String> {
    let mut out = vec!["digital signature".to_string(), "key encipherment".into()];
    for e in [ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth] {
        if ekus.contains(&e) {
            out.push(e.name());
        }
    }
    out
}

/// The signer name for a row: `requested` (from `--signer-name`) for every row
/// when given; otherwise [`KUBE_APISERVER_CLIENT_SIGNER`] for client certificates
/// of the cluster CA, and an error for serving certificates and other CAs.
pub fn signer_name(
    row: &Row,
    ekus: &[ExtendedKeyUsage],
    requested: Option<&str>,
) -> Result<String, SignerError> {
    if let Some(name) = requested {
        validate_signer_name(name)?;
        return Ok(name.to_string());
    }
    if ekus.contains(&ExtendedKeyUsage::ServerAuth) {
        return Err(SignerError::Serving { row: row.name });
    }
    if row.ca != Ca::Ca {
        return Err(SignerError::OtherCa {
            row: row.name,
            ca_file: row.ca.cert_file(),
        });
    }
    Ok(KUBE_APISERVER_CLIENT_SIGNER.to_string())
}

/// certificates.k8s.io/v1's rules for `spec.signerName`: `domain/path`, and
/// never the legacy signer.
pub fn validate_signer_name(name: &str) -> Result<(), SignerError> {
    if name == LEGACY_UNKNOWN_SIGNER {
        return Err(SignerError::Forbidden(name.to_string()));
    }
    let Some((domain, path)) = name.split_once('/') else {
        return Err(SignerError::Malformed(name.to_string()));
    };
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if !domain_ok || path.is_empty() || name.len() > 571 {
        return Err(SignerError::Malformed(name.to_string()));
    }
    Ok(())
}

/// Everything needed to request one row's certificate and to accept the answer.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// The row.
    pub row: &'static Row,
    /// The new private key (never sent).
    pub key: PrivateKey,
    /// `spec.request`: the PEM CSR.
    pub csr_pem: String,
    /// What the certificate must say.
    pub spec: LeafSpec,
    /// `metadata.generateName`.
    pub name_prefix: String,
    /// `spec.usages`.
    pub usages: Vec<String>,
    /// `spec.signerName`.
    pub signer_name: String,
    /// The node's CA certificate for the row; the issued certificate must chain to it.
    pub ca: Certificate,
}

/// What happens to one row with `--use-api`.
#[derive(Debug, Clone)]
pub enum RequestPlan {
    /// A request to send.
    Request(Box<ApiRequest>),
    /// The file is absent (`MISSING! <long name>`).
    Missing,
    /// No signer can be chosen.
    NoSigner(SignerError),
    /// A file is unusable.
    Failed(RowError),
}

/// Prepares a request with a new key for each row. Needs the CA certificates
/// (to check the answer), not their keys.
pub fn plan<R: CryptoRng + ?Sized>(
    files: &NodeFiles,
    rows: &[&'static Row],
    requested_signer: Option<&str>,
    key: KeyChoice,
    rng: &mut R,
) -> Vec<(&'static Row, RequestPlan)> {
    rows.iter()
        .map(|&row| (row, plan_row(files, row, requested_signer, key, rng)))
        .collect()
}

fn plan_row<R: CryptoRng + ?Sized>(
    files: &NodeFiles,
    row: &'static Row,
    requested_signer: Option<&str>,
    key: KeyChoice,
    rng: &mut R,
) -> RequestPlan {
    let old = match node_loader::load_row_certificate(files, row) {
        Ok(None) => return RequestPlan::Missing,
        Err(e) => return RequestPlan::Failed(e.into()),
        Ok(Some(old)) => old,
    };
    let signer = match signer_name(row, &old.extended_key_usage, requested_signer) {
        Ok(s) => s,
        Err(e) => return RequestPlan::NoSigner(e),
    };
    let mut errors = Vec::new();
    let ca_state = node_loader::load_ca(files, row.ca, &mut errors);
    if let Some(e) = errors.into_iter().next() {
        return RequestPlan::Failed(e.into());
    }
    let Some(ca) = ca_state.cert else {
        return RequestPlan::Failed(RowError::new(
            &NodePath::cert(row.ca.cert_file()),
            FileErrorKind::MissingCa {
                ca: row.ca.name(),
                needed_for: "check the issued certificate",
            },
        ));
    };
    let fail =
        |kind: RowErrorKind| RequestPlan::Failed(RowError::new(&certificate_path(row), kind));
    let spec = LeafSpec::from_existing(&old);
    let key_algorithm = match key.for_certificate(&old) {
        Ok(a) => a,
        Err(e) => return fail(RowErrorKind::RequestKey(e)),
    };
    let key = match PrivateKey::generate(key_algorithm, rng) {
        Ok(k) => k,
        Err(e) => return fail(e.into()),
    };
    let csr_pem = match csr_builder::build(&spec, &key) {
        Ok(p) => p,
        Err(e) => return fail(e.into()),
    };
    RequestPlan::Request(Box::new(ApiRequest {
        row,
        name_prefix: name_prefix(&spec.common_name),
        usages: usages(&spec.extended_key_usage),
        signer_name: signer,
        key,
        csr_pem,
        spec,
        ca,
    }))
}

/// One condition of a request's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Condition<'a> {
    /// `Approved`, `Denied` or `Failed`.
    pub kind: &'a str,
    /// `True` or `False` (absent counts as `True`, as before v1 required it).
    pub status: &'a str,
    /// Machine-readable reason.
    pub reason: &'a str,
    /// Human-readable message.
    pub message: &'a str,
}

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestState<'a> {
    /// Neither approved nor denied yet.
    Pending,
    /// Approved, waiting for the signer to set `status.certificate`.
    Approved,
    /// Approved and issued: the PEM of `status.certificate`.
    Issued(&'a [u8]),
    /// Denied by someone.
    Denied {
        /// Reason.
        reason: String,
        /// Message.
        message: String,
    },
    /// The signer failed.
    Failed {
        /// Reason.
        reason: String,
        /// Message.
        message: String,
    },
}

/// Reads a request's status: Denied and Failed win over Approved; Issued needs
/// both the Approved condition and a certificate.
pub fn state<'a>(conditions: &[Condition<'_>], certificate: Option<&'a [u8]>) -> RequestState<'a> {
    let present = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.kind == kind && c.status != "False")
    };
    let detail = |c: &Condition<'_>| (c.reason.to_string(), c.message.to_string());
    if let Some(c) = present("Denied") {
        let (reason, message) = detail(c);
        return RequestState::Denied { reason, message };
    }
    if let Some(c) = present("Failed") {
        let (reason, message) = detail(c);
        return RequestState::Failed { reason, message };
    }
    match (present("Approved"), certificate) {
        (Some(_), Some(cert)) if !cert.is_empty() => RequestState::Issued(cert),
        (Some(_), _) => RequestState::Approved,
        (None, _) => RequestState::Pending,
    }
}

/// Checks the certificate the cluster issued for `req` against the new key, the
/// requested names and usages and the node's CA, as of `now`, and returns the
/// files to write: key and certificate, or the kubeconfig with embedded data
/// (its cluster CA data reset to the CA certificate, as local renewal does).
pub fn accept(
    req: &ApiRequest,
    files: &NodeFiles,
    issued_pem: &[u8],
    now: OffsetDateTime,
) -> Result<(Certificate, Vec<FileWrite>), IssuedError> {
    let cert = check_issued(req, issued_pem, now)?;
    let writes = match req.row.location {
        Location::CertDir { base } => vec![
            FileWrite {
                path: NodePath::cert(format!("{base}.key")),
                bytes: req.key.to_pem().into_bytes(),
                secret: true,
            },
            FileWrite {
                path: NodePath::cert(format!("{base}.crt")),
                bytes: cert.to_pem().into_bytes(),
                secret: false,
            },
        ],
        Location::Kubeconfig { file } => {
            let path = NodePath::kubeconfig(file);
            let bytes = node_loader::read(files, &path)
                .ok()
                .flatten()
                .unwrap_or_default();
            let yaml = Kubeconfig::parse(bytes)?
                .with_credentials(
                    &cert.to_pem(),
                    &req.key.to_pem(),
                    req.ca.to_pem().as_bytes(),
                )?
                .to_yaml()?;
            vec![FileWrite {
                path,
                bytes: yaml.into_bytes(),
                secret: true,
            }]
        }
    };
    Ok((cert, writes))
}

/// The checks of [`accept`], without building the files.
pub fn check_issued(
    req: &ApiRequest,
    issued_pem: &[u8],
    now: OffsetDateTime,
) -> Result<Certificate, IssuedError> {
    let cert =
        certificate::parse_first(issued_pem).map_err(|e| IssuedError::Malformed(e.to_string()))?;
    if !cert.matches_key(&req.key) {
        return Err(IssuedError::KeyMismatch);
    }
    let want = &req.spec;
    let names = |field, want: String, got: String| {
        if want == got {
            Ok(())
        } else {
            Err(IssuedError::Names { field, want, got })
        }
    };
    names(
        "common name",
        format!("{:?}", want.common_name),
        format!("{:?}", cert.common_name.clone().unwrap_or_default()),
    )?;
    names(
        "organizations",
        format!("{:?}", want.organizations),
        format!("{:?}", cert.organizations),
    )?;
    let mut dns = cert.dns_names.clone();
    dns.sort();
    dns.dedup();
    names(
        "DNS names",
        format!("{:?}", want.dns_names),
        format!("{dns:?}"),
    )?;
    let mut want_ips = want.ip_addresses.clone();
    want_ips.sort();
    let mut ips = cert.ip_addresses.clone();
    ips.sort();
    ips.dedup();
    names("IP addresses", format!("{want_ips:?}"), format!("{ips:?}"))?;
    for e in &want.extended_key_usage {
        if !cert.extended_key_usage.contains(e) {
            return Err(IssuedError::MissingUsage(e.name()));
        }
    }
    if cert.is_ca {
        return Err(IssuedError::IsCa);
    }
    cert.verify_signed_by(&req.ca)
        .map_err(|source| IssuedError::WrongCa {
            ca_file: req.row.ca.cert_file(),
            source,
        })?;
    // The signer backdates NotBefore by five minutes; allow the same skew forward.
    if cert.not_after <= now || cert.not_before > now + leaf::BACKDATE {
        return Err(IssuedError::NotValidNow {
            not_before: cert.not_before,
            not_after: cert.not_after,
        });
    }
    Ok(cert)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::api_signer::{check_usages, sign_with_usages};
    use crate::issue::leaf::SigningCa;
    use crate::issue::pki;
    use crate::kubeadm::inventory;
    use crate::test_support::{NOW, ecdsa_example};
    use crate::x509::keys::KeyAlgorithm;

    fn node(rng: &mut rand_chacha::ChaCha20Rng) -> (pki::GeneratedNode, NodeFiles) {
        let opts = ecdsa_example();
        let node = pki::generate(&opts, NOW, rng).unwrap();
        let files = NodeFiles::from_generated(&node);
        (node, files)
    }

    fn cluster_ca(files: &NodeFiles) -> SigningCa {
        let get = |p: &str| {
            node_loader::read(files, &NodePath::cert(p))
                .unwrap()
                .unwrap()
        };
        SigningCa::new(
            certificate::parse_first(get("ca.crt")).unwrap(),
            PrivateKey::parse(get("ca.key")).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn names_are_safe_object_names() {
        assert_eq!(
            name_prefix("kubernetes-admin"),
            "kubeadm-cert-kubernetes-admin-"
        );
        assert_eq!(
            name_prefix("system:kube-controller-manager"),
            "kubeadm-cert-system-kube-controller-manager-"
        );
        assert_eq!(
            name_prefix("Kube_APIServer"),
            "kubeadm-cert-kube-apiserver-"
        );
        assert_eq!(name_prefix(""), "kubeadm-cert-");
        let long = name_prefix(&"a".repeat(100));
        assert!(long.len() <= MAX_GENERATE_NAME, "{long}");
        assert!(long.ends_with("a-"));
    }

    #[test]
    fn usages_and_signers_follow_the_role() {
        let server = [ExtendedKeyUsage::ServerAuth];
        let client = [ExtendedKeyUsage::ClientAuth];
        let both = [ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth];
        assert_eq!(
            usages(&both),
            [
                "digital signature",
                "key encipherment",
                "server auth",
                "client auth"
            ]
        );
        assert_eq!(usages(&client)[2..], ["client auth"]);
        let admin = inventory::row("admin.conf").unwrap();
        let apiserver = inventory::row("apiserver").unwrap();
        let etcd_client = inventory::row("apiserver-etcd-client").unwrap();
        assert_eq!(
            signer_name(admin, &client, None).unwrap(),
            KUBE_APISERVER_CLIENT_SIGNER
        );
        assert_eq!(
            signer_name(apiserver, &server, None),
            Err(SignerError::Serving { row: "apiserver" })
        );
        assert!(matches!(
            signer_name(etcd_client, &client, None),
            Err(SignerError::OtherCa { .. })
        ));
        assert_eq!(
            signer_name(apiserver, &server, Some("example.com/serving")).unwrap(),
            "example.com/serving"
        );
        assert!(matches!(
            signer_name(apiserver, &server, Some(LEGACY_UNKNOWN_SIGNER)),
            Err(SignerError::Forbidden(_))
        ));
        assert!(matches!(
            signer_name(apiserver, &server, Some("serving")),
            Err(SignerError::Malformed(_))
        ));
    }

    #[test]
    fn status_conditions() {
        let approved = Condition {
            kind: "Approved",
            status: "True",
            ..Default::default()
        };
        let denied = Condition {
            kind: "Denied",
            status: "True",
            reason: "NotNow",
            message: "ask later",
        };
        assert_eq!(state(&[], None), RequestState::Pending);
        assert_eq!(state(&[approved], None), RequestState::Approved);
        assert_eq!(
            state(&[approved], Some(b"PEM")),
            RequestState::Issued(b"PEM")
        );
        assert_eq!(
            state(&[approved, denied], Some(b"PEM")),
            RequestState::Denied {
                reason: "NotNow".into(),
                message: "ask later".into()
            }
        );
        let not_approved = Condition {
            status: "False",
            ..approved
        };
        assert_eq!(state(&[not_approved], Some(b"PEM")), RequestState::Pending);
    }

    #[test]
    fn sign_then_accept_round_trip_and_refusals() {
        let mut rng = crate::seeded_rng(11);
        let (_node, files) = node(&mut rng);
        let ca = cluster_ca(&files);
        let rows = [
            inventory::row("admin.conf").unwrap(),
            inventory::row("apiserver").unwrap(),
        ];
        let plans = plan(
            &files,
            &rows,
            Some("example.com/serving"),
            KeyChoice::Use(KeyAlgorithm::EcdsaP256),
            &mut rng,
        );
        for (row, p) in plans {
            let RequestPlan::Request(req) = p else {
                panic!("{} not planned: {p:?}", row.name)
            };
            check_usages(&req.signer_name, &req.usages).unwrap();
            let issued = sign_with_usages(
                req.csr_pem.as_bytes(),
                &req.usages,
                &ca,
                Duration::days(365),
                NOW,
                &mut rng,
            )
            .unwrap();
            let (cert, writes) = accept(&req, &files, issued.to_pem().as_bytes(), NOW).unwrap();
            assert_eq!(cert.not_after, NOW + Duration::days(365));
            assert_eq!(cert.key_usage, ["digitalSignature", "keyEncipherment"]);
            if row.is_kubeconfig() {
                assert_eq!(writes.len(), 1);
                let kc = Kubeconfig::parse(&writes[0].bytes)
                    .unwrap()
                    .current()
                    .unwrap();
                assert_eq!(kc.client_key_data.unwrap(), req.key.to_pem().into_bytes());
            } else {
                assert_eq!(writes.len(), 2);
                assert!(writes[0].secret);
            }
            // A certificate for another key, or expired, or from another CA, is refused.
            assert_eq!(
                check_issued(&req, issued.to_pem().as_bytes(), NOW + Duration::days(400))
                    .unwrap_err(),
                IssuedError::NotValidNow {
                    not_before: cert.not_before,
                    not_after: cert.not_after
                }
            );
            let other = leaf::issue_ca("other", KeyAlgorithm::EcdsaP256, NOW, &mut rng).unwrap();
            let wrong = sign_with_usages(
                req.csr_pem.as_bytes(),
                &req.usages,
                &other,
                Duration::days(1),
                NOW,
                &mut rng,
            )
            .unwrap();
            assert!(matches!(
                check_issued(&req, wrong.to_pem().as_bytes(), NOW),
                Err(IssuedError::WrongCa { .. })
            ));
        }
        let admin = inventory::row("admin.conf").unwrap();
        let plans = plan(&files, &[admin], None, KeyChoice::Keep, &mut rng);
        let RequestPlan::Request(req) = &plans[0].1 else {
            panic!()
        };
        let mut other = req.clone();
        other.key = PrivateKey::generate(KeyAlgorithm::EcdsaP256, &mut rng).unwrap();
        let issued = sign_with_usages(
            req.csr_pem.as_bytes(),
            &req.usages,
            &ca,
            Duration::days(1),
            NOW,
            &mut rng,
        )
        .unwrap();
        assert_eq!(
            check_issued(&other, issued.to_pem().as_bytes(), NOW).unwrap_err(),
            IssuedError::KeyMismatch
        );
        let mut renamed = req.clone();
        renamed.spec.common_name = "someone-else".into();
        assert!(matches!(
            check_issued(&renamed, issued.to_pem().as_bytes(), NOW),
            Err(IssuedError::Names {
                field: "common name",
                ..
            })
        ));
        assert!(
            check_usages(
                KUBE_APISERVER_CLIENT_SIGNER,
                &usages(&[ExtendedKeyUsage::ServerAuth])
            )
            .is_err()
        );
    }
}
