//! Analysis of an arbitrary set of files (what the web page is given): every
//! certificate, key, CSR and kubeconfig in them, which certificate signed which,
//! which key belongs to which certificate, warnings, and — when the files look
//! like a kubeadm node (`pki/` and `*.conf`) — the check-expiration report.
//!
//! Every file gets items or an error item; nothing here panics on bad input.

use serde::Serialize;
use time::OffsetDateTime;

use crate::check::expiration::{self, Report};
use crate::kubeadm::inventory::{self, Location};
use crate::kubeadm::kubeconfig::{Kubeconfig, Material};
use crate::kubeadm::node::{NodeFiles, NodePath};
use crate::kubeadm::node_loader::FileErrorKind;
use crate::kubeadm::residual;
use crate::x509::certificate::{self, Certificate};
use crate::x509::csr::{self, Csr};
use crate::x509::encoding;
use crate::x509::keys::{self, PrivateKey};

/// Days before expiry that count as "expiring soon".
pub const EXPIRING_SOON_DAYS: i64 = 30;

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

/// "`child` was signed by `issuer`" (signature checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// The signed certificate's item id.
    pub child: usize,
    /// The issuing certificate's item id.
    pub issuer: usize,
    /// Whether the signature was verified (always, up to [`SIGNATURE_CHECK_LIMIT`] certificates).
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

/// A finding about one item. Serialised as `{item, severity, message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The item concerned.
    pub item: usize,
    /// How bad.
    pub severity: Severity,
    /// What was found.
    pub kind: WarningKind,
}

impl Serialize for Warning {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Warning", 3)?;
        st.serialize_field("item", &self.item)?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("message", &self.kind.to_string())?;
        st.end()
    }
}

/// What a [`Warning`] found; the message is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarningKind {
    /// The certificate expired.
    #[error("expired on {date}")]
    Expired {
        /// When (kubeadm's date form).
        date: String,
    },
    /// The certificate expires within the warning window.
    #[error("expires in {residual} (on {date})")]
    ExpiresSoon {
        /// Time left, as kubeadm prints it.
        residual: String,
        /// When.
        date: String,
    },
    /// A CA expires before a certificate it signed.
    #[error(
        "this CA expires on {ca_expires}, before the certificate it signed in {leaf_file} ({leaf_expires})"
    )]
    CaExpiresFirst {
        /// When the CA expires.
        ca_expires: String,
        /// The signed certificate's file.
        leaf_file: String,
        /// When it expires.
        leaf_expires: String,
    },
    /// A node file kubeadm's report could not use.
    #[error("{file}: {reason}")]
    NodeFile {
        /// The file, with its node's root.
        file: String,
        /// Why.
        reason: FileErrorKind,
    },
    /// A role's certificate without an extended key usage kubeadm gives it.
    #[error("{row} lacks the extended key usage kubeadm gives it: {missing}")]
    MissingExtendedKeyUsage {
        /// The row.
        row: &'static str,
        /// The usages missing, comma-separated.
        missing: String,
    },
    /// A role's certificate without a key usage kubeadm gives it.
    #[error("{row} lacks the key usage {usage}")]
    MissingKeyUsage {
        /// The row.
        row: &'static str,
        /// The usage.
        usage: &'static str,
    },
    /// A CA file whose certificate is not a CA.
    #[error("{ca} is not a CA certificate (basic constraints CA:FALSE)")]
    NotACa {
        /// The CA's name.
        ca: &'static str,
    },
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
}

impl Analysis {
    /// The distinct certificates, one item id each: the first copy of each,
    /// preferring a file of its own over a copy embedded in a kubeconfig
    /// (every kubeconfig repeats ca.crt). In item order, except that
    /// certificates found only as a kubeconfig's certificate-authority come last.
    pub fn distinct_certificates(&self) -> Vec<usize> {
        first_copy_order(&self.items)
    }
}

/// Blocks of a bundle between two progress calls.
const PROGRESS_EVERY: usize = 1000;

struct Builder {
    items: Vec<Item>,
    now: OffsetDateTime,
}

