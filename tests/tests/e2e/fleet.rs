//! `kcerts fleet` over several nodes: generated clusters (directories, .tar and
//! .tar.gz archives made with the real `tar`), planted inconsistencies, nodes made
//! by openssl alone, hostile archives, and the metrics parsed by prometheus_client.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use insta::assert_snapshot;
use kcerts_core::node::NodePath;
use kcerts_core::pki::{self, GeneratedNode, PkiOptions};
use kcerts_core::{KeyAlgorithm, NodeFiles};
use kcerts_tests::*;

use kcerts_tests::openssl_node::OpensslNode;
use kcerts_tests::prometheus::parse_with_prometheus_client;

fn opts(node: &str, last: u8) -> PkiOptions {
    PkiOptions {
        node_name: node.into(),
        advertise_address: IpAddr::from([192, 168, 10, last]),
        key_algorithm: KeyAlgorithm::EcdsaP256,
        ..PkiOptions::example()
    }
}

/// Three control-plane nodes of one cluster (seeded: the same bytes every run).
fn cluster(seed: u64) -> Vec<GeneratedNode> {
    let mut rng = kcerts_core::seeded_rng(seed);
    let first = pki::generate(&opts("cp-1", 11), NOW, &mut rng).unwrap();
    let files = NodeFiles::from_generated(&first);
    let mut out = vec![first];
    for (n, last) in [("cp-2", 12), ("cp-3", 13)] {
        out.push(pki::generate_joined(&opts(n, last), &files, NOW, &mut rng).unwrap());
    }
    out
}

/// Replaces (or adds) a file of a generated node.
fn put(node: &mut GeneratedNode, path: NodePath, bytes: Vec<u8>) {
    node.files.retain(|f| f.path != path);
    node.files.push(pki::GeneratedFile {
        path,
        bytes,
        secret: false,
    });
}

fn bytes(node: &GeneratedNode, path: &NodePath) -> Vec<u8> {
    node.files
        .iter()
        .find(|f| &f.path == path)
        .unwrap()
        .bytes
        .clone()
}

/// Writes node `i` as a directory `cp-N`, and returns the paths to pass: node 0 a
/// directory, node 1 `cp-2.tar`, node 2 `cp-3.tgz` (made with `tar`).
fn write_fleet(nodes: &[GeneratedNode], root: &Path) -> Vec<String> {
    let mut args = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let name = format!("cp-{}", i + 1);
        let dir = root.join(&name);
        write_node(node, &dir);
        let arg = match i {
            0 => dir.clone(),
            1 => tar(&dir, &root.join(format!("{name}.tar")), "cf"),
            _ => tar(&dir, &root.join(format!("{name}.tgz")), "czf"),
        };
        args.push(arg.display().to_string());
    }
    args
}

/// `tar FLAGS ARCHIVE -C DIR .`, as the README tells users to copy a node.
fn tar(dir: &Path, archive: &Path, flags: &str) -> PathBuf {
    let o = run(
        "tar",
        [
            flags,
            &archive.display().to_string(),
            "-C",
            &dir.display().to_string(),
            ".",
        ],
    );
    assert_ok(&o, "tar");
    archive.to_path_buf()
}

fn fleet(args: &[String], extra: &[&str]) -> Output {
    let mut all = vec![
        "fleet".to_string(),
        "--at".into(),
        "2026-03-01T12:00:00Z".into(),
    ];
    all.extend(extra.iter().map(|s| s.to_string()));
    all.extend(args.iter().cloned());
    kcerts(&all)
}

/// The text with runs of spaces made one (column widths depend on the rows).
fn squash(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    out
}

fn redact(text: &str, root: &Path) -> String {
    text.replace(&root.display().to_string(), "[TMP]")
}

