//! The certificates API as `renew --use-api` and `approve` use it: a client for
//! CertificateSigningRequests, where a request stands, API errors in kcerts'
//! words.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kcerts_core::api_request::{self, Condition, RequestState};
use kube::api::Api;

use crate::node::kube_client;

/// A client for the certificate requests of the cluster `kubeconfig` names, and its URL.
pub async fn connect(kubeconfig: &Path) -> Result<(Api<CertificateSigningRequest>, String)> {
    let config = kube_client::config(kubeconfig).await?;
    let server = config.cluster_url.to_string();
    let client = kube_client::client(config, kubeconfig)?;
    Ok((Api::all(client), server))
}

/// Where a request stands, from its conditions and certificate.
pub fn request_state(csr: &CertificateSigningRequest) -> RequestState<'_> {
    let status = csr.status.as_ref();
    let conditions: Vec<Condition<'_>> = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .map(|c| Condition {
            kind: &c.type_,
            status: &c.status,
            reason: c.reason.as_deref().unwrap_or_default(),
            message: c.message.as_deref().unwrap_or_default(),
        })
        .collect();
    let certificate = status
        .and_then(|s| s.certificate.as_ref())
        .map(|b| &b.0[..]);
    api_request::state(&conditions, certificate)
}

/// An API error in kcerts' words.
pub fn api_error(e: kube::Error, what: &str) -> anyhow::Error {
    match e {
        kube::Error::Api(s) => anyhow!(
            "{what}: the API server answered {} {}: {}",
            s.code,
            s.reason,
            s.message
        ),
        other => anyhow::Error::new(other).context(what.to_string()),
    }
}

/// A `time` duration as a std one (saturating).
pub fn std_duration(d: time::Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.whole_milliseconds()).unwrap_or(u64::MAX))
}
