//! Rotation of one of kubeadm's CAs (`ca`, `front-proxy-ca`, `etcd-ca`) in four
//! phases, each planned in memory from the node's files:
//!
//! 1. `prepare`: a new CA (same subject, new key) beside the old one, as
//!    `<ca>.new.crt` / `<ca>.new.key`;
//! 2. `trust`: every trust point holds old + new (the CA file itself becomes a
//!    bundle, old first, so the old key still signs);
//! 3. `reissue`: the new key signs: `<ca>.key` is the new key, the CA file is
//!    new + old, and every leaf of that CA is re-signed by the new CA;
//! 4. `finish`: the old CA leaves every trust point.
//!
//! The phase a node is in is derived from its files only ([`status`]), never
//! from a state file, so any node can be asked where it stands and every phase
//! can be re-run: a phase that is already done plans no write.
//!
//! kube-controller-manager's `--cluster-signing-cert-file` must hold exactly the
//! certificate of `--cluster-signing-key-file` (kubeadm#1350), so while `ca.crt`
//! is a bundle the signer is given [`SIGNING_CERT`] and its manifest is edited.
//!
//! Uses `x509`, `kubeadm` (files, kubeconfigs, manifests) and `issue`.

use rand_core::CryptoRng;
use serde::Serialize;
use thiserror::Error;
use time::{Duration, OffsetDateTime};

use crate::issue::leaf::{self, SigningCa};
use crate::kubeadm::inventory::{self, Ca, Location, Row};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::manifest;
use crate::kubeadm::node::{FileContent, NodeFiles, NodePath};
use crate::plan::renewal::{self, FileWrite, Outcome};
use crate::x509::certificate::{self, Certificate};
use crate::x509::keys::PrivateKey;

/// The single-certificate file kube-controller-manager signs with during a
/// rotation of `ca` (in the cert dir).
pub const SIGNING_CERT: &str = "ca-signing.crt";
/// kube-controller-manager's manifest, in the kubeconfig dir.
pub const CONTROLLER_MANAGER_MANIFEST: &str = "manifests/kube-controller-manager.yaml";
/// The kubeconfigs on a control-plane node whose cluster CA is `ca`.
pub const KUBECONFIGS: [&str; 5] = [
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kubelet.conf",
];
const SIGNING_FLAG: &str = "cluster-signing-cert-file";

/// Where a node stands in the rotation of one CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// No rotation under way (before `prepare`, or after `finish`).
    Idle,
    /// A new CA is beside the old one; not every trust point holds it yet.
    Prepared,
    /// Every trust point holds old and new; the old key still signs.
    Trusted,
    /// The new key signs; the old CA is still trusted.
    Reissued,
}

impl Phase {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Prepared => "prepared",
            Phase::Trusted => "trusted",
            Phase::Reissued => "reissued",
        }
    }
}

/// A phase of `kcerts ca rotate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Make the new CA.
    Prepare,
    /// Trust old + new everywhere on the node.
    Trust,
    /// Sign with the new CA and re-sign every leaf.
    Reissue,
    /// Trust only the new CA.
    Finish,
}

/// Which CA signed a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signer {
    /// The CA being replaced.
    Old,
    /// The new CA.
    New,
    /// Neither (a leaf of another CA, or a broken chain).
    Neither,
}

/// One file that must trust the CA, and which of the two it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustPoint {
    /// The file.
    pub path: NodePath,
    /// It holds the old CA.
    pub holds_old: bool,
    /// It holds the new CA.
    pub holds_new: bool,
}

/// One leaf of the CA and who signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leaf {
    /// kubeadm's row name (`apiserver`, `admin.conf`).
    pub name: &'static str,
    /// Which CA signed it.
    pub signer: Signer,
}

/// What the node's files say about the rotation of one CA.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The CA (`ca`, `front-proxy-ca`, `etcd-ca`).
    pub ca: &'static str,
    /// The phase.
    pub phase: Phase,
    /// The CA in use before the rotation (serial, lowercase hex).
    pub old_serial: String,
    /// The new CA, once prepared.
    pub new_serial: Option<String>,
    /// Whether `<ca>.key` is the new CA's key.
    pub signing_with_new: bool,
    /// Every trust point.
    pub trust_points: Vec<TrustPoint>,
    /// Every leaf of the CA on the node.
    pub leaves: Vec<Leaf>,
    /// For `ca`: who signed the kubelet's client certificate
    /// (`kubelet-client-current.pem`), when the kubelet's directory was read.
    pub kubelet_client: Option<Signer>,
    /// What is left before the next phase, one sentence each.
    pub left: Vec<String>,
    #[serde(skip)]
    old: Certificate,
    #[serde(skip)]
    new: Option<Certificate>,
}

