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

/// The JSONPath of `kubectl get csr -o jsonpath=...` that
/// [`csr_conditions`] reads: `NAME=CONDITION-TYPES|MESSAGES` per request.
pub const CSR_CONDITIONS_JSONPATH: &str = "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[*].type}|{.status.conditions[*].message}{\"\\n\"}{end}";

/// `NAME -> CONDITION-TYPES|MESSAGES` per request, from the stdout of
/// `kubectl get csr -o` [`CSR_CONDITIONS_JSONPATH`].
pub fn csr_conditions(kubectl_stdout: &str) -> std::collections::BTreeMap<String, String> {
    kubectl_stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The issued certificate (PEM) from the stdout of `kubectl get csr NAME -o
/// jsonpath={.status.certificate}` (base64); empty while not issued.
pub fn issued_certificate(kubectl_stdout: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(kubectl_stdout.trim())
        .unwrap()
}

/// The subjectAltName of the PEM certificate `pem` as openssl prints it
/// (`openssl x509 -noout -ext subjectAltName`), the file written into `dir`.
pub fn openssl_san(pem: &[u8], dir: &Path) -> String {
    let cert = dir.join("issued-san.crt");
    std::fs::write(&cert, pem).unwrap();
    let t = run(
        "openssl",
        [
            "x509",
            "-in",
            cert.to_str().unwrap(),
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    assert_ok(&t, "openssl x509 -ext subjectAltName");
    stdout(&t)
}
