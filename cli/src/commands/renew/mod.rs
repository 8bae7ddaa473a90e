//! `kcerts renew`: local renewal with backups and atomic writes, or CSRs only.

mod due;
mod kubeconfig_copies;
mod use_api;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kcerts_core::alt_names::{self, AltNames};
use kcerts_core::inventory::{self, Row};
use kcerts_core::key_choice::KeyChoice;
use kcerts_core::node_loader;
use kcerts_core::renewal::{self, CsrOutcome, Outcome, RowPlan};
use kcerts_core::{KeyAlgorithm, NodeFiles};
use time::OffsetDateTime;

use crate::flags::DirArgs;
use crate::flags::value;
use crate::fsio::{self, NodeDirs};
use crate::node::guard::lock_and_recover;
use crate::report::Hinted;
use crate::report::exit::Code;
use crate::report::out::outln;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Row names: admin.conf, apiserver, apiserver-etcd-client, \
apiserver-kubelet-client, controller-manager.conf, etcd-healthcheck-client, etcd-peer, \
etcd-server, front-proxy-client, scheduler.conf, super-admin.conf, or all.\n\n\
Like kubeadm: same subjects, SANs and usages, a new key, validity now-5m .. now+validity, \
external-CA and missing rows reported and skipped, kubeconfig CA data reset to ca.crt.\n\
Differs from kubeadm: without --key-algorithm, and without a configuration naming an \
encryptionAlgorithm, each new key keeps the type and size of the key it replaces (kubeadm \
uses the configuration's encryptionAlgorithm, RSA-2048 by default, so renewal never silently \
turns an ECDSA node into RSA); --dry-run names the algorithm of each new key. The cluster's \
configuration is read only with --config FILE or --from-cluster (kubeadm always tries the \
kubeadm-config ConfigMap): its encryptionAlgorithm, certificateValidityPeriod, \
certificatesDir (in place of the default --cert-dir) and etcd.external are used.\n\
Beyond kubeadm: --add-san and --sans-from-config renew apiserver, etcd-server or etcd-peer with \
more SANs, keeping the old ones (kubeadm only keeps the SANs a certificate has; its docs have \
you delete it and run `kubeadm init phase certs`); --dry-run prints old and new SANs.\n\
Beyond kubeadm: every certificate is prepared and checked in memory before anything is \
written, and nothing is written if any requested row fails; a timestamped backup of every \
file to be replaced is made first; each file is replaced atomically (temp file, fsync, \
rename) keeping its owner and mode, keys 0600; --dry-run writes nothing; --restart \
restarts the components that hold a renewed file until restarted (the controller-manager and \
scheduler kubeconfigs), leaves etcd and the API server running (they read their renewed files \
again by themselves, docs/reload.md), and checks that each serves the files on disk; \
--update-kubeconfig also rewrites copies of admin.conf (~/.kube/config)."
)]
pub struct Args {
    /// Rows to renew: `all` or one or more row names.
    #[arg(required = true, value_name = "all|ROW")]
    rows: Vec<String>,
    #[command(flatten)]
    dirs: DirArgs,
    /// Algorithm of the new keys: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384
    /// [default: the configuration's encryptionAlgorithm, else each certificate keeps its
    /// current key type and size].
    #[arg(long, value_name = "ALGORITHM", value_parser = value::parse_key_algorithm)]
    key_algorithm: Option<KeyAlgorithm>,
    /// Validity of the renewed certificates [default: the configuration's
    /// certificateValidityPeriod, else 8760h].
    #[arg(long, value_name = "DURATION", value_parser = value::parse_duration)]
    validity: Option<time::Duration>,
    /// Where to put the timestamped backup [default: <kubeconfig-dir>/tmp].
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// Show what would change and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Renew only the rows that expire within this window (e.g. 30d), for a systemd
    /// timer or cron job; missing rows are skipped, unreadable ones still fail.
    #[arg(long, value_name = "DURATION", value_parser = value::parse_duration)]
    expiring_within: Option<time::Duration>,
    /// Write a CSR and a new key per row to --csr-dir instead of renewing (no CA key needed).
    #[arg(long, requires = "csr_dir")]
    csr_only: bool,
    /// Directory for --csr-only output (<row>.csr and <row>.key).
    #[arg(long, value_name = "DIR")]
    csr_dir: Option<PathBuf>,
    /// Renew through the Kubernetes certificates API: one CertificateSigningRequest per
    /// row, approved by someone (kubectl certificate approve) or an auto-approving signer.
    #[arg(long, conflicts_with_all = ["csr_only", "dry_run", "at"])]
    use_api: bool,
    #[command(flatten)]
    config: crate::flags::config::ConfigArgs,
    /// Add SANs to the renewed apiserver, etcd-server or etcd-peer certificate, e.g.
    /// IP:203.0.113.7,DNS:api.example.com (repeatable; the old SANs stay).
    #[arg(long, value_name = "SANS", value_parser = value::parse_add_san, conflicts_with = "use_api")]
    add_san: Vec<value::SanList>,
    /// Add the SANs kubeadm's init would give the apiserver, etcd-server and etcd-peer
    /// certificates from the configuration (--config or --from-cluster): apiServer.certSANs,
    /// controlPlaneEndpoint, node name, advertise address, service IP, etcd certSANs (the
    /// old SANs stay).
    #[arg(long, conflicts_with = "use_api")]
    sans_from_config: bool,
    /// Signer for the requests [default: kubernetes.io/kube-apiserver-client for client
    /// certificates of the cluster CA; required for serving and etcd/front-proxy certificates].
    #[arg(long, value_name = "NAME", requires = "use_api")]
    signer_name: Option<String>,
    /// How long --use-api waits for approval and issuance.
    #[arg(long, default_value = "5m", value_parser = value::parse_duration, requires = "use_api")]
    timeout: time::Duration,
    /// After writing, restart the components that hold a renewed file until restarted, the
    /// way `kcerts restart` does (etcd and the API server read theirs again by themselves),
    /// instead of printing kubeadm's "You must restart..." message.
    #[arg(long, conflicts_with = "csr_only")]
    restart: bool,
    #[command(flatten)]
    endpoints: crate::flags::endpoints::EndpointArgs,
    #[command(flatten)]
    waits: crate::flags::waits::WaitArgs,
    /// A copy of admin.conf (e.g. /root/.kube/config) to update too: each user holding
    /// admin.conf's credentials gets the renewed certificate and key, its cluster the CA
    /// data; other users and contexts stay. Repeatable; written in the same transaction.
    #[arg(long, value_name = "PATH")]
    update_kubeconfig: Vec<PathBuf>,
    /// Renew as if now were this RFC 3339 time (tests; the validity starts then).
    #[arg(long, value_name = "TIME", value_parser = value::parse_time, hide = true)]
    at: Option<OffsetDateTime>,
}

