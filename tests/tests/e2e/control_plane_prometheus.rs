//! `kcerts serve --live` on the real control plane scraped by a real Prometheus
//! (issue 24, test 8): Debian's `prometheus`, started in the cluster's network
//! namespace with the project's alert rules (the `spec:` of
//! deploy/kubernetes/kcerts-prometheusrule.yaml as a plain rules file; only
//! KcertsLiveCertificateMismatch's `for: 15m` shortened to 5s, and scrape and
//! evaluation every second, so the test takes seconds, not a quarter hour).
//! After `kcerts renew all` without a restart the controller-manager and the
//! scheduler still hold their old client certificates, and the live-mismatch
//! alert fires in `/api/v1/alerts`; after `kcerts restart all` it resolves.
//!
//! Skipped, with a message, only when the programs are not built.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use kcerts_tests::real_cluster::{READY_LIMIT, RealCluster};
use kcerts_tests::*;

/// A child process killed when dropped (a failed assertion included).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const ALERT: &str = "KcertsLiveCertificateMismatch";

/// The shipped PrometheusRule's `spec:` as a rules file, the live-mismatch
/// alert's `for:` shortened to 5s.
fn rules_file() -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/kubernetes/kcerts-prometheusrule.yaml"),
    )
    .unwrap();
    let doc = text
        .split("\n---\n")
        .find(|d| d.contains("\nkind: PrometheusRule\n"))
        .unwrap();
    let spec = doc.split_once("\nspec:\n").unwrap().1;
    let mut out = String::new();
    let mut in_alert = false;
    let mut shortened = false;
    for l in spec.lines() {
        let l = l.strip_prefix("  ").unwrap_or(l);
        if let Some(name) = l.trim().strip_prefix("- alert: ") {
            in_alert = name == ALERT;
        }
        if in_alert && l.trim() == "for: 15m" {
            out.push_str(&l.replace("15m", "5s"));
            shortened = true;
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    assert!(shortened, "{ALERT} has no `for: 15m` any more:\n{spec}");
    out
}

/// The alerts Prometheus reports: (alertname, target, state).
fn alerts(c: &RealCluster, web: &str) -> Result<Vec<(String, String, String)>, String> {
    let out = c.run(
        "curl",
        &[
            "--silent",
            "--show-error",
            "--fail",
            "--max-time",
            "5",
            &format!("http://{web}/api/v1/alerts"),
        ],
    );
    if !out.status.success() {
        return Err(stderr(&out));
    }
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).map_err(|e| e.to_string())?;
    Ok(v["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let s = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_string();
            (
                s(&a["labels"]["alertname"]),
                s(&a["labels"]["target"]),
                s(&a["state"]),
            )
        })
        .collect())
}

/// Waits (at most `limit`) until `done` holds for the live-mismatch alerts,
/// failing with what was seen last; returns the wait.
fn wait_alerts(
    c: &RealCluster,
    web: &str,
    limit: Duration,
    what: &str,
    done: impl Fn(&[(String, String, String)]) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let seen = alerts(c, web);
        if let Ok(all) = &seen {
            let live: Vec<_> = all.iter().filter(|a| a.0 == ALERT).cloned().collect();
            if done(&live) {
                return start.elapsed();
            }
        }
        assert!(
            start.elapsed() < limit,
            "{what} not within {limit:?}: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn prometheus_fires_the_live_mismatch_alert_after_renew_and_resolves_it_after_restart() {
    let Some(c) = RealCluster::single() else {
        return;
    };
    let node = &c.nodes[0];
    let dir = tempdir();
    let p = |x: &Path| x.display().to_string();
    let serve = KillOnDrop(
        c.command(kcerts_bin())
            .args([
                "serve",
                "--live",
                "--listen",
                "127.0.0.1:9793",
                "--interval",
                "1s",
            ])
            .arg("--cert-dir")
            .arg(node.pki())
            .arg("--kubeconfig-dir")
            .arg(node.etc())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rules = dir.path().join("kcerts-rules.yaml");
    // The shipped group says `interval: 1m`: evaluated every second here.
    std::fs::write(&rules, rules_file().replace("interval: 1m", "interval: 1s")).unwrap();
    let check = c.run("promtool", &["check", "rules", &p(&rules)]);
    assert_ok(&check, "promtool check rules");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n- {}\nscrape_configs:\n- job_name: kcerts\n  static_configs:\n  \
             - targets: ['127.0.0.1:9793']\n",
            p(&rules)
        ),
    )
    .unwrap();
    let web = "127.0.0.1:9090";
    let mut prom = KillOnDrop(
        c.command("prometheus")
            .arg(format!("--config.file={}", p(&config)))
            .arg(format!(
                "--storage.tsdb.path={}",
                p(&dir.path().join("tsdb"))
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's package) runs"),
    );
    // Healthy: the rules are loaded, every target scraped, no live alert.
    let start = Instant::now();
    loop {
        assert!(prom.0.try_wait().unwrap().is_none(), "prometheus exited");
        let out = c.run(
            "curl",
            &[
                "--silent",
                "--fail",
                "--max-time",
                "5",
                &format!(
                    "http://{web}/api/v1/query?query=kcerts_verify_check%7Bcheck%3D%22live%22%7D"
                ),
            ],
        );
        if out.status.success() && stdout(&out).contains("\"controller-manager\"") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no live rows scraped: {}",
            stdout(&out)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(8));
    let before = alerts(&c, web).unwrap();
    assert!(!before.iter().any(|a| a.0 == ALERT), "{before:?}");

    assert_ok(&c.kcerts(0, &["renew", "all"]), "kcerts renew all");
    let fired = wait_alerts(
        &c,
        web,
        Duration::from_secs(180),
        "the live-mismatch alert firing",
        |live| {
            live.iter()
                .any(|a| a.1 == "controller-manager" && a.2 == "firing")
        },
    );
    let targets: Vec<String> = alerts(&c, web)
        .unwrap()
        .into_iter()
        .filter(|a| a.0 == ALERT)
        .map(|a| a.1)
        .collect();
    assert!(targets.contains(&"scheduler".to_string()), "{targets:?}");

    let restarting = Instant::now();
    assert_ok(&c.kcerts(0, &["restart", "all"]), "kcerts restart all");
    let restart_took = restarting.elapsed();
    c.wait_ready(READY_LIMIT);
    wait_alerts(
        &c,
        web,
        Duration::from_secs(180),
        "the live-mismatch alert resolved",
        |live| live.is_empty(),
    );
    let resolved = restarting.elapsed();
    assert!(prom.0.try_wait().unwrap().is_none(), "prometheus exited");
    drop(serve);
    eprintln!(
        "prometheus: {ALERT} firing {:.1}s after renew all (for: 5s, 1s scrape and evaluation); \
         `restart all` took {:.1}s, the alert resolved {:.1}s after it began",
        fired.as_secs_f64(),
        restart_took.as_secs_f64(),
        resolved.as_secs_f64(),
    );
}