#[test]
fn a_consistent_cluster_from_a_directory_a_tar_and_a_tgz() {
    let dir = tempdir();
    let mut nodes = cluster(21);
    // cp-2 is in the middle of a CA rotation another tool runs: extra files kcerts ignores.
    let ca = bytes(&nodes[0], &NodePath::cert("ca.crt"));
    put(&mut nodes[1], NodePath::cert("ca.new.crt"), ca);
    put(
        &mut nodes[1],
        NodePath::cert("ca.new.key"),
        b"not a key".to_vec(),
    );
    let args = write_fleet(&nodes, dir.path());
    let out = fleet(&args, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    insta::with_settings!({description => "fleet (text) of three consistent nodes as a directory, a tar and a tgz; cp-2 holds extra files of a CA rotation"}, {
        assert_snapshot!("consistent_text", stdout(&out));
    });

    // The JSON holds, per node, exactly what check-expiration -o json prints for it.
    let out = fleet(&args, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut one = vec![
        "check-expiration".to_string(),
        "-o".into(),
        "json".into(),
        "--at".into(),
        "2026-03-01T12:00:00Z".into(),
    ];
    one.extend(dir_args(&dir.path().join("cp-3")));
    let single: serde_json::Value = serde_json::from_str(&stdout(&kcerts(&one))).unwrap();
    assert_eq!(json["nodes"][2]["name"], "cp-3");
    assert_eq!(json["nodes"][2]["expiration"], single);
    assert_eq!(json["summary"]["fail"], 0);
    assert_eq!(json["soonest"]["residualTime"], 365 * 86400);
    insta::with_settings!({description => "fleet -o json of the same three nodes; the temporary directory redacted"}, {
        assert_snapshot!("consistent_json", redact(&stdout(&out), dir.path()));
    });

    // -o yaml is the same document (read by PyYAML, its timestamps kept as text), and
    // each node's part is what check-expiration -o yaml prints for that node.
    let yaml = stdout(&fleet(&args, &["-o", "yaml"]));
    one[2] = "yaml".into();
    let single_yaml = stdout(&kcerts(&one));
    let py = dir.path().join("same.py");
    std::fs::write(
        &py,
        r#"import json, sys, yaml
class Loader(yaml.SafeLoader):
    pass
Loader.yaml_implicit_resolvers = {
    k: [r for r in v if r[0] != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
fleet_yaml, fleet_json, single = (open(p).read() for p in sys.argv[1:4])
doc = yaml.load(fleet_yaml, Loader=Loader)
assert doc == json.loads(fleet_json), "yaml and json differ"
assert doc["nodes"][2]["expiration"] == yaml.load(single, Loader=Loader), "node differs"
print(len(doc["nodes"]), len(doc["checks"]))
"#,
    )
    .unwrap();
    let docs = ["fleet.yaml", "fleet.json", "single.yaml"].map(|n| dir.path().join(n));
    std::fs::write(&docs[0], &yaml).unwrap();
    std::fs::write(&docs[1], stdout(&out)).unwrap();
    std::fs::write(&docs[2], &single_yaml).unwrap();
    let o = run(
        "python3",
        [&py, &docs[0], &docs[1], &docs[2]].map(|p| p.display().to_string()),
    );
    assert_ok(&o, "PyYAML comparison");
    assert!(stdout(&o).starts_with("3 "), "{}", stdout(&o));

    // An archive whose files sit under one folder (`tar czf cp-2.tgz -C /etc
    // kubernetes`) is read from inside it: the same node as the plain .tar.
    let wrapped = dir.path().join("wrapped.tgz");
    let o = run(
        "tar",
        [
            "czf",
            &wrapped.display().to_string(),
            "-C",
            &dir.path().display().to_string(),
            "cp-2",
        ],
    );
    assert_ok(&o, "tar");
    let mut with_folder = args.clone();
    with_folder[1] = format!("cp-2={}", wrapped.display());
    let out2 = fleet(&with_folder, &["-o", "json"]);
    assert_eq!(out2.status.code(), Some(0), "{}", stderr(&out2));
    let json2: serde_json::Value = serde_json::from_str(&stdout(&out2)).unwrap();
    assert_eq!(
        json2["nodes"][1]["expiration"],
        json["nodes"][1]["expiration"]
    );
    assert_eq!(json2["checks"], json["checks"]);

    // NAME=PATH names a node; the same name twice is refused.
    let named = vec![
        format!("a={}", args[0]),
        format!("b={}", args[1]),
        format!("c={}", args[2]),
    ];
    let out = fleet(&named, &["-o", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["nodes"][1]["name"], "b");
    assert_eq!(json["nodes"][1]["nodeName"], "cp-2");
    let out = fleet(&[named[0].clone(), named[0].clone()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("two nodes are named \"a\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn metrics_carry_a_node_label_and_parse_with_prometheus_client() {
    let dir = tempdir();
    let args = write_fleet(&cluster(22), dir.path());
    let out = fleet(&args, &["-o", "prometheus"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let parsed = parse_with_prometheus_client(&stdout(&out));
    // 11 rows + 3 CAs on each of 3 nodes.
    assert!(
        parsed.contains("# family x509_cert_not_after gauge 42\n"),
        "{parsed}"
    );
    for n in ["cp-1", "cp-2", "cp-3"] {
        assert!(
            parsed.contains(&format!("x509_read_errors{{node={n}}} 0\n")),
            "{parsed}"
        );
    }
    assert!(parsed.contains(&format!(
        "filename=apiserver.crt,filepath={}/cp-3.tgz:pki/apiserver.crt,issuer_CN=kubernetes,name=apiserver,node=cp-3,",
        dir.path().display()
    )), "{parsed}");
    assert!(
        parsed.contains(
            "kcerts_verify_check{check=leaves-trusted,result=pass,target=cp-2/etcd-ca} 0\n"
        ),
        "{parsed}"
    );
    assert!(
        parsed.contains("kcerts_verify_checks{status=fail} 0\n"),
        "{parsed}"
    );
}

#[test]
fn planted_inconsistencies_fail_with_exit_3() {
    // A different CA on one node: cp-3 comes from another cluster.
    let dir = tempdir();
    let mut nodes = cluster(23);
    nodes[2] = pki::generate(&opts("cp-3", 13), NOW, &mut kcerts_core::seeded_rng(99)).unwrap();
    let out = fleet(&write_fleet(&nodes, dir.path()), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = squash(&stdout(&out));
    for row in [
        "fail ca same-cert",
        "fail etcd-ca same-key",
        "fail sa same-pub",
        "fail cp-3/ca leaves-trusted signed by a ca certificate that other nodes lack: admin.conf (not by cp-1, cp-2)",
        "fail cp-1/front-proxy-ca leaves-trusted signed by a front-proxy-ca certificate that other nodes lack: front-proxy-client (not by cp-3)",
    ] {
        assert!(text.contains(row), "{row}\n{text}");
    }
    insta::with_settings!({description => "fleet (text) where cp-3 comes from another cluster: different CAs and keys, exit 3"}, {
        assert_snapshot!("different_ca", stdout(&out));
    });

    // One inconsistency each: a different sa.key on cp-2, cp-3's apiserver made
    // for another endpoint, cp-1's admin.conf pointing at another server, and a
    // leaf of cp-2 signed by a CA only cp-2 has (its ca.crt holds both).
    let dir = tempdir();
    let mut nodes = cluster(24);
    let other = pki::generate(
        &PkiOptions {
            control_plane_endpoint: Some("old-lb.example:6443".into()),
            ..opts("cp-3", 13)
        },
        NOW,
        &mut kcerts_core::seeded_rng(98),
    )
    .unwrap();
    let sa = NodePath::cert("sa.key");
    put(&mut nodes[1], sa.clone(), bytes(&other, &sa));
    let joined_elsewhere = pki::generate_joined(
        &PkiOptions {
            control_plane_endpoint: Some("old-lb.example:6443".into()),
            ..opts("cp-3", 13)
        },
        &NodeFiles::from_generated(&nodes[0]),
        NOW,
        &mut kcerts_core::seeded_rng(97),
    )
    .unwrap();
    for p in ["apiserver.crt", "apiserver.key"] {
        let p = NodePath::cert(p);
        put(&mut nodes[2], p.clone(), bytes(&joined_elsewhere, &p));
    }
    let admin = NodePath::kubeconfig("admin.conf");
    put(
        &mut nodes[0],
        admin.clone(),
        bytes(&joined_elsewhere, &admin),
    );
    for p in [
        "apiserver-kubelet-client.crt",
        "apiserver-kubelet-client.key",
    ] {
        let p = NodePath::cert(p);
        put(&mut nodes[1], p.clone(), bytes(&other, &p));
    }
    let ca = NodePath::cert("ca.crt");
    let both = [bytes(&nodes[1], &ca), bytes(&other, &ca)].concat();
    put(&mut nodes[1], ca, both);
    let out = fleet(&write_fleet(&nodes, dir.path()), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = squash(&stdout(&out));
    for row in [
        "fail sa same-key pki/sa.key differs between nodes (key 1 on cp-1, cp-3; key 2 on cp-2)",
        "fail cp-3/apiserver endpoint-sans lacks DNS:k8s.example.internal (the control-plane endpoint)",
        "fail cp-1/admin.conf server server https://old-lb.example:6443 is neither the control-plane endpoint nor this node",
        "fail cp-2/ca leaves-trusted signed by a ca certificate that other nodes lack: apiserver-kubelet-client (not by cp-1, cp-3)",
        "fail ca same-cert",
        "pass cp-1/ca leaves-trusted",
    ] {
        assert!(text.contains(row), "{row}\n{text}");
    }
    insta::with_settings!({description => "fleet (text) with one inconsistency each: another sa.key on cp-2, cp-3's apiserver for another endpoint, cp-1's admin.conf pointing at another server, a leaf of cp-2 signed by a CA only cp-2 has"}, {
        assert_snapshot!("one_of_each", stdout(&out));
    });

    // The soonest expiry: warn within --warn, fail within --crit.
    let dir = tempdir();
    let args = write_fleet(&cluster(25), dir.path());
    let mut all = vec![
        "fleet".to_string(),
        "--at".into(),
        "2027-02-10T12:00:00Z".into(),
    ];
    all.extend(args.iter().cloned());
    let out = kcerts(&all);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        squash(&stdout(&out)).contains(
            "warn cluster soonest-expiry cp-1/admin.conf expires on Mar 01, 2027 12:00 UTC, in 19d"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_same_node_given_twice_fails_naming_both_inputs() {
    // What a careful operator may do: cp-1 packed as cp-1.tgz and also copied as a
    // folder, both passed with the other nodes. Every other row passes.
    let dir = tempdir();
    let root = dir.path();
    let mut args = write_fleet(&cluster(26), root);
    let tgz = tar(&root.join("cp-1"), &root.join("cp-1.tgz"), "czf");
    let copy = root.join("cp-1-copy");
    assert_ok(
        &run(
            "cp",
            [
                "-a",
                &root.join("cp-1").display().to_string(),
                &copy.display().to_string(),
            ],
        ),
        "cp -a",
    );
    args[0] = tgz.display().to_string();
    args.insert(1, copy.display().to_string());
    let out = fleet(&args, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let text = squash(&stdout(&out));
    let fails: Vec<&str> = text.lines().filter(|l| l.starts_with("fail ")).collect();
    assert_eq!(
        fails,
        [
            "fail cluster distinct-nodes cp-1 and cp-1-copy are the same node, cp-1 (from \
             etcd/server.crt, etcd/peer.crt, kubelet.conf), and admin.conf, pki/apiserver.crt \
             and 9 more certificates are the same on both: the other rows compare it with \
             itself; pass each control-plane node once"
        ],
        "{text}"
    );
    assert!(text.contains("pass ca same-cert"), "{text}");

    // The same in -o json, and the same node under two NAME=PATH names.
    let named = [
        format!("a={}", root.join("cp-2").display()),
        format!("b={}", root.join("cp-2.tar").display()),
    ];
    let out = fleet(&named, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows: Vec<&serde_json::Value> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "distinct-nodes")
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "fail");
    assert_eq!(rows[0]["target"], "cluster");
    assert!(
        rows[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("a and b are the same node, cp-2 (from "),
        "{}",
        rows[0]["reason"]
    );
}

#[test]
fn nodes_made_by_openssl_alone() {
    let dir = tempdir();
    let first = dir.path().join("node-a");
    let mut args = Vec::new();
    for (node, addr) in [
        ("node-a", "10.0.0.10"),
        ("node-b", "10.0.0.11"),
        ("node-c", "10.0.0.12"),
    ] {
        let root = dir.path().join(node);
        OpensslNode {
            node: Some((node, addr)),
            endpoint: Some("lb.example"),
            share: (node != "node-a").then_some(first.as_path()),
        }
        .build(&root);
        args.push(root.display().to_string());
    }
    // node-c as an archive made with tar.
    let tgz = tar(
        &dir.path().join("node-c"),
        &dir.path().join("node-c.tar.gz"),
        "czf",
    );
    args[2] = tgz.display().to_string();
    let out = kcerts(["fleet".to_string()].iter().chain(&args));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = squash(&stdout(&out));
    assert!(text.contains("pass cluster endpoint control-plane endpoint lb.example:6443, the server of admin.conf on every node"), "{text}");
    assert!(
        text.contains("pass cluster distinct-nodes 3 different nodes: node-a, node-b, node-c;"),
        "{text}"
    );
    assert!(text.contains("pass node-c/apiserver endpoint-sans has the endpoint lb.example and the node's names (node-c, 10.0.0.12)"), "{text}");
    assert!(
        text.contains(
            "pass node-b/scheduler.conf server server https://10.0.0.11:6443 is this node"
        ),
        "{text}"
    );

    // node-b given a different sa.pub by hand with openssl: caught.
    let o = run(
        "openssl",
        [
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &dir.path().join("k.pem").display().to_string(),
        ],
    );
    assert_ok(&o, "openssl genpkey");
    let o = run(
        "openssl",
        [
            "pkey",
            "-in",
            &dir.path().join("k.pem").display().to_string(),
            "-pubout",
            "-out",
            &dir.path().join("node-b/pki/sa.pub").display().to_string(),
        ],
    );
    assert_ok(&o, "openssl pkey");
    let out = kcerts(["fleet".to_string()].iter().chain(&args));
    assert_eq!(out.status.code(), Some(3));
    assert!(squash(&stdout(&out)).contains("fail sa same-pub pki/sa.pub differs between nodes (key 1 on node-a, node-c; key 2 on node-b)"), "{}", stdout(&out));
}

/// Writes a tar archive with Python's tarfile, which writes any entry name (GNU
/// tar strips `..` and leading `/`).
fn python_tar(archive: &Path, script: &str) {
    let o = run(
        "python3",
        [
            "-c",
            &format!(
                "import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w:gz')\n\
                 def add(name, data=b'x', **kw):\n    i = tarfile.TarInfo(name)\n    \
                 for k, v in kw.items(): setattr(i, k, v)\n    i.size = len(data) if i.type == tarfile.REGTYPE else 0\n    \
                 t.addfile(i, io.BytesIO(data) if i.type == tarfile.REGTYPE else None)\n{script}\nt.close()\n"
            ),
            &archive.display().to_string(),
        ],
    );
    assert_ok(&o, "python3 tarfile");
}

#[test]
fn hostile_archives_are_refused_naming_the_entry() {
    let dir = tempdir();
    let good = dir.path().join("good");
    write_node(&cluster(26)[0], &good);
    let good = tar(&good, &dir.path().join("good.tgz"), "czf");
    let cases = [
        (
            "dotdot",
            "add('./pki/../../evil.crt')",
            "entry \"./pki/../../evil.crt\" has a '..' component",
        ),
        (
            "absolute",
            "add('/etc/kubernetes/pki/ca.crt')",
            "entry \"/etc/kubernetes/pki/ca.crt\" is an absolute path",
        ),
        (
            "symlink",
            "add('./pki/ca.crt', type=tarfile.SYMTYPE, linkname='/etc/shadow')",
            "entry \"./pki/ca.crt\" links outside the archive",
        ),
        (
            "uplink",
            "add('./pki/ca.crt', type=tarfile.SYMTYPE, linkname='../../../etc/shadow')",
            "entry \"./pki/ca.crt\" links outside the archive",
        ),
        (
            "hardlink",
            "add('./admin.conf', type=tarfile.LNKTYPE, linkname='../secret')",
            "entry \"./admin.conf\" links outside the archive",
        ),
    ];
    for (name, script, want) in cases {
        let archive = dir.path().join(format!("{name}.tgz"));
        python_tar(&archive, script);
        let out = kcerts([
            "fleet".to_string(),
            good.display().to_string(),
            archive.display().to_string(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stdout(&out));
        assert!(stdout(&out).is_empty(), "{name}");
        assert_eq!(
            stderr(&out).matches(want).count(),
            1,
            "{name}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(&archive.display().to_string()),
            "{name}"
        );
    }

    // A link that stays inside is followed; an oversize entry is that file's read error.
    let archive = dir.path().join("inside.tgz");
    let ca = String::from_utf8(bytes(&cluster(26)[0], &NodePath::cert("ca.crt"))).unwrap();
    python_tar(
        &archive,
        &format!(
            "add('./pki/real-ca.crt', {ca:?}.encode())\n\
             add('./pki/ca.crt', type=tarfile.SYMTYPE, linkname='real-ca.crt')\n\
             add('./pki/apiserver.crt', b'x' * (2 * 1024 * 1024))\n\
             add('./pki/front-proxy-ca.crt', type=tarfile.SYMTYPE, linkname='missing.crt')\n"
        ),
    );
    let out = kcerts([
        "fleet".to_string(),
        "--at".into(),
        "2026-03-01T12:00:00Z".into(),
        "-o".into(),
        "json".into(),
        archive.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let cas = &json["nodes"][0]["expiration"]["certificateAuthorities"];
    assert_eq!(cas[0]["name"], "ca");
    assert_eq!(cas[0]["missing"], false, "{cas}");
    let checks = json["checks"].as_array().unwrap();
    let reason = |target: &str| {
        checks
            .iter()
            .find(|c| c["target"] == target && c["check"] == "read")
            .map(|c| c["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no read row for {target}: {checks:?}"))
    };
    assert_eq!(
        reason("inside/pki/apiserver.crt"),
        "cannot be read: is 2097152 bytes, over kcerts' limit of 1048576 bytes for a certificate, key or kubeconfig"
    );
    assert_eq!(
        reason("inside/pki/front-proxy-ca.crt"),
        "cannot be read: is a link to pki/missing.crt, which is not in the archive"
    );

    // Not an archive at all, and a gzip bomb over the unpacked limit.
    let junk = dir.path().join("junk.tgz");
    std::fs::write(&junk, b"definitely not tar").unwrap();
    let out = kcerts(["fleet".to_string(), junk.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("junk.tgz: "), "{}", stderr(&out));
    let bomb = dir.path().join("bomb.tgz");
    let o = run(
        "python3",
        [
            "-c",
            "import sys, tarfile\nclass Zero:\n    def read(self, n=-1): return bytes(n)\n\
             t = tarfile.open(sys.argv[1], 'w:gz')\ni = tarfile.TarInfo('./big'); i.size = 300 << 20\n\
             t.addfile(i, Zero()); t.close()\n",
            &bomb.display().to_string(),
        ],
    );
    assert_ok(&o, "python3 gzip");
    let out = kcerts(["fleet".to_string(), bomb.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("decompresses to more than kcerts' limit of 268435456 bytes"),
        "{}",
        stderr(&out)
    );
}

/// `kcerts fleet` on `roots`: exits `code` and prints every one of `rows`
/// (spaces squashed); no `fail` row unless `code` is 3. Returns the text.
fn fleet_rows(roots: &[PathBuf], what: &str, code: i32, rows: &[&str]) -> String {
    let args: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    let out = fleet(&args, &[]);
    let text = squash(&stdout(&out));
    assert_eq!(out.status.code(), Some(code), "{what}:\n{text}");
    for row in rows {
        assert!(text.contains(row), "{what}: no {row:?} in\n{text}");
    }
    if code != 3 {
        assert!(!text.contains("\nfail "), "{what}:\n{text}");
    }
    text
}

/// Copies `files` of `from`'s pki to `to`'s (`cp -p`, as the README says).
fn copy_pki(from: &Path, to: &Path, files: &[&str]) {
    for f in files {
        let o = run(
            "cp",
            [
                "-p",
                from.join("pki").join(f).to_str().unwrap(),
                to.join("pki").join(f).to_str().unwrap(),
            ],
        );
        assert_ok(&o, "cp -p");
    }
}

/// `--fleet cp-1=DIR cp-2=DIR cp-3=DIR`: the nodes that prove a reissue or switch.
fn fleet_proof(roots: &[PathBuf]) -> Vec<String> {
    let mut v = vec!["--fleet".to_string()];
    v.extend(
        roots
            .iter()
            .enumerate()
            .map(|(i, r)| format!("cp-{}={}", i + 1, r.display())),
    );
    v
}

/// A copy of the node at `from` made at `to` (`cp -a`).
fn copy_node(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    assert_ok(
        &run("cp", ["-a", from.to_str().unwrap(), to.to_str().unwrap()]),
        "cp -a",
    );
}

/// Issue 16: the README's procedure for rotating the cluster CA on three
/// control-plane nodes (prepare on cp-1, copy the new pair, then trust, reissue
/// and finish on each node in turn), with `kcerts fleet` run after every phase on
/// every node: nodes in different safe phases are a warning naming them and the
/// next step, every node in one phase passes, and the two outages an operator can
/// cause (reissue on a node while another does not trust the new CA yet, finish
/// while another still presents old-CA certificates) fail, naming the nodes and
/// the fix.
#[test]
fn a_three_node_ca_rotation_is_read_by_fleet_after_every_phase_on_every_node() {
    const AT: &str = "2026-03-01T12:00:00Z";
    let dir = tempdir();
    let roots: Vec<PathBuf> = (1..=3)
        .map(|i| dir.path().join(format!("cp-{i}")))
        .collect();
    for (node, root) in cluster(31).iter().zip(&roots) {
        write_node(node, root);
    }
    let absent = dir.path().join("no-kubelet");
    // reissue is proven by the three nodes' directories (--fleet); `extra` adds --force.
    let proof = fleet_proof(&roots);
    let rotate_with = |root: &Path, phase: &str, extra: &[&str]| {
        let mut args = vec!["ca", "rotate", phase, "--ca", "ca", "--apply", "--at", AT];
        let d = dir_args(root);
        args.extend(d.iter().map(String::as_str));
        args.extend(["--kubelet-pki-dir", absent.to_str().unwrap()]);
        if phase == "reissue" {
            args.extend(proof.iter().map(String::as_str));
        }
        args.extend(extra);
        kcerts(&args)
    };
    let rotate = |root: &Path, phase: &str| {
        let out = rotate_with(root, phase, &[]);
        assert_ok(&out, &format!("{phase} on {}", root.display()));
    };
    let copy_new = |to: &Path| copy_pki(&roots[0], to, &["ca.new.crt", "ca.new.key"]);
    fleet_rows(&roots, "before", 0, &["pass ca same-cert"]);

    rotate(&roots[0], "prepare");
    fleet_rows(
        &roots,
        "prepare on cp-1",
        2,
        &[
            "warn ca ca-rotation rotation of the ca CA under way, nodes in different phases: cp-1 (prepared), cp-2, cp-3 (not prepared); every node trusts what the others present; next: copy pki/ca.new.crt and pki/ca.new.key to cp-2, cp-3",
        ],
    );
    copy_new(&roots[1]);
    fleet_rows(
        &roots,
        "copied to cp-2",
        2,
        &["cp-1, cp-2 (prepared), cp-3 (not prepared)"],
    );
    copy_new(&roots[2]);
    fleet_rows(
        &roots,
        "copied to cp-3",
        0,
        &[
            "pass ca ca-rotation rotation of the ca CA under way: every node is `prepared`",
            "next: `kcerts ca rotate trust --ca ca --apply` on cp-1, cp-2, cp-3",
        ],
    );

    // trust, then reissue, on cp-1, cp-2, cp-3 in turn: the ca-rotation row after
    // each node, the same-cert or same-key row while the files differ by design,
    // and after cp-2 the outage a copy of cp-1 makes by running the next phase early.
    type Outage = (&'static str, &'static [&'static str]);
    let phases: [(&str, [&str; 3], &str, &str, Outage); 2] = [
        (
            "trust",
            [
                "cp-1 (trusted), cp-2, cp-3 (prepared)",
                "cp-1, cp-2 (trusted), cp-3 (prepared)",
                "every node is `trusted`",
            ],
            "pass ca same-cert pki/ca.crt holds only the rotation's old and new CA on every node (cp-",
            "pass ca same-cert pki/ca.crt is the same on every node",
            (
                "reissue",
                &[
                    "fail ca ca-rotation cp-1 (reissued) present certificates of the new ca CA",
                    "that cp-3 (prepared) do not trust yet (cp-3: pki/ca.crt, admin.conf",
                    "those nodes and their clients reject them; `kcerts ca rotate trust --ca ca --apply` on cp-3",
                    "fail cp-1/ca leaves-trusted",
                ],
            ),
        ),
        (
            "reissue",
            [
                "cp-1 (reissued), cp-2, cp-3 (trusted)",
                "cp-1, cp-2 (reissued), cp-3 (trusted)",
                "every node is `reissued`",
            ],
            "pass ca same-key pki/ca.key is the old CA's key on",
            "pass ca same-key pki/ca.key is the same key on every node",
            (
                "finish",
                &[
                    "fail ca ca-rotation cp-1 (finished) no longer trust the old ca CA but cp-3 (trusted) still present certificates signed by it: those are rejected; run `kcerts ca rotate reissue --ca ca --apply` on cp-3",
                ],
            ),
        ),
    ];
    for (phase, afters, differing, same, (early, outage)) in phases {
        for (i, after) in afters.iter().enumerate() {
            rotate(&roots[i], phase);
            let (code, files) = if i < 2 { (2, differing) } else { (0, same) };
            fleet_rows(
                &roots,
                &format!("{phase} on cp-{}", i + 1),
                code,
                &[after, files],
            );
            if i == 1 {
                let mut mixed = roots.clone();
                mixed[0] = dir.path().join(format!("early-{early}")).join("cp-1");
                copy_node(&roots[0], &mixed[0]);
                if early == "reissue" {
                    // Issue 23: the --fleet copies show cp-3 does not trust the
                    // new CA yet, so reissue is refused, naming cp-3 and --force.
                    let out = rotate_with(&mixed[0], early, &[]);
                    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
                    let err = stderr(&out);
                    assert!(
                        err.contains("`reissue` refused: not every control-plane node trusts the new ca CA yet: cp-3 (`prepared`: pki/ca.crt, admin.conf")
                            && err.contains("--force"),
                        "{err}"
                    );
                    assert!(!err.contains("cp-2 ("), "cp-2 trusts it: {err}");
                    let out = rotate_with(&mixed[0], early, &["--force"]);
                    assert_ok(&out, "reissue --force");
                    assert!(
                        stderr(&out).contains("warning: --force: `reissue` refused"),
                        "{}",
                        stderr(&out)
                    );
                } else {
                    rotate(&mixed[0], early);
                }
                let what = format!("{early} on cp-1 before {phase} on cp-3");
                fleet_rows(&mixed, &what, 3, outage);
            }
        }
    }
    for (i, after) in [
        "cp-1 (finished), cp-2, cp-3 (reissued); every node trusts what the others present; next: `kcerts ca rotate finish --ca ca --apply` on cp-2, cp-3",
        "cp-1, cp-2 (finished), cp-3 (reissued); every node trusts what the others present; next: `kcerts ca rotate finish --ca ca --apply` on cp-3",
    ]
    .iter()
    .enumerate()
    {
        rotate(&roots[i], "finish");
        fleet_rows(&roots, &format!("finish on cp-{}", i + 1), 2, &[after]);
    }
    rotate(&roots[2], "finish");
    let text = fleet_rows(&roots, "finish on cp-3", 0, &[]);
    assert!(!text.contains("ca-rotation"), "{text}");
    assert!(
        text.contains("pass ca same-cert pki/ca.crt is the same on every node"),
        "{text}"
    );
}

/// Issue 16: the README's procedure for rotating the service-account key on three
/// control-plane nodes (prepare on cp-1, copy the new pair, then trust, switch and
/// finish on each node in turn), with `kcerts fleet` run after every phase on every
/// node: fleet reads each node's phase from its files and its apiserver's and
/// controller-manager's manifests. Nodes in different safe phases warn, naming the
/// phases and the next step; one phase everywhere passes; `same-key`/`same-pub`
/// pass while the nodes hold only the rotation's two keys. The outages fail with
/// exit 3, naming the nodes and the fix: `prepare` run on two nodes, `switch` on a
/// node while another's apiserver does not accept the new key, `finish` on a node
/// while another still signs with the old key.
#[test]
fn a_three_node_sa_rotation_is_read_by_fleet_after_every_phase_on_every_node() {
    let dir = tempdir();
    let roots: Vec<PathBuf> = (1..=3)
        .map(|i| dir.path().join(format!("cp-{i}")))
        .collect();
    for (node, root) in cluster(32).iter().zip(&roots) {
        write_node(node, root);
        kcerts_tests::kubeadm_manifests::write_manifests(root);
    }
    // switch is proven by the three nodes' directories (--fleet); finish is
    // forced (kubeadm's apiserver sets no token lifetime cap).
    let proof = fleet_proof(&roots);
    let rotate_with = |root: &Path, phase: &str, force: bool| {
        let mut args = vec!["sa", "rotate", phase, "--apply"];
        let d = dir_args(root);
        args.extend(d.iter().map(String::as_str));
        if phase == "switch" {
            args.extend(proof.iter().map(String::as_str));
        }
        if force || phase == "finish" {
            args.push("--force");
        }
        kcerts(&args)
    };
    let rotate = |root: &Path, phase: &str| {
        let out = rotate_with(root, phase, false);
        assert_ok(&out, &format!("sa {phase} on {}", root.display()));
    };
    let copy_new = |to: &Path| copy_pki(&roots[0], to, &["sa.new.key", "sa.new.pub"]);
    // A copy of node `i` with `phase` run on it, in place of node `i`.
    let early = |i: usize, phase: &str| -> Vec<PathBuf> {
        let mut mixed = roots.clone();
        mixed[i] = dir
            .path()
            .join(format!("early-{phase}"))
            .join(format!("cp-{}", i + 1));
        copy_node(&roots[i], &mixed[i]);
        if phase == "switch" {
            // Issue 23: refused while the --fleet copies show an apiserver that
            // does not accept the new key; --force runs it anyway.
            let out = rotate_with(&mixed[i], phase, false);
            assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
            let err = stderr(&out);
            assert!(
                err.contains("`switch` refused: not every control-plane node trusts the new service-account key yet: cp-3 (`prepared`: its apiserver does not accept the new key"),
                "{err}"
            );
            assert_ok(&rotate_with(&mixed[i], phase, true), "switch --force");
        } else {
            rotate(&mixed[i], phase);
        }
        mixed
    };
    let before = fleet_rows(
        &roots,
        "before",
        0,
        &[
            "pass sa same-key pki/sa.key is the same on every node",
            "pass sa same-pub pki/sa.pub is the same on every node",
        ],
    );
    assert!(!before.contains("sa-rotation"), "{before}");

    rotate(&roots[0], "prepare");
    fleet_rows(
        &roots,
        "prepare on cp-1",
        2,
        &[
            "warn sa sa-rotation rotation of the service-account key under way, nodes in different phases: cp-1 (prepared), cp-2, cp-3 (not prepared); every apiserver accepts what the others sign; next: copy pki/sa.new.key and pki/sa.new.pub to cp-2, cp-3, then `kcerts sa rotate trust --apply` there",
            "pass sa same-key pki/sa.key is the same on every node",
        ],
    );
    // prepare again on cp-2 instead of copying cp-1's pair.
    fleet_rows(
        &early(1, "prepare"),
        "prepare on cp-1 and on cp-2",
        3,
        &[
            "fail sa sa-rotation pki/sa.new.key or pki/sa.new.pub differs between nodes (cp-1 hold one new key; cp-2 another): `prepare` ran on more than one node",
        ],
    );
    copy_new(&roots[1]);
    fleet_rows(
        &roots,
        "copied to cp-2",
        2,
        &["cp-1, cp-2 (prepared), cp-3 (not prepared)"],
    );
    copy_new(&roots[2]);
    fleet_rows(
        &roots,
        "copied to cp-3",
        0,
        &[
            "pass sa sa-rotation rotation of the service-account key under way: every node is `prepared`; next: `kcerts sa rotate trust --apply` on cp-1, cp-2, cp-3",
        ],
    );

    // trust, then switch, on cp-1, cp-2, cp-3 in turn; after cp-2, a copy of cp-1
    // running the next phase early is an outage.
    type Outage = (&'static str, &'static [&'static str]);
    let phases: [(&str, [&str; 3], Outage); 2] = [
        (
            "trust",
            [
                "warn sa sa-rotation rotation of the service-account key under way, nodes in different phases: cp-1 (trusted), cp-2, cp-3 (prepared); every apiserver accepts what the others sign; next: `kcerts sa rotate trust --apply` on cp-2, cp-3",
                "cp-1, cp-2 (trusted), cp-3 (prepared)",
                "pass sa sa-rotation rotation of the service-account key under way: every node is `trusted`; next: `kcerts sa rotate switch --apply` on cp-1, cp-2, cp-3",
            ],
            (
                "switch",
                &[
                    "fail sa sa-rotation cp-1 (switched) sign service-account tokens with the new key, which the apiservers of cp-3 (prepared) do not accept yet (no --service-account-key-file holds it): tokens issued by one apiserver are rejected by the others; `kcerts sa rotate trust --apply` on cp-3",
                ],
            ),
        ),
        (
            "switch",
            [
                "cp-1 (switched), cp-2, cp-3 (trusted); every apiserver accepts what the others sign; next: `kcerts sa rotate switch --apply` on cp-2, cp-3",
                "cp-1, cp-2 (switched), cp-3 (trusted)",
                "pass sa sa-rotation rotation of the service-account key under way: every node is `switched`; next: once every token signed by the old key is replaced (bound tokens within their lifetime, 1h by default), `kcerts sa rotate finish --apply` on cp-1, cp-2, cp-3",
            ],
            (
                "finish",
                &[
                    "fail sa sa-rotation the apiservers of cp-1 (finished) no longer accept tokens signed by the old service-account key but cp-3 (trusted) still sign with it: those tokens are rejected; run `kcerts sa rotate switch --apply` on cp-3 (or `kcerts restore` the finish on cp-1)",
                    "pass sa same-key pki/sa.key is the rotation's old key on cp-2, cp-3 and its new key on cp-1",
                ],
            ),
        ),
    ];
    for (phase, afters, (next, outage)) in phases {
        for (i, after) in afters.iter().enumerate() {
            rotate(&roots[i], phase);
            let code = if i < 2 { 2 } else { 0 };
            fleet_rows(
                &roots,
                &format!("{phase} on cp-{}", i + 1),
                code,
                &[
                    after,
                    "pass sa same-key pki/sa.key is the same on every node",
                ],
            );
            if phase == "trust" && i == 0 {
                // The same read from archives made with `tar`: fleet takes the
                // manifests from them too.
                let archives: Vec<PathBuf> = roots
                    .iter()
                    .enumerate()
                    .map(|(n, r)| {
                        let a = dir.path().join("archives");
                        std::fs::create_dir_all(&a).unwrap();
                        tar(r, &a.join(format!("cp-{}.tgz", n + 1)), "czf")
                    })
                    .collect();
                fleet_rows(&archives, "trust on cp-1, archives", 2, &[after]);
            }
            if i == 1 {
                let what = format!("{next} on cp-1 before {phase} on cp-3");
                fleet_rows(&early(0, next), &what, 3, outage);
            }
        }
    }
    for (i, after) in [
        "warn sa sa-rotation rotation of the service-account key under way, nodes in different phases: cp-1 (finished), cp-2, cp-3 (switched); every apiserver accepts what the others sign (tokens signed by the old key before the switch are rejected where it is finished); next: once every token signed by the old key is replaced",
        "cp-1, cp-2 (finished), cp-3 (switched)",
    ]
    .iter()
    .enumerate()
    {
        rotate(&roots[i], "finish");
        fleet_rows(
            &roots,
            &format!("finish on cp-{}", i + 1),
            2,
            &[
                after,
                "pass sa same-key pki/sa.key is the rotation's old key on",
                "pass sa same-pub pki/sa.pub is the rotation's old key on",
            ],
        );
    }
    rotate(&roots[2], "finish");
    let text = fleet_rows(
        &roots,
        "finish on cp-3",
        0,
        &[
            "pass sa same-key pki/sa.key is the same on every node",
            "pass sa same-pub pki/sa.pub is the same on every node",
        ],
    );
    assert!(!text.contains("sa-rotation"), "{text}");
}
