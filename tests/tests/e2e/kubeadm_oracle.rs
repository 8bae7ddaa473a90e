//! The real kubeadm as the oracle (issue 22): PKIs made by kubeadm v1.37.2
//! itself (`kubeadm init phase certs|kubeconfig|etcd|control-plane`, built from
//! the Go module proxy by scripts/kube-binaries.sh) over a matrix of
//! configurations, and every output of kcerts held against kubeadm's on the
//! same files: check-expiration (text, json, yaml; with --config, and without,
//! where kubeadm falls back from an unreachable cluster), renewal both ways with
//! the renewed certificates and kubeconfigs compared field by field,
//! generate-csr, and broken PKIs.
//!
//! kubeadm reads `/etc/kubernetes` (no flag moves its kubeconfig directory for
//! check-expiration and renew), so it runs with its hidden `--rootfs DIR` flag:
//! it chroots into the node's temporary directory first. It never touches the
//! machine's /etc/kubernetes, and never reaches a network: the nodes' addresses
//! are documentation addresses (192.0.2.0/24, 2001:db8::/32) that no command
//! contacts, and kubeadm's cluster look-up goes to a kubeconfig whose server is
//! 127.0.0.1:1, which refuses at once (kubeadm then prints its "Falling back"
//! lines, as on a node whose API server is down).
//!
//! A difference kcerts still has is not hidden: the matrix tests skip the
//! (configuration, output) pairs listed in [`KNOWN`] and print the whole table
//! (`-- --nocapture`); each known difference also has its own test asserting
//! kubeadm's behaviour, ignored with the difference's number until it is
//! fixed or documented as kept on purpose (then that test is removed or
//! turned around). A new difference fails the matrix test.
//!
//! Skipped, with a message, only when the binaries are absent
//! (KCERTS_KUBE_BIN, default ~/.cache/kcerts/kube/v1.37.2): scripts/test.sh
//! always builds them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use kcerts_tests::*;

/// The Kubernetes release of the oracle (tests/kube/v1.37/go.mod).
use kcerts_tests::kube_bin::KUBE_VERSION;
/// The older kubeadm (tests/kube/v1.34/go.mod), for outputs that changed.
const OLD_KUBE_VERSION: &str = "v1.34.4";

// ---------------------------------------------------------------------------
// The binaries

/// The directory of the binaries scripts/kube-binaries.sh built, or `None`
/// (with the reason printed) when kubeadm is not there.
fn kube_bin() -> Option<PathBuf> {
    kcerts_tests::kube_bin::kube_bin(&["kubeadm"])
}

// ---------------------------------------------------------------------------
// The matrix

/// What is done to the files after kubeadm's init phases.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setup {
    /// Nothing: kubeadm's own layout.
    Plain,
    /// etcd.external: pki/etcd/ca.crt without its key and apiserver-etcd-client.*
    /// (as copied from an external etcd's hosts), no etcd certificates, no etcd.yaml.
    ExternalEtcd,
    /// External CA: ca.key removed.
    ExternalCa,
    /// A control-plane node that joined: no super-admin.conf.
    Secondary,
}

/// One configuration of the matrix.
#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    advertise: &'static str,
    bind_port: u16,
    /// Extra lines of the ClusterConfiguration (top level, two-space indents).
    cluster: &'static str,
    setup: Setup,
}

const fn case(name: &'static str, cluster: &'static str) -> Case {
    Case {
        name,
        advertise: "192.0.2.11",
        bind_port: 6443,
        cluster,
        setup: Setup::Plain,
    }
}

const EXTERNAL_ETCD: &str = "etcd:
  external:
    endpoints:
    - https://192.0.2.21:2379
    caFile: /etc/kubernetes/pki/etcd/ca.crt
    certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt
    keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key
";

const MATRIX: &[Case] = &[
    case("rsa-2048", ""),
    case("ecdsa-p256", "encryptionAlgorithm: ECDSA-P256\n"),
    case("ecdsa-p384", "encryptionAlgorithm: ECDSA-P384\n"),
    case("rsa-3072", "encryptionAlgorithm: RSA-3072\n"),
    case("rsa-4096", "encryptionAlgorithm: RSA-4096\n"),
    case(
        "validity-long",
        "certificateValidityPeriod: 17520h\ncaCertificateValidityPeriod: 175200h\n",
    ),
    case(
        "validity-short",
        "certificateValidityPeriod: 48h\ncaCertificateValidityPeriod: 4380h\n",
    ),
    // Item 9: Go's time.ParseDuration (fractions); 30d is refused (below).
    case(
        "validity-go",
        "certificateValidityPeriod: 8759.5h\ncaCertificateValidityPeriod: 87599.5h\n",
    ),
    Case {
        setup: Setup::ExternalEtcd,
        ..case("external-etcd", EXTERNAL_ETCD)
    },
    Case {
        setup: Setup::ExternalCa,
        ..case("external-ca", "")
    },
    case(
        "dual-stack",
        "networking:\n  serviceSubnet: 10.96.0.0/16,fd00:10:96::/112\n  \
         podSubnet: 10.244.0.0/16,fd00:10:244::/56\n",
    ),
    Case {
        advertise: "2001:db8::11",
        ..case("ipv6", "networking:\n  serviceSubnet: fd00:10:96::/112\n")
    },
    case(
        "endpoint-port",
        "controlPlaneEndpoint: cp.example.test:8443\n",
    ),
    case(
        "cert-sans",
        "apiServer:\n  certSANs:\n  - zz.example.test\n  - 192.0.2.100\n  - a.example.test\n\
         etcd:\n  local:\n    serverCertSANs:\n    - etcd-z.example.test\n    - etcd-a.example.test\n    \
         peerCertSANs:\n    - 192.0.2.101\n",
    ),
    Case {
        bind_port: 7443,
        ..case("bind-port", "")
    },
    Case {
        setup: Setup::Secondary,
        ..case("secondary", "")
    },
];

fn matrix_case(name: &str) -> Case {
    *MATRIX.iter().find(|c| c.name == name).unwrap()
}

/// The kubeadm configuration of a case (InitConfiguration + ClusterConfiguration).
fn config_yaml(c: &Case, kubernetes_version: &str) -> String {
    config_yaml_in("v1beta4", c, kubernetes_version)
}

/// [`config_yaml`] in another kubeadm API version (`v1beta3`).
fn config_yaml_in(api: &str, c: &Case, kubernetes_version: &str) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/{api}\nkind: InitConfiguration\nlocalAPIEndpoint:\n  \
         advertiseAddress: {}\n  bindPort: {}\nnodeRegistration:\n  name: cp-1\n---\n\
         apiVersion: kubeadm.k8s.io/{api}\nkind: ClusterConfiguration\n\
         kubernetesVersion: {kubernetes_version}\n{}",
        c.advertise, c.bind_port, c.cluster
    )
}

/// A kubeconfig whose server refuses at once (nothing listens on port 1).
const UNREACHABLE: &str = "apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://127.0.0.1:1
    insecure-skip-tls-verify: true
  name: unreachable
contexts:
- context:
    cluster: unreachable
    user: nobody
  name: unreachable
current-context: unreachable
users:
- name: nobody
  user:
    token: not-a-token
";

// ---------------------------------------------------------------------------
// Nodes: a root directory kubeadm chroots into

/// A node's root: `etc/kubernetes/` as kubeadm made it, `kubeadm.yaml`,
/// `unreachable.conf`.
struct Node {
    _dir: Option<tempfile::TempDir>,
    root: PathBuf,
    kubeadm: PathBuf,
}

impl Node {
    fn empty(bin: &Path, c: &Case) -> Self {
        Self::empty_with(bin.join("kubeadm"), &config_yaml(c, KUBE_VERSION))
    }

