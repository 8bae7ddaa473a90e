//! `kcerts serve`: scraped over HTTP and parsed with Python's prometheus_client;
//! reading once per interval whatever the scrape rate, SIGHUP, SIGTERM, bad files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kcerts_core::KeyAlgorithm;
use kcerts_tests::*;
use time::OffsetDateTime;

use crate::monitoring::parse_with_prometheus_client;

/// A `kcerts serve` process on 127.0.0.1 with a free port; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: String,
    log: mpsc::Receiver<String>,
    /// Every stderr line received so far.
    pub lines: Vec<String>,
}

impl Server {
    /// Starts `kcerts serve --listen 127.0.0.1:0 ARGS` and waits (at most 20 s)
    /// for its "listening on" line.
    pub fn start(bin: &Path, args: &[String]) -> Self {
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(args);
        Self::spawn(cmd)
    }

    /// Runs `cmd` (a `kcerts serve --listen 127.0.0.1:0 ...`, perhaps through
    /// chroot) and waits (at most 20 s) for its "listening on" line.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Server {
            child,
            addr: String::new(),
            log,
            lines: Vec::new(),
        };
        let line = s.wait_for_log("listening on ", Duration::from_secs(20));
        s.addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .to_string();
        s
    }

    /// Waits for a stderr line containing `needle` and returns it.
    pub fn wait_for_log(&mut self, needle: &str, limit: Duration) -> String {
        if let Some(l) = self.lines.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needle:?}; got:\n{}",
                    self.lines.join("\n")
                ),
            }
        }
    }

    /// Takes the stderr lines that arrived so far.
    pub fn drain_log(&mut self) {
        while let Ok(l) = self.log.try_recv() {
            self.lines.push(l);
        }
    }

    /// `GET path`: the status code and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.addr, path)
    }

    /// Sends a signal with kill(1).
    pub fn signal(&self, name: &str) {
        let o = run("kill", ["-s", name, &self.child.id().to_string()]);
        assert_ok(&o, "kill");
    }

    /// Waits at most `limit` for the process to end.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The value of an unlabelled sample in the last scrape, e.g. `kcerts_serve_reads_total`.
    pub fn value(&self, name: &str) -> f64 {
        let (code, body) = self.get("/metrics");
        assert_eq!(code, 200);
        sample(&body, name).unwrap_or_else(|| panic!("no {name} in\n{body}"))
    }

    /// Scrapes until `kcerts_serve_reads_total` reaches `n` (at most 20 s).
    pub fn wait_reads(&self, n: f64) {
        let end = Instant::now() + Duration::from_secs(20);
        while self.value("kcerts_serve_reads_total") < n {
            assert!(Instant::now() < end, "reading {n} did not come within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare HTTP/1.1 GET (Connection: close), bounded at 10 s.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

/// The value of the sample line `name value` (no labels).
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The example node issued `age` ago (1-year leaves, 10-year CAs) under `root`.
pub fn write_node_aged(root: &Path, age: time::Duration, seed: u64) {
    let now = OffsetDateTime::now_utc() - age;
    let node = generate(&example_options(KeyAlgorithm::EcdsaP256), now, seed);
    write_node(&node, root);
}

/// The serve flags for a node under `root` (its kubelet certificate is absent).
pub fn serve_args(root: &Path, interval: &str) -> Vec<String> {
    let mut a = dir_args(root);
    a.extend([
        "--kubelet-client-cert".into(),
        root.join("kubelet/kubelet-client-current.pem")
            .display()
            .to_string(),
        "--interval".into(),
        interval.into(),
    ]);
    a
}

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
