//! The agent protocol (`kcerts_core::protocol`) through the Kubernetes API: the
//! Lease `kube-system/kcerts-agent` read and written (an update carries the
//! resourceVersion read, so of two agents only one wins), the Node annotations,
//! and the agent's Events on its Node.
//!
//! An agent restarts its own node's API server, and its kubeconfig usually names
//! that one; so every call tries the kubeconfig's server first and then, when it
//! does not answer, every other API server the `kubernetes` EndpointSlice lists
//! (same credentials and CA): the Lease is renewed while the node's own API server
//! is down.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Event, EventSource, Node, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kcerts_core::node_event::NodeEvent;
use kcerts_core::protocol::{
    EVENT_COMPONENT, EVENT_NAMESPACE, LEASE_NAME, LEASE_NAMESPACE, LeaseView,
    ROLLOUT_FAILED_ANNOTATION, RolloutFailed,
};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::Status;
use time::OffsetDateTime;

use crate::node::kube_client;

/// How long one call to one API server may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The API servers an agent talks to, the kubeconfig's (or in-cluster) first.
#[derive(Clone)]
pub struct AgentApi {
    servers: Vec<(String, kube::Client)>,
    config: kube::Config,
    ips: Vec<IpAddr>,
}

/// A call that reached an API server, which refused it.
#[derive(Debug)]
pub struct Refused(pub Box<Status>);

impl AgentApi {
    /// The client of `kubeconfig`, or of the pod's in-cluster configuration.
    pub async fn connect(kubeconfig: Option<&Path>) -> Result<Self> {
        let (config, shown) = match kubeconfig {
            Some(k) => (kube_client::config(k).await?, k.to_path_buf()),
            None => (
                kube_client::in_cluster()?,
                Path::new(kube_client::SERVICE_ACCOUNT_DIR).to_path_buf(),
            ),
        };
        let server = config.cluster_url.to_string();
        let client = kube_client::client(config.clone(), &shown)?;
        Ok(Self {
            servers: vec![(server, client)],
            config,
            ips: Vec::new(),
        })
    }

    /// The API servers' addresses [`AgentApi::add_endpoints`] read.
    pub fn endpoint_ips(&self) -> &[IpAddr] {
        &self.ips
    }

    /// The API servers' port (the first server's).
    pub fn port(&self) -> u16 {
        self.config.cluster_url.port_u16().unwrap_or(443)
    }

    /// The URL of the first API server.
    pub fn server(&self) -> &str {
        &self.servers[0].0
    }

    /// Adds every API server of the `kubernetes` EndpointSlice (on the first
    /// server's port) not already in the list; says which were added.
    pub async fn add_endpoints(&mut self) -> Result<Vec<String>> {
        let first = self.servers[0].1.clone();
        let server = self.server().to_string();
        let ips = crate::node::apiserver_addresses::read(&first, &server, CALL_TIMEOUT).await?;
        let port = self.port();
        let mut added = Vec::new();
        self.ips.clone_from(&ips);
        for ip in ips {
            let url = match ip {
                IpAddr::V4(v4) => format!("https://{v4}:{port}/"),
                IpAddr::V6(v6) => format!("https://[{v6}]:{port}/"),
            };
            if self.servers.iter().any(|(s, _)| same_url(s, &url)) {
                continue;
            }
            let mut config = self.config.clone();
            config.cluster_url = url
                .parse()
                .map_err(|e| anyhow!("the API server address {url}: {e}"))?;
            let client = kube::Client::try_from(config)
                .map_err(|e| anyhow!("cannot build a client for {url}: {e}"))?;
            added.push(url.clone());
            self.servers.push((url, client));
        }
        Ok(added)
    }

