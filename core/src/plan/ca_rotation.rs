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
use time::{Duration, OffsetDateTime};

use crate::issue::leaf::{self, SigningCa};
pub use crate::kubeadm::ca_phase::{
    KUBECONFIGS, KUBELET_CLIENT, Leaf, Phase, RotationError, Signer, Status, TrustPoint,
    new_cert_path, new_key_path, status, status_of,
};
use crate::kubeadm::ca_phase::{
    bytes, file_error, leaf_fix, leaf_rows, required, rotate_command, same,
};
use crate::kubeadm::inventory::{Ca, Location, Row};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::manifest;
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::plan::renewal::{self, FileWrite, Outcome};
use crate::x509::certificate::{self, Certificate};
use crate::x509::keys::PrivateKey;

/// The single-certificate file kube-controller-manager signs with during a
/// rotation of `ca` (in the cert dir).
pub const SIGNING_CERT: &str = "ca-signing.crt";
/// kube-controller-manager's manifest, in the kubeconfig dir.
pub const CONTROLLER_MANAGER_MANIFEST: &str = "manifests/kube-controller-manager.yaml";
const SIGNING_FLAG: &str = "cluster-signing-cert-file";

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
                "then run `{}` on every control-plane node",
                rotate_command("trust", ca)
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
            format!("when every node is reissued and every client uses new certificates: `{}` on every control-plane node", rotate_command("finish", ca)),
        ];
    } else {
        plan.next = vec![format!(
            "do `reissue` on every other control-plane node, then `finish` ({})",
            rotate_command("finish", ca)
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
    use crate::kubeadm::ca_phase::trusted_certs;
    use crate::kubeadm::node::FileContent;
    use crate::test_support::{NOW, ecdsa_example_files};

    fn node() -> NodeFiles {
        ecdsa_example_files(NOW, 11)
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
    fn a_new_ca_that_is_the_ca_in_use_is_a_copy_to_clear_not_a_rotation() {
        // What a `finish` killed before removing the copies leaves, or a copy made
        // by hand: status must not call it `reissued` with the CA "still trusted".
        for ca in Ca::ALL {
            let mut n = node();
            for (from, to) in [
                (NodePath::cert(ca.cert_file()), new_cert_path(ca)),
                (NodePath::cert(ca.key_file()), new_key_path(ca)),
            ] {
                let Some(FileContent::Bytes(b)) = n.get(&from).cloned() else {
                    panic!("{from} missing");
                };
                n.insert(to, b);
            }
            let st = status(&n, ca).unwrap();
            assert_eq!(st.phase, Phase::Idle, "{ca:?}: {:?}", st.left);
            assert!(st.trust_points.iter().all(|t| !t.holds_old && t.holds_new));
            assert_eq!(st.left.len(), 1, "{:?}", st.left);
            assert!(st.left[0].contains("is the CA in use"), "{}", st.left[0]);
            // prepare sends the operator to finish, and finish only clears the copies.
            let err = plan_step(
                &n,
                ca,
                Step::Prepare,
                &PrepareOptions::default(),
                None,
                NOW,
                &mut crate::seeded_rng(5),
            )
            .unwrap_err();
            assert!(err.to_string().contains("run `finish` first"), "{err}");
            let done = step(&n, ca, Step::Finish);
            assert!(!done.exists(&new_cert_path(ca)) && !done.exists(&new_key_path(ca)));
            assert_eq!(
                done.get(&NodePath::cert(ca.cert_file())),
                n.get(&NodePath::cert(ca.cert_file()))
            );
            assert_eq!(status(&done, ca).unwrap().phase, Phase::Idle);
        }
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