impl Builder {
    fn push(&mut self, file: &str, place: String, kind: ItemKind) -> &mut Item {
        let id = self.items.len();
        self.items.push(Item {
            id,
            file: file.to_string(),
            place,
            kind,
            certificate: None,
            key: None,
            csr: None,
            reference: None,
            error: None,
            public_key_bits: Vec::new(),
            private_key: None,
        });
        &mut self.items[id]
    }

    fn error(&mut self, file: &str, place: String, message: String) {
        self.push(file, place, ItemKind::Error).error = Some(message);
    }

    fn certificate(&mut self, file: &str, place: String, cert: Certificate) {
        let now = self.now;
        let residual_seconds = cert.residual_seconds(now);
        let bits = cert.public_key_bits();
        let item = self.push(file, place, ItemKind::Certificate);
        item.public_key_bits = bits;
        item.certificate = Some(CertificateItem {
            residual: residual::human(residual_seconds),
            residual_seconds,
            cert,
            role: None,
            node: None,
        });
    }

    fn key(&mut self, file: &str, place: String, key: PrivateKey) {
        let item = self.push(file, place, ItemKind::PrivateKey);
        item.key = Some(key.describe());
        item.public_key_bits = key.public_key_bits();
        item.private_key = Some(key);
    }

    /// Adds whatever `bytes` hold: certificates, a key, a CSR, or a kubeconfig,
    /// calling `progress` with the part of a large bundle done so far.
    fn file(&mut self, name: &str, bytes: &[u8], progress: &mut dyn FnMut(f64)) {
        if !encoding::looks_like_pem(bytes) && bytes.first() != Some(&0x30) {
            self.kubeconfig(name, bytes);
            return;
        }
        let blocks = match encoding::blocks(bytes) {
            Ok(b) => b,
            Err(e) => return self.error(name, "file".into(), e.to_string()),
        };
        let count = blocks.len();
        for (i, block) in blocks.into_iter().enumerate() {
            if i % PROGRESS_EVERY == PROGRESS_EVERY - 1 {
                progress((i + 1) as f64 / count as f64);
            }
            let place = if count > 1 {
                format!("block {} of {count}", i + 1)
            } else {
                String::new()
            };
            match block.label.as_str() {
                "CERTIFICATE" | "X509 CERTIFICATE" => match Certificate::from_der_vec(block.der) {
                    Ok(c) => self.certificate(name, place, c),
                    Err(e) => {
                        self.error(name, place, format!("not a valid X.509 certificate: {e}"))
                    }
                },
                "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => match csr::parse(&block.der) {
                    Ok(c) => {
                        let item = self.push(name, place, ItemKind::Csr);
                        item.public_key_bits = c.public_key_bits.clone();
                        item.csr = Some(c);
                    }
                    Err(e) => self.error(name, place, e.to_string()),
                },
                "PUBLIC KEY" => {
                    let item = self.push(name, place, ItemKind::PublicKey);
                    item.key = Some("public key".into());
                    item.public_key_bits = keys::spki_bits(&block.der).unwrap_or_default();
                }
                label if label.ends_with("PRIVATE KEY") => {
                    let own = encoding::to_pem(label, &block.der);
                    match PrivateKey::parse(own.as_bytes()) {
                        Ok(k) => self.key(name, place, k),
                        Err(e) => self.error(name, place, e.to_string()),
                    }
                }
                "" => self.der(name, &block.der),
                other => self.error(name, place, format!("unsupported PEM block {other:?}")),
            }
        }
    }

    fn der(&mut self, name: &str, der: &[u8]) {
        if let Ok(c) = Certificate::from_der(der) {
            return self.certificate(name, String::new(), c);
        }
        if let Ok(c) = csr::parse(der) {
            let item = self.push(name, String::new(), ItemKind::Csr);
            item.public_key_bits = c.public_key_bits.clone();
            item.csr = Some(c);
            return;
        }
        match PrivateKey::parse(der) {
            Ok(k) => self.key(name, String::new(), k),
            Err(_) => self.error(
                name,
                "file".into(),
                "DER data that is neither a certificate, a CSR nor a private key".into(),
            ),
        }
    }

    fn kubeconfig(&mut self, name: &str, bytes: &[u8]) {
        let kc = match Kubeconfig::parse(bytes) {
            Ok(k) => k,
            Err(e) => {
                return self.error(
                    name,
                    "file".into(),
                    format!("not PEM, DER or a kubeconfig: {e}"),
                );
            }
        };
        let entries = match kc.entries() {
            Ok(e) => e,
            Err(e) => return self.error(name, "file".into(), e.to_string()),
        };
        if entries.is_empty() {
            self.error(
                name,
                "file".into(),
                "a kubeconfig without certificates or keys".into(),
            );
        }
        for entry in entries {
            let place = format!("{} {} {}", entry.kind, entry.name, entry.field);
            match entry.material {
                Material::File { path } => {
                    self.push(name, place, ItemKind::FileReference).reference = Some(path);
                }
                Material::Embedded { bytes } if entry.field == "client-key" => {
                    match PrivateKey::parse(&bytes) {
                        Ok(k) => self.key(name, place, k),
                        Err(e) => self.error(name, place, e.to_string()),
                    }
                }
                Material::Embedded { bytes } => match certificate::parse_all(&bytes) {
                    Ok(certs) => {
                        let n = certs.len();
                        for (i, c) in certs.into_iter().enumerate() {
                            let p = if n > 1 {
                                format!("{place} ({} of {n})", i + 1)
                            } else {
                                place.clone()
                            };
                            self.certificate(name, p, c);
                        }
                    }
                    Err(e) => self.error(name, place, e.to_string()),
                },
            }
        }
    }
}

