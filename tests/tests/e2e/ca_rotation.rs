//! `kcerts ca rotate` and `kcerts ca status` on generated and openssl-made nodes,
//! with openssl checking the invariants of every phase: after `trust` both CAs
//! are trusted everywhere, after `reissue` every leaf chains to the new CA, after
//! `finish` nothing trusts the old one. Also: refusals, SIGKILL in the middle of a
//! phase, and `restore` going back one phase.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use kcerts_core::inventory::{self, Location};
use kcerts_tests::kubeadm_manifests::write_manifests;
use kcerts_tests::kubelet_node::kubelet_args;
use kcerts_tests::openssl_issue::{Ca, Leaf};
use kcerts_tests::openssl_node::openssl_node;
use kcerts_tests::openssl_read::{openssl_enddate, verifies};
use kcerts_tests::*;

const KUBECONFIGS: [&str; 5] = [
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kubelet.conf",
];

/// The example node (seed 21) under `root`, with its static pod manifests.
fn node(root: &Path) {
    NodeDir::in_dir(root, 21);
    write_manifests(root);
}

/// The values of `--flag` in a manifest, as kubectl parses the Pod (offline, `--local`).
fn flag(root: &Path, manifest: &str, flag: &str) -> Vec<String> {
    let out = run(
        "kubectl",
        [
            "label",
            "--local",
            "-f",
            &root.join("manifests").join(manifest).display().to_string(),
            "kcerts-test=read",
            "-o",
            "jsonpath={.spec.containers[0].command}",
        ],
    );
    assert_ok(&out, "kubectl label --local");
    let cmd: Vec<String> = serde_json::from_str(&stdout(&out)).unwrap();
    let prefix = format!("--{flag}=");
    cmd.iter()
        .filter_map(|c| c.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

fn ca_cmd(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(kcerts_bin());
    c.arg("ca").args(args).args(dir_args(root));
    c.env_remove("KCERTS_TEST_FAULT_STEP")
        .env_remove("KCERTS_TEST_FAULT_MODE");
    c
}

/// What a phase needs beyond its own flags (issue 23 item 4): `reissue` and
/// `switch` the proof that every control-plane node trusts the new CA or key (here
/// the one node's own directory, `--fleet`), sa `finish` `--force` (kubeadm's
/// apiserver sets no token lifetime cap, so nothing bounds the old tokens).
fn proof(cmd: &str, phase: &str, root: &Path) -> Vec<String> {
    match (cmd, phase) {
        (_, "reissue" | "switch") => vec!["--fleet".into(), root.display().to_string()],
        ("sa", "finish") => vec!["--force".into()],
        _ => Vec::new(),
    }
}

fn rotate(root: &Path, phase: &str, ca: &str) -> String {
    let out = ca_cmd(root, &["rotate", phase, "--ca", ca, "--apply"])
        .args(proof("ca", phase, root))
        .output()
        .unwrap();
    assert_ok(&out, &format!("ca rotate {phase} --ca {ca}"));
    stdout(&out)
}

fn phase_of(root: &Path, ca: &str) -> String {
    let out = ca_cmd(root, &["status", "-o", "json"]).output().unwrap();
    assert_ok(&out, "ca status");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|s| s["ca"] == ca)
        .unwrap_or_else(|| panic!("no {ca} in {v}"))["phase"]
        .as_str()
        .unwrap()
        .to_string()
}

/// One base64 field of a kubeconfig, as `kubectl config view --raw` reads it,
/// decoded and written to `out_dir/<conf>.<suffix>.pem`.
fn kubeconfig_pem(root: &Path, conf: &str, field: &str, suffix: &str, out_dir: &Path) -> PathBuf {
    let pem = kubectl_data(&root.join(conf), &format!("{{{field}}}"));
    let path = out_dir.join(format!("{conf}.{suffix}.pem"));
    std::fs::write(&path, pem).unwrap();
    path
}

/// A kubeconfig's cluster CA data, as kubectl reads it, written to a file.
fn kubeconfig_ca(root: &Path, conf: &str, out_dir: &Path) -> PathBuf {
    kubeconfig_pem(
        root,
        conf,
        ".clusters[0].cluster.certificate-authority-data",
        "ca",
        out_dir,
    )
}

/// A kubeconfig's client certificate, as kubectl reads it, written to a file.
fn kubeconfig_client_cert(root: &Path, conf: &str, out_dir: &Path) -> PathBuf {
    kubeconfig_pem(
        root,
        conf,
        ".users[0].user.client-certificate-data",
        "client",
        out_dir,
    )
}

/// Every trust point of `ca`: the CA file and every kubeconfig's CA data.
fn trust_files(root: &Path, work: &Path) -> Vec<PathBuf> {
    let mut v = vec![root.join("pki/ca.crt")];
    for conf in KUBECONFIGS.iter().filter(|c| root.join(c).exists()) {
        v.push(kubeconfig_ca(root, conf, work));
    }
    v
}

/// A certificate for `purpose` (sslclient or sslserver) signed by `ca` with
/// openssl itself, valid 30 days, as a client or server from elsewhere would hold.
fn openssl_leaf(work: &Path, name: &str, ca: &Ca, server: bool) -> PathBuf {
    let ext = if server {
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:kubernetes\n"
    } else {
        "extendedKeyUsage=clientAuth\n"
    };
    let subj = format!("/CN={name}");
    ca.issue(&Leaf {
        days: 30,
        ..Leaf::new(work, name, &subj, ext)
    })
    .cert
}

/// Every leaf of the cluster CA on the node, with its purpose.
fn ca_leaves(root: &Path, work: &Path) -> Vec<(String, PathBuf, &'static str)> {
    inventory::ROWS
        .iter()
        .filter(|r| r.ca == inventory::Ca::Ca)
        .map(|r| match r.location {
            Location::CertDir { base } => (
                r.name.to_string(),
                root.join(format!("pki/{base}.crt")),
                if base == "apiserver" {
                    "sslserver"
                } else {
                    "sslclient"
                },
            ),
            Location::Kubeconfig { file } => (
                r.name.to_string(),
                kubeconfig_client_cert(root, file, work),
                "sslclient",
            ),
        })
        .collect()
}

/// The two CAs of a rotation of `ca`, copied to `work` right after `prepare`
/// (later phases change the node's files), and a client and a server
/// certificate openssl signed with each, as components from elsewhere hold them.
struct Cas {
    old_ca: PathBuf,
    new_ca: PathBuf,
    new_key: PathBuf,
    old_client: PathBuf,
    new_client: PathBuf,
    old_server: PathBuf,
    new_server: PathBuf,
}

impl Cas {
    /// Reads the CAs of a node in phase `prepared` and checks the new one.
    fn after_prepare(root: &Path, work: &Path) -> Cas {
        let copy = |from: &str, to: &str| {
            let to = work.join(to);
            std::fs::copy(root.join("pki").join(from), &to).unwrap();
            to
        };
        let old_ca = copy("ca.crt", "old-ca.crt");
        let old_key = copy("ca.key", "old-ca.key");
        let new_ca = copy("ca.new.crt", "new-ca.crt");
        let new_key = copy("ca.new.key", "new-ca.key");
        check_prepared(root, &old_ca);
        let old = Ca {
            cert: old_ca.clone(),
            key: old_key,
        };
        let new = Ca {
            cert: new_ca.clone(),
            key: new_key.clone(),
        };
        Cas {
            old_client: openssl_leaf(work, "old-client", &old, false),
            new_client: openssl_leaf(work, "new-client", &new, false),
            old_server: openssl_leaf(work, "old-server", &old, true),
            new_server: openssl_leaf(work, "new-server", &new, true),
            old_ca,
            new_ca,
            new_key,
        }
    }
}

/// After `prepare`: ca.new.crt is a self-signed CA with the old one's subject,
/// its key 0600 and matching it; ca.crt is still only the old CA.
fn check_prepared(root: &Path, old_ca: &Path) {
    let new_ca = root.join("pki/ca.new.crt");
    let new_key = root.join("pki/ca.new.key");
    let subject = |p: &Path| {
        stdout(&run(
            "openssl",
            [
                "x509",
                "-noout",
                "-subject",
                "-in",
                &p.display().to_string(),
            ],
        ))
    };
    assert_eq!(
        subject(&new_ca),
        subject(old_ca),
        "same subject as the old CA"
    );
    assert!(
        verifies(&new_ca, &new_ca, "any"),
        "the new CA is self-signed"
    );
    assert_eq!(
        std::fs::read(root.join("pki/ca.crt")).unwrap(),
        std::fs::read(old_ca).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&new_key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(public_key(&new_key), public_key(&new_ca));
}

/// After `trust`: both CAs verify clients and servers at every trust point;
/// the controller-manager signs with one certificate matching ca.key.
fn check_trusted(root: &Path, work: &Path, cas: &Cas) {
    for t in trust_files(root, work) {
        for (c, p) in [
            (&cas.old_client, "sslclient"),
            (&cas.new_client, "sslclient"),
            (&cas.old_server, "sslserver"),
            (&cas.new_server, "sslserver"),
        ] {
            assert!(
                verifies(&t, c, p),
                "{} does not verify {}",
                t.display(),
                c.display()
            );
        }
    }
    let signing = root.join("pki/ca-signing.crt");
    let kcm = "kube-controller-manager.yaml";
    assert_eq!(
        flag(root, kcm, "cluster-signing-cert-file"),
        [signing.display().to_string()]
    );
    assert_eq!(
        flag(root, kcm, "root-ca-file"),
        [root.join("pki/ca.crt").display().to_string()]
    );
    assert_eq!(public_key(&signing), public_key(&root.join("pki/ca.key")));
}

/// After `reissue`: every leaf chains to the new CA for its purpose, keeps its
/// ECDSA P-256 key type, and not to the old; every trust point still trusts
/// both; ca.key is the new key.
fn check_reissued(root: &Path, work: &Path, cas: &Cas) {
    for (name, cert, purpose) in ca_leaves(root, work) {
        let text = stdout(&run(
            "openssl",
            [
                "x509",
                "-noout",
                "-text",
                "-in",
                &cert.display().to_string(),
            ],
        ));
        assert!(
            text.contains("id-ecPublicKey") && text.contains("P-256"),
            "{name}: {text}"
        );
        assert!(
            verifies(&cas.new_ca, &cert, purpose),
            "{name} does not chain to the new CA"
        );
        assert!(
            !verifies(&cas.old_ca, &cert, purpose),
            "{name} still chains to the old CA"
        );
    }
    for t in trust_files(root, work) {
        assert!(
            verifies(&t, &cas.old_server, "sslserver"),
            "{}",
            t.display()
        );
        assert!(
            verifies(&t, &cas.new_server, "sslserver"),
            "{}",
            t.display()
        );
    }
    assert_eq!(
        public_key(&root.join("pki/ca.key")),
        public_key(&cas.new_key)
    );
}

/// After `finish`: only the new CA is trusted anywhere on the node, every leaf
/// verifies with it, the .new copies and the signing file are gone, and every
/// kubeconfig still loads in kubectl.
fn check_finished(root: &Path, work: &Path, cas: &Cas) {
    for f in ["ca.new.crt", "ca.new.key", "ca-signing.crt"] {
        assert!(!root.join("pki").join(f).exists(), "{f}");
    }
    assert_eq!(
        flag(
            root,
            "kube-controller-manager.yaml",
            "cluster-signing-cert-file"
        ),
        [root.join("pki/ca.crt").display().to_string()]
    );
    for t in trust_files(root, work) {
        let n = std::fs::read_to_string(&t)
            .unwrap()
            .matches("BEGIN CERTIFICATE")
            .count();
        assert_eq!(n, 1, "{}", t.display());
        assert!(
            verifies(&t, &cas.new_server, "sslserver"),
            "{}",
            t.display()
        );
        assert!(
            verifies(&t, &cas.new_client, "sslclient"),
            "{}",
            t.display()
        );
        assert!(
            !verifies(&t, &cas.old_server, "sslserver"),
            "{} still trusts the old CA",
            t.display()
        );
        assert!(
            !verifies(&t, &cas.old_client, "sslclient"),
            "{} still trusts the old CA",
            t.display()
        );
    }
    for (name, cert, purpose) in ca_leaves(root, work) {
        assert!(verifies(&cas.new_ca, &cert, purpose), "{name}");
    }
    for conf in KUBECONFIGS {
        let out = run(
            "kubectl",
            [
                "config",
                "view",
                "--kubeconfig",
                &root.join(conf).display().to_string(),
            ],
        );
        assert_ok(&out, conf);
    }
}

#[test]
fn the_cluster_ca_rotates_through_every_phase_with_openssl_checks() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    let work = &dir.path().join("work");
    std::fs::create_dir_all(work).unwrap();
    node(root);
    assert_eq!(phase_of(root, "ca"), "idle");

    // Nothing but prepare may start a rotation; a dry run changes nothing.
    let out = ca_cmd(root, &["rotate", "reissue", "--ca", "ca", "--apply"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("phase `idle`"), "{}", stderr(&out));
    let dry = ca_cmd(root, &["rotate", "prepare", "--ca", "ca"])
        .output()
        .unwrap();
    assert_ok(&dry, "dry run");
    assert!(
        stdout(&dry).contains("[dry-run] would write"),
        "{}",
        stdout(&dry)
    );
    assert!(!root.join("pki/ca.new.crt").exists());

    rotate(root, "prepare", "ca");
    assert_eq!(phase_of(root, "ca"), "prepared");
    let cas = Cas::after_prepare(root, work);

    rotate(root, "trust", "ca");
    assert_eq!(phase_of(root, "ca"), "trusted");
    check_trusted(root, work, &cas);

    // reissue is refused on a node where a trust point lacks the new CA.
    let sched = root.join("scheduler.conf");
    let trusted_sched = std::fs::read(&sched).unwrap();
    let only_old =
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&cas.old_ca).unwrap());
    let text = String::from_utf8(trusted_sched.clone()).unwrap();
    let start =
        text.find("certificate-authority-data: ").unwrap() + "certificate-authority-data: ".len();
    let end = start + text[start..].find('\n').unwrap();
    std::fs::write(
        &sched,
        format!("{}{only_old}{}", &text[..start], &text[end..]),
    )
    .unwrap();
    let out = ca_cmd(root, &["rotate", "reissue", "--ca", "ca", "--apply"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("scheduler.conf does not trust the new CA yet"),
        "{}",
        stderr(&out)
    );
    assert!(
        verifies(&cas.old_ca, &root.join("pki/apiserver.crt"), "sslserver"),
        "nothing was reissued"
    );
    std::fs::write(&sched, trusted_sched).unwrap();

    // Issue 23: nothing proves the other control-plane nodes trust the new CA
    // (no --fleet): refused, naming both ways on; nothing changes.
    let out = ca_cmd(root, &["rotate", "reissue", "--ca", "ca", "--apply"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`reissue` refused: nothing proves that every control-plane node trusts the new ca CA yet")
            && err.contains("pass --fleet")
            && err.contains("or --force"),
        "{err}"
    );
    assert_eq!(phase_of(root, "ca"), "trusted");

    rotate(root, "reissue", "ca");
    assert_eq!(phase_of(root, "ca"), "reissued");
    check_reissued(root, work, &cas);

    rotate(root, "finish", "ca");
    assert_eq!(phase_of(root, "ca"), "idle");
    check_finished(root, work, &cas);
}

#[test]
fn etcd_and_front_proxy_cas_rotate_without_touching_the_cluster_ca() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    node(root);
    let ca_before = std::fs::read(root.join("pki/ca.crt")).unwrap();
    for (ca, file, leaves) in [
        (
            "etcd-ca",
            "pki/etcd/ca.crt",
            &[
                "pki/etcd/server.crt",
                "pki/etcd/peer.crt",
                "pki/etcd/healthcheck-client.crt",
                "pki/apiserver-etcd-client.crt",
            ][..],
        ),
        (
            "front-proxy-ca",
            "pki/front-proxy-ca.crt",
            &["pki/front-proxy-client.crt"][..],
        ),
    ] {
        for phase in ["prepare", "trust"] {
            rotate(root, phase, ca);
        }
        assert_eq!(
            std::fs::read_to_string(root.join(file))
                .unwrap()
                .matches("BEGIN CERTIFICATE")
                .count(),
            2
        );
        rotate(root, "reissue", ca);
        let new = root.join(file.replace(".crt", ".new.crt"));
        for leaf in leaves {
            assert!(verifies(&new, &root.join(leaf), "any"), "{ca}: {leaf}");
        }
        rotate(root, "finish", ca);
        assert_eq!(phase_of(root, ca), "idle");
        for leaf in leaves {
            assert!(
                verifies(&root.join(file), &root.join(leaf), "any"),
                "{ca}: {leaf}"
            );
        }
    }
    assert_eq!(std::fs::read(root.join("pki/ca.crt")).unwrap(), ca_before);
}

/// Starts a phase paused before durable step `step` and SIGKILLs it there.
fn kill_at(root: &Path, phase: &str, step: usize) {
    sigkill_paused_at(
        ca_cmd(root, &["rotate", phase, "--ca", "ca", "--apply"]),
        step,
    );
}

#[test]
fn a_killed_trust_phase_is_named_by_status_and_the_next_run_completes() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    node(root);
    rotate(root, "prepare", "ca");
    // trust writes 7 files: backups (6 exist), journal, marker, 7 staged, 7 renames.
    // Step 20 is in the middle of the renames: some kubeconfigs are new, some old.
    kill_at(root, "trust", 20);
    // ca.crt, admin.conf and super-admin.conf hold both CAs; the rest do not yet.
    assert_eq!(phase_of(root, "ca"), "prepared");
    // The next run first puts the interrupted phase's files back, then completes it.
    let out = rotate(root, "trust", "ca");
    assert!(out.contains("was interrupted: put back"), "{out}");
    assert_eq!(phase_of(root, "ca"), "trusted");
}

