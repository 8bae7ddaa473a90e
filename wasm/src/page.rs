//! What the page shows of an analysis, built here from the core's analysis so
//! the worker hands the page only what it displays: the first page of table
//! rows (sorted by any column, every certificate counted), the first timeline
//! rows, warnings and other items, and one certificate's detail on request.
//! Copying every item to JS (as JSON, then parsed into objects) was a third of
//! the time of a 10,000-certificate upload; now its cost does not grow with the
//! upload. The shapes are declared for TypeScript in `types.rs`.

use std::cmp::Ordering;
use std::collections::HashMap;

use kcerts_core::analysis::{Analysis, Item, ItemKind, NodeView, Severity};
use kcerts_core::certificate_detail::certificate_detail;
use kcerts_core::fleet::{Fleet, FleetError};
use kcerts_core::fleet_report;
use kcerts_core::signature_check::signature_algorithm_name;
use kcerts_core::verify::{Check, Status};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Rows of the timeline, and warnings and other items, sent at most (the table
/// is paged, and counts everything).
const TIMELINE_ROWS: usize = 400;
const LIST_LIMIT: usize = 1000;

/// The table's columns: key and title.
pub const COLUMNS: [(&str, &str); 11] = [
    ("name", "Name"),
    ("subject", "Subject"),
    ("issuer", "Issuer"),
    ("sans", "SANs"),
    ("notBefore", "Not before"),
    ("notAfter", "Not after"),
    ("residual", "Residual"),
    ("key", "Key"),
    ("sig", "Signature"),
    ("usages", "Usages"),
    ("ca", "CA"),
];

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

/// What the page renders after an analysis (`Report` in the declarations).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report<'a> {
    /// Certificates found, copies included.
    certificates: usize,
    items: usize,
    now: String,
    nodes: Vec<NodeReportView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fleet: Option<FleetView<'a>>,
    columns: Vec<[&'static str; 2]>,
    warnings: Vec<WarningLine>,
    warning_count: usize,
    timeline: Vec<TimelineRow<'a>>,
    others: Vec<Other<'a>>,
    other_count: usize,
    page: Rows,
}

#[derive(Serialize)]
struct WarningLine {
    severity: Severity,
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TimelineRow<'a> {
    label: String,
    file: &'a str,
    not_before: String,
    not_after: String,
    residual: &'a str,
    is_ca: bool,
    expired: bool,
}

/// An item that is not a certificate.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Other<'a> {
    kind: ItemKind,
    #[serde(rename = "where")]
    place: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    /// The certificate a private key belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    matches: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_valid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
}

/// A page of table rows, and how many rows the table has.
#[derive(Serialize)]
pub struct Rows {
    total: usize,
    rows: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    id: usize,
    /// `crit` (expired or within the critical window of the one expiry
    /// rule), `warn` (within its warning window, or another warning) or empty.
    cls: &'static str,
    cells: Vec<String>,
}

/// The detail pane of one certificate.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    title: String,
    /// What a renewal or CSR uses by default; empty when kubeadm never writes
    /// the certificate's key type (the user picks one).
    pub(crate) key_algorithm: &'static str,
    rows: Vec<[String; 2]>,
}

