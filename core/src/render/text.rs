//! kubeadm's text form of check-expiration: two tables, byte-for-byte.

use super::tabwriter;
use crate::check::expiration::{Entry, Report};
use crate::kubeadm::residual;
/// The EXPIRES column's date form (kept here for callers of `text::format_date`).
pub use crate::kubeadm::residual::format_date;

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The two tables as kubeadm 1.31+ prints them (`tabwriter(10, 4, 3, ' ', 0)`,
/// `%-8v` for the last column).
pub fn render(report: &Report) -> String {
    tables(&[(None, report)])
}

/// kubeadm's two tables over several nodes, with a NODE column first
/// (`kcerts fleet`): each node's rows in kubeadm's order, nodes in the order given.
pub fn render_nodes(nodes: &[(&str, &Report)]) -> String {
    let nodes: Vec<(Option<&str>, &Report)> = nodes.iter().map(|(n, r)| (Some(*n), *r)).collect();
    tables(&nodes)
}

fn tables(nodes: &[(Option<&str>, &Report)]) -> String {
    let node_cell = |n: Option<&str>| n.map(|n| format!("{n}\t")).unwrap_or_default();
    let head = node_cell(nodes.first().and_then(|(n, _)| n.map(|_| "NODE")));
    let mut t = format!(
        "{head}CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED\n"
    );
    for (node, report) in nodes {
        let n = node_cell(*node);
        for e in &report.certificates {
            if e.missing {
                t.push_str(&format!("{n}!MISSING! {}\t\t\t\t\n", e.name));
            } else {
                t.push_str(&format!(
                    "{n}{}\t{}\t{}\t{}\t{:<8}\n",
                    e.name,
                    date(e),
                    residual::human(e.residual_seconds),
                    e.ca_name,
                    yes_no(e.externally_managed)
                ));
            }
        }
    }
    t.push('\n');
    t.push_str(&format!(
        "{head}CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED\n"
    ));
    for (node, report) in nodes {
        let n = node_cell(*node);
        for e in &report.certificate_authorities {
            if e.missing {
                t.push_str(&format!("{n}!MISSING! {}\t\t\t\n", e.name));
            } else {
                t.push_str(&format!(
                    "{n}{}\t{}\t{}\t{:<8}\n",
                    e.name,
                    date(e),
                    residual::human(e.residual_seconds),
                    yes_no(e.externally_managed)
                ));
            }
        }
    }
    tabwriter::format(&t, 10, 3)
}

fn date(e: &Entry) -> String {
    e.expiration_date.map(format_date).unwrap_or_default()
}
