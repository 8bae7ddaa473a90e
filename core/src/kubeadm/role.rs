//! What kubeadm puts in each role's subject (docs/kubeadm.md, Subjects and SANs per
//! row), for `verify` and `sign`.

use thiserror::Error;

use crate::kubeadm::inventory::Row;

/// The common name a role must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommonName {
    /// Exactly this name.
    Exact(&'static str),
    /// The node name (etcd server and peer): checked against the node name when
    /// known, otherwise it must be one of the certificate's DNS SANs.
    NodeName,
}

/// The subject kubeadm gives a role: a common name and the accepted organization
/// sets (the first is what the newest kubeadm writes; later ones are older kubeadms').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectRule {
    /// The common name.
    pub common_name: CommonName,
    /// Accepted `O` values, each a whole list.
    pub organizations: &'static [&'static [&'static str]],
}

const NONE: &[&str] = &[];
const MASTERS: &[&str] = &["system:masters"];
const CLUSTER_ADMINS: &[&str] = &["kubeadm:cluster-admins"];

/// The subject rule of a row.
pub fn subject_rule(row: &Row) -> SubjectRule {
    let exact = |cn, orgs| SubjectRule {
        common_name: CommonName::Exact(cn),
        organizations: orgs,
    };
    match row.name {
        "admin.conf" => exact("kubernetes-admin", &[CLUSTER_ADMINS, MASTERS]),
        "super-admin.conf" => exact("kubernetes-super-admin", &[MASTERS]),
        "apiserver" => exact("kube-apiserver", &[NONE]),
        "apiserver-etcd-client" => exact("kube-apiserver-etcd-client", &[NONE, MASTERS]),
        // v1.36.1+ writes the CN alone (kubeadm::version), 1.29 to 1.36.0
        // kubeadm:cluster-admins, older ones system:masters.
        "apiserver-kubelet-client" => exact(
            "kube-apiserver-kubelet-client",
            &[NONE, CLUSTER_ADMINS, MASTERS],
        ),
        "controller-manager.conf" => exact("system:kube-controller-manager", &[NONE]),
        "etcd-healthcheck-client" => exact("kube-etcd-healthcheck-client", &[NONE, MASTERS]),
        "front-proxy-client" => exact("front-proxy-client", &[NONE]),
        "scheduler.conf" => exact("system:kube-scheduler", &[NONE]),
        // etcd-server, etcd-peer
        _ => SubjectRule {
            common_name: CommonName::NodeName,
            organizations: &[NONE],
        },
    }
}

/// Why a subject does not fit its role.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Mismatch {
    /// Another CN than the role's fixed one.
    #[error("CN is {found:?}; kubeadm's {row} has CN {want:?}")]
    CommonName {
        /// The row.
        row: &'static str,
        /// The CN found.
        found: String,
        /// The CN kubeadm writes.
        want: &'static str,
    },
    /// A CN that is not the given node name.
    #[error("CN is {found:?}; kubeadm's {row} has the node name {node:?} as CN")]
    NotTheNodeName {
        /// The row.
        row: &'static str,
        /// The CN found.
        found: String,
        /// The node name.
        node: String,
    },
    /// No node name given, and the CN is not also a DNS SAN.
    #[error("CN is {found:?}; kubeadm's {row} has the node name as CN and as a DNS SAN")]
    NodeNameNotASan {
        /// The row.
        row: &'static str,
        /// The CN found.
        found: String,
    },
    /// Organizations other than the role's.
    #[error("O is {found}; kubeadm's {row} has O {want}")]
    Organizations {
        /// The row.
        row: &'static str,
        /// The organizations found, `+`-joined, or `none`.
        found: String,
        /// The sets kubeadm writes, `or`-joined.
        want: String,
    },
}