/// Why a rotation step cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RotationError {
    /// A file is missing, unreadable or not what it should be.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: NodePath,
        /// What is wrong.
        reason: String,
    },
    /// The CA's key is not on this node.
    #[error(
        "the {ca} CA is external ({key} is absent): rotate it with the tooling of the CA that owns it"
    )]
    External {
        /// The CA.
        ca: &'static str,
        /// Its key file.
        key: NodePath,
    },
    /// The step does not follow from the phase the node is in.
    #[error("cannot {step} the {ca} CA: this node is in phase `{phase}`; {hint}")]
    WrongPhase {
        /// The step asked for.
        step: &'static str,
        /// The CA.
        ca: &'static str,
        /// The node's phase.
        phase: &'static str,
        /// What to do instead.
        hint: String,
    },
    /// Issuing a certificate failed.
    #[error("cannot issue for {what}: {reason}")]
    Issue {
        /// What was being issued.
        what: String,
        /// Why it failed.
        reason: String,
    },
}

fn file_error(path: &NodePath, reason: impl std::fmt::Display) -> RotationError {
    RotationError::File {
        path: path.clone(),
        reason: reason.to_string(),
    }
}

fn bytes<'a>(files: &'a NodeFiles, path: &NodePath) -> Result<Option<&'a [u8]>, RotationError> {
    match files.get(path) {
        None => Ok(None),
        Some(FileContent::Bytes(b)) => Ok(Some(b)),
        Some(FileContent::Unreadable(r)) => Err(file_error(path, format!("cannot be read: {r}"))),
    }
}

fn required<'a>(files: &'a NodeFiles, path: &NodePath) -> Result<&'a [u8], RotationError> {
    bytes(files, path)?.ok_or_else(|| file_error(path, "is missing"))
}

/// `ca.new.crt` beside `ca.crt`, `etcd/ca.new.key` beside `etcd/ca.key`.
pub fn new_cert_path(ca: Ca) -> NodePath {
    NodePath::cert(format!("{}.new.crt", ca.base()))
}

/// The new CA's key file (see [`new_cert_path`]).
pub fn new_key_path(ca: Ca) -> NodePath {
    NodePath::cert(format!("{}.new.key", ca.base()))
}

/// Every file [`status`] and the plans may read, for the CLI to load (beyond
/// [`NodeFiles::wanted`]).
pub fn wanted() -> Vec<NodePath> {
    let mut out = NodeFiles::wanted();
    for ca in Ca::ALL {
        out.push(new_cert_path(ca));
        out.push(new_key_path(ca));
    }
    out.push(NodePath::cert(SIGNING_CERT));
    out.push(NodePath::kubeconfig("kubelet.conf"));
    out.push(NodePath::kubeconfig(CONTROLLER_MANAGER_MANIFEST));
    out
}

/// The files that must trust `ca`: its own certificate file (handed to the
/// apiserver's --client-ca-file, kube-controller-manager's --root-ca-file,
/// etcd's --trusted-ca-file, the requestheader CA...) and, for `ca`, the
/// cluster CA data of every kubeconfig present.
fn trust_paths(files: &NodeFiles, ca: Ca) -> Vec<NodePath> {
    let mut out = vec![NodePath::cert(ca.cert_file())];
    if ca == Ca::Ca {
        out.extend(
            KUBECONFIGS
                .iter()
                .map(|f| NodePath::kubeconfig(*f))
                .filter(|p| files.exists(p)),
        );
    }
    out
}

fn trusted_certs(files: &NodeFiles, path: &NodePath) -> Result<Vec<Certificate>, RotationError> {
    let raw = required(files, path)?;
    let pem = if path.dir == crate::kubeadm::node::Dir::Kubeconfig {
        Kubeconfig::parse(raw)
            .and_then(|k| k.current_cluster_ca())
            .map_err(|e| file_error(path, e))?
            .1
    } else {
        raw.to_vec()
    };
    certificate::parse_all(&pem).map_err(|e| file_error(path, e))
}

fn same(a: &Certificate, b: &Certificate) -> bool {
    a.der == b.der
}

fn leaf_rows(ca: Ca) -> impl Iterator<Item = &'static Row> {
    inventory::ROWS.iter().filter(move |r| r.ca == ca)
}

/// The kubelet's client certificate file, a leaf of `ca` outside the kubeadm
/// directories (the CLI reads it from `--kubelet-pki-dir`).
pub const KUBELET_CLIENT: &str = crate::issue::kubelet::CLIENT_CURRENT;

/// Where the node stands in the rotation of `ca` (without the kubelet's files).
pub fn status(files: &NodeFiles, ca: Ca) -> Result<Status, RotationError> {
    status_of(files, ca, None)
}

