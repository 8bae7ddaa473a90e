//! What the core's and the CLI's layer tests share (core/tests/layers.rs and
//! cli/tests/layers.rs include this file by path): walking a crate's sources,
//! reading `use` groups, finding import cycles, and checking that
//! docs/architecture.md names every module in its layer's row.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The `src/` folder of the crate whose test runs.
pub fn src(crate_dir: &str) -> PathBuf {
    Path::new(crate_dir).join("src")
}

/// Every `.rs` file below `dir`.
pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The leading identifier of `s`.
pub fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The comma-separated items of a `{...}` group (its opening brace already
/// consumed), nested groups kept whole.
pub fn top_level_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

/// The import cycles of a module graph (`a -> b -> a`), found depth-first: a
/// back edge is a cycle.
pub fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn visit(
        u: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
        found: &mut Vec<String>,
    ) {
        state.insert(u.to_string(), 1);
        path.push(u.to_string());
        for v in g.get(u).into_iter().flatten() {
            match state.get(v.as_str()) {
                Some(1) => {
                    let start = path.iter().position(|p| p == v).unwrap();
                    found.push(format!("{} -> {v}", path[start..].join(" -> ")));
                }
                Some(_) => {}
                None => visit(v, g, state, path, found),
            }
        }
        path.pop();
        state.insert(u.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    let mut found = Vec::new();
    for u in g.keys() {
        if !state.contains_key(u.as_str()) {
            visit(u, g, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

/// The files under `crate_dir/src` whose module (a file, or a folder with its
/// `mod.rs`) is not named in backquotes, `name` or `name/`, in its layer's row
/// of docs/architecture.md (the row that starts `` | `layer/` | ``). A layer's
/// own `mod.rs`, the crate root and test-only files (`#![cfg(test)]`) are not
/// modules to document.
pub fn modules_missing_from_architecture_md(crate_dir: &str) -> Vec<String> {
    let doc_path = Path::new(crate_dir).join("../docs/architecture.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let row = |layer: &str| {
        doc.lines()
            .find(|l| l.starts_with(&format!("| `{layer}/` |")))
            .unwrap_or_else(|| panic!("docs/architecture.md has no row for the layer {layer}/"))
    };
    let src = src(crate_dir);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut missing = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let parts: Vec<String> = rel
            .with_extension("")
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        let (layer, name) = match parts.as_slice() {
            [layer, .., folder, last] if last == "mod" => (layer, folder),
            [layer, .., last] if parts.len() > 1 => (layer, last),
            _ => continue, // lib.rs, main.rs
        };
        let text = std::fs::read_to_string(&f).unwrap();
        if name == "mod" || text.contains("#![cfg(test)]") {
            continue;
        }
        let r = row(layer);
        if !r.contains(&format!("`{name}`")) && !r.contains(&format!("`{name}/`")) {
            missing.push(rel.display().to_string());
        }
    }
    missing
}
