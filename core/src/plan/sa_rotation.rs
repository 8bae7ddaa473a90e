//! Rotation of the service-account signing key (`sa.key`/`sa.pub`) in four
//! phases, planned in memory from the node's files and static pod manifests:
//!
//! 1. `prepare`: a new key pair beside the old, `sa.new.key` / `sa.new.pub`;
//! 2. `trust`: the apiserver also accepts tokens signed by the new key (a second
//!    `--service-account-key-file`);
//! 3. `switch`: the apiserver (`--service-account-signing-key-file`) and
//!    kube-controller-manager (`--service-account-private-key-file`) sign with
//!    the new key; tokens signed by the old key are still accepted;
//! 4. `finish`: the new pair becomes `sa.key` / `sa.pub` and the old public key
//!    is no longer accepted.
//!
//! `switch` is its own phase because on several control-plane nodes every
//! apiserver must accept the new key before any of them signs with it, and the
//! old key must stay accepted until every token signed by it has been replaced
//! (bound tokens are refreshed by the kubelet within their lifetime, an hour by
//! default). The phase is read from the files and manifests, so each phase can
//! be re-run.
//!
//! Uses `x509` (keys), `kubeadm` (files, manifests) and `issue` (PEM of a public key).

use rand_core::CryptoRng;
use serde::Serialize;

use crate::issue::pki;
use crate::kubeadm::manifest;
use crate::kubeadm::node::{FileContent, NodeFiles, NodePath};
use crate::plan::ca_rotation::{RotationError, StepPlan};
use crate::plan::renewal::FileWrite;
use crate::x509::keys::{KeyAlgorithm, PrivateKey};

/// The apiserver's manifest, in the kubeconfig dir.
pub const APISERVER_MANIFEST: &str = "manifests/kube-apiserver.yaml";
/// kube-controller-manager's manifest, in the kubeconfig dir.
pub const CONTROLLER_MANAGER_MANIFEST: &str = "manifests/kube-controller-manager.yaml";
const VERIFY_FLAG: &str = "service-account-key-file";
const SIGNING_FLAG: &str = "service-account-signing-key-file";
const KCM_FLAG: &str = "service-account-private-key-file";

/// Where a node stands in the rotation of the service-account key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// A phase of `kcerts sa rotate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaStep {
    /// Make the new key pair.
    Prepare,
    /// Accept the new key too.
    Trust,
    /// Sign with the new key.
    Switch,
    /// Accept only the new key, under the old file names.
    Finish,
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

fn file_error(path: &NodePath, reason: impl std::fmt::Display) -> RotationError {
    RotationError::File {
        path: path.clone(),
        reason: reason.to_string(),
    }
}

fn required<'a>(files: &'a NodeFiles, path: &NodePath) -> Result<&'a [u8], RotationError> {
    match files.get(path) {
        Some(FileContent::Bytes(b)) => Ok(b),
        Some(FileContent::Unreadable(r)) => Err(file_error(path, format!("cannot be read: {r}"))),
        None => Err(file_error(
            path,
            "is missing (the service-account rotation edits it)",
        )),
    }
}

/// Every file the rotation reads (beyond [`NodeFiles::wanted`]).
pub fn wanted() -> Vec<NodePath> {
    let mut v = NodeFiles::wanted();
    v.extend([
        NodePath::cert("sa.new.key"),
        NodePath::cert("sa.new.pub"),
        NodePath::kubeconfig(APISERVER_MANIFEST),
        NodePath::kubeconfig(CONTROLLER_MANAGER_MANIFEST),
    ]);
    v
}

fn file_name(value: &str) -> &str {
    value.rsplit('/').next().unwrap_or(value)
}

