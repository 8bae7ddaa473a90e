//! Loading a node's certificates from its files: a row's certificate (from its
//! `.crt` or its kubeconfig), a CA with the external-CA rule, and why a file is unusable.
//!
//! Shared by the expiration report, verify, renewal and the API request plan.

use serde::Serialize;

use crate::kubeadm::inventory::{self, Ca, Location, Row};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::node::{FileContent, NodeFiles, NodePath};
use crate::x509::certificate::{self, Certificate};
use crate::x509::keys::PrivateKey;

/// A file that could not be reported on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    /// The file at fault.
    pub path: NodePath,
    /// What is wrong with it, as a sentence fragment without trailing period.
    pub message: String,
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
        Some(FileContent::Unreadable(reason)) => Err(FileError {
            path: path.clone(),
            message: format!("cannot be read: {reason}"),
        }),
    }
}

fn file_error(path: &NodePath, message: impl std::fmt::Display) -> FileError {
    FileError {
        path: path.clone(),
        message: message.to_string(),
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
                errors.push(file_error(&cert_path, e));
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
        errors.push(file_error(
            &cert_path,
            format!(
                "is not a CA certificate (basic constraints CA:FALSE), so it cannot be the {} CA",
                ca.name()
            ),
        ));
        return state;
    }
    let key_path = NodePath::cert(ca.key_file());
    match read(files, &key_path) {
        Ok(Some(bytes)) => match PrivateKey::public_key_bits_of(bytes) {
            Ok(bits) if bits == cert.public_key_bits() => {}
            Ok(_) => errors.push(file_error(
                &key_path,
                format!("does not match its certificate {}", cert_path.rel),
            )),
            Err(e) => errors.push(file_error(&key_path, e)),
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
                            errors.push(file_error(
                                &leaf_path,
                                format!("the {} CA is external ({} is absent) but this certificate does not chain to it: {e}", ca.name(), key_path.rel),
                            ));
                        }
                    }
                    Ok(None) => errors.push(file_error(
                        &leaf_path,
                        format!(
                            "is missing; with an external {} CA ({} absent) it must be provided",
                            ca.name(),
                            key_path.rel
                        ),
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
                .map_err(|e| file_error(&path, e))
        }
        Location::Kubeconfig { file } => {
            let path = NodePath::kubeconfig(file);
            let Some(bytes) = read(files, &path)? else {
                return Ok(None);
            };
            let creds = Kubeconfig::parse(bytes)
                .and_then(|k| k.current())
                .map_err(|e| file_error(&path, e))?;
            certificate::parse_first(&creds.client_certificate_data)
                .map(Some)
                .map_err(|e| file_error(&path, format!("client-certificate-data: {e}")))
        }
    }
}
