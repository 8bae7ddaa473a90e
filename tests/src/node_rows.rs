//! A row's certificate and key as kubeadm's users read them: files in the cert
//! dir, or `kubectl config view --raw` for the kubeconfigs.

use std::path::Path;

use kcerts_core::inventory::{Location, Row};

use crate::kubectl_data;

/// The certificate and key PEM of a row, read the way kubeadm's users would:
/// files in the cert dir, or `kubectl config view --raw` for kubeconfigs.
pub fn row_pems(root: &Path, row: &Row) -> (String, String) {
    match row.location {
        Location::CertDir { base } => (
            std::fs::read_to_string(root.join(format!("pki/{base}.crt"))).unwrap(),
            std::fs::read_to_string(root.join(format!("pki/{base}.key"))).unwrap(),
        ),
        Location::Kubeconfig { file } => {
            let field = |f: &str| {
                let jsonpath = format!("{{.users[0].user.{f}}}");
                String::from_utf8(kubectl_data(&root.join(file), &jsonpath)).unwrap()
            };
            (field("client-certificate-data"), field("client-key-data"))
        }
    }
}
