//! `kcerts serve`: scraped over HTTP and parsed with Python's prometheus_client;
//! reading once per interval whatever the scrape rate, SIGHUP, SIGTERM, bad files.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kcerts_tests::openssl_issue::{Ca, Leaf};
use kcerts_tests::*;

use kcerts_tests::prometheus::parse_with_prometheus_client;
use kcerts_tests::serve_process::{Server, sample, serve_args};

#[test]
fn serve_metrics_parse_with_prometheus_client() {
    let dir = tempdir();
    let root = dir.path();
    write_node_aged(root, time::Duration::days(1), 61);
    std::fs::write(root.join("pki/front-proxy-client.crt"), "junk").unwrap();
    let mut s = Server::start(&kcerts_bin(), &serve_args(root, "1h"));

    let (code, text) = s.get("/metrics");
    assert_eq!(code, 200);
    let parsed = parse_with_prometheus_client(&text);
    // 11 rows + 3 CAs, less the broken front-proxy-client.
    for family in [
        "# family x509_cert_not_after gauge 13\n",
        "# family x509_cert_expired gauge 13\n",
        "# family x509_cert_error gauge 1\n",
        "# family x509_read_errors gauge 1\n",
        "# family kcerts_serve_reads counter 1\n",
    ] {
        assert!(parsed.contains(family), "{family} in\n{parsed}");
    }
    assert!(
        parsed.contains("kcerts_verify_check{check=chain,result=pass,target=apiserver} 0\n"),
        "{parsed}"
    );
    assert!(
        parsed
            .lines()
            .filter(|l| l.starts_with("x509_cert_expired{"))
            .all(|l| l.ends_with(" 0")),
        "a day-old node has nothing expired: {parsed}"
    );

    for secret in ["PRIVATE KEY", "client-key-data"] {
        assert!(!text.contains(secret), "no key material in the metrics");
    }

    // The certificate samples are check-expiration's, line for line.
    let o = kcerts(
        ["check-expiration", "-o", "prometheus"]
            .into_iter()
            .map(String::from)
            .chain(dir_args(root)),
    );
    let cli = stdout(&o);
    let certs = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("x509_cert_not_") || l.starts_with("x509_cert_error"))
            .map(String::from)
            .collect()
    };
    assert_eq!(certs(&text), certs(&cli));

    // The bad file is a log line too, and the server goes on.
    let line = s.wait_for_log("front-proxy-client.crt", Duration::from_secs(10));
    assert!(line.contains("error: "), "{line}");
    assert_eq!(s.get("/healthz"), (200, "ok\n".into()));
    assert_eq!(s.get("/nope").0, 404);
    assert_eq!(s.get("/metrics").0, 200);
}

#[test]
fn serve_reads_once_per_interval_and_again_on_sighup() {
    let dir = tempdir();
    let root = dir.path();
    write_node_aged(root, time::Duration::days(1), 62);
    let s = Server::start(&kcerts_bin(), &serve_args(root, "1h"));
    let serial = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("x509_cert_not_after{name=\"apiserver\""))
            .and_then(|l| l.split("serial_number=\"").nth(1))
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string()
    };
    let before = serial(&s.get("/metrics").1);
    // 200 scrapes as fast as they come: still the one reading made at start.
    for _ in 0..200 {
        assert_eq!(s.get("/metrics").0, 200);
    }
    assert_eq!(s.value("kcerts_serve_reads_total"), 1.0);

    // Another node's apiserver certificate: not seen until SIGHUP.
    let other = tempdir();
    write_node_aged(other.path(), time::Duration::days(1), 63);
    for f in ["apiserver.crt", "apiserver.key"] {
        std::fs::copy(other.path().join("pki").join(f), root.join("pki").join(f)).unwrap();
    }
    assert_eq!(serial(&s.get("/metrics").1), before);
    s.signal("HUP");
    s.wait_reads(2.0);
    let after = serial(&s.get("/metrics").1);
    assert_ne!(after, before, "SIGHUP reads the new certificate");
    // The new apiserver certificate comes from another CA: verify says so.
    let (_, text) = s.get("/metrics");
    assert!(
        text.contains(
            "kcerts_verify_check{target=\"apiserver\",check=\"chain\",result=\"fail\"} 2"
        ),
        "{text}"
    );
    assert_eq!(s.value("kcerts_serve_reads_total"), 2.0);
}