    fn empty_with(kubeadm: PathBuf, config: &str) -> Self {
        let dir = tempdir();
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("kubeadm.yaml"), config).unwrap();
        std::fs::write(root.join("unreachable.conf"), UNREACHABLE).unwrap();
        Self {
            _dir: Some(dir),
            root,
            kubeadm,
        }
    }

    /// A fresh copy of `from` (its files, modes kept).
    fn copy_of(from: &Node) -> Self {
        let dir = tempdir();
        let root = dir.path().join("root");
        assert_ok(
            &run(
                "cp",
                [
                    "-a".to_string(),
                    from.root.display().to_string(),
                    root.display().to_string(),
                ],
            ),
            "cp -a",
        );
        Self {
            _dir: Some(dir),
            root,
            kubeadm: from.kubeadm.clone(),
        }
    }

    fn etc(&self) -> PathBuf {
        self.root.join("etc/kubernetes")
    }

    fn pki(&self) -> PathBuf {
        self.etc().join("pki")
    }

    /// `kubeadm --rootfs ROOT ARGS` (paths in ARGS are inside the root).
    fn kubeadm(&self, args: &[&str]) -> Output {
        Command::new(&self.kubeadm)
            .arg("--rootfs")
            .arg(&self.root)
            .args(args)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap()
    }

    /// `kcerts ARGS --cert-dir ROOT/etc/kubernetes/pki --kubeconfig-dir ROOT/etc/kubernetes`.
    fn kcerts(&self, args: &[&str]) -> Output {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend([
            "--cert-dir".into(),
            self.pki().display().to_string(),
            "--kubeconfig-dir".into(),
            self.etc().display().to_string(),
        ]);
        kcerts(&v)
    }

    /// A path inside the root as kubeadm names it (`/etc/kubernetes/...`).
    fn path(&self, inside: &str) -> String {
        self.root
            .join(inside.trim_start_matches('/'))
            .display()
            .to_string()
    }

    /// Text with this root's path taken out, so kcerts' paths read as kubeadm's.
    fn unroot(&self, s: &str) -> String {
        s.replace(&self.root.display().to_string(), "")
    }

    fn assert_kubeadm(&self, args: &[&str]) {
        let out = self.kubeadm(args);
        assert_ok(&out, &format!("kubeadm {}", args.join(" ")));
    }

    /// kubeadm's init phases for the case, then the case's setup.
    fn init(&self, c: &Case) {
        let cfg = ["--config", "/kubeadm.yaml"];
        if c.setup == Setup::ExternalEtcd {
            // The external etcd's CA and the apiserver's client certificate, as
            // kubeadm makes them on an etcd host; the etcd CA key stays there.
            let local = config_yaml(&Case { cluster: "", ..*c }, KUBE_VERSION);
            std::fs::write(self.root.join("local.yaml"), local).unwrap();
            for phase in ["etcd-ca", "apiserver-etcd-client"] {
                self.assert_kubeadm(&["init", "phase", "certs", phase, "--config", "/local.yaml"]);
            }
            std::fs::remove_file(self.pki().join("etcd/ca.key")).unwrap();
            std::fs::remove_file(self.root.join("local.yaml")).unwrap();
        }
        for phase in [
            &["certs", "all"][..],
            &["kubeconfig", "all"],
            &["etcd", "local"],
            &["control-plane", "all"],
        ] {
            let mut args = vec!["init", "phase"];
            args.extend_from_slice(phase);
            args.extend_from_slice(&cfg);
            self.assert_kubeadm(&args);
        }
        match c.setup {
            Setup::ExternalCa => std::fs::remove_file(self.pki().join("ca.key")).unwrap(),
            Setup::Secondary => std::fs::remove_file(self.etc().join("super-admin.conf")).unwrap(),
            Setup::Plain | Setup::ExternalEtcd => {}
        }
    }
}

/// The node kubeadm made for a case, once per test run; tests work on copies.
fn pristine(bin: &Path, name: &str) -> &'static Node {
    static NODES: OnceLock<Mutex<BTreeMap<String, &'static OnceLock<Node>>>> = OnceLock::new();
    let cell: &'static OnceLock<Node> = NODES
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(name.to_string())
        .or_insert_with(|| Box::leak(Box::new(OnceLock::new())));
    cell.get_or_init(|| {
        let c = matrix_case(name);
        let base = run_dir().join(name);
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("kubeadm.yaml"), config_yaml(&c, KUBE_VERSION)).unwrap();
        std::fs::write(base.join("unreachable.conf"), UNREACHABLE).unwrap();
        let node = Node {
            _dir: None,
            root: base,
            kubeadm: bin.join("kubeadm"),
        };
        node.init(&c);
        node
    })
}

/// This test process's directory for the pristine nodes (under the target
/// dir's tmp); directories of earlier runs whose process is gone are removed.
fn run_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubeadm-oracle");
        std::fs::create_dir_all(&base).unwrap();
        for e in std::fs::read_dir(&base).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("run-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let dir = base.join(format!("run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

// ---------------------------------------------------------------------------
// Comparing outputs

/// How two runs differ, in one line, or `None` when exit status, stdout and
/// stderr are the same bytes.
fn differs(kubeadm: &Output, kcerts_out: &Output, node: &Node) -> Option<String> {
    let (ks, ke) = (stdout(kubeadm), stderr(kubeadm));
    let (cs, ce) = (
        same_residual_time(&ks, &node.unroot(&stdout(kcerts_out))),
        node.unroot(&stderr(kcerts_out)),
    );
    let mut how = Vec::new();
    if kubeadm.status.code() != kcerts_out.status.code() {
        how.push(format!(
            "exit {:?} vs {:?}",
            kubeadm.status.code(),
            kcerts_out.status.code()
        ));
    }
    if ks != cs {
        how.push(format!("stdout: {}", first_difference(&ks, &cs)));
    }
    if ke != ce {
        how.push(format!("stderr: {}", first_difference(&ke, &ce)));
    }
    (!how.is_empty()).then(|| how.join("; "))
}

/// kcerts' output with each `residualTime` that is within 2 s of kubeadm's on
/// the same line taken as kubeadm's: on a loaded machine the two runs may fall
/// in different seconds (json and yaml count residual time in seconds).
fn same_residual_time(kubeadm: &str, kcerts_out: &str) -> String {
    let number = |l: &str| {
        l.trim_end_matches(',')
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse::<i64>().ok())
    };
    let mut out: Vec<String> = Vec::new();
    let klines: Vec<&str> = kubeadm.lines().collect();
    for (i, l) in kcerts_out.lines().enumerate() {
        let k = klines.get(i).copied().unwrap_or("");
        let close = l.contains("residualTime")
            && k.contains("residualTime")
            && matches!((number(k), number(l)), (Some(a), Some(b)) if (a - b).abs() <= 2);
        out.push(if close { k.to_string() } else { l.to_string() });
    }
    let mut s = out.join("\n");
    if kcerts_out.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// The first line where `a` (kubeadm) and `b` (kcerts) differ.
fn first_difference(a: &str, b: &str) -> String {
    let (al, bl): (Vec<_>, Vec<_>) = (a.lines().collect(), b.lines().collect());
    for i in 0..al.len().max(bl.len()) {
        let (x, y) = (al.get(i), bl.get(i));
        if x != y {
            return format!(
                "line {}: kubeadm {:?}, kcerts {:?}",
                i + 1,
                x.copied().unwrap_or("<none>"),
                y.copied().unwrap_or("<none>")
            );
        }
    }
    "only in trailing newlines".into()
}

/// Runs kubeadm, then kcerts, then kubeadm again, and returns the kubeadm
/// run kcerts' output equals (residual times count whole seconds, so a second
/// boundary may fall between two runs; kcerts runs between the two kubeadm
/// runs, so it matches one of them); up to 5 rounds, then the first round.
fn same_second(node: &Node, kubeadm_args: &[&str], kcerts_args: &[&str]) -> (Output, Output) {
    let same = |k: &Output, c: &Output| differs(k, c, node).is_none();
    let mut first = None;
    for _ in 0..5 {
        let a = node.kubeadm(kubeadm_args);
        let b = node.kcerts(kcerts_args);
        let c = node.kubeadm(kubeadm_args);
        if same(&a, &b) {
            return (a, b);
        }
        if same(&c, &b) {
            return (c, b);
        }
        if a.stdout == c.stdout && a.stderr == c.stderr {
            // No boundary fell between them: a real difference.
            return (a, b);
        }
        first.get_or_insert((a, b));
    }
    first.unwrap()
}

/// One comparison of the matrix: configuration, output, and how they differ.
struct Finding {
    case: String,
    check: String,
    diff: Option<String>,
}

/// Differences the matrix knows about: (configuration or `*`, check or `*`,
/// the difference: issue 22's item number, or a new number from 12 on; 17:
/// kubeadm's warning about a long certificateValidityPeriod is a klog line,
/// "W1206 20:48:10.362162 29281 validation.go:79] WARNING: ...", kcerts'
/// has no klog header; 18: renew's lines: kubeadm prints one "certificate ...
/// renewed" line per row and "Done renewing certificates. You must restart
/// ...", kcerts its backup line and its own).
/// The first entry that matches counts, so a configuration's own entries
/// come before the `*` ones.
const KNOWN: &[(&str, &str, &str)] = &[
    // check-expiration
    ("validity-long", "check-expiration -o text --config", "17"),
    ("validity-long", "check-expiration -o json --config", "17"),
    ("validity-long", "check-expiration -o yaml --config", "17"),
    // Items 1 and 2, kept: offline, kubeadm refuses the external-etcd node
    // without its configuration; kcerts reads external etcd from the static
    // pod manifests (no etcd.yaml, --etcd-servers elsewhere) and reports.
    (
        "external-etcd",
        "check-expiration -o text cluster unreachable / --from-cluster",
        "1, 2",
    ),
    (
        "external-etcd",
        "check-expiration -o json cluster unreachable / --from-cluster",
        "1, 2",
    ),
    (
        "external-etcd",
        "check-expiration -o yaml cluster unreachable / --from-cluster",
        "1, 2",
    ),
    (
        "external-etcd",
        "check-expiration -o text cluster unreachable / no flag",
        "1, 2",
    ),
    (
        "external-etcd",
        "check-expiration -o json cluster unreachable / no flag",
        "1, 2",
    ),
    (
        "external-etcd",
        "check-expiration -o yaml cluster unreachable / no flag",
        "1, 2",
    ),
    (
        "*",
        "check-expiration -o text cluster unreachable / no flag",
        "2",
    ),
    // renewal (kept on purpose: without a configuration kcerts keeps each key's
    // type and size, kubeadm falls back to RSA-2048; see `kcerts renew --help`)
    ("ecdsa-p256", "renewed (no config) *", "kept: key type"),
    ("ecdsa-p384", "renewed (no config) *", "kept: key type"),
    ("rsa-3072", "renewed (no config) *", "kept: key size"),
    ("rsa-4096", "renewed (no config) *", "kept: key size"),
    ("external-etcd", "renew all no config: refusal", "1, 2"),
    ("*", "renew all --config: stdout", "18"),
    // 20: kubeadm reading a reachable cluster warns (klog) about the
    // cluster's other component configs, which kcerts does not read.
    (
        "external-etcd",
        "check-expiration -o text reachable cluster: stderr",
        "20",
    ),
    (
        "external-etcd",
        "check-expiration -o json reachable cluster: stderr",
        "20",
    ),
    (
        "external-etcd",
        "check-expiration -o yaml reachable cluster: stderr",
        "20",
    ),
    ("*", "renew all no config: stdout", "2, 18"),
    // broken PKIs
    ("missing CA certificate", "*", "14"),
    ("missing leaf under an external CA", "*", "14"),
    ("missing leaf key under an external CA", "*", "14"),
    ("garbage certificate", "*", "14, 15"),
    ("garbage kubeconfig", "*", "14, 15"),
];

fn known(case: &str, check: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|(c, k, _)| {
            (*c == "*" || *c == case)
                && (*k == "*"
                    || *k == check
                    || k.strip_suffix('*').is_some_and(|p| check.starts_with(p)))
        })
        .map(|(_, _, d)| *d)
}

