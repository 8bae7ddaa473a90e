//! The nodes `kcerts fleet` and the rotations' `--fleet` read: each a copy of
//! one control-plane node's /etc/kubernetes, `[NAME=]DIR` or `[NAME=]ARCHIVE`
//! (.tar, .tar.gz, .tgz, read in memory), named after its file or directory
//! unless NAME= is given.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use kcerts_core::fleet;
use kcerts_core::node::NodeFiles;

use crate::fsio::{self, archive};
use crate::report::Hinted;

/// A node as given on the command line.
pub struct Node {
    /// Its name (`cp-1`).
    pub name: String,
    /// The directory or archive.
    pub path: PathBuf,
    /// A directory, not an archive.
    pub is_dir: bool,
}

/// `NAME=PATH`, or PATH named after its file or directory.
pub fn parse_node(arg: &str) -> Result<Node> {
    let (name, path) = match arg.split_once('=') {
        Some((n, p)) if !n.contains('/') && !n.is_empty() => (Some(n.to_string()), p),
        _ => (None, arg),
    };
    let path = PathBuf::from(path);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) => bail!("node {arg}: {}: {e}", path.display()),
    };
    let name = match name {
        Some(n) => n,
        None => default_name(&path, meta.is_dir())?,
    };
    if !fleet::valid_name(&name) {
        return Err(Hinted {
            message: format!("invalid node name {name:?} (from {arg})"),
            hint: "name the node with NAME=PATH, e.g. cp-1=./cp-1.tgz".into(),
        }
        .into());
    }
    Ok(Node {
        name,
        path,
        is_dir: meta.is_dir(),
    })
}

fn default_name(path: &Path, is_dir: bool) -> Result<String> {
    let full = if is_dir {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    } else {
        path.to_path_buf()
    };
    let file = full
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = if is_dir {
        file
    } else {
        [".tar.gz", ".tgz", ".tar"]
            .iter()
            .find_map(|ext| file.strip_suffix(ext))
            .unwrap_or(&file)
            .to_string()
    };
    Ok(name)
}

impl Node {
    /// Every file the fleet's checks read on it.
    pub fn load(&self) -> Result<NodeFiles> {
        if self.is_dir {
            let dirs = fsio::NodeDirs::new(self.path.join("pki"), self.path.clone());
            Ok(dirs.load_paths(&fleet::wanted()))
        } else {
            Ok(archive::load(&self.path)?)
        }
    }
}

/// Every node of `args` (`[NAME=]DIR|ARCHIVE` each), named and read.
pub fn load_all(args: &[String]) -> Result<Vec<(String, NodeFiles)>> {
    let mut out: Vec<(String, NodeFiles)> = Vec::with_capacity(args.len());
    for arg in args {
        let node = parse_node(arg)?;
        if out.iter().any(|(n, _)| *n == node.name) {
            bail!(
                "two nodes are named {:?}: give each a name with NAME=PATH",
                node.name
            );
        }
        let files = node.load()?;
        out.push((node.name, files));
    }
    Ok(out)
}
