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
    let mut t = String::from(
        "CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED\n",
    );
    for e in &report.certificates {
        if e.missing {
            t.push_str(&format!("!MISSING! {}\t\t\t\t\n", e.name));
        } else {
            t.push_str(&format!(
                "{}\t{}\t{}\t{}\t{:<8}\n",
                e.name,
                date(e),
                residual::human(e.residual_seconds),
                e.ca_name,
                yes_no(e.externally_managed)
            ));
        }
    }
    t.push('\n');
    t.push_str("CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED\n");
    for e in &report.certificate_authorities {
        if e.missing {
            t.push_str(&format!("!MISSING! {}\t\t\t\n", e.name));
        } else {
            t.push_str(&format!(
                "{}\t{}\t{}\t{:<8}\n",
                e.name,
                date(e),
                residual::human(e.residual_seconds),
                yes_no(e.externally_managed)
            ));
        }
    }
    tabwriter::format(&t, 10, 3)
}

fn date(e: &Entry) -> String {
    e.expiration_date.map(format_date).unwrap_or_default()
}