/// Prints the table and fails on a difference not listed in [`KNOWN`].
fn judge(title: &str, findings: &[Finding]) {
    let mut table = format!("\n== {title}: configuration x output\n");
    let mut unknown = Vec::new();
    for f in findings {
        let verdict = match (&f.diff, known(&f.case, &f.check)) {
            (None, _) => "same".to_string(),
            (Some(d), Some(k)) => format!("differs (difference {k}): {d}"),
            (Some(d), None) => {
                unknown.push(format!("{} x {}: {d}", f.case, f.check));
                format!("DIFFERS (new): {d}")
            }
        };
        table.push_str(&format!("{:<15} {:<40} {verdict}\n", f.case, f.check));
    }
    println!("{table}");
    assert!(
        unknown.is_empty(),
        "kcerts differs from the real kubeadm where no known difference says so (the \
         table above has every comparison):\n{}",
        unknown.join("\n")
    );
}

// ---------------------------------------------------------------------------
// (1) check-expiration

/// The ways check-expiration is asked: (label, kubeadm's flags, kcerts' flags).
const EXPIRATION_VARIANTS: &[(&str, &[&str], &[&str])] = &[
    (
        "--config",
        &["--config", "/kubeadm.yaml"],
        &["--config", "@/kubeadm.yaml"],
    ),
    (
        "cluster unreachable / --from-cluster",
        &["--kubeconfig", "/unreachable.conf"],
        &["--from-cluster", "--kubeconfig", "@/unreachable.conf"],
    ),
    (
        "cluster unreachable / no flag",
        &["--kubeconfig", "/unreachable.conf"],
        &[],
    ),
];

/// kcerts' arguments with `@/path` turned into the path inside the root.
fn rooted(node: &Node, args: &[&str]) -> Vec<String> {
    args.iter()
        .map(|a| match a.strip_prefix('@') {
            Some(p) => node.path(p),
            None => a.to_string(),
        })
        .collect()
}

fn check_expiration_finding(node: &Node, case: &str, variant: usize, form: &str) -> Finding {
    let (label, kubeadm_flags, kcerts_flags) = EXPIRATION_VARIANTS[variant];
    let mut ka = vec!["certs", "check-expiration", "-o", form];
    ka.extend_from_slice(kubeadm_flags);
    let kflags = rooted(node, kcerts_flags);
    let mut ca = vec!["check-expiration", "-o", form];
    ca.extend(kflags.iter().map(String::as_str));
    let (k, c) = same_second(node, &ka, &ca);
    Finding {
        case: case.into(),
        check: format!("check-expiration -o {form} {label}"),
        diff: differs(&k, &c, node),
    }
}

fn check_expiration_findings(bin: &Path, case: &str) -> Vec<Finding> {
    let node = pristine(bin, case);
    let mut v = Vec::new();
    for variant in 0..EXPIRATION_VARIANTS.len() {
        for form in ["text", "json", "yaml"] {
            v.push(check_expiration_finding(node, case, variant, form));
        }
    }
    v
}

#[test]
fn check_expiration_is_kubeadms_on_every_configuration() {
    let Some(bin) = kube_bin() else { return };
    let findings: Vec<Finding> = MATRIX
        .iter()
        .flat_map(|c| check_expiration_findings(&bin, c.name))
        .collect();
    judge("check-expiration", &findings);
}

/// `kcerts verify` with ARGS on a node kubeadm made. Expiry is not what is
/// checked (validity-short lasts 48h): thresholds of 2h and 1h.
fn kcerts_verify(node: &Node, args: &[&str]) -> Output {
    let mut v = vec!["verify", "--warn", "2h", "--crit", "1h"];
    v.extend_from_slice(args);
    node.kcerts(&v)
}

/// `None` when a verify run has no `fail` row (a row starting with `fail`,
/// not the summary line "80 checks: 78 pass, 2 warn, 0 fail") and exits 0 or 2
/// (the warnings are the kubelet's: kubeadm's kubelet.conf embeds its client
/// certificate, and no kubelet ran); else the exit status, the failed rows and
/// stderr.
fn verify_has_no_fail_row(out: &Output) -> Option<String> {
    let failed: Vec<_> = stdout(out)
        .lines()
        .filter(|l| l.starts_with("fail"))
        .map(str::to_string)
        .collect();
    (!matches!(out.status.code(), Some(0 | 2)) || !failed.is_empty()).then(|| {
        format!(
            "exit {:?}: {failed:?} {}",
            out.status.code(),
            stderr(out).trim()
        )
    })
}

/// `kcerts verify --config` on a node kubeadm made: no `fail` row.
fn verify_finding(node: &Node, case: &str) -> Finding {
    let out = kcerts_verify(node, &["--config", &node.path("/kubeadm.yaml")]);
    Finding {
        case: case.into(),
        check: "kcerts verify --config".into(),
        diff: verify_has_no_fail_row(&out),
    }
}

/// verify on every node kubeadm v1.37 made (difference 19: it failed kubeadm
/// v1.37's apiserver-kubelet-client, which has no O).
#[test]
fn verify_passes_every_node_kubeadm_made() {
    let Some(bin) = kube_bin() else { return };
    let findings: Vec<Finding> = MATRIX
        .iter()
        .map(|c| verify_finding(pristine(&bin, c.name), c.name))
        .collect();
    judge("verify", &findings);
}

