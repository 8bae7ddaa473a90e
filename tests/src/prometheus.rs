//! Prometheus exposition text read by Python's prometheus_client parser, the
//! reference client library (installed with pip when missing).

use std::process::Command;
use std::sync::OnceLock;

use crate::pip::pip_module;
use crate::{assert_ok, stdout};

/// Makes sure `python3 -c 'import prometheus_client'` works: this test installs
/// prometheus_client from PyPI with pip when it is missing (scripts/test.sh only
/// makes sure python3 exists).
fn prometheus_client() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| pip_module("prometheus_client.parser", "prometheus_client"));
}

/// Parses exposition text with prometheus_client and returns one line per
/// sample: `name{sorted labels} value`, families in order.
pub fn parse_with_prometheus_client(text: &str) -> String {
    prometheus_client();
    let script = r##"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    print(f"# family {fam.name} {fam.type} {len(fam.samples)}")
    for s in fam.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value:.0f}")
"##;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_ok(&o, "the prometheus_client parser");
    stdout(&o)
}
