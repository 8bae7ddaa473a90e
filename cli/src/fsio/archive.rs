//! A node given as a tar archive of its /etc/kubernetes (`tar czf cp-1.tgz -C
//! /etc/kubernetes .`), read in memory and never unpacked. An archive whose
//! entries all sit under one folder (`tar czf cp-1.tgz -C /etc kubernetes`) is
//! read from inside that folder.
//!
//! Every entry's path is checked before anything is kept: absolute paths, `..`
//! and links that point outside the archive are refused with an error naming the
//! entry. Sizes are bounded: the archive file, what it decompresses to, each kept
//! file ([`super::MAX_FILE_BYTES`], like files read from a directory) and the
//! number of entries.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use kcerts_core::node::NodeFiles;

/// The largest archive file read.
pub const MAX_ARCHIVE_BYTES: u64 = 64 * 1024 * 1024;
/// The most an archive may decompress to (a gzip bomb stops here).
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
/// The most entries an archive may hold.
pub const MAX_ENTRIES: usize = 100_000;
/// Symbolic links followed inside the archive before giving up (a loop).
const MAX_LINK_HOPS: usize = 8;

/// What an entry is, once its path passed the checks.
enum Kept {
    File(Vec<u8>),
    TooLarge(u64),
    Link(String),
    Other,
}

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive itself cannot be read.
    #[error("{archive}: {reason}")]
    Read { archive: String, reason: String },
    /// An entry's path or link leaves the archive.
    #[error(
        "{archive}: entry {entry:?} {reason}; kcerts refuses the whole archive (make it with `tar czf NODE.tgz -C /etc/kubernetes .`)"
    )]
    Escape {
        archive: String,
        entry: String,
        reason: &'static str,
    },
}

/// Reads the node files of the archive at `path` (gzip-compressed or not).
pub fn load(path: &Path) -> Result<NodeFiles, ArchiveError> {
    let archive = path.display().to_string();
    let read_err = |reason: String| ArchiveError::Read {
        archive: archive.clone(),
        reason,
    };
    let bytes = super::read_up_to(path, MAX_ARCHIVE_BYTES, "an archive of a node")
        .map_err(read_err)?
        .ok_or_else(|| read_err("does not exist".into()))?;
    let gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let stream: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(bytes.as_slice()))
    } else {
        Box::new(bytes.as_slice())
    };
    let limited = Limited {
        inner: stream,
        left: MAX_UNPACKED_BYTES,
    };
    let entries = read_entries(limited, &archive)?;
    let wanted: Vec<String> = super::wanted_with_kubelet_conf()
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(node_files(&unwrap_folder(entries, &wanted)))
}

/// The entries of the one folder every entry sits under (`kubernetes/pki/ca.crt`
/// → `pki/ca.crt`, links inside it too) when that folder holds a node file of
/// `wanted` and the top does not; otherwise the entries as they are (an archive of
/// `pki/` alone stays a node whose kubeconfigs are missing).
fn unwrap_folder(entries: BTreeMap<String, Kept>, wanted: &[String]) -> BTreeMap<String, Kept> {
    if wanted.iter().any(|w| entries.contains_key(w)) {
        return entries;
    }
    let top = |k: &str| k.split_once('/').map(|(d, _)| d.to_string());
    let mut folders = entries.keys().map(|k| top(k));
    let folder = match folders.next() {
        Some(Some(first)) if folders.all(|f| f.as_deref() == Some(first.as_str())) => first,
        _ => return entries,
    };
    let prefix = format!("{folder}/");
    if !wanted
        .iter()
        .any(|w| entries.contains_key(&format!("{prefix}{w}")))
    {
        return entries;
    }
    let inside = |k: &str| k.strip_prefix(&prefix).unwrap_or(k).to_string();
    entries
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Kept::Link(t) => Kept::Link(inside(&t)),
                other => other,
            };
            (inside(&k), v)
        })
        .collect()
}

/// A reader that fails once more than `left` bytes came through.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(format!(
                "decompresses to more than kcerts' limit of {MAX_UNPACKED_BYTES} bytes"
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn read_entries<R: Read>(reader: R, archive: &str) -> Result<BTreeMap<String, Kept>, ArchiveError> {
    let read_err = |reason: String| ArchiveError::Read {
        archive: archive.to_string(),
        reason,
    };
    let mut tar = tar::Archive::new(reader);
    let mut kept = BTreeMap::new();
    let entries = tar
        .entries()
        .map_err(|e| read_err(format!("is not a tar archive: {e}")))?;
    for (count, entry) in entries.enumerate() {
        if count >= MAX_ENTRIES {
            return Err(read_err(format!(
                "has more than {MAX_ENTRIES} entries, over kcerts' limit for a copy of /etc/kubernetes"
            )));
        }
        let mut entry = entry.map_err(|e| read_err(format!("cannot be read: {e}")))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let escape = |reason| ArchiveError::Escape {
            archive: archive.to_string(),
            entry: raw.clone(),
            reason,
        };
        let Some(rel) = clean(Path::new(&raw)).map_err(escape)? else {
            continue; // the archive's root, `.`
        };
        let kind = entry.header().entry_type();
        let item = if kind.is_dir() {
            continue;
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            // A hard link names a path from the archive's root; a symlink is
            // relative to its own directory.
            let base = if kind.is_hard_link() {
                String::new()
            } else {
                parent(&rel)
            };
            match resolve(&base, &target) {
                Some(t) => Kept::Link(t),
                None => return Err(escape("links outside the archive")),
            }
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let size = entry.header().size().unwrap_or(u64::MAX);
            if size > super::MAX_FILE_BYTES {
                Kept::TooLarge(size)
            } else {
                let mut bytes = Vec::new();
                (&mut entry)
                    .take(super::MAX_FILE_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| read_err(format!("entry {raw:?} cannot be read: {e}")))?;
                Kept::File(bytes)
            }
        } else {
            Kept::Other
        };
        kept.insert(rel, item);
    }
    Ok(kept)
}

