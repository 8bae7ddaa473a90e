//! The fake API server's endpoints: discovery (`/api`, `/apis`, `/api/v1`,
//! `/apis/certificates.k8s.io/v1`, `/version`) and the CertificateSigningRequest
//! resource (create, get, list, delete, the `approval` and `status`
//! subresources), validated as the real API server does for what kcerts and
//! kubectl send, with Kubernetes' `Status` errors.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kcerts_core::api_request;
use serde_json::{Value, json};

use super::Shared;
use super::http::{Request, User};
use super::protobuf;
use super::store::{commit, condition, now_rfc3339, sign_if_ours, suffix};
use super::table;

pub(super) const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

pub(super) fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code,
        }),
    )
}

pub(super) fn route(req: &Request, user: &User, shared: &Shared) -> (u16, Value) {
    let port = shared_port(req);
    if req.method == "GET" {
        match req.path.as_str() {
            "/api" => {
                return (
                    200,
                    json!({"kind": "APIVersions", "versions": ["v1"],
                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": port}]}),
                );
            }
            "/apis" => {
                let gv = json!({"groupVersion": "certificates.k8s.io/v1", "version": "v1"});
                return (
                    200,
                    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                        "name": "certificates.k8s.io", "versions": [gv], "preferredVersion": gv}]}),
                );
            }
            "/api/v1" => {
                return (
                    200,
                    json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                        {"name": "configmaps", "singularName": "configmap", "namespaced": true,
                         "kind": "ConfigMap", "shortNames": ["cm"], "verbs": ["get"]},
                        {"name": "nodes", "singularName": "node", "namespaced": false,
                         "kind": "Node", "shortNames": ["no"], "verbs": ["get", "list"]},
                        {"name": "services", "singularName": "service", "namespaced": true,
                         "kind": "Service", "shortNames": ["svc"], "verbs": ["get", "list"]},
                        {"name": "endpoints", "singularName": "endpoints", "namespaced": true,
                         "kind": "Endpoints", "shortNames": ["ep"], "verbs": ["get", "list"]}]}),
                );
            }
            "/apis/certificates.k8s.io/v1" => return (200, resource_list()),
            "/version" => {
                return (
                    200,
                    json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-kcerts-fake",
                        "platform": "linux/amd64"}),
                );
            }
            _ => {}
        }
        if let Some(found) = config_map(req.path.as_str(), shared) {
            return found;
        }
        if let Some(found) = super::objects::get(req.path.as_str(), &shared.opts.objects) {
            return found;
        }
    }
    let Some(rest) = req.path.strip_prefix(CSRS) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", [""]) => create(req, user, shared),
        ("GET", [""]) => list(req, shared),
        ("GET", [name]) => get(req, name, shared),
        ("DELETE", [name]) => delete(name, shared),
        ("PUT", [name, sub @ ("approval" | "status")]) => update_status(name, sub, req, shared),
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method",
        ),
    }
}

/// `GET /api/v1/namespaces/NS/configmaps/NAME`, as the real API server answers it.
fn config_map(path: &str, shared: &Shared) -> Option<(u16, Value)> {
    let path = path.split('?').next().unwrap_or(path);
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (ns, name) = rest.split_once("/configmaps/")?;
    let found = shared
        .opts
        .config_maps
        .iter()
        .find(|(n, m, _)| n == ns && m == name);
    Some(match found {
        Some((_, _, data)) => (
            200,
            json!({"kind": "ConfigMap", "apiVersion": "v1",
                "metadata": {"name": name, "namespace": ns, "resourceVersion": "1",
                    "uid": format!("kcerts-fake-{ns}-{name}")},
                "data": data}),
        ),
        None => {
            let (code, mut body) =
                status(404, "NotFound", &format!("configmaps {name:?} not found"));
            body["details"] = json!({"name": name, "kind": "configmaps"});
            (code, body)
        }
    })
}

fn shared_port(req: &Request) -> String {
    req.headers.get("host").cloned().unwrap_or_default()
}

