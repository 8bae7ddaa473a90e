//! deploy/kubernetes/: the manifests against Kubernetes 1.32's schemas
//! (kubernetes-validate from PyPI), the alert rules with `promtool test rules` on
//! series that `kcerts serve` wrote, and every metric the rules and the
//! dashboard query is one that kcerts exports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kcerts_tests::fake_discovery::{FakeDiscovery, SERVICE_ACCOUNT_AND_RBAC};
use kcerts_tests::*;
use serde_json::{Value, json};

use kcerts_tests::live_node::{LiveNode, renew_all};
use kcerts_tests::pip::pip_module;
use kcerts_tests::serve_process::{Server, serve_args};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(repo().join("deploy/kubernetes").join(name)).unwrap()
}

/// One sample of the exposition text.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the sample lines of the exposition text (comments skipped).
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, rest) = series.split_once('{').unwrap_or((series, "}"));
        let mut labels = BTreeMap::new();
        let mut chars = rest.trim_end_matches('}').chars().peekable();
        while chars.peek().is_some() {
            let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some(e) => v.push(e),
                        None => {}
                    },
                    '"' => break,
                    c => v.push(c),
                }
            }
            if chars.peek() == Some(&',') {
                chars.next();
            }
            labels.insert(key, v);
        }
        out.push(Sample {
            name: name.to_string(),
            labels,
            value: value.parse().unwrap(),
        });
    }
    out
}

/// The metric names of a PromQL expression: identifiers that are not functions,
/// keywords, label names (in `{}` or `by (...)`), durations or Grafana variables.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Grafana's `label_values(METRIC, LABEL)` names one metric.
    let expr = match expr.strip_prefix("label_values(") {
        Some(rest) => rest.split(',').next().unwrap(),
        None => expr,
    };
    const KEYWORDS: [&str; 8] = [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
        "group_left",
    ];
    const LABEL_LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let c: Vec<char> = expr.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let skip_to = |i: &mut usize, open: char, close: char| {
        let mut depth = 0;
        while *i < c.len() {
            if c[*i] == '"' {
                *i += 1;
                while *i < c.len() && c[*i] != '"' {
                    *i += if c[*i] == '\\' { 2 } else { 1 };
                }
            } else if c[*i] == open {
                depth += 1;
            } else if c[*i] == close {
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
            *i += 1;
        }
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '{' {
            skip_to(&mut i, '{', '}');
        } else if ch == '[' {
            skip_to(&mut i, '[', ']');
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
        } else if ch == '$' || ch.is_ascii_digit() || ch == '.' {
            i += 1;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == '.') {
                i += 1;
            }
            continue;
        } else if ch.is_ascii_alphabetic() || ch == '_' || ch == ':' {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == ':') {
                i += 1;
            }
            let ident: String = c[start..i].iter().collect();
            let mut j = i;
            while j < c.len() && c[j] == ' ' {
                j += 1;
            }
            // `f(` is a call; `sum by (x) (` an aggregation with its modifier first.
            let rest: String = c[j..].iter().collect();
            let call = rest.starts_with('(')
                || ["by", "without"].iter().any(|m| {
                    rest.strip_prefix(m)
                        .is_some_and(|r| r.trim_start().starts_with('('))
                });
            if LABEL_LISTS.contains(&ident.as_str()) {
                if call {
                    i = j;
                    skip_to(&mut i, '(', ')');
                }
            } else if !call && !KEYWORDS.contains(&ident.as_str()) {
                out.insert(ident);
            }
            continue;
        }
        i += 1;
    }
    out
}

/// Every `expr` in a JSON document (the dashboard's panel targets and variables).
fn json_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", Value::String(s)) => out.push(s.clone()),
                    ("query", Value::String(s)) if s.starts_with("label_values(") => {
                        out.push(s.clone());
                    }
                    _ => json_exprs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| json_exprs(v, out)),
        _ => {}
    }
}

/// One alerting rule of the PrometheusRule, as the tests need it.
#[derive(Debug)]
struct Rule {
    alert: String,
    severity: String,
    annotations: BTreeMap<String, String>,
}