#[test]
fn serve_reads_again_every_interval() {
    let dir = tempdir();
    let root = dir.path();
    write_node_aged(root, time::Duration::days(1), 64);
    let s = Server::start(&kcerts_bin(), &serve_args(root, "1s"));
    let t0 = s.value("kcerts_check_timestamp_seconds");
    s.wait_reads(3.0);
    assert!(s.value("kcerts_check_timestamp_seconds") > t0);
}

#[test]
fn serve_survives_bad_files_and_says_so() {
    let dir = tempdir();
    let root = dir.path();
    write_node_aged(root, time::Duration::days(1), 65);
    let mut s = Server::start(&kcerts_bin(), &serve_args(root, "1h"));
    assert_eq!(s.value("x509_read_errors"), 0.0);

    std::fs::write(
        root.join("pki/apiserver.crt"),
        "-----BEGIN CERTIFICATE-----\nxx",
    )
    .unwrap();
    std::fs::remove_file(root.join("pki/ca.crt")).unwrap();
    std::fs::create_dir(root.join("pki/ca.crt")).unwrap();
    std::fs::write(root.join("admin.conf"), "apiVersion: [").unwrap();
    s.signal("HUP");
    s.wait_reads(2.0);
    let (code, text) = s.get("/metrics");
    assert_eq!(code, 200);
    assert_eq!(sample(&text, "x509_read_errors"), Some(3.0), "{text}");
    for f in ["apiserver.crt", "ca.crt", "admin.conf"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("x509_cert_error{")
                    && l.contains(&format!("filename=\"{f}\""))),
            "{f}: {text}"
        );
        s.wait_for_log(&format!("{f}: "), Duration::from_secs(10));
    }
    assert!(
        s.lines
            .iter()
            .any(|l| l.contains("ca.crt: cannot be read: is a directory")),
        "{:?}",
        s.lines
    );

    // Everything gone: still serving, and still alive.
    std::fs::remove_dir_all(root.join("pki")).unwrap();
    s.signal("HUP");
    s.wait_reads(3.0);
    assert_eq!(s.get("/healthz").0, 200);
    s.drain_log();
    assert!(s.child.try_wait().unwrap().is_none(), "{:?}", s.lines);
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let dir = tempdir();
    let root = dir.path();
    write_node_aged(root, time::Duration::days(1), 66);
    let mut s = Server::start(&kcerts_bin(), &serve_args(root, "1h"));
    assert_eq!(s.get("/metrics").0, 200);
    s.signal("TERM");
    let status = s
        .wait_exit(Duration::from_secs(10))
        .expect("stops within 10 s");
    assert!(status.success(), "{status}");
    s.wait_for_log("stopped", Duration::from_secs(5));
    assert!(TcpStream::connect(&s.addr).is_err(), "the port is closed");
}

