//! What `Analysis.viewJson()` gives: the whole analysis without each
//! certificate's decoded extensions and fingerprints (the detail pane's, see
//! `page.rs`), plus what the core decides (the distinct certificates, names,
//! the key algorithm a renewal keeps); absent fields are left out rather than
//! sent as null. The page itself asks for `page.rs`'s report, which shares the
//! node and fleet parts defined here. The TypeScript shapes are in `types.rs`.

use std::net::IpAddr;

use kcerts_core::analysis::{
    Analysis, CertificateItem, Item, ItemKind, KeyMatch, Link, NodeView, Warning,
};
use kcerts_core::csr::Csr;
use kcerts_core::fleet::{Fleet, FleetError};
use kcerts_core::fleet_report;
use kcerts_core::signature_check::signature_algorithm_name;
use kcerts_core::verify::{Check, Status};
use serde::Serialize;
use time::OffsetDateTime;

/// [`Analysis`] as the page's table and lists use it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisView<'a> {
    #[serde(with = "time::serde::rfc3339")]
    now: OffsetDateTime,
    items: Vec<ItemView<'a>>,
    /// The distinct certificates' item ids (the table's and timeline's rows).
    certificates: Vec<usize>,
    links: &'a [Link],
    key_matches: &'a [KeyMatch],
    warnings: &'a [Warning],
    nodes: Vec<NodeReportView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fleet: Option<FleetView<'a>>,
}

/// `kcerts fleet` over the nodes, when there are several.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetView<'a> {
    /// What `kcerts fleet` prints: the tables with a NODE column, then the rows.
    text: String,
    pass: usize,
    warn: usize,
    fail: usize,
    /// The rows that did not pass, failures first.
    problems: Vec<FleetProblem<'a>>,
    /// Why the nodes could not be checked together (duplicate folder names).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct FleetProblem<'a> {
    status: &'static str,
    target: &'a str,
    check: &'static str,
    reason: &'a str,
}

impl<'a> FleetView<'a> {
    pub fn new(fleet: &'a Result<Fleet, FleetError>) -> Self {
        let f = match fleet {
            Ok(f) => f,
            Err(e) => {
                return Self {
                    text: String::new(),
                    pass: 0,
                    warn: 0,
                    fail: 0,
                    problems: Vec::new(),
                    error: Some(e.to_string()),
                };
            }
        };
        let mut problems: Vec<&Check> = f
            .verification
            .checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .collect();
        problems.sort_by_key(|c| std::cmp::Reverse(c.status));
        Self {
            text: fleet_report::to_text(f),
            pass: f.verification.count(Status::Pass),
            warn: f.verification.count(Status::Warn),
            fail: f.verification.count(Status::Fail),
            problems: problems
                .into_iter()
                .map(|c| FleetProblem {
                    status: c.status.as_str(),
                    target: &c.target,
                    check: c.check.as_str(),
                    reason: &c.reason,
                })
                .collect(),
            error: None,
        }
    }
}

/// One node's kubeadm tables.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReportView<'a> {
    name: &'a str,
    root: &'a str,
    text: String,
    json: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemView<'a> {
    id: usize,
    file: &'a str,
    place: &'a str,
    kind: ItemKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<CertificateView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    csr: Option<&'a Csr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// A certificate's table row facts.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateView<'a> {
    subject: &'a str,
    issuer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    common_name: Option<&'a str>,
    dns_names: &'a [String],
    ip_addresses: &'a [IpAddr],
    #[serde(with = "time::serde::rfc3339")]
    not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    not_after: OffsetDateTime,
    serial: &'a str,
    is_ca: bool,
    key_usage: &'a [String],
    extended_key_usage: Vec<&'a str>,
    signature_algorithm: &'a str,
    signature_algorithm_name: &'a str,
    public_key: &'a str,
    /// What a renewal or CSR uses by default (kubeadm's spelling).
    key_algorithm: &'static str,
    residual_seconds: i64,
    residual: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<&'a str>,
}

impl<'a> AnalysisView<'a> {
    pub fn new(a: &'a Analysis, fleet: Option<&'a Result<Fleet, FleetError>>) -> Self {
        Self {
            now: a.now,
            items: a.items.iter().map(ItemView::new).collect(),
            certificates: a.distinct_certificates(),
            links: &a.links,
            key_matches: &a.key_matches,
            warnings: &a.warnings,
            nodes: a.nodes.iter().map(NodeReportView::new).collect(),
            fleet: fleet.map(FleetView::new),
        }
    }
}

impl<'a> NodeReportView<'a> {
    pub fn new(n: &'a NodeView) -> Self {
        Self {
            name: &n.name,
            root: &n.root,
            text: kcerts_core::text::render(&n.report),
            json: kcerts_core::structured::to_json(&n.report),
        }
    }
}

