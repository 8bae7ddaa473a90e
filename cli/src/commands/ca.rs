//! `kcerts ca status` and `kcerts ca rotate PHASE --ca NAME [--apply]`: CA
//! rotation in phases (the plans are the core's `ca_rotation`; this file reads
//! the node, prints, and writes through the journaled transaction).

use std::path::PathBuf;

use anyhow::{Context, Result};
use kcerts_core::ca_rotation::{self, Phase, PrepareOptions, Status, Step, StepPlan};
use kcerts_core::fleet::order;
use kcerts_core::inventory::Ca;
use kcerts_core::node::{NodeFiles, NodePath};
use time::OffsetDateTime;

use crate::flags::dirs::DirsWithManifests;
use crate::flags::order::OrderArgs;
use crate::flags::restart::RestartArgs;
use crate::flags::value;
use crate::flags::{DirArgs, OutputFormat};
use crate::fsio::{self, NodeDirs};
use crate::node::guard::lock_and_recover;
use crate::node::kubelet::KubeletFiles;
use crate::node::rotation::{
    KubeletReissue, PhaseRun, carry_out, print_next, prove_order, restart_after,
};
use crate::report::exit::Code;
use crate::report::out::outln;

/// `kcerts ca ...`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CaCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CaCommand {
    /// Show, per CA, the rotation phase this node is in and what is left.
    Status(StatusArgs),
    /// Run one phase of a CA rotation (a dry run unless --apply).
    #[command(after_help = ROTATE_HELP)]
    Rotate(Box<RotateArgs>),
}

const ROTATE_HELP: &str = "Phases, in order, each run on every control-plane node before the next:\n  \
prepare  a new CA beside the old one (<ca>.new.crt/.key); copy both to the other nodes\n  \
trust    every trust point holds old + new (ca.crt becomes a bundle, old first; kubeconfigs'\n           \
certificate-authority-data too; kube-controller-manager signs from ca-signing.crt)\n  \
reissue  the new key signs; every leaf of the CA is re-signed by it (refused while any\n           \
trust point lacks the new CA, and unless --fleet copies of every control-plane node\n           \
show that each trusts the new CA, or --force)\n  \
finish   only the new CA is trusted; the old key and the .new copies stay in the backup\n\n\
The phase is read from the files (`kcerts ca status`), so every phase can be re-run.\n\
Each phase backs up and journals what it changes (`kcerts restore --backup-dir DIR` goes back).\n\
With --apply --restart, the control-plane components that load a changed file are restarted\n\
(one at a time, etcd, kube-apiserver, kube-controller-manager, kube-scheduler, each checked)\n\
as `kcerts restart` does; without --restart the phase prints the `kcerts restart` line to run.\n\
kubeadm does not rotate CAs (its docs describe a manual procedure); this is kcerts' own.";

#[derive(Debug, clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    dirs: DirsWithManifests,
    #[command(flatten)]
    kubelet: KubeletDir,
    /// Output format.
    #[arg(short, long, default_value = "text", value_parser = OutputFormat::parser(&STATUS_FORMATS))]
    output: OutputFormat,
}

