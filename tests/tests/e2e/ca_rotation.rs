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

/// kube-apiserver's and kube-controller-manager's static pod manifests with the
/// flags kubeadm writes for the files they read (cmd/kubeadm/app/phases/
/// controlplane/manifests.go), pointing into `root`.
fn write_manifests(root: &Path) {
    let pki = root.join("pki").display().to_string();
    let dir = root.join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    let api = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    component: kube-apiserver\n    tier: control-plane\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --advertise-address=192.0.2.10\n    - --client-ca-file={pki}/ca.crt\n    - --etcd-cafile={pki}/etcd/ca.crt\n    - --requestheader-client-ca-file={pki}/front-proxy-ca.crt\n    - --service-account-issuer=https://kubernetes.default.svc.cluster.local\n    - --service-account-key-file={pki}/sa.pub\n    - --service-account-signing-key-file={pki}/sa.key\n    - --tls-cert-file={pki}/apiserver.crt\n    - --tls-private-key-file={pki}/apiserver.key\n    image: registry.k8s.io/kube-apiserver:v1.32.0\n    name: kube-apiserver\n  hostNetwork: true\n"
    );
    let kcm = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    component: kube-controller-manager\n    tier: control-plane\n  name: kube-controller-manager\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - kube-controller-manager\n    - --client-ca-file={pki}/ca.crt\n    - --cluster-signing-cert-file={pki}/ca.crt\n    - --cluster-signing-key-file={pki}/ca.key\n    - --root-ca-file={pki}/ca.crt\n    - --service-account-private-key-file={pki}/sa.key\n    image: registry.k8s.io/kube-controller-manager:v1.32.0\n    name: kube-controller-manager\n  hostNetwork: true\n"
    );
    std::fs::write(dir.join("kube-apiserver.yaml"), api).unwrap();
    std::fs::write(dir.join("kube-controller-manager.yaml"), kcm).unwrap();
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

