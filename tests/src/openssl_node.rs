//! A kubeadm-layout node built by openssl and kubectl alone, no kcerts code
//! (`fixtures/openssl-pki.sh`): RSA 2048 mostly, an EC P-256 front-proxy-client
//! and an EC P-384 etcd server, keys in PKCS#8, PKCS#1 and SEC1.

use std::path::Path;
use std::process::Command;

use crate::assert_ok;

/// One node of a cluster made by the script.
#[derive(Default)]
pub struct OpensslNode<'a> {
    /// The node name and advertise address (the script's defaults: node-a, 10.0.0.10).
    pub node: Option<(&'a str, &'a str)>,
    /// A control-plane endpoint DNS name (an apiserver SAN, admin.conf's server).
    pub endpoint: Option<&'a str>,
    /// Another node's root whose CAs and service-account keys are copied.
    pub share: Option<&'a Path>,
}

impl OpensslNode<'_> {
    /// Builds the node under `root`.
    pub fn build(&self, root: &Path) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/openssl-pki.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(&script).arg(root);
        if let Some((node, addr)) = self.node {
            cmd.env("NODE", node).env("ADDR", addr);
        }
        if let Some(endpoint) = self.endpoint {
            cmd.env("ENDPOINT", endpoint);
        }
        if let Some(share) = self.share {
            cmd.env("SHARE", share);
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash: {e}"));
        assert_ok(&out, "openssl-pki.sh");
    }
}

/// The single node (node-a, 10.0.0.10) under `root`.
pub fn openssl_node(root: &Path) {
    OpensslNode::default().build(root);
}
