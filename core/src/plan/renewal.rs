//! Renewal of a whole node, planned in memory: for each requested row, either
//! the new file contents, or why it is skipped (missing, external CA), or an
//! error. The CLI writes a plan only when it holds no error, so a bad file never
//! leaves the node half-renewed.

use rand_core::CryptoRng;
use time::OffsetDateTime;

use thiserror::Error;

use crate::issue::csr_builder::{self, CsrBuildError};
use crate::issue::key_choice::{KeyChoice, UnkeepableKey};
use crate::issue::leaf::{self, LeafSpec, RenewError, RenewOptions, SigningCa};
use crate::kubeadm::alt_names::{AltNames, San};
use crate::kubeadm::inventory::{Ca, Location, Row};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::node::{NodeFiles, NodePath, certificate_path};
use crate::kubeadm::node_loader::{self, FileError, FileErrorKind};
use crate::x509::certificate::Certificate;
use crate::x509::keys::{KeyError, PrivateKey};

/// Why a row cannot be renewed, its CSR made or its API request prepared: the
/// file at fault and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The file at fault.
    pub path: NodePath,
    /// Why.
    pub kind: RowErrorKind,
}

impl RowError {
    /// A file and the reason.
    pub fn new(path: &NodePath, kind: impl Into<RowErrorKind>) -> Self {
        Self {
            path: path.clone(),
            kind: kind.into(),
        }
    }
}

impl From<FileError> for RowError {
    fn from(e: FileError) -> Self {
        Self {
            path: e.path,
            kind: RowErrorKind::File(*e.kind),
        }
    }
}

/// The reasons of a [`RowError`]; messages are sentence fragments printed after
/// the file's path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RowErrorKind {
    /// The file itself is unusable.
    #[error(transparent)]
    File(#[from] FileErrorKind),
    /// Renewal would have to keep a key type kubeadm never writes.
    #[error("cannot renew: {0}")]
    RenewKey(UnkeepableKey),
    /// A CSR or API request would have to keep a key type kubeadm never writes.
    #[error(transparent)]
    RequestKey(UnkeepableKey),
    /// Issuing failed.
    #[error("cannot renew: {0}")]
    Issue(RenewError),
    /// The CA certificate and key cannot sign together.
    #[error(transparent)]
    SigningCa(RenewError),
    /// The new key could not be made.
    #[error(transparent)]
    NewKey(#[from] KeyError),
    /// The CSR could not be built.
    #[error(transparent)]
    Csr(#[from] CsrBuildError),
    /// A kubeconfig read a moment ago no longer reads.
    #[error("could not be read again")]
    ReadAgain,
}

/// A file to write.
#[derive(Clone, PartialEq, Eq)]
pub struct FileWrite {
    /// Where.
    pub path: NodePath,
    /// New contents.
    pub bytes: Vec<u8>,
    /// Whether it holds a private key (mode 0600).
    pub secret: bool,
}

impl std::fmt::Debug for FileWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FileWrite({}, {} bytes, secret: {})",
            self.path,
            self.bytes.len(),
            self.secret
        )
    }
}

/// What happens to one row.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Renewed: the files to write and the new certificate.
    Renewed {
        /// Files to replace, key first.
        writes: Vec<FileWrite>,
        /// The new certificate.
        cert: Box<Certificate>,
    },
    /// The file is absent (`MISSING! <long name>`).
    Missing,
    /// The signing CA has no key here (`Detected external ...`).
    ExternalCa(Ca),
    /// Something is wrong; nothing will be written for this row.
    Failed(RowError),
}

/// One row's plan.
#[derive(Debug, Clone)]
pub struct RowPlan {
    /// The row.
    pub row: &'static Row,
    /// What happens.
    pub outcome: Outcome,
}

/// The kubeadm message for a row that was renewed, missing or external.
pub fn message(plan: &RowPlan) -> Option<String> {
    match &plan.outcome {
        Outcome::Renewed { .. } => Some(format!("{} renewed", plan.row.long_name)),
        Outcome::Missing => Some(format!("MISSING! {}", plan.row.long_name)),
        Outcome::ExternalCa(ca) => Some(format!(
            "Detected external {}, {} can't be renewed",
            ca.base(),
            plan.row.long_name
        )),
        Outcome::Failed(_) => None,
    }
}

/// How to renew a node's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The algorithm of each new key: the old key's by default.
    pub key: KeyChoice,
    /// NotAfter = now + validity.
    pub validity: time::Duration,
    /// SANs to add, per row name (`apiserver`, `etcd-server`, `etcd-peer`):
    /// `--add-san` or the configuration's (`--sans-from-config`). The old SANs stay.
    pub add_sans: Vec<(&'static str, AltNames)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            key: KeyChoice::Keep,
            validity: leaf::DEFAULT_VALIDITY,
            add_sans: Vec::new(),
        }
    }
}

