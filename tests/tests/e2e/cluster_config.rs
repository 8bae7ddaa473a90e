//! The cluster's kubeadm configuration (issue 11 item 2): `--config FILE`
//! (v1beta3 and v1beta4 documents) and `--from-cluster` (the kubeadm-config
//! ConfigMap served by the fake API server), for check-expiration, renew and
//! verify. Renewed certificates are read back with openssl.

use std::collections::BTreeMap;
use std::path::Path;

use kcerts_tests::*;

use kcerts_tests::fake_cluster::cluster;
use kcerts_tests::openssl_node::openssl_node;
use kcerts_tests::openssl_read::{openssl_enddate, openssl_key};

/// A v1beta4 file as `kubeadm config print init-defaults` writes it, with the
/// fields kcerts reads set (`{extra}` goes into the ClusterConfiguration).
fn v1beta4(extra: &str) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
bootstrapTokens:
- groups:
  - system:bootstrappers:kubeadm:default-node-token
  token: abcdef.0123456789abcdef
  ttl: 24h0m0s
  usages:
  - signing
  - authentication
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.0.10
  bindPort: 6443
nodeRegistration:
  criSocket: unix:///var/run/containerd/containerd.sock
  imagePullPolicy: IfNotPresent
  name: node-a
  taints: null
---
apiServer: {{}}
apiVersion: kubeadm.k8s.io/v1beta4
caCertificateValidityPeriod: 87600h0m0s
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
controllerManager: {{}}
dns: {{}}
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: 1.34.0
networking:
  dnsDomain: cluster.local
  serviceSubnet: 10.96.0.0/12
proxy: {{}}
scheduler: {{}}
{extra}"
    )
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.display().to_string()
}

/// A renewal moment after the test node was made (the next whole hour plus one)
/// and its RFC 3339 form.
fn renewal_moment() -> (time::OffsetDateTime, String) {
    let now = time::OffsetDateTime::now_utc();
    let at = now
        .replace_minute(0)
        .unwrap()
        .replace_second(0)
        .unwrap()
        .replace_nanosecond(0)
        .unwrap()
        + time::Duration::hours(2);
    (at, rfc3339(at))
}

/// `notAfter=...` as openssl prints `at + hours`.
fn enddate(at: time::OffsetDateTime, hours: i64) -> String {
    let fmt = time::macros::format_description!(
        "notAfter=[year]-[month]-[day] [hour]:[minute]:[second]Z"
    );
    (at + time::Duration::hours(hours)).format(&fmt).unwrap()
}

#[test]
fn config_file_sets_key_algorithm_and_validity_and_warns_like_kubeadm() {
    let dir = tempdir();
    let root = dir.path().join("kubernetes");
    openssl_node(&root);
    let cfg = write(
        &dir.path().join("kubeadm.yaml"),
        &v1beta4("encryptionAlgorithm: ECDSA-P384\ncertificateValidityPeriod: 17520h0m0s\n"),
    );
    let (when, at) = renewal_moment();
    let at = at.as_str();
    let out = kcerts(cmd_with_dirs(
        &root,
        &["renew", "apiserver", "front-proxy-client"],
        &["--config", &cfg, "--at", at],
    ));
    assert_ok(&out, "renew --config");
    assert_eq!(
        stderr(&out),
        "WARNING: certificateValidityPeriod: the value 17520h0m0s is more than the recommended \
         default for certificate expiration: 8760h0m0s\n"
    );
    for base in ["apiserver", "front-proxy-client"] {
        let crt = root.join("pki").join(format!("{base}.crt"));
        let pem = std::fs::read_to_string(&crt).unwrap();
        // The configuration's algorithm replaces RSA 2048 and EC P-256 alike.
        assert_eq!(openssl_key(&pem, dir.path()), "EC P-384", "{base}");
        assert_eq!(openssl_enddate(&crt), enddate(when, 17520), "{base}");
    }
    // --key-algorithm and --validity override the configuration.
    let out = kcerts(cmd_with_dirs(
        &root,
        &["renew", "apiserver"],
        &[
            "--config",
            &cfg,
            "--at",
            at,
            "--key-algorithm",
            "RSA-2048",
            "--validity",
            "100h",
        ],
    ));
    assert_ok(&out, "renew --config --key-algorithm");
    let crt = root.join("pki/apiserver.crt");
    assert_eq!(
        openssl_key(&std::fs::read_to_string(&crt).unwrap(), dir.path()),
        "RSA 2048"
    );
    assert_eq!(openssl_enddate(&crt), enddate(when, 100));
}