fn rotate(root: &Path, phase: &str, ca: &str) -> String {
    let out = ca_cmd(root, &["rotate", phase, "--ca", ca, "--apply"])
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

pub(crate) fn verify(ca_file: &Path, cert: &Path, purpose: &str) -> bool {
    run(
        "openssl",
        [
            "verify",
            "-CAfile",
            &ca_file.display().to_string(),
            "-purpose",
            purpose,
            &cert.display().to_string(),
        ],
    )
    .status
    .success()
}

/// A certificate for `purpose` (sslclient or sslserver) signed by the given CA
/// with openssl itself, as a client or server from elsewhere would hold.
fn openssl_leaf(work: &Path, name: &str, ca_cert: &Path, ca_key: &Path, server: bool) -> PathBuf {
    let key = work.join(format!("{name}.key"));
    let csr = work.join(format!("{name}.csr"));
    let crt = work.join(format!("{name}.crt"));
    let ext = work.join(format!("{name}.ext"));
    std::fs::write(
        &ext,
        if server {
            "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:kubernetes\n"
        } else {
            "extendedKeyUsage=clientAuth\n"
        },
    )
    .unwrap();
    let k = key.display().to_string();
    assert_ok(
        &run(
            "openssl",
            [
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &k,
            ],
        ),
        "openssl genpkey",
    );
    assert_ok(
        &run(
            "openssl",
            [
                "req",
                "-new",
                "-key",
                &k,
                "-subj",
                &format!("/CN={name}"),
                "-out",
                &csr.display().to_string(),
            ],
        ),
        "openssl req",
    );
    assert_ok(
        &run(
            "openssl",
            [
                "x509",
                "-req",
                "-in",
                &csr.display().to_string(),
                "-CA",
                &ca_cert.display().to_string(),
                "-CAkey",
                &ca_key.display().to_string(),
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                &ext.display().to_string(),
                "-out",
                &crt.display().to_string(),
            ],
        ),
        "openssl x509 -req",
    );
    crt
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

#[test]
fn the_cluster_ca_rotates_through_every_phase_with_openssl_checks() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    let work = &dir.path().join("work");
    std::fs::create_dir_all(work).unwrap();
    node(root);
    let old_ca = work.join("old-ca.crt");
    let old_key = work.join("old-ca.key");
    std::fs::copy(root.join("pki/ca.crt"), &old_ca).unwrap();
    std::fs::copy(root.join("pki/ca.key"), &old_key).unwrap();
    assert_eq!(phase_of(root, "ca"), "idle");

    // Nothing but prepare may start a rotation; a dry run changes nothing.
    let out = ca_cmd(root, &["rotate", "reissue", "--ca", "ca", "--apply"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("phase `idle`"), "{}", stderr(&out));
    let before = std::fs::read(root.join("pki/ca.crt")).unwrap();
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
    assert_eq!(std::fs::read(root.join("pki/ca.crt")).unwrap(), before);
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
        subject(&old_ca),
        "same subject as the old CA"
    );
    assert!(verify(&new_ca, &new_ca, "any"), "the new CA is self-signed");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&new_key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // trust: both CAs verify clients and servers at every trust point.
    rotate(root, "trust", "ca");
    assert_eq!(phase_of(root, "ca"), "trusted");
    let old_client = openssl_leaf(work, "old-client", &old_ca, &old_key, false);
    let new_client = openssl_leaf(work, "new-client", &new_ca, &new_key, false);
    let old_server = openssl_leaf(work, "old-server", &old_ca, &old_key, true);
    let new_server = openssl_leaf(work, "new-server", &new_ca, &new_key, true);
    for t in trust_files(root, work) {
        for (c, p) in [
            (&old_client, "sslclient"),
            (&new_client, "sslclient"),
            (&old_server, "sslserver"),
            (&new_server, "sslserver"),
        ] {
            assert!(
                verify(&t, c, p),
                "{} does not verify {}",
                t.display(),
                c.display()
            );
        }
    }
    // The controller-manager signs with one certificate matching ca.key.
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
    let pubkey = |args: &[&str]| stdout(&run("openssl", args));
    assert_eq!(
        pubkey(&[
            "x509",
            "-noout",
            "-pubkey",
            "-in",
            &signing.display().to_string()
        ]),
        pubkey(&[
            "pkey",
            "-pubout",
            "-in",
            &root.join("pki/ca.key").display().to_string()
        ])
    );

    // reissue is refused on a node where a trust point lacks the new CA.
    let sched = root.join("scheduler.conf");
    let trusted_sched = std::fs::read(&sched).unwrap();
    let only_old =
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&old_ca).unwrap());
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
        verify(&old_ca, &root.join("pki/apiserver.crt"), "sslserver"),
        "nothing was reissued"
    );
    std::fs::write(&sched, trusted_sched).unwrap();

    // reissue: every leaf chains to the new CA, for its purpose; kubeconfigs
    // still trust both.
    rotate(root, "reissue", "ca");
    assert_eq!(phase_of(root, "ca"), "reissued");
    for (name, cert, purpose) in ca_leaves(root, work) {
        // The node's keys are ECDSA P-256 and stay so (the key type is kept).
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
            verify(&new_ca, &cert, purpose),
            "{name} does not chain to the new CA"
        );
        assert!(
            !verify(&old_ca, &cert, purpose),
            "{name} still chains to the old CA"
        );
    }
    for t in trust_files(root, work) {
        assert!(verify(&t, &old_server, "sslserver"), "{}", t.display());
        assert!(verify(&t, &new_server, "sslserver"), "{}", t.display());
    }
    assert_eq!(
        pubkey(&[
            "pkey",
            "-pubout",
            "-in",
            &root.join("pki/ca.key").display().to_string()
        ]),
        pubkey(&["pkey", "-pubout", "-in", &new_key.display().to_string()])
    );

    // finish: only the new CA is trusted anywhere on the node.
    let kept_new_ca = work.join("new-ca.crt");
    std::fs::copy(&new_ca, &kept_new_ca).unwrap();
    rotate(root, "finish", "ca");
    assert_eq!(phase_of(root, "ca"), "idle");
    assert!(!new_ca.exists() && !new_key.exists() && !signing.exists());
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
        assert!(verify(&t, &new_server, "sslserver"), "{}", t.display());
        assert!(verify(&t, &new_client, "sslclient"), "{}", t.display());
        assert!(
            !verify(&t, &old_server, "sslserver"),
            "{} still trusts the old CA",
            t.display()
        );
        assert!(
            !verify(&t, &old_client, "sslclient"),
            "{} still trusts the old CA",
            t.display()
        );
    }
    for (name, cert, purpose) in ca_leaves(root, work) {
        assert!(verify(&kept_new_ca, &cert, purpose), "{name}");
    }
    // Every kubeconfig still works for kubectl.
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
            assert!(verify(&new, &root.join(leaf), "any"), "{ca}: {leaf}");
        }
        rotate(root, "finish", ca);
        assert_eq!(phase_of(root, ca), "idle");
        for leaf in leaves {
            assert!(
                verify(&root.join(file), &root.join(leaf), "any"),
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
fn restore_of_a_phase_backup_returns_to_the_previous_phase() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    node(root);
    rotate(root, "prepare", "ca");
    rotate(root, "trust", "ca");
    let out = rotate(root, "reissue", "ca");
    assert_eq!(phase_of(root, "ca"), "reissued");
    let backup = backup_dir_in(&out);
    let r = Command::new(kcerts_bin())
        .args(["restore", "--backup-dir", &backup])
        .args(dir_args(root))
        .output()
        .unwrap();
    assert_ok(&r, "restore");
    assert_eq!(phase_of(root, "ca"), "trusted");
    // And finish's removals come back too.
    rotate(root, "reissue", "ca");
    let out = rotate(root, "finish", "ca");
    let backup = backup_dir_in(&out);
    assert!(!root.join("pki/ca.new.key").exists());
    let r = Command::new(kcerts_bin())
        .args(["restore", "--backup-dir", &backup])
        .args(dir_args(root))
        .output()
        .unwrap();
    assert_ok(&r, "restore");
    assert!(root.join("pki/ca.new.key").exists());
    assert_eq!(phase_of(root, "ca"), "reissued");
}

#[test]
fn an_openssl_made_node_rotates_its_cluster_ca() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    let work = &dir.path().join("work");
    std::fs::create_dir_all(work).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/openssl-pki.sh");
    assert_ok(
        &run(
            "bash",
            [script.display().to_string(), root.display().to_string()],
        ),
        "openssl-pki.sh",
    );
    let old_ca = work.join("old-ca.crt");
    std::fs::copy(root.join("pki/ca.crt"), &old_ca).unwrap();
    rotate(root, "prepare", "ca");
    let new_ca = work.join("new-ca.crt");
    std::fs::copy(root.join("pki/ca.new.crt"), &new_ca).unwrap();
    rotate(root, "trust", "ca");
    for t in trust_files(root, work) {
        assert!(
            verify(&t, &root.join("pki/apiserver.crt"), "sslserver"),
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
        assert!(verify(&new_ca, cert, purpose), "{name}");
        assert!(!verify(&old_ca, cert, purpose), "{name}");
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
            !verify(&t, &old_ca, "any"),
            "{} still trusts the old CA",
            t.display()
        );
        assert!(verify(&t, &root.join("pki/apiserver.crt"), "sslserver"));
    }
}