#[test]
fn an_openssl_made_node_rotates_its_cluster_ca() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    let work = &dir.path().join("work");
    std::fs::create_dir_all(work).unwrap();
    openssl_node(root);
    let old_ca = work.join("old-ca.crt");
    std::fs::copy(root.join("pki/ca.crt"), &old_ca).unwrap();
    rotate(root, "prepare", "ca");
    let new_ca = work.join("new-ca.crt");
    std::fs::copy(root.join("pki/ca.new.crt"), &new_ca).unwrap();
    rotate(root, "trust", "ca");
    for t in trust_files(root, work) {
        assert!(
            verifies(&t, &root.join("pki/apiserver.crt"), "sslserver"),
            "{}",
            t.display()
        );
    }
    let key_type = |c: &Path| {
        let out = run(
            "openssl",
            ["x509", "-noout", "-text", "-in", &c.display().to_string()],
        );
        let text = stdout(&out);
        let line = |needle: &str| {
            text.lines()
                .find(|l| l.contains(needle))
                .map(|l| l.trim().to_string())
        };
        (line("Public Key Algorithm"), line("Public-Key:"))
    };
    let before: Vec<_> = ca_leaves(root, work)
        .iter()
        .map(|(n, c, _)| (n.clone(), key_type(c)))
        .collect();
    rotate(root, "reissue", "ca");
    let leaves = ca_leaves(root, work);
    assert_eq!(
        leaves.len(),
        6,
        "apiserver, apiserver-kubelet-client and four kubeconfigs"
    );
    // Each new key is of the old key's type and size (RSA-2048, as openssl made them).
    let after: Vec<_> = leaves
        .iter()
        .map(|(n, c, _)| (n.clone(), key_type(c)))
        .collect();
    assert_eq!(after, before);
    assert!(
        after
            .iter()
            .all(|(_, (_, bits))| bits.as_deref() == Some("Public-Key: (2048 bit)")),
        "{after:?}"
    );
    for (name, cert, purpose) in &leaves {
        assert!(verifies(&new_ca, cert, purpose), "{name}");
        assert!(!verifies(&old_ca, cert, purpose), "{name}");
    }
    rotate(root, "finish", "ca");
    assert_eq!(phase_of(root, "ca"), "idle");
    for t in trust_files(root, work) {
        let pem = std::fs::read_to_string(&t).unwrap();
        assert_eq!(
            pem.matches("BEGIN CERTIFICATE").count(),
            1,
            "{}",
            t.display()
        );
        assert!(
            !verifies(&t, &old_ca, "any"),
            "{} still trusts the old CA",
            t.display()
        );
        assert!(verifies(&t, &root.join("pki/apiserver.crt"), "sslserver"));
    }
}

