//! Read-only objects of other kinds, served at their REST paths as the real API
//! server serves them (GET by name, list; 404 `Status` for a missing one): what
//! `approve kubelet-serving` reads about the cluster (Nodes, the `kubernetes`
//! Service, EndpointSlice and Endpoints in `default`, ServiceCIDRs), plus builders
//! of those objects with the fields a kubeadm cluster's have.

use serde_json::{Value, json};

use super::routes::status;

/// The REST collection path of `obj` (`/api/v1/nodes`,
/// `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices`).
fn collection(obj: &Value) -> String {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let group = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .map(|n| format!("/namespaces/{n}"))
        .unwrap_or_default();
    format!(
        "{group}{ns}/{}",
        plural(obj["kind"].as_str().unwrap_or_default())
    )
}

/// The resource name of a kind, as the API server's RESTMapper gives it.
fn plural(kind: &str) -> String {
    match kind {
        "Endpoints" => "endpoints".into(),
        k => format!("{}s", k.to_lowercase()),
    }
}

/// The collections served, with their kind and apiVersion: a list of one holds
/// the objects given there, none at all if none were.
const SERVED: [(&str, &str, &str); 5] = [
    ("/api/v1/nodes", "Node", "v1"),
    ("/api/v1/namespaces/default/services", "Service", "v1"),
    ("/api/v1/namespaces/default/endpoints", "Endpoints", "v1"),
    (
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
        "EndpointSlice",
        "discovery.k8s.io/v1",
    ),
    (
        "/apis/networking.k8s.io/v1/servicecidrs",
        "ServiceCIDR",
        "networking.k8s.io/v1",
    ),
];

/// The answer to `GET path` from `objects`, or `None` when no object kind lives there.
pub(super) fn get(path: &str, objects: &[Value]) -> Option<(u16, Value)> {
    let path = path.split('?').next().unwrap_or(path);
    let in_coll = |coll: &str| {
        let coll = coll.to_string();
        objects.iter().filter(move |o| collection(o) == coll)
    };
    let served = |coll: &str| SERVED.iter().find(|(c, _, _)| *c == coll).copied();
    if let Some((coll, kind, api_version)) = served(path) {
        let items: Vec<Value> = in_coll(coll).cloned().collect();
        return Some((
            200,
            json!({"kind": format!("{kind}List"), "apiVersion": api_version,
                "metadata": {"resourceVersion": "1"}, "items": items}),
        ));
    }
    let (coll, name) = path.rsplit_once('/')?;
    served(coll)?;
    if let Some(obj) = in_coll(coll).find(|o| o["metadata"]["name"].as_str() == Some(name)) {
        return Some((200, obj.clone()));
    }
    let resource = coll.rsplit('/').next().unwrap_or_default();
    let (code, mut body) = status(404, "NotFound", &format!("{resource} {name:?} not found"));
    body["details"] = json!({"name": name, "kind": resource});
    Some((code, body))
}

/// A Node as the kubelet registers it: `status.addresses` (InternalIP, then
/// Hostname), `spec.podCIDR(s)` as kube-controller-manager allocates them.
pub fn node(name: &str, internal_ip: &str, pod_cidr: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": format!("kcerts-fake-node-{name}"),
            "resourceVersion": "1",
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": {"addresses": [
            {"type": "InternalIP", "address": internal_ip},
            {"type": "Hostname", "address": name}]}
    })
}

/// The `kubernetes` Service in `default`, at the first IP of the service range.
pub fn kubernetes_service(cluster_ip: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "resourceVersion": "1",
            "uid": "kcerts-fake-svc-kubernetes",
            "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}
    })
}

/// The `kubernetes` EndpointSlice in `default`: one endpoint per API server
/// (its advertise address), as the API server's endpoint reconciler writes it.
pub fn kubernetes_endpoint_slice(addresses: &[&str]) -> Value {
    let endpoints: Vec<Value> = addresses
        .iter()
        .map(|a| json!({"addresses": [a], "conditions": {"ready": true}}))
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default", "resourceVersion": "1",
            "uid": "kcerts-fake-eps-kubernetes",
            "labels": {"kubernetes.io/service-name": "kubernetes",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]
    })
}

