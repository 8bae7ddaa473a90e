//! Permissions and secrets: renewal refuses to write through a symbolic link
//! that leads out of the node's directories (and follows one that stays inside);
//! no command ever prints key material.

use std::path::Path;

use kcerts_core::kubeconfig::Kubeconfig;
use kcerts_tests::*;

/// The example node, seed 81.
fn node() -> NodeDir {
    NodeDir::new(81)
}

/// `kcerts renew ROWS... --key-algorithm ECDSA-P256` on the node.
fn renew(n: &NodeDir, rows: &[&str]) -> std::process::Output {
    let mut cmd = vec!["renew"];
    cmd.extend_from_slice(rows);
    cmd.extend(["--key-algorithm", "ECDSA-P256"]);
    n.kcerts(&cmd)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn a_symlink_out_of_the_node_is_refused_before_anything_is_written() {
    let n = node();
    let root = n.root();
    let outside = tempdir();
    let elsewhere = outside.path().join("apiserver.key");
    std::fs::rename(root.join("pki/apiserver.key"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("pki/apiserver.key")).unwrap();
    let key_before = read(&elsewhere);
    let crt_before = read(&root.join("pki/apiserver.crt"));
    let conf_before = read(&root.join("admin.conf"));

    let out = renew(&n, &["admin.conf", "apiserver"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let link = root.join("pki/apiserver.key");
    assert_eq!(
        stderr(&out),
        format!(
            "error: {} resolves to {}, outside {} and {}: kcerts does not write through a \
             symbolic link that leads out of the node's directories\nhint: replace the link with \
             the file itself, or point --cert-dir and --kubeconfig-dir at the real directories\n",
            link.display(),
            std::fs::canonicalize(&elsewhere).unwrap().display(),
            root.join("pki").display(),
            root.display()
        )
    );
    assert_eq!(read(&elsewhere), key_before);
    assert_eq!(read(&root.join("pki/apiserver.crt")), crt_before);
    assert_eq!(
        read(&root.join("admin.conf")),
        conf_before,
        "nothing at all is written"
    );
    assert!(link.is_symlink());

    // A directory link out of the node is refused the same way.
    std::fs::remove_file(&link).unwrap();
    std::fs::write(&link, &key_before).unwrap();
    let etcd_out = outside.path().join("etcd");
    std::fs::rename(root.join("pki/etcd"), &etcd_out).unwrap();
    std::os::unix::fs::symlink(&etcd_out, root.join("pki/etcd")).unwrap();
    let out = renew(&n, &["etcd-server"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("outside"), "{}", stderr(&out));
}

#[test]
fn a_symlink_inside_the_node_is_written_through_and_kept() {
    let n = node();
    let root = n.root();
    // pki/apiserver.crt -> pki/real/apiserver.crt, as some installers lay it out.
    std::fs::create_dir(root.join("pki/real")).unwrap();
    std::fs::rename(
        root.join("pki/apiserver.crt"),
        root.join("pki/real/apiserver.crt"),
    )
    .unwrap();
    std::os::unix::fs::symlink("real/apiserver.crt", root.join("pki/apiserver.crt")).unwrap();
    let before = read(&root.join("pki/real/apiserver.crt"));
    let out = renew(&n, &["apiserver"]);
    assert_ok(&out, "renew apiserver");
    assert!(
        root.join("pki/apiserver.crt").is_symlink(),
        "the link is kept"
    );
    let after = read(&root.join("pki/real/apiserver.crt"));
    assert_ne!(
        after, before,
        "the new certificate went to the link's target"
    );
    let cert = kcerts_core::certificate::parse_first(&after).unwrap();
    let key = kcerts_core::PrivateKey::parse(&read(&root.join("pki/apiserver.key"))).unwrap();
    assert!(cert.matches_key(&key));
}

/// Every base64 run of at least 24 characters in a key file, in 24-character
/// pieces: a secret that shows up in output, whole or in part, contains one.
fn secret_pieces(pem_or_yaml: &[u8], out: &mut Vec<String>) {
    let text = String::from_utf8_lossy(pem_or_yaml);
    let mut body = String::new();
    let mut in_key = false;
    for line in text.lines() {
        if line.starts_with("-----BEGIN") {
            in_key = line.contains("PRIVATE KEY");
            continue;
        }
        if line.starts_with("-----END") {
            in_key = false;
            continue;
        }
        if in_key {
            body.push_str(line.trim());
        }
    }
    let chars: Vec<char> = body.chars().collect();
    out.extend(
        chars
            .chunks(24)
            .filter(|c| c.len() == 24)
            .map(|c| c.iter().collect()),
    );
}

fn key_pieces_under(root: &Path, out: &mut Vec<String>) {
    for entry in walk(root) {
        let bytes = read(&entry);
        let name = entry.to_string_lossy();
        if name.ends_with(".key") {
            secret_pieces(&bytes, out);
        } else if name.ends_with(".conf")
            && let Ok(c) = Kubeconfig::parse(&bytes).and_then(|k| k.current())
            && let Some(key) = c.client_key_data
        {
            secret_pieces(&key, out);
            // The base64 of the embedded PEM, as it appears in the file.
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
            let chars: Vec<char> = b64.chars().collect();
            out.extend(
                chars
                    .chunks(24)
                    .skip(2)
                    .step_by(3)
                    .map(|c| c.iter().collect()),
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}

#[test]
fn no_command_prints_key_material() {
    let dir = tempdir();
    let root = dir.path().join("node");
    let root_s = root.display().to_string();
    let csr_dir = dir.path().join("csr").display().to_string();
    let mut outputs = Vec::new();
    let mut run_kcerts = |args: Vec<String>| {
        let out = kcerts(&args);
        outputs.push((args.join(" "), format!("{}{}", stdout(&out), stderr(&out))));
    };
    let with_dirs = |mut args: Vec<&str>| {
        let mut v: Vec<String> = args.drain(..).map(String::from).collect();
        v.extend(dir_args(&root));
        v
    };
    run_kcerts(
        [
            "generate-pki",
            "--out",
            &root_s,
            "--node-name",
            "cp-1",
            "--advertise-address",
            "10.0.0.1",
            "--key-algorithm",
            "ECDSA-P256",
        ]
        .map(String::from)
        .to_vec(),
    );
    for o in ["text", "json", "yaml"] {
        run_kcerts(with_dirs(vec!["check-expiration", "-o", o]));
    }
    run_kcerts(with_dirs(vec!["renew", "all", "--dry-run"]));
    run_kcerts(with_dirs(vec![
        "renew",
        "all",
        "--csr-only",
        "--csr-dir",
        &csr_dir,
    ]));
    let mut old_keys = Vec::new();
    key_pieces_under(&root, &mut old_keys);
    run_kcerts(with_dirs(vec![
        "renew",
        "all",
        "--key-algorithm",
        "ECDSA-P256",
    ]));
    let backup = walk(&root.join("tmp"))
        .into_iter()
        .find(|p| p.ends_with("kcerts-manifest.tsv"))
        .unwrap();
    let backup = backup.parent().unwrap().display().to_string();
    run_kcerts(with_dirs(vec!["restore", "--backup-dir", &backup]));
    // Errors that concern keys: a key that does not match, an encrypted one.
    std::fs::copy(root.join("pki/front-proxy-ca.key"), root.join("pki/ca.key")).unwrap();
    run_kcerts(with_dirs(vec!["check-expiration"]));
    run_kcerts(with_dirs(vec!["renew", "all"]));
    // Every subcommand, given the node's directories and then every file of it
    // (so commands added later, e.g. one that inspects files, are covered too).
    let help = stdout(&kcerts(["--help"]));
    let subcommands: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect();
    assert!(subcommands.len() >= 4, "{help}");
    let all_files: Vec<String> = walk(&root)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    for sub in &subcommands {
        if sub == "renew" || sub == "restore" || sub == "generate-pki" {
            continue; // run above with real arguments
        }
        if sub == "serve" {
            continue; // runs until stopped; serve.rs checks its scrape for key material
        }
        run_kcerts(with_dirs(vec![sub.as_str()]));
        let mut args = vec![sub.clone()];
        args.extend(all_files.iter().cloned());
        run_kcerts(args);
    }

    let mut secrets = old_keys;
    key_pieces_under(&root, &mut secrets);
    key_pieces_under(Path::new(&csr_dir), &mut secrets);
    assert!(secrets.len() > 100, "{} pieces", secrets.len());
    for (cmd, output) in &outputs {
        assert!(
            !output.contains("PRIVATE KEY-----"),
            "kcerts {cmd} printed a key:\n{output}"
        );
        for s in &secrets {
            assert!(
                !output.contains(s.as_str()),
                "kcerts {cmd} printed key bytes {s}:\n{output}"
            );
        }
    }
}