/// Where the node stands in the rotation of `ca`; for `ca`, the kubelet's
/// client certificate (the bytes of [`KUBELET_CLIENT`], a pair file, when the
/// kubelet's directory holds it) counts as one of its leaves: the rotation is
/// not over while it is signed by the old CA.
pub fn status_of(
    files: &NodeFiles,
    ca: Ca,
    kubelet_client: Option<&[u8]>,
) -> Result<Status, RotationError> {
    let cert_path = NodePath::cert(ca.cert_file());
    let key_path = NodePath::cert(ca.key_file());
    let bundle = trusted_certs(files, &cert_path)?;
    let Some(key) = bytes(files, &key_path)? else {
        return Err(RotationError::External {
            ca: ca.name(),
            key: key_path,
        });
    };
    let key_bits = PrivateKey::public_key_bits_of(key).map_err(|e| file_error(&key_path, e))?;
    let new = match bytes(files, &new_cert_path(ca))? {
        Some(b) => {
            Some(certificate::parse_first(b).map_err(|e| file_error(&new_cert_path(ca), e))?)
        }
        None => None,
    };
    // The old CA: the certificate in the CA file that is not the new one.
    let old = bundle
        .iter()
        .find(|c| new.as_ref().is_none_or(|n| !same(c, n)))
        .or(bundle.first())
        .cloned()
        .ok_or_else(|| file_error(&cert_path, "holds no certificate"))?;
    let signing_with_new = new
        .as_ref()
        .is_some_and(|n| n.public_key_bits() == key_bits);
    if !signing_with_new && old.public_key_bits() != key_bits {
        return Err(file_error(
            &key_path,
            format!(
                "matches neither the CA in {cert_path} nor {}",
                new_cert_path(ca)
            ),
        ));
    }

    let mut trust_points = Vec::new();
    for path in trust_paths(files, ca) {
        let certs = trusted_certs(files, &path)?;
        trust_points.push(TrustPoint {
            holds_old: certs.iter().any(|c| same(c, &old)),
            holds_new: new
                .as_ref()
                .is_some_and(|n| certs.iter().any(|c| same(c, n))),
            path,
        });
    }
    let signer_of = |cert: &Certificate| {
        if new
            .as_ref()
            .is_some_and(|n| cert.verify_signed_by(n).is_ok())
        {
            Signer::New
        } else if cert.verify_signed_by(&old).is_ok() {
            Signer::Old
        } else {
            Signer::Neither
        }
    };
    let mut leaves = Vec::new();
    for row in leaf_rows(ca) {
        let Ok(Some(cert)) = crate::kubeadm::node_loader::load_row_certificate(files, row) else {
            continue;
        };
        leaves.push(Leaf {
            name: row.name,
            signer: signer_of(&cert),
        });
    }
    let kubelet_client = match kubelet_client {
        Some(pem) if ca == Ca::Ca => Some(
            certificate::parse_first(pem)
                .map(|c| signer_of(&c))
                .unwrap_or(Signer::Neither),
        ),
        _ => None,
    };
    if let Some(signer) = kubelet_client {
        leaves.push(Leaf {
            name: KUBELET_CLIENT,
            signer,
        });
    }

    let all_trust_new = trust_points.iter().all(|t| t.holds_new);
    let mut left = Vec::new();
    let phase = match &new {
        None => Phase::Idle,
        Some(_) if !signing_with_new && !all_trust_new => {
            for t in trust_points.iter().filter(|t| !t.holds_new) {
                left.push(format!("{} does not trust the new CA yet", t.path));
            }
            Phase::Prepared
        }
        Some(_) if !signing_with_new => {
            left.push("the old key still signs: run `reissue` once every node is trusted".into());
            Phase::Trusted
        }
        Some(_)
            if trust_points.iter().any(|t| t.holds_old)
                || leaves.iter().any(|l| l.signer != Signer::New) =>
        {
            for l in leaves.iter().filter(|l| l.signer != Signer::New) {
                left.push(format!(
                    "{} is not signed by the new CA{}",
                    l.name,
                    leaf_fix(l)
                ));
            }
            for t in trust_points.iter().filter(|t| t.holds_old) {
                left.push(format!("{} still trusts the old CA", t.path));
            }
            Phase::Reissued
        }
        // New key signing, nothing trusts the old CA: the rotation is over;
        // only the `.new` copies are left (finish removes them).
        Some(_) => Phase::Idle,
    };
    Ok(Status {
        ca: ca.name(),
        phase,
        old_serial: old.serial.clone(),
        new_serial: new.as_ref().map(|n| n.serial.clone()),
        signing_with_new,
        trust_points,
        leaves,
        kubelet_client,
        left,
        old,
        new,
    })
}