fn resource_list() -> Value {
    let verbs_sub = json!(["get", "patch", "update"]);
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "certificates.k8s.io/v1",
    "resources": [
        {"name": "certificatesigningrequests", "singularName": "certificatesigningrequest",
         "namespaced": false, "kind": "CertificateSigningRequest", "shortNames": ["csr"],
         "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]},
        {"name": "certificatesigningrequests/approval", "singularName": "", "namespaced": false,
         "kind": "CertificateSigningRequest", "verbs": verbs_sub},
        {"name": "certificatesigningrequests/status", "singularName": "", "namespaced": false,
         "kind": "CertificateSigningRequest", "verbs": verbs_sub},
    ]})
}

fn json_body(req: &Request) -> Result<Value, (u16, Value)> {
    let ct = req.headers.get("content-type").cloned().unwrap_or_default();
    // kubectl 1.32's typed clients prefer protobuf for built-in kinds (client-go's
    // gentype.PrefersProtobuf): its approval PUT arrives as protobuf.
    if ct.starts_with("application/vnd.kubernetes.protobuf") {
        return protobuf::csr_to_json(&req.body).ok_or_else(|| {
            status(
                400,
                "BadRequest",
                "cannot decode the protobuf CertificateSigningRequest",
            )
        });
    }
    if !ct.is_empty() && !ct.starts_with("application/json") {
        return Err(status(
            415,
            "UnsupportedMediaType",
            &format!("the body of the request was in an unknown format: {ct}"),
        ));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| status(400, "BadRequest", &format!("invalid JSON: {e}")))
}

fn invalid(name: &str, detail: &str) -> (u16, Value) {
    status(
        422,
        "Invalid",
        &format!("CertificateSigningRequest.certificates.k8s.io \"{name}\" is invalid: {detail}"),
    )
}

fn create(req: &Request, user: &User, shared: &Shared) -> (u16, Value) {
    let mut obj = match json_body(req) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let generate = obj["metadata"]["generateName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut st = shared.state.lock().unwrap();
    st.serial += 1;
    let name = match obj["metadata"]["name"].as_str() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ if !generate.is_empty() => format!("{generate}{}", suffix(st.serial)),
        _ => {
            return invalid(
                "",
                "metadata.name: Required value: name or generateName is required",
            );
        }
    };
    if st.objects.contains_key(&name) {
        return status(
            409,
            "AlreadyExists",
            &format!("certificatesigningrequests.certificates.k8s.io \"{name}\" already exists"),
        );
    }
    let signer = obj["spec"]["signerName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if signer.is_empty() {
        return invalid(&name, "spec.signerName: Required value");
    }
    if signer == api_request::LEGACY_UNKNOWN_SIGNER {
        return invalid(
            &name,
            "spec.signerName: Invalid value: \"kubernetes.io/legacy-unknown\": the legacy signerName is not allowed via this API version",
        );
    }
    if obj["spec"]["usages"].as_array().is_none_or(Vec::is_empty) {
        return invalid(&name, "spec.usages: Required value");
    }
    let csr_ok = obj["spec"]["request"]
        .as_str()
        .and_then(|b| STANDARD.decode(b).ok())
        .is_some_and(|pem| kcerts_core::csr::parse(&pem).is_ok_and(|c| c.signature_valid));
    if !csr_ok {
        return invalid(
            &name,
            "spec.request: Invalid value: []byte{...}: PEM block type must be CERTIFICATE REQUEST",
        );
    }
    if obj["spec"]["expirationSeconds"]
        .as_i64()
        .is_some_and(|s| s < 600)
    {
        return invalid(
            &name,
            "spec.expirationSeconds: Invalid value: may not specify a duration less than 600 seconds (10 minutes)",
        );
    }
    let meta = obj["metadata"].as_object_mut();
    let Some(meta) = meta else {
        return invalid(&name, "metadata: Required value");
    };
    meta.insert("name".into(), json!(name));
    meta.insert(
        "uid".into(),
        json!(format!("00000000-0000-0000-0000-{:012}", st.serial)),
    );
    meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
    obj["apiVersion"] = json!("certificates.k8s.io/v1");
    obj["kind"] = json!("CertificateSigningRequest");
    // The API server fills these from the authenticated user, whatever the client sent.
    obj["spec"]["username"] = json!(user.name);
    obj["spec"]["groups"] = json!(user.groups);
    obj["status"] = json!({});
    commit(&mut st, "ADDED", obj);
    if shared.opts.auto_approve.contains(&signer) {
        let mut o = st.objects[&name].clone();
        o["status"]["conditions"] = json!([condition(
            "Approved",
            "AutoApproved",
            "approved by the test signer's approver"
        )]);
        commit(&mut st, "MODIFIED", o);
        sign_if_ours(&mut st, &name, shared);
    }
    let out = st.objects[&name].clone();
    drop(st);
    shared.changed.notify_all();
    (201, out)
}