/// The public key of a certificate or a key file (private or public), as openssl prints it.
fn public_key(path: &Path) -> String {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let args: Vec<&str> = if text.contains("BEGIN CERTIFICATE") {
        vec!["x509", "-noout", "-pubkey", "-in", &p]
    } else if text.contains("PUBLIC KEY") {
        vec!["pkey", "-pubin", "-in", &p, "-pubout"]
    } else {
        vec!["pkey", "-in", &p, "-pubout"]
    };
    let out = run("openssl", args);
    assert_ok(&out, "openssl pkey");
    stdout(&out)
}

fn sa(root: &Path, args: &[&str]) -> String {
    let phase = match args {
        ["rotate", phase, ..] => phase,
        _ => "",
    };
    let out = Command::new(kcerts_bin())
        .arg("sa")
        .args(args)
        .args(proof("sa", phase, root))
        .args(dir_args(root))
        .output()
        .unwrap();
    assert_ok(&out, &format!("sa {args:?}"));
    stdout(&out)
}

/// The public keys of the old and the new service-account key, read right
/// after `sa rotate prepare`, which it checks: the new pair matches and is new.
struct SaKeys {
    old: String,
    new: String,
}

impl SaKeys {
    fn after_prepare(root: &Path) -> SaKeys {
        let pki = |f: &str| root.join("pki").join(f);
        let keys = SaKeys {
            old: public_key(&pki("sa.pub")),
            new: public_key(&pki("sa.new.pub")),
        };
        assert_eq!(
            public_key(&pki("sa.new.key")),
            keys.new,
            "the new pair matches"
        );
        assert_ne!(keys.new, keys.old);
        assert_eq!(public_key(&pki("sa.key")), keys.old);
        keys
    }
}

