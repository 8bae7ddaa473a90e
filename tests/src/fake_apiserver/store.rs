//! The fake API server's state: the stored objects, each change with its
//! resourceVersion (the event history watches replay), generated names, and
//! kube-controller-manager's signer, which signs approved requests in place.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kcerts_core::{api_request, api_signer};
use serde_json::{Value, json};

use super::Shared;

/// Everything the server stores, behind [`Shared::state`](super::Shared).
#[derive(Default)]
pub(super) struct State {
    /// The requests by name.
    pub(super) objects: BTreeMap<String, Value>,
    /// Every change: (resourceVersion, event type, object).
    pub(super) events: Vec<(u64, &'static str, Value)>,
    pub(super) version: u64,
    pub(super) expire_watches: u32,
    pub(super) log: Vec<String>,
    pub(super) serial: u64,
}

pub(super) fn suffix(n: u64) -> String {
    // The API server's alphabet for generated names: no vowels, no 0/1/3.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

pub(super) fn condition(kind: &str, reason: &str, message: &str) -> Value {
    let now = now_rfc3339();
    json!({"type": kind, "status": "True", "reason": reason, "message": message,
        "lastUpdateTime": now, "lastTransitionTime": now})
}

pub(super) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Stores `obj` with the next resourceVersion and records the event.
pub(super) fn commit(st: &mut State, kind: &'static str, mut obj: Value) {
    st.version += 1;
    obj["metadata"]["resourceVersion"] = json!(st.version.to_string());
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    st.events.push((st.version, kind, obj.clone()));
    if kind == "DELETED" {
        st.objects.remove(&name);
    } else {
        st.objects.insert(name, obj);
    }
}

/// kube-controller-manager's signer: signs approved requests for the signers it serves.
pub(super) fn sign_if_ours(st: &mut State, name: &str, shared: &Shared) {
    let obj = st.objects[name].clone();
    let signer = obj["spec"]["signerName"].as_str().unwrap_or_default();
    let ours = signer == api_request::KUBE_APISERVER_CLIENT_SIGNER
        || shared.opts.signers.iter().any(|s| s == signer);
    let conditions = obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let has = |t: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == t && c["status"] != "False")
    };
    if !ours
        || !has("Approved")
        || has("Denied")
        || has("Failed")
        || obj["status"]["certificate"].is_string()
    {
        return;
    }
    let usages: Vec<String> = obj["spec"]["usages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect();
    let mut validity = shared.opts.signing_duration;
    if let Some(s) = obj["spec"]["expirationSeconds"].as_i64() {
        validity = validity.min(time::Duration::seconds(s));
    }
    let pem = obj["spec"]["request"]
        .as_str()
        .and_then(|b| STANDARD.decode(b).ok())
        .unwrap_or_default();
    let result = api_signer::check_usages(signer, &usages).and_then(|()| {
        api_signer::sign_with_usages(
            &pem,
            &usages,
            &shared.ca,
            validity,
            time::OffsetDateTime::now_utc(),
            &mut kcerts_core::system_rng(),
        )
    });
    let mut o = obj;
    match result {
        Ok(cert) => o["status"]["certificate"] = json!(STANDARD.encode(cert.to_pem())),
        Err(e) => {
            let mut c = conditions;
            c.push(condition(
                "Failed",
                "SignerValidationFailure",
                &e.to_string(),
            ));
            o["status"]["conditions"] = json!(c);
        }
    }
    commit(st, "MODIFIED", o);
}