/// The output formats of `ca status`.
const STATUS_FORMATS: [(OutputFormat, Option<&str>); 2] =
    [(OutputFormat::Text, None), (OutputFormat::Json, None)];

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PhaseArg {
    Prepare,
    Trust,
    Reissue,
    Finish,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CaArg {
    #[value(name = "ca")]
    Ca,
    #[value(name = "front-proxy-ca")]
    FrontProxyCa,
    #[value(name = "etcd-ca")]
    EtcdCa,
}

#[derive(Debug, clap::Args)]
struct RotateArgs {
    /// The phase to run.
    #[arg(value_enum)]
    phase: PhaseArg,
    /// The CA to rotate.
    #[arg(long, value_enum)]
    ca: CaArg,
    #[command(flatten)]
    dirs: DirArgs,
    /// Change the files (without it, print what would change).
    #[arg(long)]
    apply: bool,
    /// prepare: validity of the new CA [default: the configuration's
    /// caCertificateValidityPeriod with --config/--from-cluster, else 87600h].
    #[arg(long, value_parser = value::parse_duration)]
    validity: Option<time::Duration>,
    /// The cluster's kubeadm configuration: prepare takes caCertificateValidityPeriod
    /// from it and reissue certificateValidityPeriod (kubeadm v1beta4).
    #[command(flatten)]
    config: crate::flags::config::ConfigArgs,
    /// prepare: use this CA certificate (from an external CA) instead of making one.
    #[arg(long, value_name = "FILE", requires = "new_ca_key")]
    new_ca_cert: Option<PathBuf>,
    /// prepare: the key of --new-ca-cert.
    #[arg(long, value_name = "FILE", requires = "new_ca_cert")]
    new_ca_key: Option<PathBuf>,
    /// Where to keep the backup (default: <kubeconfig-dir>/tmp/kcerts-ca-<phase>-<time>).
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    #[command(flatten)]
    kubelet: KubeletDir,
    #[command(flatten)]
    restart: RestartArgs,
    #[command(flatten)]
    order: OrderArgs,
    /// Act as if now were this RFC 3339 time (tests).
    #[arg(long, value_name = "TIME", value_parser = value::parse_time, hide = true)]
    at: Option<OffsetDateTime>,
}

/// `--kubelet-pki-dir`: the kubelet's client certificate is a leaf of `ca`.
#[derive(Debug, clap::Args)]
struct KubeletDir {
    /// The kubelet's certificate directory. When it holds kubelet-client-current.pem, that
    /// certificate counts as a leaf of `ca`: `reissue` re-signs it by the new CA (as `kcerts
    /// kubelet client` does) whenever it is not, `finish` is refused while it is signed by the
    /// old CA, and `ca status` shows it.
    #[arg(long, default_value = crate::node::kubelet::DEFAULT_PKI_DIR, value_name = "DIR")]
    kubelet_pki_dir: PathBuf,
}

impl KubeletDir {
    /// The bytes of kubelet-client-current.pem, when the directory holds it.
    fn client_current(&self) -> Option<Vec<u8>> {
        fsio::read_limited(&self.kubelet_pki_dir.join(ca_rotation::KUBELET_CLIENT))
            .ok()
            .flatten()
    }
}

fn ca_of(a: CaArg) -> Ca {
    match a {
        CaArg::Ca => Ca::Ca,
        CaArg::FrontProxyCa => Ca::FrontProxyCa,
        CaArg::EtcdCa => Ca::EtcdCa,
    }
}

fn load(dirs: &NodeDirs) -> NodeFiles {
    dirs.load_paths(&ca_rotation::wanted())
}

pub fn run(a: Args) -> Result<Code> {
    match a.command {
        CaCommand::Status(s) => status(s),
        CaCommand::Rotate(r) => rotate(*r),
    }
}

fn status(a: StatusArgs) -> Result<Code> {
    let dirs = a.dirs.dirs();
    let files = load(&dirs);
    let kubelet = a.kubelet.client_current();
    let mut rows: Vec<std::result::Result<Status, String>> = Vec::new();
    for ca in Ca::ALL {
        if ca == Ca::EtcdCa && !files.exists(&kcerts_core::node::NodePath::cert(ca.cert_file())) {
            continue; // external etcd
        }
        rows.push(
            ca_rotation::status_of(&files, ca, kubelet.as_deref()).map_err(|e| e.to_string()),
        );
    }
    match a.output {
        OutputFormat::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|r| match r {
                    Ok(s) => serde_json::to_value(s).unwrap_or_default(),
                    Err(e) => serde_json::json!({ "error": e }),
                })
                .collect();
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
            Ok(Code::Ok)
        }
        // Text: STATUS_FORMATS accepts only text and json.
        _ => {
            let mut out = String::from("CA\tPHASE\tCA SERIAL\tNEW CA SERIAL\n");
            let mut left = String::new();
            for r in &rows {
                match r {
                    Ok(s) => {
                        out.push_str(&format!(
                            "{}\t{}\t{}\t{}\n",
                            s.ca,
                            s.phase.name(),
                            s.old_serial,
                            s.new_serial.as_deref().unwrap_or("-")
                        ));
                        for l in &s.left {
                            left.push_str(&format!("{}: {l}\n", s.ca));
                        }
                    }
                    Err(e) => left.push_str(&format!("error: {e}\n")),
                }
            }
            let mut text = kcerts_core::tabwriter::format(&out, 0, 2);
            if !left.is_empty() {
                text.push('\n');
                text.push_str(&left);
            }
            crate::report::out::print(text)?;
            Ok(Code::Ok)
        }
    }
}