fn get(req: &Request, name: &str, shared: &Shared) -> (u16, Value) {
    let st = shared.state.lock().unwrap();
    match st.objects.get(name) {
        Some(o) if table::wanted(req) => (
            200,
            table::table(std::slice::from_ref(o), &st.version.to_string()),
        ),
        Some(o) => (200, o.clone()),
        None => not_found(name),
    }
}

fn not_found(name: &str) -> (u16, Value) {
    let (code, mut v) = status(
        404,
        "NotFound",
        &format!("certificatesigningrequests.certificates.k8s.io \"{name}\" not found"),
    );
    v["details"] =
        json!({"name": name, "group": "certificates.k8s.io", "kind": "certificatesigningrequests"});
    (code, v)
}

fn delete(name: &str, shared: &Shared) -> (u16, Value) {
    let mut st = shared.state.lock().unwrap();
    let Some(obj) = st.objects.get(name).cloned() else {
        return not_found(name);
    };
    commit(&mut st, "DELETED", obj.clone());
    drop(st);
    shared.changed.notify_all();
    (200, obj)
}

/// `metadata.name=NAME` (the only field selector kcerts and kubectl use here).
pub(super) fn selected(req: &Request) -> Option<String> {
    req.query
        .get("fieldSelector")
        .and_then(|f| f.strip_prefix("metadata.name="))
        .map(str::to_string)
}

pub(super) fn matches(obj: &Value, name: &Option<String>) -> bool {
    name.as_ref()
        .is_none_or(|n| obj["metadata"]["name"].as_str() == Some(n.as_str()))
}

fn list(req: &Request, shared: &Shared) -> (u16, Value) {
    let name = selected(req);
    let st = shared.state.lock().unwrap();
    let items: Vec<Value> = st
        .objects
        .values()
        .filter(|o| matches(o, &name))
        .cloned()
        .collect();
    if table::wanted(req) {
        return (200, table::table(&items, &st.version.to_string()));
    }
    (
        200,
        json!({"kind": "CertificateSigningRequestList", "apiVersion": "certificates.k8s.io/v1",
            "metadata": {"resourceVersion": st.version.to_string()}, "items": items}),
    )
}

fn update_status(name: &str, sub: &str, req: &Request, shared: &Shared) -> (u16, Value) {
    let body = match json_body(req) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let mut st = shared.state.lock().unwrap();
    let Some(mut obj) = st.objects.get(name).cloned() else {
        return not_found(name);
    };
    if let Some(rv) = body["metadata"]["resourceVersion"].as_str()
        && !rv.is_empty()
        && Some(rv) != obj["metadata"]["resourceVersion"].as_str()
    {
        return status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        );
    }
    let conditions = body["status"]["conditions"].clone();
    if sub == "approval" {
        let list = conditions.as_array().cloned().unwrap_or_default();
        let has = |t: &str| list.iter().any(|c| c["type"] == t);
        if has("Approved") && has("Denied") {
            return invalid(
                name,
                "status.conditions: Invalid value: \"Approved\": Approved and Denied conditions are mutually exclusive",
            );
        }
        obj["status"]["conditions"] = conditions;
    } else {
        obj["status"] = body["status"].clone();
    }
    commit(&mut st, "MODIFIED", obj);
    sign_if_ours(&mut st, name, shared);
    let out = st.objects[name].clone();
    drop(st);
    shared.changed.notify_all();
    (200, out)
}
