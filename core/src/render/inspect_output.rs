//! `kcerts inspect`'s outputs: one readable section per item, or pretty JSON
//! (keys are never included, only their type).

use serde::Serialize;
use time::OffsetDateTime;

use crate::check::analysis::{Analysis, Item, ItemKind, KeyMatch, Link, Severity, Warning};
use crate::kubeadm::residual::format_date;
use crate::x509::hex::{colon_hex, unhex};
use crate::x509::signature_check::signature_algorithm_name;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonView<'a> {
    #[serde(with = "time::serde::rfc3339")]
    now: OffsetDateTime,
    items: Vec<JsonItem<'a>>,
    links: &'a [Link],
    key_matches: &'a [KeyMatch],
    warnings: &'a [Warning],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonItem<'a> {
    #[serde(flatten)]
    item: &'a Item,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_algorithm_name: Option<&'a str>,
}

/// The inspection as pretty JSON (keys are never included, only their type).
pub fn to_json(a: &Analysis) -> String {
    let view = JsonView {
        now: a.now,
        items: a
            .items
            .iter()
            .map(|item| JsonItem {
                item,
                signature_algorithm_name: item
                    .certificate
                    .as_ref()
                    .map(|c| signature_algorithm_name(&c.cert.signature_algorithm)),
            })
            .collect(),
        links: &a.links,
        key_matches: &a.key_matches,
        warnings: &a.warnings,
    };
    // Serialising plain data with string keys cannot fail.
    let mut s = serde_json::to_string_pretty(&view).unwrap_or_default();
    s.push('\n');
    s
}

/// `name` or `name (place)`.
/// A fingerprint as kcerts stores it (lowercase hex) the way openssl prints
/// one: `AB:CD:...` (the web page's detail view shows them so too).
pub fn fingerprint_text(hex: &str) -> String {
    colon_hex(&unhex(hex).unwrap_or_default())
}

fn where_is(item: &Item) -> String {
    if item.place.is_empty() {
        item.file.clone()
    } else {
        format!("{} ({})", item.file, item.place)
    }
}

fn field(out: &mut String, name: &str, value: impl AsRef<str>) {
    out.push_str(&format!("  {:<21}{}\n", format!("{name}:"), value.as_ref()));
}

/// The inspection as text: one section per item, then the findings.
pub fn render_text(a: &Analysis) -> String {
    let mut out = String::new();
    for item in &a.items {
        if !out.is_empty() {
            out.push('\n');
        }
        let title = match item.kind {
            ItemKind::Certificate => "Certificate",
            ItemKind::PrivateKey => "Private key",
            ItemKind::PublicKey => "Public key",
            ItemKind::Csr => "Certificate request",
            ItemKind::FileReference => "File reference",
            ItemKind::Error => "Error",
        };
        out.push_str(&format!("{title}: {}\n", where_is(item)));
        match item.kind {
            ItemKind::Certificate => certificate(&mut out, a, item),
            ItemKind::PrivateKey | ItemKind::PublicKey => {
                field(&mut out, "Type", item.key.as_deref().unwrap_or("unknown"));
                let mut pairs: Vec<String> = a
                    .key_matches
                    .iter()
                    .filter(|m| m.key == item.id)
                    .map(|m| where_is(&a.items[m.certificate]))
                    .collect();
                // A key pair without a certificate (sa.key and sa.pub).
                pairs.extend(
                    a.items
                        .iter()
                        .filter(|o| {
                            o.kind == ItemKind::PublicKey
                                && !o.public_key_bits.is_empty()
                                && o.public_key_bits == item.public_key_bits
                        })
                        .map(where_is),
                );
                if item.kind == ItemKind::PrivateKey {
                    field(
                        &mut out,
                        "Matches",
                        if pairs.is_empty() {
                            "no certificate, request or public key among these files".to_string()
                        } else {
                            pairs.join(", ")
                        },
                    );
                } else {
                    let privs: Vec<String> = a
                        .items
                        .iter()
                        .filter(|o| {
                            o.kind == ItemKind::PrivateKey
                                && !o.public_key_bits.is_empty()
                                && o.public_key_bits == item.public_key_bits
                        })
                        .map(where_is)
                        .collect();
                    if !privs.is_empty() {
                        field(&mut out, "Private key", privs.join(", "));
                    }
                }
            }
            ItemKind::Csr => {
                if let Some(c) = &item.csr {
                    field(&mut out, "Subject", &c.subject);
                    field(&mut out, "SANs", sans(&c.dns_names, &c.ip_addresses));
                    field(
                        &mut out,
                        "Signature",
                        if c.signature_valid {
                            "valid (self-signed by its key)"
                        } else {
                            "INVALID"
                        },
                    );
                    let keys: Vec<String> = a
                        .key_matches
                        .iter()
                        .filter(|m| m.certificate == item.id)
                        .map(|m| where_is(&a.items[m.key]))
                        .collect();
                    if !keys.is_empty() {
                        field(&mut out, "Private key", keys.join(", "));
                    }
                }
            }
            ItemKind::FileReference => {
                field(
                    &mut out,
                    "Refers to",
                    format!(
                        "{} (not embedded; inspect that file)",
                        item.reference.as_deref().unwrap_or("")
                    ),
                );
            }
            ItemKind::Error => field(&mut out, "Problem", item.error.as_deref().unwrap_or("")),
        }
    }
    if !a.warnings.is_empty() {
        out.push_str("\nFindings:\n");
        for w in &a.warnings {
            let sev = match w.severity {
                Severity::Critical => "critical",
                Severity::Warning => "warning",
            };
            out.push_str(&format!(
                "  {sev}: {}: {}\n",
                where_is(&a.items[w.item]),
                w.kind
            ));
        }
    }
    out
}

