//! `renew --expiring-within`, shell completions, the man page, and the shipped
//! systemd units (the Kubernetes manifests are tested in `deploy`).

use kcerts_tests::*;

use kcerts_tests::run_in_node::*;

#[test]
fn renew_expiring_within_renews_only_what_is_due() {
    let n = NodeDir::new(61);
    let root = n.root();
    let renew = |at: &str| {
        kcerts_in(
            root,
            &[
                "renew",
                "all",
                "--expiring-within",
                "30d",
                "--cert-dir",
                "pki",
                "--kubeconfig-dir",
                ".",
                "--key-algorithm",
                "ECDSA-P256",
                "--at",
                at,
                "--backup-dir",
                "backups",
            ],
        )
    };
    let o = renew("2026-06-01T00:00:00Z");
    assert_ok(&o, "renew nothing due");
    assert_eq!(
        stdout(&o),
        "[renew] no certificate expires within 30d; nothing to do\n"
    );
    assert!(!root.join("backups").exists());
    // apiserver renewed early by hand: everything else falls due first.
    let before = std::fs::read(root.join("pki/apiserver.crt")).unwrap();
    let o = kcerts_in(
        root,
        &[
            "renew",
            "apiserver",
            "--cert-dir",
            "pki",
            "--kubeconfig-dir",
            ".",
            "--key-algorithm",
            "ECDSA-P256",
            "--at",
            "2026-09-01T00:00:00Z",
            "--backup-dir",
            "backups",
        ],
    );
    assert_ok(&o, "renew apiserver");
    let renewed = std::fs::read(root.join("pki/apiserver.crt")).unwrap();
    assert_ne!(before, renewed);
    let o = renew("2027-02-15T00:00:00Z");
    assert_ok(&o, "renew due");
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "[renew] expiring within 30d: admin.conf, apiserver-etcd-client, \
apiserver-kubelet-client, controller-manager.conf, etcd-healthcheck-client, etcd-peer, \
etcd-server, front-proxy-client, scheduler.conf, super-admin.conf\n"
        ),
        "{out}"
    );
    assert!(
        !out.contains("serving the Kubernetes API"),
        "apiserver is not due: {out}"
    );
    assert_eq!(
        std::fs::read(root.join("pki/apiserver.crt")).unwrap(),
        renewed
    );
    let o = kcerts_in(
        root,
        &[
            "check-expiration",
            "--cert-dir",
            "pki",
            "--kubeconfig-dir",
            ".",
            "--at",
            "2027-02-15T00:00:00Z",
            "--warn",
            "30d",
        ],
    );
    assert_eq!(code(&o), 0, "nothing is due any more: {}", stdout(&o));
}

#[test]
fn completions_and_man_pages_are_generated() {
    let dir = tempdir();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = kcerts_in(dir.path(), &["completions", shell]);
        assert_ok(&o, shell);
        assert!(stdout(&o).contains("check-expiration"), "{shell}");
    }
    // bash accepts the script and completes subcommands with it.
    let script = stdout(&kcerts_in(dir.path(), &["completions", "bash"]));
    std::fs::write(dir.path().join("kcerts.bash"), script).unwrap();
    let o = run(
        "bash",
        [
            "-c",
            &format!(
                "source {}/kcerts.bash && COMP_WORDS=(kcerts ver) COMP_CWORD=1 && _kcerts kcerts ver kcerts && echo \"${{COMPREPLY[@]}}\"",
                dir.path().display()
            ),
        ],
    );
    assert_ok(&o, "bash completion");
    assert_eq!(stdout(&o).trim(), "verify");

    let o = kcerts_in(dir.path(), &["man"]);
    assert_ok(&o, "man");
    assert!(
        stdout(&o).starts_with(".ie \\n(.g .ds Aq \\(aq"),
        "{}",
        stdout(&o)
    );
    let o = kcerts_in(dir.path(), &["man", "--dir", "man1"]);
    assert_ok(&o, "man --dir");
    for page in [
        "kcerts.1",
        "kcerts-verify.1",
        "kcerts-inspect.1",
        "kcerts-sign.1",
    ] {
        assert!(dir.path().join("man1").join(page).exists(), "{page}");
    }
    // man(1) renders it, when installed.
    if std::process::Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let o = run(
            "man",
            [dir.path()
                .join("man1/kcerts-verify.1")
                .display()
                .to_string()],
        );
        assert!(stdout(&o).contains("kubelet"), "{}", stdout(&o));
    }
}

#[test]
fn shipped_units_are_well_formed() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let service =
        std::fs::read_to_string(repo.join("deploy/systemd/kcerts-renew.service")).unwrap();
    assert!(service.contains("ExecStart=/usr/local/bin/kcerts renew all --expiring-within 30d"));
    let timer = std::fs::read_to_string(repo.join("deploy/systemd/kcerts-renew.timer")).unwrap();
    assert!(timer.contains("OnCalendar="));
    // systemd-analyze verify, when systemd is there: only the missing binary may be reported.
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let unit = |f: &str| repo.join("deploy/systemd").join(f).display().to_string();
        let o = run(
            "systemd-analyze",
            [
                "verify",
                "--man=no",
                &unit("kcerts-renew.timer"),
                &unit("kcerts-renew.service"),
            ],
        );
        let complaints: Vec<String> = stderr(&o)
            .lines()
            .filter(|l| !l.contains("/usr/local/bin/kcerts is not executable"))
            .map(str::to_string)
            .collect();
        assert!(complaints.is_empty(), "{complaints:?}");
    }
}
