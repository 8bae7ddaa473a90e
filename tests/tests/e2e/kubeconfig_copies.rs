//! Copies of admin.conf (`~/.kube/config`): `renew admin.conf --update-kubeconfig`
//! rewrites the admin user of a copy made by real kubectl (another user in it
//! stays byte for byte), kubectl then reaches a fake API server with the copy;
//! `verify --kubeconfig-copy` warns about expired and superseded copies; a copy
//! of another cluster is refused before anything is written; `restore` puts the
//! copy back with the rest of the renewal.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration as StdDuration;

use kcerts_tests::fake_apiserver::{FakeApiServer, Options};
use kcerts_tests::*;
use time::{Duration, OffsetDateTime};

use kcerts_tests::kubectl::kubectl_version;
use kcerts_tests::openssl_read::openssl_verify;

fn user_cert(conf: &Path, user: &str) -> String {
    kubectl_field(
        conf,
        &format!("{{.users[?(@.name==\"{user}\")].user.client-certificate-data}}"),
    )
}

fn renew(root: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["renew".to_string(), "admin.conf".to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(dir_args(root));
    kcerts(args)
}

#[test]
fn renew_updates_a_copy_and_verify_reports_stale_ones() {
    let tmp = tempdir();
    let root = tmp.path().join("kubernetes");
    let other = tmp.path().join("other-cluster");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    // Made two years ago: admin.conf (and so every copy of it) expired a year ago.
    let then = OffsetDateTime::now_utc() - Duration::days(730);
    generate_pki_at(&root, &endpoint, Some(then));
    generate_pki_at(&other, "10.0.0.1:6443", Some(OffsetDateTime::now_utc()));

    // ~/.kube/config as users make it: a copy of admin.conf, plus (with kubectl)
    // a user and context of their own that kcerts must leave alone.
    let home = tmp.path().join("home/.kube");
    std::fs::create_dir_all(&home).unwrap();
    let copy = home.join("config");
    std::fs::copy(root.join("admin.conf"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o640)).unwrap();
    let kc = |args: &[&str]| {
        let mut v = vec!["--kubeconfig", copy.to_str().unwrap(), "config"];
        v.extend_from_slice(args);
        assert_ok(&run("kubectl", v), &format!("kubectl config {args:?}"));
    };
    let other_cert = other.join("pki/apiserver-kubelet-client.crt");
    let other_key = other.join("pki/apiserver-kubelet-client.key");
    kc(&[
        "set-credentials",
        "someone-else",
        &format!("--client-certificate={}", other_cert.display()),
        &format!("--client-key={}", other_key.display()),
        "--embed-certs=true",
    ]);
    kc(&[
        "set-context",
        "other",
        "--cluster=kubernetes",
        "--user=someone-else",
    ]);
    let stale = home.join("config.stale");
    std::fs::copy(&copy, &stale).unwrap();
    let someone_else = user_cert(&copy, "someone-else");
    assert!(!someone_else.is_empty());

    let mut opts = Options::for_pki(&root.join("pki"));
    opts.lifetime = StdDuration::from_secs(120);
    let _server = FakeApiServer::start_on(listener, opts);
    assert!(
        !kubectl_version(&copy).status.success(),
        "the expired copy was accepted"
    );

    // verify: the copy's admin user expired; the other user is not admin.conf's.
    let v = kcerts(
        ["verify", "--kubeconfig-copy", copy.to_str().unwrap()]
            .into_iter()
            .map(String::from)
            .chain(dir_args(&root)),
    );
    let text = stdout(&v);
    assert!(
        text.contains("user kubernetes-admin: its certificate expired on"),
        "{text}"
    );
    assert!(
        text.contains("user someone-else: ")
            && text.contains("CN=kube-apiserver-kubelet-client (not admin.conf's)"),
        "{text}"
    );

    // --dry-run names the copy and writes nothing.
    let before = std::fs::read(&copy).unwrap();
    let dry = renew(
        &root,
        &["--dry-run", "--update-kubeconfig", copy.to_str().unwrap()],
    );
    assert_ok(&dry, "renew --dry-run --update-kubeconfig");
    assert!(
        stdout(&dry).contains(&format!("[dry-run] would update {}", copy.display())),
        "{}",
        stdout(&dry)
    );
    assert_eq!(std::fs::read(&copy).unwrap(), before);

    // A copy of another cluster is refused before anything is written.
    let admin_before = std::fs::read(root.join("admin.conf")).unwrap();
    let foreign = other.join("admin.conf");
    let out = renew(
        &root,
        &[
            "--update-kubeconfig",
            copy.to_str().unwrap(),
            "--update-kubeconfig",
            foreign.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("has no user holding admin.conf's client certificate"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(root.join("admin.conf")).unwrap(),
        admin_before
    );
    assert_eq!(std::fs::read(&copy).unwrap(), before);

    // Renew with the copy.
    let out = renew(&root, &["--update-kubeconfig", copy.to_str().unwrap()]);
    assert_ok(&out, "renew admin.conf --update-kubeconfig");
    assert!(
        stdout(&out).contains("user kubernetes-admin now holds the renewed admin.conf credentials"),
        "{}",
        stdout(&out)
    );
    let admin_now = root.join("admin.conf");
    assert_eq!(
        user_cert(&copy, "kubernetes-admin"),
        user_cert(&admin_now, "kubernetes-admin")
    );
    assert_eq!(user_cert(&copy, "someone-else"), someone_else);
    assert_eq!(
        kubectl_field(&copy, "{.contexts[*].name}"),
        kubectl_field(&stale, "{.contexts[*].name}")
    );
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600,
        "the copy holds a key"
    );
    let pem = kcerts_core::kubeconfig::Kubeconfig::parse(&std::fs::read(&copy).unwrap())
        .unwrap()
        .current()
        .unwrap()
        .client_certificate_data;
    openssl_verify(&root.join("pki/ca.crt"), &pem, "sslclient", tmp.path());
    let v = kubectl_version(&copy);
    assert_ok(&v, "kubectl get --raw /version with the updated copy");

    // verify: the updated copy passes; the stale one still warns (exit 2).
    let verify = |p: &Path| {
        kcerts(
            ["verify", "--kubeconfig-copy", p.to_str().unwrap()]
                .into_iter()
                .map(String::from)
                .chain(dir_args(&root)),
        )
    };
    let text = stdout(&verify(&copy));
    assert!(
        text.contains("pass    ")
            && text.contains("user kubernetes-admin holds admin.conf's certificate"),
        "{text}"
    );
    let text = stdout(&verify(&stale));
    let row = text
        .lines()
        .find(|l| l.contains("kubeconfig-copy") && l.contains("kubernetes-admin"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.starts_with("warn ") && row.contains("expired on"),
        "{row}"
    );

    // Renewed again without the copy: the copy is now superseded, not expired.
    assert_ok(&renew(&root, &[]), "renew admin.conf");
    let text = stdout(&verify(&copy));
    assert!(
        text.contains("user kubernetes-admin holds an older admin.conf certificate"),
        "{text}"
    );
    assert!(text.contains("--update-kubeconfig"), "{text}");
    // ... and --update-kubeconfig catches it up (matched as superseded).
    let copy_superseded = std::fs::read(&copy).unwrap();
    let admin_superseding = std::fs::read(&admin_now).unwrap();
    let out = renew(&root, &["--update-kubeconfig", copy.to_str().unwrap()]);
    assert_ok(&out, "renew again with the copy");
    assert_eq!(
        user_cert(&copy, "kubernetes-admin"),
        user_cert(&admin_now, "kubernetes-admin")
    );

    // restore puts the copy back with admin.conf, byte for byte.
    let text = stdout(&out);
    let backup = text
        .lines()
        .find_map(|l| l.strip_prefix("[renew] backed up 2 files to "))
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    let mut args = vec!["restore".to_string(), "--backup-dir".into(), backup];
    args.extend(dir_args(&root));
    // The copy's directory is named on the command line (a journal never adds one).
    args.extend([
        "--allow-dir".into(),
        copy.parent().unwrap().display().to_string(),
    ]);
    assert_ok(&kcerts(args), "restore");
    assert_eq!(std::fs::read(&copy).unwrap(), copy_superseded);
    assert_eq!(std::fs::read(&admin_now).unwrap(), admin_superseding);
}
