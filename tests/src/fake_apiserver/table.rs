//! Server-side printing, as the real API server answers `kubectl get csr`
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): a `meta.k8s.io/v1`
//! Table with the columns of the API server's CertificateSigningRequest printer
//! (NAME, AGE, SIGNERNAME, REQUESTOR, REQUESTEDDURATION, CONDITION).

use serde_json::{Value, json};

use super::http::Request;

/// Whether the client asked for a Table.
pub(super) fn wanted(req: &Request) -> bool {
    req.headers
        .get("accept")
        .is_some_and(|a| a.contains("as=Table"))
}

/// The Table of `objs`.
pub(super) fn table(objs: &[Value], resource_version: &str) -> Value {
    let col = |name: &str, format: &str| json!({"name": name, "type": "string", "format": format, "description": "", "priority": 0});
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            json!({
                "cells": [
                    o["metadata"]["name"], age(o), o["spec"]["signerName"], o["spec"]["username"],
                    duration(o), condition(o),
                ],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"]},
            })
        })
        .collect();
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            col("Name", "name"), col("Age", ""), col("SignerName", ""), col("Requestor", ""),
            col("RequestedDuration", ""), col("Condition", ""),
        ],
        "rows": rows,
    })
}

/// `Approved,Issued`, `Denied`, `Pending`, as the API server's printer words it.
fn condition(o: &Value) -> String {
    let mut parts: Vec<String> = o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["type"].as_str().map(str::to_string))
        .collect();
    if o["status"]["certificate"].is_string() {
        parts.push("Issued".into());
    }
    if parts.is_empty() {
        "Pending".into()
    } else {
        parts.join(",")
    }
}

fn duration(o: &Value) -> String {
    match o["spec"]["expirationSeconds"].as_i64() {
        Some(s) if s % 86_400 == 0 => format!("{}d", s / 86_400),
        Some(s) if s % 3600 == 0 => format!("{}h", s / 3600),
        Some(s) => format!("{s}s"),
        None => "<none>".into(),
    }
}

fn age(o: &Value) -> String {
    let created = o["metadata"]["creationTimestamp"].as_str().and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    });
    match created {
        Some(t) => format!(
            "{}s",
            (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0)
        ),
        None => "<unknown>".into(),
    }
}