/// The analysis as the page shows it, with the table sorted by the last
/// column asked for (kept, so "show more" does not sort again).
pub struct Page {
    /// The distinct certificates' item ids, in the core's order.
    base: Vec<usize>,
    /// Items with a warning (not a critical finding) about them.
    warned: Vec<bool>,
    sorted: Option<(String, i32, Vec<usize>)>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `node: role` for a node's certificate, `role` on a single node.
fn role_name(item: &Item) -> Option<String> {
    let c = item.certificate.as_ref()?;
    let role = c.role.as_deref()?;
    Some(match &c.node {
        Some(node) => format!("{node}: {role}"),
        None => role.to_string(),
    })
}

/// An item as lists name it: `cp-1: apiserver — cp-1/pki/apiserver.crt`.
fn label(item: &Item) -> String {
    match role_name(item) {
        Some(role) => format!("{role} — {}", item.location()),
        None => item.location(),
    }
}

/// A certificate's title: its role, else its common name, else its file.
fn title(item: &Item) -> String {
    role_name(item).unwrap_or_else(|| {
        item.certificate
            .as_ref()
            .and_then(|c| c.cert.common_name.clone())
            .filter(|cn| !cn.is_empty())
            .unwrap_or_else(|| item.file.clone())
    })
}

/// The value a column sorts by.
#[derive(PartialEq, PartialOrd)]
enum Key {
    Text(String),
    Time(OffsetDateTime),
    Number(i64),
}

fn cell(item: &Item, column: &str) -> Key {
    let Some(ci) = &item.certificate else {
        return Key::Text(String::new());
    };
    let c = &ci.cert;
    Key::Text(match column {
        "name" => role_name(item).unwrap_or_else(|| item.location()),
        "subject" => c.subject.clone(),
        "issuer" => c.issuer.clone(),
        "sans" => c
            .dns_names
            .iter()
            .cloned()
            .chain(c.ip_addresses.iter().map(|ip| ip.to_string()))
            .collect::<Vec<_>>()
            .join(", "),
        "notBefore" => return Key::Time(c.not_before),
        "residual" => return Key::Number(ci.residual_seconds),
        "key" => c.public_key.clone(),
        "sig" => signature_algorithm_name(&c.signature_algorithm).to_string(),
        "usages" => c
            .key_usage
            .iter()
            .map(String::as_str)
            .chain(c.extended_key_usage.iter().map(|u| u.short_name()))
            .collect::<Vec<_>>()
            .join(", "),
        "ca" => if c.is_ca { "CA" } else { "leaf" }.to_string(),
        _ => return Key::Time(c.not_after),
    })
}

impl Page {
    pub fn new(a: &Analysis) -> Self {
        let mut warned = vec![false; a.items.len()];
        for w in &a.warnings {
            if w.severity == Severity::Warning {
                warned[w.item] = true;
            }
        }
        Self {
            base: a.distinct_certificates(),
            warned,
            sorted: None,
        }
    }

    /// The report after an analysis, its table sorted by `sort_key` (a column
    /// key; Not after otherwise) in `sort_dir` (1 or -1), `count` rows.
    pub fn report<'a>(
        &mut self,
        a: &'a Analysis,
        fleet: Option<&'a Result<Fleet, FleetError>>,
        sort_key: &str,
        sort_dir: i32,
        count: usize,
    ) -> Report<'a> {
        let others: Vec<&Item> = a
            .items
            .iter()
            .filter(|i| i.kind != ItemKind::Certificate)
            .collect();
        let pairs: HashMap<usize, usize> = a
            .key_matches
            .iter()
            .map(|m| (m.key, m.certificate))
            .collect();
        Report {
            certificates: a.items.len() - others.len(),
            items: a.items.len(),
            now: rfc3339(a.now),
            nodes: a.nodes.iter().map(NodeReportView::new).collect(),
            fleet: fleet.map(FleetView::new),
            columns: COLUMNS.iter().map(|(k, t)| [*k, *t]).collect(),
            warnings: a
                .warnings
                .iter()
                .take(LIST_LIMIT)
                .map(|w| WarningLine {
                    severity: w.severity,
                    text: format!("{}: {}", label(&a.items[w.item]), w.kind),
                })
                .collect(),
            warning_count: a.warnings.len(),
            timeline: self
                .base
                .iter()
                .take(TIMELINE_ROWS)
                .filter_map(|&id| {
                    let item = &a.items[id];
                    let c = item.certificate.as_ref()?;
                    Some(TimelineRow {
                        label: title(item),
                        file: &item.file,
                        not_before: rfc3339(c.cert.not_before),
                        not_after: rfc3339(c.cert.not_after),
                        residual: &c.residual,
                        is_ca: c.cert.is_ca,
                        expired: c.residual_seconds < 0,
                    })
                })
                .collect(),
            others: others
                .iter()
                .take(LIST_LIMIT)
                .map(|i| other(a, i, &pairs))
                .collect(),
            other_count: others.len(),
            page: self.rows(a, sort_key, sort_dir, 0, count),
        }
    }

    /// Rows `offset..offset + count` of the table sorted by `sort_key` in
    /// `sort_dir` (ties keep the core's order).
    pub fn rows(
        &mut self,
        a: &Analysis,
        sort_key: &str,
        sort_dir: i32,
        offset: usize,
        count: usize,
    ) -> Rows {
        let column = COLUMNS
            .iter()
            .find(|(k, _)| *k == sort_key)
            .map_or("notAfter", |(k, _)| k);
        let fresh = !matches!(&self.sorted, Some((k, d, _)) if k == column && *d == sort_dir);
        if fresh {
            let keys: Vec<(usize, Key)> = self
                .base
                .iter()
                .map(|&id| (id, cell(&a.items[id], column)))
                .collect();
            let mut order: Vec<usize> = (0..keys.len()).collect();
            order.sort_by(|&x, &y| {
                let o = keys[x].1.partial_cmp(&keys[y].1).unwrap_or(Ordering::Equal);
                if sort_dir < 0 { o.reverse() } else { o }
            });
            let ids = order.into_iter().map(|i| keys[i].0).collect();
            self.sorted = Some((column.to_string(), sort_dir, ids));
        }
        let ids = self.sorted.as_ref().map_or(&[][..], |(_, _, ids)| ids);
        Rows {
            total: ids.len(),
            rows: ids
                .iter()
                .skip(offset)
                .take(count)
                .map(|&id| self.row(a, &a.items[id]))
                .collect(),
        }
    }

    fn row(&self, a: &Analysis, item: &Item) -> Row {
        Row {
            id: item.id,
            cls: match a.expiry(item.id) {
                Some(Status::Fail) => "crit",
                Some(Status::Warn) => "warn",
                _ if self.warned[item.id] => "warn",
                _ => "",
            },
            cells: COLUMNS
                .iter()
                .map(|(k, _)| match (*k, &item.certificate) {
                    ("residual", Some(c)) => c.residual.clone(),
                    (k, _) => match cell(item, k) {
                        Key::Text(s) => s,
                        Key::Time(t) => rfc3339(t),
                        Key::Number(n) => n.to_string(),
                    },
                })
                .collect(),
        }
    }
}

