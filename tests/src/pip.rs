//! Python modules the tests cross-check with, installed from PyPI with pip when missing.

use std::process::Command;

/// Makes sure `python3 -c 'import MODULE'` works, installing PACKAGE from PyPI
/// with pip when it does not.
pub fn pip_module(module: &str, package: &str) {
    let has = || {
        Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has() {
        return;
    }
    let pip = |extra: &[&str]| {
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(extra)
            .arg(package)
            .status()
            .is_ok_and(|s| s.success())
    };
    // Debian's own python refuses pip installs without the flag (PEP 668).
    let _ = pip(&[]) || pip(&["--break-system-packages"]);
    assert!(has(), "cannot install {package} with pip");
}

/// `python3 -m kubernetes_validate --kubernetes-version 1.32.0 --strict PATH`
/// (kubernetes-validate installed from PyPI when missing).
pub fn kubernetes_validate(path: &std::path::Path) -> std::process::Output {
    pip_module("kubernetes_validate", "kubernetes-validate");
    crate::run(
        "python3",
        [
            "-m",
            "kubernetes_validate",
            "--kubernetes-version",
            "1.32.0",
            "--strict",
            &path.display().to_string(),
        ],
    )
}
