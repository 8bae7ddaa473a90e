//! `kcerts approve kubelet-serving`: approves the kubelets' pending serving
//! certificate requests that pass the checks of `kcerts_core::serving_csr`
//! against what the cluster says ([`cluster_facts`]). It reaches the API server
//! with an explicit `--kubeconfig` or a pod's in-cluster configuration, never a
//! default admin kubeconfig. Approval is the `approval` subresource PUT with an
//! Approved condition, as `kubectl certificate approve` does; `--deny` adds a
//! Denied condition instead of leaving a refused request Pending; either way the
//! refusal's reason is printed (and is the Denied condition's message).

mod cluster_facts;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kcerts_core::api_request::RequestState;
use kcerts_core::cidr::Cidr;
use kcerts_core::serving_csr::{self, ClusterFacts, Policy, Refusal};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::flags::value;
use crate::node::csr_api::{api_error, request_state, std_duration};
use crate::node::kube_client;
use crate::report::exit::Code;
use crate::report::out::outln;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Approve the kubelets' pending serving certificate requests that pass the checks.
    KubeletServing(ServingArgs),
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads the CertificateSigningRequests for signer kubernetes.io/kubelet-serving \
that are still Pending and approves each one it can prove belongs to the requesting node, as \
the Kubernetes documentation asks of such an approver: the certificate is signed by the cluster \
CA, which every pod trusts for the API server. It reads every Node, the kubernetes Service and \
its EndpointSlice (or Endpoints) in default, and the ServiceCIDRs. A request passes when: the \
requester (spec.username, set by the API server) is system:node:NAME in group system:nodes and \
has a Node object; the CSR holds one extensionRequest and one CN, system:node:NAME, O exactly \
system:nodes; usages exactly digital signature and server auth (plus key encipherment for an RSA \
key); at least one DNS name or IP and no name of another kind (email, URI, otherName...); every \
DNS name is NAME or starts with NAME. (and matches --dns-regex when given), not NAME.NS.svc, and \
at most --max-dns-names of them besides the node's Hostname address; every IP is one of the \
Node's InternalIP/ExternalIP addresses (and within --allowed-ip-prefixes when given) and never \
loopback, the kubernetes Service's IP, a service range, an API server address, or another \
node's address or pod range, whatever the Node's status says (IPv4-mapped IPv6 compared as \
IPv4); expirationSeconds is at most --max-validity. A request that fails is left Pending with \
the reason printed, or Denied with --deny and the reason as the condition's message. DNS names \
are not resolved: the Node object is the evidence.\n\
It reaches the API server with --kubeconfig, or in a pod with the in-cluster configuration \
(KUBERNETES_SERVICE_HOST and the service account in \
/var/run/secrets/kubernetes.io/serviceaccount); deploy/kubernetes/kcerts-approver.yaml runs it \
so with its own least-privilege identity.\n\
Exit status: 0 nothing left Pending; 1 an error; 2 a request was left Pending (one run only)."
)]
pub struct ServingArgs {
    /// The kubeconfig to reach the API server with (needs what
    /// deploy/kubernetes/kcerts-approver.yaml grants). Without it, the in-cluster
    /// configuration of a pod; there is no default file.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// DNS names must also match this regular expression (whole name), besides
    /// being the node name or under it.
    #[arg(long, value_name = "REGEX")]
    dns_regex: Option<String>,
    /// IP SANs, already the node's own addresses, must also fall within one of
    /// these prefixes (comma-separated).
    #[arg(
        long,
        value_name = "CIDR,...",
        value_delimiter = ',',
        value_parser = parse_cidr
    )]
    allowed_ip_prefixes: Vec<Cidr>,
    /// How many DNS names a request may hold besides the node's Hostname address.
    #[arg(long, default_value_t = serving_csr::DEFAULT_MAX_DNS_NAMES, value_name = "N")]
    max_dns_names: usize,
    /// The longest expirationSeconds approved (kubelet-csr-approver's default: 367 days).
    #[arg(long, default_value = "8808h", value_parser = value::parse_duration, value_name = "DURATION")]
    max_validity: time::Duration,
    /// Deny the requests that fail a check instead of leaving them Pending.
    #[arg(long)]
    deny: bool,
    /// Print the decisions and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep approving new requests until interrupted (SIGINT or SIGTERM).
    #[arg(long, conflicts_with = "dry_run")]
    watch: bool,
    /// How often --watch lists the requests.
    #[arg(long, default_value = "10s", value_parser = value::parse_duration, value_name = "DURATION")]
    interval: time::Duration,
    /// The longest one API call may take.
    #[arg(long, default_value = "30s", value_parser = value::parse_duration, value_name = "DURATION")]
    timeout: time::Duration,
}

