//! Analysis of an arbitrary set of files (what the web page is given): every
//! certificate, key, CSR and kubeconfig in them, which certificate signed which,
//! which key belongs to which certificate, warnings, and — when the files look
//! like a kubeadm node (`pki/` and `*.conf`) — the check-expiration report.
//!
//! By concern: `model` (the data the page and `inspect` show), `parse` (files
//! to items), `nodes` (which files form kubeadm nodes), `links` (copies,
//! issuers, key pairs, with the `ends_hash` hasher), `roles` (kubeadm rows and
//! their usages) and `findings` (expiry under the one rule, and the rest).
//!
//! Every file gets items or an error item; nothing here panics on bad input.

use time::OffsetDateTime;

use crate::check::verify::Thresholds;

mod ends_hash;
mod findings;
mod links;
mod model;
mod nodes;
mod parse;
mod roles;

pub use findings::{Warning, WarningKind};
pub use links::SIGNATURE_CHECK_LIMIT;
pub use model::{
    Analysis, CertificateItem, InputFile, Item, ItemKind, KeyMatch, Link, MAX_FILE_BYTES, NodeView,
    Severity, SkippedFile, file_too_large,
};

/// Analyses `files` as of `now`, judging expiry with the default thresholds
/// (warning within 30 days, critical within 7).
pub fn analyze(files: &[InputFile<'_>], now: OffsetDateTime) -> Analysis {
    analyze_with_progress(files, &[], now, Thresholds::default(), &mut |_, _| {})
}

/// Analyses `files` as of `now`, with an error item for each file in
/// `skipped`, judging expiry with `thresholds`, calling `progress(done, total)`
/// as the files are parsed (`done` and `total` count input bytes; the last
/// call has `done == total`).
pub fn analyze_with_progress(
    files: &[InputFile<'_>],
    skipped: &[SkippedFile],
    now: OffsetDateTime,
    thresholds: Thresholds,
    progress: &mut dyn FnMut(u64, u64),
) -> Analysis {
    let mut b = parse::Builder {
        items: Vec::new(),
        now,
    };
    let total: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
    let mut done = 0;
    for f in files {
        b.file(f.name, f.bytes, &mut |part| {
            progress(done + (f.bytes.len() as f64 * part) as u64, total);
        });
        done += f.bytes.len() as u64;
        progress(done, total);
    }
    for f in skipped {
        let message = f.reason.clone().unwrap_or_else(|| {
            format!(
                "{} bytes is over the page's {MAX_FILE_BYTES} byte limit",
                f.size
            )
        });
        b.error(&f.name, "file".into(), message);
    }
    let mut items = b.items;

    let first = links::first_copies(&items);
    let links = links::link_issuers(&items, &first);
    let key_matches = links::match_keys(&items, &first);
    let nodes = nodes::node_views(files, now);

    let mut warnings = Vec::new();
    for n in &nodes {
        let name = (nodes.len() > 1).then_some(n.name.as_str());
        roles::assign_roles(&mut items, &n.root, name, &mut warnings);
    }
    findings::expiry(&items, thresholds, &mut warnings);
    findings::ca_expires_first(&items, &links, &mut warnings);
    findings::weak_crypto(&items, &mut warnings);
    findings::node_files(&items, &nodes, &mut warnings);
    warnings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.item.cmp(&b.item)));
    Analysis {
        now,
        items,
        links,
        key_matches,
        warnings,
        nodes,
        thresholds,
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{NOW, ecdsa_node};
    use super::*;

    #[test]
    fn a_node_folder_is_detected_and_linked() {
        let node = ecdsa_node();
        let names: Vec<String> = node
            .files
            .iter()
            .map(|f| format!("kubernetes/{}", f.path))
            .collect();
        let inputs: Vec<InputFile<'_>> = node
            .files
            .iter()
            .zip(&names)
            .map(|(f, n)| InputFile {
                name: n,
                bytes: &f.bytes,
            })
            .collect();
        let a = analyze(&inputs, NOW + time::Duration::days(340));
        assert_eq!(a.nodes.len(), 1);
        let view = &a.nodes[0];
        assert_eq!(view.root, "kubernetes/");
        assert_eq!(view.report.certificates.len(), 11);
        // every leaf links to a CA; every key matches a certificate
        let leaves = a
            .items
            .iter()
            .filter(|i| i.certificate.as_ref().is_some_and(|c| !c.cert.is_ca))
            .count();
        assert_eq!(a.links.len(), leaves);
        let keys = a
            .items
            .iter()
            .filter(|i| i.kind == ItemKind::PrivateKey)
            .count();
        assert_eq!(
            a.key_matches.len(),
            keys - 1,
            "all keys but sa.key have a certificate"
        );
        assert!(
            a.warnings
                .iter()
                .any(|w| w.kind.to_string().starts_with("expires in 25d")),
            "{:?}",
            a.warnings
        );
        let apiserver = a
            .items
            .iter()
            .find(|i| i.file == "kubernetes/pki/apiserver.crt")
            .unwrap();
        assert_eq!(
            apiserver.certificate.as_ref().unwrap().role.as_deref(),
            Some("apiserver")
        );
    }

    #[test]
    fn a_file_over_the_limit_becomes_an_error_item() {
        assert!(!file_too_large(MAX_FILE_BYTES) && file_too_large(MAX_FILE_BYTES + 1));
        let a = analyze_with_progress(
            &[],
            &[SkippedFile {
                name: "disk.img".into(),
                size: MAX_FILE_BYTES + 1,
                reason: None,
            }],
            NOW,
            Thresholds::default(),
            &mut |_, _| {},
        );
        assert_eq!(a.items.len(), 1);
        assert_eq!(a.items[0].kind, ItemKind::Error);
        assert_eq!(
            a.items[0].error.as_deref(),
            Some("67108865 bytes is over the page's 67108864 byte limit")
        );
    }
}

/// Fixtures for the analysis' tests: a generated node and its files as inputs.
#[cfg(test)]
mod testing {
    use super::model::InputFile;
    use crate::issue::pki;
    pub(super) use crate::test_support::NOW;

    /// A generated ECDSA node (seed 1) at NOW.
    pub(super) fn ecdsa_node() -> pki::GeneratedNode {
        pki::generate(
            &crate::test_support::ecdsa_example(),
            NOW,
            &mut crate::seeded_rng(1),
        )
        .unwrap()
    }

    /// The node's files named `{prefix}{path}` (`kubernetes/pki/ca.crt`).
    pub(super) fn named(node: &pki::GeneratedNode, prefix: &str) -> Vec<(String, Vec<u8>)> {
        node.files
            .iter()
            .map(|f| (format!("{prefix}{}", f.path), f.bytes.clone()))
            .collect()
    }

    /// `files` as the analysis' inputs.
    pub(super) fn inputs(files: &[(String, Vec<u8>)]) -> Vec<InputFile<'_>> {
        files
            .iter()
            .map(|(name, bytes)| InputFile { name, bytes })
            .collect()
    }
}
