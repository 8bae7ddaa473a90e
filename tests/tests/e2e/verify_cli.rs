//! `kcerts verify`: a healthy node, a broken one, exit codes and colour.

use insta::assert_snapshot;
use kcerts_tests::*;

use kcerts_tests::rotating_kubelet::rotating_kubelet;
use kcerts_tests::run_in_node::*;

/// The example node with a rotating kubelet's client certificate.
fn healthy(seed: u64) -> NodeDir {
    let n = NodeDir::new(seed);
    rotating_kubelet(n.root());
    n
}

fn verify(root: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "verify",
        "--kubelet-client-cert",
        "kubelet/kubelet-client-current.pem",
    ];
    args.extend(node_args(extra));
    kcerts_in(root, &args)
}

#[test]
fn a_healthy_node_passes_every_check() {
    let n = healthy(31);
    let o = verify(n.root(), &[]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(!stdout(&o).contains('\x1b'));
    insta::with_settings!({description => "verify (text) of the example node (seed 31) with a rotating kubelet client certificate: every check passes"}, {
        assert_snapshot!("verify_healthy", stdout(&o));
    });
}

#[test]
fn a_broken_node_fails_with_reasons() {
    let n = healthy(32);
    let root = n.root();
    let other = NodeDir::new(33);
    // The #2027 bug: admin.conf keeps another CA; a key from another node; a
    // service-account key pair that is not a pair.
    for f in ["admin.conf", "pki/apiserver.key", "pki/sa.pub"] {
        std::fs::copy(other.path(f), root.join(f)).unwrap();
    }
    // And a node name that the certificates do not carry.
    let o = verify(root, &["--node-name", "cp-2"]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    let not_pass: String = stdout(&o)
        .lines()
        .filter(|l| !l.starts_with("pass"))
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    insta::with_settings!({description => "verify rows that do not pass: admin.conf, apiserver.key and sa.pub from another node, --node-name cp-2"}, {
        assert_snapshot!("verify_broken", not_pass);
    });

    let o = verify(root, &["--node-name", "cp-2", "-o", "json"]);
    assert_eq!(code(&o), 3);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let checks = json["checks"].as_array().unwrap();
    let find = |t: &str, c: &str| {
        checks
            .iter()
            .find(|x| x["target"] == t && x["check"] == c)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(find("admin.conf", "ca-data"), "fail");
    assert_eq!(find("apiserver", "key"), "fail");
    assert_eq!(find("sa", "pair"), "fail");
    assert_eq!(find("apiserver", "sans"), "fail");
    assert_eq!(json["node_name"], "cp-2");
}

#[test]
fn exit_codes_follow_the_windows() {
    let n = healthy(34);
    let root = n.root();
    let at = |t: &str, extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--kubelet-client-cert",
            "kubelet/kubelet-client-current.pem",
            "--cert-dir",
            "pki",
            "--kubeconfig-dir",
            ".",
            "--at",
            t,
        ];
        args.extend_from_slice(extra);
        code(&kcerts_in(root, &args))
    };
    assert_eq!(at("2026-03-02T00:00:00Z", &[]), 0);
    // 20 days left: inside the default 30d warning window.
    assert_eq!(at("2027-02-09T12:00:00Z", &[]), 2);
    assert_eq!(
        at("2027-02-09T12:00:00Z", &["--warn", "10d", "--crit", "5d"]),
        2,
        "the kubelet is past 90% of its life: warn"
    );
    assert_eq!(at("2027-02-25T12:00:00Z", &[]), 3);
    assert_eq!(at("2027-02-09T12:00:00Z", &["--crit", "21d"]), 3);
    // An unreadable file is an error, which takes precedence.
    std::fs::remove_file(root.join("pki/front-proxy-client.crt")).unwrap();
    std::fs::create_dir(root.join("pki/front-proxy-client.crt")).unwrap();
    assert_eq!(at("2026-03-02T00:00:00Z", &[]), 1);
}

#[test]
fn colour_only_when_asked_or_on_a_terminal_without_no_color() {
    let n = healthy(35);
    let root = n.root();
    let o = verify(root, &["--color", "always"]);
    assert!(stdout(&o).contains("\x1b[32mpass\x1b[0m"), "{}", stdout(&o));
    // On a terminal (script(1) gives the command a pty): colour unless NO_COLOR.
    let cmd = format!(
        "{} verify --kubelet-client-cert kubelet/kubelet-client-current.pem --cert-dir pki --kubeconfig-dir . --at {AT}",
        kcerts_bin().display()
    );
    let pty = |no_color: Option<&str>| {
        let mut c = std::process::Command::new("script");
        c.current_dir(root)
            .args(["-qec", &cmd, "/dev/null"])
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        stdout(&c.output().unwrap())
    };
    assert!(pty(None).contains("\x1b[32mpass"), "colour on a terminal");
    assert!(
        !pty(Some("1")).contains('\x1b'),
        "NO_COLOR=1 turns colour off"
    );
    assert!(
        pty(Some("")).contains("\x1b[32mpass"),
        "an empty NO_COLOR is ignored (no-color.org)"
    );
}