/// The public key of a key file (private or public), as openssl prints it.
fn public_key(path: &Path) -> String {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let args: Vec<&str> = if text.contains("PUBLIC KEY") {
        vec!["pkey", "-pubin", "-in", &p, "-pubout"]
    } else {
        vec!["pkey", "-in", &p, "-pubout"]
    };
    let out = run("openssl", args);
    assert_ok(&out, "openssl pkey");
    stdout(&out)
}

fn sa(root: &Path, args: &[&str]) -> String {
    let out = Command::new(kcerts_bin())
        .arg("sa")
        .args(args)
        .args(dir_args(root))
        .output()
        .unwrap();
    assert_ok(&out, &format!("sa {args:?}"));
    stdout(&out)
}

#[test]
fn the_service_account_key_rotates_in_four_phases() {
    let dir = tempdir();
    let root = &dir.path().join("node");
    node(root);
    let pki = |f: &str| root.join("pki").join(f);
    let api = "kube-apiserver.yaml";
    let kcm = "kube-controller-manager.yaml";
    let old_pub = public_key(&pki("sa.pub"));
    assert!(sa(root, &["status"]).contains("phase `idle`"));

    sa(root, &["rotate", "prepare", "--apply"]);
    let new_pub = public_key(&pki("sa.new.pub"));
    assert_eq!(
        public_key(&pki("sa.new.key")),
        new_pub,
        "the new pair matches"
    );
    assert_ne!(new_pub, old_pub);
    // switch before trust is refused: no apiserver may sign with an unaccepted key.
    let out = Command::new(kcerts_bin())
        .args(["sa", "rotate", "switch", "--apply"])
        .args(dir_args(root))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("run `trust`"), "{}", stderr(&out));

    sa(root, &["rotate", "trust", "--apply"]);
    let accepted: Vec<String> = flag(root, api, "service-account-key-file")
        .iter()
        .map(|f| public_key(Path::new(f)))
        .collect();
    assert_eq!(accepted, [old_pub.clone(), new_pub.clone()]);
    assert_eq!(
        flag(root, api, "service-account-signing-key-file"),
        [pki("sa.key").display().to_string()]
    );

    sa(root, &["rotate", "switch", "--apply"]);
    for (m, f) in [
        (api, "service-account-signing-key-file"),
        (kcm, "service-account-private-key-file"),
    ] {
        let signing = flag(root, m, f);
        assert_eq!(signing.len(), 1);
        assert_eq!(public_key(Path::new(&signing[0])), new_pub, "{m} {f}");
    }
    assert_eq!(
        flag(root, api, "service-account-key-file").len(),
        2,
        "old tokens still accepted"
    );

    sa(root, &["rotate", "finish", "--apply"]);
    assert!(sa(root, &["status"]).contains("phase `idle`"));
    let accepted: Vec<String> = flag(root, api, "service-account-key-file")
        .iter()
        .map(|f| public_key(Path::new(f)))
        .collect();
    assert_eq!(
        accepted,
        std::slice::from_ref(&new_pub),
        "only the new key is accepted"
    );
    assert_eq!(public_key(&pki("sa.key")), new_pub);
    assert_eq!(
        flag(root, kcm, "service-account-private-key-file"),
        [pki("sa.key").display().to_string()]
    );
    assert!(!pki("sa.new.key").exists());
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

