//! `kcerts verify`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use kcerts_core::cluster_config::ClusterConfig;
use kcerts_core::live::Row as LiveRow;
use kcerts_core::node::{FileContent, NodeFiles, NodePath};
use kcerts_core::verify::{self as checks, KubeletClient, KubeletServing, Status, Verification};
use time::OffsetDateTime;

use crate::color::{self, ColorChoice};
use crate::exit::Code;
use crate::out;
use crate::{DirArgs, args, fsio};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
    /// The Prometheus text format (kcerts_verify_check, kcerts_verify_checks).
    Prometheus,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Checks, one row each with pass/warn/fail and a reason: expiry of every \
certificate (warn within --warn, fail within --crit); every leaf chains to its kubeadm CA \
(signature checked); every key matches its certificate; usages, EKU and CN/O fit the kubeadm \
role; the apiserver SANs hold the node name, the kubernetes.default names and the service IP; \
the etcd SANs hold localhost and 127.0.0.1; kubeconfigs embed the current ca.crt (kubeadm \
#2027); no CA expires before a certificate it signed; sa.key and sa.pub are a pair; the \
kubelet client certificate (kubelet.conf or --kubelet-client-cert) is valid and rotating; the \
kubelet serving certificate (kubelet-server-current.pem, else kubelet.crt and kubelet.key) is \
valid, for server auth, names the node, and who signed it.\n\
With --live (beyond kubeadm): each endpoint (apiserver, etcd-server, etcd-peer, \
controller-manager, scheduler, kubelet) must serve the certificate on disk, unexpired and \
chaining to its CA; the controller-manager and scheduler, which serve a self-signed \
certificate named after their start time, must have started after their kubeconfig was \
written. An endpoint that does not answer is a warning.\n\
With --kubeconfig-copy PATH (beyond kubeadm): a copy of admin.conf warns when a user holds \
an expired certificate or an older admin.conf certificate than admin.conf.\n\
With --config FILE or --from-cluster: the apiserver, etcd server and etcd peer certificates must \
hold every SAN kubeadm derives from the configuration (apiServer.certSANs, controlPlaneEndpoint, \
nodeRegistration.name, localAPIEndpoint.advertiseAddress, the service IP of \
networking.serviceSubnet and dnsDomain, etcd.local.serverCertSANs/peerCertSANs).\n\
Exit status: 0 all pass; 1 a file cannot be read or parsed; 2 some warn; 3 some fail."
)]
pub struct Args {
    #[command(flatten)]
    dirs: DirArgs,
    #[command(flatten)]
    node: NodeArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Verify as of this RFC 3339 time instead of now.
    #[arg(long, value_name = "TIME", value_parser = args::parse_time)]
    at: Option<OffsetDateTime>,
    /// Colour the results.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// A copy of admin.conf (e.g. /root/.kube/config): warn when a user in it holds
    /// credentials that expired or that admin.conf's renewal superseded (rows
    /// `kubeconfig-copy`). Repeatable.
    #[arg(long, value_name = "PATH")]
    kubeconfig_copy: Vec<PathBuf>,
    #[command(flatten)]
    config: crate::kubeadm_config::ConfigArgs,
}

/// What verify reads besides the two directories (shared with `kcerts serve`).
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// The kubelet's rotating client certificate and key.
    #[arg(
        long,
        default_value = "/var/lib/kubelet/pki/kubelet-client-current.pem",
        value_name = "FILE"
    )]
    kubelet_client_cert: PathBuf,
    /// The node name [default: from the kubelet certificate or the etcd server certificate].
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// The service CIDR; its first address must be an apiserver SAN [default: 10.96.0.0/12,
    /// a warning only when its address is absent].
    #[arg(long, value_name = "CIDR")]
    service_cidr: Option<String>,
    #[command(flatten)]
    thresholds: crate::thresholds::Thresholds,
    /// Also connect to every control-plane endpoint and check that it serves the
    /// certificate on disk (rows `live`; each endpoint bounded at 3 s).
    #[arg(long)]
    live: bool,
    #[command(flatten)]
    endpoints: crate::live::EndpointArgs,
    /// The kubelet's serving certificate (checked, and with --live compared with what the
    /// kubelet serves) [default: kubelet-server-current.pem, else kubelet.crt with
    /// kubelet.key, beside --kubelet-client-cert].
    #[arg(long, value_name = "FILE")]
    kubelet_serving_cert: Option<PathBuf>,
}

/// One verification of a node: its files (with kubelet.conf), the rows (with the
/// live rows under `--live`) and the live rows again for their own metrics.
pub struct NodeReading {
    pub files: NodeFiles,
    pub verification: Verification,
    pub live: Vec<LiveRow>,
}

impl NodeArgs {
    /// The service IP: --service-cidr's first address (a bad CIDR is refused before
    /// anything is read), else the configuration's service subnet.
    pub fn service_ip(&self, cfg: Option<&ClusterConfig>) -> Result<Option<IpAddr>> {
        Ok(match &self.service_cidr {
            Some(c) => match kcerts_core::pki::first_service_ip(c) {
                Some(ip) => Some(ip),
                None => bail!("invalid --service-cidr {c:?}: expected e.g. 10.96.0.0/12"),
            },
            None => cfg.and_then(|c| kcerts_core::pki::first_service_ip(c.service_subnet())),
        })
    }