/// The `kubernetes` Endpoints in `default` (the older form of the above).
pub fn kubernetes_endpoints(addresses: &[&str]) -> Value {
    let ips: Vec<Value> = addresses.iter().map(|a| json!({"ip": a})).collect();
    json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "resourceVersion": "1",
            "uid": "kcerts-fake-ep-kubernetes"},
        "subsets": [{"addresses": ips,
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]
    })
}

/// The default ServiceCIDR (`kubernetes`) the API server creates from its
/// `--service-cluster-ip-range`.
pub fn service_cidr(cidrs: &[&str]) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
        "metadata": {"name": "kubernetes", "resourceVersion": "1",
            "uid": "kcerts-fake-servicecidr-kubernetes"},
        "spec": {"cidrs": cidrs},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "",
            "message": "Kubernetes Service CIDR is ready",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    })
}

/// A kubeadm cluster's objects: cp-1 (the API server's advertise address
/// 10.0.0.10), worker-1 (10.0.0.7) and worker-2 (10.0.0.8), pod ranges
/// 10.244.N.0/24, services in 10.96.0.0/12 with the `kubernetes` Service at
/// 10.96.0.1, and its EndpointSlice and Endpoints at 10.0.0.10:6443.
pub fn kubeadm_cluster() -> Vec<Value> {
    vec![
        node("cp-1", "10.0.0.10", "10.244.0.0/24"),
        node("worker-1", "10.0.0.7", "10.244.1.0/24"),
        node("worker-2", "10.0.0.8", "10.244.2.0/24"),
        kubernetes_service("10.96.0.1"),
        kubernetes_endpoint_slice(&["10.0.0.10"]),
        kubernetes_endpoints(&["10.0.0.10"]),
        service_cidr(&["10.96.0.0/12"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_found_by_collection_and_name() {
        let objs = vec![
            node("cp-1", "10.0.0.10", "10.244.0.0/24"),
            node("worker-1", "10.0.0.7", "10.244.1.0/24"),
            kubernetes_service("10.96.0.1"),
            kubernetes_endpoint_slice(&["10.0.0.10"]),
            service_cidr(&["10.96.0.0/12"]),
        ];
        let (code, list) = get("/api/v1/nodes?limit=500", &objs).unwrap();
        assert_eq!(code, 200);
        assert_eq!(list["kind"], "NodeList");
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        let (code, n) = get("/api/v1/nodes/worker-1", &objs).unwrap();
        assert_eq!(
            (code, n["metadata"]["name"].as_str()),
            (200, Some("worker-1"))
        );
        let (code, missing) = get("/api/v1/nodes/worker-9", &objs).unwrap();
        assert_eq!((code, missing["reason"].as_str()), (404, Some("NotFound")));
        let (code, _) = get("/api/v1/namespaces/default/services/kubernetes", &objs).unwrap();
        assert_eq!(code, 200);
        let (code, _) = get(
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes",
            &objs,
        )
        .unwrap();
        assert_eq!(code, 200);
        let (_, cidrs) = get("/apis/networking.k8s.io/v1/servicecidrs", &objs).unwrap();
        assert_eq!(cidrs["items"][0]["spec"]["cidrs"][0], "10.96.0.0/12");
        let (code, _) = get("/api/v1/namespaces/default/endpoints/kubernetes", &objs).unwrap();
        assert_eq!(code, 404, "a served kind, no such object");
        let (code, none) = get("/api/v1/namespaces/default/endpoints", &objs).unwrap();
        assert_eq!(
            (code, none["items"].as_array().map(Vec::len)),
            (200, Some(0))
        );
        assert!(get("/api/v1/pods", &objs).is_none(), "not a served kind");
    }
}
