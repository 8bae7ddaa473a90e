//! kubeadm's certificate inventory as data (docs/kubeadm.md, Inventory and paths).

use serde::Serialize;

use crate::x509::certificate::ExtendedKeyUsage;

/// One of kubeadm's three certificate authorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Ca {
    /// The cluster CA, `ca.crt` / `ca.key`.
    Ca,
    /// The etcd CA, `etcd/ca.crt` / `etcd/ca.key`.
    EtcdCa,
    /// The front proxy CA, `front-proxy-ca.crt` / `front-proxy-ca.key`.
    FrontProxyCa,
}

impl Ca {
    /// All CAs, in report order (sorted by name).
    pub const ALL: [Ca; 3] = [Ca::Ca, Ca::EtcdCa, Ca::FrontProxyCa];

    /// The row name in check-expiration: `ca`, `etcd-ca`, `front-proxy-ca`.
    pub fn name(self) -> &'static str {
        match self {
            Ca::Ca => "ca",
            Ca::EtcdCa => "etcd-ca",
            Ca::FrontProxyCa => "front-proxy-ca",
        }
    }

    /// The base name of its files relative to the cert dir: `ca`, `etcd/ca`, `front-proxy-ca`.
    pub fn base(self) -> &'static str {
        match self {
            Ca::Ca => "ca",
            Ca::EtcdCa => "etcd/ca",
            Ca::FrontProxyCa => "front-proxy-ca",
        }
    }

    /// The certificate file relative to the cert dir.
    pub fn cert_file(self) -> String {
        format!("{}.crt", self.base())
    }

    /// The key file relative to the cert dir.
    pub fn key_file(self) -> String {
        format!("{}.key", self.base())
    }

    /// The common name kubeadm gives this CA.
    pub fn common_name(self) -> &'static str {
        match self {
            Ca::Ca => "kubernetes",
            Ca::EtcdCa => "etcd-ca",
            Ca::FrontProxyCa => "front-proxy-ca",
        }
    }
}

/// Where a row's certificate lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Location {
    /// `<cert-dir>/<base>.crt` and `<cert-dir>/<base>.key`.
    CertDir {
        /// Base name relative to the cert dir, e.g. `etcd/server`.
        base: &'static str,
    },
    /// Embedded in `<kubeconfig-dir>/<file>`.
    Kubeconfig {
        /// File name in the kubeconfig dir, e.g. `admin.conf`.
        file: &'static str,
    },
}

/// The role a certificate plays, which fixes its extended key usages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Usage {
    /// server auth
    Server,
    /// client auth
    Client,
    /// server auth + client auth
    ServerAndClient,
}

impl Usage {
    /// The extended key usages of this role.
    pub fn extended_key_usages(self) -> Vec<ExtendedKeyUsage> {
        match self {
            Usage::Server => vec![ExtendedKeyUsage::ServerAuth],
            Usage::Client => vec![ExtendedKeyUsage::ClientAuth],
            Usage::ServerAndClient => {
                vec![ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth]
            }
        }
    }
}

/// One row of kubeadm's certificate inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Row name as in `kubeadm certs renew <name>`.
    pub name: &'static str,
    /// kubeadm's long name, used in renew messages.
    pub long_name: &'static str,
    /// Where the certificate lives.
    pub location: Location,
    /// The CA that signs it.
    pub ca: Ca,
    /// Its role.
    pub usage: Usage,
}

impl Row {
    /// Whether the certificate is embedded in a kubeconfig.
    pub fn is_kubeconfig(&self) -> bool {
        matches!(self.location, Location::Kubeconfig { .. })
    }
}

const fn cert(
    name: &'static str,
    base: &'static str,
    ca: Ca,
    usage: Usage,
    long_name: &'static str,
) -> Row {
    Row {
        name,
        long_name,
        location: Location::CertDir { base },
        ca,
        usage,
    }
}

