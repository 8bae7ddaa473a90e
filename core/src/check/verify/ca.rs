//! verify's checks of the node's signing material: each CA (loads, key, expiry,
//! outlives what it signs) and the service-account key pair.

use crate::check::verify::{CheckId, Input, Leaf, Out, Status, expiry};
use crate::kubeadm::inventory::{self, Ca};
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::node_loader;
use crate::kubeadm::residual::format_date;
use crate::x509::certificate::Certificate;
use crate::x509::keys::{self, PrivateKey};

/// Checks every CA of the node; returns the CA certificates that loaded.
pub(super) fn check_cas(
    input: &Input<'_>,
    external_etcd: bool,
    leaves: &[Leaf],
    out: &mut Out,
) -> Vec<(Ca, Certificate)> {
    let files = input.files;
    let now = input.now;
    let th = input.thresholds;
    let mut cas: Vec<(Ca, Certificate)> = Vec::new();
    for ca in inventory::cas(external_etcd) {
        let name = ca.name();
        let mut errors = Vec::new();
        let state = node_loader::load_ca(files, ca, &mut errors);
        let key_path = NodePath::cert(ca.key_file());
        for e in &errors {
            let check = if e.path == key_path {
                CheckId::Key
            } else {
                CheckId::Read
            };
            out.push(Status::Fail, name, check, format!("{}: {}", e.path, e.kind));
        }
        let Some(cert) = state.cert else {
            if errors.is_empty() {
                out.push(
                    Status::Fail,
                    name,
                    CheckId::Read,
                    format!("pki/{} is missing", ca.cert_file()),
                );
            }
            continue;
        };
        let (s, r) = expiry(&cert, now, th);
        out.push(s, name, CheckId::Expiry, r);
        out.weak_crypto(&cert, name);
        if files.keys_not_read && !state.external {
            // The key exists and was not read: no key row.
        } else if errors.iter().all(|e| e.path != key_path) {
            if state.external {
                out.push(
                    Status::Pass,
                    name,
                    CheckId::Key,
                    format!("external CA: no pki/{} on this node", ca.key_file()),
                );
            } else {
                out.push(
                    Status::Pass,
                    name,
                    CheckId::Key,
                    format!("pki/{} matches the certificate", ca.key_file()),
                );
            }
        }
        let signed: Vec<&Leaf> = leaves.iter().filter(|l| l.row.ca == ca).collect();
        let outlived: Vec<&str> = signed
            .iter()
            .filter(|l| l.cert.not_after > cert.not_after)
            .map(|l| l.row.name)
            .collect();
        if outlived.is_empty() {
            out.push(
                Status::Pass,
                name,
                CheckId::OutlivesLeaves,
                match signed.len() {
                    1 => "outlives the certificate it signs".to_string(),
                    n => format!("outlives the {n} certificates it signs"),
                },
            );
        } else {
            out.push(
                Status::Warn,
                name,
                CheckId::OutlivesLeaves,
                format!(
                    "expires on {}, before {} (clients will reject them then): renew the CA first",
                    format_date(cert.not_after),
                    outlived.join(", ")
                ),
            );
        }
        cas.push((ca, cert));
    }
    cas
}

pub(super) fn sa_checks(files: &NodeFiles, out: &mut Out) {
    if files.keys_not_read {
        return;
    }
    let key = node_loader::read(files, &NodePath::cert("sa.key"));
    let public = node_loader::read(files, &NodePath::cert("sa.pub"));
    let (status, reason) = match (key, public) {
        (Ok(None), Ok(None)) => (
            Status::Fail,
            "pki/sa.key and pki/sa.pub are missing: service-account tokens cannot be signed".into(),
        ),
        (Ok(None), _) => (Status::Fail, "pki/sa.key is missing".into()),
        (_, Ok(None)) => (Status::Fail, "pki/sa.pub is missing".into()),
        (Err(e), _) | (_, Err(e)) => (Status::Fail, format!("{}: {}", e.path, e.kind)),
        (Ok(Some(k)), Ok(Some(p))) => match (PrivateKey::public_key_bits_of(k), public_key_file_bits(p)) {
            (Err(e), _) => (Status::Fail, format!("pki/sa.key: {e}")),
            (_, None) => (Status::Fail, "pki/sa.pub is not a PEM PUBLIC KEY".into()),
            (Ok(a), Some(b)) if a == b => (Status::Pass, "pki/sa.pub is the public half of pki/sa.key".into()),
            (Ok(_), Some(_)) => (
                Status::Fail,
                "pki/sa.pub is not the public half of pki/sa.key: tokens signed with one fail verification with the other".into(),
            ),
        },
    };
    out.push(status, "sa", CheckId::Pair, reason);
}

/// The public key bits of a PEM (or DER) `PUBLIC KEY` file such as `sa.pub`.
fn public_key_file_bits(bytes: &[u8]) -> Option<Vec<u8>> {
    let blocks = crate::x509::encoding::blocks(bytes).ok()?;
    let block = blocks
        .iter()
        .find(|b| b.label == "PUBLIC KEY" || b.label.is_empty())?;
    keys::spki_bits(&block.der)
}
