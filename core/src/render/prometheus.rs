//! `check-expiration -o prometheus`: the Prometheus text exposition format, for
//! node-exporter's textfile collector.
//!
//! Metric and label names follow x509-certificate-exporter's (`x509_cert_not_after`,
//! `x509_cert_not_before`, `x509_cert_expired`, labels `filepath`, `filename`,
//! `subject_CN`, `issuer_CN`, `serial_number`, `embedded_kind`, `embedded_key`) so
//! existing alerts keep working; kcerts adds `name` (the kubeadm row) and `ca`.

use time::OffsetDateTime;

use crate::check::expiration;
use crate::kubeadm::inventory::{self, Location};
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::node_loader;
use crate::x509::certificate::Certificate;

/// One certificate's samples.
struct Sample {
    labels: Vec<(&'static str, String)>,
    cert: Certificate,
}

/// Renders the metrics for `files` at `now`. `path_of` maps a node path to the
/// real path shown in `filepath` (the CLI joins it with `--cert-dir` or
/// `--kubeconfig-dir`).
pub fn render(
    files: &NodeFiles,
    now: OffsetDateTime,
    path_of: &dyn Fn(&NodePath) -> String,
) -> String {
    metrics(&[(None, files)], now, &|_, p| path_of(p))
}

/// The metrics of several nodes (`kcerts fleet -o prometheus`): every series gets
/// a `node` label first; `path_of` maps a node and a node path to `filepath`.
pub fn render_nodes(
    nodes: &[(&str, &NodeFiles)],
    now: OffsetDateTime,
    path_of: &dyn Fn(&str, &NodePath) -> String,
) -> String {
    let nodes: Vec<(Option<&str>, &NodeFiles)> =
        nodes.iter().map(|(n, f)| (Some(*n), *f)).collect();
    metrics(&nodes, now, &|n, p| path_of(n.unwrap_or_default(), p))
}

fn metrics(
    nodes: &[(Option<&str>, &NodeFiles)],
    now: OffsetDateTime,
    path_of: &dyn Fn(Option<&str>, &NodePath) -> String,
) -> String {
    let mut samples = Vec::new();
    let mut errors = Vec::new();
    let mut error_counts = Vec::new();
    for (node, files) in nodes {
        let node_label: Vec<(&'static str, String)> =
            node.map(|n| ("node", n.to_string())).into_iter().collect();
        let path_of = |p: &NodePath| path_of(*node, p);
        let rep = expiration::build(files, now);
        for row in inventory::rows(rep.external_etcd) {
            let Ok(Some(cert)) = node_loader::load_row_certificate(files, row) else {
                continue;
            };
            let path = crate::kubeadm::node::certificate_path(row);
            let mut labels = node_label.clone();
            labels.extend(base_labels(row.name, row.ca.name(), &path_of(&path), &cert));
            if let Location::Kubeconfig { .. } = row.location {
                labels.push(("embedded_kind", "user".into()));
                labels.push(("embedded_key", "client-certificate-data".into()));
            }
            samples.push(Sample { labels, cert });
        }
        for ca in inventory::cas(rep.external_etcd) {
            let state = node_loader::load_ca(files, ca, &mut Vec::new());
            if let Some(cert) = state.cert {
                let path = path_of(&NodePath::cert(ca.cert_file()));
                let mut labels = node_label.clone();
                labels.extend(base_labels(ca.name(), "", &path, &cert));
                samples.push(Sample { labels, cert });
            }
        }
        for e in &rep.errors {
            let filepath = path_of(&e.path);
            let mut labels = node_label.clone();
            labels.extend([
                ("filename", file_name(&filepath)),
                ("filepath", filepath.clone()),
                ("error", e.kind.to_string()),
            ]);
            errors.push(labels);
        }
        error_counts.push((node_label, rep.errors.len()));
    }

    let mut out = String::new();
    family(
        &mut out,
        "x509_cert_not_after",
        "The certificate's NotAfter date, as a Unix time in seconds.",
        &samples,
        |c| c.not_after.unix_timestamp(),
    );
    family(
        &mut out,
        "x509_cert_not_before",
        "The certificate's NotBefore date, as a Unix time in seconds.",
        &samples,
        |c| c.not_before.unix_timestamp(),
    );
    family(
        &mut out,
        "x509_cert_expired",
        "1 if the certificate has expired at the time of the check, else 0.",
        &samples,
        |c| i64::from(c.not_after <= now),
    );
    out.push_str("# HELP x509_cert_error 1 for each file kcerts could not read or parse.\n");
    out.push_str("# TYPE x509_cert_error gauge\n");
    for labels in &errors {
        out.push_str(&format!("x509_cert_error{} 1\n", label_text(labels)));
    }
    out.push_str("# HELP x509_read_errors Number of files kcerts could not read or parse.\n");
    out.push_str("# TYPE x509_read_errors gauge\n");
    for (labels, count) in &error_counts {
        let labels = if labels.is_empty() {
            String::new()
        } else {
            label_text(labels)
        };
        out.push_str(&format!("x509_read_errors{labels} {count}\n"));
    }
    out.push_str(
        "# HELP kcerts_check_timestamp_seconds When kcerts wrote these metrics, as a Unix time.\n",
    );
    out.push_str("# TYPE kcerts_check_timestamp_seconds gauge\n");
    out.push_str(&format!(
        "kcerts_check_timestamp_seconds {}\n",
        now.unix_timestamp()
    ));
    out
}

fn base_labels(
    name: &str,
    ca: &str,
    filepath: &str,
    cert: &Certificate,
) -> Vec<(&'static str, String)> {
    vec![
        ("name", name.to_string()),
        ("ca", ca.to_string()),
        ("filename", file_name(filepath)),
        ("filepath", filepath.to_string()),
        ("subject_CN", cert.common_name.clone().unwrap_or_default()),
        ("issuer_CN", issuer_cn(cert)),
        ("serial_number", hex_to_decimal(&cert.serial)),
    ]
}

fn family(
    out: &mut String,
    name: &str,
    help: &str,
    samples: &[Sample],
    value: impl Fn(&Certificate) -> i64,
) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
    for s in samples {
        out.push_str(&format!(
            "{name}{} {}\n",
            label_text(&s.labels),
            value(&s.cert)
        ));
    }
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

fn issuer_cn(cert: &Certificate) -> String {
    use x509_parser::prelude::{FromDer, X509Certificate};
    X509Certificate::from_der(&cert.der)
        .ok()
        .and_then(|(_, x)| {
            x.issuer()
                .iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// `{a="x",b="y"}`, skipping empty values (Prometheus treats them as absent).
/// `{k="v",...}` with each value escaped; labels with an empty value are left out
/// (Prometheus reads an empty label as no label).
pub(crate) fn label_text(labels: &[(&str, String)]) -> String {
    let parts: Vec<String> = labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// The exposition format's label escaping: backslash, double quote, line feed.
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A hex serial as the decimal x509-certificate-exporter prints (Go's `big.Int.String`).
pub fn hex_to_decimal(hex: &str) -> String {
    // Little-endian base-1e9 limbs.
    let mut limbs: Vec<u64> = vec![0];
    for c in hex.chars() {
        let Some(d) = c.to_digit(16) else {
            return String::new();
        };
        let mut carry = u64::from(d);
        for l in &mut limbs {
            let v = *l * 16 + carry;
            *l = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    let mut s = limbs.last().map(u64::to_string).unwrap_or_default();
    for l in limbs.iter().rev().skip(1) {
        s.push_str(&format!("{l:09}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{NOW, ecdsa_example_files};

    #[test]
    fn serials_in_decimal() {
        assert_eq!(hex_to_decimal("00"), "0");
        assert_eq!(hex_to_decimal("ff"), "255");
        assert_eq!(hex_to_decimal("7fffffffffffffff"), "9223372036854775807");
        assert_eq!(
            hex_to_decimal("0123456789abcdef0123456789abcdef"),
            "1512366075204170929049582354406559215"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn one_gauge_per_certificate_and_errors() {
        let mut files = ecdsa_example_files(NOW, 2);
        files.insert(NodePath::cert("front-proxy-client.crt"), b"junk".to_vec());
        let text = render(&files, NOW, &|p| format!("/etc/kubernetes/{p}"));
        let count = |m: &str| {
            text.lines()
                .filter(|l| l.starts_with(&format!("{m}{{")))
                .count()
        };
        // 11 rows + 3 CAs, minus the broken front-proxy-client.
        assert_eq!(count("x509_cert_not_after"), 13, "{text}");
        assert_eq!(count("x509_cert_expired"), 13);
        assert_eq!(count("x509_cert_error"), 1);
        assert!(text.contains("x509_read_errors 1\n"));
        assert!(text.contains(
            "x509_cert_not_after{name=\"admin.conf\",ca=\"ca\",filename=\"admin.conf\",\
filepath=\"/etc/kubernetes/admin.conf\",subject_CN=\"kubernetes-admin\",issuer_CN=\"kubernetes\","
        ));
        assert!(text.contains("embedded_kind=\"user\",embedded_key=\"client-certificate-data\"}"));
    }
}
