//! Where a node stands in the rotation of one of kubeadm's CAs, read from its
//! files only (which CA certificates each trust file holds, which CA signed
//! each leaf, which key `<ca>.key` is): the phases of `kcerts ca rotate` (the
//! plans are `ca_rotation`) and `kcerts ca status`, and what `kcerts fleet`
//! compares across nodes.
//!
//! Uses `x509` and `kubeadm`.

use serde::Serialize;
use thiserror::Error;

use crate::kubeadm::inventory::{self, Ca, Row};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::node::{FileContent, NodeFiles, NodePath};
use crate::x509::certificate::{self, Certificate};
use crate::x509::keys::PrivateKey;

/// The kubeconfigs on a control-plane node whose cluster CA is `ca`.
pub const KUBECONFIGS: [&str; 5] = [
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kubelet.conf",
];
/// Where a node stands in the rotation of one CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
    pub(crate) old: Certificate,
    #[serde(skip)]
    pub(crate) new: Option<Certificate>,
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

pub(crate) fn file_error(path: &NodePath, reason: impl std::fmt::Display) -> RotationError {
    RotationError::File {
        path: path.clone(),
        reason: reason.to_string(),
    }
}

pub(crate) fn bytes<'a>(
    files: &'a NodeFiles,
    path: &NodePath,
) -> Result<Option<&'a [u8]>, RotationError> {
    match files.get(path) {
        None => Ok(None),
        Some(FileContent::Bytes(b)) => Ok(Some(b)),
        Some(FileContent::Unreadable(r)) => Err(file_error(path, format!("cannot be read: {r}"))),
    }
}

pub(crate) fn required<'a>(
    files: &'a NodeFiles,
    path: &NodePath,
) -> Result<&'a [u8], RotationError> {
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

/// The command that runs `step` (`trust`, `reissue`, `finish`) of the rotation
/// of `ca` on a node: `kcerts ca rotate STEP --ca NAME --apply`.
pub fn rotate_command(step: &str, ca: Ca) -> String {
    format!("kcerts ca rotate {step} --ca {} --apply", ca.name())
}

/// What to run next on `nodes` (their names, for the text) in `phase`, `None`
/// meaning they do not hold the new CA yet (it is to be copied there first); no
/// step once idle again.
pub fn next_step(ca: Ca, phase: Option<Phase>, nodes: &str) -> Option<String> {
    let base = ca.base();
    Some(match phase {
        None => format!(
            "copy pki/{base}.new.crt and pki/{base}.new.key to {nodes}, then `{}` there",
            rotate_command("trust", ca)
        ),
        Some(Phase::Prepared) => format!("`{}` on {nodes}", rotate_command("trust", ca)),
        Some(Phase::Trusted) => format!("`{}` on {nodes}", rotate_command("reissue", ca)),
        Some(Phase::Reissued) => format!("`{}` on {nodes}", rotate_command("finish", ca)),
        Some(Phase::Idle) => return None,
    })
}

/// The files that must trust `ca`: its own certificate file (handed to the
/// apiserver's --client-ca-file, kube-controller-manager's --root-ca-file,
/// etcd's --trusted-ca-file, the requestheader CA...) and, for `ca`, the
/// cluster CA data of every kubeconfig present.
pub(crate) fn trust_paths(files: &NodeFiles, ca: Ca) -> Vec<NodePath> {
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

pub(crate) fn trusted_certs(
    files: &NodeFiles,
    path: &NodePath,
) -> Result<Vec<Certificate>, RotationError> {
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

pub(crate) fn same(a: &Certificate, b: &Certificate) -> bool {
    a.der == b.der
}

pub(crate) fn leaf_rows(ca: Ca) -> impl Iterator<Item = &'static Row> {
    inventory::ROWS.iter().filter(move |r| r.ca == ca)
}

/// The kubelet's client certificate file, a leaf of `ca` outside the kubeadm
/// directories (the CLI reads it from `--kubelet-pki-dir`).
pub const KUBELET_CLIENT: &str = "kubelet-client-current.pem";

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
    // `<ca>.new.crt` that is the CA in use (finish stopped before removing it,
    // or a copy made by hand): there is no other CA to trust or drop.
    let new_is_old = new.as_ref().is_some_and(|n| same(&old, n));
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
            holds_old: !new_is_old && certs.iter().any(|c| same(c, &old)),
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
        Some(_) => {
            left.push(format!(
                "{} is the CA in use, not a new one: `finish` removes the copy",
                new_cert_path(ca)
            ));
            Phase::Idle
        }
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
pub(crate) fn leaf_fix(l: &Leaf) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_step_names_the_command_and_the_nodes() {
        assert_eq!(
            next_step(Ca::EtcdCa, None, "cp-2").unwrap(),
            "copy pki/etcd/ca.new.crt and pki/etcd/ca.new.key to cp-2, then \
             `kcerts ca rotate trust --ca etcd-ca --apply` there"
        );
        assert_eq!(
            next_step(Ca::Ca, Some(Phase::Trusted), "cp-1, cp-3").unwrap(),
            "`kcerts ca rotate reissue --ca ca --apply` on cp-1, cp-3"
        );
        assert_eq!(
            next_step(Ca::FrontProxyCa, Some(Phase::Reissued), "cp-1").unwrap(),
            "`kcerts ca rotate finish --ca front-proxy-ca --apply` on cp-1"
        );
        assert_eq!(next_step(Ca::Ca, Some(Phase::Idle), "cp-1"), None);
    }
}
