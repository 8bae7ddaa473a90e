//! kubeadm roles: which row of kubeadm's report (or which CA) each node
//! certificate is, and whether it has the usages kubeadm gives that row.

use super::findings::{Warning, WarningKind};
use super::model::{Item, Severity};
use crate::kubeadm::inventory::{self, Location};

/// Names each node certificate by its kubeadm row (and its node, when there
/// are several) and checks its usages.
pub(super) fn assign_roles(
    items: &mut [Item],
    root: &str,
    node: Option<&str>,
    warnings: &mut Vec<Warning>,
) {
    for item in items.iter_mut() {
        let Some(rel) = item.file.strip_prefix(root) else {
            continue;
        };
        let Some(c) = item.certificate.as_mut() else {
            continue;
        };
        c.node = node.map(str::to_string);
        let role_row = inventory::ROWS.iter().find(|r| match r.location {
            Location::CertDir { base } => rel == format!("pki/{base}.crt"),
            Location::Kubeconfig { file } => {
                rel == file && item.place.contains("client-certificate")
            }
        });
        if let Some(row) = role_row {
            c.role = Some(row.name.to_string());
            let missing: Vec<String> = row
                .usage
                .extended_key_usages()
                .into_iter()
                .filter(|u| !c.cert.extended_key_usage.contains(u))
                .map(|u| u.name())
                .collect();
            if !missing.is_empty() {
                warnings.push(Warning {
                    item: item.id,
                    severity: Severity::Critical,
                    kind: WarningKind::MissingExtendedKeyUsage {
                        row: row.name,
                        missing: missing.join(", "),
                    },
                });
            }
            for ku in ["digitalSignature", "keyEncipherment"] {
                if !c.cert.key_usage.iter().any(|k| k == ku) {
                    warnings.push(Warning {
                        item: item.id,
                        severity: Severity::Warning,
                        kind: WarningKind::MissingKeyUsage {
                            row: row.name,
                            usage: ku,
                        },
                    });
                }
            }
        } else if let Some(ca) = inventory::Ca::ALL
            .iter()
            .find(|ca| rel == format!("pki/{}", ca.cert_file()))
        {
            c.role = Some(ca.name().to_string());
            if !c.cert.is_ca {
                warnings.push(Warning {
                    item: item.id,
                    severity: Severity::Critical,
                    kind: WarningKind::NotACa { ca: ca.name() },
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{NOW, ecdsa_node, inputs, named};
    use super::super::{WarningKind, analyze};

    #[test]
    fn a_role_gets_its_name_and_its_usages_checked() {
        let node = ecdsa_node();
        let mut files = named(&node, "");
        let bytes = |files: &[(String, Vec<u8>)], p: &str| {
            files.iter().find(|(n, _)| n == p).unwrap().1.clone()
        };
        // The CA's certificate where apiserver.crt belongs, and apiserver's
        // where ca.crt does.
        let (ca, apiserver) = (
            bytes(&files, "pki/ca.crt"),
            bytes(&files, "pki/apiserver.crt"),
        );
        for (name, b) in files.iter_mut() {
            if name == "pki/ca.crt" {
                *b = apiserver.clone();
            } else if name == "pki/apiserver.crt" {
                *b = ca.clone();
            }
        }
        let a = analyze(&inputs(&files), NOW);
        let role = |file: &str| {
            a.items
                .iter()
                .find(|i| i.file == file)
                .and_then(|i| i.certificate.as_ref()?.role.clone())
        };
        assert_eq!(role("pki/apiserver.crt").as_deref(), Some("apiserver"));
        assert_eq!(role("pki/ca.crt").as_deref(), Some("ca"));
        let kinds: Vec<&WarningKind> = a.warnings.iter().map(|w| &w.kind).collect();
        assert!(
            kinds.iter().any(|k| matches!(
                k,
                WarningKind::MissingExtendedKeyUsage { row: "apiserver", missing } if missing == "server auth"
            )),
            "{kinds:?}"
        );
        assert!(
            kinds
                .iter()
                .any(|k| matches!(k, WarningKind::NotACa { ca: "ca" })),
            "{kinds:?}"
        );
    }
}
