//! `kcerts renew --use-api`: renewal through the Kubernetes certificates API
//! (docs/kubeadm.md, The certificates API flow). One CertificateSigningRequest per
//! row, a wait for approval and issuance (watch, re-list on expiry), a check of
//! each issued certificate.
//! This module writes nothing: it returns the accepted certificates and keys as
//! renewal plans, and `kcerts renew` applies them through the same journaled
//! transaction as a local renewal (`fsio::txn`). Nothing is written unless every
//! requested row was issued and checked.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kcerts_core::NodeFiles;
use kcerts_core::api_request::{self, ApiRequest, RequestPlan, RequestState};
use kcerts_core::inventory::Row;
use kcerts_core::key_choice::KeyChoice;
use kcerts_core::renewal::{Outcome, RowPlan};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use time::OffsetDateTime;

use crate::fsio::NodeDirs;
use crate::node::csr_api::{api_error, connect, request_state, std_duration};
use crate::report::Hinted;
use crate::report::out::outln;

/// What `renew --use-api` needs from the command line.
pub struct Options {
    pub kubeconfig: PathBuf,
    pub signer_name: Option<String>,
    pub timeout: time::Duration,
    pub key: KeyChoice,
    pub validity: time::Duration,
}

/// The rows the API server issued, checked and ready to write.
pub struct Accepted {
    /// One plan per requested row, in order: `Renewed` with the files to write,
    /// or `Missing`.
    pub plans: Vec<RowPlan>,
    /// When the certificates were checked (the time of the renewal).
    pub now: OffsetDateTime,
}

/// How long one watch request may stay open before it is renewed (below the API
/// server's default of 30 to 60 minutes, and kube-rs' 295 s client limit).
const WATCH_SECONDS: u32 = 290;

