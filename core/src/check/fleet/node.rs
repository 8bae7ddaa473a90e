//! One node of the fleet, loaded once: its check-expiration report with the
//! certificates and CAs that report parsed, each CA file's whole bundle, who the
//! node is, and the server of each kubeconfig. The checks read these instead of
//! parsing the node's files again.

use time::OffsetDateTime;

use super::identity::Identity;
use super::servers::{KUBECONFIGS, ServerError, server_of};
use crate::check::expiration::{self, Report};
use crate::kubeadm::inventory::{self, Ca, Row};
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::node_loader::{self, CaState};
use crate::x509::certificate::{self, Certificate};

/// A node's files and what was parsed from them.
pub(super) struct Node<'a> {
    /// The name it was given (`cp-1`).
    pub(super) name: &'a str,
    pub(super) files: &'a NodeFiles,
    /// check-expiration's report of its files.
    pub(super) report: Report,
    /// Who it is, from its etcd server certificate.
    pub(super) identity: Identity,
    /// Each row whose certificate loaded, in kubeadm's order (with external
    /// etcd, the etcd rows only to tell the node's name).
    certificates: Vec<(&'static Row, Certificate)>,
    /// Each CA as check-expiration loaded it.
    cas: Vec<CaState>,
    /// Every certificate of each CA file, when it parses and holds one.
    bundles: Vec<(Ca, Option<Vec<Certificate>>)>,
    /// The server of each kubeconfig present (`None` when the file is absent).
    servers: Vec<(&'static str, Option<Result<String, ServerError>>)>,
}

impl<'a> Node<'a> {
    /// Reads and parses the node's files once.
    pub(super) fn load(name: &'a str, files: &'a NodeFiles, now: OffsetDateTime) -> Self {
        let (report, loaded) = expiration::build_loaded(files, now);
        let mut certificates = loaded.certificates;
        if report.external_etcd {
            // check-expiration leaves etcd out; the etcd certificates that are
            // there still name the node.
            for row in ["etcd-server", "etcd-peer"]
                .into_iter()
                .filter_map(inventory::row)
            {
                if let Ok(Some(cert)) = node_loader::load_row_certificate(files, row) {
                    certificates.push((row, cert));
                }
            }
        }
        let bundles = Ca::ALL
            .into_iter()
            .map(|ca| {
                let certs = node_loader::read(files, &NodePath::cert(ca.cert_file()))
                    .ok()
                    .flatten()
                    .and_then(|bytes| certificate::parse_all(bytes).ok())
                    .filter(|c| !c.is_empty());
                (ca, certs)
            })
            .collect();
        let servers = KUBECONFIGS
            .into_iter()
            .map(|file| (file, server_of(files, file)))
            .collect();
        let etcd = certificates
            .iter()
            .find(|(row, _)| row.name == "etcd-server")
            .map(|(_, c)| c);
        let identity = Identity::of(name, etcd);
        Self {
            name,
            files,
            report,
            identity,
            certificates,
            cas: loaded.cas,
            bundles,
            servers,
        }
    }

    /// The certificate of the row `name`, when it loaded.
    pub(super) fn certificate(&self, name: &str) -> Option<&Certificate> {
        self.certificates
            .iter()
            .find(|(row, _)| row.name == name)
            .map(|(_, c)| c)
    }

    /// Every row's certificate that loaded, in kubeadm's order (the etcd rows
    /// only with stacked etcd).
    pub(super) fn leaves(&self) -> impl Iterator<Item = (&'static Row, &Certificate)> {
        let external_etcd = self.report.external_etcd;
        self.certificates
            .iter()
            .filter(move |(row, _)| !(external_etcd && row.ca == Ca::EtcdCa))
            .map(|(row, c)| (*row, c))
    }

    /// The certificate of each CA that loaded as a CA, in kubeadm's order.
    pub(super) fn cas(&self) -> impl Iterator<Item = (Ca, &Certificate)> {
        self.cas
            .iter()
            .filter_map(|s| s.cert.as_ref().map(|c| (s.ca, c)))
    }

    /// Every certificate of `ca`'s file, when it parses and holds one.
    pub(super) fn bundle(&self, ca: Ca) -> Option<&[Certificate]> {
        self.bundles
            .iter()
            .find(|(c, _)| *c == ca)
            .and_then(|(_, certs)| certs.as_deref())
    }

    /// The server of the kubeconfig `file`: `None` when the file is absent.
    pub(super) fn server(&self, file: &str) -> Option<&Result<String, ServerError>> {
        self.servers
            .iter()
            .find(|(f, _)| *f == file)
            .and_then(|(_, s)| s.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fleet::testing::cluster;
    use crate::test_support::NOW;

    #[test]
    fn a_node_keeps_what_check_expiration_parsed() {
        let nodes = cluster();
        let (name, files) = &nodes[1];
        let node = Node::load(name, files, NOW);
        assert_eq!(node.report, expiration::build(files, NOW));
        assert_eq!(node.identity.node_name, "cp-2");
        assert_eq!(
            node.leaves().count(),
            node.report
                .certificates
                .iter()
                .filter(|e| !e.missing)
                .count()
        );
        let apiserver = node.certificate("apiserver").unwrap();
        assert_eq!(
            apiserver.der,
            certificate::parse_first(
                node_loader::read(files, &NodePath::cert("apiserver.crt"))
                    .unwrap()
                    .unwrap()
            )
            .unwrap()
            .der
        );
        assert_eq!(node.cas().count(), 3);
        assert_eq!(node.bundle(Ca::Ca).unwrap().len(), 1);
        assert_eq!(
            node.server("admin.conf"),
            Some(&Ok("https://k8s.example.internal:6443".to_string()))
        );
        assert_eq!(node.server("no.conf"), None);
    }

    #[test]
    fn with_external_etcd_the_etcd_certificates_still_name_the_node() {
        let nodes = cluster();
        let mut files = nodes[2].1.clone();
        files.external_etcd = Some(true);
        let node = Node::load("third", &files, NOW);
        assert!(node.report.external_etcd);
        assert_eq!(node.identity.node_name, "cp-3");
        assert!(node.certificate("etcd-peer").is_some());
        assert!(node.leaves().all(|(row, _)| row.ca != Ca::EtcdCa));
        assert_eq!(node.cas().count(), 2);
    }
}
