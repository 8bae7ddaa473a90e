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
//! The phase reading is `kubeadm::sa_phase` (re-exported here).
//!
//! Uses `x509` (keys), `kubeadm` (files, manifests, phases) and `issue` (PEM of a public key).

use rand_core::CryptoRng;
use time::{Duration, OffsetDateTime};

use crate::issue::pki;
use crate::kubeadm::manifest;
use crate::kubeadm::node::{NodeFiles, NodePath};
pub use crate::kubeadm::sa_phase::{
    APISERVER_MANIFEST, CONTROLLER_MANAGER_MANIFEST, SaPhase, SaStatus, key_bits, status,
};
use crate::kubeadm::sa_phase::{
    KCM_FLAG, NEW_KEY, NEW_PUB, SIGNING_FLAG, VERIFY_FLAG, file_error, file_name, required,
    rotate_command,
};
use crate::plan::ca_rotation::{RotationError, StepPlan};
use crate::plan::renewal::FileWrite;
use crate::x509::keys::{KeyAlgorithm, PrivateKey};

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

/// Every file the rotation reads (beyond [`NodeFiles::wanted`]).
pub fn wanted() -> Vec<NodePath> {
    let mut v = NodeFiles::wanted();
    v.extend([
        NodePath::cert(NEW_KEY),
        NodePath::cert(NEW_PUB),
        NodePath::kubeconfig(APISERVER_MANIFEST),
        NodePath::kubeconfig(CONTROLLER_MANAGER_MANIFEST),
    ]);
    v
}