/// The rows whose SANs `--add-san` and `--sans-from-config` may change.
pub const SAN_ROWS: [&str; 3] = ["apiserver", "etcd-server", "etcd-peer"];

impl Options {
    /// The options for renewing `old`: its key algorithm resolved.
    fn for_certificate(&self, old: &Certificate) -> Result<RenewOptions, UnkeepableKey> {
        let key_algorithm = self.key.for_certificate(old)?;
        Ok(RenewOptions {
            key_algorithm,
            validity: self.validity,
        })
    }

    /// What the renewed `row` says: `old`'s names plus the SANs to add to it,
    /// in kubeadm's order (DNS names sorted).
    pub fn spec_for(&self, row: &Row, old: &Certificate) -> LeafSpec {
        let mut spec = LeafSpec::from_existing(old);
        for (_, names) in self.add_sans.iter().filter(|(r, _)| *r == row.name) {
            for d in &names.dns {
                if !spec.dns_names.contains(d) {
                    spec.dns_names.push(d.clone());
                }
            }
            for ip in &names.ips {
                if !spec.ip_addresses.contains(ip) {
                    spec.ip_addresses.push(*ip);
                }
            }
        }
        spec.in_kubeadm_order()
    }

    /// The SANs `row`'s renewal adds to `old` (empty when none).
    pub fn added_sans(&self, row: &Row, old: &Certificate) -> Vec<San> {
        let mut wanted = AltNames::default();
        for (_, names) in self.add_sans.iter().filter(|(r, _)| *r == row.name) {
            for san in names.sans() {
                wanted.add(san);
            }
        }
        wanted.missing_from(&old.dns_names, &old.ip_addresses)
    }
}

/// kubeadm's closing line after `renew all`.
pub const DONE_MESSAGE: &str = "Done renewing certificates. You must restart the kube-apiserver, \
kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.";

enum CaLoad {
    Ready(Box<SigningCa>),
    External,
    Broken(RowError),
}

fn load_signing_ca(files: &NodeFiles, ca: Ca) -> CaLoad {
    let mut errors = Vec::new();
    let state = node_loader::load_ca(files, ca, &mut errors);
    let cert_path = NodePath::cert(ca.cert_file());
    if let Some(first) = errors.into_iter().next() {
        return CaLoad::Broken(first.into());
    }
    let Some(cert) = state.cert else {
        return CaLoad::Broken(RowError::new(
            &cert_path,
            FileErrorKind::MissingCa {
                ca: ca.name(),
                needed_for: "renew",
            },
        ));
    };
    if state.external {
        return CaLoad::External;
    }
    let key_path = NodePath::cert(ca.key_file());
    let key = match node_loader::read(files, &key_path) {
        Ok(Some(bytes)) => match PrivateKey::parse(bytes) {
            Ok(k) => k,
            Err(e) => {
                return CaLoad::Broken(RowError::new(&key_path, FileErrorKind::Key(e)));
            }
        },
        Ok(None) => return CaLoad::External,
        Err(e) => return CaLoad::Broken(e.into()),
    };
    match SigningCa::new(cert, key) {
        Ok(s) => CaLoad::Ready(Box::new(s)),
        Err(e) => CaLoad::Broken(RowError::new(&key_path, RowErrorKind::SigningCa(e))),
    }
}

/// kubeadm's warning (CheckCertificatePeriodValidity, when it loads a CA to
/// sign with) for each CA that signs one of `rows`, holds its key and is not
/// valid at `now`, in the order the rows first use them: renewal goes on, as
/// kubeadm's does, and the new certificates chain to a CA that is out of its
/// validity. Without klog's header.
pub fn ca_bounds_warnings(files: &NodeFiles, rows: &[&Row], now: OffsetDateTime) -> Vec<String> {
    let mut seen: Vec<Ca> = Vec::new();
    let mut out = Vec::new();
    for row in rows {
        if seen.contains(&row.ca) {
            continue;
        }
        seen.push(row.ca);
        let state = node_loader::load_ca(files, row.ca, &mut Vec::new());
        let Some(cert) = state.cert.filter(|_| !state.external) else {
            continue;
        };
        let problem = if now < cert.not_before {
            "the certificate is not valid yet"
        } else if now > cert.not_after {
            "the certificate has expired"
        } else {
            continue;
        };
        out.push(format!(
            "WARNING: could not validate bounds for certificate {}: {problem}: NotBefore: {}, \
             NotAfter: {}",
            row.ca.base(),
            go_time(cert.not_before),
            go_time(cert.not_after)
        ));
    }
    out
}