fn rotate(a: RotateArgs) -> Result<Code> {
    let dirs = a.restart.dirs(&a.dirs);
    let ca = ca_of(a.ca);
    let step = match a.phase {
        PhaseArg::Prepare => Step::Prepare,
        PhaseArg::Trust => Step::Trust,
        PhaseArg::Reissue => Step::Reissue,
        PhaseArg::Finish => Step::Finish,
    };
    let phase_name = format!("{:?}", a.phase).to_lowercase();
    let _lock = a
        .apply
        .then(|| {
            let mut roots = fsio::txn::manifest_roots(&dirs);
            roots.push(a.kubelet.kubelet_pki_dir.clone());
            lock_and_recover(&dirs, &roots, "rotate", "run")
        })
        .transpose()?;
    let files = load(&dirs);
    let external = match (&a.new_ca_cert, &a.new_ca_key) {
        (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
        _ => None,
    };
    let cfg = a
        .config
        .load("ca", crate::node::cluster_config::Lines::Stdout)?;
    let defaults = PrepareOptions::default();
    let opts = PrepareOptions {
        validity: a
            .validity
            .or(cfg.as_ref().and_then(|c| c.ca_certificate_validity))
            .unwrap_or(defaults.validity),
        leaf_validity: cfg
            .as_ref()
            .and_then(|c| c.certificate_validity)
            .unwrap_or(defaults.leaf_validity),
        external,
    };
    let now = value::now_or(a.at);
    let mut rng = kcerts_core::system_rng();
    let kubelet_current = a.kubelet.client_current();
    let plan = match ca_rotation::plan_step(
        &files,
        ca,
        step,
        &opts,
        kubelet_current.as_deref(),
        now,
        &mut rng,
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("error: no file was changed");
            return Ok(Code::Error);
        }
    };
    if step == Step::Reissue
        && !plan.writes.is_empty()
        && !prove_order(
            &a.order,
            &ca_rotation::apply_in_memory(&files, &plan),
            order::Rotated::Ca(ca),
            now,
        )?
    {
        return Ok(Code::Error);
    }
    let what = format!("{phase_name} of the {} CA", ca.name());
    let prefix = format!("kcerts-ca-{}-{phase_name}", ca.name());
    let kubelet = if step == Step::Reissue && ca == Ca::Ca {
        let input = KubeletInput {
            pki_dir: &a.kubelet.kubelet_pki_dir,
            current: kubelet_current.as_deref(),
        };
        kubelet_reissue(&dirs, &files, &input, &plan, now)?
    } else {
        None
    };
    let run = PhaseRun {
        apply: a.apply,
        what: &what,
        backup_dir: a.backup_dir.as_deref(),
        prefix: &prefix,
        now,
        restart: &a.restart,
        kubelet: kubelet.as_ref(),
    };
    if !carry_out(&dirs, &plan, &run)? {
        return Ok(Code::Ok);
    }
    if let Ok(s) = ca_rotation::status_of(&load(&dirs), ca, a.kubelet.client_current().as_deref()) {
        outln!("[rotate] this node is now in phase `{}`", s.phase.name())?;
        if s.phase == Phase::Idle && step == Step::Finish {
            outln!(
                "[rotate] the rotation of the {} CA is complete on this node",
                ca.name()
            )?;
        }
    }
    if let Some(k) = &kubelet {
        crate::node::kubelet::report(&k.plan, &k.files, "rotate")?;
    }
    let restarted = restart_after(&dirs, &plan, &a.restart)?;
    print_next(&dirs, &plan, restarted, kubelet.is_some())?;
    Ok(Code::Ok)
}

/// The kubelet's directory and its kubelet-client-current.pem, as read.
struct KubeletInput<'a> {
    pki_dir: &'a std::path::Path,
    current: Option<&'a [u8]>,
}

/// Plans the kubelet client certificate of `reissue` while it is not signed by
/// the new CA (the core's `kubelet_client_left`; also on a re-run, when the
/// first run found no kubelet directory): signed by the new key (the one the
/// phase writes to ca.key, else ca.key as it is), kubelet.conf's CA data
/// ca.crt (new + old). `None` without `<pki_dir>/kubelet-client-current.pem`.
fn kubelet_reissue(
    dirs: &NodeDirs,
    node: &NodeFiles,
    kubelet: &KubeletInput<'_>,
    plan: &StepPlan,
    now: OffsetDateTime,
) -> Result<Option<KubeletReissue>> {
    let Some(current) = kubelet.current else {
        return Ok(None);
    };
    let st = ca_rotation::status_of(node, Ca::Ca, Some(current))?;
    if !st.kubelet_client_left() {
        return Ok(None);
    }
    let file = |p: NodePath| -> Result<Vec<u8>> {
        if let Some(w) = plan.writes.iter().find(|w| w.path == p) {
            return Ok(w.bytes.clone());
        }
        match node.get(&p) {
            Some(kcerts_core::node::FileContent::Bytes(b)) => Ok(b.clone()),
            _ => anyhow::bail!("cannot read {}", dirs.path(&p).display()),
        }
    };
    let (key, bundle) = (
        file(NodePath::cert("ca.key"))?,
        file(NodePath::cert("ca.crt"))?,
    );
    let files = KubeletFiles::load(dirs, kubelet.pki_dir)?.with_ca_cert(bundle);
    let source = kcerts_core::kubelet_client::Source::Issue {
        ca_key: &key,
        key_algorithm: None,
        // The kubelet's own client certificates last a year.
        validity: time::Duration::days(365),
    };
    let (kplan, ops) = files
        .plan(None, &source, now)
        .context("cannot re-sign the kubelet client certificate")?;
    Ok(Some(KubeletReissue {
        files,
        plan: kplan,
        ops,
    }))
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    fsio::read_limited(path)
        .map_err(anyhow::Error::new)
        .and_then(|b| b.with_context(|| format!("{} does not exist", path.display())))
        .with_context(|| format!("cannot read {}", path.display()))
}
