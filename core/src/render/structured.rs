//! kubeadm's structured check-expiration output:
//! `output.kubeadm.k8s.io/v1alpha3` `CertificateExpirationInfo`.

use serde::Serialize;
use serde_json::Value;

use crate::check::expiration::{Entry, Report};

/// The schema's API version.
pub const API_VERSION: &str = "output.kubeadm.k8s.io/v1alpha3";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info<'a> {
    kind: &'static str,
    api_version: &'static str,
    certificates: Vec<Certificate<'a>>,
    certificate_authorities: Vec<Certificate<'a>>,
}

/// Field order follows kubeadm's Go struct.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Certificate<'a> {
    name: &'a str,
    expiration_date: Option<String>,
    residual_time: i64,
    externally_managed: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    ca_name: &'a str,
    missing: bool,
}

fn entry(e: &Entry) -> Certificate<'_> {
    Certificate {
        name: &e.name,
        expiration_date: e.expiration_date.map(rfc3339),
        residual_time: e.residual_seconds,
        externally_managed: e.externally_managed,
        ca_name: &e.ca_name,
        missing: e.missing,
    }
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

/// The `CertificateExpirationInfo` of a report as a JSON value.
pub(crate) fn info(report: &Report) -> Value {
    let info = Info {
        kind: "CertificateExpirationInfo",
        api_version: API_VERSION,
        certificates: report.certificates.iter().map(entry).collect(),
        certificate_authorities: report.certificate_authorities.iter().map(entry).collect(),
    };
    serde_json::to_value(info).unwrap_or(Value::Null)
}

/// JSON as kubeadm prints it (`json.MarshalIndent` with four spaces, then a newline).
pub fn to_json(report: &Report) -> String {
    pretty(&info(report))
}

/// A JSON value indented with four spaces, then a newline (kubeadm's `json.MarshalIndent`).
pub(crate) fn pretty(value: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if value.serialize(&mut ser).is_err() {
        return String::new();
    }
    let mut s = String::from_utf8(buf).unwrap_or_default();
    s.push('\n');
    s
}

/// YAML with keys sorted, as kubeadm's sigs.k8s.io/yaml printer orders them.
pub fn to_yaml(report: &Report) -> String {
    yaml(info(report))
}

/// A JSON value as YAML with keys sorted (sigs.k8s.io/yaml's order).
pub(crate) fn yaml(value: Value) -> String {
    crate::kubeadm::kubeconfig::to_yaml(&sorted(value)).unwrap_or_default()
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}
