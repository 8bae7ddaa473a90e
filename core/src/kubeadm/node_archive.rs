//! A node given as a tar archive of its /etc/kubernetes (`tar czf cp-1.tgz -C
//! /etc/kubernetes .`): a small tar reader (ustar, GNU long names, pax paths),
//! bytes in and checked entries out, shared by `kcerts fleet` and the web page.
//! Decompression is the caller's (flate2 in the CLI, the browser's
//! `DecompressionStream` in the page), bounded by [`MAX_UNPACKED_BYTES`].
//!
//! Every entry's path is checked before anything is kept: absolute paths, `..`
//! and links that point outside the archive refuse the whole archive. Sizes are
//! bounded: each kept file (the caller's limit), long names and the number of
//! entries. An archive whose entries all sit under one folder holding a node
//! file (`tar czf cp-1.tgz -C /etc kubernetes`) is read from inside that folder.

use crate::kubeadm::node::{NodeFiles, NodePath, ReadError};

use std::collections::BTreeMap;

/// The most an archive may decompress to (a gzip bomb stops here).
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
/// The most entries an archive may hold.
pub const MAX_ENTRIES: usize = 100_000;
/// The longest GNU long name or pax header read.
const MAX_META_BYTES: u64 = 64 * 1024;
/// Symbolic links followed inside the archive before giving up (a loop).
const MAX_LINK_HOPS: usize = 8;
const BLOCK: usize = 512;

/// Why an archive was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// The bytes are not a tar archive kcerts can read.
    #[error("is not a tar archive kcerts can read: {0}")]
    Malformed(String),
    /// More entries than [`MAX_ENTRIES`].
    #[error(
        "has more than {MAX_ENTRIES} entries, over kcerts' limit for a copy of /etc/kubernetes"
    )]
    TooManyEntries,
    /// An entry's path or link leaves the archive.
    #[error(
        "entry {entry:?} {reason}; kcerts refuses the whole archive (make it with `tar czf NODE.tgz -C /etc/kubernetes .`)"
    )]
    Escape {
        /// The entry's path as stored.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// What an entry is, once its path passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file's contents.
    File(Vec<u8>),
    /// A regular file over the caller's limit: its size.
    TooLarge(u64),
    /// A link, resolved to a path from the archive's root.
    Link(String),
    /// A device, FIFO or socket.
    Other,
}

/// The entries of an archive by path relative to the node's root
/// (`./pki/ca.crt` is `pki/ca.crt`); directories are left out.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    /// The entries.
    pub entries: BTreeMap<String, Entry>,
}

/// The node name for an archive file name (`cp-1.tgz` -> `cp-1`), or `None`
/// when the name is not a `.tar`, `.tar.gz` or `.tgz`.
pub fn node_name(file_name: &str) -> Option<&str> {
    [".tar.gz", ".tgz", ".tar"]
        .iter()
        .find_map(|ext| file_name.strip_suffix(ext))
        .filter(|n| !n.is_empty())
}

/// Reads an uncompressed tar archive; regular files over `max_file` bytes are
/// kept as [`Entry::TooLarge`].
pub fn read(bytes: &[u8], max_file: u64) -> Result<Archive, ArchiveError> {
    let bad = |m: &str| ArchiveError::Malformed(m.to_string());
    let mut entries = BTreeMap::new();
    let mut at = 0usize;
    let mut long_name: Option<String> = None;
    let mut long_link: Option<String> = None;
    let mut count = 0usize;
    loop {
        let Some(h) = bytes.get(at..at + BLOCK) else {
            if at == bytes.len() && at > 0 {
                break; // ends without the two zero blocks (some writers)
            }
            return Err(bad("truncated header"));
        };
        if h.iter().all(|&b| b == 0) {
            break;
        }
        check_sum(h)?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries);
        }
        let size = octal(&h[124..136]).ok_or_else(|| bad("bad size field"))?;
        let start = at + BLOCK;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad("truncated entry"))?;
        at = end.div_ceil(BLOCK) * BLOCK;
        let data = &bytes[start..end];
        let kind = h[156];
        let meta = || {
            if size > MAX_META_BYTES {
                Err(bad("long name or pax header over 64 KiB"))
            } else {
                Ok(String::from_utf8_lossy(data)
                    .trim_end_matches('\0')
                    .to_string())
            }
        };
        match kind {
            b'L' => {
                long_name = Some(meta()?);
                continue;
            }
            b'K' => {
                long_link = Some(meta()?);
                continue;
            }
            b'x' => {
                for (k, v) in pax(&meta()?) {
                    match k {
                        "path" => long_name = Some(v.to_string()),
                        "linkpath" => long_link = Some(v.to_string()),
                        _ => {}
                    }
                }
                continue;
            }
            b'g' => continue,
            _ => {}
        }
        let raw = long_name.take().unwrap_or_else(|| header_name(h));
        let link = long_link.take().unwrap_or_else(|| field(&h[157..257]));
        let escape = |reason| ArchiveError::Escape {
            entry: raw.clone(),
            reason,
        };
        let Some(rel) = clean(&raw).map_err(escape)? else {
            continue; // the archive's root, `.`
        };
        let entry = match kind {
            b'5' => continue,
            b'1' | b'2' => {
                // A hard link names a path from the archive's root; a symlink
                // is relative to its own directory.
                let base = if kind == b'1' { "" } else { parent(&rel) };
                match resolve(base, &link) {
                    Some(t) => Entry::Link(t),
                    None => return Err(escape("links outside the archive")),
                }
            }
            b'0' | 0 | b'7' if size > max_file => Entry::TooLarge(size),
            b'0' | 0 | b'7' => Entry::File(data.to_vec()),
            _ => Entry::Other,
        };
        entries.insert(rel, entry);
    }
    Ok(Archive { entries }.rooted_at_top_folder())
}