/// Requests a certificate for each row, waits for all of them and checks each
/// one. Writes nothing. `None` when a row cannot be requested (reported on
/// stderr, nothing sent); other errors are returned.
pub fn request(
    opts: &Options,
    dirs: &NodeDirs,
    files: &NodeFiles,
    rows: &[&'static Row],
) -> Result<Option<Accepted>> {
    let mut rng = kcerts_core::system_rng();
    let plans = api_request::plan(files, rows, opts.signer_name.as_deref(), opts.key, &mut rng);
    let mut failed = false;
    let mut need_signer = false;
    for (row, p) in &plans {
        match p {
            RequestPlan::Failed(e) => {
                eprintln!(
                    "error: cannot renew {}: {}: {}",
                    row.name,
                    dirs.path(&e.path).display(),
                    e.kind
                );
                failed = true;
            }
            RequestPlan::NoSigner(e) => {
                eprintln!("error: cannot renew {} through the API: {e}", row.name);
                need_signer |= !matches!(
                    e,
                    api_request::SignerError::Forbidden(_) | api_request::SignerError::Malformed(_)
                );
                failed = true;
            }
            RequestPlan::Request(_) | RequestPlan::Missing => {}
        }
    }
    if failed {
        if need_signer {
            eprintln!(
                "hint: pass --signer-name NAME, a signer that issues from that CA (e.g. a \
                 cert-manager issuer's signer name), or renew these rows without --use-api"
            );
        }
        eprintln!("error: no request was sent and no file was changed");
        return Ok(None);
    }
    let requests: Vec<&ApiRequest> = plans
        .iter()
        .filter_map(|(_, p)| match p {
            RequestPlan::Request(r) => Some(&**r),
            _ => None,
        })
        .collect();
    let issued = if requests.is_empty() {
        Vec::new()
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(request_all(opts, &requests))?
    };

    // Every row is issued: check each certificate before touching any file.
    let now = OffsetDateTime::now_utc();
    let mut issued = requests.iter().zip(&issued);
    let mut accepted = Vec::new();
    for (row, p) in &plans {
        let outcome = match p {
            RequestPlan::Request(_) => {
                let Some((req, pem)) = issued.next() else {
                    continue;
                };
                let (cert, writes) = api_request::accept(req, files, pem, now).map_err(|e| {
                    anyhow!(
                        "refusing the certificate issued for {}: {e}; no file was changed",
                        req.row.name
                    )
                })?;
                Outcome::Renewed {
                    writes,
                    cert: Box::new(cert),
                }
            }
            RequestPlan::Missing => Outcome::Missing,
            _ => continue,
        };
        accepted.push(RowPlan { row, outcome });
    }
    Ok(Some(Accepted {
        plans: accepted,
        now,
    }))
}

/// Sends every request, then waits for all of them until the timeout or Ctrl-C.
/// Returns the PEM of each issued certificate, in order.
async fn request_all(opts: &Options, requests: &[&ApiRequest]) -> Result<Vec<Vec<u8>>> {
    let (api, server) = connect(&opts.kubeconfig).await?;
    let deadline = tokio::time::Instant::now() + std_duration(opts.timeout);
    let mut names = Vec::new();
    for req in requests {
        let name = create(&api, req, opts.validity, &server).await?;
        outln!("[certs] certificate request {name:?} created")?;
        names.push(name);
    }
    outln!(
        "[certs] waiting up to {} for approval (kubectl certificate approve {})",
        go_duration(opts.timeout),
        names.join(" ")
    )?;
    let wait = futures::future::try_join_all(names.iter().map(|n| wait_issued(&api, n)));
    tokio::select! {
        r = wait => r,
        _ = tokio::time::sleep_until(deadline) => Err(Hinted {
            message: format!(
                "timed out after {} waiting for certificate requests {}; no file was changed",
                go_duration(opts.timeout),
                quoted(&names)
            ),
            hint: "approve them (kubectl certificate approve NAME) or raise --timeout, \
                   then run kcerts again: each run sends new requests"
                .into(),
        }
        .into()),
        _ = tokio::signal::ctrl_c() => Err(anyhow!(
            "interrupted while waiting for certificate requests {}; no file was changed",
            quoted(&names)
        )),
    }
}

async fn create(
    api: &Api<CertificateSigningRequest>,
    req: &ApiRequest,
    validity: time::Duration,
    server: &str,
) -> Result<String> {
    let object = CertificateSigningRequest {
        metadata: ObjectMeta {
            generate_name: Some(req.name_prefix.clone()),
            ..Default::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(req.csr_pem.clone().into_bytes()),
            signer_name: req.signer_name.clone(),
            usages: Some(req.usages.clone()),
            // The signer caps this at its --cluster-signing-duration.
            expiration_seconds: i32::try_from(validity.whole_seconds()).ok(),
            ..Default::default()
        },
        status: None,
    };
    let created = api
        .create(&PostParams::default(), &object)
        .await
        .map_err(|e| match e {
            e @ kube::Error::Api(_) => api_error(
                e,
                &format!("cannot create the request for {}", req.row.name),
            ),
            // The first request: a connection or TLS failure means the server is unreachable.
            other => anyhow::Error::new(other).context(format!(
                "cannot reach the API server {server} to request {}",
                req.row.name
            )),
        })?;
    created
        .metadata
        .name
        .context("the API server returned a request without a name")
}

/// Waits until `name` is issued: list (for the current state and a resource
/// version), then watch from that version; a watch that ends is resumed from the
/// last version seen, and one whose version expired (410) starts over with a list.
async fn wait_issued(api: &Api<CertificateSigningRequest>, name: &str) -> Result<Vec<u8>> {
    let selector = format!("metadata.name={name}");
    'list: loop {
        let list = match api.list(&ListParams::default().fields(&selector)).await {
            Ok(l) => l,
            Err(e) if transient(&e) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue 'list;
            }
            Err(e) => return Err(api_error(e, &format!("cannot read request {name:?}"))),
        };
        match list.items.first() {
            Some(csr) => {
                if let Some(pem) = issued(name, csr)? {
                    return Ok(pem);
                }
            }
            None => bail!("certificate request {name:?} was deleted"),
        }
        let mut version = list.metadata.resource_version.unwrap_or_default();
        loop {
            let params = WatchParams::default()
                .fields(&selector)
                .timeout(WATCH_SECONDS);
            let stream = match api.watch(&params, &version).await {
                Ok(s) => s,
                Err(e) if is_gone(&e) => continue 'list,
                Err(e) if transient(&e) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue 'list;
                }
                Err(e) => return Err(api_error(e, &format!("cannot watch request {name:?}"))),
            };
            let mut stream = stream.boxed();
            loop {
                let event = match stream.try_next().await {
                    Ok(Some(ev)) => ev,
                    // The server closed the watch (timeoutSeconds): resume from `version`.
                    Ok(None) => break,
                    Err(e) if transient(&e) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue 'list;
                    }
                    Err(e) => return Err(api_error(e, &format!("cannot watch request {name:?}"))),
                };
                match event {
                    WatchEvent::Added(csr) | WatchEvent::Modified(csr) => {
                        if let Some(v) = &csr.metadata.resource_version {
                            version.clone_from(v);
                        }
                        if let Some(pem) = issued(name, &csr)? {
                            return Ok(pem);
                        }
                    }
                    WatchEvent::Bookmark(b) => version = b.metadata.resource_version,
                    WatchEvent::Deleted(_) => bail!("certificate request {name:?} was deleted"),
                    // "too old resource version": the history is gone, list again.
                    WatchEvent::Error(status) if status.code == 410 => continue 'list,
                    WatchEvent::Error(status) => bail!(
                        "watching certificate request {name:?} failed: {} ({})",
                        status.message,
                        status.reason
                    ),
                }
            }
        }
    }
}

/// The issued certificate, `None` while waiting, or the Denied/Failed error.
fn issued(name: &str, csr: &CertificateSigningRequest) -> Result<Option<Vec<u8>>> {
    match request_state(csr) {
        RequestState::Pending | RequestState::Approved => Ok(None),
        RequestState::Issued(pem) => Ok(Some(pem.to_vec())),
        RequestState::Denied { reason, message } => bail!(
            "certificate request {name:?} was denied: {}; no file was changed",
            detail(&reason, &message)
        ),
        RequestState::Failed { reason, message } => bail!(
            "certificate request {name:?} failed: {}; no file was changed",
            detail(&reason, &message)
        ),
    }
}

fn detail(reason: &str, message: &str) -> String {
    match (reason.is_empty(), message.is_empty()) {
        (true, true) => "no reason given".into(),
        (false, true) => reason.into(),
        (true, false) => message.into(),
        (false, false) => format!("{reason}: {message}"),
    }
}

fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 410)
}

/// Connection trouble worth retrying until the deadline (not refusals by the server).
fn transient(e: &kube::Error) -> bool {
    matches!(e, kube::Error::HyperError(_) | kube::Error::Service(_))
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's `time.Duration` spelling, as kubeadm prints it: `5m0s`, `1h0m0s`, `30s`.
fn go_duration(d: time::Duration) -> String {
    let s = d.whole_seconds();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}
