//! The backups kcerts leaves (`<base>/kcerts-<command>-<UTC time>[-N]`): their
//! names, which of their files hold private keys, and which a prune removes.
//! The CLI lists the directories and deletes; the rules are here.

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// A backup directory's name, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupName {
    /// What made it: `renew`, `ca-ca-reissue`, `sa-switch`...
    pub command: String,
    /// When (UTC, to the second).
    pub taken: OffsetDateTime,
    /// 1, or N of a `-N` suffix (several backups in one second).
    pub seq: u32,
}

const STAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]-[minute]-[second]Z");
/// The stamp's length: `2026-01-01T00-00-00Z`.
const STAMP_LEN: usize = 20;

/// The time part of a backup's name: `2026-01-01T00-00-00Z`.
pub fn stamp(now: OffsetDateTime) -> String {
    now.to_offset(UtcOffset::UTC)
        .format(STAMP)
        .unwrap_or_default()
}

/// `kcerts-<prefix>-<stamp>`, with `-N` when `seq` > 1.
pub fn dir_name(prefix: &str, now: OffsetDateTime, seq: u32) -> String {
    match seq {
        0 | 1 => format!("{prefix}-{}", stamp(now)),
        n => format!("{prefix}-{}-{n}", stamp(now)),
    }
}

/// Reads a backup directory's name; `None` for anything else (the restart's
/// holding directory, the user's own files).
pub fn parse_name(name: &str) -> Option<BackupName> {
    let rest = name.strip_prefix("kcerts-")?;
    // The stamp ends in `Z`, maybe followed by `-N`.
    let z = rest.rfind('Z')?;
    let start = (z + 1).checked_sub(STAMP_LEN)?;
    let command = rest.get(..start)?.strip_suffix('-')?;
    let taken = PrimitiveDateTime::parse(rest.get(start..=z)?, STAMP)
        .ok()?
        .assume_utc();
    let seq = match &rest[z + 1..] {
        "" => 1,
        s => s.strip_prefix('-')?.parse().ok().filter(|n| *n > 1)?,
    };
    if command.is_empty() {
        return None;
    }
    Some(BackupName {
        command: command.to_string(),
        taken,
        seq,
    })
}

/// Whether a backed-up file holds a private key: a PEM key (`ca.key`, `sa.key`, a
/// kubelet's `.pem` pair) or a kubeconfig with embedded client key data.
pub fn holds_private_key(bytes: &[u8]) -> bool {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    has(b"PRIVATE KEY-----") || has(b"client-key-data:")
}

/// Which backups a `prune --keep N` removes: all but the `keep` newest (by the
/// time and sequence in their names), never the one a pending marker names
/// (`pending`, an index into `backups`). Returns indexes into `backups`, oldest
/// first.
pub fn to_prune(backups: &[BackupName], keep: usize, pending: Option<usize>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..backups.len()).collect();
    // Newest first.
    order.sort_by(|&a, &b| {
        let (a, b) = (&backups[a], &backups[b]);
        (b.taken, b.seq).cmp(&(a.taken, a.seq))
    });
    let mut gone: Vec<usize> = order
        .into_iter()
        .skip(keep)
        .filter(|i| Some(*i) != pending)
        .collect();
    gone.reverse();
    gone
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn names_round_trip() {
        let at = datetime!(2026-12-06 22:30:05 UTC);
        for (prefix, seq) in [
            ("kcerts-renew", 1),
            ("kcerts-ca-ca-reissue", 3),
            ("kcerts-sa-switch", 12),
        ] {
            let name = dir_name(prefix, at, seq);
            let parsed = parse_name(&name).unwrap();
            assert_eq!(
                parsed,
                BackupName {
                    command: prefix.trim_start_matches("kcerts-").into(),
                    taken: at,
                    seq,
                }
            );
        }
        assert_eq!(
            dir_name("kcerts-renew", at, 1),
            "kcerts-renew-2026-12-06T22-30-05Z"
        );
        for other in [
            "kcerts-restart",
            "kcerts-renew-pending",
            "kcerts-2026-12-06T22-30-05Z",
            "kcerts-renew-2026-12-06T22-30-05Z-1",
            "kcerts-renew-2026-12-06T22-30-05Z-x",
            "kcerts-renew-2026-13-06T22-30-05Z",
            "renew-2026-12-06T22-30-05Z",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn keys_are_recognised() {
        assert!(holds_private_key(b"-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(holds_private_key(b"-----BEGIN EC PRIVATE KEY-----\n"));
        assert!(holds_private_key(
            b"users:\n- user:\n    client-key-data: AAAA\n"
        ));
        assert!(!holds_private_key(b"-----BEGIN CERTIFICATE-----\n"));
        assert!(!holds_private_key(b"-----BEGIN PUBLIC KEY-----\n"));
    }

    #[test]
    fn prune_keeps_the_newest_and_the_pending_one() {
        let at = |s: i64, seq| BackupName {
            command: "renew".into(),
            taken: datetime!(2026-01-01 00:00 UTC) + time::Duration::seconds(s),
            seq,
        };
        // Listed out of order: 0 is the oldest, 3 the newest.
        let b = vec![at(10, 1), at(30, 1), at(10, 2), at(40, 1)];
        assert_eq!(to_prune(&b, 2, None), vec![0, 2]);
        assert_eq!(to_prune(&b, 0, None), vec![0, 2, 1, 3]);
        assert_eq!(to_prune(&b, 9, None), Vec::<usize>::new());
        // The pending renewal's backup is never removed.
        assert_eq!(to_prune(&b, 1, Some(2)), vec![0, 1]);
    }
}