const fn conf(name: &'static str, long_name: &'static str) -> Row {
    Row {
        name,
        long_name,
        location: Location::Kubeconfig { file: name },
        ca: Ca::Ca,
        usage: Usage::Client,
    }
}

/// Every row kubeadm manages, sorted byte-wise by name.
pub const ROWS: [Row; 11] = [
    conf(
        "admin.conf",
        "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself",
    ),
    cert(
        "apiserver",
        "apiserver",
        Ca::Ca,
        Usage::Server,
        "certificate for serving the Kubernetes API",
    ),
    cert(
        "apiserver-etcd-client",
        "apiserver-etcd-client",
        Ca::EtcdCa,
        Usage::Client,
        "certificate the apiserver uses to access etcd",
    ),
    cert(
        "apiserver-kubelet-client",
        "apiserver-kubelet-client",
        Ca::Ca,
        Usage::Client,
        "certificate for the API server to connect to kubelet",
    ),
    conf(
        "controller-manager.conf",
        "certificate embedded in the kubeconfig file for the controller manager to use",
    ),
    cert(
        "etcd-healthcheck-client",
        "etcd/healthcheck-client",
        Ca::EtcdCa,
        Usage::Client,
        "certificate for liveness probes to healthcheck etcd",
    ),
    cert(
        "etcd-peer",
        "etcd/peer",
        Ca::EtcdCa,
        Usage::ServerAndClient,
        "certificate for etcd nodes to communicate with each other",
    ),
    cert(
        "etcd-server",
        "etcd/server",
        Ca::EtcdCa,
        Usage::ServerAndClient,
        "certificate for serving etcd",
    ),
    cert(
        "front-proxy-client",
        "front-proxy-client",
        Ca::FrontProxyCa,
        Usage::Client,
        "certificate for the front proxy client",
    ),
    conf(
        "scheduler.conf",
        "certificate embedded in the kubeconfig file for the scheduler manager to use",
    ),
    conf(
        "super-admin.conf",
        "certificate embedded in the kubeconfig file for the super-admin",
    ),
];

/// Looks a row up by name.
pub fn row(name: &str) -> Option<&'static Row> {
    ROWS.iter().find(|r| r.name == name)
}

/// The rows present on a node: without the etcd rows when etcd is external.
pub fn rows(external_etcd: bool) -> impl Iterator<Item = &'static Row> {
    ROWS.iter()
        .filter(move |r| !(external_etcd && r.ca == Ca::EtcdCa))
}

/// The CAs present on a node: without `etcd-ca` when etcd is external.
pub fn cas(external_etcd: bool) -> impl Iterator<Item = Ca> {
    Ca::ALL
        .into_iter()
        .filter(move |c| !(external_etcd && *c == Ca::EtcdCa))
}

/// The certificates a CA without its key must have signed (docs/kubeadm.md,
/// Externally managed CAs).
pub fn required_for_external(ca: Ca) -> impl Iterator<Item = &'static Row> {
    ROWS.iter()
        .filter(move |r| r.ca == ca && !r.is_kubeconfig())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_bytewise_and_complete() {
        let names: Vec<_> = ROWS.iter().map(|r| r.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(rows(false).count(), 11);
        assert_eq!(rows(true).count(), 7);
        assert_eq!(
            cas(true).map(Ca::name).collect::<Vec<_>>(),
            ["ca", "front-proxy-ca"]
        );
    }

    #[test]
    fn external_ca_requirements_match_the_spec() {
        let names = |ca| {
            required_for_external(ca)
                .map(|r| r.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Ca::Ca), ["apiserver", "apiserver-kubelet-client"]);
        assert_eq!(names(Ca::FrontProxyCa), ["front-proxy-client"]);
        assert_eq!(
            names(Ca::EtcdCa),
            [
                "apiserver-etcd-client",
                "etcd-healthcheck-client",
                "etcd-peer",
                "etcd-server"
            ]
        );
    }
}
