//! `kcerts recover`: one guided command for a control-plane node whose
//! certificates already expired: the clock checked, every expired or expiring
//! row renewed, the kubelet client certificate and kubelet.conf replaced, all in
//! one journaled transaction; then, with --restart, the kubelet restarted, the
//! static pods restarted through `kcerts restart`'s code and the API server
//! awaited.

use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use anyhow::{Context, Result};
use kcerts_core::key_choice::KeyChoice;
use kcerts_core::kubelet_client::Source;
use kcerts_core::node::NodePath;
use kcerts_core::renewal::{self, Outcome};
use kcerts_core::{KeyAlgorithm, clock, expiring, inventory, static_pod};
use time::OffsetDateTime;

use crate::flags::DirArgs;
use crate::flags::value;
use crate::fsio;
use crate::fsio::txn::{Content, Op};
use crate::node::guard::lock_and_recover;
use crate::node::kubelet::{DEFAULT_PKI_DIR, KubeletFiles};
use crate::report::Hinted;
use crate::report::exit::Code;
use crate::report::out::outln;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The steps of kubeadm's manual procedure for a cluster whose certificates \
expired, in one command:\n\
1. the clock: a clock behind a CA's NotBefore is refused (nothing issued then would be \
valid); a clock before a certificate's NotBefore or after every NotAfter is reported;\n\
2. every row that expired or expires within --within is renewed as `kcerts renew` does, \
and the kubelet client certificate is replaced as `kcerts kubelet client` does (when it is \
missing, expired, expiring, or kubelet.conf embeds it), all in one transaction: backup, \
journal, and a crash rolled back by the next run;\n\
3. with --restart: `systemctl restart kubelet` when systemd runs (else the command is \
printed), then the static pods whose files were renewed restarted as `kcerts restart` does \
(one at a time, etcd, kube-apiserver, kube-controller-manager, kube-scheduler, each until it \
serves the new certificate and its health path answers ok), then a wait for the API server \
to answer with admin.conf's credentials; with --dry-run, the restart plan;\n\
4. what is left is printed: worker nodes need `kcerts kubelet client --csr-only` (their \
kubelet cannot renew with an expired certificate).\n\
Beyond kubeadm: kubeadm has no such command (its docs give the manual steps)."
)]
pub struct Args {
    #[command(flatten)]
    dirs: DirArgs,
    /// The kubelet's certificate directory.
    #[arg(long, default_value = DEFAULT_PKI_DIR, value_name = "DIR")]
    kubelet_pki_dir: PathBuf,
    /// The node name [default: from the kubelet certificate or kubelet.conf].
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// Also renew what expires within this window.
    #[arg(long, default_value = "30d", value_parser = value::parse_duration, value_name = "DURATION")]
    within: time::Duration,
    /// Algorithm of the new keys: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384
    /// [default: each certificate keeps its current key type and size].
    #[arg(long, value_name = "ALGORITHM", value_parser = value::parse_key_algorithm)]
    key_algorithm: Option<KeyAlgorithm>,
    /// Validity of the new certificates.
    #[arg(long, default_value = "8760h", value_parser = value::parse_duration)]
    validity: time::Duration,
    /// Where to put the timestamped backup [default: <kubeconfig-dir>/tmp].
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// Print the plan and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Restart the kubelet and the static pods afterwards and wait for the API server.
    #[arg(long)]
    restart: bool,
    #[command(flatten)]
    endpoints: crate::flags::endpoints::EndpointArgs,
    #[command(flatten)]
    waits: crate::flags::waits::WaitArgs,
    /// The kubeconfig --restart waits for the API server with.
    #[arg(
        long,
        default_value = "/etc/kubernetes/admin.conf",
        value_name = "FILE",
        requires = "restart"
    )]
    kubeconfig: PathBuf,
    /// How long --restart waits for the API server.
    #[arg(long, default_value = "5m", value_parser = value::parse_duration, requires = "restart")]
    timeout: time::Duration,
    /// Act as if now were this RFC 3339 time (tests).
    #[arg(long, value_name = "TIME", value_parser = value::parse_time, hide = true)]
    at: Option<OffsetDateTime>,
}