impl Archive {
    /// The archive read from inside the one folder every entry sits under
    /// (`kubernetes/pki/ca.crt` → `pki/ca.crt`, links inside it too), when that
    /// folder holds a node file and the top does not; otherwise as it is (an
    /// archive of `pki/` alone stays a node whose kubeconfigs are missing).
    fn rooted_at_top_folder(self) -> Archive {
        let mut wanted: Vec<String> = NodeFiles::wanted()
            .iter()
            .map(ToString::to_string)
            .collect();
        wanted.push(NodePath::kubeconfig("kubelet.conf").to_string());
        if wanted.iter().any(|w| self.entries.contains_key(w)) {
            return self;
        }
        let Some(top) = self.entries.keys().next().and_then(|k| k.split_once('/')) else {
            return self;
        };
        let prefix = format!("{}/", top.0);
        if !self.entries.keys().all(|k| k.starts_with(&prefix))
            || !wanted
                .iter()
                .any(|w| self.entries.contains_key(&format!("{prefix}{w}")))
        {
            return self;
        }
        let strip = |p: String| {
            if p.starts_with(&prefix) {
                p[prefix.len()..].to_string()
            } else {
                p
            }
        };
        let entries = self
            .entries
            .into_iter()
            .map(|(k, e)| {
                let e = match e {
                    Entry::Link(t) => Entry::Link(strip(t)),
                    e => e,
                };
                (strip(k), e)
            })
            .collect();
        Archive { entries }
    }

    /// The contents of the file at `path`, links followed inside the archive:
    /// `None` when there is no such entry, `Err` with the reason it cannot be
    /// read (`max_file` is the limit [`read`] was given, for the message).
    pub fn file(&self, path: &str, max_file: u64) -> Option<Result<&[u8], ReadError>> {
        let mut name = path;
        for _ in 0..=MAX_LINK_HOPS {
            match self.entries.get(name) {
                None if name == path => return None,
                None => {
                    return Some(Err(ReadError::LinkOutside {
                        target: name.to_string(),
                    }));
                }
                Some(Entry::File(b)) => return Some(Ok(b.as_slice())),
                Some(Entry::TooLarge(n)) => {
                    return Some(Err(ReadError::TooLarge {
                        len: *n,
                        limit: max_file,
                        what: "a certificate, key or kubeconfig".into(),
                    }));
                }
                Some(Entry::Other) => return Some(Err(ReadError::NotRegular)),
                Some(Entry::Link(t)) => name = t.as_str(),
            }
        }
        Some(Err(ReadError::LinkLoop))
    }
}

/// The header's path: ustar's prefix and name (GNU headers keep other data
/// where ustar has the prefix).
fn header_name(h: &[u8]) -> String {
    let name = field(&h[0..100]);
    if &h[257..263] == b"ustar\0" {
        let prefix = field(&h[345..500]);
        if !prefix.is_empty() {
            return format!("{prefix}/{name}");
        }
    }
    name
}