/// The public keys the apiserver accepts tokens of, as kubectl reads its manifest.
fn sa_accepted(root: &Path) -> Vec<String> {
    flag(root, "kube-apiserver.yaml", "service-account-key-file")
        .iter()
        .map(|f| public_key(Path::new(f)))
        .collect()
}

/// The manifests and files after the sa phase that leads to `phase`.
fn check_sa_phase(root: &Path, phase: &str, keys: &SaKeys) {
    let pki = |f: &str| root.join("pki").join(f);
    let api = "kube-apiserver.yaml";
    let kcm = "kube-controller-manager.yaml";
    let signers = [
        (api, "service-account-signing-key-file"),
        (kcm, "service-account-private-key-file"),
    ];
    match phase {
        "trusted" => {
            assert_eq!(sa_accepted(root), [keys.old.clone(), keys.new.clone()]);
            for (m, f) in signers {
                assert_eq!(flag(root, m, f), [pki("sa.key").display().to_string()]);
            }
        }
        "switched" => {
            for (m, f) in signers {
                let signing = flag(root, m, f);
                assert_eq!(signing.len(), 1);
                assert_eq!(public_key(Path::new(&signing[0])), keys.new, "{m} {f}");
            }
            assert_eq!(
                sa_accepted(root),
                [keys.old.clone(), keys.new.clone()],
                "old tokens still accepted"
            );
        }
        "idle" => {
            assert_eq!(
                sa_accepted(root),
                std::slice::from_ref(&keys.new),
                "only the new key is accepted"
            );
            assert_eq!(public_key(&pki("sa.key")), keys.new);
            for (m, f) in signers {
                assert_eq!(flag(root, m, f), [pki("sa.key").display().to_string()]);
            }
            assert!(!pki("sa.new.key").exists() && !pki("sa.new.pub").exists());
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(pki("sa.key"))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o600
            );
        }
        other => panic!("no checks for phase {other}"),
    }
}