pub fn run(a: Args) -> Result<Code> {
    let dirs = a.dirs.dirs();
    let now = value::now_or(a.at);
    let tag = if a.dry_run { "dry-run" } else { "recover" };
    let _lock = if a.dry_run {
        None
    } else {
        Some(lock_and_recover(
            &dirs,
            std::slice::from_ref(&a.kubelet_pki_dir),
            "recover",
            "run",
        )?)
    };
    let files = dirs.load();

    // 1. The clock.
    let findings = clock::check(&files, now);
    for f in &findings {
        outln!("[{tag}] clock: {f}")?;
    }
    if let Some(f) = findings.iter().find(|f| f.refuses()) {
        return Err(Hinted {
            message: format!("refusing to issue certificates: {f}; no file was changed"),
            hint: "check `date -u` and `timedatectl`; run kcerts recover again once the \
                   clock is right"
                .into(),
        }
        .into());
    }
    if findings.is_empty() {
        outln!(
            "[{tag}] clock: {} is within every CA's validity",
            kcerts_core::residual::format_date(now)
        )?;
    }

    // 2. The kubeadm rows.
    let all: Vec<_> = inventory::rows(kcerts_core::node_loader::is_external_etcd(&files)).collect();
    let rows = expiring::rows_expiring_within(&files, &all, now, a.within);
    let opts = renewal::Options {
        key: a.key_algorithm.map_or(KeyChoice::Keep, KeyChoice::Use),
        validity: a.validity,
        ..Default::default()
    };
    let mut rng = kcerts_core::system_rng();
    let plans = renewal::plan(&files, &rows, &opts, now, &mut rng);
    let mut failed = false;
    for p in &plans {
        if let Outcome::Failed(e) = &p.outcome {
            eprintln!(
                "error: cannot renew {}: {}: {}",
                p.row.name,
                dirs.path(&e.path).display(),
                e.kind
            );
            failed = true;
        }
    }
    if failed {
        eprintln!("error: no file was changed");
        return Ok(Code::Error);
    }
    let mut ops: Vec<Op> = plans
        .iter()
        .flat_map(|p| match &p.outcome {
            Outcome::Renewed { writes, .. } => writes.clone(),
            _ => Vec::new(),
        })
        .map(|w| Op {
            target: dirs.path(&w.path),
            rel: w.path.to_string(),
            content: Content::File {
                bytes: w.bytes,
                secret: w.secret,
            },
        })
        .collect();

    // The kubelet client certificate and kubelet.conf.
    let kubelet = KubeletFiles::load(&dirs, &a.kubelet_pki_dir)?;
    let reason = kubelet.due(a.node_name.as_deref(), now, a.within);
    let kubelet_plan = match &reason {
        Some(why) => {
            let ca_key_path = dirs.path(&NodePath::cert("ca.key"));
            let ca_key = fsio::read_required(&ca_key_path, "the cluster CA key")?;
            let source = Source::Issue {
                ca_key: &ca_key,
                key_algorithm: a.key_algorithm,
                validity: a.validity,
            };
            let (plan, kops) = kubelet.plan(a.node_name.as_deref(), &source, now)?;
            outln!("[{tag}] kubelet: {why}")?;
            ops.extend(kops);
            Some(plan)
        }
        None => None,
    };

    // The static pods that load a renewed file, and where they are.
    let components = static_pod::to_restart(plans.iter().filter_map(|p| match p.outcome {
        Outcome::Renewed { .. } => Some(p.row.name),
        _ => None,
    }));
    let endpoints = crate::node::endpoints::Endpoints::resolve(&a.endpoints, &dirs);
    let restart_request = crate::node::restart::Request {
        components: &components,
        endpoints: &endpoints,
        dirs: &dirs,
        waits: a.waits.waits(),
    };

    if a.dry_run {
        for p in &plans {
            match &p.outcome {
                Outcome::Renewed { cert, .. } => outln!(
                    "[dry-run] would renew {} until {}",
                    p.row.name,
                    kcerts_core::text::format_date(cert.not_after)
                )?,
                _ => {
                    if let Some(m) = renewal::message(p) {
                        outln!("[dry-run] {m}")?;
                    }
                }
            }
        }
        let renewed: Vec<_> = rows.iter().map(|r| r.name).collect();
        let kept = all.len() - renewed.len();
        outln!(
            "[dry-run] {kept} rows are valid beyond {}d and kept",
            a.within.whole_days()
        )?;
        match &kubelet_plan {
            Some(p) => crate::node::kubelet::report(p, &kubelet, "dry-run")?,
            None => outln!("[dry-run] the kubelet client certificate is valid and rotating")?,
        }
        for op in &ops {
            outln!("[dry-run] would write {}", op.target.display())?;
        }
        if a.restart && !ops.is_empty() {
            outln!("[dry-run] would restart the kubelet (systemctl restart kubelet)")?;
            for l in crate::node::restart::plan_lines(&restart_request) {
                outln!("{l}")?;
            }
            outln!(
                "[dry-run] would wait up to {}s for the API server to answer with {}'s credentials",
                a.timeout.whole_seconds(),
                a.kubeconfig.display()
            )?;
        }
        outln!("[dry-run] no file was changed")?;
        return Ok(Code::Ok);
    }

    if ops.is_empty() {
        outln!(
            "[recover] nothing expired or expires within {}d",
            a.within.whole_days()
        )?;
    } else {
        let base = a
            .backup_dir
            .clone()
            .unwrap_or_else(|| dirs.kubeconfig_dir.join("tmp"));
        let backup_dir = fsio::txn::unique_backup_dir(&base, now);
        let n = fsio::txn::apply_ops(
            &dirs,
            std::slice::from_ref(&kubelet.pki_dir().to_path_buf()),
            &ops,
            &backup_dir,
        )
        .context("cannot recover")?;
        outln!("[recover] backed up {n} files to {}", backup_dir.display())?;
        for p in &plans {
            if let Some(m) = renewal::message(p) {
                outln!("[recover] {m}")?;
            }
        }
        if let Some(p) = &kubelet_plan {
            crate::node::kubelet::report(p, &kubelet, "recover")?;
        }
    }

    // 3. Restarts.
    let wrote = !ops.is_empty();
    if a.restart && wrote {
        restart_kubelet()?;
        // A component without a manifest is not a static pod here (or
        // --manifests-dir is wrong): said, and the others restarted.
        let (present, absent): (Vec<static_pod::Component>, Vec<_>) = components
            .iter()
            .partition(|c| endpoints.manifests_dir.join(c.manifest_file()).exists());
        for c in absent {
            outln!(
                "[restart] {}: no manifest at {}: not a static pod here, not restarted",
                c.pod_name(),
                endpoints.manifests_dir.join(c.manifest_file()).display()
            )?;
        }
        if !present.is_empty() {
            outln!()?;
            let req = crate::node::restart::Request {
                components: &present,
                ..restart_request
            };
            crate::node::restart::run_restart(&req).context(
                "the certificates were renewed, but restarting the static pods failed; \
                 `kcerts restart` does it again",
            )?;
        }
        wait_apiserver(&a.kubeconfig, a.timeout)?;
    } else if wrote {
        outln!("\nLeft to do on this node:")?;
        outln!("  systemctl restart kubelet")?;
        if !components.is_empty() {
            let names: Vec<_> = components.iter().map(|c| c.name()).collect();
            outln!(
                "  kcerts restart {}   (restarts the static pods that load the renewed files; \
                 or run recover with --restart)",
                names.join(" ")
            )?;
        }
    }
    // 4. What is left elsewhere.
    outln!(
        "\nWorker nodes: their kubelet cannot renew an expired client certificate. On each, \
         run `kcerts kubelet client --csr-only --csr-dir DIR`, sign the request here with \
         `kcerts sign --role kubelet-client --node-name NAME`, and install it there with \
         `kcerts kubelet client --cert FILE --key FILE`."
    )?;
    Ok(Code::Ok)
}

