//! The files of one node, as bytes: what the report and renewal read.
//!
//! The CLI fills a [`NodeFiles`] from `/etc/kubernetes`; the web page from an
//! uploaded folder. Paths are relative to the cert dir or the kubeconfig dir.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::kubeadm::inventory::{self, Location, Row};

/// Which directory a node file lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Dir {
    /// The cert dir (`/etc/kubernetes/pki`).
    Cert,
    /// The kubeconfig dir (`/etc/kubernetes`).
    Kubeconfig,
}

/// A file of the node, relative to its directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct NodePath {
    /// The directory.
    pub dir: Dir,
    /// The path inside it, with `/` separators (`etcd/ca.crt`, `admin.conf`).
    pub rel: String,
}

impl NodePath {
    /// A file in the cert dir.
    pub fn cert(rel: impl Into<String>) -> Self {
        Self {
            dir: Dir::Cert,
            rel: rel.into(),
        }
    }

    /// A file in the kubeconfig dir.
    pub fn kubeconfig(rel: impl Into<String>) -> Self {
        Self {
            dir: Dir::Kubeconfig,
            rel: rel.into(),
        }
    }
}

impl fmt::Display for NodePath {
    /// `pki/etcd/ca.crt` or `admin.conf`: the kubeadm layout under `/etc/kubernetes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dir {
            Dir::Cert => write!(f, "pki/{}", self.rel),
            Dir::Kubeconfig => f.write_str(&self.rel),
        }
    }
}

/// The file that holds a row's certificate.
pub fn certificate_path(row: &Row) -> NodePath {
    match row.location {
        Location::CertDir { base } => NodePath::cert(format!("{base}.crt")),
        Location::Kubeconfig { file } => NodePath::kubeconfig(file),
    }
}

/// What reading a file gave.
#[derive(Clone, PartialEq, Eq)]
pub enum FileContent {
    /// The file's bytes.
    Bytes(Vec<u8>),
    /// The file exists but could not be read; why.
    Unreadable(ReadError),
}

/// Why a file that exists could not be read, as the reader (the CLI's file
/// system, a node archive) found it. The messages follow the file's name
/// (`pki/ca.crt is a directory`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A symbolic link to nothing: "missing" for kubeadm, named here so the user
    /// learns why.
    #[error("is a symbolic link to a file that does not exist")]
    DanglingSymlink,
    /// A directory where a file was expected.
    #[error("is a directory")]
    Directory,
    /// A device, FIFO or socket (a FIFO would block, a device could be endless).
    #[error("is not a regular file (a device, FIFO or socket)")]
    NotRegular,
    /// Larger than kcerts reads for this kind of file.
    #[error("is {len} bytes, over kcerts' limit of {limit} bytes for {what}")]
    TooLarge {
        /// Its size.
        len: u64,
        /// The limit.
        limit: u64,
        /// The kind of file the limit is for.
        what: String,
    },
    /// It grew over the limit between its size and its reading.
    #[error("grew over kcerts' limit of {limit} bytes while being read")]
    Grew {
        /// The limit.
        limit: u64,
    },
    /// The system refused (permission denied, a symlink loop, an I/O error):
    /// the system's message.
    #[error("{0}")]
    System(String),
    /// A link in a node archive to an entry the archive does not hold.
    #[error("is a link to {target}, which is not in the archive")]
    LinkOutside {
        /// The entry the link points to.
        target: String,
    },
    /// Links in a node archive that go on too long (a loop).
    #[error("is a chain of links too long to follow (a loop?)")]
    LinkLoop,
    /// A file that should be there is not (an endpoint's expected certificate).
    #[error("it is missing")]
    Missing,
    /// A private key the reader chose not to read ([`NodeFiles::keys_not_read`]):
    /// it exists, and no check needs its bytes.
    #[error("was not read (private keys are read only for the key checks)")]
    NotRead,
}

impl fmt::Debug for FileContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print file contents: they may be private keys.
        match self {
            FileContent::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            FileContent::Unreadable(e) => write!(f, "Unreadable({e:?})"),
        }
    }
}

/// The files of a node that kcerts looks at. An absent entry is a missing file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFiles {
    /// Files by path.
    pub files: BTreeMap<NodePath, FileContent>,
    /// External etcd as the cluster configuration says (`etcd.external`);
    /// `None`: inferred from the files (no etcd CA and no etcd certificate).
    pub external_etcd: Option<bool>,
    /// The private keys were deliberately not read (`kcerts serve` without
    /// `--check-keys`): each key file that exists is [`ReadError::NotRead`], a CA
    /// whose key exists is not external, and no check parses a key, the ones
    /// embedded in kubeconfigs and in the kubelet's pair file included.
    pub keys_not_read: bool,
}

impl NodeFiles {
    /// Every file kcerts may read on a kubeadm node, for the CLI to load.
    pub fn wanted() -> Vec<NodePath> {
        let mut out = Vec::new();
        for ca in inventory::Ca::ALL {
            out.push(NodePath::cert(ca.cert_file()));
            out.push(NodePath::cert(ca.key_file()));
        }
        for row in &inventory::ROWS {
            match row.location {
                Location::CertDir { base } => {
                    out.push(NodePath::cert(format!("{base}.crt")));
                    out.push(NodePath::cert(format!("{base}.key")));
                }
                Location::Kubeconfig { file } => out.push(NodePath::kubeconfig(file)),
            }
        }
        out.push(NodePath::cert("sa.key"));
        out.push(NodePath::cert("sa.pub"));
        out
    }

    /// Whether `path` is a private key file (`*.key`: the CAs', the leaves', `sa.key`).
    pub fn is_key(path: &NodePath) -> bool {
        path.dir == Dir::Cert && path.rel.ends_with(".key")
    }

    /// Adds a file's bytes.
    pub fn insert(&mut self, path: NodePath, bytes: Vec<u8>) {
        self.files.insert(path, FileContent::Bytes(bytes));
    }

    /// Records that a file exists but could not be read.
    pub fn insert_unreadable(&mut self, path: NodePath, reason: ReadError) {
        self.files.insert(path, FileContent::Unreadable(reason));
    }

    /// The file's state: `None` when missing.
    pub fn get(&self, path: &NodePath) -> Option<&FileContent> {
        self.files.get(path)
    }

    /// Whether the file is present (readable or not).
    pub fn exists(&self, path: &NodePath) -> bool {
        self.files.contains_key(path)
    }
}