/// How to re-sign a leaf that is not signed by the new CA, after its name.
fn leaf_fix(l: &Leaf) -> &'static str {
    if l.name == KUBELET_CLIENT {
        " (the kubelet's client certificate): run `reissue` again with --kubelet-pki-dir \
         naming the kubelet's directory, or `kcerts kubelet client`"
    } else {
        ""
    }
}

impl Status {
    /// Whether `reissue` must (re-)sign the kubelet's client certificate: it
    /// was read and is not signed by the new CA.
    pub fn kubelet_client_left(&self) -> bool {
        self.new.is_some() && self.kubelet_client.is_some_and(|s| s != Signer::New)
    }
}

/// A phase's plan: the files to write and to remove, and what to do next by hand.
#[derive(Debug, Clone, Default)]
pub struct StepPlan {
    /// Files written (new contents), in order.
    pub writes: Vec<FileWrite>,
    /// Files removed (the CLI keeps their backup).
    pub removes: Vec<NodePath>,
    /// Commands and checks for the operator, one per line, after the phase.
    pub next: Vec<String>,
}

/// Options for `prepare`.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// Validity of the new CA (kubeadm's caCertificateValidityPeriod, 10 years).
    pub validity: Duration,
    /// Validity of the leaves `reissue` signs (kubeadm's certificateValidityPeriod,
    /// one year).
    pub leaf_validity: Duration,
    /// An externally made CA (certificate and key PEM) instead of a new one.
    pub external: Option<(Vec<u8>, Vec<u8>)>,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        Self {
            validity: leaf::CA_VALIDITY,
            leaf_validity: leaf::DEFAULT_VALIDITY,
            external: None,
        }
    }
}

fn wrong_phase(step: &'static str, ca: Ca, phase: Phase, hint: &str) -> RotationError {
    RotationError::WrongPhase {
        step,
        ca: ca.name(),
        phase: phase.name(),
        hint: hint.into(),
    }
}

