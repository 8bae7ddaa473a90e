//! The check-expiration report (spec sections 2 and 3), computed from a node's
//! files and a time.
//!
//! Unlike kubeadm, which stops at the first bad file, every file gets either a
//! row or an entry in [`Report::errors`], and the other files are still reported.

use serde::Serialize;
use time::OffsetDateTime;

use crate::kubeadm::inventory::{self, Ca, Location, Row};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::node::{FileContent, NodeFiles, NodePath};
use crate::x509::certificate::{self, Certificate};
use crate::x509::keys::PrivateKey;

/// One row of either table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Row name (`apiserver`, `admin.conf`, `etcd-ca`).
    pub name: String,
    /// NotAfter of the certificate; `None` when missing.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expiration_date: Option<OffsetDateTime>,
    /// Whole seconds from `now` to NotAfter, truncated toward zero.
    pub residual_seconds: i64,
    /// Whether the signing CA (or this CA) is external.
    pub externally_managed: bool,
    /// The CA column (`ca`, `etcd-ca`); empty for CAs and missing rows.
    pub ca_name: String,
    /// Whether the file is absent.
    pub missing: bool,
}

/// A file that could not be reported on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    /// The file at fault.
    pub path: NodePath,
    /// What is wrong with it, as a sentence fragment without trailing period.
    pub message: String,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The moment the report is computed for.
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// Leaf certificate rows, sorted by name.
    pub certificates: Vec<Entry>,
    /// CA rows, sorted by name.
    pub certificate_authorities: Vec<Entry>,
    /// Files that could not be read or understood.
    pub errors: Vec<FileError>,
    /// Whether the node uses external etcd (no etcd CA and no etcd certificates).
    pub external_etcd: bool,
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
/// certificate is present (kubeadm learns this from its config; kcerts from the files).
pub fn is_external_etcd(files: &NodeFiles) -> bool {
    let etcd_only = [
        "etcd/ca.crt",
        "etcd/server.crt",
        "etcd/peer.crt",
        "etcd/healthcheck-client.crt",
    ];
    !etcd_only.iter().any(|p| files.exists(&NodePath::cert(*p)))
}

/// Builds the report for `files` as of `now`.
pub fn build(files: &NodeFiles, now: OffsetDateTime) -> Report {
    let external_etcd = is_external_etcd(files);
    let mut errors = Vec::new();
    let mut cas = Vec::new();
    let mut certificate_authorities = Vec::new();
    for ca in inventory::cas(external_etcd) {
        let path = NodePath::cert(ca.cert_file());
        let state = load_ca(files, ca, &mut errors);
        certificate_authorities.push(match &state.cert {
            Some(cert) => present(ca.name(), cert, now, state.external, ""),
            None if !files.exists(&path) => missing(ca.name()),
            None => {
                cas.push(state);
                continue;
            }
        });
        cas.push(state);
    }
    let mut certificates = Vec::new();
    for row in inventory::rows(external_etcd) {
        let external = cas
            .iter()
            .find(|s| s.ca == row.ca)
            .is_some_and(|s| s.cert.is_some() && s.external);
        match load_row_certificate(files, row) {
            Ok(Some(cert)) => {
                certificates.push(present(row.name, &cert, now, external, row.ca.name()))
            }
            Ok(None) => certificates.push(missing(row.name)),
            Err(e) => errors.push(e),
        }
    }
    errors.sort_by(|a, b| a.path.cmp(&b.path).then(a.message.cmp(&b.message)));
    errors.dedup();
    Report {
        now,
        certificates,
        certificate_authorities,
        errors,
        external_etcd,
    }
}

fn present(name: &str, cert: &Certificate, now: OffsetDateTime, external: bool, ca: &str) -> Entry {
    Entry {
        name: name.to_string(),
        expiration_date: Some(cert.not_after),
        residual_seconds: cert.residual_seconds(now),
        externally_managed: external,
        ca_name: ca.to_string(),
        missing: false,
    }
}

fn missing(name: &str) -> Entry {
    Entry {
        name: name.to_string(),
        expiration_date: None,
        residual_seconds: 0,
        externally_managed: false,
        ca_name: String::new(),
        missing: true,
    }
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

/// Loads a CA and decides whether it is external (spec section 3), recording
/// every problem in `errors`.
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
                        // A leaf that does not parse is reported with its own row.
                        if let Ok(leaf) = certificate::parse_first(bytes)
                            && let Err(e) = leaf.verify_signed_by(&cert)
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
