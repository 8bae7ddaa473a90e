//! `kcerts serve`: scraped over HTTP and parsed with Python's prometheus_client;
//! reading once per interval whatever the scrape rate, SIGHUP, SIGTERM, bad files.

use std::net::TcpStream;
use std::time::Duration;

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
