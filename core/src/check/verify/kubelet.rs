//! verify's checks of the kubelet's client certificate: how kubelet.conf refers
//! to it (rotation), its expiry, chain, key, usage, subject and rotation progress.

use time::OffsetDateTime;

use crate::check::verify::leaf::{compare_ca_data, usage_check};
use crate::check::verify::{CheckId, Input, Out, Status, expiry};
use crate::kubeadm::kubeconfig::{Kubeconfig, Material};
use crate::kubeadm::node::{FileContent, NodePath, ReadError};
use crate::kubeadm::node_loader;
use crate::kubeadm::role::{KUBELET_CN_PREFIX, KUBELET_ORG};
use crate::x509::certificate::{self, Certificate, ExtendedKeyUsage};
use crate::x509::keys::{KeyError, PrivateKey};

/// Why a kubelet certificate or key file gives no bytes, or no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum KubeletFileError {
    /// The file is not there.
    #[error("{path} is missing")]
    Missing {
        /// The file.
        path: String,
    },
    /// The CLI could not read it.
    #[error("{path} cannot be read: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: ReadError,
    },
    /// It holds no key kcerts can read.
    #[error("{what}: {error}")]
    BadKey {
        /// The file or kubeconfig field (`client-key-data`).
        what: String,
        /// What the key parser said.
        error: KeyError,
    },
    /// kubelet.conf embeds the certificate but not its key.
    #[error("kubelet.conf has no embedded client-key-data")]
    NoEmbeddedKey,
    /// No key was read (nor a certificate).
    #[error("no key")]
    NoKey,
}

/// The bytes of a file the CLI read for verify (`c` is `None` when it is absent).
pub(super) fn file_bytes<'a>(
    path: &str,
    c: &'a Option<FileContent>,
) -> Result<&'a [u8], KubeletFileError> {
    match c {
        Some(FileContent::Bytes(b)) => Ok(b),
        Some(FileContent::Unreadable(r)) => Err(KubeletFileError::Unreadable {
            path: path.to_string(),
            reason: r.clone(),
        }),
        None => Err(KubeletFileError::Missing {
            path: path.to_string(),
        }),
    }
}

/// The public bits of the key in `bytes` (`what` names them for the error).
fn key_bits(what: &str, bytes: &[u8]) -> Result<Vec<u8>, KubeletFileError> {
    PrivateKey::public_key_bits_of(bytes).map_err(|error| KubeletFileError::BadKey {
        what: what.to_string(),
        error,
    })
}

/// What kubelet.conf says about the kubelet's client certificate.
enum KubeletSource {
    /// No kubelet.conf.
    NoConf,
    /// kubelet.conf could not be used; why.
    BadConf(String),
    /// kubelet.conf embeds the certificate (no rotation).
    Embedded,
    /// kubelet.conf refers to this file (rotation).
    File(String),
}

pub(super) struct KubeletState {
    source: KubeletSource,
    ca_data: Option<Vec<u8>>,
    /// The certificate in use, if it loaded.
    pub(super) cert: Option<Certificate>,
    /// Its key's public bits, or why not.
    key: Result<Vec<u8>, KubeletFileError>,
    /// Why the certificate did not load.
    error: Option<String>,
}

