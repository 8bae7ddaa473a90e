//! A control-plane node beside an empty kubelet directory, for the kubelet
//! commands: their arguments, and the kubelet's view after a client certificate
//! was installed (checked with openssl and kubectl).

use std::path::{Path, PathBuf};

use kcerts_core::kubelet;
use kcerts_core::{PrivateKey, certificate};

use crate::openssl_read::assert_verifies;
use crate::{NodeDir, assert_ok, dir_args, kubectl_field, run, stdout};

/// A control-plane node generated at NOW, and an empty kubelet directory.
pub fn node(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("etc");
    let kl = dir.join("kubelet-pki");
    std::fs::create_dir_all(&kl).unwrap();
    NodeDir::in_dir(&root, 13);
    (root, kl)
}

/// `ARGS --cert-dir --kubeconfig-dir --kubelet-pki-dir`.
pub fn kubelet_args(root: &Path, kl: &Path, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    v.extend(dir_args(root));
    v.push("--kubelet-pki-dir".into());
    v.push(kl.display().to_string());
    v
}

/// The kubelet's view after a run: the link's destination and kubelet.conf's
/// user, as kubectl reads them; openssl verifies the pair for client auth.
pub fn check_installed(root: &Path, kl: &Path, node: &str) -> PathBuf {
    let link = kl.join(kubelet::CLIENT_CURRENT);
    let dest = std::fs::read_link(&link).expect("kubelet-client-current.pem is a link");
    assert!(dest.is_absolute(), "{}", dest.display());
    let name = dest.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("kubelet-client-2") && name.ends_with(".pem") && name.len() == 38,
        "{name}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the pair file holds a key");
    let pair = std::fs::read(&dest).unwrap();
    let cert = certificate::parse_first(&pair).unwrap();
    assert!(cert.matches_key(&PrivateKey::parse(&pair).unwrap()));
    assert_eq!(
        cert.common_name.as_deref(),
        Some(format!("system:node:{node}").as_str())
    );
    let ca = root.join("pki/ca.crt");
    assert_verifies(&ca, &link, "sslclient");
    let conf = root.join("kubelet.conf");
    let view = kubectl_field(
        &conf,
        "{.users[0].user.client-certificate} {.users[0].user.client-key} \
         {.users[0].user.client-certificate-data}|",
    );
    let l = link.display().to_string();
    assert_eq!(view, format!("{l} {l} |"));
    // kubectl reads the client certificate through the link (a bad file fails here).
    let who = run(
        "kubectl",
        [
            "--kubeconfig",
            conf.to_str().unwrap(),
            "config",
            "view",
            "--flatten",
            "-o",
            "jsonpath={.users[0].user.client-certificate-data}",
        ],
    );
    assert_ok(&who, "kubectl config view --flatten");
    assert!(!stdout(&who).is_empty());
    dest
}