/// The entry's path relative to the archive root (`./pki/ca.crt` → `pki/ca.crt`);
/// `None` for the root itself; an error for absolute paths and `..`.
fn clean(path: &Path) -> Result<Option<String>, &'static str> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err("has a '..' component"),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path"),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

fn parent(rel: &str) -> String {
    rel.rsplit_once('/')
        .map(|(d, _)| d.to_string())
        .unwrap_or_default()
}

/// `target` resolved against the directory `base`, or `None` when it is absolute
/// or climbs above the archive's root.
fn resolve(base: &str, target: &str) -> Option<String> {
    if target.starts_with('/') || target.is_empty() {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for p in target.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The files kcerts reads, taken from the entries (links followed inside the archive).
fn node_files(entries: &BTreeMap<String, Kept>) -> NodeFiles {
    let mut files = NodeFiles::default();
    for p in super::wanted_with_kubelet_conf() {
        let mut name = p.to_string();
        for _ in 0..=MAX_LINK_HOPS {
            match entries.get(&name) {
                None if name == p.to_string() => break,
                None => {
                    files.insert_unreadable(
                        p.clone(),
                        format!("is a link to {name}, which is not in the archive"),
                    );
                    break;
                }
                Some(Kept::File(b)) => {
                    files.insert(p.clone(), b.clone());
                    break;
                }
                Some(Kept::TooLarge(n)) => {
                    files.insert_unreadable(
                        p.clone(),
                        format!(
                            "is {n} bytes, over kcerts' limit of {} bytes for a certificate, key or kubeconfig",
                            super::MAX_FILE_BYTES
                        ),
                    );
                    break;
                }
                Some(Kept::Other) => {
                    files.insert_unreadable(
                        p.clone(),
                        "is not a regular file (a device, FIFO or socket)",
                    );
                    break;
                }
                Some(Kept::Link(t)) => name = t.clone(),
            }
        }
        if matches!(entries.get(&name), Some(Kept::Link(_))) {
            files.insert_unreadable(
                p.clone(),
                "is a chain of links too long to follow (a loop?)",
            );
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_folder_is_unwrapped_and_others_are_not() {
        let file = |s: &str| Kept::File(s.as_bytes().to_vec());
        let names = |m: &BTreeMap<String, Kept>| m.keys().cloned().collect::<Vec<_>>();
        let wanted = ["admin.conf".to_string(), "pki/ca.crt".to_string()];
        let one: BTreeMap<String, Kept> = [
            ("kubernetes/admin.conf".to_string(), file("a")),
            ("kubernetes/pki/ca.crt".to_string(), file("c")),
            (
                "kubernetes/pki/link.crt".to_string(),
                Kept::Link("kubernetes/pki/ca.crt".into()),
            ),
        ]
        .into();
        let out = unwrap_folder(one, &wanted);
        assert_eq!(names(&out), ["admin.conf", "pki/ca.crt", "pki/link.crt"]);
        assert!(matches!(&out["pki/link.crt"], Kept::Link(t) if t == "pki/ca.crt"));
        // A node file at the top, or two folders: left as they are.
        let top: BTreeMap<String, Kept> = [
            ("admin.conf".to_string(), file("a")),
            ("pki/ca.crt".to_string(), file("c")),
        ]
        .into();
        assert_eq!(
            names(&unwrap_folder(top, &wanted)),
            ["admin.conf", "pki/ca.crt"]
        );
        // pki/ alone is a node's folder already, not a wrapper.
        let pki: BTreeMap<String, Kept> = [("pki/ca.crt".to_string(), file("c"))].into();
        assert_eq!(names(&unwrap_folder(pki, &wanted)), ["pki/ca.crt"]);
        let two: BTreeMap<String, Kept> = [
            ("a/pki/ca.crt".to_string(), file("c")),
            ("b/pki/ca.crt".to_string(), file("c")),
        ]
        .into();
        assert_eq!(
            names(&unwrap_folder(two, &wanted)),
            ["a/pki/ca.crt", "b/pki/ca.crt"]
        );
    }

    #[test]
    fn paths_are_cleaned_or_refused() {
        assert_eq!(
            clean(Path::new("./pki/ca.crt")),
            Ok(Some("pki/ca.crt".into()))
        );
        assert_eq!(clean(Path::new(".")), Ok(None));
        assert!(clean(Path::new("../x")).is_err());
        assert!(clean(Path::new("pki/../../x")).is_err());
        assert!(clean(Path::new("/etc/passwd")).is_err());
        assert_eq!(resolve("pki/etcd", "../ca.crt"), Some("pki/ca.crt".into()));
        assert_eq!(resolve("pki", "../../etc/shadow"), None);
        assert_eq!(resolve("", "/etc/shadow"), None);
    }
}
