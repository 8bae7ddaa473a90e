//! `renew --expiring-within 30d`: which rows are due, for a systemd timer or cron job.

use time::{Duration, OffsetDateTime};

use crate::kubeadm::inventory::Row;
use crate::kubeadm::node::NodeFiles;
use crate::kubeadm::node_loader;

/// The rows of `rows` whose certificate expires within `window` of `now`
/// (expired ones included). Missing rows are left out: there is nothing to renew.
/// Rows whose file cannot be read are kept, so that renewal reports the problem
/// instead of a timer silently skipping it.
pub fn rows_expiring_within(
    files: &NodeFiles,
    rows: &[&'static Row],
    now: OffsetDateTime,
    window: Duration,
) -> Vec<&'static Row> {
    rows.iter()
        .copied()
        .filter(|row| match node_loader::load_row_certificate(files, row) {
            Ok(Some(cert)) => cert.not_after - now < window,
            Ok(None) => false,
            Err(_) => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeadm::inventory::ROWS;
    use crate::kubeadm::node::NodePath;
    use crate::test_support::{NOW, ecdsa_example_files};

    #[test]
    fn only_rows_in_the_window() {
        let mut files = ecdsa_example_files(NOW, 4);
        files
            .files
            .remove(&NodePath::kubeconfig("super-admin.conf"));
        let rows: Vec<&'static Row> = ROWS.iter().collect();
        let day = Duration::days(1);
        assert!(rows_expiring_within(&files, &rows, NOW, Duration::days(30)).is_empty());
        let due =
            rows_expiring_within(&files, &rows, NOW + Duration::days(340), Duration::days(30));
        assert_eq!(
            due.len(),
            10,
            "every present row, not the missing super-admin.conf"
        );
        files.insert(NodePath::cert("apiserver.crt"), b"junk".to_vec());
        let due = rows_expiring_within(&files, &rows, NOW, day);
        assert_eq!(
            due.iter().map(|r| r.name).collect::<Vec<_>>(),
            ["apiserver"]
        );
    }
}
