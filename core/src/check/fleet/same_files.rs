//! The files every node must share: each CA certificate and key (`same-cert`,
//! `same-key` per CA) and the service-account pair (`same-key`, `same-pub` of
//! `sa`), with a rotation under way explained rather than failed.

use super::Rows;
use super::ca_rotation::Rotation;
use super::node::Node;
use super::sa_rotation::SaRotation;
use crate::check::verify::{CheckId, Status};
use crate::kubeadm::inventory::Ca;
use crate::kubeadm::node::NodePath;
use crate::kubeadm::node_loader;
use crate::kubeadm::sa_phase;
use crate::x509::certificate::Certificate;
use crate::x509::keys::PrivateKey;

/// Groups nodes by a value; `None` values (missing or unreadable) are kept apart.
fn groups<V: PartialEq>(items: Vec<(&str, Option<V>)>) -> (Vec<(V, Vec<&str>)>, Vec<&str>) {
    let mut out: Vec<(V, Vec<&str>)> = Vec::new();
    let mut absent = Vec::new();
    for (name, v) in items {
        match v {
            None => absent.push(name),
            Some(v) => match out.iter_mut().find(|(x, _)| *x == v) {
                Some((_, names)) => names.push(name),
                None => out.push((v, vec![name])),
            },
        }
    }
    (out, absent)
}

fn short(cert: &Certificate) -> String {
    format!(
        "CN={} serial {}",
        cert.common_name.as_deref().unwrap_or(""),
        cert.serial
    )
}