/// The service-account key's phase as `kcerts sa status` names it.
fn sa_phase(root: &Path) -> String {
    let out = sa(root, &["status"]);
    out.split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no phase in: {out}"))
        .to_string()
}

#[test]
fn the_service_account_key_rotates_in_four_phases() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    node(root);
    assert_eq!(sa_phase(root), "idle");

    sa(root, &["rotate", "prepare", "--apply"]);
    assert_eq!(sa_phase(root), "prepared");
    let keys = SaKeys::after_prepare(root);
    // switch before trust is refused: no apiserver may sign with an unaccepted key.
    let out = Command::new(kcerts_bin())
        .args(["sa", "rotate", "switch", "--apply"])
        .args(dir_args(root))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("run `trust`"), "{}", stderr(&out));

    for (phase, after) in [
        ("trust", "trusted"),
        ("switch", "switched"),
        ("finish", "idle"),
    ] {
        sa(root, &["rotate", phase, "--apply"]);
        assert_eq!(sa_phase(root), after);
        check_sa_phase(root, after, &keys);
    }
}

/// Issue 23: `sa rotate finish` waits until no token signed by the old key can
/// still be valid: kube-apiserver's manifest caps token lifetimes at 2h (and does
/// not extend pod tokens to a year), counted from this node's `switch` (its
/// manifests' last change). An hour after the switch it is refused, naming the
/// time left and --force, and nothing changes; two hours after, it runs. Without
/// a cap (kubeadm's manifest) it cannot know and refuses, saying why.
#[test]
fn sa_finish_waits_for_the_old_tokens_to_expire() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    node(root);
    let api = root.join("manifests/kube-apiserver.yaml");
    let text = std::fs::read_to_string(&api).unwrap();
    let capped = text.replace(
        "    - --service-account-key-file=",
        "    - --service-account-max-token-expiration=2h\n    - --service-account-extend-token-expiration=false\n    - --service-account-key-file=",
    );
    assert_ne!(capped, text);
    let uncapped = dir.path().join("uncapped");
    node(&uncapped);
    std::fs::write(&api, capped).unwrap();
    for r in [root, &uncapped] {
        for phase in ["prepare", "trust", "switch"] {
            sa(r, &["rotate", phase, "--apply"]);
        }
    }
    let switched = ["kube-apiserver.yaml", "kube-controller-manager.yaml"]
        .iter()
        .map(|m| {
            time::OffsetDateTime::from(
                std::fs::metadata(root.join("manifests").join(m))
                    .unwrap()
                    .modified()
                    .unwrap(),
            )
        })
        .max()
        .unwrap();
    let at = |d: time::Duration| {
        (switched + d)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let finish = |r: &Path, at: &str| {
        Command::new(kcerts_bin())
            .args(["sa", "rotate", "finish", "--apply", "--at", at])
            .args(dir_args(r))
            .output()
            .unwrap()
    };
    let out = finish(root, &at(time::Duration::hours(1)));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`finish` refused: tokens signed by the old key may be valid until ")
            && err.contains(
                "left): the longest lifetime is 2h0m0s (--service-account-max-token-expiration=2h)"
            )
            && err.contains("--force"),
        "{err}"
    );
    assert!(
        err.contains("0h59m") || err.contains("1h0m0s left"),
        "an hour left: {err}"
    );
    assert_eq!(sa_phase(root), "switched", "nothing changed");
    assert!(root.join("pki/sa.new.key").exists());

    let out = finish(
        root,
        &at(time::Duration::hours(2) + time::Duration::seconds(2)),
    );
    assert_ok(&out, "finish after 2h");
    assert!(
        stdout(&out).contains("[tokens] every token signed by the old key has expired"),
        "{}",
        stdout(&out)
    );
    assert_eq!(sa_phase(root), "idle");

    // kubeadm's manifest: no cap, so no wait is long enough.
    let out = finish(&uncapped, &at(time::Duration::days(3650)));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot know when the tokens signed by the old key stop being valid: kube-apiserver has no --service-account-max-token-expiration")
            && err.contains("legacy Secret tokens")
            && err.contains("--force"),
        "{err}"
    );
    assert_eq!(sa_phase(&uncapped), "switched");
}

