//! `kcerts kubelet client`: a new kubelet client certificate in the kubelet's own
//! pair-file format, the `kubelet-client-current.pem` link, and kubelet.conf
//! pointed at it; on a worker, a CSR first and the signed certificate later.
//! `kcerts kubelet serving`: the report of its serving certificate, and a new
//! self-signed one made as the kubelet makes it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kcerts_core::KeyAlgorithm;
use kcerts_core::kubelet as rules;
use kcerts_core::kubelet_client::{self, Source};
use kcerts_core::node::NodePath;
use time::OffsetDateTime;

use crate::flags::DirArgs;
use crate::flags::value;
use crate::fsio::txn::{Content, Op};
use crate::fsio::{self, NodeDirs};
use crate::node::guard::lock_and_recover;
use crate::node::kubelet::{DEFAULT_PKI_DIR, KubeletFiles, report};
use crate::report::Hinted;
use crate::report::exit::Code;
use crate::report::out::outln;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Issue (or install) the kubelet's client certificate and point kubelet.conf at it.
    Client(ClientArgs),
    /// Report the kubelet's serving certificate; --renew makes a new self-signed one.
    Serving(ServingArgs),
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
    #[arg(long, default_value = "8760h", value_parser = value::parse_duration)]
    validity: time::Duration,
    /// Key algorithm [default: the current key's, else ECDSA-P256 as the kubelet makes].
    #[arg(long, value_parser = value::parse_key_algorithm)]
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
    #[arg(long, value_name = "TIME", value_parser = value::parse_time, hide = true)]
    at: Option<OffsetDateTime>,
}

pub fn run(a: Args) -> Result<Code> {
    match a.command {
        Command::Client(a) => client(a).map(|()| Code::Ok),
        Command::Serving(a) => serving(a).map(|()| Code::Ok),
    }
}

