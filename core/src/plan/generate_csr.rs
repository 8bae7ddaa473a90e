//! `kcerts generate-csr`, as kubeadm's `certs generate-csr` (External CA mode):
//! a new key and a CSR for every leaf certificate kubeadm makes
//! (`<cert-dir>/<base>.key` and `.csr`) and for every kubeconfig
//! (`<kubeconfig-dir>/<name>.conf` holding only the server and the client key,
//! and `<name>.conf.csr`), built from the configuration, never from existing
//! certificates. Subjects, SANs and files follow kubeadm's certs and kubeconfig
//! phases (CreateDefaultKeysAndCSRFiles, CreateDefaultKubeConfigsAndCSRFiles).

use rand_core::CryptoRng;
use thiserror::Error;

use crate::issue::csr_builder::{self, CsrBuildError};
use crate::issue::leaf::LeafSpec;
use crate::issue::pki::{self, PkiOptions};
use crate::kubeadm::alt_names::AltNames;
use crate::kubeadm::kubeconfig::{Kubeconfig, KubeconfigError};
use crate::kubeadm::node::NodePath;
use crate::plan::renewal::FileWrite;
use crate::x509::keys::{KeyError, PrivateKey};

/// Why the keys and CSRs could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GenerateCsrError {
    /// A key could not be generated.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A CSR could not be built.
    #[error(transparent)]
    Csr(#[from] CsrBuildError),
    /// A kubeconfig could not be written.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
}

/// One key and its CSR.
#[derive(Debug, Clone)]
pub struct Request {
    /// What kubeadm prints for it: the base name (`apiserver`, `etcd/server`) or
    /// the kubeconfig file (`admin.conf`).
    pub name: String,
    /// The files: the key (or the kubeconfig holding it), then the CSR; all 0600.
    pub writes: Vec<FileWrite>,
}

/// Everything `generate-csr` writes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The leaf certificates' keys and CSRs, in kubeadm's certificate order.
    pub certs: Vec<Request>,
    /// The kubeconfigs and their CSRs.
    pub kubeconfigs: Vec<Request>,
}

impl Plan {
    /// Every file, certificates first.
    pub fn writes(&self) -> impl Iterator<Item = &FileWrite> {
        self.certs
            .iter()
            .chain(&self.kubeconfigs)
            .flat_map(|r| r.writes.iter())
    }
}

/// What the CSRs are made from.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// Node name, addresses, service subnet, DNS domain, endpoint, apiserver
    /// certSANs and the key algorithm (`validity` and `external_etcd` are not used:
    /// kubeadm makes every leaf's CSR).
    pub node: &'a PkiOptions,
    /// `clusterName`, the kubeconfigs' cluster.
    pub cluster_name: &'a str,
    /// `etcd.local.serverCertSANs`.
    pub etcd_server_sans: &'a [String],
    /// `etcd.local.peerCertSANs`.
    pub etcd_peer_sans: &'a [String],
}

fn with_extra(mut spec: LeafSpec, extra: &[String]) -> LeafSpec {
    let mut names = AltNames {
        dns: spec.dns_names.clone(),
        ips: spec.ip_addresses.clone(),
    };
    for s in extra {
        // Names kubeadm would skip were refused when the configuration was read.
        let _ = names.add_config_san(s);
    }
    spec.dns_names = names.dns;
    spec.ip_addresses = names.ips;
    spec
}