/// Maps uploaded paths onto kubeadm nodes: every folder under which a
/// `pki/ca.crt` lives and that is not inside another such folder (a lone
/// kubeconfig is not a node), with its `pki/` files, its top-level files and
/// its `manifests/` files. Sorted by path.
fn detect_nodes(files: &[InputFile<'_>]) -> Vec<(String, NodeFiles)> {
    let mut roots: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let name = f.name.trim_start_matches("./");
            let prefix = name.strip_suffix("pki/ca.crt")?;
            (prefix.is_empty() || prefix.ends_with('/')).then(|| prefix.to_string())
        })
        .collect();
    roots.sort();
    roots.dedup();
    // Sorted, a folder comes before the folders inside it.
    let mut outer: Vec<String> = Vec::new();
    for r in roots {
        if !outer.iter().any(|o| r.starts_with(o.as_str())) {
            outer.push(r);
        }
    }
    outer
        .into_iter()
        .map(|root| {
            let mut node = NodeFiles::default();
            for f in files {
                let name = f.name.trim_start_matches("./");
                let Some(rel) = name.strip_prefix(root.as_str()) else {
                    continue;
                };
                if let Some(pki_rel) = rel.strip_prefix("pki/") {
                    node.insert(NodePath::cert(pki_rel), f.bytes.to_vec());
                } else if !rel.contains('/')
                    || rel
                        .strip_prefix("manifests/")
                        .is_some_and(|m| !m.contains('/'))
                {
                    // The static pod manifests: fleet reads the phase of a
                    // service-account key rotation from them.
                    node.insert(NodePath::kubeconfig(rel), f.bytes.to_vec());
                }
            }
            (root, node)
        })
        .collect()
}

/// A node's name from its folder prefix: the last folder (`cp-1/` -> `cp-1`).
fn node_name(root: &str) -> String {
    root.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("node")
        .to_string()
}

