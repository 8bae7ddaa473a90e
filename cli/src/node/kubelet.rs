//! The kubelet's files as `kubelet client`, `ca rotate reissue` and `recover`
//! read and replace them: kubelet.conf, the cluster CA, the current pair file,
//! and the writes that install a new client certificate.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kcerts_core::kubelet::CLIENT_CURRENT;
use kcerts_core::kubelet_client::{self, Input, Plan, Source};
use kcerts_core::node::NodePath;
use time::OffsetDateTime;

use crate::fsio::txn::{Content, Op};
use crate::fsio::{self, NodeDirs};
use crate::report::Hinted;
use crate::report::out::outln;

/// The kubelet's certificate directory.
pub const DEFAULT_PKI_DIR: &str = "/var/lib/kubelet/pki";

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
        let conf = fsio::read_required(&kubelet_conf, "kubelet.conf").map_err(|e| Hinted {
            message: format!("{e:#}"),
            hint: "run `kubeadm init phase kubeconfig kubelet` (control plane) or rejoin \
                   the node, then run this again"
                .into(),
        })?;
        let ca_cert = fsio::read_required(&dirs.path(&NodePath::cert("ca.crt")), "the cluster CA")?;
        let current = fsio::read_limited(&pki_dir.join(CLIENT_CURRENT)).unwrap_or(None);
        Ok(Self {
            pki_dir,
            kubelet_conf,
            conf,
            ca_cert,
            current,
        })
    }

    /// What the core's plan reads, for `node_name` (else the one the files name).
    pub fn input<'a>(&'a self, node_name: Option<&'a str>) -> Input<'a> {
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

    /// The same files with another cluster CA (ca.crt as a phase of a CA
    /// rotation writes it): the new certificate is signed by its first
    /// certificate, and kubelet.conf's CA data becomes it.
    pub fn with_ca_cert(mut self, ca_cert: Vec<u8>) -> Self {
        self.ca_cert = ca_cert;
        self
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
