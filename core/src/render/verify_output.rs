//! `kcerts verify`'s outputs: the aligned table with a summary line, pretty JSON
//! and Prometheus metrics (the live check's too).

use crate::check::live::Row as LiveRow;
use crate::check::verify::{Status, Verification};
use crate::render::prometheus::escape;
use crate::render::tabwriter;

/// The checks as an aligned table (`RESULT TARGET CHECK REASON`) and a summary line.
pub fn render_text(v: &Verification) -> String {
    let mut t = String::from("RESULT\tTARGET\tCHECK\tREASON\n");
    for c in &v.checks {
        t.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            c.status.as_str(),
            c.target,
            c.check,
            c.reason
        ));
    }
    let mut s = tabwriter::format(&t, 0, 2);
    s.push_str(&format!(
        "\n{} checks: {} pass, {} warn, {} fail\n",
        v.checks.len(),
        v.count(Status::Pass),
        v.count(Status::Warn),
        v.count(Status::Fail)
    ));
    s
}

/// The verification in the Prometheus text format: `kcerts_verify_check` per
/// check (0 pass, 1 warn, 2 fail, also as the `result` label, so an alert can
/// select `result="fail"`) and the counts per status. The reason is left out of
/// the labels: it holds dates, and a label that changes every run would make a
/// new series every run.
pub fn to_prometheus(v: &Verification) -> String {
    let mut out = String::from(
        "# HELP kcerts_verify_check Result of one kcerts verify check: 0 pass, 1 warn, 2 fail. \
         The key and pair checks read the private keys (kcerts serve runs them only with \
         --check-keys).\n\
         # TYPE kcerts_verify_check gauge\n",
    );
    for c in &v.checks {
        let value = match c.status {
            Status::Pass => 0,
            Status::Warn => 1,
            Status::Fail => 2,
        };
        out.push_str(&format!(
            "kcerts_verify_check{{target=\"{}\",check=\"{}\",result=\"{}\"}} {value}\n",
            escape(&c.target),
            c.check,
            c.status.as_str()
        ));
    }
    out.push_str(
        "# HELP kcerts_verify_checks Number of kcerts verify checks by result.\n\
         # TYPE kcerts_verify_checks gauge\n",
    );
    for s in [Status::Pass, Status::Warn, Status::Fail] {
        out.push_str(&format!(
            "kcerts_verify_checks{{status=\"{}\"}} {}\n",
            s.as_str(),
            v.count(s)
        ));
    }
    out
}

/// `kcerts_live_certificate_matches{endpoint,address}`: 1 when the endpoint
/// serves what is on disk (or started after its kubeconfig was written), 0 when
/// not; endpoints kcerts cannot tell about are left out. Plus
/// `kcerts_live_endpoint_up`: 1 when it answered with a certificate.
pub fn live_to_prometheus(rows: &[LiveRow]) -> String {
    let mut out = String::from(
        "# HELP kcerts_live_certificate_matches Whether the endpoint serves the certificate on \
         disk (1) or an older one (0).\n# TYPE kcerts_live_certificate_matches gauge\n",
    );
    for r in rows {
        if let Some(m) = r.matches {
            out.push_str(&format!(
                "kcerts_live_certificate_matches{{endpoint=\"{}\",address=\"{}\"}} {}\n",
                r.endpoint.name(),
                escape(&r.address),
                u8::from(m)
            ));
        }
    }
    out.push_str(
        "# HELP kcerts_live_endpoint_up Whether the endpoint answered with a certificate.\n\
         # TYPE kcerts_live_endpoint_up gauge\n",
    );
    for r in rows {
        out.push_str(&format!(
            "kcerts_live_endpoint_up{{endpoint=\"{}\",address=\"{}\"}} {}\n",
            r.endpoint.name(),
            escape(&r.address),
            u8::from(r.serial.is_some())
        ));
    }
    out
}

/// The verification as pretty JSON.
pub fn to_json(v: &Verification) -> String {
    // Plain data with string keys: serialising cannot fail.
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