/// Checks a subject (CN, O, DNS SANs) against `row`'s rule. `node_name` is used
/// for the etcd server and peer certificates when known.
pub fn check_subject(
    row: &Row,
    common_name: Option<&str>,
    organizations: &[String],
    dns_names: &[String],
    node_name: Option<&str>,
) -> Result<(), Mismatch> {
    let rule = subject_rule(row);
    let cn = common_name.unwrap_or("");
    match rule.common_name {
        CommonName::Exact(want) if cn != want => {
            return Err(Mismatch::CommonName {
                row: row.name,
                found: cn.to_string(),
                want,
            });
        }
        CommonName::NodeName => match node_name {
            Some(n) if cn != n => {
                return Err(Mismatch::NotTheNodeName {
                    row: row.name,
                    found: cn.to_string(),
                    node: n.to_string(),
                });
            }
            None if cn.is_empty() || !dns_names.iter().any(|d| d == cn) => {
                return Err(Mismatch::NodeNameNotASan {
                    row: row.name,
                    found: cn.to_string(),
                });
            }
            _ => {}
        },
        CommonName::Exact(_) => {}
    }
    let fits = rule.organizations.iter().any(|set| {
        set.len() == organizations.len() && set.iter().zip(organizations).all(|(a, b)| a == b)
    });
    if !fits {
        let want: Vec<String> = rule
            .organizations
            .iter()
            .map(|s| {
                if s.is_empty() {
                    "none".to_string()
                } else {
                    s.join("+")
                }
            })
            .collect();
        let have = if organizations.is_empty() {
            "none".to_string()
        } else {
            organizations.join("+")
        };
        return Err(Mismatch::Organizations {
            row: row.name,
            found: have,
            want: want.join(" or "),
        });
    }
    Ok(())
}

/// The CN kubeadm gives the kubelet's client certificate: `system:node:<node name>`.
pub const KUBELET_CN_PREFIX: &str = "system:node:";
/// The kubelet client certificate's organization.
pub const KUBELET_ORG: &str = "system:nodes";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeadm::inventory::row;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn admin_accepts_old_and_new_organizations() {
        let admin = row("admin.conf").unwrap();
        let cn = Some("kubernetes-admin");
        assert!(check_subject(admin, cn, &s(&["kubeadm:cluster-admins"]), &[], None).is_ok());
        assert!(check_subject(admin, cn, &s(&["system:masters"]), &[], None).is_ok());
        let e = check_subject(admin, cn, &[], &[], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "O is none; kubeadm's admin.conf has O kubeadm:cluster-admins or system:masters"
        );
    }

    #[test]
    fn apiserver_kubelet_client_of_every_kubeadm_release() {
        // v1.37 (CN only), v1.29 to v1.36.0, older.
        let r = row("apiserver-kubelet-client").unwrap();
        let cn = Some("kube-apiserver-kubelet-client");
        for orgs in [&[][..], &["kubeadm:cluster-admins"], &["system:masters"]] {
            assert!(
                check_subject(r, cn, &s(orgs), &[], None).is_ok(),
                "{orgs:?}"
            );
        }
        let e = check_subject(r, cn, &s(&["x"]), &[], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "O is x; kubeadm's apiserver-kubelet-client has O none or kubeadm:cluster-admins or \
             system:masters"
        );
    }

    #[test]
    fn etcd_server_cn_is_the_node_name() {
        let etcd = row("etcd-server").unwrap();
        let dns = s(&["cp-1", "localhost"]);
        assert!(check_subject(etcd, Some("cp-1"), &[], &dns, None).is_ok());
        assert!(check_subject(etcd, Some("cp-1"), &[], &dns, Some("cp-1")).is_ok());
        assert!(check_subject(etcd, Some("cp-1"), &[], &dns, Some("cp-2")).is_err());
        assert!(check_subject(etcd, Some("other"), &[], &dns, None).is_err());
    }

    #[test]
    fn wrong_cn_is_named() {
        let api = row("apiserver").unwrap();
        let e = check_subject(api, Some("kube-apiserver-x"), &[], &[], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CN is \"kube-apiserver-x\"; kubeadm's apiserver has CN \"kube-apiserver\""
        );
    }
}