pub(super) fn load_kubelet(input: &Input<'_>) -> KubeletState {
    let mut st = KubeletState {
        source: KubeletSource::NoConf,
        ca_data: None,
        cert: None,
        key: Err(KubeletFileError::NoKey),
        error: None,
    };
    let conf = match node_loader::read(input.files, &NodePath::kubeconfig("kubelet.conf")) {
        Ok(Some(b)) => Some(b),
        Ok(None) => None,
        Err(e) => {
            st.source = KubeletSource::BadConf(e.kind.to_string());
            None
        }
    };
    let mut embedded: Option<(Vec<u8>, Option<Vec<u8>>)> = None;
    if let Some(bytes) = conf {
        match Kubeconfig::parse(bytes).and_then(|k| k.entries()) {
            Ok(entries) => {
                let mut cert = None;
                let mut key = None;
                for e in entries {
                    match (e.kind, e.field, e.material) {
                        ("cluster", "certificate-authority", Material::Embedded { bytes }) => {
                            st.ca_data.get_or_insert(bytes);
                        }
                        ("user", "client-certificate", m) => {
                            cert.get_or_insert(m);
                        }
                        ("user", "client-key", Material::Embedded { bytes }) => {
                            key.get_or_insert(bytes);
                        }
                        _ => {}
                    }
                }
                match cert {
                    Some(Material::Embedded { bytes }) => {
                        st.source = KubeletSource::Embedded;
                        embedded = Some((bytes, key));
                    }
                    Some(Material::File { path }) => st.source = KubeletSource::File(path),
                    None => {
                        st.source =
                            KubeletSource::BadConf("kubelet.conf has no client certificate".into())
                    }
                }
            }
            Err(e) => st.source = KubeletSource::BadConf(format!("kubelet.conf: {e}")),
        }
    }
    match (&st.source, embedded, &input.kubelet_client) {
        (KubeletSource::Embedded, Some((cert, key)), _) => {
            match certificate::parse_first(&cert) {
                Ok(c) => st.cert = Some(c),
                Err(e) => st.error = Some(format!("kubelet.conf client-certificate-data: {e}")),
            }
            st.key = match key {
                // Keys not read: the key row is left out, so this is never shown.
                _ if input.files.keys_not_read => Err(KubeletFileError::NoEmbeddedKey),
                Some(k) => key_bits("client-key-data", &k),
                None => Err(KubeletFileError::NoEmbeddedKey),
            };
        }
        (_, _, Some(client)) => match file_bytes(&client.path, &client.content) {
            Err(e) => st.error = Some(e.to_string()),
            Ok(b) => {
                match certificate::parse_first(b) {
                    Ok(c) => st.cert = Some(c),
                    Err(e) => st.error = Some(format!("{}: {e}", client.path)),
                }
                // The kubelet keeps certificate and key in the one file.
                if !input.files.keys_not_read {
                    st.key = key_bits(&client.path, b);
                }
            }
        },
        _ => st.error = Some("no kubelet client certificate was read".into()),
    }
    st
}

/// The kubelet renews its client certificate at 70–90% of its lifetime
/// (client-go's certificate manager, jittered); past 90% it is not rotating.
const ROTATION_DEADLINE: f64 = 0.9;

