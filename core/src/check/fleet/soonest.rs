//! The `soonest-expiry` row: the certificate or CA that expires first over
//! every node, judged with verify's thresholds.

use time::OffsetDateTime;

use super::node::Node;
use super::{Rows, Soonest};
use crate::check::verify::{self, CheckId, Status, Thresholds};
use crate::x509::certificate::Certificate;

pub(super) fn soonest_row(
    nodes: &[Node<'_>],
    th: Thresholds,
    now: OffsetDateTime,
    rows: &mut Rows,
) -> Option<Soonest> {
    let mut best: Option<(&str, &str, &Certificate)> = None;
    for node in nodes {
        let leaves = node.leaves().map(|(row, c)| (row.name, c));
        let cas = node.cas().map(|(ca, c)| (ca.name(), c));
        for (row, cert) in leaves.chain(cas) {
            if best
                .as_ref()
                .is_none_or(|(_, _, b)| cert.not_after < b.not_after)
            {
                best = Some((node.name, row, cert));
            }
        }
    }
    let Some((node, row, cert)) = best else {
        rows.push(
            Status::Fail,
            "cluster".into(),
            CheckId::SoonestExpiry,
            "no certificate loaded on any node".into(),
        );
        return None;
    };
    let (status, reason) = verify::expiry(cert, now, th);
    rows.push(
        status,
        "cluster".into(),
        CheckId::SoonestExpiry,
        format!("{node}/{row} {reason}"),
    );
    Some(Soonest {
        node: node.to_string(),
        name: row.to_string(),
        expiration_date: cert.not_after,
        residual_seconds: cert.residual_seconds(now),
    })
}

#[cfg(test)]
mod tests {
    use crate::check::fleet::testing::{cluster, find, run};
    use crate::check::fleet::{Options, check};
    use crate::check::verify::Status;
    use crate::kubeadm::node::{NodeFiles, NodePath};
    use crate::test_support::NOW;

    #[test]
    fn soonest_and_read_errors() {
        let mut nodes = cluster();
        nodes[1]
            .1
            .insert(NodePath::cert("front-proxy-client.crt"), b"junk".to_vec());
        nodes[2].1.files.clear();
        let f = check(&nodes, &Options::default(), NOW + time::Duration::days(360)).unwrap();
        let row = find(&f, "cluster", "soonest-expiry");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.reason.starts_with("cp-1/admin.conf expires on"),
            "{}",
            row.reason
        );
        assert_eq!(
            find(&f, "cp-2/pki/front-proxy-client.crt", "read").status,
            Status::Fail
        );
        assert_eq!(find(&f, "ca", "same-cert").status, Status::Fail);
        assert!(
            find(&f, "ca", "same-cert")
                .reason
                .contains("cp-3 cannot load it")
        );
        assert!(
            find(&f, "sa", "same-pub")
                .reason
                .contains("missing or unreadable on cp-3")
        );
        let none = vec![("x".to_string(), NodeFiles::default())];
        let f = run(&none);
        assert_eq!(f.soonest, None);
        assert_eq!(find(&f, "cluster", "soonest-expiry").status, Status::Fail);
    }
}
