//! `kcerts inspect`'s outputs: one readable section per item, or pretty JSON
//! (keys are never included, only their type).

use serde::Serialize;
use time::OffsetDateTime;

use crate::check::analysis::{Analysis, Item, ItemKind, KeyMatch, Link, Severity, Warning};
use crate::render::certificate_detail::{certificate_detail, sans};
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
        out.push_str(&format!("{title}: {}\n", item.location()));
        match item.kind {
            ItemKind::Certificate => certificate(&mut out, a, item),
            ItemKind::PrivateKey | ItemKind::PublicKey => {
                field(&mut out, "Type", item.key.as_deref().unwrap_or("unknown"));
                let mut pairs: Vec<String> = a
                    .key_matches
                    .iter()
                    .filter(|m| m.key == item.id)
                    .map(|m| a.items[m.certificate].location())
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
                        .map(Item::location),
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
                        .map(Item::location)
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
                        .map(|m| a.items[m.key].location())
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
                a.items[w.item].location(),
                w.kind
            ));
        }
    }
    out
}

fn certificate(out: &mut String, a: &Analysis, item: &Item) {
    let Some(d) = certificate_detail(a, item) else {
        return;
    };
    for (label, value) in &d.rows {
        field(out, label, value);
    }
    out.push_str("  Extensions:\n");
    for (name, value) in &d.extensions {
        out.push_str(&format!("    {name}: {value}\n"));
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
