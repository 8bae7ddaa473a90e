//! Which uploaded files form kubeadm nodes: a folder holding `pki/ca.crt`
//! (`kubernetes/`, or `cp-1/`, `cp-2/` for several), its node name, and
//! kubeadm's check-expiration report of each.

use time::OffsetDateTime;

use super::model::{InputFile, NodeView};
use crate::check::expiration;
use crate::kubeadm::node::{NodeFiles, NodePath};

/// The kubeadm nodes among `files`, each with its report at `now`, in path order.
pub(super) fn node_views(files: &[InputFile<'_>], now: OffsetDateTime) -> Vec<NodeView> {
    detect_nodes(files)
        .into_iter()
        .map(|(root, node_files)| {
            let report = expiration::build(&node_files, now);
            NodeView {
                name: node_name(&root),
                root,
                report,
                files: node_files,
            }
        })
        .collect()
}

/// Maps uploaded paths onto kubeadm nodes: every folder under which a
/// `pki/ca.crt` lives and that is not inside another such folder (a lone
/// kubeconfig is not a node), with its `pki/` files, its top-level files and
/// its `manifests/` files. Sorted by path.
fn detect_nodes(files: &[InputFile<'_>]) -> Vec<(String, NodeFiles)> {
    let mut roots: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let name = f.name.trim_start_matches("./");
            let prefix = name.strip_suffix("pki/ca.crt")?;
            (prefix.is_empty() || prefix.ends_with('/')).then(|| prefix.to_string())
        })
        .collect();
    roots.sort();
    roots.dedup();
    // Sorted, a folder comes before the folders inside it.
    let mut outer: Vec<String> = Vec::new();
    for r in roots {
        if !outer.iter().any(|o| r.starts_with(o.as_str())) {
            outer.push(r);
        }
    }
    outer
        .into_iter()
        .map(|root| {
            let mut node = NodeFiles::default();
            for f in files {
                let name = f.name.trim_start_matches("./");
                let Some(rel) = name.strip_prefix(root.as_str()) else {
                    continue;
                };
                if let Some(pki_rel) = rel.strip_prefix("pki/") {
                    node.insert(NodePath::cert(pki_rel), f.bytes.to_vec());
                } else if !rel.contains('/')
                    || rel
                        .strip_prefix("manifests/")
                        .is_some_and(|m| !m.contains('/'))
                {
                    // The static pod manifests: fleet reads the phase of a
                    // service-account key rotation from them.
                    node.insert(NodePath::kubeconfig(rel), f.bytes.to_vec());
                }
            }
            (root, node)
        })
        .collect()
}

/// A node's name from its folder prefix: the last folder (`cp-1/` -> `cp-1`).
fn node_name(root: &str) -> String {
    root.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("node")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::analyze_with_progress;
    use super::super::testing::{NOW, ecdsa_node};
    use super::*;
    use crate::check::verify::Thresholds;

    #[test]
    fn the_outermost_folder_with_a_ca_is_a_node_named_by_its_folder() {
        let ca = b"x".as_slice();
        let files: Vec<InputFile<'_>> = [
            "b/pki/ca.crt",
            "./a/pki/ca.crt",
            "a/backup/pki/ca.crt",
            "a/admin.conf",
            "a/x/y.conf",
            "lone.conf",
        ]
        .iter()
        .map(|name| InputFile { name, bytes: ca })
        .collect();
        let nodes = detect_nodes(&files);
        let roots: Vec<&str> = nodes.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(roots, ["a/", "b/"]);
        let a: Vec<String> = nodes[0].1.files.keys().map(|p| p.to_string()).collect();
        assert_eq!(a.len(), 2, "{a:?}");
        assert!(a.contains(&"admin.conf".to_string()), "{a:?}");
        assert_eq!(
            [node_name("cluster/cp-1/"), node_name("")],
            ["cp-1", "node"]
        );
    }

    #[test]
    fn several_node_folders_give_one_report_each_and_named_roles() {
        let node = ecdsa_node();
        let mut names = Vec::new();
        for n in ["cluster/cp-2", "cluster/cp-1"] {
            for f in &node.files {
                names.push((format!("{n}/{}", f.path), &f.bytes));
            }
        }
        // The static pod manifests are part of the node (fleet reads the sa
        // rotation's phase from them); a file deeper down is not.
        let manifest = b"kind: Pod\n".to_vec();
        names.push((
            "cluster/cp-1/manifests/kube-apiserver.yaml".into(),
            &manifest,
        ));
        names.push((
            "cluster/cp-1/manifests/old/kube-apiserver.yaml".into(),
            &manifest,
        ));
        // A backup inside a node folder is not a node of its own.
        names.push((
            "cluster/cp-1/old/pki/ca.crt".to_string(),
            &node.files[0].bytes,
        ));
        let inputs: Vec<InputFile<'_>> = names
            .iter()
            .map(|(n, b)| InputFile { name: n, bytes: b })
            .collect();
        let mut calls = Vec::new();
        let a = analyze_with_progress(&inputs, &[], NOW, Thresholds::default(), &mut |d, t| {
            calls.push((d, t))
        });
        let roots: Vec<(&str, &str)> = a
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.root.as_str()))
            .collect();
        assert_eq!(
            roots,
            [("cp-1", "cluster/cp-1/"), ("cp-2", "cluster/cp-2/")]
        );
        let manifests: Vec<String> = a
            .nodes
            .iter()
            .flat_map(|n| n.files.files.keys())
            .map(|p| p.to_string())
            .filter(|p| p.contains("manifests"))
            .collect();
        assert_eq!(manifests, ["manifests/kube-apiserver.yaml"]);
        assert_eq!(
            a.nodes[0].report, a.nodes[1].report,
            "same files, same report"
        );
        let apiservers: Vec<Option<&str>> = a
            .items
            .iter()
            .filter_map(|i| i.certificate.as_ref())
            .filter(|c| c.role.as_deref() == Some("apiserver"))
            .map(|c| c.node.as_deref())
            .collect();
        assert_eq!(apiservers, [Some("cp-2"), Some("cp-1")]);
        // The same certificates twice (and ca.crt three times): one row each.
        let distinct = a.distinct_certificates();
        let certificates = a.items.iter().filter(|i| i.certificate.is_some()).count();
        assert!(distinct.len() * 2 < certificates, "{distinct:?}");
        assert!(distinct.windows(2).all(|w| w[0] < w[1]));
        let total: u64 = inputs.iter().map(|f| f.bytes.len() as u64).sum();
        assert_eq!(calls.len(), inputs.len());
        assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(calls.last(), Some(&(total, total)));
    }
}