    /// Runs `call` against each API server in turn until one answers (an answer
    /// that refuses is an answer: `Ok(Err(Refused))`); an error when none does.
    pub async fn call<T, F, Fut>(&self, what: &str, call: F) -> Result<Result<T, Refused>>
    where
        F: Fn(kube::Client) -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut seen = Vec::new();
        for (server, client) in &self.servers {
            match tokio::time::timeout(CALL_TIMEOUT, call(client.clone())).await {
                Ok(Ok(v)) => return Ok(Ok(v)),
                Ok(Err(kube::Error::Api(s))) => return Ok(Err(Refused(s))),
                Ok(Err(e)) => seen.push(format!("{server}: {e}")),
                Err(_) => seen.push(format!("{server}: no answer within {CALL_TIMEOUT:?}")),
            }
        }
        Err(anyhow!(
            "cannot {what}: no API server answered ({})",
            seen.join("; ")
        ))
    }

    /// [`AgentApi::call`], a refusal an error too.
    pub async fn call_ok<T, F, Fut>(&self, what: &str, call: F) -> Result<T>
    where
        F: Fn(kube::Client) -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        self.call(what, call)
            .await?
            .map_err(|Refused(s)| refused(what, &s))
    }

    /// The Lease, `None` when it does not exist yet.
    pub async fn lease(&self) -> Result<Option<Lease>> {
        self.call_ok("read the Lease kube-system/kcerts-agent", |c| async move {
            Api::<Lease>::namespaced(c, LEASE_NAMESPACE)
                .get_opt(LEASE_NAME)
                .await
        })
        .await
    }

    /// Writes `view` over the Lease `old` as read (creates it when `old` is
    /// `None`). `Ok(None)` when someone else wrote it since (409 Conflict or
    /// AlreadyExists): the caller reads it again.
    pub async fn write_lease(
        &self,
        old: Option<&Lease>,
        view: &LeaseView,
    ) -> Result<Option<Lease>> {
        let lease = with_view(old, view);
        let result = match old {
            None => {
                self.call("create the Lease kube-system/kcerts-agent", |c| {
                    let lease = lease.clone();
                    async move {
                        Api::<Lease>::namespaced(c, LEASE_NAMESPACE)
                            .create(&PostParams::default(), &lease)
                            .await
                    }
                })
                .await?
            }
            Some(_) => {
                self.call("update the Lease kube-system/kcerts-agent", |c| {
                    let lease = lease.clone();
                    async move {
                        Api::<Lease>::namespaced(c, LEASE_NAMESPACE)
                            .replace(LEASE_NAME, &PostParams::default(), &lease)
                            .await
                    }
                })
                .await?
            }
        };
        match result {
            Ok(l) => Ok(Some(l)),
            Err(Refused(s)) if s.code == 409 => Ok(None),
            Err(Refused(s)) => Err(refused("write the Lease kube-system/kcerts-agent", &s)),
        }
    }

    /// The Node's annotations; `None` when there is no such Node.
    pub async fn node_annotations(&self, node: &str) -> Result<Option<BTreeMap<String, String>>> {
        let n = self
            .call_ok(&format!("read the Node {node}"), |c| async move {
                Api::<Node>::all(c).get_opt(node).await
            })
            .await?;
        Ok(n.map(|n| n.metadata.annotations.unwrap_or_default()))
    }

    /// Sets (`Some`) or removes (`None`) one annotation of the Node (a merge patch).
    pub async fn annotate_node(&self, node: &str, key: &str, value: Option<&str>) -> Result<()> {
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        self.call_ok(&format!("annotate the Node {node}"), |c| {
            let patch = patch.clone();
            async move {
                Api::<Node>::all(c)
                    .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
            }
        })
        .await?;
        Ok(())
    }

    /// Records `event` at `now`: the Event of that name is updated (count + 1,
    /// lastTimestamp, message) when it exists, created otherwise.
    pub async fn record_event(&self, event: &NodeEvent, now: OffsetDateTime) -> Result<()> {
        let what = format!("record the Event {}", event.name);
        for _ in 0..3 {
            let name = event.name.as_str();
            let old = self
                .call_ok(&what, |c| async move {
                    Api::<Event>::namespaced(c, EVENT_NAMESPACE)
                        .get_opt(name)
                        .await
                })
                .await?;
            let result = match old {
                Some(mut e) => {
                    e.count = Some(e.count.unwrap_or(1).saturating_add(1));
                    e.last_timestamp = Some(Time(timestamp(now)));
                    e.message = Some(event.message.clone());
                    e.type_ = Some(event.event_type.to_string());
                    self.call(&what, |c| {
                        let e = e.clone();
                        async move {
                            Api::<Event>::namespaced(c, EVENT_NAMESPACE)
                                .replace(name, &PostParams::default(), &e)
                                .await
                        }
                    })
                    .await?
                }
                None => {
                    let e = new_event(event, now);
                    self.call(&what, |c| {
                        let e = e.clone();
                        async move {
                            Api::<Event>::namespaced(c, EVENT_NAMESPACE)
                                .create(&PostParams::default(), &e)
                                .await
                        }
                    })
                    .await?
                }
            };
            match result {
                Ok(_) => return Ok(()),
                // Written by someone else in between (or expired): read it again.
                Err(Refused(s)) if s.code == 409 || s.code == 404 => continue,
                Err(Refused(s)) => {
                    return Err(refused(&what, &s));
                }
            }
        }
        Err(anyhow!("cannot {what}: it kept changing under this agent"))
    }
}