fn client(a: ClientArgs) -> Result<()> {
    let dirs = a.dirs.dirs();
    let now = value::now_or(a.at);
    if a.csr_only {
        return write_csr(&a, &dirs);
    }
    let _lock = if a.dry_run {
        None
    } else {
        Some(lock_and_recover(
            &dirs,
            std::slice::from_ref(&a.kubelet_pki_dir),
            "kubelet",
            "run",
        )?)
    };
    let files = KubeletFiles::load(&dirs, &a.kubelet_pki_dir)?;
    let (cert, key, ca_key);
    let source = match (&a.cert, &a.key) {
        (Some(c), Some(k)) => {
            cert = fsio::read_required(c, "the certificate")?;
            key = fsio::read_required(k, "the key")?;
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
    let n = fsio::txn::apply_ops(&dirs, &[files.pki_dir().to_path_buf()], &ops, &backup_dir)
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

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reports the kubelet's serving certificate (port 10250): \
kubelet-server-current.pem when serverTLSBootstrap is on (signed by the cluster CA), else \
kubelet.crt and kubelet.key, which the kubelet makes for itself when no tlsCertFile is set and \
nobody renews (kubernetes #99418): expiry, SANs, who signed it, whether the key matches.\n\
--renew makes a new self-signed pair as the kubelet does (client-go's \
GenerateSelfSignedCertKey): a CA HOST-ca@<unix time> signing a leaf HOST@<unix time> for server \
auth, valid from an hour ago for one year, RSA 2048, kubelet.crt holding the leaf then the CA. \
HOST is --node-name (else the host the current certificate names); the SANs are HOST, the \
--address IPs and --dns names (else the current certificate's). Unlike the kubelet, which \
names only its hostname, kcerts keeps the current IPs and names, and draws random serials. \
Backup and journal as `kcerts renew`. Restart the kubelet afterwards. Refused when \
kubelet-server-current.pem exists: approve the kubelet's request instead \
(`kcerts approve kubelet-serving`)."
)]
pub struct ServingArgs {
    #[command(flatten)]
    dirs: DirArgs,
    /// The kubelet's certificate directory.
    #[arg(long, default_value = DEFAULT_PKI_DIR, value_name = "DIR")]
    kubelet_pki_dir: PathBuf,
    /// Make a new self-signed kubelet.crt and kubelet.key.
    #[arg(long)]
    renew: bool,
    /// The node's hostname for --renew [default: the host the current certificate names].
    #[arg(long, value_name = "NAME", requires = "renew")]
    node_name: Option<String>,
    /// An IP SAN for --renew (the kubelet's --address, the node's IPs); repeatable
    /// [default: the current certificate's].
    #[arg(long = "address", value_name = "IP", requires = "renew")]
    addresses: Vec<IpAddr>,
    /// Another DNS SAN for --renew; repeatable [default: the current certificate's].
    #[arg(long = "dns", value_name = "NAME", requires = "renew")]
    dns: Vec<String>,
    /// Where to put the timestamped backup [default: <kubeconfig-dir>/tmp].
    #[arg(long, value_name = "DIR", requires = "renew")]
    backup_dir: Option<PathBuf>,
    /// Show what --renew would write, and write nothing.
    #[arg(long, requires = "renew")]
    dry_run: bool,
    /// Act as if now were this RFC 3339 time (tests).
    #[arg(long, value_name = "TIME", value_parser = value::parse_time, hide = true)]
    at: Option<OffsetDateTime>,
}

fn serving(a: ServingArgs) -> Result<()> {
    use kcerts_core::kubelet_selfsigned::{CERT_FILE, KEY_FILE, SERVER_CURRENT};
    use kcerts_core::kubelet_serving_renewal as renewal;
    let dirs = a.dirs.dirs();
    let now = value::now_or(a.at);
    let pki = std::path::absolute(&a.kubelet_pki_dir)
        .with_context(|| format!("cannot resolve {}", a.kubelet_pki_dir.display()))?;
    let _lock = if a.renew && !a.dry_run {
        Some(lock_and_recover(
            &dirs,
            std::slice::from_ref(&pki),
            "kubelet",
            "run",
        )?)
    } else {
        None
    };
    let ca = fsio::read_limited(&dirs.path(&NodePath::cert("ca.crt")))
        .ok()
        .flatten()
        .and_then(|b| kcerts_core::certificate::parse_first(&b).ok());
    let readable =
        |p: &Path| fsio::read_limited(p).map_err(|r| anyhow::anyhow!("{}: {r}", p.display()));
    let bootstrap_path = pki.join(SERVER_CURRENT);
    let crt_path = pki.join(CERT_FILE);
    let key_path = pki.join(KEY_FILE);
    let bootstrap = readable(&bootstrap_path)?;
    let (shown, cert, key) = match &bootstrap {
        Some(b) => (&bootstrap_path, Some(b.clone()), Some(b.clone())),
        None => (&crt_path, readable(&crt_path)?, readable(&key_path)?),
    };
    match &cert {
        Some(bytes) => {
            let r = kcerts_core::kubelet_serving::report(bytes, key.as_deref(), ca.as_ref(), now)
                .with_context(|| shown.display().to_string())?;
            serving_report(shown, &r)?;
        }
        None if a.renew => outln!("{}: missing", shown.display())?,
        None => {
            return Err(Hinted {
                message: format!(
                    "neither {} nor {} exists",
                    bootstrap_path.display(),
                    crt_path.display()
                ),
                hint: "the kubelet may serve another tlsCertFile (see its config.yaml), or wait \
                       for approval (kcerts approve kubelet-serving); to make a self-signed one: \
                       kcerts kubelet serving --renew --node-name NAME --address IP"
                    .into(),
            }
            .into());
        }
    }
    if !a.renew {
        return Ok(());
    }
    let current = if bootstrap.is_some() { None } else { cert };
    let plan = renewal::plan(
        &renewal::Input {
            current: current.as_deref(),
            bootstrapped: bootstrap.is_some(),
            host: a.node_name.as_deref(),
            addresses: &a.addresses,
            dns: &a.dns,
        },
        now,
        &mut kcerts_core::system_rng(),
    )
    .context("cannot make the kubelet serving certificate")?;
    let leaf = &plan.new.leaf;
    let sans: Vec<String> = leaf
        .dns_names
        .iter()
        .cloned()
        .chain(leaf.ip_addresses.iter().map(IpAddr::to_string))
        .collect();
    let what = format!(
        "{} (SANs {}) signed by {}, valid until {}",
        leaf.subject,
        sans.join(", "),
        plan.new.ca.subject,
        kcerts_core::text::format_date(leaf.not_after)
    );
    if a.dry_run {
        outln!(
            "[dry-run] would write {} and {}: {what}",
            crt_path.display(),
            key_path.display()
        )?;
        outln!("[dry-run] no file was changed")?;
        return Ok(());
    }
    let ops = vec![
        Op {
            target: crt_path.clone(),
            rel: format!("kubelet/{CERT_FILE}"),
            content: Content::File {
                bytes: plan.cert_pem.clone(),
                secret: false,
            },
        },
        Op {
            target: key_path.clone(),
            rel: format!("kubelet/{KEY_FILE}"),
            content: Content::File {
                bytes: plan.key_pem(),
                secret: true,
            },
        },
    ];
    let base = a
        .backup_dir
        .clone()
        .unwrap_or_else(|| dirs.kubeconfig_dir.join("tmp"));
    let backup_dir = fsio::txn::unique_backup_dir(&base, now);
    let n = fsio::txn::apply_ops(&dirs, std::slice::from_ref(&pki), &ops, &backup_dir)
        .context("cannot write the kubelet serving certificate")?;
    outln!("[kubelet] backed up {n} files to {}", backup_dir.display())?;
    outln!(
        "[kubelet] wrote {} and {}: {what}",
        crt_path.display(),
        key_path.display()
    )?;
    outln!("\nRestart the kubelet to serve it: systemctl restart kubelet")?;
    Ok(())
}

fn serving_report(path: &Path, r: &kcerts_core::kubelet_serving::ServingReport) -> Result<()> {
    let left = if r.residual_seconds <= 0 {
        format!(
            "expired {} ago",
            kcerts_core::residual::human(-r.residual_seconds)
        )
    } else {
        format!("in {}", kcerts_core::residual::human(r.residual_seconds))
    };
    outln!("{}", path.display())?;
    outln!("  subject:  {}", r.cert.subject)?;
    outln!(
        "  expires:  {} ({left})",
        kcerts_core::text::format_date(r.cert.not_after)
    )?;
    outln!("  SANs:     {}", r.sans().join(", "))?;
    outln!("  signer:   {}", r.signer_text())?;
    outln!(
        "  usage:    {}",
        if r.server_auth {
            "server auth"
        } else {
            "NO server auth: clients refuse it"
        }
    )?;
    outln!(
        "  key:      {}",
        match r.key_matches {
            Some(true) => "matches",
            Some(false) => "DOES NOT MATCH the certificate",
            None => "missing",
        }
    )?;
    Ok(())
}
