//! A `kcerts serve` process on loopback, scraped over plain HTTP; killed when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{assert_ok, dir_args, run};

/// A `kcerts serve` process on 127.0.0.1 with a free port; killed when dropped.
pub struct Server {
    /// The `kcerts serve` process.
    pub child: Child,
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
