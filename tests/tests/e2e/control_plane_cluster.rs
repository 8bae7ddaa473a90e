//! `kcerts cluster status|renew` and the agent's RBAC against the real
//! three-node control plane (tests/src/real_cluster.rs), issue 25:
//!
//! - deploy/kubernetes/kcerts-agent.yaml's ServiceAccount and RBAC applied as
//!   shipped; `kubectl auth can-i --as=system:serviceaccount:kube-system:kcerts-agent`
//!   says yes to exactly its verbs and no to the rest (Secrets, CSRs, other
//!   Leases, Node deletion, Events elsewhere);
//! - `cluster status` and `cluster renew` against real Node objects (made with
//!   kubectl: the cluster has no real kubelet to register them) labelled
//!   control-plane and the real Lease API.
//!
//! The agents' side in [`renew_follows_each_nodes_answer`] is written by this
//! test with kubectl (a status annotation per node, in the protocol's JSON from
//! `kcerts_core::protocol`), which stands for `kcerts agent`: what is tested
//! is the command that follows them (its lines, its exit codes, what it writes
//! on the Nodes and the Lease), not the agent.
//!
//! Skipped, with a message, only when the programs are not built.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use kcerts_core::protocol::{
    AgentStatus, Outcome, RENEW_REQUEST_ANNOTATION, ROLLOUT_FAILED_ANNOTATION, RenewRequestId,
    RolloutFailed, STATUS_ANNOTATION,
};
use kcerts_tests::bounded::finish;
use kcerts_tests::real_cluster::RealCluster;
use kcerts_tests::*;
use serde_json::Value;
use time::OffsetDateTime;

/// The renew command docs/agent.md shows (the test adds the real --kubeconfig).
const RENEW_SHOWN: &str =
    "kcerts cluster renew --kubeconfig /etc/kubernetes/admin.conf --timeout 10m";

const SA: &str = "--as=system:serviceaccount:kube-system:kcerts-agent";

/// The three control-plane Node objects, labelled as kubeadm labels them.
fn control_plane_nodes(c: &RealCluster, work: &Path) {
    for n in &c.nodes {
        let f = work.join(format!("node-{}.yaml", n.name));
        std::fs::write(
            &f,
            format!(
                "apiVersion: v1\nkind: Node\nmetadata:\n  name: {}\n  labels:\n    \
                 node-role.kubernetes.io/control-plane: \"\"\n",
                n.name
            ),
        )
        .unwrap();
        assert_ok(
            &c.kubectl(0, &["create", "-f", f.to_str().unwrap()]),
            "kubectl create node",
        );
    }
}

/// `kcerts cluster ARGS --kubeconfig ADMIN.CONF` in the namespace.
fn cluster_cmd(c: &RealCluster, args: &[&str]) -> std::process::Command {
    let mut cmd = c.command(kcerts_bin());
    cmd.arg("cluster")
        .args(args)
        .arg("--kubeconfig")
        .arg(c.nodes[0].admin_conf());
    cmd
}

fn cluster(c: &RealCluster, args: &[&str]) -> Output {
    let child = cluster_cmd(c, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, Duration::from_secs(120))
}

fn annotate(c: &RealCluster, kind_name: &[&str], key: &str, value: &str) {
    let mut args = vec!["annotate", "--overwrite"];
    args.extend_from_slice(kind_name);
    let kv = format!("{key}={value}");
    args.push(&kv);
    assert_ok(&c.kubectl(0, &args), &format!("kubectl annotate {key}"));
}

/// One annotation of an object (`None` when absent).
fn annotation(c: &RealCluster, kind_name: &[&str], key: &str) -> Option<String> {
    let mut args = vec!["get"];
    args.extend_from_slice(kind_name);
    args.extend(["-o", "json"]);
    let out = c.kubectl(0, &args);
    assert_ok(&out, "kubectl get");
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["metadata"]["annotations"][key]
        .as_str()
        .map(str::to_string)
}