/// The PrometheusRule's `spec:` as a plain Prometheus rules file, and its alerts.
fn rules_file() -> (String, Vec<Rule>) {
    let text = deploy_file("kcerts-prometheusrule.yaml");
    let doc = text
        .split("\n---\n")
        .find(|d| d.contains("\nkind: PrometheusRule\n"))
        .unwrap();
    let spec = doc.split_once("\nspec:\n").unwrap().1;
    let plain: String = spec
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    let mut rules: Vec<Rule> = Vec::new();
    for line in plain.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- alert: ") {
            rules.push(Rule {
                alert: name.to_string(),
                severity: String::new(),
                annotations: BTreeMap::new(),
            });
        } else if let Some(r) = rules.last_mut() {
            if let Some(s) = line.strip_prefix("severity: ") {
                r.severity = s.to_string();
            }
            for key in ["summary", "description"] {
                if let Some(v) = line.strip_prefix(&format!("{key}: ")) {
                    r.annotations
                        .insert(key.into(), v.trim_matches('"').to_string());
                }
            }
        }
    }
    (plain, rules)
}

/// `{{ $labels.x }}` filled in, as Prometheus renders the annotations.
fn render(template: &str, labels: &BTreeMap<String, String>) -> String {
    let mut out = template.to_string();
    while let Some(start) = out.find("{{ $labels.") {
        let end = start + out[start..].find(" }}").unwrap();
        let key = &out[start + "{{ $labels.".len()..end];
        let value = labels.get(key).cloned().unwrap_or_default();
        out.replace_range(start..end + 3, &value);
    }
    out
}

/// A series in PromQL's notation, for promtool's `input_series`.
fn series_text(name: &str, labels: &BTreeMap<String, String>) -> String {
    let esc = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
        .collect();
    format!("{name}{{{}}}", parts.join(","))
}

const DAY: f64 = 86_400.0;

/// The six nodes of the rule tests, each scraped once from `kcerts serve`:
/// cp-1 healthy; cp-2 expiring in 20 days, with an apiserver certificate from
/// another cluster (verify: chain fails); cp-3 expiring in 4 days; cp-4 expired,
/// with an unreadable file and a reading that stopped; cp-5 and cp-6 from
/// `kcerts serve --live` (see [`scraped_live`]).
fn scraped_nodes() -> Vec<(String, Vec<Sample>)> {
    let bin = kcerts_bin();
    let mut out = Vec::new();
    for (node, age_days, seed) in [
        ("cp-1", 1, 71),
        ("cp-2", 345, 72),
        ("cp-3", 361, 73),
        ("cp-4", 400, 74),
    ] {
        let dir = tempdir();
        let root = dir.path();
        write_node_aged(root, time::Duration::days(age_days), seed);
        if node == "cp-2" {
            let other = tempdir();
            write_node_aged(other.path(), time::Duration::days(age_days), 99);
            for f in ["apiserver.crt", "apiserver.key"] {
                std::fs::copy(other.path().join("pki").join(f), root.join("pki").join(f)).unwrap();
            }
        }
        if node == "cp-4" {
            std::fs::write(root.join("pki/front-proxy-client.crt"), "junk").unwrap();
        }
        let s = Server::start(&bin, &serve_args(root, "1h"));
        let (code, text) = s.get("/metrics");
        assert_eq!(code, 200);
        out.push((node.to_string(), samples(&text)));
    }
    out.extend(scraped_live());
    out
}

/// `kcerts serve --live` on a node whose control plane runs under the fake
/// kubelet, scraped twice and each scrape standing for a node of its own: cp-5
/// before renewal (every endpoint serves the certificate on disk), cp-6 after
/// `renew all` without a restart (etcd and the API server serve the renewed
/// files, read again by themselves; the controller-manager and scheduler, not
/// restarted, still hold their old client certificates).
fn scraped_live() -> Vec<(String, Vec<Sample>)> {
    let node = LiveNode::start(76);
    let root = node.root();
    let mut args = serve_args(root, "1h");
    args.extend([
        "--live".into(),
        "--manifests-dir".into(),
        root.join("manifests").display().to_string(),
        "--endpoint".into(),
        node.ports.kubelet_endpoint(),
    ]);
    let scrape = || {
        let s = Server::start(&kcerts_bin(), &args);
        let (code, text) = s.get("/metrics");
        assert_eq!(code, 200);
        samples(&text)
    };
    let before = scrape();
    renew_all(&node);
    let after = scrape();
    // What the alert is tested on: live rows that pass, then live rows that fail.
    let live = |samples: &[Sample], result: &str| {
        samples
            .iter()
            .filter(|s| {
                s.name == "kcerts_verify_check"
                    && s.labels["check"] == "live"
                    && s.labels["result"] == result
            })
            .count()
    };
    assert_eq!((live(&before, "pass"), live(&before, "fail")), (6, 0));
    assert_eq!((live(&after, "pass"), live(&after, "fail")), (4, 2));
    let failing: Vec<&str> = after
        .iter()
        .filter(|s| {
            s.name == "kcerts_verify_check"
                && s.labels["check"] == "live"
                && s.labels["result"] == "fail"
        })
        .map(|s| s.labels["target"].as_str())
        .collect();
    assert_eq!(failing, ["controller-manager", "scheduler"], "{after:?}");
    vec![("cp-5".into(), before), ("cp-6".into(), after)]
}