/// An HTTPS server on loopback that serves `cert`/`key` and, like the
/// apiserver's --client-ca-file, requires a client certificate verified by
/// `client_ca` (`openssl s_server`). Stopped when dropped.
struct TlsServer {
    child: std::process::Child,
    port: u16,
}

impl TlsServer {
    fn start(cert: &Path, key: &Path, client_ca: &Path) -> TlsServer {
        let mut child = Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                "127.0.0.1:0",
                "-www",
                "-Verify",
                "1",
                "-verify_return_error",
            ])
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .arg("-CAfile")
            .arg(client_ca)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("ACCEPT 127.0.0.1:")
                    .and_then(|p| p.trim().parse().ok())
            })
            .expect("openssl s_server did not start");
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        TlsServer { child, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether kubectl, with `kubeconfig`'s CA data and client certificate, gets a
/// page from `server` (both sides verify the other's certificate).
fn kubectl_connects(kubeconfig: &Path, server: &TlsServer) -> bool {
    let out = Command::new("timeout")
        .args([
            "20",
            "kubectl",
            "get",
            "--raw",
            "/",
            "--tls-server-name",
            "kubernetes",
        ])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--server")
        .arg(format!("https://127.0.0.1:{}", server.port))
        .output()
        .unwrap();
    out.status.success() && stdout(&out).contains("s_server")
}

fn serve_apiserver(root: &Path) -> TlsServer {
    let pki = root.join("pki");
    TlsServer::start(
        &pki.join("apiserver.crt"),
        &pki.join("apiserver.key"),
        &pki.join("ca.crt"),
    )
}

#[test]
fn kubeconfigs_reach_the_apiserver_over_tls_at_every_phase_and_across_nodes_in_different_phases() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    node(root);
    let confs = [
        "admin.conf",
        "super-admin.conf",
        "controller-manager.conf",
        "scheduler.conf",
    ];
    let check = |phase: &str| {
        let server = serve_apiserver(root);
        for conf in confs {
            assert!(
                kubectl_connects(&root.join(conf), &server),
                "{phase}: {conf}"
            );
        }
    };
    check("idle");
    rotate(root, "prepare", "ca");
    check("prepared");
    rotate(root, "trust", "ca");
    check("trusted");
    // A second node that is trusted but not reissued yet (a copy of this one).
    let other = &dir.path().join("other");
    assert_ok(
        &run(
            "cp",
            [
                "-a",
                &root.display().to_string(),
                &other.display().to_string(),
            ],
        ),
        "cp",
    );
    rotate(root, "reissue", "ca");
    check("reissued");
    // HA: clients of the node still on old certificates reach the reissued
    // node's apiserver, and the reissued node's clients reach the other one.
    let reissued = serve_apiserver(root);
    let trusted = serve_apiserver(other);
    for conf in confs {
        assert!(
            kubectl_connects(&other.join(conf), &reissued),
            "old {conf} -> reissued node"
        );
        assert!(
            kubectl_connects(&root.join(conf), &trusted),
            "new {conf} -> trusted node"
        );
    }
    drop((reissued, trusted));
    // Before finish the other node must reissue too: a finished node no longer
    // accepts its old client certificates.
    rotate(other, "reissue", "ca");
    rotate(root, "finish", "ca");
    check("finished");
    let finished = serve_apiserver(root);
    for conf in confs {
        assert!(
            kubectl_connects(&other.join(conf), &finished),
            "reissued {conf} -> finished node"
        );
    }
    // A client with only the pre-rotation certificates is refused at the end.
    let pre = &dir.path().join("pre");
    node(pre);
    assert!(
        !kubectl_connects(&pre.join("admin.conf"), &finished),
        "the old CA is no longer trusted"
    );
}

/// What a phase's checks need: the keys read right after `prepare`.
enum Keys {
    Ca(Cas),
    Sa(SaKeys),
}

/// One `--apply` phase, SIGKILLed before each of its durable steps.
struct Killed {
    /// `ca` (of the cluster CA) or `sa`.
    cmd: &'static str,
    /// The phases run before it on a fresh node.
    earlier: &'static [&'static str],
    phase: &'static str,
    /// The phase the node is in before it and after it, as `status` names them.
    before: &'static str,
    after: &'static str,
}

