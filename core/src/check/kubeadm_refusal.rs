//! The broken PKIs kubeadm refuses outright (exit 1, no table) instead of
//! reporting: a CA certificate missing while certificates it signed exist, and
//! an external CA (certificate without key) whose required leaves lack a key,
//! a certificate, or a chain to it that is valid now.
//!
//! kubeadm decides this per CA the first time a present row (or the CA itself)
//! needs it: renewal/manager.go `IsExternallyManaged` calls
//! phases/certs/certs.go `UsingExternalCA`, `UsingExternalFrontProxyCA` and
//! `UsingExternalEtcdCA`, whose `validateCACert` and `validateSignedCert`
//! produce the wording copied here. Other broken files keep kcerts' per-file
//! report (a difference listed in `--help`).

use time::OffsetDateTime;

use crate::kubeadm::inventory::{self, Ca, Location, Row};
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::node_loader::read;
use crate::x509::certificate::{self, Certificate};
use crate::x509::chain;
use crate::x509::keys::PrivateKey;

/// Why kubeadm would stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The CA whose check failed.
    pub ca: Ca,
    /// What failed.
    pub reason: Reason,
}

/// The failing check, with what kubeadm names in its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `validateCACert`: the CA certificate file is absent.
    CaCertMissing {
        /// The CA certificate's path.
        path: NodePath,
    },
    /// `validateSignedCertWithCA`: the leaf key of an external CA is absent or unusable.
    LeafKey {
        /// kubeadm's base name (`apiserver`, `etcd/server`).
        base: &'static str,
        /// The key's path.
        path: NodePath,
        /// `None` when absent, else why it does not load.
        problem: Option<String>,
    },
    /// The leaf certificate of an external CA is absent or unusable.
    LeafCert {
        /// kubeadm's name for it (`API server`).
        ux: &'static str,
        /// The certificate's path.
        path: NodePath,
        /// `None` when absent, else why it does not load.
        problem: Option<String>,
    },
    /// The leaf does not chain to the external CA now.
    NotSigned {
        /// kubeadm's name for it.
        ux: &'static str,
        /// Go's verification error.
        error: chain::ChainError,
    },
}

impl Refusal {
    /// kubeadm's message, with paths shown by `show` (the CLI gives full paths).
    pub fn message(&self, show: &dyn Fn(&NodePath) -> String) -> String {
        let missing = |what: &str, path: &NodePath, problem: &Option<String>| {
            let p = show(path);
            match problem {
                None => format!(
                    "couldn't load the {what} file {p}: open {p}: no such file or directory"
                ),
                Some(why) => format!("couldn't load the {what} file {p}: {why}"),
            }
        };
        let inner = match &self.reason {
            Reason::CaCertMissing { path } => format!(
                "failure loading certificate for {}: {}",
                ux_ca(self.ca),
                missing("certificate", path, &None)
            ),
            Reason::LeafKey {
                base,
                path,
                problem,
            } => format!(
                "failure loading key for {base}: {}",
                missing("private key", path, problem)
            ),
            Reason::LeafCert { ux, path, problem } => format!(
                "failure loading certificate for {ux}: {}",
                missing("certificate", path, problem)
            ),
            Reason::NotSigned { ux, error } => {
                format!("certificate {ux} is not signed by corresponding CA: {error}")
            }
        };
        format!(
            "Error checking external CA condition for {} certificate authority: {inner}",
            self.ca.base()
        )
    }
}

/// kubeadm's name for a CA in these messages.
fn ux_ca(ca: Ca) -> &'static str {
    match ca {
        Ca::Ca => "CA",
        Ca::FrontProxyCa => "front-proxy CA",
        Ca::EtcdCa => "etcd CA",
    }
}

/// The leaves kubeadm checks under an external CA, in its order, with its names.
fn required(ca: Ca) -> &'static [(&'static str, &'static str)] {
    match ca {
        Ca::Ca => &[
            ("apiserver", "API server"),
            ("apiserver-kubelet-client", "API server kubelet client"),
        ],
        Ca::FrontProxyCa => &[("front-proxy-client", "front-proxy client")],
        Ca::EtcdCa => &[
            ("apiserver-etcd-client", "apiserver etcd client"),
            ("etcd/server", "etcd server"),
            ("etcd/peer", "etcd peer"),
            ("etcd/healthcheck-client", "etcd health-check client"),
        ],
    }
}

fn row_exists(files: &NodeFiles, row: &Row) -> bool {
    match row.location {
        Location::CertDir { base } => files.exists(&NodePath::cert(format!("{base}.crt"))),
        Location::Kubeconfig { file } => files.exists(&NodePath::kubeconfig(file)),
    }
}

/// What kubeadm would refuse on this node at `now`, if anything. Rows are
/// visited in kubeadm's order (by name), then the CAs, so the first failing CA
/// check is the one kubeadm reports.
pub fn check(files: &NodeFiles, now: OffsetDateTime, external_etcd: bool) -> Option<Refusal> {
    let mut checked: Vec<Ca> = Vec::new();
    let present_rows = inventory::rows(external_etcd)
        .filter(|r| row_exists(files, r))
        .map(|r| r.ca);
    let present_cas =
        inventory::cas(external_etcd).filter(|ca| files.exists(&NodePath::cert(ca.cert_file())));
    for ca in present_rows.chain(present_cas) {
        if checked.contains(&ca) {
            continue;
        }
        checked.push(ca);
        if let Some(reason) = check_ca(files, ca, now) {
            return Some(Refusal { ca, reason });
        }
    }
    None
}