#[test]
fn alert_rules_pass_promtool_on_series_from_kcerts_serve() {
    let (plain, rules) = rules_file();
    let dir = tempdir();
    let rules_path = dir.path().join("kcerts-rules.yaml");
    std::fs::write(&rules_path, &plain).unwrap();
    let o = run(
        "promtool",
        ["check", "rules", &rules_path.display().to_string()],
    );
    assert_ok(&o, "promtool check rules");

    // promtool starts its clock at 0 (1970), so every series that holds a time is
    // shifted by the moment of its reading: "now" becomes t=0 and the time left
    // on each certificate stays what it is.
    let mut input = Vec::new();
    // (series labels with node and job, name, shifted value) for the expectations.
    let mut series: Vec<Sample> = Vec::new();
    for (node, samples) in scraped_nodes() {
        let read_at = samples
            .iter()
            .find(|s| s.name == "kcerts_check_timestamp_seconds")
            .unwrap()
            .value;
        for s in samples {
            let mut labels = s.labels.clone();
            labels.insert("node".into(), node.clone());
            labels.insert("job".into(), "kcerts".into());
            let values = match s.name.as_str() {
                "x509_cert_not_after" | "x509_cert_not_before" => {
                    format!("{}+0x180", s.value - read_at)
                }
                // A reading every minute, except on cp-4 where it stopped at t=0.
                "kcerts_check_timestamp_seconds" if node == "cp-4" => "0+0x180".into(),
                "kcerts_check_timestamp_seconds" => "0+60x180".into(),
                _ => format!("{}+0x180", s.value),
            };
            input.push(json!({"series": series_text(&s.name, &labels), "values": values}));
            series.push(Sample {
                value: if s.name.starts_with("x509_cert_not_") {
                    s.value - read_at
                } else {
                    s.value
                },
                name: s.name,
                labels,
            });
        }
    }
    // What each alert should show at `t` seconds, worked out here without PromQL.
    let firing = |alert: &str, t: f64| -> Vec<&Sample> {
        series
            .iter()
            .filter(|s| {
                let l = |k: &str| s.labels.get(k).map_or("", String::as_str);
                let left = s.value - t;
                match alert {
                    "KcertsCertificateExpiresIn30Days" => {
                        s.name == "x509_cert_not_after"
                            && left < 30.0 * DAY
                            && left > 7.0 * DAY
                            && t >= 3600.0
                    }
                    "KcertsCertificateExpiresIn7Days" => {
                        s.name == "x509_cert_not_after"
                            && left < 7.0 * DAY
                            && left > 0.0
                            && t >= 600.0
                    }
                    "KcertsCertificateExpired" => s.name == "x509_cert_expired" && s.value == 1.0,
                    "KcertsFileUnreadable" => {
                        s.name == "x509_cert_error" && s.value == 1.0 && t >= 600.0
                    }
                    "KcertsVerifyFailed" => {
                        s.name == "kcerts_verify_check"
                            && l("result") == "fail"
                            && !["expiry", "live", "read"].contains(&l("check"))
                            && t >= 600.0
                    }
                    "KcertsLiveCertificateMismatch" => {
                        s.name == "kcerts_verify_check"
                            && l("check") == "live"
                            && l("result") == "fail"
                            && t >= 900.0
                    }
                    // Stale from 31 min on (the first evaluation over 30 min), for 5 min.
                    "KcertsReadingStale" => {
                        s.name == "kcerts_check_timestamp_seconds"
                            && l("node") == "cp-4"
                            && t >= 1860.0 + 300.0
                    }
                    other => panic!("no expectation written for the alert {other}"),
                }
            })
            .collect()
    };

    let mut tests = Vec::new();
    let mut fired = BTreeMap::new();
    for (eval, t) in [("30m", 1800.0), ("2h", 7200.0)] {
        for rule in &rules {
            let exp: Vec<Value> = firing(&rule.alert, t)
                .into_iter()
                .map(|s| {
                    let mut labels = s.labels.clone();
                    labels.insert("severity".into(), rule.severity.clone());
                    let annotations: BTreeMap<_, _> = rule
                        .annotations
                        .iter()
                        .map(|(k, v)| (k.clone(), render(v, &labels)))
                        .collect();
                    json!({"exp_labels": labels, "exp_annotations": annotations})
                })
                .collect();
            *fired.entry((rule.alert.clone(), eval)).or_insert(0) += exp.len();
            tests.push(json!({"eval_time": eval, "alertname": rule.alert, "exp_alerts": exp}));
        }
    }
    // The scenarios do what they are meant to: each alert fires at 2h, from the
    // node planted for it; `for:` holds the 30-day one back at 30 min.
    let n = |a: &str, e: &str| fired[&(a.to_string(), e)];
    assert_eq!(n("KcertsCertificateExpiresIn30Days", "30m"), 0);
    assert_eq!(
        n("KcertsCertificateExpiresIn30Days", "2h"),
        11,
        "cp-2's 11 leaves"
    );
    assert_eq!(
        n("KcertsCertificateExpiresIn7Days", "2h"),
        11,
        "cp-3's 11 leaves"
    );
    assert_eq!(
        n("KcertsCertificateExpired", "2h"),
        10,
        "cp-4's leaves less the junk one"
    );
    assert_eq!(n("KcertsFileUnreadable", "2h"), 1);
    assert!(n("KcertsVerifyFailed", "2h") >= 1);
    // Each endpoint of cp-6 whose process holds an old certificate (the
    // controller-manager and scheduler); none of cp-5's.
    assert_eq!(n("KcertsLiveCertificateMismatch", "2h"), 2);
    assert!(
        firing("KcertsLiveCertificateMismatch", 7200.0)
            .iter()
            .all(|s| s.labels["node"] == "cp-6")
    );
    assert_eq!(n("KcertsReadingStale", "30m"), 0);
    assert_eq!(n("KcertsReadingStale", "2h"), 1);
    assert!(
        firing("KcertsVerifyFailed", 7200.0)
            .iter()
            .any(|s| s.labels["node"] == "cp-2"
                && s.labels["target"] == "apiserver"
                && s.labels["check"] == "chain"),
        "cp-2's foreign apiserver certificate"
    );
    for rule in &rules {
        assert!(
            !firing(&rule.alert, 7200.0)
                .iter()
                .any(|s| ["cp-1", "cp-5"].contains(&s.labels["node"].as_str())),
            "nothing fires for the healthy nodes: {}",
            rule.alert
        );
    }

    let test_file = json!({
        "rule_files": [rules_path.display().to_string()],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input, "alert_rule_test": tests}],
    });
    let test_path = dir.path().join("kcerts-rules.test.yaml");
    // JSON is YAML: promtool reads it as is.
    std::fs::write(
        &test_path,
        serde_json::to_string_pretty(&test_file).unwrap(),
    )
    .unwrap();
    let o = run(
        "promtool",
        ["test", "rules", &test_path.display().to_string()],
    );
    assert_ok(&o, "promtool test rules");
    assert!(stdout(&o).contains("SUCCESS"), "{}", stdout(&o));
}

