//! `kcerts kubelet client`: a new kubelet client certificate in the kubelet's own
//! pair-file format, the `kubelet-client-current.pem` link, and kubelet.conf
//! pointed at it; on a worker, a CSR first and the signed certificate later.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kcerts_core::KeyAlgorithm;
use kcerts_core::kubelet::{self as rules, CLIENT_CURRENT};
use kcerts_core::kubelet_client::{self, Input, Plan, Source};
use kcerts_core::node::NodePath;
use time::OffsetDateTime;

use crate::exit::Code;
use crate::fsio::txn::{Content, Op};
use crate::fsio::{self, NodeDirs};
use crate::out::outln;
use crate::{DirArgs, Hinted, args};

/// The kubelet's certificate directory.
pub const DEFAULT_PKI_DIR: &str = "/var/lib/kubelet/pki";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Issue (or install) the kubelet's client certificate and point kubelet.conf at it.
    Client(ClientArgs),
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "What kubeadm's troubleshooting page (\"Kubelet client certificate rotation \
fails\") has users do by hand: a certificate for CN system:node:NAME, O system:nodes, client \
auth, signed by the cluster CA, written with its key into one file \
kubelet-client-<YYYY-MM-DD-HH-MM-SS>.pem (the kubelet's own format; kcerts stamps it in UTC, \
the kubelet in local time), kubelet-client-current.pem replaced by a link to it, and \
kubelet.conf's user reading client-certificate and client-key from that link (its CA data \
reset to ca.crt). Backup and journal as `kcerts renew`; a crash is rolled back by the next run.\n\
Worker nodes (no ca.key): --csr-only --csr-dir DIR writes kubelet-client.csr and \
kubelet-client.key; sign it on a control-plane node with `kcerts sign --role kubelet-client \
--node-name NAME`; install it with --cert FILE --key FILE."
)]
pub struct ClientArgs {
    /// The node name [default: from the current kubelet certificate or kubelet.conf].
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    #[command(flatten)]
    dirs: DirArgs,
    /// The kubelet's certificate directory.
    #[arg(long, default_value = DEFAULT_PKI_DIR, value_name = "DIR")]
    kubelet_pki_dir: PathBuf,
    /// Validity of the new certificate.
    #[arg(long, default_value = "8760h", value_parser = args::parse_duration)]
    validity: time::Duration,
    /// Key algorithm [default: the current key's, else ECDSA-P256 as the kubelet makes].
    #[arg(long, value_parser = args::parse_key_algorithm)]
    key_algorithm: Option<KeyAlgorithm>,
    /// Write a key and a CSR to --csr-dir instead (a worker: no CA key needed).
    #[arg(long, requires = "csr_dir", conflicts_with_all = ["cert", "dry_run"])]
    csr_only: bool,
    /// Directory for --csr-only output (kubelet-client.csr and kubelet-client.key).
    #[arg(long, value_name = "DIR")]
    csr_dir: Option<PathBuf>,
    /// Install this signed certificate (from `kcerts sign --role kubelet-client`).
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The key of --cert (from --csr-only).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Where to put the timestamped backup [default: <kubeconfig-dir>/tmp].
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// Show what would change and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Act as if now were this RFC 3339 time (tests).
    #[arg(long, value_name = "TIME", value_parser = args::parse_time, hide = true)]
    at: Option<OffsetDateTime>,
}

pub fn run(a: Args) -> Result<Code> {
    match a.command {
        Command::Client(a) => client(a).map(|()| Code::Ok),
    }
}

/// Reads a file that must exist.
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    match fsio::read_limited(path) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => anyhow::bail!("{what} {} does not exist", path.display()),
        Err(r) => anyhow::bail!("{what} {}: {r}", path.display()),
    }
}

/// The kubelet's files as the plan reads them.
pub struct KubeletFiles {
    pki_dir: PathBuf,
    kubelet_conf: PathBuf,
    conf: Vec<u8>,
    ca_cert: Vec<u8>,
    current: Option<Vec<u8>>,
}

