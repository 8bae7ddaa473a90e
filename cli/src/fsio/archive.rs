//! A node given as a tar archive of its /etc/kubernetes (`tar czf cp-1.tgz -C
//! /etc/kubernetes .`), read in memory and never unpacked.
//!
//! This file only reads and gunzips (flate2) the archive; the tar entries, the
//! path and link checks and the limits are the core's
//! ([`kcerts_core::node_archive`], shared with the web page), as is reading an
//! archive whose entries all sit under one folder (`tar czf cp-1.tgz -C /etc
//! kubernetes`) from inside that folder. Sizes are
//! bounded: the archive file, what it decompresses to, each kept file
//! ([`super::MAX_FILE_BYTES`], like files read from a directory) and the number
//! of entries.

use std::io::Read;
use std::path::Path;

use kcerts_core::node::NodeFiles;
use kcerts_core::node_archive::{self, MAX_UNPACKED_BYTES};

/// The largest archive file read.
pub const MAX_ARCHIVE_BYTES: u64 = 64 * 1024 * 1024;

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive itself cannot be read.
    #[error("{archive}: {reason}")]
    Read { archive: String, reason: String },
    /// The core refused its entries (a path escape, a malformed header, ...).
    /// (Not a `source`: the message already says it, once.)
    #[error("{archive}: {reason}")]
    Entries {
        archive: String,
        reason: node_archive::ArchiveError,
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
        .map_err(|e| read_err(e.to_string()))?
        .ok_or_else(|| read_err("does not exist".into()))?;
    let tar = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .take(MAX_UNPACKED_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| read_err(format!("cannot be decompressed: {e}")))?;
        if out.len() as u64 > MAX_UNPACKED_BYTES {
            return Err(read_err(format!(
                "decompresses to more than kcerts' limit of {MAX_UNPACKED_BYTES} bytes"
            )));
        }
        out
    } else {
        bytes
    };
    let entries = node_archive::read(&tar, super::MAX_FILE_BYTES)
        .map_err(|reason| ArchiveError::Entries { archive, reason })?;
    let mut files = NodeFiles::default();
    for p in kcerts_core::fleet::wanted() {
        match entries.file(&p.to_string(), super::MAX_FILE_BYTES) {
            None => {}
            Some(Ok(b)) => files.insert(p, b.to_vec()),
            Some(Err(reason)) => files.insert_unreadable(p, reason),
        }
    }
    Ok(files)
}
