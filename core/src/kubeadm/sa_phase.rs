//! Where a node stands in the rotation of the service-account signing key,
//! read from its files and the static pod manifests' flags (which files the
//! apiserver accepts tokens with, which key it and kube-controller-manager sign
//! with): the phases of `kcerts sa rotate` (the plans are `sa_rotation`) and
//! `kcerts sa status`, and what `kcerts fleet` compares across nodes.
//!
//! Uses `x509` (keys) and `kubeadm` (files, manifests).

use serde::Serialize;

use crate::kubeadm::ca_phase::RotationError;
use crate::kubeadm::manifest;
use crate::kubeadm::node::{FileContent, NodeFiles, NodePath};
use crate::x509::encoding;
use crate::x509::keys::{self, PrivateKey};

/// The apiserver's manifest, in the kubeconfig dir.
pub const APISERVER_MANIFEST: &str = "manifests/kube-apiserver.yaml";
/// kube-controller-manager's manifest, in the kubeconfig dir.
pub const CONTROLLER_MANAGER_MANIFEST: &str = "manifests/kube-controller-manager.yaml";
/// The new private key `prepare` writes, in the cert dir.
pub const NEW_KEY: &str = "sa.new.key";
/// The new public key `prepare` writes, in the cert dir.
pub const NEW_PUB: &str = "sa.new.pub";
/// The apiserver's flag for a public key it accepts tokens with.
pub const VERIFY_FLAG: &str = "service-account-key-file";
/// The apiserver's flag for the key it signs tokens with.
pub const SIGNING_FLAG: &str = "service-account-signing-key-file";
/// kube-controller-manager's flag for the key it signs tokens with.
pub const KCM_FLAG: &str = "service-account-private-key-file";

/// Where a node stands in the rotation of the service-account key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaPhase {
    /// No rotation under way.
    Idle,
    /// The new key pair exists; the apiserver does not accept it yet.
    Prepared,
    /// The apiserver accepts both keys; the old one signs.
    Trusted,
    /// The new key signs; the old one is still accepted.
    Switched,
}

impl SaPhase {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SaPhase::Idle => "idle",
            SaPhase::Prepared => "prepared",
            SaPhase::Trusted => "trusted",
            SaPhase::Switched => "switched",
        }
    }
}

/// The command that runs `step` (`trust`, `switch`, `finish`) of the rotation
/// of the service-account key on a node: `kcerts sa rotate STEP --apply`.
pub fn rotate_command(step: &str) -> String {
    format!("kcerts sa rotate {step} --apply")
}

/// What to run next on `nodes` (their names, for the text) in `phase`, `None`
/// meaning they do not hold the new pair yet (it is to be copied there first);
/// no step once idle again.
pub fn next_step(phase: Option<SaPhase>, nodes: &str) -> Option<String> {
    Some(match phase {
        None => format!(
            "copy pki/{NEW_KEY} and pki/{NEW_PUB} to {nodes}, then `{}` there",
            rotate_command("trust")
        ),
        Some(SaPhase::Prepared) => format!("`{}` on {nodes}", rotate_command("trust")),
        Some(SaPhase::Trusted) => format!("`{}` on {nodes}", rotate_command("switch")),
        Some(SaPhase::Switched) => format!(
            "once every token signed by the old key is replaced (bound tokens within their lifetime, 1h by default), `{}` on {nodes}",
            rotate_command("finish")
        ),
        Some(SaPhase::Idle) => return None,
    })
}

/// The phase and the flags it was read from.
#[derive(Debug, Clone, Serialize)]
pub struct SaStatus {
    /// The phase.
    pub phase: SaPhase,
    /// The apiserver's `--service-account-key-file` values.
    pub verify_files: Vec<String>,
    /// The apiserver's `--service-account-signing-key-file`.
    pub apiserver_signing_file: Option<String>,
    /// kube-controller-manager's `--service-account-private-key-file`.
    pub controller_manager_signing_file: Option<String>,
}

pub(crate) fn file_error(path: &NodePath, reason: impl std::fmt::Display) -> RotationError {
    RotationError::File {
        path: path.clone(),
        reason: reason.to_string(),
    }
}

pub(crate) fn required<'a>(
    files: &'a NodeFiles,
    path: &NodePath,
) -> Result<&'a [u8], RotationError> {
    match files.get(path) {
        Some(FileContent::Bytes(b)) => Ok(b),
        Some(FileContent::Unreadable(r)) => Err(file_error(path, format!("cannot be read: {r}"))),
        None => Err(file_error(
            path,
            "is missing (the service-account rotation edits it)",
        )),
    }
}

pub(crate) fn file_name(value: &str) -> &str {
    value.rsplit('/').next().unwrap_or(value)
}

