//! The journal of a transaction (`kcerts-manifest.tsv` in its backup directory):
//! its lines, and what a journal read back may say. The CLI writes and reads the
//! file; the rules are here.
//!
//! A journal is read back as root (by `kcerts restore` and by the recovery at the
//! start of the next run), so it is treated as hostile:
//! - it never widens where writes may go: its `#root` lines and every target must
//!   lie inside the roots the running command allows (the node's directories and
//!   those named on its command line), or it is refused naming the line;
//! - modes are masked to [`MODE_MASK`] (no setuid, setgid or sticky bit);
//! - a backup copy's path is relative and never climbs (`..`);
//! - the pending marker is followed only to a backup under `<kubeconfig-dir>/tmp`
//!   ([`pending_backup_allowed`]).

use std::path::{Component, Path, PathBuf};

/// The permission bits a journal may give a file: no setuid, setgid or sticky bit.
pub const MODE_MASK: u32 = 0o777;

/// The journal's first line.
pub const HEADER: &str = "# kcerts renewal journal v1: old-state mode uid gid backup-path target";

/// The prefix of a `#root` line: an extra directory the transaction wrote into.
pub const ROOT_PREFIX: &str = "#root\t";

/// A regular file's mode and owner before the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    /// Permission bits, always within [`MODE_MASK`].
    pub mode: u32,
    /// The owner's user id.
    pub uid: u32,
    /// The owner's group id.
    pub gid: u32,
}

impl FileMeta {
    /// A file's meta with its mode masked to [`MODE_MASK`].
    pub fn new(mode: u32, uid: u32, gid: u32) -> Self {
        Self {
            mode: mode & MODE_MASK,
            uid,
            gid,
        }
    }
}

/// What was at a path before the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Old {
    /// Nothing: putting it back removes the new file.
    Absent,
    /// A regular file (its copy is in the backup).
    File(FileMeta),
    /// A symbolic link (kept in the backup as a link).
    Link,
}

impl Old {
    /// The file's meta, when it was a regular file.
    pub fn file(self) -> Option<FileMeta> {
        match self {
            Old::File(meta) => Some(meta),
            _ => None,
        }
    }
}

/// One journal line: a file the transaction replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What the path held before.
    pub old: Old,
    /// The copy's path inside the backup directory (`pki/apiserver.key`).
    pub rel: String,
    /// The real path written (symbolic links inside the node resolved).
    pub target: PathBuf,
}

impl Entry {
    /// The entry as its journal line (without the newline).
    pub fn line(&self) -> String {
        let (state, mode, uid, gid) = match self.old {
            Old::File(m) => (
                "present",
                format!("{:o}", m.mode),
                m.uid.to_string(),
                m.gid.to_string(),
            ),
            Old::Absent => ("absent", "-".into(), "-".into(), "-".into()),
            Old::Link => ("link", "-".into(), "-".into(), "-".into()),
        };
        format!(
            "{state}\t{mode}\t{uid}\t{gid}\t{}\t{}",
            self.rel,
            self.target.display()
        )
    }

    fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.splitn(6, '\t').collect();
        let [state, mode, uid, gid, rel, target] = f.as_slice() else {
            return None;
        };
        let old = match *state {
            "present" => Old::File(FileMeta::new(
                u32::from_str_radix(mode, 8).ok()?,
                uid.parse().ok()?,
                gid.parse().ok()?,
            )),
            "absent" => Old::Absent,
            "link" => Old::Link,
            _ => return None,
        };
        Some(Self {
            old,
            rel: (*rel).to_string(),
            target: PathBuf::from(target),
        })
    }
}

/// A journal read back: its `#root` lines and its entries, each with its line
/// number (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Journal {
    /// The `#root` lines: directories beyond the node's the transaction wrote into.
    pub roots: Vec<(usize, PathBuf)>,
    /// One entry per file.
    pub entries: Vec<(usize, Entry)>,
}

