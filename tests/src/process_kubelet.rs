//! A process kubelet (a test harness, ours): runs a node's static pods as host
//! processes, the way the real kubelet runs them as containers, for the tests
//! that start the real control plane ([`crate::real_cluster`]).
//!
//! - Every [`POLL`] it reads the manifests directory (hidden files ignored, as
//!   the kubelet does): a new manifest starts its pod, a removed one stops it,
//!   a changed one stops it and starts the new one.
//! - A pod is its first container's `command` + `args`, run as one process:
//!   the program is looked up in the binaries directory by its name (`etcd`,
//!   `kube-apiserver`, ...), inside the cluster's network namespace
//!   (`nsenter --net`), in its own process group, with SIGKILL when the test
//!   process dies (`setpriv --pdeathsig KILL`).
//! - No containers, so no mounts: every argument path under a volumeMount's
//!   `mountPath` is rewritten to the node's root directory joined with that
//!   volume's `hostPath.path` (`--cert-file=/etc/kubernetes/pki/etcd/server.crt`
//!   becomes `--cert-file=ROOT/etc/kubernetes/pki/etcd/server.crt`; comma lists
//!   too). A `DirectoryOrCreate`/`FileOrCreate` hostPath is made under the root
//!   when missing, as the kubelet makes it on the host.
//! - Stopping is SIGTERM to the process group, then SIGKILL after [`GRACE`].
//!   A process that exits by itself is started again (restartPolicy Always),
//!   after a back-off of 1 s doubling up to 8 s.
//! - Each start's stdout and stderr go to `LOGS/POD.N.log`; [`ProcessKubelet::logs`]
//!   returns their tails (a failing test prints them).
//! - Dropped: every pod's process group is killed (SIGKILL, no grace).
//!
//! It does not run probes, the kubelet's own server, or any pod that is not a
//! static pod: nothing here serves what the kubelet itself serves.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How often the manifests directory is read.
pub const POLL: Duration = Duration::from_millis(200);
/// How long a pod has after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(10);
/// The longest wait before starting an exited process again.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Where a node's pods come from and run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The manifests directory (`ROOT/etc/kubernetes/manifests`).
    pub manifests: PathBuf,
    /// The node's root: hostPath volumes are paths under it.
    pub root: PathBuf,
    /// Where the programs are (the programs' names are looked up here).
    pub bin: PathBuf,
    /// Where each start's log is written.
    pub logs: PathBuf,
    /// `/proc/PID/ns/net` of the namespace the processes run in.
    pub netns: PathBuf,
}

/// One start of a pod, as the tests can see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// `metadata.name` of the manifest.
    pub pod: String,
    /// Its process id.
    pub pid: u32,
    /// When it was started.
    pub at: Instant,
    /// Its log file.
    pub log: PathBuf,
}

/// A running process kubelet; stops every pod when dropped.
pub struct ProcessKubelet {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    opts: Options,
    stop: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Every start, in order.
    starts: Vec<Start>,
    /// What happened that a test may want to read (exits, unreadable manifests).
    events: Vec<String>,
    /// The pods running now, by `metadata.name`.
    running: BTreeMap<String, u32>,
}

/// A pod as read from its manifest.
struct Pod {
    name: String,
    program: String,
    args: Vec<String>,
    /// (path to make, is a directory)
    create: Vec<(PathBuf, bool)>,
}

/// A manifest file the loop is acting on.
struct Slot {
    bytes: Vec<u8>,
    pod: Option<Pod>,
    child: Option<Child>,
    backoff: Duration,
    next_start: Instant,
}