impl<'a> ItemView<'a> {
    fn new(i: &'a Item) -> Self {
        Self {
            id: i.id,
            file: &i.file,
            place: &i.place,
            kind: i.kind,
            certificate: i.certificate.as_ref().map(CertificateView::new),
            key: i.key.as_deref(),
            csr: i.csr.as_ref(),
            reference: i.reference.as_deref(),
            error: i.error.as_deref(),
        }
    }
}

impl<'a> CertificateView<'a> {
    fn new(ci: &'a CertificateItem) -> Self {
        let c = &ci.cert;
        Self {
            subject: &c.subject,
            issuer: &c.issuer,
            common_name: c.common_name.as_deref(),
            dns_names: &c.dns_names,
            ip_addresses: &c.ip_addresses,
            not_before: c.not_before,
            not_after: c.not_after,
            serial: &c.serial,
            is_ca: c.is_ca,
            key_usage: &c.key_usage,
            extended_key_usage: c
                .extended_key_usage
                .iter()
                .map(|e| e.short_name())
                .collect(),
            signature_algorithm: &c.signature_algorithm,
            signature_algorithm_name: signature_algorithm_name(&c.signature_algorithm),
            public_key: &c.public_key,
            // Empty when the key type cannot be kept (Ed25519...): the page then
            // selects nothing and the user picks one.
            key_algorithm: kcerts_core::key_choice::current_algorithm(c).map_or("", |a| a.name()),
            residual_seconds: ci.residual_seconds,
            residual: &ci.residual,
            role: ci.role.as_deref(),
            node: ci.node.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcerts_core::analysis::{self, InputFile};

    #[test]
    fn the_table_view_leaves_extensions_to_the_detail_view() {
        let now = time::macros::datetime!(2026-03-01 12:00 UTC);
        let mut rng = kcerts_core::seeded_rng(9);
        let ca = kcerts_core::leaf::issue_ca(
            "kubernetes",
            kcerts_core::KeyAlgorithm::EcdsaP256,
            now,
            &mut rng,
        )
        .unwrap();
        let pem = ca.cert.to_pem();
        let files = [
            InputFile {
                name: "ca.crt",
                bytes: pem.as_bytes(),
            },
            InputFile {
                name: "bad.crt",
                bytes: b"junk",
            },
            InputFile {
                name: "copy.pem",
                bytes: pem.as_bytes(),
            },
        ];
        let a = analysis::analyze(&files, now);
        let table = serde_json::to_value(AnalysisView::new(&a, None)).unwrap();
        let full = serde_json::to_value(&a).unwrap();
        let cert = &table["items"][0]["certificate"];
        for key in ["subject", "issuer", "notAfter", "residual", "isCa"] {
            assert_eq!(cert[key], full["items"][0]["certificate"][key], "{key}");
        }
        assert!(cert.get("extensions").is_none() && cert.get("sha1Fingerprint").is_none());
        // The core's decisions: one row for the two copies, names, the key to keep.
        assert_eq!(table["certificates"], serde_json::json!([0]));
        assert_eq!(cert["signatureAlgorithmName"], "ecdsa-with-SHA256");
        assert_eq!(cert["keyAlgorithm"], "ECDSA-P256");
        assert!(table["nodes"].as_array().unwrap().is_empty());
        assert!(table["items"][0].get("error").is_none(), "absent, not null");
        assert_eq!(table["items"][1]["error"], full["items"][1]["error"]);
        // The detail pane (page.rs) adds fingerprints and extensions.
        let detail = serde_json::to_value(crate::page::detail(&a, 0).unwrap()).unwrap();
        let rows: std::collections::BTreeMap<String, String> =
            serde_json::from_value::<Vec<(String, String)>>(detail["rows"].clone())
                .unwrap()
                .into_iter()
                .collect();
        for e in full["items"][0]["certificate"]["extensions"]
            .as_array()
            .unwrap()
        {
            let name = e["name"].as_str().unwrap().to_string()
                + if e["critical"] == true {
                    " (critical)"
                } else {
                    ""
                };
            assert_eq!(rows[&name], e["value"].as_str().unwrap(), "{name}");
        }
        let sha1 = full["items"][0]["certificate"]["sha1Fingerprint"]
            .as_str()
            .unwrap();
        assert_eq!(
            rows["SHA-1 fingerprint"].replace(':', ""),
            sha1.to_uppercase()
        );
        assert_eq!(rows["SHA-256 fingerprint"].len(), 95);
        assert!(crate::page::detail(&a, 1).is_none() && crate::page::detail(&a, 9).is_none());
    }
}
