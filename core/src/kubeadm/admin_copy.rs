//! Copies of admin.conf (`~/.kube/config`, `/root/.kube/config`): after
//! admin.conf is renewed, a copy keeps the old credentials until they expire
//! (kubesphere #6185). One rule decides which users of a copy hold admin.conf's
//! credentials ([`holder`]); `renew admin.conf --update-kubeconfig` rewrites those
//! users ([`update`]) and `verify --kubeconfig-copy` reports them.

use thiserror::Error;

use crate::kubeadm::kubeconfig::{Kubeconfig, KubeconfigError, Material};
use crate::x509::certificate::{self, Certificate, CertificateError};

/// How a user's embedded client certificate relates to admin.conf's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The very certificate admin.conf holds.
    Current,
    /// An older certificate with admin.conf's subject, signed by the same CA key
    /// (same issuer name and authority key identifier): admin.conf was renewed
    /// after the copy was made. A copy from before a CA rotation is `Other`: it
    /// cannot be told from another cluster's.
    Superseded,
    /// Another identity (another user, another cluster).
    Other,
}

/// Classifies `cert` against admin.conf's certificate `admin`.
pub fn holder(cert: &Certificate, admin: &Certificate) -> Holder {
    if cert.der == admin.der {
        Holder::Current
    } else if cert.subject == admin.subject
        && cert.issuer == admin.issuer
        && cert.authority_key_id == admin.authority_key_id
        && cert.not_before <= admin.not_before
    {
        Holder::Superseded
    } else {
        Holder::Other
    }
}

/// One user of a copy with an embedded client certificate.
#[derive(Debug, Clone)]
pub struct CopyUser {
    /// The user's name in the file.
    pub name: String,
    /// Its certificate, or why it could not be parsed.
    pub cert: Result<Certificate, CertificateError>,
}

/// The users of a copy whose client certificate is embedded (users that point at
/// files are left out: their files are not admin.conf's).
pub fn users(copy: &Kubeconfig) -> Result<Vec<CopyUser>, KubeconfigError> {
    Ok(copy
        .entries()?
        .into_iter()
        .filter(|e| e.kind == "user" && e.field == "client-certificate")
        .filter_map(|e| match e.material {
            Material::Embedded { bytes } => Some(CopyUser {
                name: e.name,
                cert: certificate::parse_first(&bytes),
            }),
            Material::File { .. } => None,
        })
        .collect())
}

/// Why a copy cannot be updated.
#[derive(Debug, Error)]
pub enum CopyError {
    /// Not a kubeconfig.
    #[error("is not a kubeconfig kcerts can read: {0}")]
    Kubeconfig(#[from] KubeconfigError),
    /// No user holds admin.conf's credentials, old or current.
    #[error(
        "has no user holding admin.conf's client certificate ({subject}); it was not copied \
         from this node's admin.conf: leave it out of --update-kubeconfig"
    )]
    NoAdminUser {
        /// admin.conf's subject.
        subject: String,
    },
}

/// A copy rewritten with admin.conf's new credentials.
#[derive(Debug, Clone)]
pub struct UpdatedCopy {
    /// The new file.
    pub yaml: String,
    /// The users rewritten.
    pub users: Vec<String>,
}