/// A UTC time as Go's `time.Time.String()` prints it: `2026-12-06 20:48:10 +0000 UTC`.
fn go_time(t: OffsetDateTime) -> String {
    crate::x509::chain::utc_with(t, " ", " +0000 UTC")
}

/// Plans the renewal of `rows` with new keys, as of `now`.
pub fn plan<R: CryptoRng + ?Sized>(
    files: &NodeFiles,
    rows: &[&'static Row],
    opts: &Options,
    now: OffsetDateTime,
    rng: &mut R,
) -> Vec<RowPlan> {
    let mut cas: Vec<(Ca, CaLoad)> = Vec::new();
    let mut out = Vec::new();
    for &row in rows {
        let loaded = match cas.iter().position(|(c, _)| *c == row.ca) {
            Some(i) => i,
            None => {
                cas.push((row.ca, load_signing_ca(files, row.ca)));
                cas.len() - 1
            }
        };
        let outcome = match node_loader::load_row_certificate(files, row) {
            Ok(None) => Outcome::Missing,
            Err(e) => Outcome::Failed(e.into()),
            Ok(Some(old)) => match &cas[loaded].1 {
                CaLoad::External => Outcome::ExternalCa(row.ca),
                CaLoad::Broken(e) => Outcome::Failed(e.clone()),
                CaLoad::Ready(ca) => renew_row(files, row, &old, ca, opts, now, rng),
            },
        };
        out.push(RowPlan { row, outcome });
    }
    out
}

fn renew_row<R: CryptoRng + ?Sized>(
    files: &NodeFiles,
    row: &Row,
    old: &Certificate,
    ca: &SigningCa,
    opts: &Options,
    now: OffsetDateTime,
    rng: &mut R,
) -> Outcome {
    let fail = |path: NodePath, kind: RowErrorKind| Outcome::Failed(RowError { path, kind });
    let spec = opts.spec_for(row, old);
    let opts = match opts.for_certificate(old) {
        Ok(o) => o,
        Err(e) => return fail(certificate_path(row), RowErrorKind::RenewKey(e)),
    };
    let opts = &opts;
    match row.location {
        Location::CertDir { base } => {
            let cert_path = NodePath::cert(format!("{base}.crt"));
            match leaf::issue(&spec, ca, opts, now, rng) {
                Ok(issued) => Outcome::Renewed {
                    writes: vec![
                        FileWrite {
                            path: NodePath::cert(format!("{base}.key")),
                            bytes: issued.key_pem().into_bytes(),
                            secret: true,
                        },
                        FileWrite {
                            path: cert_path,
                            bytes: issued.cert_pem().into_bytes(),
                            secret: false,
                        },
                    ],
                    cert: Box::new(issued.cert),
                },
                Err(e) => fail(cert_path, RowErrorKind::Issue(e)),
            }
        }
        Location::Kubeconfig { file } => {
            let path = NodePath::kubeconfig(file);
            let Ok(Some(bytes)) = node_loader::read(files, &path) else {
                return fail(path, RowErrorKind::ReadAgain);
            };
            let kc = match Kubeconfig::parse(bytes) {
                Ok(k) => k,
                Err(e) => return fail(path, FileErrorKind::Kubeconfig(e).into()),
            };
            let issued = match leaf::issue(&spec, ca, opts, now, rng) {
                Ok(i) => i,
                Err(e) => return fail(path, RowErrorKind::Issue(e)),
            };
            // kubeadm resets the cluster's CA data to <cert-dir>/ca.crt (stale CAs, kubeadm#2027).
            let updated = kc
                .with_credentials(
                    &issued.cert_pem(),
                    &issued.key_pem(),
                    ca.cert.to_pem().as_bytes(),
                )
                .and_then(|k| k.to_yaml());
            match updated {
                Ok(yaml) => Outcome::Renewed {
                    writes: vec![FileWrite {
                        path,
                        bytes: yaml.into_bytes(),
                        secret: true,
                    }],
                    cert: Box::new(issued.cert),
                },
                Err(e) => fail(path, FileErrorKind::Kubeconfig(e).into()),
            }
        }
    }
}

/// A CSR and its key for one row (`--csr-only`).
#[derive(Debug, Clone)]
pub enum CsrOutcome {
    /// `<row>.csr` and `<row>.key` contents.
    Request {
        /// PEM CSR.
        csr_pem: String,
        /// The new key.
        key: PrivateKey,
        /// The certificate it replaces.
        old: Box<Certificate>,
    },
    /// The file is absent.
    Missing,
    /// Something is wrong.
    Failed(RowError),
}

/// Builds a CSR with a new key for each row from its existing certificate
/// (same CN, O and SANs). Needs no CA key.
pub fn plan_csrs<R: CryptoRng + ?Sized>(
    files: &NodeFiles,
    rows: &[&'static Row],
    opts: &Options,
    rng: &mut R,
) -> Vec<(&'static Row, CsrOutcome)> {
    rows.iter()
        .map(|&row| {
            let outcome = match node_loader::load_row_certificate(files, row) {
                Ok(None) => CsrOutcome::Missing,
                Err(e) => CsrOutcome::Failed(e.into()),
                Ok(Some(old)) => {
                    let path = certificate_path(row);
                    let key = opts
                        .key
                        .for_certificate(&old)
                        .map_err(RowErrorKind::RequestKey)
                        .and_then(|a| PrivateKey::generate(a, rng).map_err(RowErrorKind::from));
                    match key {
                        Err(kind) => CsrOutcome::Failed(RowError { path, kind }),
                        Ok(key) => match csr_builder::build(&opts.spec_for(row, &old), &key) {
                            Ok(csr_pem) => CsrOutcome::Request {
                                csr_pem,
                                key,
                                old: Box::new(old),
                            },
                            Err(e) => CsrOutcome::Failed(RowError::new(&path, e)),
                        },
                    }
                }
            };
            (row, outcome)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeadm::alt_names::parse_add_san;
    use crate::kubeadm::inventory;
    use crate::test_support::{NOW, ecdsa_example_files};

    #[test]
    fn added_sans_keep_the_old_ones_and_reach_only_their_row() {
        let now = NOW;
        let files = ecdsa_example_files(now, 3);
        let mut add = AltNames::default();
        for san in parse_add_san("IP:203.0.113.7,DNS:api.example.com,DNS:cp-1").unwrap() {
            add.add(san);
        }
        let opts = Options {
            key: KeyChoice::Keep,
            add_sans: vec![("apiserver", add)],
            ..Options::default()
        };
        let rows: Vec<_> = ["apiserver", "etcd-server"]
            .iter()
            .map(|n| inventory::row(n).unwrap())
            .collect();
        let old_api = node_loader::load_row_certificate(&files, rows[0])
            .unwrap()
            .unwrap();
        // cp-1 is there already: only the two new names are added.
        assert_eq!(
            crate::kubeadm::alt_names::describe(&opts.added_sans(rows[0], &old_api)),
            "DNS:api.example.com, IP:203.0.113.7"
        );
        let plans = plan(&files, &rows, &opts, now, &mut crate::seeded_rng(4));
        let Outcome::Renewed { cert, .. } = &plans[0].outcome else {
            panic!("{:?}", plans[0].outcome);
        };
        for d in &old_api.dns_names {
            assert!(cert.dns_names.contains(d), "{d} kept");
        }
        assert!(cert.dns_names.contains(&"api.example.com".to_string()));
        assert!(cert.ip_addresses.contains(&"203.0.113.7".parse().unwrap()));
        assert_eq!(cert.dns_names.iter().filter(|d| *d == "cp-1").count(), 1);
        // kubeadm's RemoveDuplicateAltNames: the added names sorted in.
        assert!(
            cert.dns_names.windows(2).all(|w| w[0] < w[1]),
            "{:?}",
            cert.dns_names
        );
        let Outcome::Renewed { cert: etcd, .. } = &plans[1].outcome else {
            panic!("{:?}", plans[1].outcome);
        };
        assert!(!etcd.ip_addresses.contains(&"203.0.113.7".parse().unwrap()));
    }

    #[test]
    fn a_ca_out_of_its_validity_is_warned_about_as_kubeadm() {
        let files = ecdsa_example_files(NOW, 5);
        let rows: Vec<_> = ["apiserver", "admin.conf", "etcd-server"]
            .iter()
            .map(|n| inventory::row(n).unwrap())
            .collect();
        assert!(ca_bounds_warnings(&files, &rows, NOW + time::Duration::days(1)).is_empty());
        let ca = node_loader::load_ca(&files, Ca::Ca, &mut Vec::new())
            .cert
            .unwrap();
        let late = ca.not_after + time::Duration::seconds(1);
        let w = ca_bounds_warnings(&files, &rows, late);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            w[0],
            format!(
                "WARNING: could not validate bounds for certificate ca: the certificate has \
                 expired: NotBefore: {}, NotAfter: {}",
                go_time(ca.not_before),
                go_time(ca.not_after)
            )
        );
        assert!(w[1].starts_with("WARNING: could not validate bounds for certificate etcd/ca: "));
        let early = ca.not_before - time::Duration::seconds(1);
        assert!(
            ca_bounds_warnings(&files, &rows[..1], early)[0]
                .contains("ca: the certificate is not valid yet: NotBefore: ")
        );
        assert_eq!(
            go_time(time::macros::datetime!(2026-12-06 20:48:10 UTC)),
            "2026-12-06 20:48:10 +0000 UTC"
        );
    }
}
