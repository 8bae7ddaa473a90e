//! The check-expiration report (docs/kubeadm.md, Check-expiration table and
//! Externally managed CAs), computed from a node's files and a time.
//!
//! Unlike kubeadm, which stops at the first bad file, every file gets either a
//! row or an entry in [`Report::errors`], and the other files are still reported.

use serde::Serialize;
use time::OffsetDateTime;

use crate::kubeadm::inventory::{self, Row};
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::node_loader::{
    CaState, FileError, is_external_etcd, load_ca, load_row_certificate,
};
use crate::x509::certificate::Certificate;

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

/// What [`build`] parsed, for checks that go on to compare the certificates
/// (`fleet`) instead of parsing them again.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Each row whose certificate loaded, with it, in kubeadm's order.
    pub certificates: Vec<(&'static Row, Certificate)>,
    /// Each CA of the node as loaded (its certificate when it is a CA).
    pub cas: Vec<CaState>,
}

/// Builds the report for `files` as of `now`.
pub fn build(files: &NodeFiles, now: OffsetDateTime) -> Report {
    build_loaded(files, now).0
}

/// [`build`], with the certificates it parsed.
pub fn build_loaded(files: &NodeFiles, now: OffsetDateTime) -> (Report, Loaded) {
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
    let mut loaded = Vec::new();
    for row in inventory::rows(external_etcd) {
        let external = cas
            .iter()
            .find(|s| s.ca == row.ca)
            .is_some_and(|s| s.cert.is_some() && s.external);
        match load_row_certificate(files, row) {
            Ok(Some(cert)) => {
                certificates.push(present(row.name, &cert, now, external, row.ca.name()));
                loaded.push((row, cert));
            }
            Ok(None) => certificates.push(missing(row.name)),
            Err(e) => errors.push(e),
        }
    }
    errors.sort_by(|a, b| {
        a.path
            .cmp(&b.path)
            .then(a.kind.to_string().cmp(&b.kind.to_string()))
    });
    errors.dedup();
    let report = Report {
        now,
        certificates,
        certificate_authorities,
        errors,
        external_etcd,
    };
    let loaded = Loaded {
        certificates: loaded,
        cas,
    };
    (report, loaded)
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