impl ProcessKubelet {
    /// Starts watching `opts.manifests`.
    pub fn start(opts: Options) -> Self {
        std::fs::create_dir_all(&opts.logs).unwrap();
        let shared = Arc::new(Shared {
            opts,
            stop: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::spawn(move || run(&s));
        Self {
            shared,
            thread: Some(thread),
        }
    }

    /// Every start so far, in order.
    pub fn starts(&self) -> Vec<Start> {
        self.shared.state.lock().unwrap().starts.clone()
    }

    /// How many times the pod `name` was started.
    pub fn start_count(&self, name: &str) -> usize {
        self.starts().iter().filter(|s| s.pod == name).count()
    }

    /// The process id of pod `name` when it runs now.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.shared.state.lock().unwrap().running.get(name).copied()
    }

    /// What happened besides starts: exits, stops, unreadable manifests.
    pub fn events(&self) -> Vec<String> {
        self.shared.state.lock().unwrap().events.clone()
    }

    /// The events and the last `lines` lines of every start's log.
    pub fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for e in self.events() {
            out.push_str(&format!("[process kubelet] {e}\n"));
        }
        for s in self.starts() {
            let text = std::fs::read_to_string(&s.log).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            out.push_str(&format!(
                "----- {} (pid {}), last {} of {} lines of {}\n",
                s.pod,
                s.pid,
                tail.len(),
                all.len(),
                s.log.display()
            ));
            for l in tail {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl ProcessKubelet {
    /// Tells the loop to kill every pod and end, without waiting for it (Drop waits).
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

impl Drop for ProcessKubelet {
    fn drop(&mut self) {
        self.request_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn event(shared: &Shared, what: String) {
    shared.state.lock().unwrap().events.push(what);
}

/// The loop: read the directory, act on changes, restart what exited.
fn run(shared: &Shared) {
    let mut slots: BTreeMap<String, Slot> = BTreeMap::new();
    while !shared.stop.load(Ordering::SeqCst) {
        let files = read_manifests(&shared.opts.manifests);
        // Gone or changed: stop.
        let stale: Vec<String> = slots
            .iter()
            .filter(|(f, s)| files.get(*f) != Some(&s.bytes))
            .map(|(f, _)| f.clone())
            .collect();
        for f in stale {
            let mut slot = slots.remove(&f).unwrap();
            stop(
                shared,
                &mut slot,
                &format!("manifest {f} removed or changed"),
            );
        }
        // New: read.
        for (f, bytes) in files {
            if slots.contains_key(&f) {
                continue;
            }
            let pod = match parse(&bytes, &shared.opts.root) {
                Ok(p) => Some(p),
                Err(e) => {
                    event(shared, format!("{f}: not run: {e}"));
                    None
                }
            };
            slots.insert(
                f,
                Slot {
                    bytes,
                    pod,
                    child: None,
                    backoff: Duration::from_secs(1),
                    next_start: Instant::now(),
                },
            );
        }
        // Exited: note it; due: start.
        for slot in slots.values_mut() {
            if let Some(child) = slot.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let name = slot.pod.as_ref().map_or("?", |p| p.name.as_str());
                event(
                    shared,
                    format!(
                        "{name} (pid {}) exited: {status}; starting it again in {:?}",
                        child.id(),
                        slot.backoff
                    ),
                );
                shared.state.lock().unwrap().running.remove(name);
                slot.child = None;
                slot.next_start = Instant::now() + slot.backoff;
                slot.backoff = (slot.backoff * 2).min(MAX_BACKOFF);
            }
            if slot.child.is_none()
                && Instant::now() >= slot.next_start
                && let Some(pod) = &slot.pod
            {
                match spawn(shared, pod) {
                    Ok(child) => slot.child = Some(child),
                    Err(e) => {
                        event(shared, format!("{}: cannot start: {e}", pod.name));
                        slot.next_start = Instant::now() + MAX_BACKOFF;
                    }
                }
            }
        }
        std::thread::sleep(POLL);
    }
    // The test is over: no grace.
    for slot in slots.values_mut() {
        if let Some(mut child) = slot.child.take() {
            signal_group("KILL", child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The manifests: every regular, non-hidden file, by name.
fn read_manifests(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.path().is_file() {
            continue;
        }
        if let Ok(bytes) = std::fs::read(e.path()) {
            out.insert(name, bytes);
        }
    }
    out
}

/// A static pod manifest as this harness runs it.
fn parse(bytes: &[u8], root: &Path) -> Result<Pod, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let doc = kcerts_core::yaml::parse(text, kcerts_core::yaml::Limits::default())
        .map_err(|e| e.to_string())?;
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or("no metadata.name")?
        .to_string();
    let container = doc
        .pointer("/spec/containers/0")
        .ok_or("no spec.containers[0]")?;
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let mut command = strings(container.get("command"));
    command.extend(strings(container.get("args")));
    if command.is_empty() {
        return Err("no command".into());
    }
    // volume name -> (hostPath, type)
    let mut volumes: BTreeMap<String, (String, String)> = BTreeMap::new();
    for v in doc
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(n), Some(p)) = (
            v.get("name").and_then(Value::as_str),
            v.pointer("/hostPath/path").and_then(Value::as_str),
        ) {
            let kind = v
                .pointer("/hostPath/type")
                .and_then(Value::as_str)
                .unwrap_or("");
            volumes.insert(n.to_string(), (p.to_string(), kind.to_string()));
        }
    }
    // mountPath -> real path, longest first
    let mut mounts: Vec<(String, PathBuf)> = Vec::new();
    let mut create = Vec::new();
    for m in container
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(n), Some(mp)) = (
            m.get("name").and_then(Value::as_str),
            m.get("mountPath").and_then(Value::as_str),
        ) else {
            continue;
        };
        let Some((host, kind)) = volumes.get(n) else {
            continue;
        };
        let real = root.join(host.trim_start_matches('/'));
        match kind.as_str() {
            "DirectoryOrCreate" => create.push((real.clone(), true)),
            "FileOrCreate" => create.push((real.clone(), false)),
            _ => {}
        }
        mounts.push((mp.trim_end_matches('/').to_string(), real));
    }
    mounts.sort_by_key(|(mp, _)| std::cmp::Reverse(mp.len()));
    let program = command.remove(0);
    let args = command.iter().map(|a| rewrite(a, &mounts)).collect();
    Ok(Pod {
        name,
        program,
        args,
        create,
    })
}

/// An argument with every path under a mount rewritten to the real path:
/// `--flag=P1,P2` and a bare `P`.
fn rewrite(arg: &str, mounts: &[(String, PathBuf)]) -> String {
    let (key, value) = match arg.split_once('=') {
        Some((k, v)) if k.starts_with('-') => (Some(k), v),
        _ => (None, arg),
    };
    let value = value
        .split(',')
        .map(|part| {
            for (mp, real) in mounts {
                if part == mp {
                    return real.display().to_string();
                }
                if let Some(rest) = part.strip_prefix(mp.as_str())
                    && rest.starts_with('/')
                {
                    return format!("{}{rest}", real.display());
                }
            }
            part.to_string()
        })
        .collect::<Vec<_>>()
        .join(",");
    match key {
        Some(k) => format!("{k}={value}"),
        None => value,
    }
}

fn spawn(shared: &Shared, pod: &Pod) -> Result<Child, String> {
    for (path, dir) in &pod.create {
        if path.exists() {
            continue;
        }
        let made = if *dir {
            std::fs::create_dir_all(path)
        } else {
            path.parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| File::create(path).map(drop))
        };
        made.map_err(|e| format!("cannot make {}: {e}", path.display()))?;
    }
    let n = {
        let st = shared.state.lock().unwrap();
        st.starts.iter().filter(|s| s.pod == pod.name).count() + 1
    };
    let log = shared.opts.logs.join(format!("{}.{n}.log", pod.name));
    let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let program = shared.opts.bin.join(&pod.program);
    let child = Command::new("nsenter")
        .arg(format!("--net={}", shared.opts.netns.display()))
        .args(["--", "setpriv", "--pdeathsig", "KILL", "--"])
        .arg(&program)
        .args(&pod.args)
        .current_dir(&shared.opts.root)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("nsenter {}: {e}", program.display()))?;
    let mut st = shared.state.lock().unwrap();
    st.starts.push(Start {
        pod: pod.name.clone(),
        pid: child.id(),
        at: Instant::now(),
        log,
    });
    st.running.insert(pod.name.clone(), child.id());
    Ok(child)
}

/// SIGTERM to the process group, SIGKILL after [`GRACE`].
fn stop(shared: &Shared, slot: &mut Slot, why: &str) {
    let Some(mut child) = slot.child.take() else {
        return;
    };
    let name = slot.pod.as_ref().map_or("?", |p| p.name.as_str());
    let pgid = child.id();
    signal_group("TERM", pgid);
    let end = Instant::now() + GRACE;
    let mut killed = false;
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() >= end {
            signal_group("KILL", pgid);
            let _ = child.kill();
            let _ = child.wait();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // What else is left in the group (none: the pods are single processes).
    signal_group("KILL", pgid);
    shared.state.lock().unwrap().running.remove(name);
    event(
        shared,
        format!(
            "{name} (pid {pgid}) stopped: {why}{}",
            if killed {
                format!("; SIGKILL after {GRACE:?}")
            } else {
                String::new()
            }
        ),
    );
}

fn signal_group(signal: &str, pgid: u32) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_a_mount_are_rewritten() {
        let mounts = vec![
            (
                "/etc/kubernetes/pki/etcd".to_string(),
                PathBuf::from("/r/etc/kubernetes/pki/etcd"),
            ),
            ("/etc/kubernetes/pki".to_string(), PathBuf::from("/r/pki")),
        ];
        assert_eq!(
            rewrite("--cert-file=/etc/kubernetes/pki/etcd/server.crt", &mounts),
            "--cert-file=/r/etc/kubernetes/pki/etcd/server.crt"
        );
        assert_eq!(
            rewrite("--a=/etc/kubernetes/pki/ca.crt,/x/y", &mounts),
            "--a=/r/pki/ca.crt,/x/y"
        );
        assert_eq!(
            rewrite("--a=/etc/kubernetes/pkiother", &mounts),
            "--a=/etc/kubernetes/pkiother"
        );
        assert_eq!(
            rewrite("--url=https://1.2.3.4:2379", &mounts),
            "--url=https://1.2.3.4:2379"
        );
    }
}