/// `prepare`: a new CA with the old one's common name and key type.
pub fn prepare<R: CryptoRng + ?Sized>(
    files: &NodeFiles,
    ca: Ca,
    opts: &PrepareOptions,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<StepPlan, RotationError> {
    let st = status(files, ca)?;
    if st.phase != Phase::Idle || st.new.is_some() && st.signing_with_new {
        if st.phase == Phase::Idle {
            // A finished rotation whose `.new` copies are still there.
            return Err(wrong_phase(
                "prepare",
                ca,
                st.phase,
                "run `finish` first to clear the last rotation",
            ));
        }
        return Ok(StepPlan::default());
    }
    let key_path = NodePath::cert(ca.key_file());
    let (cert_pem, key_pem) = match &opts.external {
        Some((cert, key)) => {
            let c =
                certificate::parse_first(cert).map_err(|e| file_error(&new_cert_path(ca), e))?;
            let k = PrivateKey::parse(key).map_err(|e| file_error(&new_key_path(ca), e))?;
            if !c.is_ca || c.public_key_bits() != k.public_key_bits() {
                return Err(file_error(
                    &new_cert_path(ca),
                    "the given CA certificate is not a CA or does not match the given key",
                ));
            }
            (c.to_pem(), k.to_pem())
        }
        None => {
            let old_key = PrivateKey::parse(required(files, &key_path)?)
                .map_err(|e| file_error(&key_path, e))?;
            let algorithm = old_key.algorithm().ok_or_else(|| {
                file_error(&key_path, "has a key type kubeadm cannot use for a CA")
            })?;
            let cn = st
                .old
                .common_name
                .clone()
                .unwrap_or_else(|| ca.common_name().into());
            let issued =
                leaf::issue_ca_for(&cn, algorithm, opts.validity, now, rng).map_err(|e| {
                    RotationError::Issue {
                        what: format!("the new {} CA", ca.name()),
                        reason: e.to_string(),
                    }
                })?;
            (issued.cert.to_pem(), issued.key.to_pem())
        }
    };
    Ok(StepPlan {
        writes: vec![
            FileWrite {
                path: new_key_path(ca),
                bytes: key_pem.into_bytes(),
                secret: true,
            },
            FileWrite {
                path: new_cert_path(ca),
                bytes: cert_pem.into_bytes(),
                secret: false,
            },
        ],
        removes: Vec::new(),
        next: vec![
            format!(
                "copy {0} and {1} to the same paths on every other control-plane node (e.g. scp -p), then check with `kcerts fleet` that they are identical",
                new_cert_path(ca),
                new_key_path(ca)
            ),
            format!(
                "then run `kcerts ca rotate trust --ca {} --apply` on every control-plane node",
                ca.name()
            ),
        ],
    })
}

fn pem_of(certs: &[&Certificate]) -> Vec<u8> {
    certs
        .iter()
        .map(|c| c.to_pem())
        .collect::<String>()
        .into_bytes()
}

/// Rewrites one trust point to hold `certs`.
fn trust_write(
    files: &NodeFiles,
    path: &NodePath,
    certs: &[&Certificate],
) -> Result<FileWrite, RotationError> {
    let pem = pem_of(certs);
    if path.dir == crate::kubeadm::node::Dir::Kubeconfig {
        let yaml = Kubeconfig::parse(required(files, path)?)
            .and_then(|k| k.with_cluster_ca(&pem))
            .and_then(|k| k.to_yaml())
            .map_err(|e| file_error(path, e))?;
        Ok(FileWrite {
            path: path.clone(),
            bytes: yaml.into_bytes(),
            secret: true,
        })
    } else {
        Ok(FileWrite {
            path: path.clone(),
            bytes: pem,
            secret: false,
        })
    }
}

/// The controller-manager's signing certificate flag pointed at `file` (a name
/// in the same directory as the flag's current value).
fn point_signer_at(files: &NodeFiles, file: &str) -> Result<Option<FileWrite>, RotationError> {
    let path = NodePath::kubeconfig(CONTROLLER_MANAGER_MANIFEST);
    let Some(raw) = bytes(files, &path)? else {
        return Ok(None);
    };
    let current = manifest::flag_values(raw, SIGNING_FLAG);
    let Some(value) = current.first() else {
        return Err(file_error(
            &path,
            manifest::ManifestError::MissingFlag {
                flag: SIGNING_FLAG.into(),
            },
        ));
    };
    let dir = value.rsplit_once('/').map_or("", |(d, _)| d);
    let wanted = if dir.is_empty() {
        file.to_string()
    } else {
        format!("{dir}/{file}")
    };
    if *value == wanted {
        return Ok(None);
    }
    let edited =
        manifest::set_flag(raw, SIGNING_FLAG, &wanted).map_err(|e| file_error(&path, e))?;
    Ok(Some(FileWrite {
        path,
        bytes: edited,
        secret: false,
    }))
}

/// [`SIGNING_CERT`] holding `cert`, unless it does already.
fn signing_cert_write(
    files: &NodeFiles,
    cert: &Certificate,
) -> Result<Option<FileWrite>, RotationError> {
    let path = NodePath::cert(SIGNING_CERT);
    if let Some(b) = bytes(files, &path)?
        && certificate::parse_all(b).is_ok_and(|c| c.len() == 1 && same(&c[0], cert))
    {
        return Ok(None);
    }
    Ok(Some(FileWrite {
        path,
        bytes: cert.to_pem().into_bytes(),
        secret: false,
    }))
}

/// `trust`: old + new in every trust point (old first: the old key still signs).
pub fn trust(files: &NodeFiles, ca: Ca) -> Result<StepPlan, RotationError> {
    let st = status(files, ca)?;
    let Some(new) = &st.new else {
        return Err(wrong_phase(
            "trust",
            ca,
            st.phase,
            "run `prepare` first (or copy the new CA from the node where it was prepared)",
        ));
    };
    if st.signing_with_new {
        return Ok(StepPlan::default());
    }
    let mut plan = StepPlan::default();
    for t in st
        .trust_points
        .iter()
        .filter(|t| !(t.holds_old && t.holds_new))
    {
        plan.writes
            .push(trust_write(files, &t.path, &[&st.old, new])?);
    }
    if ca == Ca::Ca {
        plan.writes.extend(signing_cert_write(files, &st.old)?);
        plan.writes.extend(point_signer_at(files, SIGNING_CERT)?);
        plan.next = vec![
            "do `trust` on every other control-plane node".into(),
            "kube-controller-manager republishes ca.crt (now old + new) into every namespace's kube-root-ca.crt ConfigMap; check: kubectl get configmap kube-root-ca.crt -n default -o jsonpath='{.data.ca\\.crt}' | grep -c 'BEGIN CERTIFICATE'   (expect 2)".into(),
            "the cluster-info ConfigMap that joining nodes read: kubectl -n kube-public get configmap cluster-info -o yaml; set its certificate-authority-data to base64 of ca.crt (old + new)".into(),
            "every worker's kubelet.conf: kubectl config set-cluster <cluster> --kubeconfig=/etc/kubernetes/kubelet.conf --certificate-authority=<copy of ca.crt> --embed-certs, then systemctl restart kubelet".into(),
            "restart the workloads that talk to the API server so they read the bundle: kubectl rollout restart of every Deployment, DaemonSet and StatefulSet (kube-system first)".into(),
            "copies of admin.conf elsewhere (~/.kube/config): update their certificate-authority-data the same way".into(),
        ];
    } else {
        plan.next = vec![format!(
            "do `trust` on every other control-plane node, then `reissue` (nothing cluster-wide reads {})",
            NodePath::cert(ca.cert_file())
        )];
    }
    Ok(plan)
}

/// `reissue`: the new key signs and every leaf of the CA is re-signed by it,
/// keeping names, usages and key type. Refused while any trust point lacks the
/// new CA (a client still holding only the old trust would fail). The leaves
/// last `leaf_validity` (kubeadm's certificateValidityPeriod).
pub fn reissue<R: CryptoRng + ?Sized>(
    files: &NodeFiles,
    ca: Ca,
    leaf_validity: Duration,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<StepPlan, RotationError> {
    let st = status(files, ca)?;
    let Some(new) = &st.new else {
        return Err(wrong_phase(
            "reissue",
            ca,
            st.phase,
            "run `prepare` and `trust` first",
        ));
    };
    if let Some(t) = st.trust_points.iter().find(|t| !t.holds_new) {
        return Err(wrong_phase(
            "reissue",
            ca,
            st.phase,
            &format!(
                "{} does not trust the new CA yet; run `trust` first",
                t.path
            ),
        ));
    }
    if st.signing_with_new && st.leaves.iter().all(|l| l.signer == Signer::New) {
        return Ok(StepPlan::default());
    }
    let new_key_bytes = required(files, &new_key_path(ca))?;
    let new_key = PrivateKey::parse(new_key_bytes).map_err(|e| file_error(&new_key_path(ca), e))?;
    let bundle = pem_of(&[new, &st.old]);
    // Renew the leaves against a view of the node in which the new CA signs.
    let mut view = files.clone();
    view.insert(NodePath::cert(ca.cert_file()), bundle.clone());
    view.insert(NodePath::cert(ca.key_file()), new_key.to_pem().into_bytes());
    SigningCa::new(new.clone(), new_key.clone()).map_err(|e| file_error(&new_key_path(ca), e))?;

    let mut plan = StepPlan::default();
    plan.writes.push(FileWrite {
        path: NodePath::cert(ca.key_file()),
        bytes: new_key.to_pem().into_bytes(),
        secret: true,
    });
    plan.writes.push(FileWrite {
        path: NodePath::cert(ca.cert_file()),
        bytes: bundle.clone(),
        secret: false,
    });
    let rows: Vec<&'static Row> = leaf_rows(ca)
        .filter(|r| st.leaves.iter().any(|l| l.name == r.name))
        .collect();
    // Same names, usages and key type as each old leaf.
    let opts = renewal::Options {
        validity: leaf_validity,
        ..renewal::Options::default()
    };
    for p in renewal::plan(&view, &rows, &opts, now, rng) {
        match p.outcome {
            Outcome::Renewed { writes, .. } => {
                for mut w in writes {
                    // Kubeconfigs keep trusting both CAs until `finish`.
                    if w.path.dir == crate::kubeadm::node::Dir::Kubeconfig {
                        w = trust_write_bytes(&w, &bundle)?;
                    }
                    plan.writes.push(w);
                }
            }
            Outcome::Failed(e) => {
                return Err(file_error(&e.path, e.kind));
            }
            _ => {}
        }
    }
    // kubelet.conf is not a kubeadm row: its CA data keeps old + new as well.
    if ca == Ca::Ca {
        plan.writes.extend(signing_cert_write(files, new)?);
        plan.next = vec![
            "do `reissue` on every other control-plane node".into(),
            "kubelet client certificates (kubelet-client-current.pem) that `reissue` did not re-sign are signed by the old CA until the kubelets rotate them: on a control-plane node whose kubelet directory was elsewhere, run `reissue` again with --kubelet-pki-dir (`finish` refuses until then); on workers, `kcerts kubelet client` or approve their CSRs (`kubectl get csr`)".into(),
            "service-account tokens keep working: they are signed by sa.key, not by the CA".into(),
            format!("when every node is reissued and every client uses new certificates: `kcerts ca rotate finish --ca {} --apply` on every control-plane node", ca.name()),
        ];
    } else {
        plan.next = vec![format!(
            "do `reissue` on every other control-plane node, then `finish` (kcerts ca rotate finish --ca {} --apply)",
            ca.name()
        )];
    }
    Ok(plan)
}

fn trust_write_bytes(w: &FileWrite, bundle: &[u8]) -> Result<FileWrite, RotationError> {
    let yaml = Kubeconfig::parse(&w.bytes)
        .and_then(|k| k.with_cluster_ca(bundle))
        .and_then(|k| k.to_yaml())
        .map_err(|e| file_error(&w.path, e))?;
    Ok(FileWrite {
        path: w.path.clone(),
        bytes: yaml.into_bytes(),
        secret: w.secret,
    })
}

/// `finish`: only the new CA is trusted; the `.new` copies and the signing
/// file are removed (the CLI keeps them in the backup).
/// `kubelet_client` as for [`status_of`]: finish is refused while it is signed
/// by the old CA.
pub fn finish(
    files: &NodeFiles,
    ca: Ca,
    kubelet_client: Option<&[u8]>,
) -> Result<StepPlan, RotationError> {
    let st = status_of(files, ca, kubelet_client)?;
    let Some(new) = &st.new else {
        return Err(wrong_phase(
            "finish",
            ca,
            st.phase,
            "no rotation is under way",
        ));
    };
    if !st.signing_with_new {
        return Err(wrong_phase("finish", ca, st.phase, "run `reissue` first"));
    }
    if let Some(l) = st.leaves.iter().find(|l| l.signer != Signer::New) {
        return Err(wrong_phase(
            "finish",
            ca,
            st.phase,
            &if l.name == KUBELET_CLIENT {
                format!("{} is not signed by the new CA{}", l.name, leaf_fix(l))
            } else {
                format!(
                    "{} is not signed by the new CA; run `reissue` again",
                    l.name
                )
            },
        ));
    }
    let mut plan = StepPlan::default();
    for t in st
        .trust_points
        .iter()
        .filter(|t| t.holds_old || !t.holds_new)
    {
        plan.writes.push(trust_write(files, &t.path, &[new])?);
    }
    if ca == Ca::Ca {
        plan.writes.extend(point_signer_at(
            files,
            &crate::kubeadm::inventory::Ca::Ca.cert_file(),
        )?);
        if files.exists(&NodePath::cert(SIGNING_CERT)) {
            plan.removes.push(NodePath::cert(SIGNING_CERT));
        }
    }
    for p in [new_cert_path(ca), new_key_path(ca)] {
        if files.exists(&p) {
            plan.removes.push(p);
        }
    }
    plan.next = vec![
        "do `finish` on every other control-plane node".into(),
        "then drop the old CA from the cluster-wide copies too (cluster-info ConfigMap, workers' kubelet.conf, kubeconfig copies), as in the trust step".into(),
    ];
    Ok(plan)
}

/// Plans one step. `kubelet_client` as for [`status_of`] (`finish` checks it;
/// the CLI re-signs it in `reissue`).
pub fn plan_step<R: CryptoRng + ?Sized>(
    files: &NodeFiles,
    ca: Ca,
    step: Step,
    prepare_opts: &PrepareOptions,
    kubelet_client: Option<&[u8]>,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<StepPlan, RotationError> {
    match step {
        Step::Prepare => prepare(files, ca, prepare_opts, now, rng),
        Step::Trust => trust(files, ca),
        Step::Reissue => reissue(files, ca, prepare_opts.leaf_validity, now, rng),
        Step::Finish => finish(files, ca, kubelet_client),
    }
}

/// Applies a plan to in-memory files (what the CLI does on disk), for tests
/// and for planning the next phase of a dry run.
pub fn apply_in_memory(files: &NodeFiles, plan: &StepPlan) -> NodeFiles {
    let mut out = files.clone();
    for w in &plan.writes {
        out.insert(w.path.clone(), w.bytes.clone());
    }
    for r in &plan.removes {
        out.files.remove(r);
    }
    out
}

/// Which location a row's certificate is in, for messages.
pub fn row_path(row: &Row) -> NodePath {
    match row.location {
        Location::CertDir { base } => NodePath::cert(format!("{base}.crt")),
        Location::Kubeconfig { file } => NodePath::kubeconfig(file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::pki::{self, PkiOptions};
    use crate::x509::keys::KeyAlgorithm;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn node() -> NodeFiles {
        let opts = PkiOptions {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            ..PkiOptions::example()
        };
        let g = pki::generate(&opts, NOW, &mut crate::seeded_rng(11)).unwrap();
        NodeFiles::from_generated(&g)
    }

    fn step(files: &NodeFiles, ca: Ca, s: Step) -> NodeFiles {
        let plan = plan_step(
            files,
            ca,
            s,
            &PrepareOptions::default(),
            None,
            NOW,
            &mut crate::seeded_rng(5),
        )
        .unwrap();
        apply_in_memory(files, &plan)
    }

    #[test]
    fn every_phase_is_read_back_from_the_files() {
        for ca in Ca::ALL {
            let n0 = node();
            assert_eq!(status(&n0, ca).unwrap().phase, Phase::Idle);
            let n1 = step(&n0, ca, Step::Prepare);
            assert_eq!(status(&n1, ca).unwrap().phase, Phase::Prepared, "{ca:?}");
            let n2 = step(&n1, ca, Step::Trust);
            let st = status(&n2, ca).unwrap();
            assert_eq!(st.phase, Phase::Trusted, "{ca:?}: {:?}", st.left);
            assert!(st.trust_points.iter().all(|t| t.holds_old && t.holds_new));
            let n3 = step(&n2, ca, Step::Reissue);
            let st = status(&n3, ca).unwrap();
            assert_eq!(st.phase, Phase::Reissued);
            assert!(
                st.leaves.iter().all(|l| l.signer == Signer::New),
                "{:?}",
                st.leaves
            );
            assert!(!st.leaves.is_empty());
            let new_serial = st.new_serial.clone().unwrap();
            let n4 = step(&n3, ca, Step::Finish);
            let st = status(&n4, ca).unwrap();
            assert_eq!(st.phase, Phase::Idle);
            // The new CA is now the only one: every trust point holds it alone.
            assert_eq!(st.old_serial, new_serial);
            for t in &st.trust_points {
                let certs = trusted_certs(&n4, &t.path).unwrap();
                assert_eq!(certs.len(), 1, "{}", t.path);
                assert_eq!(certs[0].serial, new_serial);
            }
            assert!(!n4.exists(&new_cert_path(ca)));
            // The other CAs were not touched.
            for other in Ca::ALL.into_iter().filter(|c| *c != ca) {
                assert_eq!(
                    n4.get(&NodePath::cert(other.cert_file())),
                    n0.get(&NodePath::cert(other.cert_file()))
                );
            }
        }
    }

    #[test]
    fn an_old_kubelet_client_certificate_keeps_the_rotation_open() {
        let n2 = step(&step(&node(), Ca::Ca, Step::Prepare), Ca::Ca, Step::Trust);
        let n3 = step(&n2, Ca::Ca, Step::Reissue);
        // Stand-ins for kubelet-client-current.pem: a client certificate of
        // each CA (the kubelet's pair file starts with its certificate).
        let client = NodePath::cert("apiserver-kubelet-client.crt");
        let pem = |f: &NodeFiles| match f.get(&client) {
            Some(FileContent::Bytes(b)) => b.clone(),
            other => panic!("{other:?}"),
        };
        let (old_signed, new_signed) = (&pem(&n2)[..], &pem(&n3)[..]);
        let st = status_of(&n3, Ca::Ca, Some(old_signed)).unwrap();
        assert_eq!(st.phase, Phase::Reissued);
        assert_eq!(st.kubelet_client, Some(Signer::Old));
        assert!(st.kubelet_client_left());
        assert!(
            st.left.iter().any(|l| l
                .contains("kubelet-client-current.pem is not signed by the new CA")
                && l.contains("--kubelet-pki-dir")),
            "{:?}",
            st.left
        );
        let e = finish(&n3, Ca::Ca, Some(old_signed))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("kubelet-client-current.pem") && e.contains("kcerts kubelet client"),
            "{e}"
        );
        let st = status_of(&n3, Ca::Ca, Some(new_signed)).unwrap();
        assert_eq!(st.kubelet_client, Some(Signer::New));
        assert!(!st.kubelet_client_left());
        assert!(finish(&n3, Ca::Ca, Some(new_signed)).is_ok());
        // Other CAs do not count the kubelet's certificate.
        let st = status_of(&n3, Ca::FrontProxyCa, Some(old_signed)).unwrap();
        assert_eq!(st.kubelet_client, None);
    }

    #[test]
    fn steps_are_idempotent_and_ordered() {
        let n1 = step(&node(), Ca::Ca, Step::Prepare);
        let again = plan_step(
            &n1,
            Ca::Ca,
            Step::Prepare,
            &PrepareOptions::default(),
            None,
            NOW,
            &mut crate::seeded_rng(6),
        )
        .unwrap();
        assert!(again.writes.is_empty());
        let e = reissue(
            &n1,
            Ca::Ca,
            leaf::DEFAULT_VALIDITY,
            NOW,
            &mut crate::seeded_rng(1),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("does not trust the new CA yet"),
            "{e}"
        );
        assert!(finish(&n1, Ca::Ca, None).is_err());
        let n2 = step(&n1, Ca::Ca, Step::Trust);
        assert!(trust(&n2, Ca::Ca).unwrap().writes.is_empty());
    }

    #[test]
    fn a_half_trusted_node_is_prepared_and_reissue_names_the_file() {
        let n1 = step(&node(), Ca::Ca, Step::Prepare);
        let mut plan = trust(&n1, Ca::Ca).unwrap();
        plan.writes.retain(|w| w.path.rel != "scheduler.conf");
        let half = apply_in_memory(&n1, &plan);
        let st = status(&half, Ca::Ca).unwrap();
        assert_eq!(st.phase, Phase::Prepared);
        assert_eq!(st.left, ["scheduler.conf does not trust the new CA yet"]);
        let e = reissue(
            &half,
            Ca::Ca,
            leaf::DEFAULT_VALIDITY,
            NOW,
            &mut crate::seeded_rng(1),
        )
        .unwrap_err();
        assert!(e.to_string().contains("scheduler.conf"), "{e}");
    }
}