/// Analyses `files` as of `now`.
pub fn analyze(files: &[InputFile<'_>], now: OffsetDateTime) -> Analysis {
    analyze_with_progress(files, &[], now, &mut |_, _| {})
}

/// Analyses `files` as of `now`, with an error item for each file in
/// `skipped`, calling `progress(done, total)` as the files are parsed
/// (`done` and `total` count input bytes; the last call has `done == total`).
pub fn analyze_with_progress(
    files: &[InputFile<'_>],
    skipped: &[SkippedFile],
    now: OffsetDateTime,
    progress: &mut dyn FnMut(u64, u64),
) -> Analysis {
    let mut b = Builder {
        items: Vec::new(),
        now,
    };
    let total: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
    let mut done = 0;
    for f in files {
        b.file(f.name, f.bytes, &mut |part| {
            progress(done + (f.bytes.len() as f64 * part) as u64, total);
        });
        done += f.bytes.len() as u64;
        progress(done, total);
    }
    for f in skipped {
        let message = f.reason.clone().unwrap_or_else(|| {
            format!(
                "{} bytes is over the page's {MAX_FILE_BYTES} byte limit",
                f.size
            )
        });
        b.error(&f.name, "file".into(), message);
    }
    let mut items = b.items;

    let first = first_copies(&items);
    let links = link_issuers(&items, &first);
    let mut key_matches = Vec::new();
    let mut by_key: std::collections::HashMap<&[u8], Vec<usize>, EndsHash> =
        std::collections::HashMap::with_hasher(EndsHash);
    for other in items
        .iter()
        .filter(|i| matches!(i.kind, ItemKind::Certificate | ItemKind::Csr))
    {
        if first[other.id] && !other.public_key_bits.is_empty() {
            by_key
                .entry(&other.public_key_bits)
                .or_default()
                .push(other.id);
        }
    }
    for key in items.iter().filter(|i| i.kind == ItemKind::PrivateKey) {
        for &certificate in by_key
            .get(key.public_key_bits.as_slice())
            .into_iter()
            .flatten()
        {
            key_matches.push(KeyMatch {
                key: key.id,
                certificate,
            });
        }
    }

    let nodes: Vec<NodeView> = detect_nodes(files)
        .into_iter()
        .map(|(root, node_files)| {
            let report = expiration::build(&node_files, now);
            NodeView {
                name: node_name(&root),
                root,
                report,
                files: node_files,
            }
        })
        .collect();

    let mut warnings = Vec::new();
    for n in &nodes {
        let name = (nodes.len() > 1).then_some(n.name.as_str());
        assign_roles(&mut items, &n.root, name, &mut warnings);
    }
    for item in &items {
        let Some(c) = &item.certificate else { continue };
        let date = residual::format_date(c.cert.not_after);
        if c.residual_seconds < 0 {
            warnings.push(Warning {
                item: item.id,
                severity: Severity::Critical,
                kind: WarningKind::Expired { date },
            });
        } else if c.residual_seconds < EXPIRING_SOON_DAYS * 86400 {
            warnings.push(Warning {
                item: item.id,
                severity: Severity::Warning,
                kind: WarningKind::ExpiresSoon {
                    residual: c.residual.clone(),
                    date,
                },
            });
        }
    }
    for l in &links {
        let (Some(c), Some(p)) = (&items[l.child].certificate, &items[l.issuer].certificate) else {
            continue;
        };
        if p.cert.not_after < c.cert.not_after {
            warnings.push(Warning {
                item: l.issuer,
                severity: Severity::Warning,
                kind: WarningKind::CaExpiresFirst {
                    ca_expires: residual::format_date(p.cert.not_after),
                    leaf_file: items[l.child].file.clone(),
                    leaf_expires: residual::format_date(c.cert.not_after),
                },
            });
        }
    }
    for n in &nodes {
        for e in &n.report.errors {
            let file = format!("{}{}", n.root, e.path);
            let item = items.iter().find(|i| i.file == file).map_or(0, |i| i.id);
            warnings.push(Warning {
                item,
                severity: Severity::Critical,
                kind: WarningKind::NodeFile {
                    file,
                    reason: (*e.kind).clone(),
                },
            });
        }
    }
    warnings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.item.cmp(&b.item)));
    Analysis {
        now,
        items,
        links,
        key_matches,
        warnings,
        nodes,
    }
}

/// Above this many certificates, issuer links are found by name and key
/// identifier only; below it every link's signature is also checked.
pub const SIGNATURE_CHECK_LIMIT: usize = 2000;

/// For each item, whether it is the first copy of its certificate, preferring
/// a file of its own over a copy embedded in a kubeconfig (every kubeconfig
/// repeats ca.crt). Non-certificates are their own first copy.
fn first_copies(items: &[Item]) -> Vec<bool> {
    let mut first = vec![true; items.len()];
    for i in items.iter().filter(|i| i.certificate.is_some()) {
        first[i.id] = false;
    }
    for id in first_copy_order(items) {
        first[id] = true;
    }
    first
}

