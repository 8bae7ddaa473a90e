//! The CLI's shape, checked from its sources (see `main.rs`): `main.rs` ->
//! `commands/` -> `node/` -> `flags/` -> `fsio/` -> `report/`, each layer using
//! only the layers below it; nothing imports `main.rs`; no command imports
//! another; no two modules of a layer import each other, directly or around a
//! loop; every file starts with a `//!` module doc. Test code (after
//! `#[cfg(test)]`) may use any layer.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

#[path = "../../core/tests/common/layer_rules.rs"]
mod layer_rules;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use layer_rules::{cycles, ident, rust_files, top_level_items};

/// Each layer and the layers it may use, from the top.
const LAYERS: [(&str, &[&str]); 5] = [
    ("commands", &["node", "flags", "fsio", "report"]),
    ("node", &["flags", "fsio", "report"]),
    ("flags", &["fsio", "report"]),
    ("fsio", &["report"]),
    ("report", &[]),
];

fn src() -> PathBuf {
    layer_rules::src(env!("CARGO_MANIFEST_DIR"))
}

/// One source file: its path under `src/` and its text.
struct Source {
    rel: String,
    text: String,
}

fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| Source {
            rel: f
                .strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            text: std::fs::read_to_string(&f).unwrap(),
        })
        .collect()
}

/// The module path of a file (`commands/renew/mod.rs` is `commands::renew`,
/// `main.rs` the crate root).
fn module_path(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = Path::new(rel)
        .with_extension("")
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") || parts == ["main"] {
        parts.pop();
    }
    parts
}

/// Adds the `layer::module` each path of `rest` names below `prefix` (at most
/// two segments; a capitalised item of a layer, re-exported by its `mod.rs`,
/// counts as `layer::mod`).
fn expand(prefix: &[String], rest: &str, out: &mut BTreeSet<Vec<String>>) {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        for item in top_level_items(group) {
            if !item.trim().is_empty() {
                expand(prefix, item, out);
            }
        }
        return;
    }
    let name = ident(rest);
    if name.is_empty() || name == "self" {
        out.insert(prefix.to_vec());
        return;
    }
    let mut path = prefix.to_vec();
    if !path.is_empty() && name.starts_with(char::is_uppercase) {
        path.push("mod".into());
    } else {
        path.push(name.into());
    }
    match rest[name.len()..].strip_prefix("::") {
        Some(more) if path.len() < 2 => expand(&path, more, out),
        _ => {
            path.truncate(2);
            out.insert(path);
        }
    }
}

/// Every module the code of `module` names through `crate::` or `super::`, as
/// absolute paths of at most two segments (`["node", "restart"]`; `[]` or
/// `["Hinted"]` are items of the crate root, `main.rs`).
fn references(module: &[String], code: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let starts: Vec<usize> = code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
        .map(|(i, _)| i)
        .collect();
    for i in starts {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // `kcerts_core::`, or the second `super::` of a chain
        }
        let mut rest = &code[i..];
        let base: Vec<String> = if let Some(r) = rest.strip_prefix("crate::") {
            rest = r;
            Vec::new()
        } else {
            let mut up = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                rest = r;
                up += 1;
            }
            module[..module.len().saturating_sub(up)].to_vec()
        };
        expand(&base, rest, &mut out);
    }
    out
}

/// The code of a file before its tests.
fn code(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap()
}

/// What breaks the layer rules in `sources`: imports of the crate root,
/// imports against the direction, imports between two commands.
fn violations(sources: &[Source]) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.into_iter().collect();
    let mut wrong = Vec::new();
    for s in sources {
        let module = module_path(&s.rel);
        let Some(layer) = module.first().map(String::as_str) else {
            continue; // main.rs: the top, may use every layer
        };
        let Some(below) = allowed.get(layer) else {
            wrong.push(format!("{}: not in a layer folder", s.rel));
            continue;
        };
        for r in references(&module, code(&s.text)) {
            let shown = r.join("::");
            let target = r.first().map(String::as_str).unwrap_or_default();
            if !allowed.contains_key(target) {
                wrong.push(format!("{}: imports main.rs (crate::{shown})", s.rel));
            } else if target == layer {
                let other_command = layer == "commands"
                    && r.len() > 1
                    && r[1] != "mod"
                    && r.get(1) != module.get(1);
                if other_command {
                    wrong.push(format!("{}: imports another command ({shown})", s.rel));
                }
            } else if !below.contains(&target) {
                wrong.push(format!("{}: {layer} imports {shown}, above it", s.rel));
            }
        }
    }
    wrong
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let wrong = violations(&sources());
    assert!(wrong.is_empty(), "layer rule broken: {wrong:#?}");
}

