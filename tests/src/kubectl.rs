//! The real kubectl: what it reads from a kubeconfig, and a request with one.

use std::path::Path;

use crate::{assert_ok, run, stdout};

/// `kubectl config view --raw` of the kubeconfig `conf`, one JSONPath: what
/// kubectl itself reads from the file (asserts that kubectl accepts it).
pub fn kubectl_field(conf: &Path, jsonpath: &str) -> String {
    let out = run(
        "kubectl",
        [
            "config",
            "view",
            "--kubeconfig",
            conf.to_str().unwrap(),
            "--raw",
            "-o",
            &format!("jsonpath={jsonpath}"),
        ],
    );
    assert_ok(&out, &format!("kubectl config view {jsonpath}"));
    stdout(&out)
}

/// [`kubectl_field`] of a base64 `*-data` field, decoded.
pub fn kubectl_data(conf: &Path, jsonpath: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(kubectl_field(conf, jsonpath).trim())
        .unwrap()
}

/// `kubectl get --raw /version` with `kubeconfig` (10 s request timeout).
pub fn kubectl_version(kubeconfig: &Path) -> std::process::Output {
    run(
        "kubectl",
        [
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--request-timeout",
            "10s",
            "get",
            "--raw",
            "/version",
        ],
    )
}