/// Rewrites the users of `copy` that hold admin.conf's credentials as they were
/// before this renewal (`old_admin`: the certificate itself, or an older one it
/// superseded) with the renewed certificate and key, and resets the CA data of
/// the clusters their contexts use to `ca_pem`. Everything else stays.
pub fn update(
    copy: &[u8],
    old_admin: &Certificate,
    cert_pem: &str,
    key_pem: &str,
    ca_pem: &[u8],
) -> Result<UpdatedCopy, CopyError> {
    let kc = Kubeconfig::parse(copy)?;
    let names: Vec<String> = users(&kc)?
        .into_iter()
        .filter(|u| {
            u.cert
                .as_ref()
                .is_ok_and(|c| holder(c, old_admin) != Holder::Other)
        })
        .map(|u| u.name)
        .collect();
    if names.is_empty() {
        return Err(CopyError::NoAdminUser {
            subject: old_admin.subject.clone(),
        });
    }
    let yaml = kc
        .with_users_replaced(&names, cert_pem, key_pem, ca_pem)
        .to_yaml()?;
    Ok(UpdatedCopy { yaml, users: names })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::KeyAlgorithm;
    use crate::kubeadm::node::{FileContent, NodePath};
    use crate::test_support::{NOW, ecdsa_example_files};

    fn admin_conf(seed: u64) -> Vec<u8> {
        let files = ecdsa_example_files(NOW, seed);
        let Some(FileContent::Bytes(b)) = files.get(&NodePath::kubeconfig("admin.conf")) else {
            panic!("admin.conf")
        };
        b.clone()
    }

    fn cert_of(conf: &[u8]) -> Certificate {
        let cur = Kubeconfig::parse(conf).unwrap().current().unwrap();
        certificate::parse_first(&cur.client_certificate_data).unwrap()
    }

    /// A second user (another cluster's) appended to a copy.
    fn with_other_user(copy: &[u8], other: &[u8]) -> Vec<u8> {
        let mut doc = String::from_utf8(copy.to_vec()).unwrap();
        let other = Kubeconfig::parse(other).unwrap().current().unwrap();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        doc = doc.replace(
            "users:\n",
            &format!(
                "users:\n- name: someone-else\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
                b64.encode(&other.client_certificate_data),
                b64.encode(other.client_key_data.as_deref().unwrap_or_default()),
            ),
        );
        doc.into_bytes()
    }

    #[test]
    fn holder_classes() {
        let a = cert_of(&admin_conf(1));
        let b = cert_of(&admin_conf(2));
        assert_eq!(holder(&a, &a), Holder::Current);
        // Another node's admin: other issuer (another CA).
        assert_eq!(holder(&a, &b), Holder::Other);
    }

    #[test]
    fn update_rewrites_only_the_admin_user() {
        let copy = admin_conf(1);
        let old = cert_of(&copy);
        let other_conf = admin_conf(2);
        let copy = with_other_user(&copy, &other_conf);
        let renewed = admin_conf(3);
        let cur = Kubeconfig::parse(&renewed).unwrap().current().unwrap();
        let cert_pem = String::from_utf8(cur.client_certificate_data.clone()).unwrap();
        let up = update(&copy, &old, &cert_pem, "KEY PEM\n", b"CA PEM\n").unwrap();
        assert_eq!(up.users, ["kubernetes-admin"]);
        let kc = Kubeconfig::parse(up.yaml.as_bytes()).unwrap();
        let users = users(&kc).unwrap();
        let admin = users.iter().find(|u| u.name == "kubernetes-admin").unwrap();
        assert_eq!(admin.cert.as_ref().unwrap().der, cert_of(&renewed).der);
        let other = users.iter().find(|u| u.name == "someone-else").unwrap();
        assert_eq!(other.cert.as_ref().unwrap().der, cert_of(&other_conf).der);
        let (_, ca) = kc.current_cluster_ca().unwrap();
        assert_eq!(ca, b"CA PEM\n");
    }

    /// admin.conf renewed a day later by the same CA.
    pub(crate) fn renewed_admin(seed: u64) -> (Vec<u8>, crate::issue::leaf::Issued) {
        let files = ecdsa_example_files(NOW, seed);
        let bytes = |p: NodePath| match files.get(&p) {
            Some(FileContent::Bytes(b)) => b.clone(),
            _ => panic!("{p}"),
        };
        let conf = bytes(NodePath::kubeconfig("admin.conf"));
        let ca = crate::issue::leaf::SigningCa::new(
            certificate::parse_first(&bytes(NodePath::cert("ca.crt"))).unwrap(),
            crate::PrivateKey::parse(&bytes(NodePath::cert("ca.key"))).unwrap(),
        )
        .unwrap();
        let issued = crate::issue::leaf::renew(
            &cert_of(&conf),
            &ca,
            &crate::issue::leaf::RenewOptions {
                key_algorithm: KeyAlgorithm::EcdsaP256,
                validity: time::Duration::days(365),
            },
            NOW + time::Duration::days(1),
            &mut crate::seeded_rng(seed + 100),
        )
        .unwrap();
        (conf, issued)
    }

    #[test]
    fn an_older_admin_certificate_is_superseded_and_updated() {
        let (copy, issued) = renewed_admin(5);
        let old = cert_of(&copy);
        assert_eq!(holder(&old, &issued.cert), Holder::Superseded);
        assert_eq!(
            holder(&issued.cert, &old),
            Holder::Other,
            "newer is not older"
        );
        // A copy made before the previous renewal: matched through the rule too.
        let up = update(
            &copy,
            &issued.cert,
            &issued.cert_pem(),
            &issued.key_pem(),
            b"CA\n",
        )
        .unwrap();
        assert_eq!(up.users, ["kubernetes-admin"]);
    }

    #[test]
    fn a_copy_of_another_cluster_is_refused() {
        let copy = admin_conf(2);
        let old = cert_of(&admin_conf(1));
        let err = update(&copy, &old, "C", "K", b"CA").unwrap_err();
        assert!(matches!(err, CopyError::NoAdminUser { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("leave it out of --update-kubeconfig")
        );
        assert!(matches!(
            update(b"{{{", &old, "C", "K", b"CA"),
            Err(CopyError::Kubeconfig(_))
        ));
    }
}