pub(super) fn same_ca(
    nodes: &[Node<'_>],
    ca: Ca,
    rotation: Option<&Rotation<'_>>,
    rows: &mut Rows,
) {
    let name = ca.name();
    let certs: Vec<(&str, Option<&[Certificate]>)> =
        nodes.iter().map(|n| (n.name, n.bundle(ca))).collect();
    let ders: Vec<(&str, Option<Vec<&[u8]>>)> = certs
        .iter()
        .map(|(n, c)| (*n, c.map(|c| c.iter().map(|x| x.der.as_slice()).collect())))
        .collect();
    let (found, absent) = groups(ders);
    let file = format!("pki/{}", ca.cert_file());
    let describe = |der: &Vec<&[u8]>| -> String {
        certs
            .iter()
            .filter_map(|(_, c)| *c)
            .find(|c| c.iter().map(|x| x.der.as_slice()).eq(der.iter().copied()))
            .map(|c| c.iter().map(short).collect::<Vec<_>>().join(" + "))
            .unwrap_or_default()
    };
    let rotating = rotation.filter(|r| r.consistent());
    if found.len() == 1 && absent.is_empty() {
        rows.push(
            Status::Pass,
            name.into(),
            CheckId::SameCert,
            format!(
                "{file} is the same on every node ({})",
                describe(&found[0].0)
            ),
        );
    } else if let Some(r) = rotating.filter(|r| {
        absent.is_empty()
            && found
                .iter()
                .all(|(d, _)| d.iter().all(|x| *x == r.old.der || *x == r.new.der))
    }) {
        let parts: Vec<String> = found
            .iter()
            .map(|(d, n)| {
                let which: Vec<&str> = d
                    .iter()
                    .map(|x| if *x == r.new.der { "new" } else { "old" })
                    .collect();
                format!("{}: {}", n.join(", "), which.join(" + "))
            })
            .collect();
        rows.push(
            Status::Pass,
            name.into(),
            CheckId::SameCert,
            format!(
                "{file} holds only the rotation's old and new CA on every node ({}); the ca-rotation row says whether the phases fit",
                parts.join("; ")
            ),
        );
    } else {
        let mut parts: Vec<String> = found
            .iter()
            .map(|(d, n)| format!("{}: {}", n.join(", "), describe(d)))
            .collect();
        if !absent.is_empty() {
            parts.push(format!("{} cannot load it", absent.join(", ")));
        }
        rows.push(
            Status::Fail,
            name.into(),
            CheckId::SameCert,
            format!(
                "{file} differs between nodes ({}): nodes reject what the others sign; copy one CA to every node",
                parts.join("; ")
            ),
        );
    }

    // Per node: `None` when the key is absent, `Some(None)` when it does not load.
    type Key = Option<Option<Vec<u8>>>;
    let keys: Vec<(&str, Key)> = nodes
        .iter()
        .map(|n| {
            let key = match node_loader::read(n.files, &NodePath::cert(ca.key_file())) {
                Ok(None) => None,
                Ok(Some(b)) => Some(PrivateKey::public_key_bits_of(b).ok()),
                Err(_) => Some(None),
            };
            (n.name, key)
        })
        .collect();
    let without: Vec<&str> = keys
        .iter()
        .filter(|(_, k)| k.is_none())
        .map(|(n, _)| *n)
        .collect();
    let broken: Vec<&str> = keys
        .iter()
        .filter(|(_, k)| matches!(k, Some(None)))
        .map(|(n, _)| *n)
        .collect();
    let (found, _) = groups(keys.into_iter().map(|(n, k)| (n, k.flatten())).collect());
    let key_file = format!("pki/{}", ca.key_file());
    let rotation_keys = rotating.filter(|r| {
        found.len() == 2
            && found
                .iter()
                .all(|(k, _)| *k == r.old.public_key_bits() || *k == r.new.public_key_bits())
    });
    let (status, reason) = if !broken.is_empty() {
        (
            Status::Fail,
            format!(
                "{key_file} cannot be read or parsed on {}",
                broken.join(", ")
            ),
        )
    } else if found.is_empty() {
        (Status::Pass, format!("external CA: no node has {key_file}"))
    } else if let Some(r) = rotation_keys {
        let on = |new: bool| {
            found
                .iter()
                .find(|(k, _)| (*k == r.new.public_key_bits()) == new)
                .map(|(_, n)| n.join(", "))
                .unwrap_or_default()
        };
        (
            Status::Pass,
            format!(
                "{key_file} is the old CA's key on {} and the new CA's on {} (the rotation's phases; see ca-rotation)",
                on(false),
                on(true)
            ),
        )
    } else if found.len() > 1 {
        let parts: Vec<String> = found
            .iter()
            .enumerate()
            .map(|(i, (_, n))| format!("key {} on {}", i + 1, n.join(", ")))
            .collect();
        (
            Status::Fail,
            format!(
                "{key_file} differs between nodes ({}): a certificate renewed on one node is rejected by the others",
                parts.join("; ")
            ),
        )
    } else if !without.is_empty() {
        (
            Status::Warn,
            format!(
                "{key_file} is on {} but not on {}: renew cannot sign there (kubeadm treats the CA as external)",
                found[0].1.join(", "),
                without.join(", ")
            ),
        )
    } else {
        (
            Status::Pass,
            format!("{key_file} is the same key on every node"),
        )
    };
    rows.push(status, name.into(), CheckId::SameKey, reason);
}

pub(super) fn same_sa(nodes: &[Node<'_>], rotation: Option<&SaRotation<'_>>, rows: &mut Rows) {
    for (file, check, what) in [
        (
            "sa.key",
            CheckId::SameKey,
            "service-account tokens signed on one node fail on the others",
        ),
        (
            "sa.pub",
            CheckId::SamePub,
            "tokens are checked against a different key on each node",
        ),
    ] {
        let values: Vec<(&str, Option<Vec<u8>>)> = nodes
            .iter()
            .map(|n| (n.name, sa_phase::key_bits(n.files, file)))
            .collect();
        let (found, absent) = groups(values);
        let rotating = rotation.filter(|r| {
            r.consistent()
                && absent.is_empty()
                && found.iter().all(|(k, _)| *k == r.old || *k == r.new)
        });
        if found.len() == 1 && absent.is_empty() {
            rows.push(
                Status::Pass,
                "sa".into(),
                check,
                format!("pki/{file} is the same on every node"),
            );
        } else if let Some(r) = rotating {
            let on = |new: bool| {
                found
                    .iter()
                    .find(|(k, _)| (*k == r.new) == new)
                    .map(|(_, n)| n.join(", "))
                    .unwrap_or_default()
            };
            rows.push(
                Status::Pass,
                "sa".into(),
                check,
                format!(
                    "pki/{file} is the rotation's old key on {} and its new key on {} (the rotation's phases; see sa-rotation)",
                    on(false),
                    on(true)
                ),
            );
        } else {
            let mut parts: Vec<String> = found
                .iter()
                .enumerate()
                .map(|(i, (_, n))| format!("key {} on {}", i + 1, n.join(", ")))
                .collect();
            if !absent.is_empty() {
                parts.push(format!("missing or unreadable on {}", absent.join(", ")));
            }
            rows.push(
                Status::Fail,
                "sa".into(),
                check,
                format!(
                    "pki/{file} differs between nodes ({}): {what}; copy one pair to every node",
                    parts.join("; ")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::fleet::testing::{cluster, find, run};
    use crate::check::verify::Status;
    use crate::issue::pki;
    use crate::kubeadm::node::NodeFiles;
    use crate::test_support::{NOW, ecdsa_node};

    #[test]
    fn a_different_ca_on_one_node() {
        let mut nodes = cluster();
        let other = NodeFiles::from_generated(
            &pki::generate(&ecdsa_node("cp-3", 13), NOW, &mut crate::seeded_rng(99)).unwrap(),
        );
        nodes[2].1 = other;
        let f = run(&nodes);
        let row = find(&f, "ca", "same-cert");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason.contains("(cp-1, cp-2: CN=kubernetes"),
            "{}",
            row.reason
        );
        assert!(
            row.reason.contains("; cp-3: CN=kubernetes"),
            "{}",
            row.reason
        );
        assert_eq!(find(&f, "ca", "same-key").status, Status::Fail);
        assert_eq!(find(&f, "sa", "same-key").status, Status::Fail);
        let row = find(&f, "cp-3/ca", "leaves-trusted");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason.contains("apiserver (not by cp-1, cp-2)"),
            "{}",
            row.reason
        );
        assert_eq!(
            find(&f, "cp-1/etcd-ca", "leaves-trusted").status,
            Status::Fail
        );
    }
}
