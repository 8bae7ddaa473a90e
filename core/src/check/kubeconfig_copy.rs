//! `verify --kubeconfig-copy PATH`: a copy of admin.conf (`~/.kube/config`) whose
//! user still holds credentials admin.conf no longer has (superseded by a
//! renewal) or that expired. One row per user with an embedded client
//! certificate; which users are admin.conf's is `admin_copy::holder`'s rule.

use time::OffsetDateTime;

use crate::check::verify::{Check, CheckId, Status};
use crate::kubeadm::admin_copy::{self, Holder};
use crate::kubeadm::kubeconfig::Kubeconfig;
use crate::kubeadm::node::{FileContent, NodeFiles, NodePath};
use crate::kubeadm::residual::format_date;
use crate::x509::certificate::{self, Certificate};

/// admin.conf's current client certificate, when it can be read.
pub fn admin_certificate(files: &NodeFiles) -> Option<Certificate> {
    let Some(FileContent::Bytes(b)) = files.get(&NodePath::kubeconfig("admin.conf")) else {
        return None;
    };
    let cur = Kubeconfig::parse(b).ok()?.current().ok()?;
    certificate::parse_first(&cur.client_certificate_data).ok()
}

/// Checks one copy (`shown` is its path as given on the command line).
pub fn check(
    shown: &str,
    copy: Option<&FileContent>,
    admin: Option<&Certificate>,
    now: OffsetDateTime,
) -> Vec<Check> {
    let row = |status, reason: String| Check {
        status,
        target: shown.to_string(),
        check: CheckId::KubeconfigCopy,
        reason,
    };
    let fix = format!(
        "run `kcerts renew admin.conf --update-kubeconfig {shown}` or copy admin.conf again"
    );
    let bytes = match copy {
        Some(FileContent::Bytes(b)) => b,
        Some(FileContent::Unreadable(e)) => {
            return vec![row(Status::Warn, format!("cannot be read: {e}"))];
        }
        None => return vec![row(Status::Warn, "is missing".into())],
    };
    let users = match Kubeconfig::parse(bytes).and_then(|k| admin_copy::users(&k)) {
        Ok(u) => u,
        Err(e) => {
            return vec![row(
                Status::Warn,
                format!("is not a kubeconfig kcerts can read: {e}"),
            )];
        }
    };
    let mut out = Vec::new();
    for u in &users {
        let name = &u.name;
        let cert = match &u.cert {
            Ok(c) => c,
            Err(e) => {
                out.push(row(
                    Status::Warn,
                    format!("user {name}: its certificate cannot be parsed: {e}"),
                ));
                continue;
            }
        };
        let class = admin.map_or(Holder::Other, |a| admin_copy::holder(cert, a));
        let expires = format_date(cert.not_after);
        out.push(if cert.not_after <= now {
            row(
                Status::Warn,
                format!("user {name}: its certificate expired on {expires}: {fix}"),
            )
        } else {
            match class {
                Holder::Superseded => row(
                    Status::Warn,
                    format!(
                        "user {name} holds an older admin.conf certificate (serial {}, expires \
                         {expires}) than admin.conf: {fix}",
                        cert.serial
                    ),
                ),
                Holder::Current => row(
                    Status::Pass,
                    format!(
                        "user {name} holds admin.conf's certificate (serial {})",
                        cert.serial
                    ),
                ),
                Holder::Other => row(
                    Status::Pass,
                    format!(
                        "user {name}: {} (not admin.conf's), expires {expires}",
                        cert.subject
                    ),
                ),
            }
        });
    }
    if out.is_empty() {
        out.push(row(
            Status::Pass,
            "no user with an embedded client certificate".into(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeadm::admin_copy::tests::renewed_admin;
    use crate::test_support::NOW;

    #[test]
    fn current_superseded_expired_and_missing() {
        let (copy, issued) = renewed_admin(7);
        let old = Kubeconfig::parse(&copy).unwrap().current().unwrap();
        let old = certificate::parse_first(&old.client_certificate_data).unwrap();
        let c = FileContent::Bytes(copy.clone());

        let rows = check("~/.kube/config", Some(&c), Some(&old), NOW);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, Status::Pass, "{rows:?}");
        assert!(rows[0].reason.contains("holds admin.conf's certificate"));

        let rows = check("c", Some(&c), Some(&issued.cert), NOW);
        assert_eq!(rows[0].status, Status::Warn);
        assert!(
            rows[0].reason.contains("older admin.conf certificate"),
            "{rows:?}"
        );
        assert!(rows[0].reason.contains("--update-kubeconfig c"));

        let up = admin_copy::update(&copy, &old, &issued.cert_pem(), &issued.key_pem(), b"CA\n")
            .unwrap();
        let c2 = FileContent::Bytes(up.yaml.into_bytes());
        assert_eq!(
            check("c", Some(&c2), Some(&issued.cert), NOW)[0].status,
            Status::Pass
        );

        let later = NOW + time::Duration::days(400);
        let rows = check("c", Some(&c), Some(&old), later);
        assert!(rows[0].reason.contains("expired on"), "{rows:?}");
        assert_eq!(check("c", None, None, NOW)[0].reason, "is missing");
        let bad = FileContent::Bytes(b"- not a mapping".to_vec());
        assert!(
            check("c", Some(&bad), None, NOW)[0]
                .reason
                .contains("not a kubeconfig")
        );
    }
}