fn field(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// A numeric field: octal digits (space or NUL padded) or GNU base-256.
fn octal(b: &[u8]) -> Option<u64> {
    if b[0] & 0x80 != 0 {
        let mut n: u64 = u64::from(b[0] & 0x7f);
        for &c in &b[1..] {
            n = n.checked_mul(256)?.checked_add(u64::from(c))?;
        }
        return Some(n);
    }
    let s = std::str::from_utf8(b).ok()?;
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn check_sum(h: &[u8]) -> Result<(), ArchiveError> {
    let stored = octal(&h[148..156]);
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    if stored == Some(sum) {
        Ok(())
    } else {
        Err(ArchiveError::Malformed("header checksum mismatch".into()))
    }
}

/// The `key=value` records of a pax extended header (`"%d key=value\n"`).
fn pax(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((len, _)) = rest.split_once(' ') {
        let Some(record) = len
            .parse::<usize>()
            .ok()
            .filter(|&n| n > len.len() + 1)
            .and_then(|n| rest.get(..n))
        else {
            break;
        };
        if let Some((k, v)) = record[len.len() + 1..]
            .trim_end_matches('\n')
            .split_once('=')
        {
            out.push((k, v));
        }
        rest = &rest[record.len()..];
    }
    out
}

/// The entry's path relative to the archive root (`./pki/ca.crt` → `pki/ca.crt`);
/// `None` for the root itself; an error for absolute paths and `..`.
fn clean(path: &str) -> Result<Option<String>, &'static str> {
    if path.starts_with('/') {
        return Err("is an absolute path");
    }
    let mut parts = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => return Err("has a '..' component"),
            p => parts.push(p),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

fn parent(rel: &str) -> &str {
    rel.rsplit_once('/').map(|(d, _)| d).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One ustar header block (GNU magic when `gnu`) for `name` and `size`.
    fn header(name: &str, kind: u8, size: usize, link: &str, gnu: bool) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..265].copy_from_slice(if gnu { b"ustar  \0" } else { b"ustar\x0000" });
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    fn entry(out: &mut Vec<u8>, name: &str, kind: u8, data: &[u8], link: &str) {
        out.extend(header(name, kind, data.len(), link, true));
        out.extend(data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }

    fn end(mut out: Vec<u8>) -> Vec<u8> {
        out.extend([0u8; 2 * BLOCK]);
        out
    }

    #[test]
    fn a_node_archive_is_read_with_links_and_gnu_long_names() {
        let long = format!("./pki/{}.crt", "x".repeat(150));
        let mut t = Vec::new();
        entry(&mut t, "./", b'5', b"", "");
        entry(&mut t, "./pki/ca.crt", b'0', b"CA", "");
        entry(
            &mut t,
            "./././@LongLink",
            b'L',
            format!("{long}\0").as_bytes(),
            "",
        );
        entry(&mut t, "./pki/xxxx", b'0', b"LONG", "");
        entry(&mut t, "./admin.conf", b'2', b"", "pki/ca.crt");
        entry(&mut t, "./pki/big.key", b'0', &[7; 100], "");
        let a = read(&end(t), 64).unwrap();
        assert_eq!(a.file("pki/ca.crt", 64), Some(Ok(&b"CA"[..])));
        assert_eq!(a.file(&long[2..], 64), Some(Ok(&b"LONG"[..])));
        assert_eq!(a.file("admin.conf", 64), Some(Ok(&b"CA"[..])));
        assert_eq!(a.file("missing", 64), None);
        let err = a.file("pki/big.key", 64).unwrap().unwrap_err().to_string();
        assert!(err.contains("100 bytes, over kcerts' limit of 64"), "{err}");
    }

    #[test]
    fn a_pax_path_and_ustar_prefix_are_read() {
        let deep = format!("{}/ca.crt", "d".repeat(120));
        let mut t = Vec::new();
        let rec = format!("path={deep}\n");
        let rec = format!("{} {rec}", rec.len() + 4);
        entry(&mut t, "PaxHeader", b'x', rec.as_bytes(), "");
        entry(&mut t, "ignored", b'0', b"PAX", "");
        let mut h = header("ca.crt", b'0', 3, "", false);
        h[345..348].copy_from_slice(b"dir");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        t.extend(h);
        t.extend(b"PRE");
        t.resize(t.len().div_ceil(BLOCK) * BLOCK, 0);
        let a = read(&end(t), 64).unwrap();
        assert_eq!(a.file(&deep, 64), Some(Ok(&b"PAX"[..])));
        assert_eq!(a.file("dir/ca.crt", 64), Some(Ok(&b"PRE"[..])));
    }

    #[test]
    fn escaping_paths_and_links_refuse_the_archive() {
        for (name, kind, link, reason) in [
            ("../etc/passwd", b'0', "", "has a '..' component"),
            ("./pki/../../x", b'0', "", "has a '..' component"),
            ("/etc/shadow", b'0', "", "is an absolute path"),
            (
                "./pki/ca.key",
                b'2',
                "/etc/shadow",
                "links outside the archive",
            ),
            ("./pki/ca.key", b'2', "../../x", "links outside the archive"),
            ("./pki/ca.key", b'1', "../x", "links outside the archive"),
        ] {
            let mut t = Vec::new();
            entry(&mut t, "./pki/ca.crt", b'0', b"CA", "");
            entry(&mut t, name, kind, b"", link);
            let err = read(&end(t), 64).unwrap_err();
            assert_eq!(
                err,
                ArchiveError::Escape {
                    entry: name.into(),
                    reason
                },
                "{name} -> {link}"
            );
        }
    }

    #[test]
    fn oversize_truncated_and_corrupt_archives_are_refused_or_marked() {
        let mut t = Vec::new();
        entry(&mut t, "./pki/ca.crt", b'0', &[1; 65], "");
        let whole = end(t.clone());
        let a = read(&whole, 64).unwrap();
        assert_eq!(a.entries["pki/ca.crt"], Entry::TooLarge(65));
        // A size beyond the bytes, a bad checksum, a huge long name.
        assert!(matches!(
            read(&t[..550], 64),
            Err(ArchiveError::Malformed(_))
        ));
        let mut bad = whole.clone();
        bad[0] = b'X';
        assert!(
            matches!(read(&bad, 64), Err(ArchiveError::Malformed(m)) if m.contains("checksum"))
        );
        let mut huge = Vec::new();
        entry(&mut huge, "@LongLink", b'L', &vec![b'a'; 70 * 1024], "");
        assert!(
            matches!(read(&end(huge), 64), Err(ArchiveError::Malformed(m)) if m.contains("64 KiB"))
        );
        assert!(matches!(
            read(b"not a tar at all", 64),
            Err(ArchiveError::Malformed(_))
        ));
    }

    #[test]
    fn one_top_folder_is_the_node_root_and_a_link_loop_stops() {
        let mut t = Vec::new();
        entry(&mut t, "kubernetes/", b'5', b"", "");
        entry(&mut t, "kubernetes/pki/ca.crt", b'0', b"CA", "");
        entry(
            &mut t,
            "kubernetes/admin.conf",
            b'1',
            b"",
            "kubernetes/pki/ca.crt",
        );
        entry(&mut t, "kubernetes/a.conf", b'2', b"", "b.conf");
        entry(&mut t, "kubernetes/b.conf", b'2', b"", "a.conf");
        let a = read(&end(t), 64).unwrap();
        assert_eq!(a.file("pki/ca.crt", 64), Some(Ok(&b"CA"[..])));
        assert_eq!(a.file("admin.conf", 64), Some(Ok(&b"CA"[..])));
        assert_eq!(a.file("a.conf", 64), Some(Err(ReadError::LinkLoop)));
        assert!(ReadError::LinkLoop.to_string().contains("loop"));
        // `tar czf x.tgz -C /etc/kubernetes pki`: pki is not stripped; nor is
        // a folder beside a node file at the top, nor one of two folders.
        for names in [
            &["pki/ca.crt"][..],
            &["admin.conf", "k/pki/ca.crt"],
            &["a/pki/ca.crt", "b/pki/ca.crt"],
        ] {
            let mut p = Vec::new();
            for n in names {
                entry(&mut p, n, b'0', b"CA", "");
            }
            let a = read(&end(p), 64).unwrap();
            assert_eq!(a.entries.keys().collect::<Vec<_>>(), *names);
        }
        // A folder holding only a kubeconfig is unwrapped too.
        let mut k = Vec::new();
        entry(&mut k, "etc/admin.conf", b'0', b"K", "");
        let a = read(&end(k), 64).unwrap();
        assert_eq!(a.file("admin.conf", 64), Some(Ok(&b"K"[..])));
    }

    #[test]
    fn node_names_come_from_archive_names() {
        assert_eq!(node_name("cp-1.tgz"), Some("cp-1"));
        assert_eq!(node_name("cp-2.tar.gz"), Some("cp-2"));
        assert_eq!(node_name("cp-3.tar"), Some("cp-3"));
        assert_eq!(node_name("ca.crt"), None);
        assert_eq!(node_name(".tgz"), None);
    }
}