/// The ids of the first copies of each certificate, copies embedded as a
/// kubeconfig's certificate-authority last, otherwise in item order.
fn first_copy_order(items: &[Item]) -> Vec<usize> {
    let mut order: Vec<&Item> = items.iter().filter(|i| i.certificate.is_some()).collect();
    order.sort_by_key(|i| (i.place.contains("certificate-authority"), i.id));
    let mut seen: std::collections::HashSet<&[u8], EndsHash> =
        std::collections::HashSet::with_capacity_and_hasher(order.len(), EndsHash);
    order
        .into_iter()
        .filter(|i| {
            i.certificate
                .as_ref()
                .is_some_and(|c| seen.insert(c.cert.der.as_slice()))
        })
        .map(|i| i.id)
        .collect()
}

/// Hashes byte strings (a certificate's DER, a public key) by their length,
/// first 32 and last 16 bytes instead of every byte: a DER's head holds its
/// serial number and its tail its signature, a key's head its modulus or
/// point, a name's tail its common name, so these differ between any two.
/// Set and map membership still
/// compares whole slices; the analysis of a 10,000-certificate bundle spent a
/// tenth of its time in SipHash over whole certificates and keys.
#[derive(Clone, Copy, Default)]
struct EndsHash;

impl std::hash::BuildHasher for EndsHash {
    type Hasher = EndsHasher;
    fn build_hasher(&self) -> EndsHasher {
        EndsHasher(0xcbf2_9ce4_8422_2325)
    }
}

/// FNV-1a over what [`EndsHash`] keeps of each write.
struct EndsHasher(u64);