#[test]
fn metric_names_of_promql() {
    let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(r#"sum by (node) (rate(a_total{x="y}"}[5m])) / on(node) group_left b > 3 * 86400"#),
        ["a_total", "b"]
    );
    assert_eq!(
        names("min(c{node=~\"$node\"} - time()) or vector(0)"),
        ["c"]
    );
    assert_eq!(names("label_values(d, node)"), ["d"]);
    assert_eq!(names("time() - e offset 5m and bool f"), ["e", "f"]);
}

#[test]
fn dashboard_and_rules_query_only_metrics_kcerts_exports() {
    let dir = tempdir();
    let root = dir.path();
    write_node_aged(root, time::Duration::days(1), 75);
    std::fs::write(root.join("pki/front-proxy-client.crt"), "junk").unwrap();
    let s = Server::start(&kcerts_bin(), &serve_args(root, "1h"));
    let (_, text) = s.get("/metrics");
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();

    let dashboard: Value = serde_json::from_str(&deploy_file("kcerts-dashboard.json")).unwrap();
    let mut exprs = Vec::new();
    json_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let (plain, rules) = rules_file();
    assert_eq!(rules.len(), 7);
    for line in plain.lines().map(str::trim) {
        if let Some(e) = line.strip_prefix("expr: ") {
            exprs.push(e.to_string());
        }
    }
    let mut used = BTreeSet::new();
    for e in &exprs {
        let names = metric_names(e);
        assert!(!names.is_empty(), "no metric in {e}");
        used.extend(names);
    }
    let unknown: Vec<_> = used.difference(&exported).collect();
    assert!(unknown.is_empty(), "not exported by kcerts: {unknown:?}");
    for m in [
        "x509_cert_not_after",
        "x509_cert_expired",
        "x509_cert_error",
        "x509_read_errors",
        "kcerts_verify_check",
        "kcerts_check_timestamp_seconds",
    ] {
        assert!(used.contains(m), "{m} is queried");
    }
}