/// A refusal in kcerts' words.
fn refused(what: &str, s: &Status) -> anyhow::Error {
    anyhow!(
        "cannot {what}: the API server answered {} {}: {}",
        s.code,
        s.reason,
        s.message
    )
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// A new Event on the Node, as the kubelet makes its node events (its
/// involvedObject's uid is the node's name).
fn new_event(event: &NodeEvent, now: OffsetDateTime) -> Event {
    let t = Time(timestamp(now));
    Event {
        metadata: ObjectMeta {
            name: Some(event.name.clone()),
            namespace: Some(EVENT_NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(event.node.clone()),
            uid: Some(event.node.clone()),
            ..ObjectReference::default()
        },
        reason: Some(event.reason.as_str().to_string()),
        message: Some(event.message.clone()),
        type_: Some(event.event_type.to_string()),
        count: Some(1),
        first_timestamp: Some(t.clone()),
        last_timestamp: Some(t),
        source: Some(EventSource {
            component: Some(EVENT_COMPONENT.to_string()),
            host: Some(event.node.clone()),
        }),
        reporting_component: Some(EVENT_COMPONENT.to_string()),
        reporting_instance: Some(event.node.clone()),
        ..Event::default()
    }
}

/// A time as the API's types hold it (whole seconds).
pub fn timestamp(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_second(t.unix_timestamp()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// An API time as `time`'s, when in range.
pub fn offset_date_time(t: &Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t.as_second()).ok()
}

/// The Lease as the protocol reads it.
pub fn lease_view(lease: &Lease) -> LeaseView {
    let spec = lease.spec.clone().unwrap_or_default();
    let micro = |t: Option<MicroTime>| t.and_then(|t| offset_date_time(&t.0));
    LeaseView {
        holder: spec.holder_identity,
        duration_seconds: spec.lease_duration_seconds,
        acquire_time: micro(spec.acquire_time),
        renew_time: micro(spec.renew_time),
        transitions: spec.lease_transitions,
        rollout_failed: lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ROLLOUT_FAILED_ANNOTATION))
            .map(|v| RolloutFailed::parse(v)),
    }
}

/// The Lease `old` (or a new one) with `view`'s spec and rollout-failed annotation;
/// an unreadable annotation read back is kept as it was.
pub fn with_view(old: Option<&Lease>, view: &LeaseView) -> Lease {
    let mut lease = old.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(LEASE_NAME.to_string()),
            namespace: Some(LEASE_NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        spec: None,
    });
    let micro = |t: Option<OffsetDateTime>| t.map(|t| MicroTime(timestamp(t)));
    let old_spec = lease.spec.take().unwrap_or_default();
    lease.spec = Some(LeaseSpec {
        holder_identity: view.holder.clone(),
        lease_duration_seconds: view.duration_seconds,
        acquire_time: micro(view.acquire_time),
        renew_time: micro(view.renew_time),
        lease_transitions: view.transitions,
        ..old_spec
    });
    let annotations = lease.metadata.annotations.get_or_insert_with(BTreeMap::new);
    match &view.rollout_failed {
        Some(Ok(f)) => {
            annotations.insert(ROLLOUT_FAILED_ANNOTATION.to_string(), f.render());
        }
        Some(Err(_)) => {}
        None => {
            annotations.remove(ROLLOUT_FAILED_ANNOTATION);
        }
    }
    lease
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_lease_reads_back_what_was_written() {
        let now = datetime!(2026-03-01 12:00 UTC);
        let view = kcerts_core::lease_claim::take(None, "cp-1", 15, now);
        let lease = with_view(None, &view);
        assert_eq!(lease.metadata.name.as_deref(), Some(LEASE_NAME));
        assert_eq!(lease_view(&lease), view);
        let failed = kcerts_core::lease_claim::release(
            &view,
            "cp-1",
            &kcerts_core::lease_claim::Release::Failed(RolloutFailed::new("cp-1", now, "boom")),
        );
        let lease = with_view(Some(&lease), &failed);
        assert_eq!(
            lease.metadata.annotations.as_ref().unwrap()[ROLLOUT_FAILED_ANNOTATION],
            r#"{"node":"cp-1","at":"2026-03-01T12:00:00Z","message":"boom"}"#
        );
        assert_eq!(lease_view(&lease), failed);
        let json = serde_json::to_value(&lease).unwrap();
        assert_eq!(json["spec"]["holderIdentity"], serde_json::Value::Null);
        assert_eq!(json["spec"]["leaseTransitions"], 0);
        let cleared = kcerts_core::lease_claim::release(
            &kcerts_core::lease_claim::take(Some(&failed), "cp-1", 15, now),
            "cp-1",
            &kcerts_core::lease_claim::Release::Succeeded,
        );
        let lease = with_view(Some(&lease), &cleared);
        assert!(
            !lease
                .metadata
                .annotations
                .unwrap()
                .contains_key(ROLLOUT_FAILED_ANNOTATION)
        );
    }

    #[test]
    fn events_are_the_kubelets_shape() {
        let ev = kcerts_core::node_event::failed("cp-2", "boom");
        let e = new_event(&ev, datetime!(2026-03-01 12:00 UTC));
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["involvedObject"]["kind"], "Node");
        assert_eq!(json["involvedObject"]["name"], "cp-2");
        assert_eq!(json["metadata"]["namespace"], "default");
        assert_eq!(json["source"]["component"], "kcerts-agent");
        assert_eq!(json["type"], "Warning");
        assert_eq!(json["reason"], "CertificateRenewalFailed");
        assert_eq!(json["lastTimestamp"], "2026-03-01T12:00:00Z");
    }
}