fn other<'a>(a: &'a Analysis, i: &'a Item, pairs: &HashMap<usize, usize>) -> Other<'a> {
    let mut o = Other {
        kind: i.kind,
        place: i.location(),
        error: None,
        key: None,
        matches: None,
        subject: None,
        signature_valid: None,
        reference: None,
    };
    match i.kind {
        ItemKind::Error => o.error = i.error.as_deref(),
        ItemKind::PrivateKey => {
            o.key = i.key.as_deref();
            o.matches = pairs.get(&i.id).map(|&c| label(&a.items[c]));
        }
        ItemKind::Csr => {
            o.subject = i.csr.as_ref().map(|c| c.subject.as_str());
            o.signature_valid = i.csr.as_ref().map(|c| c.signature_valid);
        }
        ItemKind::FileReference => o.reference = i.reference.as_deref(),
        _ => {}
    }
    o
}

/// The detail pane of certificate item `id`: the rows `kcerts inspect` prints
/// (the core's `certificate_detail`), after its file, then every extension.
pub fn detail(a: &Analysis, id: usize) -> Option<Detail> {
    let item = a.items.get(id)?;
    let d = certificate_detail(a, item)?;
    let c = &item.certificate.as_ref()?.cert;
    let rows = std::iter::once(["File".to_string(), label(item)])
        .chain(d.rows.into_iter().map(|(k, v)| [k.to_string(), v]))
        .chain(d.extensions.into_iter().map(|(k, v)| [k, v]))
        .collect();
    Some(Detail {
        title: title(item),
        key_algorithm: kcerts_core::key_choice::current_algorithm(c).map_or("", |k| k.name()),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcerts_core::analysis::{self, InputFile};
    use kcerts_core::pki::{self, PkiOptions};

    /// A kubeadm node made at `made`, analysed 350 days later: its leaves (one
    /// year) expire within the warning window, its CAs (ten years) do not.
    fn node_analysis() -> Analysis {
        let made = time::macros::datetime!(2026-03-01 12:00 UTC);
        let opts = PkiOptions {
            key_algorithm: kcerts_core::KeyAlgorithm::EcdsaP256,
            ..PkiOptions::example()
        };
        let node = pki::generate(&opts, made, &mut kcerts_core::seeded_rng(21)).unwrap();
        crate::analyze_node(&node, &[], made + time::Duration::days(350))
    }

    fn cells(rows: &Rows, column: &str) -> Vec<String> {
        let i = COLUMNS.iter().position(|(k, _)| *k == column).unwrap();
        rows.rows.iter().map(|r| r.cells[i].clone()).collect()
    }

    #[test]
    fn rows_are_sorted_by_any_column_paged_and_marked() {
        let a = node_analysis();
        let mut page = Page::new(&a);
        let all = page.rows(&a, "residual", 1, 0, 1000);
        assert_eq!(all.total, a.distinct_certificates().len());
        assert_eq!(all.rows.len(), all.total);
        let seconds: Vec<i64> = all
            .rows
            .iter()
            .map(|r| a.items[r.id].certificate.as_ref().unwrap().residual_seconds)
            .collect();
        assert!(seconds.is_sorted(), "{seconds:?}");
        // Pages of 3 are the same rows as one page of all.
        let mut paged = Vec::new();
        for offset in (0..all.total).step_by(3) {
            paged.extend(
                page.rows(&a, "residual", 1, offset, 3)
                    .rows
                    .into_iter()
                    .map(|r| r.id),
            );
        }
        assert_eq!(paged, all.rows.iter().map(|r| r.id).collect::<Vec<_>>());
        // Another column sorts again; descending reverses distinct values.
        let names = cells(&page.rows(&a, "name", -1, 0, 1000), "name");
        let mut sorted = names.clone();
        sorted.sort();
        sorted.reverse();
        assert_eq!(names, sorted);
        assert!(names.contains(&"apiserver".to_string()), "{names:?}");
        // An unknown column sorts by Not after, as the page's default.
        let by_default = page.rows(&a, "nonsense", 1, 0, 1000);
        let not_after = cells(&by_default, "notAfter");
        assert!(not_after.is_sorted(), "{not_after:?}");
        for r in &by_default.rows {
            let c = a.items[r.id].certificate.as_ref().unwrap();
            let expected = if c.cert.is_ca { "" } else { "warn" };
            assert_eq!(r.cls, expected, "{}", a.items[r.id].file);
            assert_eq!(r.cells[10], if c.cert.is_ca { "CA" } else { "leaf" });
            assert_eq!(r.cells[6], c.residual);
        }
    }

    #[test]
    fn the_detail_names_the_issuer_the_key_and_each_extension() {
        let a = node_analysis();
        let id = a
            .items
            .iter()
            .position(|i| i.file == "pki/apiserver.crt")
            .unwrap();
        let d = detail(&a, id).unwrap();
        assert_eq!(
            (d.title.as_str(), d.key_algorithm),
            ("apiserver", "ECDSA-P256")
        );
        let row = |name: &str| {
            d.rows
                .iter()
                .find(|r| r[0] == name)
                .unwrap_or_else(|| panic!("no {name} row"))[1]
                .clone()
        };
        assert_eq!(row("File"), "apiserver — pki/apiserver.crt");
        assert_eq!(row("Chain"), "signed by pki/ca.crt (signature verified)");
        assert_eq!(row("Private key"), "pki/apiserver.key");
        let cert = &a.items[id].certificate.as_ref().unwrap().cert;
        assert!(row("subjectAltName").contains("kubernetes.default.svc"));
        assert_eq!(d.rows.len(), 1 + 15 + cert.extensions().len());
    }

    #[test]
    fn the_detail_pane_shows_the_rows_inspect_prints() {
        let a = node_analysis();
        let id = a
            .items
            .iter()
            .position(|i| i.file == "pki/apiserver.crt")
            .unwrap();
        let d = detail(&a, id).unwrap();
        // `kcerts inspect` on the same analysis: "  Label:   value" lines under
        // the certificate's heading, then its extensions.
        let text = kcerts_core::inspect_output::render_text(&a);
        let section = text
            .split("\n\n")
            .find(|s| s.starts_with("Certificate: pki/apiserver.crt\n"))
            .unwrap();
        let printed: Vec<[String; 2]> = section
            .lines()
            .skip(1)
            .filter(|l| *l != "  Extensions:")
            .map(|l| {
                let (k, v) = l.trim_start().split_once(": ").unwrap();
                [
                    k.trim_end_matches(':').to_string(),
                    v.trim_start().to_string(),
                ]
            })
            .collect();
        assert_eq!(d.rows[0][0], "File");
        assert_eq!(d.rows[1..], printed[..]);
        assert!(detail(&a, a.items.len()).is_none());
        let key = a
            .items
            .iter()
            .position(|i| i.certificate.is_none())
            .unwrap();
        assert!(detail(&a, key).is_none());
    }

    /// The one expiry rule: 5 days before the apiserver certificate expires,
    /// the page marks it critical (row and warning), `verify` fails its expiry
    /// row, and `serve` (whose `kcerts_verify_check` is `verify -o
    /// prometheus`) reports `result="fail"`.
    #[test]
    fn five_days_from_expiry_fails_on_the_page_in_verify_and_in_serve() {
        use kcerts_core::verify::{self, Thresholds};
        let made = time::macros::datetime!(2026-03-01 12:00 UTC);
        let opts = PkiOptions {
            key_algorithm: kcerts_core::KeyAlgorithm::EcdsaP256,
            ..PkiOptions::example()
        };
        let node = pki::generate(&opts, made, &mut kcerts_core::seeded_rng(21)).unwrap();
        let files = kcerts_core::NodeFiles::from_generated(&node);
        let not_after = crate::analyze_node(&node, &[], made)
            .items
            .iter()
            .find(|i| i.file == "pki/apiserver.crt")
            .and_then(|i| i.certificate.as_ref())
            .unwrap()
            .cert
            .not_after;
        let at = not_after - time::Duration::days(5);

        // The page: the analysis the worker makes, its table row and warnings.
        let a = crate::analyze_node(&node, &[], at);
        let id = a
            .items
            .iter()
            .position(|i| i.file == "pki/apiserver.crt")
            .unwrap();
        let mut page = Page::new(&a);
        let report = page.report(&a, None, "notAfter", 1, 1000);
        let row = report.page.rows.iter().find(|r| r.id == id).unwrap();
        assert_eq!(row.cls, "crit");
        assert_eq!(row.cells[6], "5d");
        let warning = report
            .warnings
            .iter()
            .find(|w| w.text.starts_with("apiserver — pki/apiserver.crt: "))
            .unwrap();
        assert_eq!(warning.severity, Severity::Critical, "{}", warning.text);
        assert!(warning.text.contains("expires in 5d"), "{}", warning.text);

        // verify, with the thresholds `verify` and `serve` default to.
        let v = verify::verify(&verify::Input {
            files: &files,
            kubelet_client: None,
            kubelet_serving: None,
            node_name: None,
            service_ip: None,
            advertise_address: None,
            thresholds: Thresholds::default(),
            now: at,
            config: None,
        });
        let expiry = v
            .checks
            .iter()
            .find(|c| c.target == "apiserver" && c.check.as_str() == "expiry")
            .unwrap();
        assert_eq!(expiry.status, Status::Fail, "{}", expiry.reason);

        // serve's metric for that row.
        let metrics = kcerts_core::verify_output::to_prometheus(&v);
        assert!(
            metrics.contains(
                "kcerts_verify_check{target=\"apiserver\",check=\"expiry\",result=\"fail\"} 2\n"
            ),
            "{metrics}"
        );

        // Ten days left: a warning everywhere.
        let later = crate::analyze_node(&node, &[], not_after - time::Duration::days(10));
        let mut page = Page::new(&later);
        let rows = page.rows(&later, "notAfter", 1, 0, 1000);
        assert_eq!(rows.rows.iter().find(|r| r.id == id).unwrap().cls, "warn");
        assert_eq!(
            later.expiry(id),
            Some(Thresholds::default().status(10 * 86_400))
        );
        assert_eq!(later.expiry(id), Some(Status::Warn));
    }

    #[test]
    fn lists_are_capped_but_counted() {
        let junk: Vec<String> = (0..LIST_LIMIT + 1)
            .map(|i| format!("junk-{i}.crt"))
            .collect();
        let inputs: Vec<InputFile<'_>> = junk
            .iter()
            .map(|name| InputFile {
                name,
                bytes: b"\x30\x03",
            })
            .collect();
        let a = analysis::analyze(&inputs, time::macros::datetime!(2026-03-01 12:00 UTC));
        let mut page = Page::new(&a);
        let r = page.report(&a, None, "notAfter", 1, 500);
        assert_eq!(
            (r.others.len(), r.other_count),
            (LIST_LIMIT, LIST_LIMIT + 1)
        );
        assert_eq!(r.others[0].place, "junk-0.crt (file)");
        assert!(r.others[0].error.is_some());
        assert_eq!(
            (r.certificates, r.items, r.page.total),
            (0, LIST_LIMIT + 1, 0)
        );
    }
}