impl std::hash::Hasher for EndsHasher {
    fn write(&mut self, bytes: &[u8]) {
        let head = &bytes[..bytes.len().min(32)];
        let tail = &bytes[bytes.len().saturating_sub(16)..];
        let len = (bytes.len() as u64).to_le_bytes();
        for &b in head.iter().chain(tail).chain(&len) {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Which certificate signed which: candidates share the issuer name (and the
/// key identifier when both carry one); the signature is checked unless the
/// upload is very large. Indexed by name, so a large bundle stays linear.
fn link_issuers(items: &[Item], first: &[bool]) -> Vec<Link> {
    use std::collections::HashMap;
    let certs: Vec<(usize, &Certificate)> = items
        .iter()
        .filter_map(|i| i.certificate.as_ref().map(|c| (i.id, &c.cert)))
        .collect();
    let check_signatures = certs.len() <= SIGNATURE_CHECK_LIMIT;
    let mut cas_by_subject: HashMap<&[u8], Vec<(usize, &Certificate)>, EndsHash> =
        HashMap::with_hasher(EndsHash);
    for (id, c) in &certs {
        if c.is_ca && first[*id] {
            cas_by_subject
                .entry(c.subject_der())
                .or_default()
                .push((*id, c));
        }
    }
    let mut links = Vec::new();
    for (child, c) in &certs {
        let Some(candidates) = cas_by_subject.get(c.issuer_der()) else {
            continue;
        };
        for (issuer, p) in candidates {
            if c.der == p.der {
                continue;
            }
            let ids_fit = match (&c.authority_key_id, &p.subject_key_id) {
                (Some(aki), Some(ski)) => aki == ski,
                _ => true,
            };
            if ids_fit && (!check_signatures || c.verify_signed_by(p).is_ok()) {
                links.push(Link {
                    child: *child,
                    issuer: *issuer,
                    signature_checked: check_signatures,
                });
            }
        }
    }
    links
}

/// Names each node certificate by its kubeadm row (and its node, when there
/// are several) and checks its usages.
fn assign_roles(items: &mut [Item], root: &str, node: Option<&str>, warnings: &mut Vec<Warning>) {
    for item in items.iter_mut() {
        let Some(rel) = item.file.strip_prefix(root) else {
            continue;
        };
        let Some(c) = item.certificate.as_mut() else {
            continue;
        };
        c.node = node.map(str::to_string);
        let role_row = inventory::ROWS.iter().find(|r| match r.location {
            Location::CertDir { base } => rel == format!("pki/{base}.crt"),
            Location::Kubeconfig { file } => {
                rel == file && item.place.contains("client-certificate")
            }
        });
        if let Some(row) = role_row {
            c.role = Some(row.name.to_string());
            let missing: Vec<String> = row
                .usage
                .extended_key_usages()
                .into_iter()
                .filter(|u| !c.cert.extended_key_usage.contains(u))
                .map(|u| u.name())
                .collect();
            if !missing.is_empty() {
                warnings.push(Warning {
                    item: item.id,
                    severity: Severity::Critical,
                    kind: WarningKind::MissingExtendedKeyUsage {
                        row: row.name,
                        missing: missing.join(", "),
                    },
                });
            }
            for ku in ["digitalSignature", "keyEncipherment"] {
                if !c.cert.key_usage.iter().any(|k| k == ku) {
                    warnings.push(Warning {
                        item: item.id,
                        severity: Severity::Warning,
                        kind: WarningKind::MissingKeyUsage {
                            row: row.name,
                            usage: ku,
                        },
                    });
                }
            }
        } else if let Some(ca) = inventory::Ca::ALL
            .iter()
            .find(|ca| rel == format!("pki/{}", ca.cert_file()))
        {
            c.role = Some(ca.name().to_string());
            if !c.cert.is_ca {
                warnings.push(Warning {
                    item: item.id,
                    severity: Severity::Critical,
                    kind: WarningKind::NotACa { ca: ca.name() },
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;
    use crate::issue::pki::{self, PkiOptions};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC); // 2026-03-01

    /// A generated ECDSA node (seed 1) at NOW.
    fn ecdsa_node() -> pki::GeneratedNode {
        let opts = PkiOptions {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            ..PkiOptions::example()
        };
        pki::generate(&opts, NOW, &mut crate::seeded_rng(1)).unwrap()
    }

    #[test]
    fn a_node_folder_is_detected_and_linked() {
        let node = ecdsa_node();
        let names: Vec<String> = node
            .files
            .iter()
            .map(|f| format!("kubernetes/{}", f.path))
            .collect();
        let inputs: Vec<InputFile<'_>> = node
            .files
            .iter()
            .zip(&names)
            .map(|(f, n)| InputFile {
                name: n,
                bytes: &f.bytes,
            })
            .collect();
        let a = analyze(&inputs, NOW + time::Duration::days(340));
        assert_eq!(a.nodes.len(), 1);
        let view = &a.nodes[0];
        assert_eq!(view.root, "kubernetes/");
        assert_eq!(view.report.certificates.len(), 11);
        // every leaf links to a CA; every key matches a certificate
        let leaves = a
            .items
            .iter()
            .filter(|i| i.certificate.as_ref().is_some_and(|c| !c.cert.is_ca))
            .count();
        assert_eq!(a.links.len(), leaves);
        let keys = a
            .items
            .iter()
            .filter(|i| i.kind == ItemKind::PrivateKey)
            .count();
        assert_eq!(
            a.key_matches.len(),
            keys - 1,
            "all keys but sa.key have a certificate"
        );
        assert!(
            a.warnings
                .iter()
                .any(|w| w.kind.to_string().starts_with("expires in 25d")),
            "{:?}",
            a.warnings
        );
        let apiserver = a
            .items
            .iter()
            .find(|i| i.file == "kubernetes/pki/apiserver.crt")
            .unwrap();
        assert_eq!(
            apiserver.certificate.as_ref().unwrap().role.as_deref(),
            Some("apiserver")
        );
    }

    #[test]
    fn several_node_folders_give_one_report_each_and_named_roles() {
        let node = ecdsa_node();
        let mut names = Vec::new();
        for n in ["cluster/cp-2", "cluster/cp-1"] {
            for f in &node.files {
                names.push((format!("{n}/{}", f.path), &f.bytes));
            }
        }
        // The static pod manifests are part of the node (fleet reads the sa
        // rotation's phase from them); a file deeper down is not.
        let manifest = b"kind: Pod\n".to_vec();
        names.push((
            "cluster/cp-1/manifests/kube-apiserver.yaml".into(),
            &manifest,
        ));
        names.push((
            "cluster/cp-1/manifests/old/kube-apiserver.yaml".into(),
            &manifest,
        ));
        // A backup inside a node folder is not a node of its own.
        names.push((
            "cluster/cp-1/old/pki/ca.crt".to_string(),
            &node.files[0].bytes,
        ));
        let inputs: Vec<InputFile<'_>> = names
            .iter()
            .map(|(n, b)| InputFile { name: n, bytes: b })
            .collect();
        let mut calls = Vec::new();
        let a = analyze_with_progress(&inputs, &[], NOW, &mut |d, t| calls.push((d, t)));
        let roots: Vec<(&str, &str)> = a
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.root.as_str()))
            .collect();
        assert_eq!(
            roots,
            [("cp-1", "cluster/cp-1/"), ("cp-2", "cluster/cp-2/")]
        );
        let manifests: Vec<String> = a
            .nodes
            .iter()
            .flat_map(|n| n.files.files.keys())
            .map(|p| p.to_string())
            .filter(|p| p.contains("manifests"))
            .collect();
        assert_eq!(manifests, ["manifests/kube-apiserver.yaml"]);
        assert_eq!(
            a.nodes[0].report, a.nodes[1].report,
            "same files, same report"
        );
        let apiservers: Vec<Option<&str>> = a
            .items
            .iter()
            .filter_map(|i| i.certificate.as_ref())
            .filter(|c| c.role.as_deref() == Some("apiserver"))
            .map(|c| c.node.as_deref())
            .collect();
        assert_eq!(apiservers, [Some("cp-2"), Some("cp-1")]);
        // The same certificates twice (and ca.crt three times): one row each.
        let distinct = a.distinct_certificates();
        let certificates = a.items.iter().filter(|i| i.certificate.is_some()).count();
        assert!(distinct.len() * 2 < certificates, "{distinct:?}");
        assert!(distinct.windows(2).all(|w| w[0] < w[1]));
        let total: u64 = inputs.iter().map(|f| f.bytes.len() as u64).sum();
        assert_eq!(calls.len(), inputs.len());
        assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(calls.last(), Some(&(total, total)));
    }

    #[test]
    fn kubeconfig_copies_of_a_ca_come_after_its_own_file() {
        let node = ecdsa_node();
        // admin.conf first: its embedded ca.crt is item 0, pki/ca.crt comes later.
        let mut files: Vec<&pki::GeneratedFile> = node.files.iter().collect();
        files.sort_by_key(|f| !f.path.to_string().ends_with("admin.conf"));
        let names: Vec<String> = files.iter().map(|f| f.path.to_string()).collect();
        let inputs: Vec<InputFile<'_>> = files
            .iter()
            .zip(&names)
            .map(|(f, n)| InputFile {
                name: n,
                bytes: &f.bytes,
            })
            .collect();
        let a = analyze(&inputs, NOW);
        assert!(a.items[0].place.contains("certificate-authority"));
        let distinct = a.distinct_certificates();
        assert!(!distinct.contains(&0));
        let ca = a.items.iter().find(|i| i.file == "pki/ca.crt").unwrap();
        assert!(distinct.contains(&ca.id));
    }

    #[test]
    fn a_file_over_the_limit_becomes_an_error_item() {
        assert!(!file_too_large(MAX_FILE_BYTES) && file_too_large(MAX_FILE_BYTES + 1));
        let a = analyze_with_progress(
            &[],
            &[SkippedFile {
                name: "disk.img".into(),
                size: MAX_FILE_BYTES + 1,
                reason: None,
            }],
            NOW,
            &mut |_, _| {},
        );
        assert_eq!(a.items.len(), 1);
        assert_eq!(a.items[0].kind, ItemKind::Error);
        assert_eq!(
            a.items[0].error.as_deref(),
            Some("67108865 bytes is over the page's 67108864 byte limit")
        );
    }

    #[test]
    fn bad_files_become_error_items() {
        let a = analyze(
            &[
                InputFile {
                    name: "junk.crt",
                    bytes: b"\x30\x03\x01\x02",
                },
                InputFile {
                    name: "empty.pem",
                    bytes: b"",
                },
                InputFile {
                    name: "text.txt",
                    bytes: b"hello: [",
                },
                InputFile {
                    name: "bad.pem",
                    bytes: b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
                },
            ],
            NOW,
        );
        assert_eq!(a.items.len(), 4);
        assert!(
            a.items
                .iter()
                .all(|i| i.kind == ItemKind::Error && i.error.is_some()),
            "{:?}",
            a.items
        );
        assert!(a.nodes.is_empty());
    }
}
