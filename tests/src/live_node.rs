//! A node whose control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler) runs under the fake kubelet, for `verify --live`, `restart` and
//! `renew --restart`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use kcerts_core::KeyAlgorithm;
use serde_json::Value;

use crate::fake_kubelet::{self, FakeKubelet, Ports};
use crate::rotating_kubelet::rotating_kubelet;
use crate::run_in_node::{code, kcerts_in};
use crate::{assert_ok, example_options, generate, stderr, stdout, tempdir, write_node};

/// The four static pods of a control-plane node.
pub const PODS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// A node whose control plane runs under the fake kubelet.
pub struct LiveNode {
    pub dir: tempfile::TempDir,
    pub ports: Ports,
    pub kubelet: FakeKubelet,
}

impl LiveNode {
    /// A seeded node issued now (ECDSA), its manifests, and the fake kubelet
    /// running all four pods.
    pub fn start(seed: u64) -> Self {
        Self::start_with(seed, |_| {})
    }

    /// [`LiveNode::start`] with the fake kubelet's options changed by `tune`.
    pub fn start_with(seed: u64, tune: impl FnOnce(&mut fake_kubelet::Options)) -> Self {
        let dir = tempdir();
        let root = dir.path();
        let now = time::OffsetDateTime::now_utc();
        let node = generate(&example_options(KeyAlgorithm::EcdsaP256), now, seed);
        write_node(&node, root);
        rotating_kubelet(root);
        let ports = Ports::free();
        fake_kubelet::write_manifests(root, &root.join("manifests"), &ports);
        let mut opts = fake_kubelet::Options::new(&root.join("manifests"));
        opts.serving = Some((
            format!("127.0.0.1:{}", ports.kubelet).parse().unwrap(),
            root.join("kubelet"),
        ));
        tune(&mut opts);
        let kubelet = FakeKubelet::start(opts);
        assert!(
            kubelet.wait_running(&PODS, Duration::from_secs(20)),
            "{:?}",
            kubelet.log()
        );
        Self {
            dir,
            ports,
            kubelet,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `kcerts ARGS` in the node root with the node's dirs and endpoints.
    pub fn kcerts(&self, args: &[&str]) -> Output {
        let kubelet = self.ports.kubelet_endpoint();
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--cert-dir",
            "pki",
            "--kubeconfig-dir",
            ".",
            "--manifests-dir",
            "manifests",
        ]);
        if args.first() == Some(&"verify") {
            all.extend([
                "--kubelet-client-cert",
                "kubelet/kubelet-client-current.pem",
                "--endpoint",
                &kubelet,
            ]);
        }
        kcerts_in(self.root(), &all)
    }

    /// `kcerts renew ARGS` (no manifests dir unless --restart is given).
    pub fn renew(&self, args: &[&str]) -> Output {
        let mut all = vec!["renew"];
        all.extend_from_slice(args);
        all.extend(["--cert-dir", "pki", "--kubeconfig-dir", "."]);
        if args.contains(&"--restart") {
            all.extend(["--manifests-dir", "manifests"]);
        }
        kcerts_in(self.root(), &all)
    }

    /// The `live` rows of `verify --live -o json`: endpoint -> (status, reason).
    pub fn live_rows(&self) -> (i32, Vec<(String, String, String)>) {
        let o = self.kcerts(&["verify", "--live", "-o", "json"]);
        let json: Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
        let rows = json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["check"] == "live")
            .map(|c| {
                (
                    c["target"].as_str().unwrap().to_string(),
                    c["status"].as_str().unwrap().to_string(),
                    c["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (code(&o), rows)
    }

    pub fn manifest(&self, file: &str) -> PathBuf {
        self.root().join("manifests").join(file)
    }
}

/// Whether every live row passes (with the rows for the message).
pub fn all_pass(node: &LiveNode) -> Result<(), String> {
    let (code, rows) = node.live_rows();
    if code == 0 && rows.len() == 6 && rows.iter().all(|r| r.1 == "pass") {
        Ok(())
    } else {
        Err(format!("exit {code}: {rows:#?}"))
    }
}

/// Renews everything once the controller-manager's start second has passed (its
/// self-signed certificate records whole seconds).
pub fn renew_all(node: &LiveNode) {
    std::thread::sleep(Duration::from_millis(1100));
    let o = node.renew(&["all"]);
    assert_ok(&o, "renew all");
    assert!(stdout(&o).contains("You must restart"), "{}", stdout(&o));
}