#[test]
fn config_file_external_etcd_and_certificates_dir() {
    let dir = tempdir();
    let root = dir.path().join("kubernetes");
    openssl_node(&root);
    // etcd.external: the etcd rows and the etcd CA are left out even though
    // this node's files have them; certificatesDir replaces the default --cert-dir.
    let cfg = write(
        &dir.path().join("kubeadm.yaml"),
        &v1beta4("etcd:\n  external:\n    endpoints: [https://10.0.0.9:2379]\n").replace(
            "certificatesDir: /etc/kubernetes/pki",
            &format!("certificatesDir: {}", root.join("pki").display()),
        ),
    );
    let out = kcerts([
        "check-expiration",
        "--kubeconfig-dir",
        root.to_str().unwrap(),
        "--config",
        &cfg,
    ]);
    assert_ok(&out, "check-expiration --config");
    let text = stdout(&out);
    assert!(text.starts_with("CERTIFICATE "), "{text}");
    assert!(!text.contains("etcd"), "{text}");
    assert!(text.contains("\napiserver "), "{text}");
    assert!(!text.contains("MISSING"), "{text}");
    // Without the configuration the same node shows its etcd rows.
    let out = kcerts(cmd_with_dirs(&root, &["check-expiration"], &[]));
    assert!(stdout(&out).contains("etcd-server"));
    // A local-etcd configuration lists etcd rows as kubeadm does, MISSING when absent.
    std::fs::remove_file(root.join("pki/etcd/peer.crt")).unwrap();
    let local = write(&dir.path().join("local.yaml"), &v1beta4(""));
    let out = kcerts(cmd_with_dirs(
        &root,
        &["check-expiration"],
        &["--config", &local],
    ));
    assert!(
        stdout(&out).contains("!MISSING! etcd-peer"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_configuration_is_refused_naming_the_field() {
    let dir = tempdir();
    let root = dir.path().join("kubernetes");
    openssl_node(&root);
    let cases = [
        (
            v1beta4("encryptionAlgorithm: DSA-1024\n"),
            "ClusterConfiguration encryptionAlgorithm: \"DSA-1024\" is not one of ECDSA-P256, \
             ECDSA-P384, RSA-2048, RSA-3072, RSA-4096",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n".to_string(),
            "ClusterConfiguration is kubeadm.k8s.io/v1beta2; kcerts reads kubeadm.k8s.io/v1beta3 \
             and v1beta4",
        ),
        (
            v1beta4("") + "---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n",
            "ClusterConfiguration appears more than once",
        ),
        (
            v1beta4("").replace("serviceSubnet: 10.96.0.0/12", "serviceSubnet: 10.96.0.0"),
            "ClusterConfiguration networking.serviceSubnet: \"10.96.0.0\" couldn't parse subnet",
        ),
    ];
    for (text, want) in cases {
        let cfg = write(&dir.path().join("bad.yaml"), &text);
        for cmd in [&["check-expiration"][..], &["renew", "all"], &["verify"]] {
            let out = kcerts(cmd_with_dirs(&root, cmd, &["--config", &cfg]));
            assert_eq!(out.status.code(), Some(1), "{cmd:?} {want}");
            assert!(stdout(&out).is_empty(), "{cmd:?}: {}", stdout(&out));
            let err = stderr(&out);
            assert!(
                err.starts_with(&format!("error: the kubeadm configuration {cfg}: "))
                    && err.contains(want),
                "{cmd:?}: {err}"
            );
        }
    }
    let out = kcerts(cmd_with_dirs(
        &root,
        &["check-expiration"],
        &["--config", "/nonexistent/kubeadm.yaml"],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/nonexistent/kubeadm.yaml does not exist"));
}

fn kubeadm_config_map(cluster_configuration: &str) -> (String, String, BTreeMap<String, String>) {
    let mut data = BTreeMap::new();
    data.insert(
        "ClusterConfiguration".to_string(),
        cluster_configuration.to_string(),
    );
    ("kube-system".into(), "kubeadm-config".into(), data)
}

const READING: &str =
    "Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...";
const USE: &str =
    "Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it.";

#[test]
fn from_cluster_reads_the_config_map_v1beta3_and_v1beta4() {
    // v1beta3 (kubeadm 1.22-1.30): external etcd, ECDSA by the PublicKeysECDSA gate.
    let v1beta3 = "apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.30.2
certificatesDir: /etc/kubernetes/pki
featureGates:
  PublicKeysECDSA: true
etcd:
  external:
    endpoints: [https://10.0.0.9:2379]
networking:
  serviceSubnet: 10.96.0.0/12
";
    let c = cluster(|o| o.config_maps.push(kubeadm_config_map(v1beta3)));
    let kubeconfig = c.root.join("admin.conf").display().to_string();
    let out = kcerts(cmd_with_dirs(
        &c.root,
        &["check-expiration"],
        &["--from-cluster", "--kubeconfig", &kubeconfig],
    ));
    assert_ok(&out, "check-expiration --from-cluster");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "[check-expiration] {READING}\n[check-expiration] {USE}\n\nCERTIFICATE "
        )),
        "{text}"
    );
    assert!(
        !text.contains("etcd"),
        "external etcd from the ConfigMap: {text}"
    );
    // JSON stays parseable: no configuration lines at all then, as kubeadm.
    let out = kcerts(cmd_with_dirs(
        &c.root,
        &["check-expiration"],
        &["--from-cluster", "--kubeconfig", &kubeconfig, "-o", "json"],
    ));
    assert_ok(&out, "-o json --from-cluster");
    let _: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert!(!stderr(&out).contains(READING), "{}", stderr(&out));
    assert!(!stdout(&out).contains(READING));
    drop(c);

    // v1beta4 (kubeadm 1.31+): encryptionAlgorithm and certificateValidityPeriod for renew.
    let v1beta4 = "apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.31.0
encryptionAlgorithm: RSA-3072
certificateValidityPeriod: 2000h0m0s
caCertificateValidityPeriod: 175200h0m0s
etcd:
  local:
    dataDir: /var/lib/etcd
";
    let c = cluster(|o| o.config_maps.push(kubeadm_config_map(v1beta4)));
    let kubeconfig = c.root.join("admin.conf").display().to_string();
    let (when, at) = renewal_moment();
    let out = kcerts(cmd_with_dirs(
        &c.root,
        &["renew", "apiserver-kubelet-client"],
        &["--from-cluster", "--kubeconfig", &kubeconfig, "--at", &at],
    ));
    assert_ok(&out, "renew --from-cluster");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "[renew] {READING}\n[renew] {USE}\n\n[renew] backed up 2 files to "
        )),
        "{text}"
    );
    assert!(
        text.ends_with("\ncertificate for the API server to connect to kubelet renewed\n"),
        "{text}"
    );
    assert_eq!(
        stderr(&out),
        "WARNING: caCertificateValidityPeriod: the value 175200h0m0s is more than the recommended \
         default for CA certificate expiration: 87600h0m0s\n"
    );
    let crt = c.root.join("pki/apiserver-kubelet-client.crt");
    let scratch = tempdir();
    assert_eq!(
        openssl_key(&std::fs::read_to_string(&crt).unwrap(), scratch.path()),
        "RSA 3072"
    );
    assert_eq!(openssl_enddate(&crt), enddate(when, 2000));
}

