//! `kcerts check-expiration`.

use anyhow::Result;
use kcerts_core::{expiration, structured, text, verify};
use time::OffsetDateTime;

use crate::flags::value;
use crate::flags::{DirArgs, OutputFormat};
use crate::node::cluster_config::{ConfiguredNode, Lines, read_node};
use crate::report::exit::Code;

/// The output formats of this command.
const FORMATS: [(OutputFormat, Option<&str>); 4] = [
    (OutputFormat::Text, None),
    (OutputFormat::Json, None),
    (OutputFormat::Yaml, None),
    (
        OutputFormat::Prometheus,
        Some("The Prometheus text format, for node-exporter's textfile collector"),
    ),
];

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Text output is kubeadm 1.31+'s two tables, byte-for-byte; json and yaml \
are kubeadm's output.kubeadm.k8s.io/v1alpha3 CertificateExpirationInfo.\n\
Beyond kubeadm: --at evaluates expiry at another moment; a file that cannot be read or \
parsed is reported on stderr (exit 1) while the other files are still reported; etcd \
rows are left out when neither etcd/ca.crt nor any etcd certificate exists (external etcd).\n\
--config FILE or --from-cluster: the cluster's kubeadm configuration, as kubeadm reads it \
(the kubeadm-config ConfigMap through --kubeconfig, with kubeadm's lines, on stderr before \
json/yaml/prometheus output); its certificatesDir replaces the default --cert-dir and \
etcd.external decides the etcd rows. Without either, only the files are read (no network).\n\
-o prometheus: gauges x509_cert_not_after, x509_cert_not_before (Unix time), x509_cert_expired \
(0/1) per certificate, labelled name, ca, filepath, filename, subject_CN, issuer_CN, \
serial_number (and embedded_kind, embedded_key in kubeconfigs), plus x509_cert_error per bad \
file and x509_read_errors; see docs/monitoring.md.\n\
Like kubeadm: exit 1 with kubeadm's message and no table when a CA certificate is missing \
while certificates it signed exist, or when an external CA's (certificate without key) \
required certificates lack a key or do not chain to it now; a leaf file may carry \
intermediates up to an external CA. When neither the cert dir nor any kubeconfig exists: \
one error line naming both paths, exit 1.\n\
Differs from kubeadm: other unreadable or broken files are reported one by one on stderr \
(exit 1) under the table, where kubeadm stops at the first.\n\
Exit status: 0, or 1 when a file cannot be read or parsed (like kubeadm, expiry alone never \
changes it). With --warn/--crit: 2 when a certificate expires within --warn, 3 within --crit \
or expired; 1 still takes precedence."
)]
pub struct Args {
    #[command(flatten)]
    dirs: DirArgs,
    /// Output format.
    #[arg(short, long, default_value = "text", value_parser = OutputFormat::parser(&FORMATS))]
    output: OutputFormat,
    /// Evaluate expiry as of this RFC 3339 time instead of now (e.g. your next maintenance window).
    #[arg(long, value_name = "TIME", value_parser = value::parse_time)]
    at: Option<OffsetDateTime>,
    #[command(flatten)]
    thresholds: crate::flags::thresholds::Thresholds,
    #[command(flatten)]
    config: crate::flags::config::ConfigArgs,
}

pub fn run(a: Args) -> Result<Code> {
    let lines = Lines::before(a.output);
    let ConfiguredNode { dirs, files, .. } =
        read_node(&a.config, &a.dirs, "check-expiration", lines)?;
    let now = value::now_or(a.at);
    if !crate::node::guard::kubeadm_accepts(&dirs, &files, now) {
        return Ok(Code::Error);
    }
    let report = expiration::build(&files, now);
    let out = match a.output {
        OutputFormat::Text => text::render(&report),
        OutputFormat::Json => structured::to_json(&report),
        OutputFormat::Yaml => structured::to_yaml(&report),
        OutputFormat::Prometheus => kcerts_core::prometheus::render(&files, report.now, &|p| {
            dirs.path(p).display().to_string()
        }),
    };
    crate::report::out::print(&out)?;
    for e in &report.errors {
        eprintln!("error: {}: {}", dirs.path(&e.path).display(), e.kind);
    }
    if !report.errors.is_empty() {
        return Ok(Code::Error);
    }
    let present = report
        .certificates
        .iter()
        .chain(&report.certificate_authorities)
        .filter(|e| !e.missing)
        .map(|e| e.residual_seconds);
    Ok(Code::of(verify::expiration_status(
        present,
        a.thresholds.warn,
        a.thresholds.crit,
    )))
}