impl KubeletFiles {
    /// Reads kubelet.conf, ca.crt and the current pair file.
    pub fn load(dirs: &NodeDirs, pki_dir: &Path) -> Result<Self> {
        // kubelet.conf names the directory: it must be absolute.
        let pki_dir = std::path::absolute(pki_dir)
            .with_context(|| format!("cannot resolve {}", pki_dir.display()))?;
        let kubelet_conf = dirs.path(&NodePath::kubeconfig("kubelet.conf"));
        let conf = read(&kubelet_conf, "kubelet.conf").map_err(|e| Hinted {
            message: format!("{e:#}"),
            hint: "run `kubeadm init phase kubeconfig kubelet` (control plane) or rejoin \
                   the node, then run this again"
                .into(),
        })?;
        let ca_cert = read(&dirs.path(&NodePath::cert("ca.crt")), "the cluster CA")?;
        let current = fsio::read_limited(&pki_dir.join(CLIENT_CURRENT)).unwrap_or(None);
        Ok(Self {
            pki_dir,
            kubelet_conf,
            conf,
            ca_cert,
            current,
        })
    }

    fn input<'a>(&'a self, node_name: Option<&'a str>) -> Input<'a> {
        Input {
            kubelet_conf: &self.conf,
            ca_cert: &self.ca_cert,
            current: self.current.as_deref(),
            node_name,
            pki_dir: self.pki_dir.to_str().unwrap_or(DEFAULT_PKI_DIR),
        }
    }

