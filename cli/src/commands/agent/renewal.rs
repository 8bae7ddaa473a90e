//! The agent's renewal: `kcerts renew ROWS --restart` run as a child process of
//! this same binary (the journaled write path, its node lock and crash recovery,
//! the health-gated restarts: exactly what a person running it gets), then
//! `verify --live`'s endpoint checks until every component serves the files on
//! disk.
//!
//! A child process rather than a call: a command never calls another here
//! (cli/tests/layers.rs), and renew's run is the unit that is tested as a whole;
//! the child's output goes to the agent's log, line by line.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kcerts_core::live::Row as LiveRow;
use kcerts_core::verify::Status;
use time::OffsetDateTime;

use crate::flags::endpoints::EndpointArgs;
use crate::flags::waits::WaitArgs;
use crate::fsio::NodeDirs;
use crate::node::endpoints::{self, Endpoints};

/// How many of the child's last lines an error quotes.
const TAIL: usize = 12;

/// What the renewal needs to know.
#[derive(Debug, Clone)]
pub struct Renewal {
    /// The kcerts binary (this one).
    pub exe: PathBuf,
    /// The node's directories.
    pub dirs: NodeDirs,
    /// `--endpoint`, `--manifests-dir`.
    pub endpoints: EndpointArgs,
    /// `--wait`, `--stop-wait`.
    pub waits: WaitArgs,
}

impl Renewal {
    /// The child's arguments: `renew ROWS --restart` and the node's flags.
    pub fn args(&self, rows: &[String]) -> Vec<String> {
        let mut a: Vec<String> = vec!["renew".into()];
        a.extend(rows.iter().cloned());
        a.push("--restart".into());
        a.push("--cert-dir".into());
        a.push(self.dirs.cert_dir.display().to_string());
        a.push("--kubeconfig-dir".into());
        a.push(self.dirs.kubeconfig_dir.display().to_string());
        if let Some(m) = &self.endpoints.manifests_dir {
            a.push("--manifests-dir".into());
            a.push(m.display().to_string());
        }
        for (e, addr) in &self.endpoints.endpoints {
            a.push("--endpoint".into());
            a.push(format!("{}={addr}", e.name()));
        }
        a.push("--wait".into());
        a.push(kcerts_core::duration::format_go(self.waits.wait));
        a.push("--stop-wait".into());
        a.push(kcerts_core::duration::format_go(self.waits.stop_wait));
        a
    }

    /// Runs `kcerts renew ROWS --restart`, each output line logged; `Err` with the
    /// last lines when it fails.
    pub fn renew(&self, rows: &[String], log: &(dyn Fn(&str) + Sync)) -> Result<(), String> {
        let args = self.args(rows);
        log(&format!("running kcerts {}", args.join(" ")));
        let mut child = Command::new(&self.exe)
            .args(&args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.exe.display()))?;
        let tail = std::sync::Mutex::new(Vec::<String>::new());
        let out = child.stdout.take();
        let err = child.stderr.take();
        std::thread::scope(|s| {
            let follow = |stream: Box<dyn std::io::Read + Send>| {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log(&format!("renew: {line}"));
                    if let Ok(mut t) = tail.lock() {
                        t.push(line);
                        if t.len() > TAIL {
                            t.remove(0);
                        }
                    }
                }
            };
            if let Some(o) = out {
                s.spawn(move || follow(Box::new(o)));
            }
            if let Some(e) = err {
                s.spawn(move || follow(Box::new(e)));
            }
        });
        let status = child
            .wait()
            .map_err(|e| format!("kcerts renew did not finish: {e}"))?;
        if status.success() {
            return Ok(());
        }
        let tail = tail.into_inner().unwrap_or_default();
        let errors: Vec<&String> = tail
            .iter()
            .filter(|l| l.starts_with("error") || l.contains("error:"))
            .collect();
        let shown: Vec<&String> = if errors.is_empty() {
            tail.iter().collect()
        } else {
            errors
        };
        Err(format!(
            "kcerts renew {} exited with {status}: {}",
            rows.join(" "),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" / ")
        ))
    }

    /// `verify --live`'s endpoint rows until none fails (a component may still be
    /// settling), at most `--wait`; `Err` with the failing rows when time is up.
    pub fn verify_live(&self) -> Result<Vec<LiveRow>, String> {
        let limit = Duration::from_millis(
            u64::try_from(self.waits.wait.whole_milliseconds()).unwrap_or(u64::MAX),
        );
        let started = Instant::now();
        loop {
            let rows = self.live_rows();
            let failing: Vec<String> = rows
                .iter()
                .filter(|r| r.status == Status::Fail)
                .map(|r| format!("{} ({}): {}", r.endpoint.name(), r.address, r.reason))
                .collect();
            if failing.is_empty() {
                return Ok(rows);
            }
            if started.elapsed() >= limit {
                return Err(format!("verify --live fails: {}", failing.join("; ")));
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    fn live_rows(&self) -> Vec<LiveRow> {
        let files = self.dirs.load();
        let endpoints = Endpoints::resolve(&self.endpoints, &self.dirs);
        let observed = endpoints::observe(&endpoints, &self.dirs, &files, None);
        let written = endpoints::written(&self.dirs);
        kcerts_core::live::check(&kcerts_core::live::Input {
            files: &files,
            observed: &observed,
            written: &written,
            now: OffsetDateTime::now_utc(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_gets_the_nodes_flags() {
        let r = Renewal {
            exe: PathBuf::from("/usr/bin/kcerts"),
            dirs: NodeDirs::new(PathBuf::from("/n/pki"), PathBuf::from("/n")),
            endpoints: EndpointArgs {
                endpoints: vec![(
                    kcerts_core::live::Endpoint::Apiserver,
                    "10.0.0.1:6443".into(),
                )],
                manifests_dir: Some(PathBuf::from("/n/m")),
            },
            waits: WaitArgs {
                wait: time::Duration::minutes(3),
                stop_wait: time::Duration::seconds(60),
            },
        };
        assert_eq!(
            r.args(&["apiserver".into(), "admin.conf".into()]).join(" "),
            "renew apiserver admin.conf --restart --cert-dir /n/pki --kubeconfig-dir /n \
             --manifests-dir /n/m --endpoint apiserver=10.0.0.1:6443 --wait 0h3m0s --stop-wait 0h1m0s"
        );
    }
}
