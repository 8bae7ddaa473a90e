//! A private network namespace for one test cluster: its loopback interface up
//! and holding the nodes' addresses, reachable from nothing outside it.
//!
//! Why not 127.0.0.0/8 on the host, as the guide asks of everything a test
//! starts: kubeadm refuses a loopback advertise address ("unable to select an
//! IP from lo network interface": its ChooseAPIServerBindAddress replaces a
//! loopback address by the host's default-route IP, which would listen on the
//! machine's network). So each cluster gets its own namespace (`unshare -n`),
//! the nodes' addresses (TEST-NET-2, 198.51.100.0/24) go on ITS `lo`, and every
//! command of the test runs inside it (`nsenter --net=/proc/PID/ns/net`). That
//! is stricter than the host's loopback: nothing there is reachable from the
//! host or the network, and the host's listeners are not reachable from it.
//!
//! The namespace lives as long as a holder process (`unshare -n ... cat`)
//! reading a pipe this struct keeps: dropping it (or the test process dying)
//! closes the pipe and the holder exits. Processes started inside must be
//! stopped first ([`crate::process_kubelet`] does so on Drop).

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// The network namespace; the holder process is ended when dropped.
pub struct NetNs {
    holder: Child,
    stdin: Option<ChildStdin>,
    /// The addresses put on its loopback interface (besides 127.0.0.1).
    pub addresses: Vec<Ipv4Addr>,
}

impl NetNs {
    /// A new namespace with `lo` up and each of `addresses` on it (/32).
    /// Needs root (unshare, ip); panics with the holder's message otherwise.
    pub fn new(addresses: &[Ipv4Addr]) -> Self {
        let mut script = String::from("set -e; ip link set lo up; ");
        for a in addresses {
            script.push_str(&format!("ip addr add {a}/32 dev lo; "));
        }
        script.push_str("echo ready; exec cat >/dev/null");
        let mut holder = Command::new("unshare")
            .args(["--net", "--", "sh", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run unshare: {e}"));
        let stdout = holder.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        if line.trim() != "ready" {
            let _ = holder.kill();
            let out = holder.wait_with_output().unwrap();
            panic!(
                "could not make a network namespace (unshare --net, ip addr add; root is \
                 needed): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stdin = holder.stdin.take();
        Self {
            holder,
            stdin,
            addresses: addresses.to_vec(),
        }
    }

    /// `/proc/PID/ns/net` of the holder.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.holder.id()))
    }

    /// A command that runs `program` inside the namespace
    /// (`nsenter --net=PATH -- program`); add its arguments.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.path().display()))
            .arg("--")
            .arg(program);
        cmd
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