    /// Why the kubelet client certificate should be replaced now, or `None`.
    pub fn due(
        &self,
        node_name: Option<&str>,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Option<String> {
        kubelet_client::due(&self.input(node_name), now, window)
    }

    /// The kubelet's certificate directory, absolute.
    pub fn pki_dir(&self) -> &Path {
        &self.pki_dir
    }

    /// Plans a new certificate and the writes that install it: the pair file
    /// (new), the link (replaced), kubelet.conf.
    pub fn plan(
        &self,
        node_name: Option<&str>,
        source: &Source<'_>,
        now: OffsetDateTime,
    ) -> Result<(Plan, Vec<Op>)> {
        if self.pki_dir.to_str().is_none() {
            anyhow::bail!("{} is not valid UTF-8", self.pki_dir.display());
        }
        let plan = kubelet_client::plan(
            &self.input(node_name),
            source,
            now,
            &mut kcerts_core::system_rng(),
        )
        .with_context(|| {
            format!(
                "cannot make the kubelet client certificate ({})",
                self.kubelet_conf.display()
            )
        })?;
        let ops = vec![
            Op {
                target: self.pki_dir.join(&plan.file_name),
                rel: format!("kubelet/{}", plan.file_name),
                content: Content::File {
                    bytes: plan.pair.clone(),
                    secret: true,
                },
            },
            Op {
                target: self.pki_dir.join(CLIENT_CURRENT),
                rel: format!("kubelet/{CLIENT_CURRENT}"),
                content: Content::Symlink(PathBuf::from(&plan.link_to)),
            },
            Op {
                target: self.kubelet_conf.clone(),
                rel: "kubelet.conf".into(),
                // kubelet.conf no longer holds a key, but kubeadm writes it 0600: keep it so.
                content: Content::File {
                    bytes: plan.kubelet_conf.clone(),
                    secret: true,
                },
            },
        ];
        Ok((plan, ops))
    }
}

/// What was done, in the CLI's words.
pub fn report(plan: &Plan, files: &KubeletFiles, prefix: &str) -> Result<()> {
    outln!(
        "[{prefix}] kubelet client certificate for {} ({}) valid until {}: {}",
        plan.cert.subject,
        plan.key_kind,
        kcerts_core::text::format_date(plan.cert.not_after),
        plan.link_to
    )?;
    outln!(
        "[{prefix}] {} -> {}",
        files.pki_dir.join(CLIENT_CURRENT).display(),
        plan.link_to
    )?;
    outln!(
        "[{prefix}] {} reads client-certificate and client-key from {}",
        files.kubelet_conf.display(),
        files.pki_dir.join(CLIENT_CURRENT).display()
    )?;
    Ok(())
}

fn client(a: ClientArgs) -> Result<()> {
    let dirs = a.dirs.dirs();
    let now = args::now_or(a.at);
    if a.csr_only {
        return write_csr(&a, &dirs);
    }
    let _lock = if a.dry_run {
        None
    } else {
        let lock = fsio::lock::lock_node(&dirs)?;
        if let Some((backup, n)) = fsio::txn::recover(&dirs)? {
            outln!(
                "[kubelet] a previous run was interrupted: put back {n} files from {}",
                backup.display()
            )?;
        }
        Some(lock)
    };
    let files = KubeletFiles::load(&dirs, &a.kubelet_pki_dir)?;
    let (cert, key, ca_key);
    let source = match (&a.cert, &a.key) {
        (Some(c), Some(k)) => {
            cert = read(c, "the certificate")?;
            key = read(k, "the key")?;
            Source::Install {
                cert: &cert,
                key: &key,
            }
        }
        _ => {
            let path = dirs.path(&NodePath::cert("ca.key"));
            ca_key = fsio::read_limited(&path)
                .map_err(|r| anyhow::anyhow!("{}: {r}", path.display()))?
                .ok_or_else(|| Hinted {
                    message: format!(
                        "{} is missing: this is not a control-plane node",
                        path.display()
                    ),
                    hint: "on a worker, run `kcerts kubelet client --csr-only --csr-dir DIR`, \
                           sign the request on a control-plane node with `kcerts sign --role \
                           kubelet-client --node-name NAME`, then install it with --cert and --key"
                        .into(),
                })?;
            Source::Issue {
                ca_key: &ca_key,
                key_algorithm: a.key_algorithm,
                validity: a.validity,
            }
        }
    };
    let (plan, ops) = files.plan(a.node_name.as_deref(), &source, now)?;
    if a.dry_run {
        for op in &ops {
            outln!("[dry-run] would write {}", op.target.display())?;
        }
        report(&plan, &files, "dry-run")?;
        outln!("[dry-run] no file was changed")?;
        return Ok(());
    }
    let base = a
        .backup_dir
        .clone()
        .unwrap_or_else(|| dirs.kubeconfig_dir.join("tmp"));
    let backup_dir = crate::fsio::txn::unique_backup_dir(&base, now);
    let n = fsio::txn::apply_ops(
        &dirs,
        std::slice::from_ref(&files.pki_dir),
        &ops,
        &backup_dir,
    )
    .context("cannot install the kubelet client certificate")?;
    outln!("[kubelet] backed up {n} files to {}", backup_dir.display())?;
    report(&plan, &files, "kubelet")?;
    outln!("\nRestart the kubelet to use it: systemctl restart kubelet")?;
    Ok(())
}

fn write_csr(a: &ClientArgs, dirs: &NodeDirs) -> Result<()> {
    let csr_dir = a.csr_dir.clone().unwrap_or_default();
    let files = KubeletFiles::load(dirs, &a.kubelet_pki_dir)?;
    let input = files.input(a.node_name.as_deref());
    let node = kubelet_client::node_name(&input)?;
    let alg = a
        .key_algorithm
        .or_else(|| kubelet_client::current_key_algorithm(&input))
        .unwrap_or(rules::DEFAULT_KEY_ALGORITHM);
    let (csr, key) = rules::client_csr(&node, alg, &mut kcerts_core::system_rng())?;
    let csr_path = csr_dir.join("kubelet-client.csr");
    let key_path = csr_dir.join("kubelet-client.key");
    fsio::write_new(&key_path, key.to_pem().as_bytes(), true)?;
    fsio::write_new(&csr_path, csr.as_bytes(), false)?;
    outln!(
        "[csr] wrote {} and {} for system:node:{node}",
        csr_path.display(),
        key_path.display()
    )?;
    outln!(
        "Sign it on a control-plane node: kcerts sign --role kubelet-client --node-name {node} \
         --csr {} --ca-cert /etc/kubernetes/pki/ca.crt --ca-key /etc/kubernetes/pki/ca.key \
         -o kubelet-client.crt",
        csr_path.display()
    )?;
    Ok(())
}
