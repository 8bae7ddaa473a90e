//! Loading a node's certificates from its files: a row's certificate (from its
//! `.crt` or its kubeconfig), a CA with the external-CA rule, and why a file is unusable.
//!
//! Shared by the expiration report, verify, renewal and the API request plan.

use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::kubeadm::inventory::{self, Ca, Location, Row};
use crate::kubeadm::kubeconfig::{Kubeconfig, KubeconfigError};
use crate::kubeadm::node::{FileContent, NodeFiles, NodePath, ReadError};
use crate::x509::certificate::{self, Certificate, CertificateError};
use crate::x509::chain::ChainError;
use crate::x509::keys::{KeyError, PrivateKey};

/// A file that could not be reported on, and why. Serialised as `{path, message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file at fault.
    pub path: NodePath,
    /// What is wrong with it (boxed: a file error travels in `Result`s).
    pub kind: Box<FileErrorKind>,
}

impl FileError {
    /// A file and what is wrong with it.
    pub fn new(path: &NodePath, kind: impl Into<FileErrorKind>) -> Self {
        Self {
            path: path.clone(),
            kind: Box::new(kind.into()),
        }
    }
}

impl Serialize for FileError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("FileError", 2)?;
        st.serialize_field("path", &self.path)?;
        st.serialize_field("message", &self.kind.to_string())?;
        st.end()
    }
}

/// What is wrong with a file; each message is a sentence fragment without a
/// trailing period, printed after the file's path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FileErrorKind {
    /// The file exists but cannot be read (permissions, a directory, too large).
    #[error("cannot be read: {0}")]
    Unreadable(ReadError),
    /// Not a certificate kcerts can parse.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// Not a private key kcerts can parse.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Not a kubeconfig kcerts can read.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// A kubeconfig whose client certificate does not parse.
    #[error("client-certificate-data: {0}")]
    KubeconfigCertificate(CertificateError),
    /// A CA file whose certificate is not a CA.
    #[error("is not a CA certificate (basic constraints CA:FALSE), so it cannot be the {ca} CA")]
    NotACa {
        /// The CA's name (`ca`, `etcd-ca`).
        ca: &'static str,
    },
    /// A key that is not its certificate's.
    #[error("does not match its certificate {cert}")]
    KeyMismatch {
        /// The certificate's path relative to its directory.
        cert: String,
    },
    /// A leaf that does not chain to its external CA.
    #[error(
        "the {ca} CA is external ({key} is absent) but this certificate does not chain to it: {reason}"
    )]
    ExternalCaUnchained {
        /// The CA's name.
        ca: &'static str,
        /// The absent key file.
        key: String,
        /// Why the chain fails.
        reason: ChainError,
    },
    /// A leaf that must be provided with an external CA.
    #[error("is missing; with an external {ca} CA ({key} absent) it must be provided")]
    ExternalCaLeafMissing {
        /// The CA's name.
        ca: &'static str,
        /// The absent key file.
        key: String,
    },
    /// A CA certificate a step needs is absent.
    #[error("is missing: the {ca} CA certificate is needed to {needed_for}")]
    MissingCa {
        /// The CA's name.
        ca: &'static str,
        /// What for (`renew`, `check the issued certificate`).
        needed_for: &'static str,
    },
}

/// What the report learned about one CA.
#[derive(Debug, Clone)]
pub struct CaState {
    /// The CA.
    pub ca: Ca,
    /// Its certificate, when it loaded and is a CA.
    pub cert: Option<Certificate>,
    /// Its key is absent: the CA is external (only meaningful when `cert` is set).
    pub external: bool,
}

/// Whether the node runs external etcd: neither the etcd CA nor any etcd-only
/// certificate is present (kubeadm learns this from its config; kcerts from the
/// configuration when one was read, else from the files).
pub fn is_external_etcd(files: &NodeFiles) -> bool {
    if let Some(external) = files.external_etcd {
        return external;
    }
    let etcd_only = [
        "etcd/ca.crt",
        "etcd/server.crt",
        "etcd/peer.crt",
        "etcd/healthcheck-client.crt",
    ];
    !etcd_only.iter().any(|p| files.exists(&NodePath::cert(*p)))
}