/// `value` with its file name replaced by `name` (same directory).
fn sibling(value: &str, name: &str) -> String {
    match value.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}"),
        None => name.to_string(),
    }
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
                .map_err(|e| file_error(&NodePath::cert(NEW_KEY), e))?;
            plan.writes.push(FileWrite {
                path: NodePath::cert(NEW_KEY),
                bytes: key.to_pem().into_bytes(),
                secret: true,
            });
            plan.writes.push(FileWrite {
                path: NodePath::cert(NEW_PUB),
                bytes: pki::public_key_pem(&key).into_bytes(),
                secret: false,
            });
            plan.next = vec![format!(
                "copy pki/{NEW_KEY} and pki/{NEW_PUB} to every other control-plane node, then `{}` on each",
                rotate_command("trust")
            )];
        }
        SaStep::Trust => {
            if st.phase == SaPhase::Idle {
                return Err(wrong("trust", st.phase, "run `prepare` first"));
            }
            let edited = manifest::add_flag(api, VERIFY_FLAG, &sibling(&old_pub, NEW_PUB))
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
            let new_key = sibling(&signing, NEW_KEY);
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
            let new_key = match files.get(&NodePath::cert(NEW_KEY)) {
                Some(_) => required(files, &NodePath::cert(NEW_KEY))?,
                None => required(files, &NodePath::cert("sa.key"))?,
            }
            .to_vec();
            let new_pub = match files.get(&NodePath::cert(NEW_PUB)) {
                Some(_) => required(files, &NodePath::cert(NEW_PUB))?,
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
            let mut api2 = manifest::remove_flag(api, VERIFY_FLAG, &sibling(&old_pub, NEW_PUB))
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
            plan.removes = [NodePath::cert(NEW_KEY), NodePath::cert(NEW_PUB)]
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

/// kube-apiserver's flag capping the lifetime of the tokens it issues.
pub const MAX_EXPIRATION_FLAG: &str = "service-account-max-token-expiration";
/// kube-apiserver's flag (default true) that extends the tokens the kubelet
/// mounts in pods to [`EXTENDED_LIFETIME`].
pub const EXTEND_FLAG: &str = "service-account-extend-token-expiration";
/// What an extended pod token lasts: kube-apiserver's
/// `serviceaccount.ExpirationExtensionSeconds` (24 * 365 hours), whatever
/// `--service-account-max-token-expiration` says.
pub const EXTENDED_LIFETIME: Duration = Duration::hours(24 * 365);
/// The lifetime the kubelet asks for a pod's token (`WarnOnlyBoundTokenExpirationSeconds`,
/// 1h7s): only requests of exactly this lifetime are extended.
const KUBELET_REQUEST: Duration = Duration::seconds(3607);
/// The kubelet replaces a mounted token at 80% of its lifetime or after 24 hours.
pub const KUBELET_REFRESH: Duration = Duration::hours(24);

/// How long tokens signed by the old key may stay valid after this node's
/// apiserver stopped signing with it (the `switch`), from its manifest flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldTokens {
    /// Every token signed before `switched` has expired at `until`.
    Until {
        /// When the switch happened.
        switched: OffsetDateTime,
        /// The longest lifetime a token gets.
        lifetime: Duration,
        /// `switched + lifetime`.
        until: OffsetDateTime,
        /// Which flags decide the lifetime.
        why: String,
    },
    /// Nothing bounds a token's lifetime: why.
    Unbounded(String),
}

/// The longest lifetime kube-apiserver gives a token, from its manifest:
/// `--service-account-max-token-expiration` caps every TokenRequest (unset: no
/// cap, any lifetime may be asked for), except that with
/// `--service-account-extend-token-expiration` (default true) the tokens the
/// kubelet asks for pods (1h7s) are issued for [`EXTENDED_LIFETIME`] (a cap
/// below 1h7s shortens those requests first, so none is extended).
pub fn old_tokens(apiserver_manifest: &[u8], switched: OffsetDateTime) -> OldTokens {
    let max = manifest::flag_values(apiserver_manifest, MAX_EXPIRATION_FLAG);
    let extend = manifest::flag_values(apiserver_manifest, EXTEND_FLAG)
        .last()
        .is_none_or(|v| v != "false");
    let Some(raw) = max.last() else {
        return OldTokens::Unbounded(format!(
            "kube-apiserver has no --{MAX_EXPIRATION_FLAG}, so a TokenRequest (`kubectl create token --duration`) may ask for any lifetime"
        ));
    };
    let max = match crate::kubeadm::duration::parse_go(raw) {
        Ok(d) if d > Duration::ZERO => d,
        Ok(_) => {
            return OldTokens::Unbounded(format!(
                "--{MAX_EXPIRATION_FLAG}={raw} sets no cap, so a TokenRequest may ask for any lifetime"
            ));
        }
        Err(e) => return OldTokens::Unbounded(format!("--{MAX_EXPIRATION_FLAG}: {e}")),
    };
    let (lifetime, why) = if extend && max >= KUBELET_REQUEST {
        (
            max.max(EXTENDED_LIFETIME),
            format!(
                "--{MAX_EXPIRATION_FLAG}={raw}, and --{EXTEND_FLAG} (default true) issues the tokens the kubelet mounts in pods for 1 year"
            ),
        )
    } else {
        (max, format!("--{MAX_EXPIRATION_FLAG}={raw}"))
    };
    OldTokens::Until {
        switched,
        lifetime,
        until: switched + lifetime,
        why,
    }
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
    fn with_flags(flags: &[&str]) -> Vec<u8> {
        let extra: String = flags.iter().map(|f| format!("    - --{f}\n")).collect();
        API.replace(
            "    - --service-account-issuer",
            &format!("{extra}    - --service-account-issuer"),
        )
        .into_bytes()
    }

    #[test]
    fn old_tokens_last_as_long_as_the_apiserver_lets_a_token_live() {
        use time::macros::datetime;
        let t = datetime!(2026-03-01 12:00 UTC);
        // kubeadm's default: no cap at all.
        let OldTokens::Unbounded(why) = old_tokens(API.as_bytes(), t) else {
            panic!("bounded without a cap")
        };
        assert!(
            why.contains("no --service-account-max-token-expiration"),
            "{why}"
        );
        // A cap with extension (the default) still lets the kubelet's pod tokens live a year.
        let OldTokens::Until { until, why, .. } =
            old_tokens(&with_flags(&["service-account-max-token-expiration=2h"]), t)
        else {
            panic!("unbounded")
        };
        assert_eq!(until, datetime!(2027-03-01 12:00 UTC));
        assert!(why.contains("1 year"), "{why}");
        let OldTokens::Until {
            until, lifetime, ..
        } = old_tokens(
            &with_flags(&[
                "service-account-max-token-expiration=2h",
                "service-account-extend-token-expiration=false",
            ]),
            t,
        )
        else {
            panic!("unbounded")
        };
        assert_eq!(
            (lifetime, until),
            (Duration::hours(2), datetime!(2026-03-01 14:00 UTC))
        );
        // A cap under the kubelet's 1h7s request shortens it first: no extension.
        let OldTokens::Until { lifetime, .. } = old_tokens(
            &with_flags(&["service-account-max-token-expiration=30m"]),
            t,
        ) else {
            panic!("unbounded")
        };
        assert_eq!(lifetime, Duration::minutes(30));
        // A cap of 10 years with extension: the cap is the longer.
        let OldTokens::Until { lifetime, .. } = old_tokens(
            &with_flags(&["service-account-max-token-expiration=87600h"]),
            t,
        ) else {
            panic!("unbounded")
        };
        assert_eq!(lifetime, Duration::hours(87600));
        assert!(matches!(
            old_tokens(&with_flags(&["service-account-max-token-expiration=soon"]), t),
            OldTokens::Unbounded(w) if w.contains("soon")
        ));
    }
}