#[test]
fn serve_refuses_bad_flags() {
    let o = kcerts(["serve", "--interval", "0s"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = kcerts(["serve", "--listen", "nowhere"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A CA for the scrapes, kcerts' serving certificate for 127.0.0.1 and a client
/// certificate (Prometheus's), all made by openssl under `dir`; and a client
/// certificate from another CA.
struct ScrapePki {
    ca: PathBuf,
    server: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
    stranger: (PathBuf, PathBuf),
}

fn scrape_pki(dir: &Path) -> ScrapePki {
    let ca = Ca::self_signed(dir, "scrape-ca", "/CN=scrape-ca", 30);
    let pair = |ca: &Ca, name: &str, subj: &str, ext: &str| {
        let i = ca.issue(&Leaf::new(dir, name, subj, ext));
        (i.cert, i.key.unwrap())
    };
    let server = pair(
        &ca,
        "server",
        "/CN=kcerts-serve",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    let client = pair(
        &ca,
        "prometheus",
        "/CN=prometheus",
        "extendedKeyUsage=clientAuth\n",
    );
    let other = Ca::self_signed(dir, "other-ca", "/CN=other-ca", 30);
    let stranger = pair(
        &other,
        "stranger",
        "/CN=prometheus",
        "extendedKeyUsage=clientAuth\n",
    );
    ScrapePki {
        ca: ca.cert,
        server,
        client,
        stranger,
    }
}

/// `curl https://ADDR/metrics` trusting `ca`, with a client certificate when
/// given: curl's exit code and what it printed (the body, then the status code).
fn curl(addr: &str, ca: &Path, client: Option<&(PathBuf, PathBuf)>) -> (i32, String) {
    let p = |x: &Path| x.display().to_string();
    let mut args = vec![
        "-sS".to_string(),
        "--max-time".into(),
        "10".into(),
        "--cacert".into(),
        p(ca),
        "-w".into(),
        "\n%{http_code}".into(),
    ];
    if let Some((cert, key)) = client {
        args.extend(["--cert".into(), p(cert), "--key".into(), p(key)]);
    }
    args.push(format!("https://{addr}/metrics"));
    let o = run("curl", &args);
    (
        o.status.code().unwrap_or(-1),
        format!("{}{}", stdout(&o), stderr(&o)),
    )
}

fn tls_args(root: &Path, pki: &ScrapePki, client_ca: bool) -> Vec<String> {
    let p = |x: &Path| x.display().to_string();
    let mut a = serve_args(root, "1h");
    a.extend([
        "--tls-cert-file".into(),
        p(&pki.server.0),
        "--tls-private-key-file".into(),
        p(&pki.server.1),
    ]);
    if client_ca {
        a.extend(["--client-ca-file".into(), p(&pki.ca)]);
    }
    a
}

#[test]
fn serve_over_tls_refuses_scrapes_without_a_client_certificate_of_its_ca() {
    let dir = tempdir();
    let root = dir.path().join("node");
    write_node_aged(&root, time::Duration::days(1), 67);
    let work = dir.path().join("scrape");
    std::fs::create_dir(&work).unwrap();
    let pki = scrape_pki(&work);

    let mut s = Server::start(&kcerts_bin(), &tls_args(&root, &pki, true));
    s.wait_for_log(
        "HTTPS, client certificates required",
        Duration::from_secs(5),
    );
    // No client certificate: the handshake is refused, nothing is served.
    let (code, out) = curl(&s.addr, &pki.ca, None);
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("x509_cert_not_after"), "{out}");
    s.wait_for_log("TLS handshake with 127.0.0.1:", Duration::from_secs(10));
    // A certificate from another CA: refused too.
    let (code, out) = curl(&s.addr, &pki.ca, Some(&pki.stranger));
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("x509_cert_not_after"), "{out}");
    // Plain HTTP on the TLS port: no metrics either.
    let mut t = TcpStream::connect(&s.addr).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        t,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let _ = t.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("x509_cert"));
    // Prometheus's certificate: served.
    let (code, out) = curl(&s.addr, &pki.ca, Some(&pki.client));
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("\n200"), "{out}");
    assert!(
        out.contains("x509_cert_not_after{name=\"apiserver\""),
        "{out}"
    );
    s.drain_log();
    assert!(
        s.lines.iter().any(|l| l.contains("refused")),
        "{:?}",
        s.lines
    );

    // Without --client-ca-file: HTTPS that anyone may scrape.
    let s = Server::start(&kcerts_bin(), &tls_args(&root, &pki, false));
    let (code, out) = curl(&s.addr, &pki.ca, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("\n200"), "{out}");
}

#[test]
fn serve_refuses_tls_files_that_do_not_load() {
    let dir = tempdir();
    let root = dir.path().join("node");
    write_node_aged(&root, time::Duration::days(1), 68);
    let work = dir.path().join("scrape");
    std::fs::create_dir(&work).unwrap();
    let pki = scrape_pki(&work);
    let p = |x: &Path| x.display().to_string();
    // The key of another certificate.
    let mut a = serve_args(&root, "1h");
    a.extend([
        "--tls-cert-file".into(),
        p(&pki.server.0),
        "--tls-private-key-file".into(),
        p(&pki.client.1),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ]);
    let o = kcerts(["serve".to_string()].into_iter().chain(a));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--tls-cert-file"), "{}", stderr(&o));
    // A client CA file without a certificate.
    let empty = work.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let mut a = tls_args(&root, &pki, false);
    a.extend([
        "--client-ca-file".into(),
        p(&empty),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ]);
    let o = kcerts(["serve".to_string()].into_iter().chain(a));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--client-ca-file") && stderr(&o).contains("empty.pem"),
        "{}",
        stderr(&o)
    );
    // --client-ca-file alone (no TLS): a usage error.
    let o = kcerts(["serve", "--client-ca-file", &p(&pki.ca)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn serve_holds_at_most_max_connections_open() {
    let dir = tempdir();
    let root = dir.path();
    write_node_aged(root, time::Duration::days(1), 69);
    let mut a = serve_args(root, "1h");
    a.extend(["--max-connections".into(), "2".into()]);
    let s = Server::start(&kcerts_bin(), &a);
    // Two idle connections take both slots (each may stay up to the 10 s header
    // timeout)...
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(&s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // ...so a third one's request waits: no answer within 2 s.
    let mut third = TcpStream::connect(&s.addr).unwrap();
    write!(
        third,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 64];
    let waited = third.read(&mut buf);
    assert!(
        matches!(&waited, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "the third connection was served while two were open: {waited:?}"
    );
    // One closes: the third is answered.
    drop(idle);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    third.read_to_end(&mut got).unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(got.ends_with("ok\n"), "{got}");
}

/// Sets the mode of every `*.key` in the node's `pki/` and `pki/etcd/`; how many.
fn chmod_keys(root: &Path, mode: u32) -> usize {
    let mut keys = 0;
    for d in [root.join("pki"), root.join("pki/etcd")] {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "key") {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
                keys += 1;
            }
        }
    }
    keys
}

#[test]
fn serve_reads_no_private_key_unless_asked_and_works_where_none_can_be_read() {
    let dir = tempdir();
    let root = dir.path();
    write_node_aged(root, time::Duration::days(1), 70);
    // A backup directory with a key in it, as kubeadm and kcerts leave them.
    let backup = root.join("tmp/kcerts-backup-1");
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::copy(root.join("pki/ca.key"), backup.join("ca.key")).unwrap();
    // Every key and tmp/ mode 000, and the server run as root without any
    // capability, as the DaemonSet runs it: it cannot open them.
    let keys = chmod_keys(root, 0o000);
    assert_eq!(keys, 11, "the 11 keys of a kubeadm node, sa.key included");
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let no_caps = |extra: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--inh-caps=-all", "--bounding-set=-all"])
            .arg(kcerts_bin())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(serve_args(root, "1h"))
            .args(extra);
        Server::spawn(cmd)
    };
    // Sanity: without capabilities the keys really are unreadable.
    let o = run(
        "setpriv",
        [
            "--inh-caps=-all",
            "--bounding-set=-all",
            "cat",
            &root.join("pki/ca.key").display().to_string(),
        ],
    );
    assert!(
        !o.status.success(),
        "the key is readable: the test proves nothing"
    );

    let s = no_caps(&[]);
    let (code, text) = s.get("/metrics");
    assert_eq!(code, 200);
    assert_eq!(sample(&text, "x509_read_errors"), Some(0.0), "{text}");
    assert!(!text.contains("x509_cert_error{"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("x509_cert_not_after{"))
            .count(),
        14,
        "{text}"
    );
    // No key row and no pair row; every other check passes as before.
    assert!(!text.contains("check=\"key\""), "{text}");
    assert!(!text.contains("check=\"pair\""), "{text}");
    assert!(
        text.contains(
            "kcerts_verify_check{target=\"apiserver\",check=\"chain\",result=\"pass\"} 0"
        ),
        "{text}"
    );
    assert!(!text.contains("result=\"fail\"} 2"), "{text}");
    drop(s);

    // --check-keys reads them, so here each key row fails naming why.
    let s = no_caps(&["--check-keys"]);
    let (_, text) = s.get("/metrics");
    assert!(
        text.contains("kcerts_verify_check{target=\"apiserver\",check=\"key\",result=\"fail\"} 2"),
        "{text}"
    );
    drop(s);
    // And where the keys can be read, --check-keys checks them.
    chmod_keys(root, 0o600);
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let s = no_caps(&["--check-keys"]);
    let (_, text) = s.get("/metrics");
    assert!(
        text.contains("kcerts_verify_check{target=\"apiserver\",check=\"key\",result=\"pass\"} 0"),
        "{text}"
    );
    assert!(text.contains("check=\"pair\""), "{text}");
}

#[test]
fn serve_fails_healthz_when_a_mounted_kubeconfig_was_replaced_on_the_node() {
    // The DaemonSet's view of a node: the kubeconfigs as single-file bind mounts
    // in another directory (the pod's), in a private mount namespace.
    let dir = tempdir();
    let root = dir.path().join("node");
    write_node_aged(&root, time::Duration::days(1), 71);
    let view = dir.path().join("view");
    std::fs::create_dir(&view).unwrap();
    let confs: Vec<&str> = [
        "admin.conf",
        "controller-manager.conf",
        "scheduler.conf",
        "kubelet.conf",
    ]
    .into_iter()
    .filter(|f| root.join(f).exists())
    .collect();
    assert!(confs.contains(&"admin.conf"), "{confs:?}");
    let mut script = String::new();
    for f in &confs {
        std::fs::write(view.join(f), "").unwrap();
        script.push_str(&format!(
            "mount --bind '{}' '{}' && ",
            root.join(f).display(),
            view.join(f).display()
        ));
    }
    script.push_str(&format!(
        "exec '{}' serve --listen 127.0.0.1:0 --cert-dir '{}' --kubeconfig-dir '{}' \
         --kubelet-client-cert '{}' --interval 1h",
        kcerts_bin().display(),
        root.join("pki").display(),
        view.display(),
        root.join("kubelet/kubelet-client-current.pem").display()
    ));
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    let mut s = Server::spawn(cmd);
    assert_eq!(s.get("/healthz"), (200, "ok\n".into()));
    let serial = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("x509_cert_not_after{name=\"admin.conf\""))
            .and_then(|l| l.split("serial_number=\"").nth(1))
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no admin.conf in\n{t}"))
            .to_string()
    };
    let before = serial(&s.get("/metrics").1);

    // admin.conf replaced on the node by a rename, as kcerts renew writes it.
    let other = tempdir();
    write_node_aged(other.path(), time::Duration::days(1), 72);
    let staged = root.join("admin.conf.kcerts-new");
    std::fs::copy(other.path().join("admin.conf"), &staged).unwrap();
    std::fs::rename(&staged, root.join("admin.conf")).unwrap();
    s.signal("HUP");
    s.wait_reads(2.0);
    // The mount still shows the old file: the metrics cannot see the new one...
    assert_eq!(serial(&s.get("/metrics").1), before);
    // ...so /healthz says so, and the liveness probe restarts the container.
    let (code, body) = s.get("/healthz");
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains(&format!(
            "{} was replaced on the node",
            view.join("admin.conf").display()
        )),
        "{body}"
    );
    s.wait_for_log("was replaced on the node", Duration::from_secs(10));
    assert_eq!(s.get("/metrics").0, 200, "the metrics are still served");
}