fn restart_kubelet() -> Result<()> {
    if !Path::new("/run/systemd/system").is_dir() {
        outln!(
            "[recover] systemd is not running here: restart the kubelet yourself \
             (systemctl restart kubelet, or your init system's equivalent)"
        )?;
        return Ok(());
    }
    outln!("[recover] systemctl restart kubelet")?;
    let status = std::process::Command::new("systemctl")
        .args(["restart", "kubelet"])
        .status()
        .context("cannot run systemctl")?;
    if !status.success() {
        anyhow::bail!("systemctl restart kubelet failed ({status}); see journalctl -u kubelet");
    }
    Ok(())
}

/// Waits until the API server answers `/version` with the kubeconfig's credentials.
fn wait_apiserver(kubeconfig: &Path, timeout: time::Duration) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let limit = StdDuration::from_secs(timeout.whole_seconds().max(1) as u64);
    rt.block_on(async {
        let config = crate::node::kube_client::config(kubeconfig).await?;
        let server = config.cluster_url.to_string();
        let client = crate::node::kube_client::client(config, kubeconfig)?;
        outln!(
            "[recover] waiting up to {}s for the API server at {server}",
            limit.as_secs()
        )?;
        let start = std::time::Instant::now();
        loop {
            match client.apiserver_version().await {
                Ok(v) => {
                    outln!(
                        "[recover] the API server answers with {}'s credentials (Kubernetes {}.{})",
                        kubeconfig.display(),
                        v.major,
                        v.minor
                    )?;
                    return Ok(());
                }
                Err(e) if start.elapsed() >= limit => {
                    return Err(anyhow::anyhow!(
                        "the API server at {server} did not answer within {}s: {e}",
                        limit.as_secs()
                    ));
                }
                Err(_) => tokio::time::sleep(StdDuration::from_secs(1)).await,
            }
        }
    })
}