/// Item 9: a validity in days (`30d`) is no Go duration: kubeadm refuses the
/// configuration, and so does kcerts (exit 1 both; the words differ, 15).
#[test]
fn durations_in_days_are_refused_as_kubeadm_refuses_them() {
    let Some(bin) = kube_bin() else { return };
    let c = Case {
        cluster: "certificateValidityPeriod: 30d\n",
        ..matrix_case("rsa-2048")
    };
    let node = Node::copy_of(pristine(&bin, "rsa-2048"));
    std::fs::write(node.root.join("days.yaml"), config_yaml(&c, KUBE_VERSION)).unwrap();
    let k = node.kubeadm(&["certs", "check-expiration", "--config", "/days.yaml"]);
    let out = node.kcerts(&["check-expiration", "--config", &node.path("/days.yaml")]);
    assert_eq!(k.status.code(), Some(1), "kubeadm: {}", stderr(&k));
    assert_eq!(out.status.code(), Some(1), "kcerts: {}", stderr(&out));
    assert!(stderr(&k).contains("30d"), "{}", stderr(&k));
    assert!(
        stderr(&out).contains("certificateValidityPeriod: \"30d\""),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------
// Profiles: what must be the same in two certificates, CSRs or kubeconfigs

/// A line of `openssl ... -text` that is only hex bytes (a modulus, a public
/// point, a signature, a serial number, a key identifier): these differ.
fn is_hex_bytes(line: &str) -> bool {
    let t = line.trim().trim_start_matches("keyid:");
    t.contains(':') && t.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
}

/// What openssl prints of a certificate or CSR (`x509` or `req`), without the
/// parts that differ between two issuances (serial, dates, key and signature
/// bytes, key identifier values; their presence stays): subject, issuer, key
/// algorithm and size, every extension in order with its criticality and
/// values, signature algorithm. A certificate gets its validity length.
fn openssl_profile(kind: &str, pem: &[u8], scratch: &Path) -> Vec<String> {
    let f = scratch.join(format!("profile.{kind}.pem"));
    std::fs::write(&f, pem).unwrap();
    let out = run(
        "openssl",
        [kind, "-noout", "-text", "-in", &f.display().to_string()],
    );
    assert_ok(&out, &format!("openssl {kind} -text"));
    let mut lines: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !is_hex_bytes(l))
        .map(str::trim)
        .filter(|l| {
            !l.starts_with("Serial Number")
                && !l.starts_with("Not Before")
                && !l.starts_with("Not After")
        })
        .map(String::from)
        .collect();
    if kind == "x509" {
        let cert = kcerts_core::certificate::parse_first(pem).unwrap();
        lines.push(format!(
            "validity: {} s",
            (cert.not_after - cert.not_before).whole_seconds()
        ));
    }
    lines
}

/// A kubeconfig as kubectl reads it: cluster, context and user names, servers,
/// CA data, the client certificate's profile, whether a key is embedded.
fn kubeconfig_profile(conf: &Path, scratch: &Path) -> Vec<String> {
    let out = run(
        "kubectl",
        [
            "config",
            "view",
            "--raw",
            "-o",
            "json",
            "--kubeconfig",
            &conf.display().to_string(),
        ],
    );
    assert_ok(&out, "kubectl config view");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut lines = vec![format!("current-context: {}", v["current-context"])];
    for c in v["clusters"].as_array().into_iter().flatten() {
        lines.push(format!(
            "cluster {} server {} ca-data {} bytes {}",
            c["name"],
            c["cluster"]["server"],
            c["cluster"]["certificate-authority-data"]
                .as_str()
                .map_or(0, str::len),
            short_hash(
                c["cluster"]["certificate-authority-data"]
                    .as_str()
                    .unwrap_or("")
            )
        ));
    }
    for c in v["contexts"].as_array().into_iter().flatten() {
        lines.push(format!(
            "context {} cluster {} user {}",
            c["name"], c["context"]["cluster"], c["context"]["user"]
        ));
    }
    for u in v["users"].as_array().into_iter().flatten() {
        let user = &u["user"];
        let keys: Vec<_> = user
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        lines.push(format!("user {} fields {keys:?}", u["name"]));
        if let Some(data) = user["client-certificate-data"].as_str() {
            use base64::Engine;
            let pem = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap();
            lines.extend(
                openssl_profile("x509", &pem, scratch)
                    .into_iter()
                    .map(|l| format!("  {l}")),
            );
        }
    }
    lines
}

/// A short, stable digest of a string (to say "the same CA data" in a line).
fn short_hash(s: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The first differing line of two profiles, or `None`.
fn profile_difference(kubeadm: &[String], kcerts_p: &[String]) -> Option<String> {
    (kubeadm != kcerts_p).then(|| {
        for i in 0..kubeadm.len().max(kcerts_p.len()) {
            if kubeadm.get(i) != kcerts_p.get(i) {
                return format!(
                    "kubeadm {:?}, kcerts {:?}",
                    kubeadm.get(i).map_or("<none>", String::as_str),
                    kcerts_p.get(i).map_or("<none>", String::as_str)
                );
            }
        }
        unreachable!()
    })
}

/// Certificates (`pki/...crt`) and kubeconfigs (`*.conf`) under a node's
/// etc/kubernetes, relative paths, sorted; backups (`tmp/`) left out.
fn node_files_of(etc: &Path) -> Vec<String> {
    let mut v = Vec::new();
    let mut stack = vec![etc.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(etc).unwrap().display().to_string();
            if p.is_dir() {
                if rel != "tmp" && rel != "manifests" {
                    stack.push(p);
                }
            } else if rel.ends_with(".crt") || rel.ends_with(".conf") || rel.ends_with(".csr") {
                v.push(rel);
            }
        }
    }
    v.sort();
    v
}

fn file_profile(path: &Path, scratch: &Path) -> Vec<String> {
    let name = path.display().to_string();
    if name.ends_with(".conf") {
        kubeconfig_profile(path, scratch)
    } else if name.ends_with(".csr") {
        openssl_profile("req", &std::fs::read(path).unwrap(), scratch)
    } else {
        openssl_profile("x509", &std::fs::read(path).unwrap(), scratch)
    }
}

/// Compares every certificate and kubeconfig of two trees field by field;
/// one finding per file, named `<prefix> <file>`.
fn compare_trees(case: &str, prefix: &str, kubeadm_etc: &Path, kcerts_etc: &Path) -> Vec<Finding> {
    let scratch = tempdir();
    let (a, b) = (node_files_of(kubeadm_etc), node_files_of(kcerts_etc));
    let mut v = Vec::new();
    if a != b {
        v.push(Finding {
            case: case.into(),
            check: format!("{prefix} files"),
            diff: Some(format!("kubeadm {a:?}, kcerts {b:?}")),
        });
    }
    for f in a.iter().filter(|f| b.contains(f)) {
        let pa = file_profile(&kubeadm_etc.join(f), scratch.path());
        let pb = file_profile(&kcerts_etc.join(f), scratch.path());
        v.push(Finding {
            case: case.into(),
            check: format!("{prefix} {f}"),
            diff: profile_difference(&pa, &pb),
        });
    }
    v
}

// ---------------------------------------------------------------------------
// (2, 3) Renewal both ways

/// `renew all` by kubeadm and by kcerts on two copies of the case's node,
/// with the configuration or without (kubeadm falling back from an
/// unreachable cluster); then each tool reads the other's result, and the
/// renewed files are compared field by field.
fn renewal_findings(bin: &Path, case: &str, with_config: bool) -> Vec<Finding> {
    let pristine = pristine(bin, case);
    let by_kubeadm = Node::copy_of(pristine);
    let by_kcerts = Node::copy_of(pristine);
    let label = if with_config { "--config" } else { "no config" };
    let kubeadm_flags: &[&str] = if with_config {
        &["--config", "/kubeadm.yaml"]
    } else {
        &["--kubeconfig", "/unreachable.conf"]
    };
    let kcerts_config = by_kcerts.path("/kubeadm.yaml");
    let kcerts_flags: Vec<&str> = if with_config {
        vec!["--config", &kcerts_config]
    } else {
        vec![]
    };
    let mut v = Vec::new();
    let mut finding = |check: String, diff: Option<String>| {
        v.push(Finding {
            case: case.into(),
            check,
            diff,
        })
    };

    let mut ka = vec!["certs", "renew", "all"];
    ka.extend_from_slice(kubeadm_flags);
    let k = by_kubeadm.kubeadm(&ka);
    let mut ca = vec!["renew", "all"];
    ca.extend_from_slice(&kcerts_flags);
    let c = by_kcerts.kcerts(&ca);
    if !k.status.success() {
        // kubeadm refuses (it may have renewed some rows first): both refusals.
        finding(
            format!("renew all {label}: refusal"),
            differs(&k, &c, &by_kcerts),
        );
        return v;
    }
    finding(
        format!("renew all {label}: exit"),
        (k.status.code() != c.status.code()).then(|| {
            format!(
                "exit {:?} vs {:?}: {}",
                k.status.code(),
                c.status.code(),
                stderr(&c).trim()
            )
        }),
    );
    finding(
        format!("renew all {label}: stdout"),
        (stdout(&k) != by_kcerts.unroot(&stdout(&c)))
            .then(|| first_difference(&stdout(&k), &by_kcerts.unroot(&stdout(&c)))),
    );

    // kubeadm's renewal read by kcerts: check-expiration and verify.
    let mut ce = vec!["check-expiration"];
    ce.extend_from_slice(&kcerts_flags);
    let out = by_kubeadm.kcerts(&ce);
    finding(
        format!("kubeadm renew -> kcerts check-expiration {label}"),
        (!out.status.success())
            .then(|| format!("exit {:?}: {}", out.status.code(), stderr(&out).trim())),
    );
    let out = kcerts_verify(&by_kubeadm, &kcerts_flags);
    finding(
        format!("kubeadm renew -> kcerts verify {label}"),
        verify_has_no_fail_row(&out),
    );

    if c.status.success() {
        // kcerts' renewal read by kubeadm: every row, and kubeadm renews it again.
        let mut kc = vec!["certs", "check-expiration", "-o", "json"];
        kc.extend_from_slice(kubeadm_flags);
        let missing = |out: &Output| -> Vec<String> {
            let json: serde_json::Value = serde_json::from_str(&stdout(out)).unwrap();
            json["certificates"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["missing"] == true)
                .map(|c| c["name"].to_string())
                .collect()
        };
        let out = by_kcerts.kubeadm(&kc);
        let diff = if out.status.success() {
            // The rows kubeadm calls missing on its own renewal (a secondary
            // node has no super-admin.conf) may be missing here too.
            let (got, own) = (missing(&out), missing(&by_kubeadm.kubeadm(&kc)));
            (got != own).then(|| format!("missing rows {got:?}, on kubeadm's renewal {own:?}"))
        } else {
            Some(format!(
                "exit {:?}: {}",
                out.status.code(),
                stderr(&out).trim()
            ))
        };
        finding(
            format!("kcerts renew -> kubeadm check-expiration {label}"),
            diff,
        );
        let again = Node::copy_of(&by_kcerts);
        let out = again.kubeadm(&ka);
        finding(
            format!("kcerts renew -> kubeadm renew all {label}"),
            (!out.status.success())
                .then(|| format!("exit {:?}: {}", out.status.code(), stderr(&out).trim())),
        );
        v.extend(compare_trees(
            case,
            &format!("renewed ({label})"),
            &by_kubeadm.etc(),
            &by_kcerts.etc(),
        ));
    }
    v
}

/// Renewal both ways on every configuration, with and without the
/// configuration: each tool reads and renews the other's result, and the
/// renewed files are the same field by field (only serial, key, signature and
/// dates differ).
#[test]
#[ignore = "about 20 minutes on 2 cores, more than CI can give: run it with `cargo test -p \
            kcerts-tests --test e2e -- --ignored --exact \
            kubeadm_oracle::renewal_both_ways_gives_kubeadms_certificates_on_every_configuration`"]
fn renewal_both_ways_gives_kubeadms_certificates_on_every_configuration() {
    let Some(bin) = kube_bin() else { return };
    let findings: Vec<Finding> = MATRIX
        .iter()
        .flat_map(|c| {
            let mut v = renewal_findings(&bin, c.name, true);
            v.extend(renewal_findings(&bin, c.name, false));
            v
        })
        .collect();
    judge("renewal", &findings);
}

// ---------------------------------------------------------------------------
// (4) generate-csr

/// `certs generate-csr --config` by both tools into empty directories: the
/// same files, each CSR and kubeconfig the same field by field, and the same
/// lines (kubeadm's order is random, so sorted).
fn generate_csr_findings(bin: &Path, c: &Case) -> Vec<Finding> {
    generate_csr_on(&Node::empty(bin, c), c.name)
}

/// generate-csr by the node's kubeadm and by kcerts, on its configuration.
fn generate_csr_on(node: &Node, name: &str) -> Vec<Finding> {
    for d in ["kubeadm/pki", "kcerts/pki"] {
        std::fs::create_dir_all(node.root.join(d)).unwrap();
    }
    let k = node.kubeadm(&[
        "certs",
        "generate-csr",
        "--config",
        "/kubeadm.yaml",
        "--cert-dir",
        "/kubeadm/pki",
        "--kubeconfig-dir",
        "/kubeadm",
    ]);
    let cfg = node.path("/kubeadm.yaml");
    let out = kcerts([
        "generate-csr",
        "--config",
        &cfg,
        "--cert-dir",
        &node.path("/kcerts/pki"),
        "--kubeconfig-dir",
        &node.path("/kcerts"),
    ]);
    if !k.status.success() {
        return refusal_findings(name, "generate-csr --config", &k, &out);
    }
    let sorted = |s: String| {
        let mut l: Vec<_> = s.lines().map(str::to_string).collect();
        l.sort();
        l.join("\n")
    };
    let ks = sorted(stdout(&k));
    let cs = sorted(node.unroot(&stdout(&out)).replace("/kcerts", "/kubeadm"));
    let mut v = vec![
        Finding {
            case: name.into(),
            check: "generate-csr --config: exit".into(),
            diff: (k.status.code() != out.status.code()).then(|| {
                format!(
                    "exit {:?} vs {:?}: {}",
                    k.status.code(),
                    out.status.code(),
                    stderr(&out).trim()
                )
            }),
        },
        Finding {
            case: name.into(),
            check: "generate-csr --config: lines".into(),
            diff: (ks != cs).then(|| first_difference(&ks, &cs)),
        },
    ];
    if out.status.success() {
        v.extend(compare_trees(
            name,
            "generate-csr",
            &node.root.join("kubeadm"),
            &node.root.join("kcerts"),
        ));
    }
    v
}

/// The words a configuration refusal names its cause by, in kubeadm's
/// message and in kcerts' (whose wording is its own: difference 15).
const REFUSAL_CAUSES: &[&str] = &["encryptionAlgorithm", "PublicKeysECDSA", "v1beta3"];

/// kubeadm refused: kcerts refuses too (the same exit status) and names the
/// same cause.
fn refusal_findings(
    name: &str,
    check: &str,
    kubeadm: &Output,
    kcerts_out: &Output,
) -> Vec<Finding> {
    let (ke, ce) = (stderr(kubeadm), stderr(kcerts_out));
    let cause = REFUSAL_CAUSES.iter().find(|w| ke.contains(*w));
    vec![
        Finding {
            case: name.into(),
            check: format!("{check}: exit"),
            diff: (kubeadm.status.code() != kcerts_out.status.code()).then(|| {
                format!(
                    "exit {:?} vs {:?}: kubeadm {:?}",
                    kubeadm.status.code(),
                    kcerts_out.status.code(),
                    ke.lines().next().unwrap_or("")
                )
            }),
        },
        Finding {
            case: name.into(),
            check: format!("{check}: refusal names its cause"),
            diff: match cause {
                Some(w) if ce.contains(*w) => None,
                _ => Some(format!(
                    "kubeadm {:?}, kcerts {:?}",
                    ke.lines().next().unwrap_or(""),
                    ce.trim()
                )),
            },
        },
    ]
}

#[test]
fn generate_csr_is_kubeadms_on_every_configuration() {
    let Some(bin) = kube_bin() else { return };
    let findings: Vec<Finding> = MATRIX
        .iter()
        .filter(|c| c.setup == Setup::Plain)
        .flat_map(|c| generate_csr_findings(&bin, c))
        .collect();
    judge("generate-csr", &findings);
}

// ---------------------------------------------------------------------------
// (5) Broken PKIs

/// A way to break a copy of the RSA-2048 node: (name, what to do).
type Break = (&'static str, fn(&Node));

const BREAKS: &[Break] = &[
    ("key mismatch", |n| {
        std::fs::copy(
            n.pki().join("apiserver-kubelet-client.key"),
            n.pki().join("apiserver.key"),
        )
        .unwrap();
    }),
    ("wrong CA", |n| {
        std::fs::copy(n.pki().join("front-proxy-ca.crt"), n.pki().join("ca.crt")).unwrap();
        std::fs::copy(n.pki().join("front-proxy-ca.key"), n.pki().join("ca.key")).unwrap();
    }),
    ("missing leaf under an external CA", |n| {
        std::fs::remove_file(n.pki().join("ca.key")).unwrap();
        std::fs::remove_file(n.pki().join("apiserver.crt")).unwrap();
    }),
    ("missing leaf key under an external CA", |n| {
        std::fs::remove_file(n.pki().join("ca.key")).unwrap();
        std::fs::remove_file(n.pki().join("apiserver.key")).unwrap();
    }),
    ("garbage certificate", |n| {
        std::fs::write(n.pki().join("apiserver.crt"), "garbage\n").unwrap();
    }),
    ("garbage kubeconfig", |n| {
        std::fs::write(n.etc().join("admin.conf"), "garbage\n").unwrap();
    }),
    ("missing CA certificate", |n| {
        std::fs::remove_file(n.pki().join("ca.crt")).unwrap();
    }),
];

fn broken_findings(bin: &Path) -> Vec<Finding> {
    let pristine = pristine(bin, "rsa-2048");
    let mut v = Vec::new();
    for (name, break_it) in BREAKS {
        for (label, ka, ca) in [
            (
                "check-expiration --config",
                &["certs", "check-expiration", "--config", "/kubeadm.yaml"][..],
                &["check-expiration", "--config", "@/kubeadm.yaml"][..],
            ),
            (
                "renew all --config",
                &["certs", "renew", "all", "--config", "/kubeadm.yaml"],
                &["renew", "all", "--config", "@/kubeadm.yaml"],
            ),
        ] {
            let (k_node, c_node) = (Node::copy_of(pristine), Node::copy_of(pristine));
            break_it(&k_node);
            break_it(&c_node);
            let k = k_node.kubeadm(ka);
            let cargs = rooted(&c_node, ca);
            let c = c_node.kcerts(&cargs.iter().map(String::as_str).collect::<Vec<_>>());
            let (same_exit, k_err, c_err) = (
                k.status.code() == c.status.code(),
                stderr(&k),
                c_node.unroot(&stderr(&c)),
            );
            let diff = if !same_exit || k_err != c_err {
                Some(format!(
                    "exit {:?} vs {:?}; stderr {}",
                    k.status.code(),
                    c.status.code(),
                    first_difference(&k_err, &c_err)
                ))
            } else {
                None
            };
            v.push(Finding {
                case: (*name).into(),
                check: label.into(),
                diff,
            });
        }
    }
    v
}

#[test]
fn broken_pkis_are_refused_as_kubeadm_refuses_them() {
    let Some(bin) = kube_bin() else { return };
    judge("broken PKIs (rsa-2048 node)", &broken_findings(&bin));
}

// ---------------------------------------------------------------------------
// kubeadm at the older minor

/// kubeadm v1.34 (tests/kube/v1.34) on nodes it made itself: check-expiration
/// in every form and variant, beside kcerts. Outputs that changed between
/// kubeadm releases show here; ECDSA-P384 shows whether that release takes it.
#[test]
fn check_expiration_is_kubeadm_v1_34s_on_its_own_nodes() {
    let Some(bin) = kube_bin() else { return };
    let old = bin.join("kubeadm-1.34");
    if !old.is_file() {
        eprintln!(
            "skipped: {} is not built (scripts/kube-binaries.sh builds it by default)",
            old.display()
        );
        return;
    }
    let mut findings = Vec::new();
    for name in ["rsa-2048", "ecdsa-p384"] {
        let c = matrix_case(name);
        let node = Node::empty_with(old.clone(), &config_yaml(&c, OLD_KUBE_VERSION));
        let out = node.kubeadm(&["init", "phase", "certs", "all", "--config", "/kubeadm.yaml"]);
        if !out.status.success() {
            // kcerts (no kubeadm version to go by) takes the configuration.
            let kc = kcerts([
                "generate-csr",
                "--config",
                &node.path("/kubeadm.yaml"),
                "--cert-dir",
                &node.path("/csr/pki"),
                "--kubeconfig-dir",
                &node.path("/csr"),
            ]);
            findings.push(Finding {
                case: format!("{name} (v1.34)"),
                check: "configuration accepted".into(),
                diff: Some(format!(
                    "kubeadm v1.34 refuses ({}), kcerts generate-csr exit {:?}",
                    stderr(&out).lines().next().unwrap_or(""),
                    kc.status.code()
                )),
            });
            continue;
        }
        let fresh = Node::empty_with(old.clone(), &config_yaml(&c, OLD_KUBE_VERSION));
        let mut csr = generate_csr_on(&fresh, name);
        node.init(&c);
        for variant in 0..EXPIRATION_VARIANTS.len() {
            for form in ["text", "json", "yaml"] {
                let mut f = check_expiration_finding(&node, name, variant, form);
                f.case = format!("{name} (v1.34)");
                findings.push(f);
            }
        }
        // kubernetesVersion v1.34.4: kcerts writes v1.34's subjects
        // (apiserver-kubelet-client with O=kubeadm:cluster-admins), and verify
        // passes what v1.34 wrote.
        for f in &mut csr {
            f.case = format!("{name} (v1.34)");
        }
        findings.extend(csr);
        findings.push(verify_finding(&node, &format!("{name} (v1.34)")));
    }
    judge("kubeadm v1.34.4", &findings);
}

// ---------------------------------------------------------------------------
// Item 11: encryptionAlgorithm's spellings and the PublicKeysECDSA gate

/// (row, kubeadm binary, kubernetesVersion, API version, ClusterConfiguration
/// lines). kubeadm v1.37 reads only v1beta4 and knows no PublicKeysECDSA;
/// v1.34 reads v1beta3 too and lets the gate (true: ECDSA-P256, false:
/// RSA-2048) win over encryptionAlgorithm; both take only the exact names.
const ALGORITHM_ROWS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "v1.37 ECDSA-P256",
        "kubeadm",
        KUBE_VERSION,
        "v1beta4",
        "encryptionAlgorithm: ECDSA-P256\n",
    ),
    (
        "v1.37 ecdsa-p256",
        "kubeadm",
        KUBE_VERSION,
        "v1beta4",
        "encryptionAlgorithm: ecdsa-p256\n",
    ),
    (
        "v1.37 RSA-3072",
        "kubeadm",
        KUBE_VERSION,
        "v1beta4",
        "encryptionAlgorithm: RSA-3072\n",
    ),
    (
        "v1.37 rsa-3072",
        "kubeadm",
        KUBE_VERSION,
        "v1beta4",
        "encryptionAlgorithm: rsa-3072\n",
    ),
    (
        "v1.37 ED25519",
        "kubeadm",
        KUBE_VERSION,
        "v1beta4",
        "encryptionAlgorithm: ED25519\n",
    ),
    (
        "v1.37 ECDSA-P384",
        "kubeadm",
        KUBE_VERSION,
        "v1beta4",
        "encryptionAlgorithm: ECDSA-P384\n",
    ),
    (
        "v1.37 gate",
        "kubeadm",
        KUBE_VERSION,
        "v1beta4",
        "featureGates:\n  PublicKeysECDSA: true\n",
    ),
    (
        "v1.37 v1beta3 gate",
        "kubeadm",
        KUBE_VERSION,
        "v1beta3",
        "featureGates:\n  PublicKeysECDSA: true\n",
    ),
    (
        "v1.34 ecdsa-p256",
        "kubeadm-1.34",
        OLD_KUBE_VERSION,
        "v1beta4",
        "encryptionAlgorithm: ecdsa-p256\n",
    ),
    (
        "v1.34 ED25519",
        "kubeadm-1.34",
        OLD_KUBE_VERSION,
        "v1beta4",
        "encryptionAlgorithm: ED25519\n",
    ),
    (
        "v1.34 P384 for v1.33",
        "kubeadm-1.34",
        "v1.33.0",
        "v1beta4",
        "encryptionAlgorithm: ECDSA-P384\n",
    ),
    (
        "v1.34 gate on P384",
        "kubeadm-1.34",
        OLD_KUBE_VERSION,
        "v1beta4",
        "encryptionAlgorithm: ECDSA-P384\nfeatureGates:\n  PublicKeysECDSA: true\n",
    ),
    (
        "v1.34 gate off P384",
        "kubeadm-1.34",
        OLD_KUBE_VERSION,
        "v1beta4",
        "encryptionAlgorithm: ECDSA-P384\nfeatureGates:\n  PublicKeysECDSA: false\n",
    ),
    (
        "v1.34 v1beta3 gate",
        "kubeadm-1.34",
        OLD_KUBE_VERSION,
        "v1beta3",
        "featureGates:\n  PublicKeysECDSA: true\n",
    ),
    (
        "v1.34 v1beta3 off",
        "kubeadm-1.34",
        OLD_KUBE_VERSION,
        "v1beta3",
        "featureGates:\n  PublicKeysECDSA: false\n",
    ),
];

/// Item 11: each row's configuration given to kubeadm's and kcerts'
/// generate-csr: where kubeadm refuses, kcerts refuses (same exit, same
/// cause named); where it takes it, every CSR and kubeconfig is the same field
/// by field, the key's algorithm and size included.
#[test]
fn encryption_algorithm_and_the_ecdsa_gate_as_each_kubeadm_takes_them() {
    let Some(bin) = kube_bin() else { return };
    let mut findings = Vec::new();
    for &(row, kubeadm, release, api, cluster) in ALGORITHM_ROWS {
        if !bin.join(kubeadm).is_file() {
            eprintln!("skipped {row}: {kubeadm} is not built");
            continue;
        }
        let c = Case {
            cluster,
            ..matrix_case("rsa-2048")
        };
        let node = Node::empty_with(bin.join(kubeadm), &config_yaml_in(api, &c, release));
        findings.extend(generate_csr_on(&node, row));
    }
    judge("encryptionAlgorithm and PublicKeysECDSA", &findings);
}

// ---------------------------------------------------------------------------
// Item 2: without a configuration, verify takes the apiserver manifest

/// The verify rows of the apiserver, etcd-server and etcd-peer SANs.
fn san_rows(out: &Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|l| {
            let w: Vec<_> = l.split_whitespace().collect();
            w.len() > 2
                && ["apiserver", "etcd-server", "etcd-peer"].contains(&w[1])
                && w[2] == "sans"
        })
        .map(str::to_string)
        .collect()
}

/// Item 2: verify without `--config` on nodes kubeadm made with a
/// non-default serviceSubnet and advertise address takes both from the
/// kube-apiserver manifest (and says so on stderr): the SAN rows pass and
/// name the service IP and advertise address kubeadm put in the apiserver
/// certificate. Without the manifest, the same node's apiserver row warns
/// that it lacks the default service IP 10.96.0.1 (true, and beside the
/// point), and no row checks the advertise address; with another address in
/// the manifest, the three rows fail.
#[test]
fn verify_without_a_configuration_takes_the_apiserver_manifest() {
    let Some(bin) = kube_bin() else { return };
    let range = Case {
        advertise: "192.0.2.12",
        ..case(
            "service-range",
            "networking:\n  serviceSubnet: 10.100.0.0/16\n",
        )
    };
    let fresh = Node::empty(&bin, &range);
    fresh.init(&range);
    for (name, node, service_ip, advertise) in [
        ("service-range", &fresh, "10.100.0.1", "192.0.2.12"),
        (
            "ipv6",
            pristine(&bin, "ipv6"),
            "fd00:10:96::1",
            "2001:db8::11",
        ),
    ] {
        let cert = kcerts_core::certificate::parse_first(
            &std::fs::read(node.pki().join("apiserver.crt")).unwrap(),
        )
        .unwrap();
        for ip in [service_ip, advertise] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert!(
                cert.ip_addresses.contains(&ip),
                "{name}: kubeadm's apiserver.crt lacks {ip}"
            );
        }
        let out = kcerts_verify(node, &[]);
        assert_eq!(verify_has_no_fail_row(&out), None, "{name}");
        let rows = san_rows(&out);
        assert_eq!(rows.len(), 3, "{name}: {rows:?}");
        for r in &rows {
            assert!(r.starts_with("pass"), "{name}: {r}");
            assert!(
                r.contains(&format!("the advertise address {advertise}")),
                "{name}: {r}"
            );
        }
        assert!(
            rows[0].contains(&format!("the service IP {service_ip} ")),
            "{name}: {rows:?}"
        );
        let manifest = node.etc().join("manifests/kube-apiserver.yaml");
        assert!(
            node.unroot(&stderr(&out)).contains(&format!(
                "note: no kubeadm configuration was read (--config, --from-cluster); the SAN checks \
                 take the service range {}",
                if name == "ipv6" { "fd00:10:96::/112" } else { "10.100.0.0/16" }
            )) && stderr(&out).contains(&manifest.display().to_string()),
            "{name}: {}",
            stderr(&out)
        );

        // Without the manifest: what verify saw before.
        let bare = Node::copy_of(node);
        std::fs::remove_file(bare.etc().join("manifests/kube-apiserver.yaml")).unwrap();
        let out = kcerts_verify(&bare, &[]);
        let rows = san_rows(&out);
        println!("{name} without the manifest:\n{}", rows.join("\n"));
        assert!(
            !stderr(&out).contains("note: no kubeadm configuration"),
            "{name}"
        );
        assert!(
            rows.iter().all(|r| !r.contains("advertise")),
            "{name}: {rows:?}"
        );
        assert!(
            rows[0].starts_with("warn")
                && rows[0].contains("lacks IP:10.96.0.1, the default service IP"),
            "{name}: {rows:?}"
        );

        // Another address in the manifest: the three rows fail.
        let moved = Node::copy_of(node);
        let path = moved.etc().join("manifests/kube-apiserver.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let other = if name == "ipv6" {
            "2001:db8::99"
        } else {
            "192.0.2.99"
        };
        std::fs::write(
            &path,
            text.replace(
                &format!("--advertise-address={advertise}"),
                &format!("--advertise-address={other}"),
            ),
        )
        .unwrap();
        let out = kcerts_verify(&moved, &[]);
        let rows = san_rows(&out);
        assert_eq!(out.status.code(), Some(3), "{name}: {rows:?}");
        for r in &rows {
            assert!(
                r.starts_with("fail") && r.contains(&format!("IP:{other}")),
                "{name}: {r}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Item 1 against a reachable cluster

/// The objects kubeadm's FetchInitConfigurationFromCluster reads besides the
/// kubeadm-config ConfigMap, as `kubeadm init` and the kubelet leave them: the
/// node `cp-1` (named by the node's kubelet.conf) and its kube-apiserver
/// mirror pod with kubeadm's advertise-address annotation (the process
/// kubelet of [`RealCluster`] registers neither; the pod needs kube-system's
/// default ServiceAccount, which the controller-manager may not have made yet).
const NODE_OBJECTS: &str = "apiVersion: v1
kind: Node
metadata:
  name: cp-1
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: default
  namespace: kube-system
---
apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver-cp-1
  namespace: kube-system
  labels: {component: kube-apiserver, tier: control-plane}
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 192.0.2.11:6443
spec:
  nodeName: cp-1
  automountServiceAccountToken: false
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.37.2
";

/// Item 1 with the cluster reachable: the real API server holds a
/// kubeadm-config ConfigMap with `etcd.external` (uploaded by kubeadm's own
/// `init phase upload-config all --config`); on a node with kubeadm's
/// external-etcd layout, `kubeadm certs check-expiration` (which reads the
/// cluster by default) and `kcerts check-expiration --from-cluster` print the
/// same bytes, text, json and yaml: seven leaves and two CAs, no etcd row.
#[test]
fn external_etcd_read_from_a_reachable_cluster_as_kubeadm() {
    let Some(bin) = kcerts_tests::kube_bin::kube_bin(kcerts_tests::kube_bin::CONTROL_PLANE) else {
        return;
    };
    let node = Node::copy_of(pristine(&bin, "external-etcd"));
    let Some(cluster) = kcerts_tests::real_cluster::RealCluster::single() else {
        return;
    };
    std::fs::copy(
        cluster.nodes[0].admin_conf(),
        node.root.join("cluster.conf"),
    )
    .unwrap();
    let kubeadm = |args: &[&str]| {
        cluster
            .command(bin.join("kubeadm"))
            .arg("--rootfs")
            .arg(&node.root)
            .args(args)
            .output()
            .unwrap()
    };
    assert_ok(
        &kubeadm(&[
            "init",
            "phase",
            "upload-config",
            "all",
            "--config",
            "/kubeadm.yaml",
            "--kubeconfig",
            "/cluster.conf",
        ]),
        "kubeadm init phase upload-config all",
    );
    let objects = node.root.join("objects.yaml");
    std::fs::write(&objects, NODE_OBJECTS).unwrap();
    let out = cluster.kubectl(0, &["apply", "-f", &objects.display().to_string()]);
    assert_ok(&out, "kubectl apply the node and its apiserver pod");
    let cluster_conf = node.path("/cluster.conf");
    let (pki, etc) = (
        node.pki().display().to_string(),
        node.etc().display().to_string(),
    );
    let mut findings = Vec::new();
    for form in ["text", "json", "yaml"] {
        let ka = [
            "certs",
            "check-expiration",
            "-o",
            form,
            "--kubeconfig",
            "/cluster.conf",
        ];
        let ca = [
            "check-expiration",
            "-o",
            form,
            "--from-cluster",
            "--kubeconfig",
            &cluster_conf,
            "--cert-dir",
            &pki,
            "--kubeconfig-dir",
            &etc,
        ];
        let kcerts_run = || cluster.command(kcerts_bin()).args(ca).output().unwrap();
        // As same_second: kubeadm, kcerts, kubeadm; kcerts matches one of them.
        let (a, c, b) = (kubeadm(&ka[..]), kcerts_run(), kubeadm(&ka[..]));
        let out_of = |o: &Output| Output {
            stderr: Vec::new(),
            ..o.clone()
        };
        let err_of = |o: &Output| Output {
            stdout: Vec::new(),
            ..o.clone()
        };
        // Exit status and stdout; stderr on its own (kubeadm's klog lines).
        let stdout_diff = differs(&out_of(&a), &out_of(&c), &node)
            .and_then(|d| differs(&out_of(&b), &out_of(&c), &node).map(|_| d));
        println!("== -o {form}: kubeadm\n{}{}", stdout(&a), stderr(&a));
        findings.push(Finding {
            case: "external-etcd".into(),
            check: format!("check-expiration -o {form} reachable cluster / --from-cluster"),
            diff: stdout_diff,
        });
        findings.push(Finding {
            case: "external-etcd".into(),
            check: format!("check-expiration -o {form} reachable cluster: stderr"),
            diff: differs(&err_of(&a), &err_of(&c), &node),
        });
        if form == "text" {
            assert!(
                stdout(&a).contains("Reading configuration from the \"kubeadm-config\" ConfigMap")
                    && !stdout(&a).contains("Falling back"),
                "kubeadm did not read the cluster: {}{}",
                stdout(&a),
                stderr(&a)
            );
            assert!(!stdout(&a).contains("etcd-"), "{}", stdout(&a));
        }
    }
    judge("external etcd, reachable cluster", &findings);
}

// ---------------------------------------------------------------------------
// The known differences, one test each, asserting kubeadm's behaviour: ignored
// until kcerts is fixed (then un-ignored: they guard the fix) or the difference
// is kept on purpose (then documented in docs/kubeadm.md's "Differences from
// kubeadm" and this test turned into one that shows the kept behaviour).

/// Asserts the named checks were compared and are the same as kubeadm's.
fn assert_same(findings: Vec<Finding>, checks: &[&str]) {
    for check in checks {
        let f = findings
            .iter()
            .find(|f| f.check == *check)
            .unwrap_or_else(|| panic!("no comparison named {check:?}"));
        assert!(
            f.diff.is_none(),
            "{} x {}: {}",
            f.case,
            f.check,
            f.diff.as_ref().unwrap()
        );
    }
}

/// check-expiration by both tools on the case's node: (kubeadm, kcerts).
fn expiration_outputs(
    bin: &Path,
    case: &str,
    variant: usize,
    form: &str,
) -> (Output, Output, &'static Node) {
    let node = pristine(bin, case);
    let (_, kubeadm_flags, kcerts_flags) = EXPIRATION_VARIANTS[variant];
    let mut ka = vec!["certs", "check-expiration", "-o", form];
    ka.extend_from_slice(kubeadm_flags);
    let kflags = rooted(node, kcerts_flags);
    let mut ca = vec!["check-expiration", "-o", form];
    ca.extend(kflags.iter().map(String::as_str));
    let (k, c) = same_second(node, &ka, &ca);
    (k, c, node)
}

#[test]
#[ignore = "difference 2: without --config kubeadm reads the cluster and prints its three \
            fallback lines when it cannot; kcerts reads only the files and says nothing"]
fn difference_2_without_config_the_fallback_lines_as_kubeadm() {
    let Some(bin) = kube_bin() else { return };
    let (k, c, node) = expiration_outputs(&bin, "rsa-2048", 2, "text");
    assert_eq!(node.unroot(&stdout(&c)), stdout(&k));
}

/// Difference 3, fixed: dual-stack serviceSubnet: only the first subnet's service IP
/// goes into the apiserver SANs, as kubeadm's GetAPIServerVirtualIP.
#[test]
fn difference_3_dual_stack_service_ip_as_kubeadm() {
    let Some(bin) = kube_bin() else { return };
    let findings = generate_csr_findings(&bin, &matrix_case("dual-stack"));
    assert_same(findings, &["generate-csr pki/apiserver.csr"]);
}

/// Difference 4, fixed: an IPv6 advertise address without controlPlaneEndpoint is
/// bracketed (`https://[2001:db8::11]:6443`), no bogus `IP:...:6443` SAN.
#[test]
fn difference_4_ipv6_advertise_address_as_kubeadm() {
    let Some(bin) = kube_bin() else { return };
    let findings = generate_csr_findings(&bin, &matrix_case("ipv6"));
    assert_same(
        findings,
        &[
            "generate-csr pki/apiserver.csr",
            "generate-csr admin.conf",
            "generate-csr kubelet.conf",
            "generate-csr super-admin.conf",
        ],
    );
}

/// Difference 5, fixed: localAPIEndpoint.bindPort 7443 is the kubeconfigs' port.
#[test]
fn difference_5_bind_port_as_kubeadm() {
    let Some(bin) = kube_bin() else { return };
    let findings = generate_csr_findings(&bin, &matrix_case("bind-port"));
    assert_same(
        findings,
        &[
            "generate-csr admin.conf",
            "generate-csr controller-manager.conf",
            "generate-csr kubelet.conf",
            "generate-csr scheduler.conf",
            "generate-csr super-admin.conf",
        ],
    );
}

/// Difference 7, fixed: -o json|yaml prints no configuration lines at all, as kubeadm.
#[test]
fn difference_7_json_and_yaml_without_configuration_lines() {
    let Some(bin) = kube_bin() else { return };
    for form in ["json", "yaml"] {
        let (k, c, node) = expiration_outputs(&bin, "rsa-2048", 1, form);
        assert_eq!(node.unroot(&stderr(&c)), stderr(&k), "-o {form}");
        let kubeadm_out = stdout(&k);
        assert_eq!(
            same_residual_time(&kubeadm_out, &stdout(&c)),
            kubeadm_out,
            "-o {form}"
        );
    }
}

/// Difference 10, fixed: DNS SANs sorted and deduplicated as kubeadm's
/// RemoveDuplicateAltNames (certSANs, the endpoint's host, etcd's serverCertSANs).
#[test]
fn difference_10_dns_sans_sorted_as_kubeadm() {
    let Some(bin) = kube_bin() else { return };
    assert_same(
        generate_csr_findings(&bin, &matrix_case("cert-sans")),
        &[
            "generate-csr pki/apiserver.csr",
            "generate-csr pki/etcd/server.csr",
        ],
    );
    assert_same(
        generate_csr_findings(&bin, &matrix_case("endpoint-port")),
        &["generate-csr pki/apiserver.csr"],
    );
}

/// Difference 12, fixed: the fallback's second line names `upload-config kubeadm`.
#[test]
fn difference_12_upload_config_line_as_kubeadm() {
    let Some(bin) = kube_bin() else { return };
    let (k, c, _) = expiration_outputs(&bin, "rsa-2048", 1, "text");
    assert_eq!(stdout(&c), stdout(&k));
}

/// Difference 13, fixed: a cluster that refuses: only kubeadm's fallback lines, no
/// warning of kcerts' own on stderr.
#[test]
fn difference_13_no_extra_warning_when_the_cluster_refuses() {
    let Some(bin) = kube_bin() else { return };
    let (k, c, _) = expiration_outputs(&bin, "rsa-2048", 1, "text");
    assert_eq!(stderr(&c), stderr(&k));
}

#[test]
#[ignore = "difference 14: every kubeadm error ends with a second line 'To see the stack \
            trace of this error execute with --v=5 or higher'; kcerts prints the error alone"]
fn difference_14_errors_end_with_kubeadms_stack_trace_line() {
    let Some(bin) = kube_bin() else { return };
    let findings = broken_findings(&bin);
    let v: Vec<_> = findings
        .into_iter()
        .filter(|f| f.case == "missing CA certificate")
        .collect();
    assert_same(v, &["check-expiration --config", "renew all --config"]);
}

#[test]
#[ignore = "difference 15: a garbage certificate or kubeconfig: kubeadm's messages ('failed to \
            load existing certificate apiserver: error reading ...: data does not contain any \
            valid RSA or ECDSA certificates', 'failed to load kubeConfig file ...') differ from \
            kcerts' own"]
fn difference_15_garbage_files_in_kubeadms_words() {
    let Some(bin) = kube_bin() else { return };
    for f in broken_findings(&bin) {
        if f.case.starts_with("garbage") {
            // Only the first line: the second is difference 14.
            let d = f.diff.unwrap_or_default();
            assert!(
                !d.contains("stderr line 1"),
                "{} x {}: {d}",
                f.case,
                f.check
            );
        }
    }
}

/// Difference 16, fixed: with kubernetesVersion v1.37.2, apiserver-kubelet-client's
/// CSR has the CN alone, as kubeadm v1.37 (kubeadm::version).
#[test]
fn difference_16_apiserver_kubelet_client_subject_as_kubeadm_v1_37() {
    let Some(bin) = kube_bin() else { return };
    assert_same(
        generate_csr_findings(&bin, &matrix_case("rsa-2048")),
        &["generate-csr pki/apiserver-kubelet-client.csr"],
    );
}