fn select_rows(names: &[String], files: &NodeFiles) -> Result<(Vec<&'static Row>, bool)> {
    if names.iter().any(|n| n == "all") {
        if names.len() > 1 {
            return Err(Hinted {
                message: "`all` cannot be combined with row names".into(),
                hint: "use `kcerts renew all` or list the rows to renew".into(),
            }
            .into());
        }
        let external_etcd = node_loader::is_external_etcd(files);
        return Ok((inventory::rows(external_etcd).collect(), true));
    }
    let mut rows = Vec::new();
    for n in names {
        let row = inventory::row(n).ok_or_else(|| Hinted {
            message: format!("unknown certificate {n:?}"),
            hint: format!(
                "use all or one of: {}",
                inventory::ROWS
                    .iter()
                    .map(|r| r.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        if !rows.contains(&row) {
            rows.push(row);
        }
    }
    Ok((rows, false))
}

pub fn run(a: Args) -> Result<Code> {
    let cfg = a
        .config
        .load("renew", crate::node::cluster_config::Lines::Stdout)?;
    let dirs = crate::node::cluster_config::dirs_with(a.dirs.dirs(), cfg.as_ref());
    // One renewal at a time per node; an interrupted one is rolled back first, so
    // the plan starts from files where every certificate matches its key.
    let _lock = if a.dry_run || a.csr_only {
        if let Some(b) = fsio::txn::pending(&dirs) {
            eprintln!(
                "warning: a renewal was interrupted; `kcerts renew` or `kcerts restore \
                 --backup-dir {}` puts the old files back",
                b.display()
            );
        }
        None
    } else {
        let mut roots = fsio::txn::manifest_roots(&dirs);
        roots.extend(fsio::txn::parent_dirs(&a.update_kubeconfig));
        Some(lock_and_recover(&dirs, &roots, "renew", "renewal")?)
    };
    let files = crate::node::cluster_config::load_files(&dirs, cfg.as_ref());
    crate::node::guard::require_node(&dirs, &files)?;
    if !crate::node::guard::kubeadm_accepts(&dirs, &files, value::now_or(a.at)) {
        return Ok(Code::Error);
    }
    let (rows, all) = select_rows(&a.rows, &files)?;
    let key = KeyChoice::resolve(
        a.key_algorithm,
        cfg.as_ref().and_then(|c| c.encryption_algorithm),
    );
    let validity = a
        .validity
        .or(cfg.as_ref().and_then(|c| c.certificate_validity))
        .unwrap_or(kcerts_core::leaf::DEFAULT_VALIDITY);
    let add_sans = san_additions(&a, cfg.as_ref(), &rows, all, &files)?;
    let opts = renewal::Options {
        key,
        validity,
        add_sans,
    };
    let now = value::now_or(a.at);
    let Some(rows) = due::select(&files, rows, a.expiring_within, now)? else {
        return Ok(Code::Ok);
    };
    let endpoints = a
        .restart
        .then(|| crate::node::endpoints::Endpoints::resolve(&a.endpoints, &dirs));
    let restart = endpoints.as_ref().map(|e| Restart {
        endpoints: e,
        waits: a.waits.waits(),
    });
    if a.use_api {
        let opts = use_api::Options {
            kubeconfig: a.config.kubeconfig.clone(),
            signer_name: a.signer_name.clone(),
            timeout: a.timeout,
            key,
            validity,
        };
        let Some(accepted) = use_api::request(&opts, &dirs, &files, &rows)? else {
            return Ok(Code::Error);
        };
        let copies = kubeconfig_copies::plan(&a.update_kubeconfig, &dirs, &files, &accepted.plans)?;
        return write_renewed(
            &dirs,
            &accepted.plans,
            &copies,
            a.backup_dir.as_deref(),
            accepted.now,
            all,
            restart.as_ref(),
        );
    }
    let mut rng = kcerts_core::system_rng();
    if a.csr_only {
        let csr_dir = a.csr_dir.clone().unwrap_or_default();
        return write_csrs(&dirs, &files, &rows, &opts, &csr_dir, a.dry_run, &mut rng);
    }
    for w in renewal::ca_bounds_warnings(&files, &rows, now) {
        eprintln!("{w}");
    }
    let plans = renewal::plan(&files, &rows, &opts, now, &mut rng);
    let failures: Vec<_> = plans
        .iter()
        .filter_map(|p| match &p.outcome {
            Outcome::Failed(e) => Some((p.row, e)),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        for (row, e) in &failures {
            eprintln!(
                "error: cannot renew {}: {}: {}",
                row.name,
                dirs.path(&e.path).display(),
                e.kind
            );
        }
        eprintln!("error: no file was changed");
        return Ok(Code::Error);
    }
    let copies = kubeconfig_copies::plan(&a.update_kubeconfig, &dirs, &files, &plans)?;
    print_added_sans(
        &files,
        &opts,
        &plans,
        if a.dry_run { "dry-run" } else { "renew" },
    )?;
    if a.dry_run {
        for p in &plans {
            print_dry_run(&dirs, p)?;
        }
        for op in &copies.ops {
            outln!("[dry-run] would update {}", op.target.display())?;
        }
        if let Some(r) = &restart {
            let plan = restart_plan(&plans);
            for n in &plan.not_restarted {
                outln!("[dry-run] would not restart: {}", n.reason())?;
            }
            for l in crate::node::restart::plan_lines(&r.request(&plan.restart, &dirs)) {
                outln!("{l}")?;
            }
        }
        outln!("[dry-run] no file was changed")?;
        return Ok(Code::Ok);
    }
    write_renewed(
        &dirs,
        &plans,
        &copies,
        a.backup_dir.as_deref(),
        now,
        all,
        restart.as_ref(),
    )
}

/// `--restart`: where the components listen, and the waits.
struct Restart<'a> {
    endpoints: &'a crate::node::endpoints::Endpoints,
    waits: crate::flags::waits::Waits,
}

impl<'a> Restart<'a> {
    fn request(
        &self,
        components: &'a [kcerts_core::static_pod::Component],
        dirs: &'a NodeDirs,
    ) -> crate::node::restart::Request<'a> {
        crate::node::restart::Request {
            components,
            endpoints: self.endpoints,
            dirs,
            waits: self.waits,
        }
    }
}

/// What `--restart` does after these renewals: restart the components that
/// hold a renewed file until they restart, leave those that read every renewed
/// file again by themselves (`kcerts_core::reload`).
fn restart_plan(plans: &[RowPlan]) -> kcerts_core::reload::RenewalRestart {
    kcerts_core::reload::after_renewal(
        plans
            .iter()
            .filter(|p| matches!(p.outcome, Outcome::Renewed { .. }))
            .map(|p| p.row.name),
    )
}

/// `--restart` after writing: the components left running are checked to
/// serve the renewed files (one that does not within `--wait` is restarted
/// after all), then the others are restarted.
fn restart_after_renewal(r: &Restart<'_>, plans: &[RowPlan], dirs: &NodeDirs) -> Result<()> {
    let plan = restart_plan(plans);
    if plan.restart.is_empty() && plan.not_restarted.is_empty() {
        outln!("[restart] no component loads the renewed files: nothing to restart")?;
        return Ok(());
    }
    outln!()?;
    let mut restart = plan.restart.clone();
    for n in &plan.not_restarted {
        outln!("[restart] not restarted: {}", n.reason())?;
        match crate::node::restart::wait_served(&r.request(&[], dirs), n.component) {
            Ok(line) => outln!("{line}")?,
            Err(last) => {
                outln!(
                    "[restart] {} does not serve the renewed files after {:?} ({last}): \
                     restarting it",
                    n.component.pod_name(),
                    r.waits.start
                )?;
                restart.push(n.component);
            }
        }
    }
    if restart.is_empty() {
        outln!("[restart] nothing to restart")?;
        return Ok(());
    }
    crate::node::restart::run_restart(&r.request(&restart, dirs))
}

/// The SANs to add per row, from --add-san and --sans-from-config.
fn san_additions(
    a: &Args,
    cfg: Option<&kcerts_core::cluster_config::ClusterConfig>,
    rows: &[&'static Row],
    all: bool,
    files: &NodeFiles,
) -> Result<Vec<(&'static str, AltNames)>> {
    if a.add_san.is_empty() && !a.sans_from_config {
        return Ok(Vec::new());
    }
    let flag = if a.add_san.is_empty() {
        "--sans-from-config"
    } else {
        "--add-san"
    };
    let other: Vec<&str> = rows
        .iter()
        .map(|r| r.name)
        .filter(|n| !renewal::SAN_ROWS.contains(n))
        .collect();
    if (all && !a.add_san.is_empty()) || (!all && !other.is_empty()) {
        return Err(Hinted {
            message: format!(
                "{flag} changes the apiserver, etcd-server and etcd-peer certificates only, not {}",
                if all {
                    "all".to_string()
                } else {
                    other.join(", ")
                }
            ),
            hint: format!(
                "name those rows, e.g. `kcerts renew apiserver etcd-server {flag} ...`, and renew \
                 the others separately"
            ),
        }
        .into());
    }
    let mut out = Vec::new();
    for row in rows.iter().filter(|r| renewal::SAN_ROWS.contains(&r.name)) {
        let mut names = AltNames::default();
        for list in &a.add_san {
            for san in &list.0 {
                names.add(san.clone());
            }
        }
        if a.sans_from_config {
            let Some(cfg) = cfg else {
                return Err(Hinted {
                    message:
                        "--sans-from-config needs the cluster's configuration, and none was read"
                            .into(),
                    hint: "pass --config FILE (kubeadm's InitConfiguration/ClusterConfiguration), \
                           or --from-cluster with a cluster that answers"
                        .into(),
                }
                .into());
            };
            // etcd's certificates are named after the node (their CN).
            let old = node_loader::load_row_certificate(files, row).ok().flatten();
            let node_hint = match row.name {
                "apiserver" => None,
                _ => old.as_ref().and_then(|c| c.common_name.clone()),
            };
            let (wanted, skipped) = match row.name {
                "apiserver" => cfg.apiserver_sans(node_hint.as_deref()),
                name => cfg.etcd_sans(name == "etcd-peer", node_hint.as_deref()),
            };
            for e in skipped {
                eprintln!(
                    "[certificates] WARNING: {e}; it was not added to the '{}' SAN",
                    row.name
                );
            }
            for san in wanted.sans() {
                names.add(san);
            }
        }
        out.push((row.name, names));
    }
    Ok(out)
}

/// `[renew] apiserver: adding SANs IP:203.0.113.7` for each row that gains SANs.
fn print_added_sans(
    files: &NodeFiles,
    opts: &renewal::Options,
    plans: &[RowPlan],
    tag: &str,
) -> Result<()> {
    for p in plans {
        let Outcome::Renewed { cert, .. } = &p.outcome else {
            continue;
        };
        if !opts.add_sans.iter().any(|(r, _)| *r == p.row.name) {
            continue;
        }
        let Ok(Some(old)) = node_loader::load_row_certificate(files, p.row) else {
            continue;
        };
        let added = opts.added_sans(p.row, &old);
        let before = AltNames {
            dns: old.dns_names.clone(),
            ips: old.ip_addresses.clone(),
        };
        let after = AltNames {
            dns: cert.dns_names.clone(),
            ips: cert.ip_addresses.clone(),
        };
        if added.is_empty() {
            outln!(
                "[{tag}] {} already has every SAN asked for: {}",
                p.row.name,
                before.describe()
            )?;
        } else {
            outln!(
                "[{tag}] {} SANs: {} -> {} (added: {})",
                p.row.name,
                before.describe(),
                after.describe(),
                alt_names::describe(&added)
            )?;
        }
    }
    Ok(())
}

/// Writes the renewed rows of `plans` (local or from the API server) in one
/// journaled transaction (backup, journal, staging, renames: `fsio::txn`), then
/// prints kubeadm's message for each row.
fn write_renewed(
    dirs: &NodeDirs,
    plans: &[RowPlan],
    copies: &kubeconfig_copies::CopyWrites,
    backup_dir: Option<&Path>,
    now: OffsetDateTime,
    all: bool,
    restart: Option<&Restart<'_>>,
) -> Result<Code> {
    let writes: Vec<_> = plans
        .iter()
        .flat_map(|p| match &p.outcome {
            Outcome::Renewed { writes, .. } => writes.clone(),
            _ => Vec::new(),
        })
        .collect();
    if !writes.is_empty() {
        let base = backup_dir.map_or_else(|| dirs.kubeconfig_dir.join("tmp"), Path::to_path_buf);
        let backup_dir = fsio::txn::unique_backup_dir(&base, now);
        let mut ops = fsio::txn::write_ops(dirs, &writes);
        ops.extend(copies.ops.iter().cloned());
        let n =
            fsio::txn::apply_ops(dirs, &copies.roots, &ops, &backup_dir).context("cannot renew")?;
        outln!("[renew] backed up {n} files to {}", backup_dir.display())?;
    }
    for p in plans {
        if let Some(m) = renewal::message(p) {
            outln!("{m}")?;
        }
    }
    for l in &copies.lines {
        outln!("{l}")?;
    }
    if let Some(r) = restart {
        restart_after_renewal(r, plans, dirs)
            .context("the certificates were renewed, but restarting failed")?;
        return Ok(Code::Ok);
    }
    if all {
        outln!()?;
        outln!("{}", renewal::DONE_MESSAGE)?;
    }
    Ok(Code::Ok)
}

fn print_dry_run(dirs: &NodeDirs, p: &RowPlan) -> Result<()> {
    match &p.outcome {
        Outcome::Renewed { writes, cert } => {
            let files: Vec<_> = writes
                .iter()
                .map(|w| dirs.path(&w.path).display().to_string())
                .collect();
            // kubeadm's name for the new key's algorithm (RSA-2048, ECDSA-P256...).
            let algorithm = kcerts_core::key_choice::current_algorithm(cert)
                .map_or_else(|_| cert.public_key.clone(), |a| a.name().to_string());
            outln!(
                "[dry-run] would renew {} until {} with a new {} key: {}",
                p.row.name,
                kcerts_core::text::format_date(cert.not_after),
                algorithm,
                files.join(", ")
            )?;
        }
        _ => {
            if let Some(m) = renewal::message(p) {
                outln!("[dry-run] {m}")?;
            }
        }
    }
    Ok(())
}

fn write_csrs(
    dirs: &NodeDirs,
    files: &NodeFiles,
    rows: &[&'static Row],
    opts: &renewal::Options,
    csr_dir: &Path,
    dry_run: bool,
    rng: &mut impl kcerts_core::rand_core::CryptoRng,
) -> Result<Code> {
    let outcomes = renewal::plan_csrs(files, rows, opts, rng);
    let mut failed = false;
    for (row, outcome) in &outcomes {
        if let CsrOutcome::Failed(e) = outcome {
            eprintln!(
                "error: cannot make a CSR for {}: {}: {}",
                row.name,
                dirs.path(&e.path).display(),
                e.kind
            );
            failed = true;
        }
    }
    if failed {
        eprintln!("error: no file was written");
        return Ok(Code::Error);
    }
    if !dry_run {
        // kubeadm's pkiutil.WriteCSR: the directory is created 0700, the CSR 0600.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(csr_dir)
            .with_context(|| format!("cannot create {}", csr_dir.display()))?;
    }
    for (row, outcome) in outcomes {
        match outcome {
            CsrOutcome::Request { csr_pem, key, .. } => {
                let csr_path = csr_dir.join(format!("{}.csr", row.name));
                let key_path = csr_dir.join(format!("{}.key", row.name));
                if dry_run {
                    outln!(
                        "[dry-run] would write {} and {}",
                        csr_path.display(),
                        key_path.display()
                    )?;
                    continue;
                }
                fsio::write_new(&key_path, key.to_pem().as_bytes(), true)?;
                fsio::write_new(&csr_path, csr_pem.as_bytes(), true)?;
                outln!(
                    "[csr] wrote {} and {} for the {}",
                    csr_path.display(),
                    key_path.display(),
                    row.long_name
                )?;
            }
            CsrOutcome::Missing => outln!("MISSING! {}", row.long_name)?,
            CsrOutcome::Failed(_) => {}
        }
    }
    Ok(Code::Ok)
}