/// Reads a file's bytes: `Ok(None)` when missing, an error when unreadable.
pub fn read<'a>(files: &'a NodeFiles, path: &NodePath) -> Result<Option<&'a [u8]>, FileError> {
    match files.get(path) {
        None => Ok(None),
        Some(FileContent::Bytes(b)) => Ok(Some(b)),
        Some(FileContent::Unreadable(reason)) => Err(FileError::new(
            path,
            FileErrorKind::Unreadable(reason.clone()),
        )),
    }
}

/// Loads a CA and decides whether it is external (docs/kubeadm.md, Externally
/// managed CAs), recording every problem in `errors`.
pub fn load_ca(files: &NodeFiles, ca: Ca, errors: &mut Vec<FileError>) -> CaState {
    let mut state = CaState {
        ca,
        cert: None,
        external: false,
    };
    let cert_path = NodePath::cert(ca.cert_file());
    let cert = match read(files, &cert_path) {
        Ok(Some(bytes)) => match certificate::parse_first(bytes) {
            Ok(c) => c,
            Err(e) => {
                errors.push(FileError::new(&cert_path, e));
                return state;
            }
        },
        Ok(None) => return state,
        Err(e) => {
            errors.push(e);
            return state;
        }
    };
    if !cert.is_ca {
        errors.push(FileError::new(
            &cert_path,
            FileErrorKind::NotACa { ca: ca.name() },
        ));
        return state;
    }
    let key_path = NodePath::cert(ca.key_file());
    if let Some(FileContent::Unreadable(ReadError::NotRead)) = files.get(&key_path) {
        // Present, so not external; whether it matches is not asked.
        state.cert = Some(cert);
        return state;
    }
    match read(files, &key_path) {
        Ok(Some(bytes)) => match PrivateKey::public_key_bits_of(bytes) {
            Ok(bits) if bits == cert.public_key_bits() => {}
            Ok(_) => errors.push(FileError::new(
                &key_path,
                FileErrorKind::KeyMismatch {
                    cert: cert_path.rel.clone(),
                },
            )),
            Err(e) => errors.push(FileError::new(&key_path, e)),
        },
        Ok(None) => {
            state.external = true;
            for row in inventory::required_for_external(ca) {
                let Location::CertDir { base } = row.location else {
                    continue;
                };
                let leaf_path = NodePath::cert(format!("{base}.crt"));
                match read(files, &leaf_path) {
                    Ok(Some(bytes)) => {
                        // A leaf that does not parse is reported with its own row. The
                        // file may carry intermediates up to the CA, as kubeadm accepts
                        // (pkiutil.TryLoadCertChainFromDisk).
                        if let Ok(certs) = certificate::parse_all(bytes)
                            && let Some((leaf, intermediates)) = certs.split_first()
                            && let Err(e) = crate::x509::chain::path(leaf, intermediates, &cert)
                        {
                            errors.push(FileError::new(
                                &leaf_path,
                                FileErrorKind::ExternalCaUnchained {
                                    ca: ca.name(),
                                    key: key_path.rel.clone(),
                                    reason: e,
                                },
                            ));
                        }
                    }
                    Ok(None) => errors.push(FileError::new(
                        &leaf_path,
                        FileErrorKind::ExternalCaLeafMissing {
                            ca: ca.name(),
                            key: key_path.rel.clone(),
                        },
                    )),
                    Err(_) => {}
                }
            }
        }
        Err(e) => errors.push(e),
    }
    state.cert = Some(cert);
    state
}

/// Loads a row's certificate: from its `.crt` or from its kubeconfig's current user.
pub fn load_row_certificate(
    files: &NodeFiles,
    row: &Row,
) -> Result<Option<Certificate>, FileError> {
    match row.location {
        Location::CertDir { base } => {
            let path = NodePath::cert(format!("{base}.crt"));
            let Some(bytes) = read(files, &path)? else {
                return Ok(None);
            };
            certificate::parse_first(bytes)
                .map(Some)
                .map_err(|e| FileError::new(&path, e))
        }
        Location::Kubeconfig { file } => {
            let path = NodePath::kubeconfig(file);
            let Some(bytes) = read(files, &path)? else {
                return Ok(None);
            };
            let creds = Kubeconfig::parse(bytes)
                .and_then(|k| k.current())
                .map_err(|e| FileError::new(&path, e))?;
            certificate::parse_first(&creds.client_certificate_data)
                .map(Some)
                .map_err(|e| FileError::new(&path, FileErrorKind::KubeconfigCertificate(e)))
        }
    }
}