#[test]
fn manifests_pass_the_kubernetes_1_32_schemas() {
    let file = repo().join("deploy/kubernetes/kcerts-daemonset.yaml");
    let validate = kcerts_tests::pip::kubernetes_validate;
    let o = validate(&file);
    assert_ok(&o, "kubernetes-validate");
    let o2 = validate(&repo().join("deploy/kubernetes/kcerts-networkpolicy.yaml"));
    assert_ok(&o2, "kubernetes-validate kcerts-networkpolicy.yaml");
    let out = format!("{}{}{}{}", stdout(&o), stderr(&o), stdout(&o2), stderr(&o2));
    for kind in [
        "serviceaccount/kcerts",
        "daemonset/kcerts",
        "service/kcerts",
        "networkpolicy/kcerts",
    ] {
        assert!(
            out.contains(&format!("passed for resource {kind}")),
            "{out}"
        );
    }
    // The validator catches a misspelt field, so its pass means something.
    let text = deploy_file("kcerts-daemonset.yaml");
    let dir = tempdir();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        text.replace("readOnlyRootFilesystem", "readOnlyRootFileSystem"),
    )
    .unwrap();
    assert!(!validate(&bad).status.success());

    // What the DaemonSet promises: control-plane nodes only, no privileges.
    for needle in [
        "node-role.kubernetes.io/control-plane: \"\"",
        "key: node-role.kubernetes.io/control-plane",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "drop: [\"ALL\"]",
        "automountServiceAccountToken: false",
        "- serve\n",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
    assert!(!text.contains("hostNetwork") && !text.contains("privileged: true"));
}