/// `value` with its file name replaced by `name` (same directory).
fn sibling(value: &str, name: &str) -> String {
    match value.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}"),
        None => name.to_string(),
    }
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
        files.get(&NodePath::cert("sa.new.pub")),
    ) else {
        return false;
    };
    PrivateKey::parse(key).is_ok_and(|k| pki::public_key_pem(&k).as_bytes() == new_pub.as_slice())
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
    let new_exists = files.exists(&NodePath::cert("sa.new.key"));
    let signs_new = apiserver_signing_file
        .as_deref()
        .is_some_and(|f| is_new(files, f, "sa.new.key") || signs_with_new_pub(files, f));
    let accepts_new = verify_files.iter().any(|f| is_new(files, f, "sa.new.pub"));
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

fn wrong(step: &'static str, phase: SaPhase, hint: &str) -> RotationError {
    RotationError::WrongPhase {
        step,
        ca: "service-account",
        phase: phase.name(),
        hint: hint.into(),
    }
}

fn manifest_write(path: &str, bytes: Vec<u8>) -> FileWrite {
    FileWrite {
        path: NodePath::kubeconfig(path),
        bytes,
        secret: false,
    }
}

/// Plans one phase.
pub fn plan_step<R: CryptoRng + ?Sized>(
    files: &NodeFiles,
    step: SaStep,
    rng: &mut R,
) -> Result<StepPlan, RotationError> {
    let st = status(files)?;
    let api_path = NodePath::kubeconfig(APISERVER_MANIFEST);
    let kcm_path = NodePath::kubeconfig(CONTROLLER_MANAGER_MANIFEST);
    let api = required(files, &api_path)?;
    let old_pub = st
        .verify_files
        .iter()
        .find(|f| file_name(f) == "sa.pub")
        .cloned()
        .ok_or_else(|| {
            file_error(
                &api_path,
                manifest::ManifestError::MissingFlag {
                    flag: VERIFY_FLAG.into(),
                },
            )
        })?;
    let mut plan = StepPlan::default();
    match step {
        SaStep::Prepare => {
            if st.phase != SaPhase::Idle {
                return Ok(plan);
            }
            let old = PrivateKey::parse(required(files, &NodePath::cert("sa.key"))?)
                .map_err(|e| file_error(&NodePath::cert("sa.key"), e))?;
            let key = PrivateKey::generate(old.algorithm().unwrap_or(KeyAlgorithm::Rsa2048), rng)
                .map_err(|e| file_error(&NodePath::cert("sa.new.key"), e))?;
            plan.writes.push(FileWrite {
                path: NodePath::cert("sa.new.key"),
                bytes: key.to_pem().into_bytes(),
                secret: true,
            });
            plan.writes.push(FileWrite {
                path: NodePath::cert("sa.new.pub"),
                bytes: pki::public_key_pem(&key).into_bytes(),
                secret: false,
            });
            plan.next = vec![
                "copy pki/sa.new.key and pki/sa.new.pub to every other control-plane node, then `kcerts sa rotate trust --apply` on each".into(),
            ];
        }
        SaStep::Trust => {
            if st.phase == SaPhase::Idle {
                return Err(wrong("trust", st.phase, "run `prepare` first"));
            }
            let edited = manifest::add_flag(api, VERIFY_FLAG, &sibling(&old_pub, "sa.new.pub"))
                .map_err(|e| file_error(&api_path, e))?;
            if edited != api {
                plan.writes.push(manifest_write(APISERVER_MANIFEST, edited));
            }
            plan.next = vec!["do `trust` on every other control-plane node, then `switch`".into()];
        }
        SaStep::Switch => {
            if matches!(st.phase, SaPhase::Idle | SaPhase::Prepared) {
                return Err(wrong(
                    "switch",
                    st.phase,
                    "run `trust` on every control-plane node first",
                ));
            }
            let signing = st.apiserver_signing_file.clone().ok_or_else(|| {
                file_error(
                    &api_path,
                    manifest::ManifestError::MissingFlag {
                        flag: SIGNING_FLAG.into(),
                    },
                )
            })?;
            let new_key = sibling(&signing, "sa.new.key");
            let edited = manifest::set_flag(api, SIGNING_FLAG, &new_key)
                .map_err(|e| file_error(&api_path, e))?;
            if edited != api {
                plan.writes.push(manifest_write(APISERVER_MANIFEST, edited));
            }
            let kcm = required(files, &kcm_path)?;
            let edited = manifest::set_flag(kcm, KCM_FLAG, &new_key)
                .map_err(|e| file_error(&kcm_path, e))?;
            if edited != kcm {
                plan.writes
                    .push(manifest_write(CONTROLLER_MANAGER_MANIFEST, edited));
            }
            plan.next = vec![
                "new tokens are signed by the new key; wait until every token signed by the old key is replaced (bound tokens: within their lifetime, 1h by default; restart pods that hold legacy secret tokens), then `finish` on every control-plane node".into(),
            ];
        }
        SaStep::Finish => {
            if st.phase != SaPhase::Switched {
                if st.phase == SaPhase::Idle {
                    return Ok(plan);
                }
                return Err(wrong("finish", st.phase, "run `switch` first"));
            }
            // A finish stopped after removing sa.new.key: sa.key is the new key already.
            let new_key = match files.get(&NodePath::cert("sa.new.key")) {
                Some(_) => required(files, &NodePath::cert("sa.new.key"))?,
                None => required(files, &NodePath::cert("sa.key"))?,
            }
            .to_vec();
            let new_pub = match files.get(&NodePath::cert("sa.new.pub")) {
                Some(_) => required(files, &NodePath::cert("sa.new.pub"))?,
                None => required(files, &NodePath::cert("sa.pub"))?,
            }
            .to_vec();
            plan.writes.push(FileWrite {
                path: NodePath::cert("sa.key"),
                bytes: new_key,
                secret: true,
            });
            plan.writes.push(FileWrite {
                path: NodePath::cert("sa.pub"),
                bytes: new_pub,
                secret: false,
            });
            let signing = st.apiserver_signing_file.clone().unwrap_or_default();
            let mut api2 =
                manifest::remove_flag(api, VERIFY_FLAG, &sibling(&old_pub, "sa.new.pub"))
                    .map_err(|e| file_error(&api_path, e))?;
            api2 = manifest::set_flag(&api2, SIGNING_FLAG, &sibling(&signing, "sa.key"))
                .map_err(|e| file_error(&api_path, e))?;
            plan.writes.push(manifest_write(APISERVER_MANIFEST, api2));
            let kcm = required(files, &kcm_path)?;
            let kcm_signing = st
                .controller_manager_signing_file
                .clone()
                .unwrap_or_default();
            let kcm2 = manifest::set_flag(kcm, KCM_FLAG, &sibling(&kcm_signing, "sa.key"))
                .map_err(|e| file_error(&kcm_path, e))?;
            plan.writes
                .push(manifest_write(CONTROLLER_MANAGER_MANIFEST, kcm2));
            plan.removes = [NodePath::cert("sa.new.key"), NodePath::cert("sa.new.pub")]
                .into_iter()
                .filter(|p| files.exists(p))
                .collect();
            plan.next = vec![
                "tokens signed by the old key are no longer accepted on this node; do `finish` on every other control-plane node".into(),
            ];
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ca_rotation::apply_in_memory;

    const API: &str = "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --service-account-issuer=https://kubernetes.default.svc.cluster.local\n    - --service-account-key-file=/etc/kubernetes/pki/sa.pub\n    - --service-account-signing-key-file=/etc/kubernetes/pki/sa.key\n    name: kube-apiserver\n";
    const KCM: &str = "spec:\n  containers:\n  - command:\n    - kube-controller-manager\n    - --service-account-private-key-file=/etc/kubernetes/pki/sa.key\n    name: kube-controller-manager\n";

    fn node() -> NodeFiles {
        let mut f = NodeFiles::default();
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256, &mut crate::seeded_rng(1)).unwrap();
        f.insert(NodePath::cert("sa.key"), key.to_pem().into_bytes());
        f.insert(
            NodePath::cert("sa.pub"),
            pki::public_key_pem(&key).into_bytes(),
        );
        f.insert(
            NodePath::kubeconfig(APISERVER_MANIFEST),
            API.as_bytes().to_vec(),
        );
        f.insert(
            NodePath::kubeconfig(CONTROLLER_MANAGER_MANIFEST),
            KCM.as_bytes().to_vec(),
        );
        f
    }

    fn run(f: &NodeFiles, s: SaStep) -> NodeFiles {
        apply_in_memory(f, &plan_step(f, s, &mut crate::seeded_rng(2)).unwrap())
    }

    #[test]
    fn four_phases_read_back_from_the_manifests() {
        let n0 = node();
        assert_eq!(status(&n0).unwrap().phase, SaPhase::Idle);
        let n1 = run(&n0, SaStep::Prepare);
        assert_eq!(status(&n1).unwrap().phase, SaPhase::Prepared);
        assert!(plan_step(&n1, SaStep::Switch, &mut crate::seeded_rng(2)).is_err());
        let n2 = run(&n1, SaStep::Trust);
        let st = status(&n2).unwrap();
        assert_eq!(st.phase, SaPhase::Trusted);
        assert_eq!(
            st.verify_files,
            [
                "/etc/kubernetes/pki/sa.pub",
                "/etc/kubernetes/pki/sa.new.pub"
            ]
        );
        assert!(
            plan_step(&n2, SaStep::Trust, &mut crate::seeded_rng(2))
                .unwrap()
                .writes
                .is_empty()
        );
        let n3 = run(&n2, SaStep::Switch);
        let st = status(&n3).unwrap();
        assert_eq!(st.phase, SaPhase::Switched);
        assert_eq!(
            st.apiserver_signing_file.as_deref(),
            Some("/etc/kubernetes/pki/sa.new.key")
        );
        assert_eq!(
            st.controller_manager_signing_file.as_deref(),
            Some("/etc/kubernetes/pki/sa.new.key")
        );
        let n4 = run(&n3, SaStep::Finish);
        let st = status(&n4).unwrap();
        assert_eq!(st.phase, SaPhase::Idle);
        assert_eq!(st.verify_files, ["/etc/kubernetes/pki/sa.pub"]);
        // The manifests are back to kubeadm's own text; the key pair is the new one.
        assert_eq!(
            n4.get(&NodePath::kubeconfig(APISERVER_MANIFEST)),
            n0.get(&NodePath::kubeconfig(APISERVER_MANIFEST))
        );
        assert_eq!(
            n4.get(&NodePath::cert("sa.key")),
            n1.get(&NodePath::cert("sa.new.key"))
        );
        assert_ne!(
            n4.get(&NodePath::cert("sa.key")),
            n0.get(&NodePath::cert("sa.key"))
        );
        assert!(!n4.exists(&NodePath::cert("sa.new.key")));
    }

    #[test]
    fn a_finish_stopped_half_way_still_reads_as_switched() {
        let n3 = run(
            &run(&run(&node(), SaStep::Prepare), SaStep::Trust),
            SaStep::Switch,
        );
        let plan = plan_step(&n3, SaStep::Finish, &mut crate::seeded_rng(2)).unwrap();
        // Each prefix of finish's writes and removes (in that order), as a crash
        // leaves them: the node still reads as switched, and finish completes.
        let steps = plan.writes.len() + plan.removes.len();
        for n in 0..steps {
            let part = StepPlan {
                writes: plan.writes[..n.min(plan.writes.len())].to_vec(),
                removes: plan.removes[..n.saturating_sub(plan.writes.len())].to_vec(),
                ..StepPlan::default()
            };
            let half = apply_in_memory(&n3, &part);
            assert_eq!(
                status(&half).unwrap().phase,
                SaPhase::Switched,
                "{n} writes"
            );
            let done = run(&half, SaStep::Finish);
            assert_eq!(status(&done).unwrap().phase, SaPhase::Idle, "{n} writes");
            assert_eq!(
                done.get(&NodePath::cert("sa.key")),
                n3.get(&NodePath::cert("sa.new.key"))
            );
        }
    }
}