pub(super) fn kubelet_checks(
    input: &Input<'_>,
    st: &KubeletState,
    node_name: Option<&str>,
    ca: Option<&Certificate>,
    out: &mut Out,
) {
    const T: &str = "kubelet";
    let client_path = input
        .kubelet_client
        .as_ref()
        .map(|c| c.path.as_str())
        .unwrap_or("");
    match &st.source {
        KubeletSource::NoConf => out.push(
            Status::Warn,
            T,
            CheckId::Rotation,
            "kubelet.conf is missing: cannot tell how the kubelet authenticates",
        ),
        KubeletSource::BadConf(e) => out.push(Status::Fail, T, CheckId::Rotation, e.clone()),
        KubeletSource::Embedded => out.push(
            Status::Warn,
            T,
            CheckId::Rotation,
            "kubelet.conf embeds its client certificate, so the kubelet cannot rotate it \
             (kubeadm #2054): point client-certificate and client-key at \
             /var/lib/kubelet/pki/kubelet-client-current.pem",
        ),
        KubeletSource::File(p) if !client_path.is_empty() && p != client_path => out.push(
            Status::Warn,
            T,
            CheckId::Rotation,
            format!("kubelet.conf refers to {p}, but kcerts read {client_path} (pass --kubelet-client-cert {p})"),
        ),
        KubeletSource::File(p) => out.push(
            Status::Pass,
            T,
            CheckId::Rotation,
            format!("kubelet.conf refers to {p}, which the kubelet rotates"),
        ),
    }
    if let Some(data) = &st.ca_data {
        let (s, r) = compare_ca_data(data, ca, "kubeadm init phase kubeconfig kubelet");
        out.push(s, T, CheckId::CaData, r);
    }
    let Some(cert) = &st.cert else {
        if let Some(e) = &st.error {
            let status = if matches!(st.source, KubeletSource::NoConf)
                && input
                    .kubelet_client
                    .as_ref()
                    .is_some_and(|c| c.content.is_none())
            {
                Status::Warn
            } else {
                Status::Fail
            };
            out.push(status, T, CheckId::Read, e.clone());
        }
        return;
    };
    let (s, r) = expiry(cert, input.now, input.thresholds);
    out.push(s, T, CheckId::Expiry, r);
    out.weak_crypto(cert, T);
    match ca {
        Some(ca) => match cert.verify_signed_by(ca) {
            Ok(()) => out.push(
                Status::Pass,
                T,
                CheckId::Chain,
                "signed by ca (signature verified)",
            ),
            Err(e) => out.push(
                Status::Fail,
                T,
                CheckId::Chain,
                format!("not signed by pki/ca.crt: {e}"),
            ),
        },
        None => out.push(
            Status::Fail,
            T,
            CheckId::Chain,
            "cannot check: pki/ca.crt did not load",
        ),
    }
    match &st.key {
        // Keys not read: no key row.
        _ if input.files.keys_not_read => {}
        Ok(b) if *b == cert.public_key_bits() => out.push(
            Status::Pass,
            T,
            CheckId::Key,
            "the key beside it matches the certificate",
        ),
        Ok(_) => out.push(
            Status::Fail,
            T,
            CheckId::Key,
            "the key beside it is not this certificate's",
        ),
        Err(e) => out.push(Status::Fail, T, CheckId::Key, e.to_string()),
    }
    let (s, r) = usage_check(cert, vec![ExtendedKeyUsage::ClientAuth]);
    out.push(s, T, CheckId::Usage, r);
    let cn = cert.common_name.as_deref().unwrap_or("");
    let want_cn = node_name.map(|n| format!("{KUBELET_CN_PREFIX}{n}"));
    let subject_ok = match &want_cn {
        Some(w) => cn == w,
        None => cn.starts_with(KUBELET_CN_PREFIX),
    } && cert.organizations == [KUBELET_ORG];
    if subject_ok {
        out.push(
            Status::Pass,
            T,
            CheckId::Subject,
            format!("CN={cn}, O={KUBELET_ORG} fit the role"),
        );
    } else {
        out.push(
            Status::Fail,
            T,
            CheckId::Subject,
            format!(
                "CN={cn}, O={}; the kubelet needs CN={}, O={KUBELET_ORG}",
                cert.organizations.join("+"),
                want_cn.unwrap_or_else(|| format!("{KUBELET_CN_PREFIX}<node name>"))
            ),
        );
    }
    if matches!(st.source, KubeletSource::File(_)) {
        let (s, r) = rotating(
            cert,
            input.now,
            "check the kubelet log and pending CSRs (kubectl get csr)",
        );
        out.push(s, T, CheckId::Rotating, r);
    }
}

/// Whether the kubelet renews a certificate it rotates in time: past 90% of its
/// lifetime it is not rotating (`hint` says what to do then).
pub(super) fn rotating(cert: &Certificate, now: OffsetDateTime, hint: &str) -> (Status, String) {
    let life = (cert.not_after - cert.not_before).whole_seconds().max(1) as f64;
    let used = (now - cert.not_before).whole_seconds() as f64 / life;
    let pct = (used * 100.0).floor() as i64;
    if used > ROTATION_DEADLINE {
        (
            Status::Warn,
            format!(
                "{pct}% of its lifetime has passed and it was not renewed (the kubelet renews \
                 at 70-90%): {hint}"
            ),
        )
    } else {
        (
            Status::Pass,
            format!("{pct}% of its lifetime has passed; the kubelet renews it at 70-90%"),
        )
    }
}