/// A free port on 127.0.0.1 (bound, then released for the program to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn prometheus_scrapes_over_mutual_tls_only_with_its_client_certificate() {
    let dir = tempdir();
    let root = dir.path().join("node");
    write_node_aged(&root, time::Duration::days(1), 73);
    let work = dir.path().join("scrape");
    std::fs::create_dir(&work).unwrap();
    let pki = scrape_pki(&work);
    let s = Server::start(&kcerts_bin(), &tls_args(&root, &pki, true));

    // Debian's Prometheus with two jobs on the one target: with the client
    // certificate in tls_config, and without one.
    let p = |x: &Path| x.display().to_string();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         - job_name: with-cert\n  scheme: https\n  tls_config:\n    ca_file: {ca}\n    \
         cert_file: {cert}\n    key_file: {key}\n  static_configs:\n  - targets: ['{addr}']\n\
         - job_name: without-cert\n  scheme: https\n  tls_config:\n    ca_file: {ca}\n  \
         static_configs:\n  - targets: ['{addr}']\n",
        ca = p(&pki.ca),
        cert = p(&pki.client.0),
        key = p(&pki.client.1),
        addr = s.addr
    );
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    let web = format!("127.0.0.1:{}", free_port());
    let mut prom = KillOnDrop(
        Command::new("prometheus")
            .arg(format!("--config.file={}", p(&config_file)))
            .arg(format!(
                "--storage.tsdb.path={}",
                p(&dir.path().join("tsdb"))
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus (Debian's package) runs"),
    );
    // `up` per job, once both have been scraped (at most 60 s).
    let end = std::time::Instant::now() + Duration::from_secs(60);
    let up = loop {
        assert!(
            std::time::Instant::now() < end,
            "Prometheus did not scrape both jobs within 60 s"
        );
        std::thread::sleep(Duration::from_millis(500));
        assert!(prom.0.try_wait().unwrap().is_none(), "prometheus exited");
        let Ok(mut t) = TcpStream::connect(&web) else {
            continue;
        };
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let q = "/api/v1/query?query=up";
        if write!(
            t,
            "GET {q} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .is_err()
        {
            continue;
        }
        let mut raw = String::new();
        let _ = t.read_to_string(&mut raw);
        let Some((_, body)) = raw.split_once("\r\n\r\n") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
            continue;
        };
        let results = v["data"]["result"].as_array().cloned().unwrap_or_default();
        if results.len() == 2 {
            break results
                .iter()
                .map(|r| {
                    (
                        r["metric"]["job"].as_str().unwrap_or_default().to_string(),
                        r["value"][1].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>();
        }
    };
    assert_eq!(up["with-cert"], "1", "{up:?}");
    assert_eq!(up["without-cert"], "0", "{up:?}");
    let _ = prom.0.kill();
}

/// A child process killed when dropped (a failed assertion included).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
