//! `kcerts` run inside a node directory, with paths relative to it (as they show in
//! its output) and colour left to the binary, at the fixed time [`NOW`](crate::NOW).

use std::path::Path;
use std::process::{Command, Output};

use crate::kcerts_bin;

/// RFC 3339 form of [`NOW`](crate::NOW) for `--at`.
pub const AT: &str = "2026-03-01T12:00:00Z";

/// Runs `kcerts ARGS` in `dir` with NO_COLOR unset, so relative paths show in the output.
pub fn kcerts_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(kcerts_bin())
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .args(args)
        .output()
        .unwrap()
}

/// `--cert-dir pki --kubeconfig-dir .` relative to the node root, plus `--at`.
pub fn node_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--cert-dir", "pki", "--kubeconfig-dir", ".", "--at", AT];
    v.extend_from_slice(extra);
    v
}

/// The exit code.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}
