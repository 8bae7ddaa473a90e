//! `NodeDir`: the one node fixture of the end-to-end tests. A seeded example node
//! (ECDSA P-256 unless told otherwise) written in the kubeadm layout in a fresh
//! temporary directory, with the `--cert-dir`, `--kubeconfig-dir` and `--at`
//! arguments that point `kcerts` at it (or, with [`NodeDir::in_dir`], in a
//! directory the test chose, e.g. on a small tmpfs).

use std::path::{Path, PathBuf};
use std::process::Output;

use kcerts_core::KeyAlgorithm;
use kcerts_core::pki::{GeneratedNode, PkiOptions};
use time::OffsetDateTime;

use crate::{NOW, example_options, generate, kcerts, rfc3339, tempdir, write_node};

/// A generated node on disk; a temporary directory is removed when this is dropped.
pub struct NodeDir {
    /// The temporary directory holding the node; `None` for [`in_dir`](Self::in_dir).
    _temp: Option<tempfile::TempDir>,
    root: PathBuf,
    /// What was written (the certificates, keys and kubeconfigs in memory).
    pub node: GeneratedNode,
}

impl NodeDir {
    /// The example node with ECDSA P-256 keys, made at [`NOW`] from `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with(&example_options(KeyAlgorithm::EcdsaP256), NOW, seed)
    }

    /// A node from `opts`, made at `now` from `seed`.
    pub fn with(opts: &PkiOptions, now: OffsetDateTime, seed: u64) -> Self {
        let dir = tempdir();
        let mut n = Self::write(dir.path().to_path_buf(), opts, now, seed);
        n._temp = Some(dir);
        n
    }

    /// The example node with ECDSA P-256 keys, made at [`NOW`] from `seed`,
    /// written under `root` (created if needed; not removed on drop).
    pub fn in_dir(root: &Path, seed: u64) -> Self {
        Self::write(
            root.to_path_buf(),
            &example_options(KeyAlgorithm::EcdsaP256),
            NOW,
            seed,
        )
    }

    fn write(root: PathBuf, opts: &PkiOptions, now: OffsetDateTime, seed: u64) -> Self {
        let node = generate(opts, now, seed);
        write_node(&node, &root);
        Self {
            _temp: None,
            root,
            node,
        }
    }

    /// The example node made now (wall clock), for commands without `--at`.
    pub fn now(seed: u64) -> Self {
        Self::with(
            &example_options(KeyAlgorithm::EcdsaP256),
            OffsetDateTime::now_utc(),
            seed,
        )
    }

    /// The kubeconfig directory (the root of the node: `pki/`, `*.conf`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path under the root, e.g. `pki/ca.crt` or `admin.conf`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// `--cert-dir ROOT/pki --kubeconfig-dir ROOT`.
    pub fn dir_args(&self) -> Vec<String> {
        crate::dir_args(self.root())
    }

    /// [`dir_args`](Self::dir_args) plus `--at AT`.
    pub fn args_at(&self, at: OffsetDateTime) -> Vec<String> {
        let mut v = self.dir_args();
        v.extend(["--at".into(), rfc3339(at)]);
        v
    }

    /// `kcerts CMD... --cert-dir ROOT/pki --kubeconfig-dir ROOT`.
    pub fn kcerts(&self, cmd: &[&str]) -> Output {
        let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        args.extend(self.dir_args());
        kcerts(&args)
    }

    /// `kcerts CMD... --cert-dir ROOT/pki --kubeconfig-dir ROOT --at AT`.
    pub fn kcerts_at(&self, cmd: &[&str], at: OffsetDateTime) -> Output {
        let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        args.extend(self.args_at(at));
        kcerts(&args)
    }
}