/// Why a journal (or one of its lines) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// A line that is not a journal line.
    #[error("line {line}: malformed journal line {text:?}")]
    Malformed {
        /// The line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// A backup copy's path that is absolute, empty or climbs out of the backup.
    #[error("line {line}: unsafe backup path {rel:?}")]
    UnsafeBackupPath {
        /// The line number.
        line: usize,
        /// The path.
        rel: String,
    },
    /// A `#root` line or a target outside the roots the running command allows.
    #[error(
        "line {line}: {} is outside the directories this command may write ({allowed}); a \
         journal never widens them",
        path.display()
    )]
    OutsideRoots {
        /// The line number.
        line: usize,
        /// The path named.
        path: PathBuf,
        /// The allowed roots, for the message.
        allowed: String,
    },
}

impl JournalError {
    /// The line the error is about.
    pub fn line(&self) -> usize {
        match self {
            JournalError::Malformed { line, .. }
            | JournalError::UnsafeBackupPath { line, .. }
            | JournalError::OutsideRoots { line, .. } => *line,
        }
    }
}

/// Writes a journal: the header, one `#root` line per extra root, one line per entry.
pub fn render(roots: &[PathBuf], entries: &[Entry]) -> String {
    let mut out = format!("{HEADER}\n");
    for r in roots {
        out.push_str(&format!("{ROOT_PREFIX}{}\n", r.display()));
    }
    for e in entries {
        out.push_str(&e.line());
        out.push('\n');
    }
    out
}

/// Whether a backup copy's path stays inside the backup: relative, no empty,
/// `.` or `..` component.
pub fn safe_backup_path(rel: &str) -> bool {
    !rel.starts_with('/')
        && !rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
}

/// Reads a journal. Modes are masked to [`MODE_MASK`]; a malformed line or an
/// unsafe backup path is refused naming its line.
pub fn parse(text: &str) -> Result<Journal, JournalError> {
    let mut journal = Journal::default();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if let Some(r) = l.strip_prefix(ROOT_PREFIX) {
            journal.roots.push((line, PathBuf::from(r)));
            continue;
        }
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let entry = Entry::parse(l).ok_or_else(|| JournalError::Malformed {
            line,
            text: l.to_string(),
        })?;
        if !safe_backup_path(&entry.rel) {
            return Err(JournalError::UnsafeBackupPath {
                line,
                rel: entry.rel,
            });
        }
        journal.entries.push((line, entry));
    }
    Ok(journal)
}

/// Whether `path` is absolute, does not climb (`..`, `.`) and lies inside one of
/// `roots` (a lexical check: the CLI compares real paths, symbolic links resolved).
pub fn within(path: &Path, roots: &[PathBuf]) -> bool {
    path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && roots.iter().any(|r| path.starts_with(r))
}

impl Journal {
    /// Refuses the journal when a `#root` line or a target lies outside `allowed`
    /// (the real paths of the directories the running command may write).
    pub fn check_roots(&self, allowed: &[PathBuf]) -> Result<(), JournalError> {
        let outside = |line: usize, path: &Path| JournalError::OutsideRoots {
            line,
            path: path.to_path_buf(),
            allowed: shown(allowed),
        };
        for (line, r) in &self.roots {
            if !within(r, allowed) {
                return Err(outside(*line, r));
            }
        }
        for (line, e) in &self.entries {
            if !within(&e.target, allowed) {
                return Err(outside(*line, &e.target));
            }
        }
        Ok(())
    }
}

