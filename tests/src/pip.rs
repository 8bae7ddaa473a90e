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