#[test]
fn from_cluster_falls_back_to_the_files_with_kubeadms_line() {
    // The API server answers but has no kubeadm-config ConfigMap (404).
    let c = cluster(|_| {});
    let kubeconfig = c.root.join("admin.conf").display().to_string();
    let out = kcerts(cmd_with_dirs(
        &c.root,
        &["check-expiration"],
        &["--from-cluster", "--kubeconfig", &kubeconfig],
    ));
    assert_ok(&out, "check-expiration --from-cluster, no ConfigMap");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "[check-expiration] {READING}\n[check-expiration] {USE}\n[check-expiration] Error reading \
             configuration from the Cluster. Falling back to default configuration\n\nCERTIFICATE "
        )),
        "{text}"
    );
    assert!(text.contains("etcd-server"), "the files decide: {text}");
    // kubeadm says no more (the reason shows only with its --v=5).
    assert_eq!(stderr(&out), "");

    // Nobody listens on the kubeconfig's server: the same fallback, quickly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let admin = std::fs::read_to_string(c.root.join("admin.conf")).unwrap();
    let moved: String = admin
        .lines()
        .map(|l| match l.split_once("server: ") {
            Some((indent, _)) => format!("{indent}server: https://127.0.0.1:{port}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    let elsewhere = c.root.join("elsewhere.conf");
    std::fs::write(&elsewhere, moved).unwrap();
    let started = std::time::Instant::now();
    let out = kcerts(cmd_with_dirs(
        &c.root,
        &["verify"],
        &[
            "--from-cluster",
            "--kubeconfig",
            elsewhere.to_str().unwrap(),
        ],
    ));
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "[verify] {READING}\n[verify] {USE}\n[verify] Error reading configuration from the \
             Cluster. Falling back to default configuration\n\n"
        )),
        "{text}"
    );
    assert!(text.contains("apiserver"), "{text}");
    // A kubeconfig that does not exist: kubeadm falls back silently; kcerts says why.
    let out = kcerts(cmd_with_dirs(
        &c.root,
        &["check-expiration"],
        &["--from-cluster", "--kubeconfig", "/nonexistent/admin.conf"],
    ));
    assert_ok(&out, "--from-cluster without a kubeconfig");
    assert!(stdout(&out).starts_with("CERTIFICATE "));
    assert!(
        stderr(&out).starts_with(
            "warning: --from-cluster: cannot read the kubeconfig /nonexistent/admin.conf"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_checks_the_sans_the_configuration_asks_for() {
    let dir = tempdir();
    let root = dir.path().join("kubernetes");
    openssl_node(&root); // node-a, 10.0.0.10
    let cfg = write(
        &dir.path().join("kubeadm.yaml"),
        &v1beta4("apiServer:\n  certSANs: [203.0.113.7, api.example.com]\n")
            .replace("apiServer: {}\n", ""),
    );
    let out = kcerts(cmd_with_dirs(&root, &["verify"], &["--config", &cfg]));
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let sans: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.contains(" sans "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        sans,
        [
            "fail apiserver sans lacks DNS:api.example.com, IP:203.0.113.7, which the cluster \
             configuration asks for: clients using those names will reject the apiserver \
             certificate; `kcerts renew apiserver --sans-from-config` with the same --config or \
             --from-cluster adds them",
            "pass etcd-peer sans has every SAN the cluster configuration asks for: DNS:node-a, \
             DNS:localhost, IP:10.0.0.10, IP:127.0.0.1, IP:::1",
            "pass etcd-server sans has every SAN the cluster configuration asks for: DNS:node-a, \
             DNS:localhost, IP:10.0.0.10, IP:127.0.0.1, IP:::1",
        ]
    );
    // The same node against a configuration it was made from passes the SAN checks.
    let same = write(&dir.path().join("same.yaml"), &v1beta4(""));
    let out = kcerts(cmd_with_dirs(&root, &["verify"], &["--config", &same]));
    assert!(
        stdout(&out)
            .lines()
            .filter(|l| l.contains(" sans "))
            .all(|l| l.starts_with("pass")),
        "{}",
        stdout(&out)
    );
}