    /// Verifies the node's `files` at `now` (reading kubelet.conf and the kubelet's
    /// certificates too) and, with `--live`, probes the endpoints.
    pub fn verify(
        &self,
        dirs: &fsio::NodeDirs,
        mut files: NodeFiles,
        cfg: Option<&ClusterConfig>,
        now: OffsetDateTime,
    ) -> Result<NodeReading> {
        let service_ip = self.service_ip(cfg)?;
        let kubelet_conf = NodePath::kubeconfig("kubelet.conf");
        match fsio::read_limited(&dirs.path(&kubelet_conf)) {
            Ok(Some(b)) => files.insert(kubelet_conf, b),
            Ok(None) => {}
            Err(r) => files.insert_unreadable(kubelet_conf, r),
        }
        let kubelet_serving = self.serving_files();
        let mut v = checks::verify(&checks::Input {
            files: &files,
            kubelet_client: Some(KubeletClient {
                path: self.kubelet_client_cert.display().to_string(),
                content: content(&self.kubelet_client_cert),
            }),
            kubelet_serving: Some(kubelet_serving.clone()),
            node_name: self
                .node_name
                .clone()
                .or_else(|| cfg.and_then(|c| c.node_name.clone())),
            service_ip,
            thresholds: checks::Thresholds::from_flags(
                self.thresholds.warn,
                self.thresholds.crit,
                checks::Thresholds::default(),
            ),
            now,
            config: cfg,
        });
        let live = if self.live {
            let endpoints = crate::live::Endpoints::resolve(&self.endpoints, dirs);
            let serving = kubelet_serving
                .content
                .is_some()
                .then(|| PathBuf::from(&kubelet_serving.path));
            let observed = crate::live::observe(&endpoints, dirs, &files, serving.as_deref());
            let written = crate::live::written(dirs);
            let rows = kcerts_core::live::check(&kcerts_core::live::Input {
                files: &files,
                observed: &observed,
                written: &written,
                now: v.now,
            });
            v.checks.extend(rows.iter().map(LiveRow::to_check));
            rows
        } else {
            Vec::new()
        };
        Ok(NodeReading {
            files,
            verification: v,
            live,
        })
    }

    /// The verification's metrics, and the live ones with `--live`.
    pub fn prometheus(&self, r: &NodeReading) -> String {
        let mut out = kcerts_core::verify_output::to_prometheus(&r.verification);
        if self.live {
            out.push_str(&kcerts_core::verify_output::live_to_prometheus(&r.live));
        }
        out
    }

    /// The serving certificate: --kubelet-serving-cert, else the kubelet's bootstrapped
    /// pair beside the client certificate, else its self-signed kubelet.crt.
    fn serving_files(&self) -> KubeletServing {
        use kcerts_core::kubelet_selfsigned::{CERT_FILE, KEY_FILE, SERVER_CURRENT};
        let dir = self
            .kubelet_client_cert
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let with_key = |cert: &Path| {
            let is_pair = cert.file_name().is_some_and(|n| n != CERT_FILE);
            let key = (!is_pair).then(|| {
                let k = cert.with_file_name(KEY_FILE);
                (k.display().to_string(), content(&k))
            });
            KubeletServing {
                path: cert.display().to_string(),
                content: content(cert),
                key,
            }
        };
        match &self.kubelet_serving_cert {
            Some(p) => with_key(p),
            None => {
                let bootstrapped = with_key(&dir.join(SERVER_CURRENT));
                if bootstrapped.content.is_some() {
                    bootstrapped
                } else {
                    with_key(&dir.join(CERT_FILE))
                }
            }
        }
    }
}

pub fn run(a: Args) -> Result<Code> {
    let lines = if a.output == Output::Text {
        crate::kubeadm_config::Lines::Stdout
    } else {
        crate::kubeadm_config::Lines::Stderr
    };
    let cfg = a.config.load("verify", lines)?;
    let dirs = crate::kubeadm_config::dirs_with(a.dirs.dirs(), cfg.as_ref());
    let files = crate::kubeadm_config::load_files(&dirs, cfg.as_ref());
    crate::node_guard::require_node(&dirs, &files)?;
    let mut reading = a
        .node
        .verify(&dirs, files, cfg.as_ref(), args::now_or(a.at))?;
    let (files, v) = (&reading.files, &mut reading.verification);
    if !a.kubeconfig_copy.is_empty() {
        let admin = kcerts_core::kubeconfig_copy::admin_certificate(files);
        for path in &a.kubeconfig_copy {
            let content = crate::kubeconfig_copies::read(path);
            v.checks.extend(kcerts_core::kubeconfig_copy::check(
                &path.display().to_string(),
                content.as_ref(),
                admin.as_ref(),
                v.now,
            ));
        }
    }
    let v = &reading.verification;
    match a.output {
        Output::Text => {
            let text = kcerts_core::verify_output::render_text(v);
            if color::color_enabled(a.color) {
                out::print(color::paint(&text))?;
            } else {
                out::print(&text)?;
            }
        }
        Output::Json => out::print(kcerts_core::verify_output::to_json(v))?,
        Output::Prometheus => out::print(a.node.prometheus(&reading))?,
    }
    let read_error = v
        .checks
        .iter()
        .any(|c| c.status == Status::Fail && c.check == checks::CheckId::Read);
    Ok(if read_error {
        Code::Error
    } else {
        Code::of(v.worst())
    })
}

fn content(path: &Path) -> Option<FileContent> {
    match fsio::read_limited(path) {
        Ok(Some(b)) => Some(FileContent::Bytes(b)),
        Ok(None) => None,
        Err(r) => Some(FileContent::Unreadable(r)),
    }
}
