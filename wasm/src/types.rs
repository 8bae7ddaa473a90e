//! The shapes the page receives, declared for TypeScript (they land in the
//! generated `kcerts_wasm.d.ts`). A test below checks that every field
//! `page.rs` serialises is declared here and nothing else, so the two stay in step.

use wasm_bindgen::prelude::*;

/// The declarations, as TypeScript source.
#[allow(dead_code)] // read by the typescript_custom_section below and the test
pub const TYPES: &str = r#"
/** A file for `analyze`: its bytes, or only its size when `fileTooLarge(size)`, or why it could not be read. Archives (`archiveLimit(name)`) gunzipped. */
export interface JsFile { name: string; bytes?: Uint8Array; size?: number; error?: string; }

export type ItemKind = "certificate" | "privateKey" | "publicKey" | "csr" | "fileReference" | "error";

export interface FleetView {
  /** What `kcerts fleet` prints: the tables with a NODE column, then the rows. */
  text: string;
  pass: number;
  warn: number;
  fail: number;
  /** The rows that did not pass, failures first. */
  problems: { status: "warn" | "fail"; target: string; check: string; reason: string }[];
  /** Why the nodes could not be checked together. */
  error?: string;
}

export interface NodeReport { name: string; root: string; text: string; json: string; }

/** What `Analysis.report(sortKey, sortDir, count)` returns: what the page renders after an analysis. */
export interface Report {
  /** Certificates found, copies included. */
  certificates: number;
  items: number;
  now: string;
  nodes: NodeReport[];
  fleet?: FleetView;
  /** The table's columns: [key, title]. */
  columns: [string, string][];
  /** The first 1000 warnings, most severe first, each naming its item. */
  warnings: { severity: "warning" | "critical"; text: string }[];
  warningCount: number;
  /** The first 400 distinct certificates. */
  timeline: TimelineRow[];
  /** The first 1000 items that are not certificates. */
  others: OtherItem[];
  otherCount: number;
  /** The first `count` table rows. */
  page: Rows;
}

export interface TimelineRow { label: string; file: string; notBefore: string; notAfter: string; residual: string; isCa: boolean; expired: boolean; }

export interface OtherItem {
  kind: ItemKind;
  /** The file, and the place in it. */
  where: string;
  error?: string;
  /** A key's description. */
  key?: string;
  /** The certificate a private key belongs to. */
  matches?: string;
  /** A CSR's subject and whether its signature verifies. */
  subject?: string;
  signatureValid?: boolean;
  reference?: string;
}

/** What `Analysis.rows(sortKey, sortDir, offset, count)` returns: one row per distinct certificate. */
export interface Rows { total: number; rows: Row[]; }
/** A table row: its item id, "crit" (expired), "warn" or "", and one cell per column. */
export interface Row { id: number; cls: string; cells: string[]; }

/** What `Analysis.detailRows(id)` returns: the detail pane. */
export interface Detail {
  title: string;
  /** The key algorithm a CSR or renewal uses unless another is picked ("": pick one). */
  keyAlgorithm: string;
  /** [name, value] pairs: facts, fingerprints, signers, key, then every extension. */
  rows: [string, string][];
}

/** What `makeCsr` and `renew` return. */
export interface Pems {
  name: string;
  keyAlgorithm: string;
  keyPem: string;
  csrPem?: string;
  certPem?: string;
  validityHours?: number;
}
"#;

#[wasm_bindgen(typescript_custom_section)]
const TS_APPEND_CONTENT: &'static str = TYPES;

#[cfg(test)]
mod tests {
    use super::TYPES;
    use std::collections::BTreeSet;

    /// The declarations without their `/** ... */` comments.
    fn without_comments() -> String {
        let mut out = String::new();
        let mut rest = TYPES;
        while let Some(start) = rest.find("/**") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("*/").expect("closed comment");
            rest = &rest[start + end + 2..];
        }
        out + rest
    }

    /// The field names declared in `interface name { ... }`.
    fn declared(name: &str) -> BTreeSet<String> {
        let types = without_comments();
        let start = types
            .find(&format!("interface {name} {{"))
            .unwrap_or_else(|| panic!("{name} is not declared"));
        let body = &types[start..];
        let mut depth = 0;
        let mut fields = BTreeSet::new();
        let mut current = String::new();
        for ch in body.chars().skip_while(|c| *c != '{') {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            if depth == 1 && (ch == ';' || ch == '{' || ch == '\n') {
                current.clear();
            } else if depth == 1 && ch == ':' {
                let field = current.trim().trim_end_matches('?').to_string();
                if !field.is_empty() {
                    fields.insert(field);
                }
                current.clear();
            } else if depth == 1 {
                current.push(ch);
            }
        }
        fields
    }

    fn keys(v: &serde_json::Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    /// Every key present in at least one of `values`.
    fn all_keys<'a>(values: impl IntoIterator<Item = &'a serde_json::Value>) -> BTreeSet<String> {
        values.into_iter().flat_map(keys).collect()
    }

    #[test]
    fn the_declared_shapes_are_the_serialised_ones() {
        use kcerts_core::analysis::InputFile;
        use kcerts_core::pki::{self, PkiOptions};
        let now = time::macros::datetime!(2026-03-01 12:00 UTC);
        let opts = PkiOptions {
            key_algorithm: kcerts_core::KeyAlgorithm::EcdsaP256,
            ..PkiOptions::example()
        };
        let node = pki::generate(&opts, now, &mut kcerts_core::seeded_rng(4)).unwrap();
        let ca = kcerts_core::certificate::parse_all(&node.files[0].bytes).unwrap();
        let key = kcerts_core::PrivateKey::generate(
            kcerts_core::KeyAlgorithm::EcdsaP256,
            &mut kcerts_core::seeded_rng(5),
        )
        .unwrap();
        let csr = kcerts_core::csr_builder::for_certificate(&ca[0], &key).unwrap();
        let kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n";
        let extra = [
            InputFile {
                name: "junk.crt",
                bytes: b"\x30\x03",
            },
            InputFile {
                name: "new.csr",
                bytes: csr.as_bytes(),
            },
            InputFile {
                name: "kubelet.yaml",
                bytes: kubeconfig.as_bytes(),
            },
        ];
        let a = crate::analyze_node(&node, &extra, now);
        let mut page = crate::page::Page::new(&a);
        let report = serde_json::to_value(page.report(&a, None, "subject", -1, 5)).unwrap();
        let mut top = keys(&report);
        top.insert("fleet".into());
        assert_eq!(top, declared("Report"));
        assert_eq!(
            all_keys(report["timeline"].as_array().unwrap()),
            declared("TimelineRow")
        );
        assert_eq!(
            all_keys(report["others"].as_array().unwrap()),
            declared("OtherItem")
        );
        assert_eq!(keys(&report["page"]), declared("Rows"));
        assert_eq!(
            all_keys(report["page"]["rows"].as_array().unwrap()),
            declared("Row")
        );
        assert_eq!(
            all_keys(report["nodes"].as_array().unwrap()),
            declared("NodeReport")
        );
        let first = report["page"]["rows"][0]["id"].as_u64().unwrap() as usize;
        let detail_rows = serde_json::to_value(crate::page::detail(&a, first).unwrap()).unwrap();
        assert_eq!(keys(&detail_rows), declared("Detail"));
    }
}