fn status(
    node: &str,
    outcome: Outcome,
    handled: Option<&RenewRequestId>,
    message: &str,
) -> AgentStatus {
    let now = OffsetDateTime::now_utc();
    AgentStatus {
        node: node.into(),
        observed_at: now,
        soonest_expiry: Some(now + time::Duration::days(364) + time::Duration::hours(1)),
        soonest_name: Some("apiserver".into()),
        due: if outcome == Outcome::Renewed {
            vec![]
        } else {
            vec!["apiserver".into(), "admin.conf".into()]
        },
        outcome,
        message: message.into(),
        last_renewal: (outcome == Outcome::Renewed).then_some(now),
        handled_request: handled.cloned(),
        agent_version: "test".into(),
    }
}

/// A MicroTime as the API writes it (RFC 3339 with microseconds).
fn micro_time(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.to_offset(time::UtcOffset::UTC).format(&fmt).unwrap()
}

fn write_status(c: &RealCluster, node: &str, s: &AgentStatus) {
    annotate(c, &["node", node], STATUS_ANNOTATION, &s.render());
}

/// Waits (at most a minute) until every Node carries a renew request other
/// than `old`, and returns it (the same on every node).
fn wait_request(c: &RealCluster, old: Option<&str>) -> RenewRequestId {
    let start = Instant::now();
    loop {
        let ids: Vec<Option<String>> = c
            .nodes
            .iter()
            .map(|n| annotation(c, &["node", &n.name], RENEW_REQUEST_ANNOTATION))
            .collect();
        if let Some(Some(first)) = ids.first()
            && ids.iter().all(|i| i.as_deref() == Some(first))
            && Some(first.as_str()) != old
        {
            return RenewRequestId::parse(first).unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no request written: {ids:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A running `kcerts cluster renew` whose stdout is read line by line.
struct Following {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Following {
    fn start(mut cmd: std::process::Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most a minute) for a line containing `needle`.
    fn wait_line(&mut self, needle: &str) {
        let end = Instant::now() + Duration::from_secs(60);
        while !self.seen.iter().any(|l| l.contains(needle)) {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no line with {needle:?} within a minute: {:#?}", self.seen);
                }
            }
        }
    }

    /// Waits for the command's end (at most two minutes): its status, stdout.
    fn finish(self) -> (Output, String) {
        let Self {
            child,
            lines,
            mut seen,
        } = self;
        let o = finish(child, Duration::from_secs(120));
        seen.extend(lines.iter());
        (o, seen.join("\n") + "\n")
    }
}

/// docs/agent.md shows this command's output as `text` is (its `[..]` for the
/// times and ids that differ from run to run).
fn shown_in_docs(command: &str, nth: usize, text: &str) {
    let shown = crate::docs::shown_output("agent.md", command, nth);
    let actual: Vec<&str> = text.lines().map(str::trim_end).collect();
    assert!(
        crate::docs::matches(&shown, &actual),
        "docs/agent.md shows for `{command}`:\n{}\n--- the real cluster printed:\n{text}",
        shown.join("\n")
    );
}

#[test]
fn the_agents_rbac_allows_exactly_its_verbs_on_the_real_api_server() {
    let Some(c) = RealCluster::three() else {
        return;
    };
    let work = tempdir();
    // The ServiceAccount and the RBAC documents as shipped.
    assert_eq!(
        c.apply_shipped_rbac("kcerts-agent.yaml"),
        7,
        "SA, ClusterRole(+Binding), 2 Roles(+Bindings)"
    );
    let can = |args: &[&str]| -> bool {
        let mut a = vec!["auth", "can-i", SA];
        a.extend_from_slice(args);
        let out = c.kubectl(0, &a);
        match stdout(&out).trim() {
            "yes" => true,
            "no" => false,
            other => panic!("kubectl auth can-i {args:?}: {other} {}", stderr(&out)),
        }
    };
    let yes: &[&[&str]] = &[
        &["get", "nodes/cp-2"],
        &["patch", "nodes/cp-2"],
        &["get", "leases/kcerts-agent", "-n", "kube-system"],
        &["update", "leases/kcerts-agent", "-n", "kube-system"],
        &["create", "leases", "-n", "kube-system"],
        &["create", "events", "-n", "default"],
        &["get", "events/x", "-n", "default"],
        &["update", "events/x", "-n", "default"],
        &[
            "get",
            "endpointslices.discovery.k8s.io/kubernetes",
            "-n",
            "default",
        ],
        &["get", "endpoints/kubernetes", "-n", "default"],
    ];
    let no: &[&[&str]] = &[
        &["get", "secrets", "-n", "kube-system"],
        &["list", "secrets", "-A"],
        &["create", "certificatesigningrequests"],
        &["update", "certificatesigningrequests/approval"],
        &["get", "leases/kube-controller-manager", "-n", "kube-system"],
        &["update", "leases/kube-scheduler", "-n", "kube-system"],
        &["delete", "leases/kcerts-agent", "-n", "kube-system"],
        &["list", "leases", "-n", "kube-system"],
        &["list", "nodes"],
        &["watch", "nodes"],
        &["delete", "events/x", "-n", "default"],
        &["list", "endpointslices.discovery.k8s.io", "-n", "default"],
        &[
            "get",
            "endpointslices.discovery.k8s.io/other",
            "-n",
            "default",
        ],
        &["get", "services", "-n", "default"],
        &["update", "nodes/cp-2"],
        &["delete", "nodes/cp-2"],
        &["create", "nodes"],
        &["patch", "nodes/cp-2", "--subresource=status"],
        &["create", "events", "-n", "kube-system"],
        &["get", "pods", "-n", "kube-system"],
        &["create", "pods/exec", "-n", "kube-system"],
        &["create", "serviceaccounts/token", "-n", "kube-system"],
        &[
            "get",
            "endpointslices.discovery.k8s.io",
            "-n",
            "kube-system",
        ],
        &["escalate", "clusterroles"],
        &["impersonate", "users"],
    ];
    let mut wrong = Vec::new();
    for a in yes {
        if !can(a) {
            wrong.push(format!("should be allowed: {a:?}"));
        }
    }
    for a in no {
        if can(a) {
            wrong.push(format!("should be refused: {a:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // And the API server agrees in deed: the agent's identity annotates a Node
    // and takes the Lease, and cannot read a Secret.
    control_plane_nodes(&c, work.path());
    let out = c.kubectl(
        0,
        &[
            SA,
            "annotate",
            "node",
            "cp-2",
            "--overwrite",
            &format!("{STATUS_ANNOTATION}={{}}"),
        ],
    );
    assert_ok(&out, "annotate as the agent");
    let lease = work.path().join("lease.yaml");
    std::fs::write(
        &lease,
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: kcerts-agent\n  \
         namespace: kube-system\nspec:\n  holderIdentity: cp-2\n  leaseDurationSeconds: 15\n",
    )
    .unwrap();
    assert_ok(
        &c.kubectl(0, &[SA, "create", "-f", lease.to_str().unwrap()]),
        "create the Lease as the agent",
    );
    let out = c.kubectl(0, &[SA, "get", "secrets", "-n", "kube-system"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("forbidden"), "{}", stderr(&out));
}

#[test]
fn status_and_renew_follow_each_nodes_answer() {
    let Some(c) = RealCluster::three() else {
        return;
    };
    let work = tempdir();
    control_plane_nodes(&c, work.path());

    // No agent has run: every node named, the Lease not created.
    let o = cluster(&c, &["status"]);
    assert_ok(&o, "cluster status");
    let text = stdout(&o);
    for n in ["cp-1", "cp-2", "cp-3"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(n) && l.contains("no agent")),
            "{text}"
        );
    }
    assert!(
        text.contains("Lease kube-system/kcerts-agent: not created yet"),
        "{text}"
    );

    // Statuses as agents leave them, and a Lease held by cp-2 after a failure.
    write_status(&c, "cp-1", &status("cp-1", Outcome::ReportOnly, None, ""));
    write_status(
        &c,
        "cp-2",
        &status("cp-2", Outcome::Waiting, None, "the Lease is held by cp-3"),
    );
    let lease = work.path().join("lease.yaml");
    let failed = RolloutFailed::new(
        "cp-3",
        OffsetDateTime::now_utc(),
        "restart: kube-apiserver not healthy",
    );
    std::fs::write(
        &lease,
        format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: kcerts-agent\n  \
             namespace: kube-system\n  annotations:\n    {ROLLOUT_FAILED_ANNOTATION}: '{}'\nspec:\n  \
             holderIdentity: cp-2\n  leaseDurationSeconds: 600\n  acquireTime: {t}\n  \
             renewTime: {t}\n  leaseTransitions: 4\n",
            failed.render(),
            t = micro_time(OffsetDateTime::now_utc()),
        ),
    )
    .unwrap();
    assert_ok(
        &c.kubectl(0, &["create", "-f", lease.to_str().unwrap()]),
        "create Lease",
    );
    let measured = Instant::now();
    let o = cluster(&c, &["status"]);
    let status_took = measured.elapsed();
    assert_ok(&o, "cluster status");
    let text = stdout(&o);
    eprintln!("cluster status (3 nodes):\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("NODE") && lines[0].contains("SOONEST EXPIRY"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("cp-1")
            && lines[1].contains("apiserver")
            && lines[1].contains("report-only"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("cp-2") && lines[2].contains("waiting"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("cp-3") && lines[3].contains("no agent"),
        "{text}"
    );
    assert!(
        text.contains("Lease kube-system/kcerts-agent: held by cp-2"),
        "{text}"
    );
    assert!(
        text.contains("rollout failed on cp-3 at ")
            && text.contains("restart: kube-apiserver not healthy"),
        "{text}"
    );
    assert!(
        text.contains("cp-2: waiting: the Lease is held by cp-3"),
        "{text}"
    );
    shown_in_docs(
        "kcerts cluster status --kubeconfig /etc/kubernetes/admin.conf",
        0,
        &text,
    );
    let o = cluster(&c, &["status", "-o", "json"]);
    assert_ok(&o, "cluster status -o json");
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["nodes"][0]["node"], "cp-1");
    assert_eq!(j["nodes"][0]["status"]["outcome"], "report-only");
    assert_eq!(j["nodes"][2]["status"], Value::Null);
    assert_eq!(j["lease"]["holder"], "cp-2");
    assert_eq!(j["lease"]["leaseTransitions"], 4);
    assert_eq!(j["lease"]["expired"], false);
    assert_eq!(j["lease"]["rolloutFailed"]["node"], "cp-3");

    // --dry-run: what each agent reported, and nothing written.
    let o = cluster(&c, &["renew", "--dry-run"]);
    assert_ok(&o, "cluster renew --dry-run");
    let text = stdout(&o);
    eprintln!("cluster renew --dry-run:\n{text}");
    assert!(
        text.contains("[dry-run] would remove kcerts.io/rollout-failed"),
        "{text}"
    );
    assert!(
        text.contains("[dry-run] cp-1: last report ")
            && text.contains("due: apiserver, admin.conf"),
        "{text}"
    );
    assert!(text.contains("[dry-run] cp-3: no agent status"), "{text}");
    assert!(text.contains("nothing was changed"), "{text}");
    assert!(annotation(&c, &["node", "cp-1"], RENEW_REQUEST_ANNOTATION).is_none());
    assert!(
        annotation(
            &c,
            &["lease", "kcerts-agent", "-n", "kube-system"],
            ROLLOUT_FAILED_ANNOTATION
        )
        .is_some()
    );

    // No agent answers: the timeout names every node, exit 2; the request is
    // written on each Node and the rollout-failed record removed.
    let o = cluster(&c, &["renew", "--timeout", "6s"]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    eprintln!("cluster renew, no agent answering:\n{text}");
    assert!(
        text.contains("[cluster] removed kcerts.io/rollout-failed from the Lease"),
        "{text}"
    );
    assert!(
        text.contains("[cluster] cp-3: no answer: no agent status: no kcerts agent runs on it"),
        "{text}"
    );
    assert!(
        text.contains("[cluster] cp-2: no answer: its agent last reported"),
        "{text}"
    );
    assert!(
        text.contains("[cluster] timed out after 6s: 0 of the nodes answered"),
        "{text}"
    );
    let first = annotation(&c, &["node", "cp-1"], RENEW_REQUEST_ANNOTATION).unwrap();
    RenewRequestId::parse(&first).unwrap();
    for n in ["cp-2", "cp-3"] {
        assert_eq!(
            annotation(&c, &["node", n], RENEW_REQUEST_ANNOTATION).as_deref(),
            Some(first.as_str())
        );
    }
    assert!(
        annotation(
            &c,
            &["lease", "kcerts-agent", "-n", "kube-system"],
            ROLLOUT_FAILED_ANNOTATION
        )
        .is_none()
    );

    // Every node answers renewed, one after another (each after the command
    // printed the previous one): exit 0, a line each in that order.
    let started = Instant::now();
    let mut run = Following::start(cluster_cmd(&c, &["renew", "--timeout", "10m"]));
    let id = wait_request(&c, Some(&first));
    for n in ["cp-2", "cp-1", "cp-3"] {
        write_status(
            &c,
            n,
            &status(n, Outcome::Renewed, Some(&id), "restarted kube-apiserver"),
        );
        run.wait_line(&format!("{n}: renewed"));
    }
    let (o, text) = run.finish();
    let took = started.elapsed();
    assert_ok(&o, "cluster renew");
    eprintln!(
        "cluster renew, three answers in {:.1}s:\n{text}",
        took.as_secs_f64()
    );
    let answers: Vec<&str> = text.lines().filter(|l| l.contains(": renewed")).collect();
    assert_eq!(
        answers,
        [
            "[cluster] cp-2: renewed: restarted kube-apiserver",
            "[cluster] cp-1: renewed: restarted kube-apiserver",
            "[cluster] cp-3: renewed: restarted kube-apiserver",
        ]
    );
    assert!(
        text.contains(&format!(
            "[cluster] renew request {id} written on 3 node(s): cp-1, cp-2, cp-3"
        )),
        "{text}"
    );
    assert!(
        text.contains("[cluster] every node renewed (3 of 3)"),
        "{text}"
    );
    shown_in_docs(RENEW_SHOWN, 0, &text);

    // cp-1 renews, cp-2 fails and leaves rollout-failed on the Lease, cp-3
    // waits: the command stops at the failure, exit 3, cp-3 named.
    let run = Following::start(cluster_cmd(&c, &["renew", "--timeout", "10m"]));
    let id2 = wait_request(&c, Some(id.as_str()));
    write_status(
        &c,
        "cp-1",
        &status("cp-1", Outcome::Renewed, Some(&id2), ""),
    );
    write_status(
        &c,
        "cp-3",
        &status("cp-3", Outcome::Waiting, None, "a rollout failed on cp-2"),
    );
    write_status(
        &c,
        "cp-2",
        &status(
            "cp-2",
            Outcome::Failed,
            Some(&id2),
            "renew: cannot write pki/apiserver.crt",
        ),
    );
    let (o, text) = run.finish();
    assert_eq!(o.status.code(), Some(3), "{text}{}", stderr(&o));
    eprintln!("cluster renew, cp-2 failing:\n{text}");
    assert!(
        text.contains("[cluster] cp-2: failed: renew: cannot write pki/apiserver.crt"),
        "{text}"
    );
    assert!(
        text.contains("[cluster] cp-3: no answer: its agent last reported"),
        "{text}"
    );
    assert!(
        text.contains("(waiting: a rollout failed on cp-2)"),
        "{text}"
    );
    assert!(
        text.contains("[cluster] the rollout stopped after"),
        "{text}"
    );
    shown_in_docs(RENEW_SHOWN, 1, &text);
    eprintln!(
        "figures: cluster status of 3 nodes {:.2}s; cluster renew following 3 answers {:.1}s",
        status_took.as_secs_f64(),
        took.as_secs_f64()
    );
}