/// [`kill_at`] that reports whether the run reached `step` (a later step than
/// the phase has lets it finish).
fn try_kill_at(root: &Path, phase: &str, step: usize) -> bool {
    let (mut child, seen) = spawn_paused_at(
        ca_cmd(root, &["rotate", phase, "--ca", "ca", "--apply"]),
        step,
    );
    let paused = seen.contains("paused before step");
    if paused {
        child.kill().unwrap(); // SIGKILL
    }
    child.wait().unwrap();
    paused
}

#[test]
fn a_sigkill_at_every_step_of_trust_and_reissue_is_named_by_status_and_completed() {
    for (phase, before, after) in [
        ("trust", "prepared", "trusted"),
        ("reissue", "trusted", "reissued"),
    ] {
        let mut step = 1;
        loop {
            let dir = tempdir();
            let root = &dir.path().join("node");
            node(root);
            rotate(root, "prepare", "ca");
            if phase == "reissue" {
                rotate(root, "trust", "ca");
            }
            if !try_kill_at(root, phase, step) {
                assert!(step > 10, "{phase} finished before step {step}");
                break;
            }
            // A killed run leaves the node in a phase status names: the one
            // before (files put back or not yet renamed) or a mix it reads as that.
            let named = phase_of(root, "ca");
            assert!(
                named == before || named == after,
                "{phase} killed before step {step}: status says {named}"
            );
            let out = rotate(root, phase, "ca");
            assert_eq!(phase_of(root, "ca"), after, "{phase} step {step}: {out}");
            step += 1;
        }
    }
}

/// NotAfter of a certificate file, as openssl reads it.
fn openssl_not_after(path: &Path) -> time::OffsetDateTime {
    let text = crate::cluster_config::openssl_enddate(path);
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
