//! The analysis' data model: the files given, the items found in them
//! (certificates, keys, CSRs, references, errors), the links between them, the
//! kubeadm node views, and [`Analysis`], what the web page and `inspect` show.

use serde::Serialize;
use time::OffsetDateTime;

use super::findings::Warning;
use super::links::first_copy_order;
use crate::check::expiration::Report;
use crate::check::verify::Thresholds;
use crate::kubeadm::node::NodeFiles;
use crate::x509::certificate::Certificate;
use crate::x509::csr::Csr;
use crate::x509::keys::PrivateKey;

/// The largest file the analysis reads; a larger one becomes an error item
/// (see [`SkippedFile`]) so a stray disk image cannot exhaust the page's memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Whether a file of `size` bytes is over [`MAX_FILE_BYTES`] and should be
/// passed as a [`SkippedFile`] instead of being read.
pub fn file_too_large(size: u64) -> bool {
    size > MAX_FILE_BYTES
}

/// A file that was not read because it is over [`MAX_FILE_BYTES`], or could
/// not be read for `reason` (an archive refused, an archive entry that is a
/// dangling link).
#[derive(Debug, Clone)]
pub struct SkippedFile {
    /// Its name or relative path.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Why it was not read, when not for its size.
    pub reason: Option<String>,
}

/// One input file.
#[derive(Debug, Clone, Copy)]
pub struct InputFile<'a> {
    /// Its name or relative path (`kubernetes/pki/ca.crt`).
    pub name: &'a str,
    /// Its contents.
    pub bytes: &'a [u8],
}

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemKind {
    /// A certificate.
    Certificate,
    /// A private key.
    PrivateKey,
    /// A public key (e.g. `sa.pub`).
    PublicKey,
    /// A certificate signing request.
    Csr,
    /// A kubeconfig reference to a file that is not embedded.
    FileReference,
    /// A file (or part of one) that could not be understood.
    Error,
}

/// A certificate with what the page shows next to it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateItem {
    /// The decoded certificate.
    #[serde(flatten)]
    pub cert: Certificate,
    /// Seconds until NotAfter at `now`.
    pub residual_seconds: i64,
    /// kubeadm's RESIDUAL TIME text.
    pub residual: String,
    /// The kubeadm row (or CA) this certificate is, when the files form a node.
    pub role: Option<String>,
    /// The node (folder name) it belongs to, when the files hold several nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// One thing found in the files.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// Position in [`Analysis::items`].
    pub id: usize,
    /// The file it came from.
    pub file: String,
    /// Where in the file (`block 2`, `user kubernetes-admin client-certificate`).
    pub place: String,
    /// What it is.
    pub kind: ItemKind,
    /// Set for certificates.
    pub certificate: Option<CertificateItem>,
    /// Key description (`RSA 2048`) for keys.
    pub key: Option<String>,
    /// Set for CSRs.
    pub csr: Option<Csr>,
    /// The referenced path, for file references.
    pub reference: Option<String>,
    /// What is wrong, for errors.
    pub error: Option<String>,
    /// The public key bits (certificates, keys, CSRs), to match pairs.
    #[serde(skip)]
    pub public_key_bits: Vec<u8>,
    /// The private key itself, kept for in-page renewal and CSRs; never serialised.
    #[serde(skip)]
    pub private_key: Option<PrivateKey>,
}

impl Item {
    /// Where it is: its file, and the place in the file when there is one
    /// (`admin.conf (user kubernetes-admin client-certificate)`), as `inspect`
    /// and the page name items.
    pub fn location(&self) -> String {
        if self.place.is_empty() {
            self.file.clone()
        } else {
            format!("{} ({})", self.file, self.place)
        }
    }
}

/// "`child` was signed by `issuer`" (signature checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// The signed certificate's item id.
    pub child: usize,
    /// The issuing certificate's item id.
    pub issuer: usize,
    /// Whether the signature was verified (always, up to [`super::SIGNATURE_CHECK_LIMIT`] certificates).
    pub signature_checked: bool,
}

/// "`key` is the private key of `certificate`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMatch {
    /// The key item id.
    pub key: usize,
    /// The certificate (or CSR) item id.
    pub certificate: usize,
}

/// How bad a warning is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Something to plan for.
    Warning,
    /// Broken now.
    Critical,
}

/// The kubeadm view of the files, when they form a node.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// The node's name: its folder's name (`cp-1` for `cluster/cp-1/`), or
    /// `node` when the files sit at the top.
    pub name: String,
    /// The folder prefix the node was found under (`kubernetes/`).
    pub root: String,
    /// The node's files, as the report read them.
    #[serde(skip)]
    pub files: NodeFiles,
    /// The report (the web page shows it in kubeadm's text and JSON forms, which
    /// the wasm crate renders with `render::text` and `render::structured`).
    pub report: Report,
}

/// Everything found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// The time the analysis is for.
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// All items.
    pub items: Vec<Item>,
    /// Issuer links.
    pub links: Vec<Link>,
    /// Key pairs.
    pub key_matches: Vec<KeyMatch>,
    /// Findings, most severe first.
    pub warnings: Vec<Warning>,
    /// The kubeadm node views: one per folder holding a `pki/ca.crt`, in path
    /// order (several for a drop of `cp-1/`, `cp-2/`, `cp-3/`).
    pub nodes: Vec<NodeView>,
    /// The expiry windows the findings were judged with (the one rule,
    /// [`Thresholds::status`]).
    #[serde(skip)]
    pub thresholds: Thresholds,
}

impl Analysis {
    /// The distinct certificates, one item id each: the first copy of each,
    /// preferring a file of its own over a copy embedded in a kubeconfig
    /// (every kubeconfig repeats ca.crt). In item order, except that
    /// certificates found only as a kubeconfig's certificate-authority come last.
    pub fn distinct_certificates(&self) -> Vec<usize> {
        first_copy_order(&self.items)
    }

    /// Certificate item `id`'s expiry under the one rule (`None` when it is
    /// not a certificate).
    pub fn expiry(&self, id: usize) -> Option<crate::check::verify::Status> {
        let c = self.items.get(id)?.certificate.as_ref()?;
        Some(self.thresholds.status(c.residual_seconds))
    }
}