fn sans(dns: &[String], ips: &[std::net::IpAddr]) -> String {
    let all: Vec<String> = dns
        .iter()
        .map(|d| format!("DNS:{d}"))
        .chain(ips.iter().map(|i| format!("IP:{i}")))
        .collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

fn certificate(out: &mut String, a: &Analysis, item: &Item) {
    let Some(ci) = &item.certificate else {
        return;
    };
    let c = &ci.cert;
    if let Some(role) = &ci.role {
        field(out, "kubeadm role", role);
    }
    field(out, "Subject", &c.subject);
    field(out, "Issuer", &c.issuer);
    let issuers: Vec<String> = a
        .links
        .iter()
        .filter(|l| l.child == item.id)
        .map(|l| {
            format!(
                "signed by {} (signature verified)",
                where_is(&a.items[l.issuer])
            )
        })
        .collect();
    let chain = if !issuers.is_empty() {
        issuers.join("; ")
    } else if c.subject_der() == c.issuer_der() {
        match c.verify_signed_by(c) {
            Ok(()) => "self-signed (signature verified)".to_string(),
            Err(e) => format!("self-signed, but the signature does not verify: {e}"),
        }
    } else {
        "issuer not among these files".to_string()
    };
    field(out, "Chain", chain);
    field(
        out,
        "Serial",
        colon_hex(&unhex(&c.serial).unwrap_or_default()),
    );
    field(out, "Not before", format_date(c.not_before));
    let left = if ci.residual_seconds < 0 {
        format!(
            "expired {} ago",
            crate::kubeadm::residual::human(-ci.residual_seconds)
        )
    } else if c.not_before > a.now {
        format!("not valid yet; {} left after that", ci.residual)
    } else {
        format!("{} left", ci.residual)
    };
    field(
        out,
        "Not after",
        format!("{} ({left})", format_date(c.not_after)),
    );
    field(out, "SANs", sans(&c.dns_names, &c.ip_addresses));
    field(out, "Public key", &c.public_key);
    field(
        out,
        "Signature algorithm",
        signature_algorithm_name(&c.signature_algorithm),
    );
    field(out, "CA", if c.is_ca { "yes" } else { "no" });
    field(
        out,
        "Key usage",
        if c.key_usage.is_empty() {
            "none".to_string()
        } else {
            c.key_usage.join(", ")
        },
    );
    field(
        out,
        "Extended key usage",
        if c.extended_key_usage.is_empty() {
            "none".to_string()
        } else {
            c.extended_key_usage
                .iter()
                .map(|u| u.name())
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    let keys: Vec<String> = a
        .key_matches
        .iter()
        .filter(|m| m.certificate == item.id)
        .map(|m| where_is(&a.items[m.key]))
        .collect();
    if !keys.is_empty() {
        field(out, "Private key", keys.join(", "));
    }
    field(
        out,
        "SHA-256 fingerprint",
        fingerprint_text(&c.sha256_fingerprint()),
    );
    out.push_str("  Extensions:\n");
    for e in &c.extensions() {
        let crit = if e.critical { " (critical)" } else { "" };
        out.push_str(&format!("    {}{crit}: {}\n", e.name, e.value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::analysis::InputFile;
    use crate::check::inspect::{has_errors, inspect};
    use crate::issue::pki;
    use crate::test_support::{NOW, ecdsa_example};

    #[test]
    fn a_chain_and_its_key_are_linked_and_no_key_material_is_shown() {
        let opts = ecdsa_example();
        let node = pki::generate(&opts, NOW, &mut crate::seeded_rng(3)).unwrap();
        let get = |p: &str| {
            node.files
                .iter()
                .find(|f| f.path.to_string() == p)
                .unwrap()
                .bytes
                .clone()
        };
        let mut chain = get("pki/apiserver.crt");
        chain.extend(get("pki/ca.crt"));
        let key = get("pki/apiserver.key");
        let a = inspect(
            &[
                InputFile {
                    name: "chain.pem",
                    bytes: &chain,
                },
                InputFile {
                    name: "apiserver.key",
                    bytes: &key,
                },
            ],
            NOW,
        );
        let text = render_text(&a);
        assert!(
            text.contains("Certificate: chain.pem (block 1 of 2)"),
            "{text}"
        );
        assert!(
            text.contains("signed by chain.pem (block 2 of 2) (signature verified)"),
            "{text}"
        );
        assert!(text.contains("self-signed (signature verified)"), "{text}");
        assert!(
            text.contains("Matches:             chain.pem (block 1 of 2)"),
            "{text}"
        );
        assert!(
            text.contains("Signature algorithm: ecdsa-with-SHA256"),
            "{text}"
        );
        assert!(text.contains("subjectAltName: DNS:cp-1"), "{text}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        let json = to_json(&a);
        assert!(!json.contains("PRIVATE KEY"));
        assert!(json.contains("\"signatureAlgorithmName\": \"ecdsa-with-SHA256\""));
        assert!(!has_errors(&a));
    }

    #[test]
    fn signature_names() {
        use crate::x509::signature_check::oid;
        assert_eq!(
            signature_algorithm_name(oid::RSA_SHA256),
            "sha256WithRSAEncryption"
        );
        assert_eq!(signature_algorithm_name("1.2.3"), "1.2.3");
    }
}
