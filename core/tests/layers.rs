//! The core's shape, checked from its sources (docs/architecture.md): each layer
//! uses only the layers below it (its `mod.rs` says which), no two modules import
//! each other, directly or around a loop, and `lib.rs` re-exports modules instead
//! of declaring public ones. Test code (after `#[cfg(test)]`, or a whole file
//! marked `#![cfg(test)]`) may use any layer.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

#[path = "common/layer_rules.rs"]
mod layer_rules;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use layer_rules::{cycles, ident, rust_files, top_level_items};

const LAYERS: [(&str, &[&str]); 7] = [
    ("x509", &[]),
    ("kubeadm", &["x509"]),
    ("issue", &["x509", "kubeadm"]),
    ("plan", &["x509", "kubeadm", "issue"]),
    ("check", &["x509", "kubeadm"]),
    ("render", &["x509", "kubeadm", "check"]),
    ("agent", &["x509", "kubeadm", "check", "render"]),
];

fn src() -> PathBuf {
    layer_rules::src(env!("CARGO_MANIFEST_DIR"))
}

/// `layer::module` of a file (`check/verify/ca.rs` is `check::verify`), or
/// `None` for the crate root's own files.
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).unwrap().with_extension("");
    let parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [layer, rest @ ..] if !rest.is_empty() => {
            let m = if rest[0] == "mod" { "mod" } else { &rest[0] };
            Some(format!("{layer}::{m}"))
        }
        _ => None,
    }
}

/// Every `layer::module` a piece of code names through `crate::`, grouped
/// imports (`crate::x509::{certificate, keys}`) included.
fn references(code: &str) -> BTreeSet<String> {
    let layers: Vec<&str> = LAYERS.iter().map(|(l, _)| *l).collect();
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let layer: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !layers.contains(&layer.as_str()) {
            continue;
        }
        let after = &rest[layer.len()..];
        let Some(after) = after.strip_prefix("::") else {
            continue;
        };
        let names: Vec<String> = if let Some(group) = after.strip_prefix('{') {
            top_level_items(group)
                .into_iter()
                .map(|s| ident(s.trim()).to_string())
                .filter(|s| !s.is_empty())
                .collect()
        } else {
            vec![ident(after).to_string()]
        };
        for n in names {
            // `crate::x509::Certificate`-style paths name a type re-exported by the
            // layer's mod.rs: count them as the layer itself.
            let m = if n.chars().next().is_some_and(char::is_uppercase) {
                "mod".to_string()
            } else {
                n
            };
            out.insert(format!("{layer}::{m}"));
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let Some(module) = module_of(&f) else {
            continue;
        };
        let text = std::fs::read_to_string(&f).unwrap();
        let code = if text.contains("\n#![cfg(test)]") {
            ""
        } else {
            text.split("#[cfg(test)]").next().unwrap()
        };
        let refs = references(code);
        let entry = g.entry(module.clone()).or_default();
        entry.extend(refs.into_iter().filter(|r| *r != module));
    }
    g
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.into_iter().collect();
    let mut wrong = Vec::new();
    for (from, tos) in graph() {
        let layer = from.split("::").next().unwrap();
        for to in tos {
            let target = to.split("::").next().unwrap();
            if target != layer && !allowed[layer].contains(&target) {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(wrong.is_empty(), "layer rule broken: {wrong:#?}");
}

#[test]
fn no_import_cycle_between_modules() {
    // A layer's mod.rs only declares and re-exports its modules.
    let mut g = graph();
    for tos in g.values_mut() {
        tos.retain(|to| !to.ends_with("::mod"));
    }
    let found = cycles(&g);
    assert!(found.is_empty(), "import cycles: {found:#?}");
}

#[test]
fn lib_rs_re_exports_instead_of_declaring_public_modules() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let pub_mods = lib
        .lines()
        .filter(|l| l.trim_start().starts_with("pub mod "))
        .count();
    assert!(pub_mods <= 8, "{pub_mods} `pub mod` lines in lib.rs");
    // Every public module of a layer is re-exported by name.
    for (layer, _) in LAYERS {
        let m = std::fs::read_to_string(src().join(layer).join("mod.rs")).unwrap();
        for line in m.lines() {
            let Some(name) = line.strip_prefix("pub mod ") else {
                continue;
            };
            let name = name.trim_end_matches(';');
            assert!(
                lib.contains(&format!(" {name},"))
                    || lib.contains(&format!("{{{name},"))
                    || lib.contains(&format!(" {name}}}")),
                "{layer}::{name} is public but not re-exported by lib.rs"
            );
        }
    }
}

#[test]
fn the_checker_sees_grouped_and_plain_imports() {
    let refs = references(
        "use crate::x509::{certificate::{self, Certificate}, keys};\n\
         use crate::kubeadm::node::NodePath;\nuse crate::render::Thing;",
    );
    let want: BTreeSet<String> = [
        "x509::certificate",
        "x509::keys",
        "kubeadm::node",
        "render::mod",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(refs, want);
}

/// Each module of a layer named in its row of docs/architecture.md's table.
#[test]
fn architecture_md_names_every_module_in_its_layer_row() {
    let missing = layer_rules::modules_missing_from_architecture_md(env!("CARGO_MANIFEST_DIR"));
    assert!(
        missing.is_empty(),
        "docs/architecture.md does not name these modules in their layer's row: {missing:#?}"
    );
}