/// The documents of a YAML file, as JSON (PyYAML, which kubernetes-validate brings).
fn yaml_documents(path: &Path) -> Vec<Value> {
    pip_module("kubernetes_validate", "kubernetes-validate");
    let o = run(
        "python3",
        [
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
            &path.display().to_string(),
        ],
    );
    assert_ok(&o, "PyYAML");
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn the_daemonset_mounts_only_pki_and_the_named_kubeconfigs_read_only() {
    let docs = yaml_documents(&repo().join("deploy/kubernetes/kcerts-daemonset.yaml"));
    let ds = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .expect("a DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    // volume name -> (host path, hostPath type)
    let volumes: BTreeMap<String, (String, String)> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let h = &v["hostPath"];
            assert!(h.is_object(), "only hostPath volumes: {v}");
            (
                v["name"].as_str().unwrap().to_string(),
                (
                    h["path"].as_str().unwrap().to_string(),
                    h["type"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect();
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let mut mounted: Vec<(String, String)> = Vec::new();
    for m in containers[0]["volumeMounts"].as_array().unwrap() {
        assert_eq!(m["readOnly"], true, "read-only: {m}");
        assert!(m.get("subPath").is_none(), "{m}");
        let (host, kind) = &volumes[m["name"].as_str().unwrap()];
        // At the node's own paths (kubelet-client-current.pem is an absolute symlink).
        assert_eq!(m["mountPath"].as_str().unwrap(), host, "{m}");
        mounted.push((host.clone(), kind.clone()));
    }
    mounted.sort();
    let want: Vec<(String, String)> = [
        ("/etc/kubernetes/admin.conf", "File"),
        ("/etc/kubernetes/controller-manager.conf", "File"),
        ("/etc/kubernetes/kubelet.conf", "File"),
        ("/etc/kubernetes/pki", "Directory"),
        ("/etc/kubernetes/scheduler.conf", "File"),
        ("/var/lib/kubelet/pki", "Directory"),
    ]
    .iter()
    .map(|(p, k)| (p.to_string(), k.to_string()))
    .collect();
    assert_eq!(mounted, want);
    // Never /etc/kubernetes itself, its tmp/ (backups hold keys), super-admin.conf
    // or the manifests.
    for (p, _) in &mounted {
        assert!(p != "/etc/kubernetes" && !p.contains("tmp") && !p.contains("super-admin"));
        assert!(!p.contains("manifests"));
    }
    // kcerts serve is told to read no key: no --check-keys.
    let args: Vec<&str> = containers[0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&"serve") && !args.contains(&"--check-keys"),
        "{args:?}"
    );
    assert!(args.contains(&"--listen=0.0.0.0:9793"), "{args:?}");
}

#[test]
fn the_network_policy_admits_only_the_monitoring_namespace_on_the_metrics_port() {
    let docs = yaml_documents(&repo().join("deploy/kubernetes/kcerts-networkpolicy.yaml"));
    assert_eq!(docs.len(), 1);
    let np = &docs[0];
    assert_eq!(np["kind"], "NetworkPolicy");
    assert_eq!(np["metadata"]["namespace"], "kube-system");
    let ds = yaml_documents(&repo().join("deploy/kubernetes/kcerts-daemonset.yaml"));
    let ds = ds.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
    // It selects the DaemonSet's pods.
    assert_eq!(
        np["spec"]["podSelector"]["matchLabels"],
        ds["spec"]["template"]["metadata"]["labels"]
    );
    let types = &np["spec"]["policyTypes"];
    assert!(types.as_array().unwrap().contains(&Value::from("Ingress")));
    let ingress = np["spec"]["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 1, "one rule");
    let from = ingress[0]["from"].as_array().unwrap();
    assert_eq!(from.len(), 1);
    assert_eq!(
        from[0],
        json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}),
        "the monitoring namespace only, no podSelector or ipBlock beside it"
    );
    assert_eq!(
        ingress[0]["ports"],
        json!([{"protocol": "TCP", "port": 9793}])
    );
    // No egress at all.
    assert!(types.as_array().unwrap().contains(&Value::from("Egress")));
    assert_eq!(np["spec"]["egress"], json!([]));
}

/// `kubectl apply --dry-run=client --validate=false -o name -f FILE...` against
/// `server` (kubectl maps kinds to resources through discovery even then).
fn client_dry_run(server: &FakeDiscovery, files: &[PathBuf]) -> std::process::Output {
    let dir = tempdir();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    let mut args = vec![
        "--kubeconfig".to_string(),
        kubeconfig.display().to_string(),
        "apply".into(),
        "--dry-run=client".into(),
        "--validate=false".into(),
        "-o".into(),
        "name".into(),
    ];
    for f in files {
        args.push("-f".into());
        args.push(f.display().to_string());
    }
    run("kubectl", args)
}

#[test]
fn kubectl_applies_the_manifests_in_a_client_dry_run() {
    // kubectl maps each kind to a resource through discovery, so it needs an API
    // server even for --dry-run=client: the fake answers discovery only (field
    // validation is the schema test's job, hence --validate=false).
    let server = FakeDiscovery::start(&[
        ("v1", "serviceaccounts", "ServiceAccount"),
        ("v1", "services", "Service"),
        ("apps/v1", "daemonsets", "DaemonSet"),
        ("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy"),
        (
            "monitoring.coreos.com/v1",
            "servicemonitors",
            "ServiceMonitor",
        ),
        (
            "monitoring.coreos.com/v1",
            "prometheusrules",
            "PrometheusRule",
        ),
    ]);
    let dir = tempdir();
    let apply = |files: &[PathBuf]| client_dry_run(&server, files);
    let deploy = repo().join("deploy/kubernetes");
    let o = apply(&[
        deploy.join("kcerts-daemonset.yaml"),
        deploy.join("kcerts-networkpolicy.yaml"),
        deploy.join("kcerts-prometheusrule.yaml"),
    ]);
    assert_ok(&o, "kubectl apply --dry-run=client");
    assert_eq!(
        stdout(&o),
        "serviceaccount/kcerts\ndaemonset.apps/kcerts\nservice/kcerts\n\
         networkpolicy.networking.k8s.io/kcerts\n\
         servicemonitor.monitoring.coreos.com/kcerts\nprometheusrule.monitoring.coreos.com/kcerts\n"
    );
    // A kind the server does not know is refused: the pass above means something.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        deploy_file("kcerts-daemonset.yaml").replace("kind: DaemonSet", "kind: DaemonSett"),
    )
    .unwrap();
    let o = apply(&[bad]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(stderr(&o).contains("DaemonSett"), "{}", stderr(&o));
}

/// kcerts-agent.yaml through kubernetes-validate (the 1.32 schemas, strict).
#[test]
fn the_agent_manifest_passes_the_kubernetes_1_32_schemas() {
    let o =
        kcerts_tests::pip::kubernetes_validate(&repo().join("deploy/kubernetes/kcerts-agent.yaml"));
    assert_ok(&o, "kubernetes-validate kcerts-agent.yaml");
    let out = format!("{}{}", stdout(&o), stderr(&o));
    for kind in [
        "serviceaccount/kcerts-agent",
        "clusterrole/kcerts-agent",
        "clusterrolebinding/kcerts-agent",
        "role/kcerts-agent",
        "rolebinding/kcerts-agent",
        "daemonset/kcerts-agent",
    ] {
        assert!(
            out.contains(&format!("passed for resource {kind}")),
            "{kind}: {out}"
        );
    }
}

/// The agent's RBAC rules, as (namespace or "" for cluster-wide, apiGroup,
/// resource, resourceNames, verbs), each list sorted.
type Grant = (String, String, String, Vec<String>, Vec<String>);

fn grants(docs: &[Value]) -> BTreeSet<Grant> {
    let strings = |v: &Value| -> Vec<String> {
        let mut out: Vec<String> = v
            .as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        out.sort();
        out
    };
    let mut out = BTreeSet::new();
    for d in docs
        .iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
    {
        let ns = d["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for rule in d["rules"].as_array().unwrap() {
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    out.insert((
                        ns.clone(),
                        group.clone(),
                        resource,
                        strings(&rule["resourceNames"]),
                        strings(&rule["verbs"]),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn the_agent_gets_exactly_its_verbs_and_mounts_only_etc_kubernetes_report_only() {
    let docs = yaml_documents(&repo().join("deploy/kubernetes/kcerts-agent.yaml"));
    let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let g = |ns: &str, group: &str, res: &str, names: &[&str], verbs: &[&str]| {
        (ns.into(), group.into(), res.into(), v(names), v(verbs))
    };
    let want: BTreeSet<Grant> = [
        g("", "", "nodes", &[], &["get", "patch"]),
        g(
            "kube-system",
            "coordination.k8s.io",
            "leases",
            &["kcerts-agent"],
            &["get", "update"],
        ),
        g(
            "kube-system",
            "coordination.k8s.io",
            "leases",
            &[],
            &["create"],
        ),
        g("default", "", "events", &[], &["create", "get", "update"]),
        g(
            "default",
            "discovery.k8s.io",
            "endpointslices",
            &["kubernetes"],
            &["get"],
        ),
        g("default", "", "endpoints", &["kubernetes"], &["get"]),
    ]
    .into_iter()
    .collect();
    assert_eq!(grants(&docs), want);
    let text = deploy_file("kcerts-agent.yaml");
    for never in [
        "secrets",
        "certificatesigningrequests",
        "\"*\"",
        "escalate",
        "bind",
        "impersonate",
    ] {
        let in_rules = docs
            .iter()
            .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
            .any(|d| d["rules"].to_string().contains(never));
        assert!(!in_rules, "{never} in the agent's rules");
    }
    // Every binding gives its role to the agent's ServiceAccount, and only to it.
    let bindings: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "RoleBinding" || d["kind"] == "ClusterRoleBinding")
        .collect();
    assert_eq!(bindings.len(), 3);
    for b in &bindings {
        assert_eq!(
            b["subjects"],
            json!([{"kind": "ServiceAccount", "name": "kcerts-agent", "namespace": "kube-system"}]),
            "{b}"
        );
        assert_eq!(b["roleRef"]["name"], "kcerts-agent");
        let role_kind = if b["kind"] == "ClusterRoleBinding" {
            "ClusterRole"
        } else {
            "Role"
        };
        assert_eq!(b["roleRef"]["kind"], role_kind, "{b}");
    }

    let ds = docs.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "kcerts-agent");
    assert_eq!(
        pod["nodeSelector"],
        json!({"node-role.kubernetes.io/control-plane": ""})
    );
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}])
    );
    assert_eq!(pod["hostNetwork"], true);
    assert!(pod.get("hostPID").is_none() && pod.get("hostIPC").is_none());
    assert_eq!(pod["securityContext"]["runAsUser"], 0);
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(
        c["securityContext"]["capabilities"],
        json!({"drop": ["ALL"]}),
        "no capability added"
    );
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["privileged"], false);
    assert!(c["resources"]["limits"]["memory"].is_string());
    // Exactly /etc/kubernetes, read-write, at its own path.
    assert_eq!(
        pod["volumes"],
        json!([{"name": "etc-kubernetes", "hostPath": {"path": "/etc/kubernetes", "type": "Directory"}}])
    );
    assert_eq!(
        c["volumeMounts"],
        json!([{"name": "etc-kubernetes", "mountPath": "/etc/kubernetes"}])
    );
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(args.first(), Some(&"agent"), "{args:?}");
    assert!(
        !args.iter().any(|a| a.starts_with("--renew")),
        "report only by default: {args:?}"
    );
    // The comment that says how to turn renewal on is there.
    assert!(text.contains("# - --renew\n"), "how to turn renewal on");
    // Every flag given is one `kcerts agent` takes (the pod would not start
    // otherwise), and the node directories are the mounted ones.
    let help = stdout(&kcerts(["agent", "--help"]));
    for a in &args[1..] {
        let flag = a.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "kcerts agent takes no {flag}:\n{help}"
        );
    }
    assert!(args.contains(&"--cert-dir=/etc/kubernetes/pki"), "{args:?}");
    assert!(
        args.contains(&"--kubeconfig-dir=/etc/kubernetes"),
        "{args:?}"
    );
    // The metrics listen on the node's loopback only (host network: a
    // NetworkPolicy would not guard them), and the liveness probe asks there.
    assert!(args.contains(&"--listen=127.0.0.1:9794"), "{args:?}");
    assert_eq!(
        c["ports"],
        json!([{"name": "metrics", "containerPort": 9794, "protocol": "TCP"}])
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"host": "127.0.0.1", "path": "/healthz", "port": "metrics"})
    );
    assert!(!args.iter().any(|a| a.starts_with("--listen=0.0.0.0")));
    assert!(!docs.iter().any(|d| d["kind"] == "NetworkPolicy"));
}

#[test]
fn kubectl_applies_the_agent_manifest_in_a_client_dry_run() {
    let server = FakeDiscovery::start(
        &[
            &SERVICE_ACCOUNT_AND_RBAC[..],
            &[("apps/v1", "daemonsets", "DaemonSet")],
        ]
        .concat(),
    );
    let o = client_dry_run(
        &server,
        &[repo().join("deploy/kubernetes/kcerts-agent.yaml")],
    );
    assert_ok(&o, "kubectl apply --dry-run=client kcerts-agent.yaml");
    assert_eq!(
        stdout(&o),
        "serviceaccount/kcerts-agent\n\
         clusterrole.rbac.authorization.k8s.io/kcerts-agent\n\
         clusterrolebinding.rbac.authorization.k8s.io/kcerts-agent\n\
         role.rbac.authorization.k8s.io/kcerts-agent\n\
         rolebinding.rbac.authorization.k8s.io/kcerts-agent\n\
         role.rbac.authorization.k8s.io/kcerts-agent\n\
         rolebinding.rbac.authorization.k8s.io/kcerts-agent\n\
         daemonset.apps/kcerts-agent\n"
    );
}