fn parse_cidr(s: &str) -> Result<Cidr, String> {
    Cidr::parse(s).map_err(|e| e.to_string())
}

pub fn run(a: Args) -> Result<Code> {
    match a.command {
        Command::KubeletServing(a) => kubelet_serving(&a),
    }
}

/// What one pass did.
#[derive(Default)]
struct Tally {
    approved: usize,
    denied: usize,
    pending: usize,
}

fn kubelet_serving(a: &ServingArgs) -> Result<Code> {
    if !a.interval.is_positive() || !a.timeout.is_positive() {
        anyhow::bail!("--interval and --timeout must be positive (e.g. 10s)");
    }
    let policy = Policy::new(
        a.dns_regex.as_deref(),
        a.allowed_ip_prefixes.clone(),
        a.max_dns_names,
        a.max_validity,
    )
    .map_err(|e| anyhow!("invalid --dns-regex: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (client, server) = kube_client::connect(a.kubeconfig.as_deref()).await?;
        let bound = std_duration(a.timeout);
        if !a.watch {
            let mut seen = BTreeSet::new();
            let t = pass(&client, &server, a, &policy, bound, &mut seen).await?;
            summary(&t, a.dry_run)?;
            return Ok(if t.pending > 0 {
                Code::Warning
            } else {
                Code::Ok
            });
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        outln!(
            "[approve] watching kubelet serving requests on {server} every {}s; stop with \
             Ctrl-C or SIGTERM",
            a.interval.whole_seconds()
        )?;
        // Refusals already reported, so a request left Pending is printed once.
        let mut seen = BTreeSet::new();
        let mut total = Tally::default();
        loop {
            let t = pass(&client, &server, a, &policy, bound, &mut seen).await?;
            total.approved += t.approved;
            total.denied += t.denied;
            total.pending = t.pending;
            tokio::select! {
                () = tokio::time::sleep(std_duration(a.interval)) => {}
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
            }
        }
        outln!("[approve] stopped")?;
        summary(&total, false)?;
        Ok(Code::Ok)
    })
}

fn summary(t: &Tally, dry_run: bool) -> Result<()> {
    let (a, d, p) = (t.approved, t.denied, t.pending);
    if dry_run {
        outln!(
            "[dry-run] {a} would be approved, {d} denied, {p} left Pending; nothing was changed"
        )?;
    } else {
        outln!("[approve] {a} approved, {d} denied, {p} left Pending")?;
    }
    Ok(())
}

/// One list of the requests and a decision for each Pending kubelet serving one,
/// against the cluster's facts read once for the pass (only when one waits).
async fn pass(
    client: &kube::Client,
    server: &str,
    a: &ServingArgs,
    policy: &Policy,
    bound: Duration,
    seen: &mut BTreeSet<String>,
) -> Result<Tally> {
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let list = tokio::time::timeout(bound, api.list(&ListParams::default()))
        .await
        .map_err(|_| anyhow!("the API server {server} did not answer within {bound:?}"))?
        .map_err(|e| {
            api_error(
                e,
                &format!("cannot list the certificate requests on {server}"),
            )
        })?;
    let mut t = Tally::default();
    let prefix = if a.dry_run { "dry-run" } else { "approve" };
    let waiting: Vec<CertificateSigningRequest> = list
        .items
        .into_iter()
        .filter(|c| c.spec.signer_name == serving_csr::KUBELET_SERVING_SIGNER && is_pending(c))
        .collect();
    if waiting.is_empty() {
        return Ok(t);
    }
    let facts: ClusterFacts = cluster_facts::read(client, server, bound).await?;
    for csr in waiting {
        let spec = &csr.spec;
        let name = csr.metadata.name.clone().unwrap_or_default();
        let decision = serving_csr::judge(
            &serving_csr::Request {
                username: spec.username.as_deref().unwrap_or_default(),
                groups: spec.groups.as_deref().unwrap_or_default(),
                usages: spec.usages.as_deref().unwrap_or_default(),
                expiration_seconds: spec.expiration_seconds.map(i64::from),
                csr_pem: &spec.request.0,
            },
            policy,
            &facts,
        );
        match decision {
            Ok(node) => {
                t.approved += 1;
                if a.dry_run {
                    outln!("[{prefix}] {name}: would approve (node {node})")?;
                } else {
                    let message = format!(
                        "kcerts approve kubelet-serving: the request of node {node} passed its checks"
                    );
                    set_condition(&api, csr, "Approved", "KcertsApprove", &message, bound).await?;
                    outln!("[{prefix}] {name}: approved (node {node})")?;
                }
            }
            Err(refusal) => refused(&api, csr, &name, &refusal, a, bound, seen, &mut t).await?,
        }
    }
    Ok(t)
}

/// A request that failed a check: denied with --deny, else left Pending.
#[allow(clippy::too_many_arguments)]
async fn refused(
    api: &Api<CertificateSigningRequest>,
    csr: CertificateSigningRequest,
    name: &str,
    refusal: &Refusal,
    a: &ServingArgs,
    bound: Duration,
    seen: &mut BTreeSet<String>,
    t: &mut Tally,
) -> Result<()> {
    match (a.deny, a.dry_run) {
        (true, true) => {
            t.denied += 1;
            outln!("[dry-run] {name}: would deny: {refusal}")?;
        }
        (true, false) => {
            t.denied += 1;
            let message = format!("kcerts approve kubelet-serving: {refusal}");
            set_condition(api, csr, "Denied", "KcertsDeny", &message, bound).await?;
            outln!("[approve] {name}: denied: {refusal}")?;
        }
        (false, dry) => {
            t.pending += 1;
            if seen.insert(name.to_string()) {
                if dry {
                    outln!("[dry-run] {name}: would leave Pending: {refusal}")?;
                } else {
                    outln!("[approve] {name}: left Pending: {refusal}")?;
                }
            }
        }
    }
    Ok(())
}

/// Neither approved, denied nor failed, and no certificate yet.
fn is_pending(csr: &CertificateSigningRequest) -> bool {
    request_state(csr) == RequestState::Pending
}

/// PUTs the request's `approval` subresource with one more condition, as
/// `kubectl certificate approve|deny` does (the resourceVersion read guards
/// against a concurrent change: a conflict is an error, and the next run sees it).
async fn set_condition(
    api: &Api<CertificateSigningRequest>,
    csr: CertificateSigningRequest,
    kind: &str,
    reason: &str,
    message: &str,
    bound: Duration,
) -> Result<()> {
    let name = csr.metadata.name.clone().unwrap_or_default();
    let mut obj = serde_json::to_value(&csr).context("cannot encode the request")?;
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let condition = json!({"type": kind, "status": "True", "reason": reason,
        "message": message, "lastUpdateTime": now});
    match obj["status"]["conditions"].as_array_mut() {
        Some(list) => list.push(condition),
        None => obj["status"]["conditions"] = json!([condition]),
    }
    tokio::time::timeout(
        bound,
        api.replace_subresource("approval", &name, &PostParams::default(), &obj),
    )
    .await
    .map_err(|_| anyhow!("the API server did not answer within {bound:?}"))?
    .map_err(|e| api_error(e, &format!("cannot set {kind} on {name}")))?;
    Ok(())
}