fn check_ca(files: &NodeFiles, ca: Ca, now: OffsetDateTime) -> Option<Reason> {
    let ca_path = NodePath::cert(ca.cert_file());
    if !files.exists(&ca_path) {
        return Some(Reason::CaCertMissing { path: ca_path });
    }
    // An unreadable or non-CA certificate, and a present CA key, are reported
    // per file by the expiration report; kubeadm's refusal is about absence.
    let Ok(Some(bytes)) = read(files, &ca_path) else {
        return None;
    };
    let Ok(ca_cert) = certificate::parse_first(bytes) else {
        return None;
    };
    if files.exists(&NodePath::cert(ca.key_file())) || !ca_cert.is_ca {
        return None;
    }
    for &(base, ux) in required(ca) {
        if let Some(reason) = check_leaf(files, base, ux, &ca_cert, now) {
            return Some(reason);
        }
    }
    None
}

fn check_leaf(
    files: &NodeFiles,
    base: &'static str,
    ux: &'static str,
    ca: &Certificate,
    now: OffsetDateTime,
) -> Option<Reason> {
    let key_path = NodePath::cert(format!("{base}.key"));
    let key_problem = match read(files, &key_path) {
        Ok(None) => Some(None),
        Ok(Some(bytes)) => PrivateKey::parse(bytes).err().map(|e| Some(e.to_string())),
        Err(e) => Some(Some(e.kind.to_string())),
    };
    if let Some(problem) = key_problem {
        return Some(Reason::LeafKey {
            base,
            path: key_path,
            problem,
        });
    }
    let cert_path = NodePath::cert(format!("{base}.crt"));
    let certs = match read(files, &cert_path) {
        Ok(None) => Err(None),
        Ok(Some(bytes)) => certificate::parse_all(bytes).map_err(|e| Some(e.to_string())),
        Err(e) => Err(Some(e.kind.to_string())),
    };
    let certs = match certs {
        Ok(c) => c,
        Err(problem) => {
            return Some(Reason::LeafCert {
                ux,
                path: cert_path,
                problem,
            });
        }
    };
    let (leaf, intermediates) = certs.split_first()?;
    chain::verify(leaf, intermediates, ca, now)
        .err()
        .map(|error| Reason::NotSigned { ux, error })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{NOW, ecdsa_example_files};

    fn node() -> NodeFiles {
        ecdsa_example_files(NOW, 5)
    }

    fn without(files: &NodeFiles, gone: &[&str]) -> NodeFiles {
        let mut out = files.clone();
        out.files
            .retain(|p, _| !gone.contains(&p.to_string().as_str()));
        out
    }

    fn show(p: &NodePath) -> String {
        format!("/etc/kubernetes/{p}")
    }

    #[test]
    fn a_healthy_node_and_an_empty_one_are_not_refused() {
        assert_eq!(check(&node(), NOW, false), None);
        assert_eq!(check(&NodeFiles::default(), NOW, true), None);
    }

    #[test]
    fn a_missing_ca_certificate_with_leaves_present_is_refused_in_kubeadms_words() {
        let files = without(&node(), &["pki/ca.crt"]);
        let r = check(&files, NOW, false).unwrap();
        assert_eq!(
            r.message(&show),
            "Error checking external CA condition for ca certificate authority: failure loading \
             certificate for CA: couldn't load the certificate file /etc/kubernetes/pki/ca.crt: \
             open /etc/kubernetes/pki/ca.crt: no such file or directory"
        );
        let files = without(&node(), &["pki/etcd/ca.crt"]);
        let r = check(&files, NOW, false).unwrap();
        assert!(
            r.message(&show).starts_with(
                "Error checking external CA condition for etcd/ca certificate authority: \
                 failure loading certificate for etcd CA: couldn't load the certificate file \
                 /etc/kubernetes/pki/etcd/ca.crt"
            ),
            "{}",
            r.message(&show)
        );
    }

    #[test]
    fn an_external_ca_needs_leaf_keys_and_leaves_valid_now() {
        // External CA: the key is gone; the leaves are fine.
        let files = without(&node(), &["pki/ca.key"]);
        assert_eq!(check(&files, NOW, false), None);
        let files = without(&node(), &["pki/ca.key", "pki/apiserver.key"]);
        assert_eq!(
            check(&files, NOW, false).unwrap().message(&show),
            "Error checking external CA condition for ca certificate authority: failure loading \
             key for apiserver: couldn't load the private key file \
             /etc/kubernetes/pki/apiserver.key: open /etc/kubernetes/pki/apiserver.key: no such \
             file or directory"
        );
        let files = without(&node(), &["pki/front-proxy-ca.key"]);
        let later = NOW + time::Duration::days(400);
        let msg = check(&files, later, false).unwrap().message(&show);
        assert!(
            msg.starts_with(
                "Error checking external CA condition for front-proxy-ca certificate authority: \
                 certificate front-proxy client is not signed by corresponding CA: x509: \
                 certificate has expired or is not yet valid: current time 2027-04-05T12:00:00Z \
                 is after "
            ),
            "{msg}"
        );
    }
}