/// Plans every key and CSR.
pub fn plan<R: CryptoRng + ?Sized>(
    inputs: &Inputs<'_>,
    rng: &mut R,
) -> Result<Plan, GenerateCsrError> {
    let node = PkiOptions {
        external_etcd: false,
        ..inputs.node.clone()
    };
    let alg = node.key_algorithm;
    let mut certs = Vec::new();
    for (base, _, spec) in pki::leaf_specs(&node) {
        let spec = match base {
            "etcd/server" => with_extra(spec, inputs.etcd_server_sans),
            "etcd/peer" => with_extra(spec, inputs.etcd_peer_sans),
            _ => spec,
        };
        let key = PrivateKey::generate(alg, rng)?;
        let csr = csr_builder::build(&spec, &key)?;
        certs.push(Request {
            name: base.to_string(),
            writes: vec![
                FileWrite {
                    path: NodePath::cert(format!("{base}.key")),
                    bytes: key.to_pem().into_bytes(),
                    secret: true,
                },
                FileWrite {
                    path: NodePath::cert(format!("{base}.csr")),
                    bytes: csr.into_bytes(),
                    secret: true,
                },
            ],
        });
    }
    let mut kubeconfigs = Vec::new();
    for conf in pki::kubeconfig_specs(&node) {
        let key = PrivateKey::generate(alg, rng)?;
        let csr = csr_builder::build(
            &pki::client_spec(&conf.client_name, conf.organization),
            &key,
        )?;
        let yaml = Kubeconfig::build(
            inputs.cluster_name,
            &conf.server,
            &conf.client_name,
            b"",
            "",
            &key.to_pem(),
        )
        .to_yaml()?;
        kubeconfigs.push(Request {
            name: conf.file.to_string(),
            writes: vec![
                FileWrite {
                    path: NodePath::kubeconfig(conf.file),
                    bytes: yaml.into_bytes(),
                    secret: true,
                },
                FileWrite {
                    path: NodePath::kubeconfig(format!("{}.csr", conf.file)),
                    bytes: csr.into_bytes(),
                    secret: true,
                },
            ],
        });
    }
    Ok(Plan { certs, kubeconfigs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeadm::kubeconfig::Kubeconfig;
    use crate::test_support::ecdsa_example;
    use crate::x509::csr;

    #[test]
    fn every_kubeadm_key_and_csr_with_kubeadms_names() {
        let node = PkiOptions {
            extra_sans: vec!["203.0.113.7".into()],
            external_etcd: true, // kubeadm's generate-csr makes etcd's CSRs anyway
            ..ecdsa_example()
        };
        let p = plan(
            &Inputs {
                node: &node,
                cluster_name: "prod",
                etcd_server_sans: &["etcd.example.com".into()],
                etcd_peer_sans: &[],
            },
            &mut crate::seeded_rng(9),
        )
        .unwrap();
        let names: Vec<_> = p.certs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "apiserver",
                "apiserver-kubelet-client",
                "front-proxy-client",
                "etcd/server",
                "etcd/peer",
                "etcd/healthcheck-client",
                "apiserver-etcd-client"
            ]
        );
        let confs: Vec<_> = p.kubeconfigs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            confs,
            [
                "admin.conf",
                "super-admin.conf",
                "controller-manager.conf",
                "scheduler.conf",
                "kubelet.conf"
            ]
        );
        assert!(p.writes().all(|w| w.secret));
        let csr_of = |path: &str| {
            let w = p.writes().find(|w| w.path.to_string() == path).unwrap();
            csr::parse(&w.bytes).unwrap()
        };
        let api = csr_of("pki/apiserver.csr");
        assert!(api.signature_valid);
        assert_eq!(api.common_name.as_deref(), Some("kube-apiserver"));
        assert!(api.ip_addresses.contains(&"203.0.113.7".parse().unwrap()));
        let etcd = csr_of("pki/etcd/server.csr");
        assert_eq!(etcd.common_name.as_deref(), Some("cp-1"));
        assert!(etcd.dns_names.contains(&"etcd.example.com".to_string()));
        assert!(
            !csr_of("pki/etcd/peer.csr")
                .dns_names
                .contains(&"etcd.example.com".to_string())
        );
        let kubelet = csr_of("kubelet.conf.csr");
        assert_eq!(kubelet.common_name.as_deref(), Some("system:node:cp-1"));
        assert_eq!(kubelet.organizations, ["system:nodes"]);
        // The kubeconfig holds the server and the key, no certificate and no CA.
        let conf = p
            .writes()
            .find(|w| w.path.to_string() == "admin.conf")
            .unwrap();
        let text = String::from_utf8(conf.bytes.clone()).unwrap();
        assert!(text.contains("client-key-data"), "{text}");
        assert!(!text.contains("client-certificate-data"), "{text}");
        assert!(!text.contains("certificate-authority-data"), "{text}");
        assert!(text.contains("name: kubernetes-admin@prod"), "{text}");
        let kc = Kubeconfig::parse(&conf.bytes).unwrap();
        assert!(kc.to_yaml().is_ok());
        // Each CSR is signed by the key written beside it.
        let key = p
            .writes()
            .find(|w| w.path.to_string() == "pki/apiserver.key")
            .unwrap();
        assert_eq!(
            PrivateKey::parse(&key.bytes).unwrap().public_key_bits(),
            api.public_key_bits
        );
    }
}