impl Killed {
    fn new(
        cmd: &'static str,
        earlier: &'static [&'static str],
        phase: &'static str,
        before: &'static str,
        after: &'static str,
    ) -> Killed {
        Killed {
            cmd,
            earlier,
            phase,
            before,
            after,
        }
    }

    fn command(&self, root: &Path, phase: &str) -> Command {
        let mut c = Command::new(kcerts_bin());
        c.args([self.cmd, "rotate", phase]);
        if self.cmd == "ca" {
            c.args(["--ca", "ca"]);
        }
        c.arg("--apply").args(dir_args(root));
        c.args(proof(self.cmd, phase, root));
        c.env_remove("KCERTS_TEST_FAULT_STEP")
            .env_remove("KCERTS_TEST_FAULT_MODE");
        c
    }

    fn run(&self, root: &Path, phase: &str) -> String {
        let out = self.command(root, phase).output().unwrap();
        assert_ok(&out, &format!("{} rotate {phase}", self.cmd));
        stdout(&out)
    }

    fn status(&self, root: &Path) -> String {
        if self.cmd == "ca" {
            phase_of(root, "ca")
        } else {
            sa_phase(root)
        }
    }

    fn keys(&self, root: &Path, work: &Path) -> Keys {
        if self.cmd == "ca" {
            Keys::Ca(Cas::after_prepare(root, work))
        } else {
            Keys::Sa(SaKeys::after_prepare(root))
        }
    }

    /// The openssl checks of the phase the node is in (`prepared`: the keys'
    /// own checks, done when they are read).
    fn check(&self, root: &Path, work: &Path, keys: &Keys) {
        match (keys, self.after) {
            (_, "prepared") => {}
            (Keys::Ca(cas), "trusted") => check_trusted(root, work, cas),
            (Keys::Ca(cas), "reissued") => check_reissued(root, work, cas),
            (Keys::Ca(cas), "idle") => check_finished(root, work, cas),
            (Keys::Sa(keys), phase) => check_sa_phase(root, phase, keys),
            (_, phase) => panic!("no checks for ca phase {phase}"),
        }
    }
}

/// For each phase and each durable step N of it: on a copy of a node brought
/// to the phase before (copied back to the same path, so the manifests' paths
/// hold), `--apply` is SIGKILLed before step N. `status` must name the phase
/// before or after; the next run completes the phase and the phase's openssl
/// checks hold; `restore` from the phase's backup (the completing run's, or
/// the killed run's when it had already committed) returns the node to the
/// phase before. Ends when a run no longer reaches step N.
fn kill_at_every_step(table: &[Killed]) {
    for k in table {
        let dir = tempdir();
        let root = &dir.path().join("node");
        let work = &dir.path().join("work");
        let template = &dir.path().join("template");
        std::fs::create_dir_all(work).unwrap();
        node(root);
        let mut keys = None;
        for p in k.earlier {
            k.run(root, p);
            if *p == "prepare" {
                keys = Some(k.keys(root, work));
            }
        }
        let cp = |from: &Path, to: &Path| {
            if to.exists() {
                std::fs::remove_dir_all(to).unwrap();
            }
            let out = run(
                "cp",
                ["-a", &from.display().to_string(), &to.display().to_string()],
            );
            assert_ok(&out, "cp -a");
        };
        cp(root, template);
        let mut step = 1;
        loop {
            cp(template, root);
            let (mut child, seen) = spawn_paused_at(k.command(root, k.phase), step);
            let paused = seen.contains("paused before step");
            if paused {
                child.kill().unwrap(); // SIGKILL
            }
            child.wait().unwrap();
            if !paused {
                assert!(
                    step > 3,
                    "{} {} finished before step {step}",
                    k.cmd,
                    k.phase
                );
                break;
            }
            let what = format!("{} {} killed before step {step}", k.cmd, k.phase);
            let named = k.status(root);
            assert!(
                named == k.before || named == k.after,
                "{what}: status says {named}"
            );
            let out = k.run(root, k.phase);
            assert_eq!(k.status(root), k.after, "{what}: {out}");
            match &keys {
                Some(keys) => k.check(root, work, keys),
                None => k.check(root, work, &k.keys(root, work)),
            }
            let backup = if out.contains("backed up") {
                backup_dir_in(&out)
            } else {
                // Killed after its commit: the run found nothing left to do,
                // and the killed run's backup is the phase's.
                let prefix = if k.cmd == "ca" {
                    format!("kcerts-ca-ca-{}-", k.phase)
                } else {
                    format!("kcerts-sa-{}-", k.phase)
                };
                let dirs = backup_dirs(root, &prefix);
                assert_eq!(dirs.len(), 1, "{what}: {dirs:?}\n{out}");
                dirs[0].display().to_string()
            };
            let r = Command::new(kcerts_bin())
                .args(["restore", "--backup-dir", &backup])
                .args(dir_args(root))
                .output()
                .unwrap();
            assert_ok(&r, &format!("{what}: restore"));
            assert_eq!(k.status(root), k.before, "{what}: after restore");
            step += 1;
        }
    }
}

#[test]
fn a_sigkill_at_every_step_of_every_ca_phase_is_named_by_status_completed_and_restorable() {
    let ca = |earlier, phase, before, after| Killed::new("ca", earlier, phase, before, after);
    kill_at_every_step(&[
        ca(&[], "prepare", "idle", "prepared"),
        ca(&["prepare"], "trust", "prepared", "trusted"),
        ca(&["prepare", "trust"], "reissue", "trusted", "reissued"),
        ca(
            &["prepare", "trust", "reissue"],
            "finish",
            "reissued",
            "idle",
        ),
    ]);
}

#[test]
fn a_sigkill_at_every_step_of_every_sa_phase_is_named_by_status_completed_and_restorable() {
    let sa = |earlier, phase, before, after| Killed::new("sa", earlier, phase, before, after);
    kill_at_every_step(&[
        sa(&[], "prepare", "idle", "prepared"),
        sa(&["prepare"], "trust", "prepared", "trusted"),
        sa(&["prepare", "trust"], "switch", "trusted", "switched"),
        sa(
            &["prepare", "trust", "switch"],
            "finish",
            "switched",
            "idle",
        ),
    ]);
}