#[test]
fn no_import_cycle_inside_a_layer() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sources() {
        let module = module_path(&s.rel);
        if module.len() < 2 {
            continue;
        }
        let from = module[..2].join("::");
        let refs = references(&module, code(&s.text));
        let entry = g.entry(from.clone()).or_default();
        entry.extend(
            refs.into_iter()
                .filter(|r| r.len() == 2 && r[0] == module[0] && r[1] != "mod")
                .map(|r| r.join("::"))
                .filter(|r| *r != from),
        );
    }
    let found = cycles(&g);
    assert!(found.is_empty(), "import cycles: {found:#?}");
}

#[test]
fn every_file_starts_with_a_module_doc() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|s| !s.text.starts_with("//!"))
        .map(|s| s.rel)
        .collect();
    assert!(missing.is_empty(), "no `//!` module doc: {missing:?}");
}

#[test]
fn main_rs_declares_only_the_layers() {
    let main = std::fs::read_to_string(src().join("main.rs")).unwrap();
    let mods: BTreeSet<&str> = main
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    let layers: BTreeSet<&str> = LAYERS.iter().map(|(l, _)| *l).collect();
    assert_eq!(mods, layers);
}

fn source(rel: &str, text: &str) -> Source {
    Source {
        rel: rel.into(),
        text: text.into(),
    }
}

#[test]
fn the_checker_sees_grouped_plain_and_super_imports() {
    let module = module_path("commands/renew/use_api.rs");
    let refs = references(
        &module,
        "use crate::fsio::{self, txn::{Content, Op}};\nuse crate::report::Hinted;\n\
         use super::due;\nuse super::super::ca::run;\nlet x = kcerts_core::node::x;\n\
         $crate::report::out::print(\"\");",
    );
    let want: BTreeSet<Vec<String>> = [
        vec!["fsio"],
        vec!["fsio", "txn"],
        vec!["report", "mod"],
        vec!["commands", "renew"],
        vec!["commands", "ca"],
        vec!["report", "out"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect();
    assert_eq!(refs, want);
}

#[test]
fn the_checker_refuses_backward_sideways_and_root_imports() {
    let bad = [
        source("report/out.rs", "//! x\nuse crate::node::restart;\n"),
        source("fsio/lock.rs", "//! x\nuse crate::flags::DirArgs;\n"),
        source(
            "flags/dirs.rs",
            "//! x\nuse crate::commands::verify::Args;\n",
        ),
        source("node/guard.rs", "//! x\nuse crate::Hinted;\n"),
        source(
            "commands/sa.rs",
            "//! x\nuse crate::commands::ca::carry_out;\n",
        ),
        source("commands/serve.rs", "//! x\nuse super::verify::NodeArgs;\n"),
        source("commands/mod.rs", "//! x\nuse super::Cli;\n"),
    ];
    let wrong = violations(&bad);
    assert_eq!(wrong.len(), bad.len(), "{wrong:#?}");
    let fine = [
        source(
            "commands/renew/use_api.rs",
            "//! x\nuse super::due;\nuse crate::node::csr_api;\n",
        ),
        source(
            "node/rotation.rs",
            "//! x\nuse crate::node::restart;\nuse crate::flags::DirArgs;\n",
        ),
        source(
            "fsio/lock.rs",
            "//! x\nuse crate::report::Hinted;\n#[cfg(test)]\nuse crate::node::x;\n",
        ),
    ];
    assert_eq!(violations(&fine), Vec::<String>::new());
}

/// Each module of a layer named in its row of docs/architecture.md's CLI table.
#[test]
fn architecture_md_names_every_module_in_its_layer_row() {
    let missing = layer_rules::modules_missing_from_architecture_md(env!("CARGO_MANIFEST_DIR"));
    assert!(
        missing.is_empty(),
        "docs/architecture.md does not name these modules in their layer's row: {missing:#?}"
    );
}