/// Whether a manifest's file `value` is the new key file `new` (`sa.new.key`,
/// `sa.new.pub`): by name, or, half-way through `finish` (sa.key and sa.pub
/// already hold the new pair, the `.new` files not yet removed), by content.
fn is_new(files: &NodeFiles, value: &str, new: &str) -> bool {
    let name = file_name(value);
    if name == new {
        return true;
    }
    match (
        files.get(&NodePath::cert(name)),
        files.get(&NodePath::cert(new)),
    ) {
        (Some(FileContent::Bytes(a)), Some(FileContent::Bytes(b))) => a == b,
        _ => false,
    }
}

/// Whether the private key in the manifest's file `value` is the one of
/// `sa.new.pub` (at the very end of `finish`, sa.new.key is already removed).
fn signs_with_new_pub(files: &NodeFiles, value: &str) -> bool {
    let (Some(FileContent::Bytes(key)), Some(FileContent::Bytes(new_pub))) = (
        files.get(&NodePath::cert(file_name(value))),
        files.get(&NodePath::cert(NEW_PUB)),
    ) else {
        return false;
    };
    PrivateKey::parse(key).is_ok_and(|k| {
        encoding::to_pem("PUBLIC KEY", &keys::spki_der(&k)).as_bytes() == new_pub.as_slice()
    })
}

/// Where the node stands.
pub fn status(files: &NodeFiles) -> Result<SaStatus, RotationError> {
    let api = NodePath::kubeconfig(APISERVER_MANIFEST);
    let kcm = NodePath::kubeconfig(CONTROLLER_MANAGER_MANIFEST);
    let api_bytes = required(files, &api)?;
    let verify_files = manifest::flag_values(api_bytes, VERIFY_FLAG);
    let apiserver_signing_file = manifest::flag_values(api_bytes, SIGNING_FLAG)
        .into_iter()
        .next();
    let controller_manager_signing_file = match files.get(&kcm) {
        Some(FileContent::Bytes(b)) => manifest::flag_values(b, KCM_FLAG).into_iter().next(),
        _ => None,
    };
    let new_exists = files.exists(&NodePath::cert(NEW_KEY));
    let signs_new = apiserver_signing_file
        .as_deref()
        .is_some_and(|f| is_new(files, f, NEW_KEY) || signs_with_new_pub(files, f));
    let accepts_new = verify_files.iter().any(|f| is_new(files, f, NEW_PUB));
    let phase = match (new_exists, accepts_new, signs_new) {
        (false, false, false) => SaPhase::Idle,
        (_, _, true) => SaPhase::Switched,
        (_, true, false) => SaPhase::Trusted,
        (true, false, false) => SaPhase::Prepared,
    };
    Ok(SaStatus {
        phase,
        verify_files,
        apiserver_signing_file,
        controller_manager_signing_file,
    })
}

/// The public key bits of the key in the manifest's file `value` (read under
/// the cert dir by its file name), whether it holds a private key (`sa.key`)
/// or a public one (`sa.pub`); `None` when it is missing or does not parse.
pub fn key_bits(files: &NodeFiles, value: &str) -> Option<Vec<u8>> {
    let Some(FileContent::Bytes(b)) = files.get(&NodePath::cert(file_name(value))) else {
        return None;
    };
    if let Ok(bits) = PrivateKey::public_key_bits_of(b) {
        return Some(bits);
    }
    encoding::blocks(b)
        .ok()?
        .into_iter()
        .find(|x| x.label == "PUBLIC KEY")
        .and_then(|x| keys::spki_bits(&x.der))
}

impl SaStatus {
    /// The keys (public key bits) the apiserver accepts tokens with; `None`
    /// for a file that is missing or does not parse.
    pub fn accepted(&self, files: &NodeFiles) -> Vec<Option<Vec<u8>>> {
        self.verify_files
            .iter()
            .map(|f| key_bits(files, f))
            .collect()
    }

    /// The keys (public key bits) tokens are signed with on the node: the
    /// apiserver's (bound tokens) and kube-controller-manager's (legacy secret tokens).
    pub fn signing(&self, files: &NodeFiles) -> Vec<Option<Vec<u8>>> {
        [
            &self.apiserver_signing_file,
            &self.controller_manager_signing_file,
        ]
        .into_iter()
        .flatten()
        .map(|f| key_bits(files, f))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_step_names_the_command_and_the_nodes() {
        assert_eq!(
            next_step(None, "cp-2, cp-3").unwrap(),
            "copy pki/sa.new.key and pki/sa.new.pub to cp-2, cp-3, then \
             `kcerts sa rotate trust --apply` there"
        );
        assert_eq!(
            next_step(Some(SaPhase::Trusted), "cp-1").unwrap(),
            "`kcerts sa rotate switch --apply` on cp-1"
        );
        assert!(
            next_step(Some(SaPhase::Switched), "cp-1")
                .unwrap()
                .ends_with("(bound tokens within their lifetime, 1h by default), `kcerts sa rotate finish --apply` on cp-1")
        );
        assert_eq!(next_step(Some(SaPhase::Idle), "cp-1"), None);
    }
}
