//! verify's checks of the kubelet's serving certificate (port 10250):
//! `kubelet-server-current.pem` or `kubelet.crt`/`kubelet.key`, judged by
//! `check::kubelet_serving`: expiry, signer, key, usage, SANs, and, for a
//! bootstrapped one, whether the kubelet renews it in time.

use crate::check::kubelet_serving::{self, Signer};
use crate::check::verify::kubelet::{file_bytes, rotating};
use crate::check::verify::leaf::usage_check;
use crate::check::verify::{CheckId, Input, Out, Status, expiry};
use crate::kubeadm::node::FileContent;
use crate::x509::certificate::{Certificate, ExtendedKeyUsage};
use crate::x509::keys::KeyAlgorithm;

const T: &str = "kubelet-serving";

/// The kubelet's serving certificate files, as the CLI read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletServing {
    /// The certificate's path (`kubelet-server-current.pem` or `kubelet.crt`).
    pub path: String,
    /// Its content; `None` when neither file exists.
    pub content: Option<FileContent>,
    /// The separate key (`kubelet.key`), when the certificate file holds none.
    pub key: Option<(String, Option<FileContent>)>,
}

pub(super) fn serving_checks(
    input: &Input<'_>,
    node_name: Option<&str>,
    ca: Option<&Certificate>,
    out: &mut Out,
) {
    let Some(s) = &input.kubelet_serving else {
        return;
    };
    let cert = match (&s.content, file_bytes(&s.path, &s.content)) {
        (None, _) => {
            let dir = s.path.rsplit_once('/').map_or(".", |(d, _)| d);
            out.push(
                Status::Warn,
                T,
                CheckId::Read,
                format!(
                    "no kubelet-server-current.pem or kubelet.crt in {dir}: the kubelet serves \
                     another tlsCertFile, or its serving request waits for approval \
                     (kcerts approve kubelet-serving)"
                ),
            );
            return;
        }
        (_, Err(e)) => {
            out.push(Status::Fail, T, CheckId::Read, e.to_string());
            return;
        }
        (_, Ok(b)) => b,
    };
    // A pair file is its own key; kubelet.crt has kubelet.key beside it. With the
    // keys not read, neither is parsed and there is no key row.
    let key = match &s.key {
        _ if input.files.keys_not_read => Ok(None),
        None => Ok(Some(cert)),
        Some((p, c)) => file_bytes(p, c).map(Some),
    };
    let r = match kubelet_serving::report(cert, key.as_ref().ok().copied().flatten(), ca, input.now)
    {
        Ok(r) => r,
        Err(e) => {
            out.push(Status::Fail, T, CheckId::Read, format!("{}: {e}", s.path));
            return;
        }
    };
    let (status, mut reason) = expiry(&r.cert, input.now, input.thresholds);
    if status != Status::Pass && r.signer == Signer::SelfSigned {
        reason.push_str("; make a new one: kcerts kubelet serving --renew");
    }
    out.push(status, T, CheckId::Expiry, reason);
    out.weak_crypto(&r.cert, T);
    let status = match r.signer {
        Signer::Other(_) => Status::Warn,
        _ => Status::Pass,
    };
    out.push(status, T, CheckId::Signer, r.signer_text());
    match (r.key_matches, key) {
        (Some(true), _) => out.push(
            Status::Pass,
            T,
            CheckId::Key,
            "the key beside it matches the certificate",
        ),
        (Some(false), _) => out.push(
            Status::Fail,
            T,
            CheckId::Key,
            "the key beside it is not this certificate's",
        ),
        (None, Err(e)) => out.push(Status::Fail, T, CheckId::Key, e.to_string()),
        (None, Ok(_)) => {}
    }
    let (mut status, mut reason) = usage_check(&r.cert, vec![ExtendedKeyUsage::ServerAuth]);
    // keyEncipherment is for RSA keys; the kubelet does not ask it for ECDSA ones.
    let rsa = matches!(
        KeyAlgorithm::of_public_key(&r.cert.public_key),
        Some(KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096)
    );
    if status == Status::Warn && !rsa && reason.contains("no keyEncipherment") {
        status = Status::Pass;
        reason = "digitalSignature, server auth (no keyEncipherment: not an RSA key)".into();
    }
    out.push(status, T, CheckId::Usage, reason);
    let sans = r.sans();
    match node_name {
        Some(n) if !r.cert.dns_names.iter().any(|d| d == n) => out.push(
            Status::Warn,
            T,
            CheckId::Sans,
            format!(
                "{} does not name the node {n}: clients that verify it by name fail",
                sans.join(", ")
            ),
        ),
        _ => out.push(Status::Pass, T, CheckId::Sans, sans.join(", ")),
    }
    if r.signer == Signer::ClusterCa {
        let (s, reason) = rotating(
            &r.cert,
            input.now,
            "approve its pending request (kcerts approve kubelet-serving)",
        );
        out.push(s, T, CheckId::Rotating, reason);
    }
}