/// NotAfter of a certificate file, as openssl reads it.
fn openssl_not_after(path: &Path) -> time::OffsetDateTime {
    let text = openssl_enddate(path);
    let v = text.strip_prefix("notAfter=").unwrap().replace(' ', "T");
    time::OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

#[test]
fn the_configuration_sets_the_new_ca_and_reissued_leaf_validities() {
    let tmp = tempdir();
    let root = tmp.path().join("kubernetes");
    node(&root);
    let config = tmp.path().join("kubeadm.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
         caCertificateValidityPeriod: 1000h0m0s\ncertificateValidityPeriod: 100h0m0s\n",
    )
    .unwrap();
    let with_config = |phase: &str| {
        let out = ca_cmd(
            &root,
            &[
                "rotate",
                phase,
                "--ca",
                "front-proxy-ca",
                "--apply",
                "--config",
                config.to_str().unwrap(),
            ],
        )
        .args(proof("ca", phase, &root))
        .output()
        .unwrap();
        assert_ok(&out, &format!("ca rotate {phase} --config"));
    };
    let near = |got: time::OffsetDateTime, hours: i64| {
        let want = time::OffsetDateTime::now_utc() + time::Duration::hours(hours);
        assert!(
            (got - want).abs() < time::Duration::minutes(10),
            "NotAfter {got}, expected about {want}"
        );
    };
    with_config("prepare");
    near(
        openssl_not_after(&root.join("pki/front-proxy-ca.new.crt")),
        1000,
    );
    rotate(&root, "trust", "front-proxy-ca");
    with_config("reissue");
    near(
        openssl_not_after(&root.join("pki/front-proxy-client.crt")),
        100,
    );
    // Without the configuration, kubeadm's defaults: 87600h for a new CA.
    let other = tmp.path().join("other");
    node(&other);
    rotate(&other, "prepare", "front-proxy-ca");
    near(
        openssl_not_after(&other.join("pki/front-proxy-ca.new.crt")),
        87600,
    );
}

/// Issue 16: `reissue` run while the kubelet's directory was not where
/// --kubelet-pki-dir said leaves the kubelet's client certificate signed by the
/// old CA. `ca status` names it as what is left, `finish` refuses while it is,
/// and running `reissue` again with the directory re-signs it (the phase is
/// read from the files, so the re-run plans only that).
#[test]
fn a_kubelet_client_certificate_missed_by_reissue_is_resigned_by_the_next_run() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    node(root);
    let kl = &dir.path().join("kubelet-pki");
    std::fs::create_dir_all(kl).unwrap();
    let issued = kcerts(kubelet_args(root, kl, &["kubelet", "client"]));
    assert_ok(&issued, "kubelet client");
    let link = kl.join("kubelet-client-current.pem");
    let old_ca = dir.path().join("old-ca.crt");
    std::fs::copy(root.join("pki/ca.crt"), &old_ca).unwrap();
    let with_kubelet = |args: &[&str], kubelet_dir: &Path| {
        let mut c = ca_cmd(root, args);
        c.arg("--kubelet-pki-dir").arg(kubelet_dir);
        c.output().unwrap()
    };
    let apply = |phase: &str, kubelet_dir: &Path| {
        let mut args = vec!["rotate", phase, "--ca", "ca", "--apply"];
        let proof = proof("ca", phase, root);
        args.extend(proof.iter().map(String::as_str));
        let out = with_kubelet(&args, kubelet_dir);
        assert_ok(&out, &format!("ca rotate {phase}"));
        stdout(&out)
    };
    rotate(root, "prepare", "ca");
    let new_ca = dir.path().join("new-ca.crt");
    std::fs::copy(root.join("pki/ca.new.crt"), &new_ca).unwrap();
    rotate(root, "trust", "ca");
    // The kubelet's directory is elsewhere than the flag says: nothing of it is re-signed.
    let out = apply("reissue", &dir.path().join("absent"));
    assert!(!out.contains("kubelet client certificate for"), "{out}");
    assert!(verifies(&old_ca, &link, "sslclient"));

    // status and finish, told where the directory is, name what is left.
    let status = with_kubelet(&["status"], kl);
    assert_ok(&status, "ca status");
    let text = stdout(&status);
    assert!(
        text.contains("ca: kubelet-client-current.pem is not signed by the new CA")
            && text.contains("--kubelet-pki-dir"),
        "{text}"
    );
    let json = with_kubelet(&["status", "-o", "json"], kl);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let ca = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ca"] == "ca")
        .unwrap();
    assert_eq!(ca["phase"], "reissued");
    assert_eq!(ca["kubelet_client"], "old");
    let refused = with_kubelet(&["rotate", "finish", "--ca", "ca", "--apply"], kl);
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    let err = stderr(&refused);
    assert!(
        err.contains("kubelet-client-current.pem is not signed by the new CA")
            && err.contains("kcerts kubelet client"),
        "{err}"
    );
    assert!(
        root.join("pki/ca.new.crt").exists(),
        "finish changed nothing"
    );

    // reissue again: only the kubelet's certificate is planned, signed by the new CA.
    let dry = with_kubelet(&["rotate", "reissue", "--ca", "ca"], kl);
    assert_ok(&dry, "reissue dry run");
    let plan = stdout(&dry);
    assert!(
        plan.contains("[dry-run] would write") && plan.contains("kubelet client certificate for"),
        "{plan}"
    );
    assert!(
        !plan.contains("apiserver.crt"),
        "the leaves are done already: {plan}"
    );
    let out = apply("reissue", kl);
    assert!(
        out.contains("[rotate] kubelet client certificate for"),
        "{out}"
    );
    assert!(
        verifies(&new_ca, &link, "sslclient"),
        "re-signed by the new CA"
    );
    assert!(!verifies(&old_ca, &link, "sslclient"));
    let again = apply("reissue", kl);
    assert!(again.contains("already done"), "{again}");

    let out = apply("finish", kl);
    assert!(out.contains("now in phase `idle`"), "{out}");
    assert!(verifies(&root.join("pki/ca.crt"), &link, "sslclient"));
    assert_eq!(phase_of(root, "ca"), "idle");
}
