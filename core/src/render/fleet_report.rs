//! `kcerts fleet`'s output: kubeadm's tables with a NODE column and verify's rows
//! (text), one `CertificateExpirationInfo` per node plus the rows (JSON, and the
//! same document as YAML), and the metrics of every node with a `node` label plus
//! verify's gauges (Prometheus).

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::check::fleet::Fleet;
use crate::check::verify;
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::render::{prometheus, structured, text, verify_output};

/// The expiration tables of every node, then the cross-node rows and their summary.
pub fn to_text(fleet: &Fleet) -> String {
    let nodes: Vec<(&str, &crate::check::expiration::Report)> = fleet
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), &n.report))
        .collect();
    let mut out = text::render_nodes(&nodes);
    out.push('\n');
    out.push_str(&verify_output::render_text(&fleet.verification));
    out
}

/// One JSON document: `nodes` holds each node's `CertificateExpirationInfo` exactly
/// as `check-expiration -o json` prints it; `checks` holds verify's rows.
pub fn to_json(fleet: &Fleet) -> String {
    structured::pretty(&document(fleet))
}

/// The JSON document as YAML, keys sorted (each node's `expiration` as
/// `check-expiration -o yaml` prints it).
pub fn to_yaml(fleet: &Fleet) -> String {
    structured::yaml(document(fleet))
}

fn document(fleet: &Fleet) -> Value {
    let nodes: Vec<Value> = fleet
        .nodes
        .iter()
        .map(|n| {
            json!({
                "name": n.name,
                "nodeName": n.identity.node_name,
                "addresses": n.identity.addresses,
                "expiration": structured::info(&n.report),
            })
        })
        .collect();
    let soonest = fleet.soonest.as_ref().map(|s| {
        json!({
            "node": s.node,
            "name": s.name,
            "expirationDate": structured::rfc3339(s.expiration_date),
            "residualTime": s.residual_seconds,
        })
    });
    json!({
        "now": structured::rfc3339(fleet.now),
        "controlPlaneEndpoint": fleet.endpoint.as_ref().map(ToString::to_string),
        "nodes": nodes,
        "soonest": soonest,
        "checks": fleet.verification.checks,
        "summary": {
            "pass": fleet.verification.count(verify::Status::Pass),
            "warn": fleet.verification.count(verify::Status::Warn),
            "fail": fleet.verification.count(verify::Status::Fail),
        },
    })
}

/// Every node's certificate metrics with a `node` label, then verify's
/// `kcerts_verify_check` gauges for the cross-node rows. `path_of` gives the
/// `filepath` label of a node's file.
pub fn to_prometheus(
    fleet: &Fleet,
    files: &[(&str, &NodeFiles)],
    now: OffsetDateTime,
    path_of: &dyn Fn(&str, &NodePath) -> String,
) -> String {
    let mut out = prometheus::render_nodes(files, now, path_of);
    out.push_str(&verify_output::to_prometheus(&fleet.verification));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fleet;
    use crate::issue::pki;
    use crate::test_support::{NOW, ecdsa_node};

    fn two_nodes() -> Vec<(String, NodeFiles)> {
        let mut rng = crate::seeded_rng(3);
        let first = NodeFiles::from_generated(
            &pki::generate(&ecdsa_node("cp-1", 11), NOW, &mut rng).unwrap(),
        );
        let second = pki::generate_joined(&ecdsa_node("cp-2", 12), &first, NOW, &mut rng).unwrap();
        vec![
            ("cp-1".into(), first),
            ("cp-2".into(), NodeFiles::from_generated(&second)),
        ]
    }

    #[test]
    fn text_json_and_prometheus_name_every_node() {
        let nodes = two_nodes();
        let f = fleet::check(&nodes, &fleet::Options::default(), NOW).unwrap();
        let text = to_text(&f);
        assert!(text.starts_with("NODE      CERTIFICATE "), "{text}");
        assert!(text.contains("\ncp-2      apiserver "), "{text}");
        assert!(
            text.contains("\nNODE      CERTIFICATE AUTHORITY "),
            "{text}"
        );
        assert!(text.contains("\nRESULT  TARGET"), "{text}");
        assert!(
            text.ends_with(" checks: 29 pass, 0 warn, 0 fail\n"),
            "{text}"
        );

        let json: Value = serde_json::from_str(&to_json(&f)).unwrap();
        assert_eq!(json["nodes"][1]["name"], "cp-2");
        assert_eq!(
            json["nodes"][1]["expiration"]["kind"],
            "CertificateExpirationInfo"
        );
        assert_eq!(
            json["nodes"][0]["expiration"],
            structured::info(&f.nodes[0].report)
        );
        assert_eq!(json["controlPlaneEndpoint"], "k8s.example.internal:6443");
        assert_eq!(json["summary"]["pass"], 29);

        let files: Vec<(&str, &NodeFiles)> = nodes.iter().map(|(n, f)| (n.as_str(), f)).collect();
        let prom = to_prometheus(&f, &files, NOW, &|n, p| format!("{n}:{p}"));
        assert!(prom.contains(
            "x509_cert_not_after{node=\"cp-2\",name=\"admin.conf\",ca=\"ca\",filename=\"cp-2:admin.conf\",filepath=\"cp-2:admin.conf\""
        ), "{prom}");
        assert_eq!(prom.matches("# TYPE x509_cert_not_after gauge").count(), 1);
        assert!(prom.contains("x509_read_errors{node=\"cp-1\"} 0\n"));
        assert!(prom.contains(
            "kcerts_verify_check{target=\"cp-2/apiserver\",check=\"endpoint-sans\",result=\"pass\"} 0\n"
        ));
    }
}
