//! Renewal of a whole node, planned in memory: for each requested row, either
//! the new file contents, or why it is skipped (missing, external CA), or an
//! error. The CLI writes a plan only when it holds no error, so a bad file never
//! leaves the node half-renewed.

use rand_core::CryptoRng;
use time::OffsetDateTime;

use crate::issue::csr_builder;
use crate::issue::key_choice::KeyChoice;
use crate::issue::leaf::{self, LeafSpec, RenewOptions, SigningCa};
use crate::kubeadm::inventory::{Ca, Location, Row};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::node::{NodeFiles, NodePath, certificate_path};
use crate::kubeadm::node_loader::{self, FileError};
use crate::x509::certificate::Certificate;
use crate::x509::keys::PrivateKey;

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
    Failed(FileError),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The algorithm of each new key: the old key's by default.
    pub key: KeyChoice,
    /// NotAfter = now + validity.
    pub validity: time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            key: KeyChoice::Keep,
            validity: leaf::DEFAULT_VALIDITY,
        }
    }
}

impl Options {
    /// The options for renewing `old`: its key algorithm resolved.
    fn for_certificate(&self, old: &Certificate) -> Result<RenewOptions, String> {
        let key_algorithm = self.key.for_certificate(old).map_err(|e| e.to_string())?;
        Ok(RenewOptions {
            key_algorithm,
            validity: self.validity,
        })
    }
}

/// kubeadm's closing line after `renew all`.
pub const DONE_MESSAGE: &str = "Done renewing certificates. You must restart the kube-apiserver, \
kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.";

enum CaLoad {
    Ready(Box<SigningCa>),
    External,
    Broken(FileError),
}

fn load_signing_ca(files: &NodeFiles, ca: Ca) -> CaLoad {
    let mut errors = Vec::new();
    let state = node_loader::load_ca(files, ca, &mut errors);
    let cert_path = NodePath::cert(ca.cert_file());
    if let Some(first) = errors.into_iter().next() {
        return CaLoad::Broken(first);
    }
    let Some(cert) = state.cert else {
        return CaLoad::Broken(FileError {
            path: cert_path,
            message: format!(
                "is missing: the {} CA certificate is needed to renew",
                ca.name()
            ),
        });
    };
    if state.external {
        return CaLoad::External;
    }
    let key_path = NodePath::cert(ca.key_file());
    let key = match node_loader::read(files, &key_path) {
        Ok(Some(bytes)) => match PrivateKey::parse(bytes) {
            Ok(k) => k,
            Err(e) => {
                return CaLoad::Broken(FileError {
                    path: key_path,
                    message: e.to_string(),
                });
            }
        },
        Ok(None) => return CaLoad::External,
        Err(e) => return CaLoad::Broken(e),
    };
    match SigningCa::new(cert, key) {
        Ok(s) => CaLoad::Ready(Box::new(s)),
        Err(e) => CaLoad::Broken(FileError {
            path: key_path,
            message: e.to_string(),
        }),
    }
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
        if !cas.iter().any(|(c, _)| *c == row.ca) {
            cas.push((row.ca, load_signing_ca(files, row.ca)));
        }
        let outcome = match node_loader::load_row_certificate(files, row) {
            Ok(None) => Outcome::Missing,
            Err(e) => Outcome::Failed(e),
            Ok(Some(old)) => match cas.iter().find(|(c, _)| *c == row.ca).map(|(_, l)| l) {
                Some(CaLoad::External) => Outcome::ExternalCa(row.ca),
                Some(CaLoad::Broken(e)) => Outcome::Failed(e.clone()),
                Some(CaLoad::Ready(ca)) => renew_row(files, row, &old, ca, opts, now, rng),
                None => Outcome::Failed(FileError {
                    path: NodePath::cert(row.ca.cert_file()),
                    message: "CA was not loaded".into(),
                }),
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
    let fail = |path: NodePath, message: String| Outcome::Failed(FileError { path, message });
    let opts = match opts.for_certificate(old) {
        Ok(o) => o,
        Err(e) => return fail(certificate_path(row), format!("cannot renew: {e}")),
    };
    let opts = &opts;
    match row.location {
        Location::CertDir { base } => {
            let cert_path = NodePath::cert(format!("{base}.crt"));
            match leaf::renew(old, ca, opts, now, rng) {
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
                Err(e) => fail(cert_path, format!("cannot renew: {e}")),
            }
        }
        Location::Kubeconfig { file } => {
            let path = NodePath::kubeconfig(file);
            let Ok(Some(bytes)) = node_loader::read(files, &path) else {
                return fail(path, "could not be read again".into());
            };
            let kc = match Kubeconfig::parse(bytes) {
                Ok(k) => k,
                Err(e) => return fail(path, e.to_string()),
            };
            let issued = match leaf::renew(old, ca, opts, now, rng) {
                Ok(i) => i,
                Err(e) => return fail(path, format!("cannot renew: {e}")),
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
                Err(e) => fail(path, e.to_string()),
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
    Failed(FileError),
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
                Err(e) => CsrOutcome::Failed(e),
                Ok(Some(old)) => {
                    let path = certificate_path(row);
                    let key = opts
                        .key
                        .for_certificate(&old)
                        .map_err(|e| e.to_string())
                        .and_then(|a| PrivateKey::generate(a, rng).map_err(|e| e.to_string()));
                    match key {
                        Err(message) => CsrOutcome::Failed(FileError { path, message }),
                        Ok(key) => match csr_builder::build(&LeafSpec::from_existing(&old), &key) {
                            Ok(csr_pem) => CsrOutcome::Request {
                                csr_pem,
                                key,
                                old: Box::new(old),
                            },
                            Err(e) => CsrOutcome::Failed(FileError {
                                path,
                                message: e.to_string(),
                            }),
                        },
                    }
                }
            };
            (row, outcome)
        })
        .collect()
}