/// The roots as a message shows them: `A, B and C`.
pub fn shown(roots: &[PathBuf]) -> String {
    let names: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    match names.split_last() {
        None => "none".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Whether the backup a pending marker names may be recovered from without the
/// user naming it: a directory strictly inside `tmp_dir` (the real path of
/// `<kubeconfig-dir>/tmp`), where kcerts makes its backups. A marker naming any
/// other place is refused; the user may still restore from there by hand.
pub fn pending_backup_allowed(backup: &Path, tmp_dir: &Path) -> bool {
    backup != tmp_dir && within(backup, &[tmp_dir.to_path_buf()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(mode: u32) -> Entry {
        Entry {
            old: Old::File(FileMeta::new(mode, 0, 998)),
            rel: "pki/etcd/server.key".into(),
            target: PathBuf::from("/etc/kubernetes/pki/etcd/server.key"),
        }
    }

    #[test]
    fn lines_round_trip() {
        let link = Entry {
            old: Old::Link,
            rel: "kubelet/kubelet-client-current.pem".into(),
            target: PathBuf::from("/var/lib/kubelet/pki/kubelet-client-current.pem"),
        };
        let absent = Entry {
            old: Old::Absent,
            rel: "pki/a b.key".into(),
            target: PathBuf::from("/srv/with space/a b.key"),
        };
        let roots = vec![PathBuf::from("/var/lib/kubelet/pki")];
        let entries = vec![present(0o600), link, absent];
        let text = render(&roots, &entries);
        let j = parse(&text).unwrap();
        assert_eq!(j.roots, vec![(2, roots[0].clone())]);
        assert_eq!(
            j.entries,
            entries
                .into_iter()
                .enumerate()
                .map(|(i, e)| (i + 3, e))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn modes_are_masked_to_permission_bits() {
        assert_eq!(FileMeta::new(0o4755, 0, 0).mode, 0o755);
        let j = parse("present\t6777\t0\t0\tpki/x\t/etc/kubernetes/pki/x\n").unwrap();
        assert_eq!(j.entries[0].1.old.file().unwrap().mode, 0o777);
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let err = parse(&format!("{HEADER}\nbogus\n")).unwrap_err();
        assert_eq!(err.line(), 2);
        assert_eq!(err.to_string(), "line 2: malformed journal line \"bogus\"");
        for rel in ["../x", "/etc/x", "pki//x", "pki/./x", ""] {
            let err = parse(&format!("absent\t-\t-\t-\t{rel}\t/etc/kubernetes/x\n")).unwrap_err();
            assert!(
                matches!(err, JournalError::UnsafeBackupPath { line: 1, .. }),
                "{rel}: {err}"
            );
        }
    }

    #[test]
    fn a_journal_never_widens_the_roots() {
        let allowed = vec![
            PathBuf::from("/etc/kubernetes/pki"),
            PathBuf::from("/etc/kubernetes"),
        ];
        let ok = parse(&render(&[], &[present(0o600)])).unwrap();
        assert_eq!(ok.check_roots(&allowed), Ok(()));
        // A #root line outside: refused even before any target uses it.
        let widened = parse(&format!(
            "{HEADER}\n#root\t/usr/local/bin\n{}\n",
            present(0o600).line()
        ))
        .unwrap();
        let err = widened.check_roots(&allowed).unwrap_err();
        assert_eq!(err.line(), 2);
        assert_eq!(
            err.to_string(),
            "line 2: /usr/local/bin is outside the directories this command may write \
             (/etc/kubernetes/pki and /etc/kubernetes); a journal never widens them"
        );
        // A target outside, or climbing out lexically.
        for target in [
            "/usr/bin/x",
            "/etc/kubernetes/../shadow",
            "relative/x",
            "/etc/kubernetesx/a",
        ] {
            let line = format!("absent\t-\t-\t-\tpki/x\t{target}");
            let err = parse(&line).unwrap().check_roots(&allowed).unwrap_err();
            assert_eq!(err.line(), 1, "{target}");
        }
        // An allowed #root is accepted.
        let kubelet = parse("#root\t/var/lib/kubelet/pki\n").unwrap();
        assert!(kubelet.check_roots(&allowed).is_err());
        let mut more = allowed.clone();
        more.push(PathBuf::from("/var/lib/kubelet/pki"));
        assert_eq!(kubelet.check_roots(&more), Ok(()));
    }

    #[test]
    fn the_pending_marker_is_followed_only_into_the_tmp_dir() {
        let tmp = Path::new("/etc/kubernetes/tmp");
        assert!(pending_backup_allowed(
            Path::new("/etc/kubernetes/tmp/kcerts-renew-2026-01-01T00-00-00Z"),
            tmp
        ));
        for other in [
            "/etc/kubernetes/tmp",
            "/tmp/x",
            "/etc/kubernetes/tmp/../pki",
            "kcerts-renew-x",
            "/etc/kubernetes/tmpx/a",
        ] {
            assert!(!pending_backup_allowed(Path::new(other), tmp), "{other}");
        }
    }
}
