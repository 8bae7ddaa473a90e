//! Reading certificate signing requests (PKCS#10): names, requested SANs and
//! whether the self-signature verifies. Building one is `issue::csr_builder`.
//!
//! SANs are read from every extensionRequest attribute, as Go's
//! `x509.ParseCertificateRequest` reads them (the Kubernetes signer issues what Go
//! reads); what the request carries besides (a second extensionRequest, several CNs,
//! a name of a kind not read here or that does not parse) is kept in
//! [`Csr::common_names`], [`Csr::extension_requests`] and [`Csr::odd_names`], so an
//! approver can refuse what it does not check.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;
use thiserror::Error;
use x509_parser::asn1_rs::{Any, Tag};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{OID_PKCS9_EXTENSION_REQUEST, OID_X509_EXT_SUBJECT_ALT_NAME};
use x509_parser::prelude::{FromDer, ParsedCriAttribute, X509CertificationRequest};

use crate::x509::encoding::{self, EncodingError};
use crate::x509::signature_check;

/// Why bytes are not a usable CSR.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CsrError {
    /// The bytes are not PEM or DER.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// No `CERTIFICATE REQUEST` block.
    #[error("no certificate request found (PEM labels present: {0})")]
    NoCsr(String),
    /// Not a valid PKCS#10 request.
    #[error("not a valid PKCS#10 certificate request: {0}")]
    Malformed(String),
}

/// A parsed CSR.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Csr {
    /// Subject in RFC 4514-like form.
    pub subject: String,
    /// Subject common name (the first one).
    pub common_name: Option<String>,
    /// Every CN attribute of the subject, in order (Go keeps the last one).
    #[serde(skip)]
    pub common_names: Vec<String>,
    /// Subject organizations.
    pub organizations: Vec<String>,
    /// Requested DNS SANs.
    pub dns_names: Vec<String>,
    /// Requested IP SANs.
    pub ip_addresses: Vec<IpAddr>,
    /// Requested email SANs.
    #[serde(skip)]
    pub email_addresses: Vec<String>,
    /// Requested URI SANs.
    #[serde(skip)]
    pub uris: Vec<String>,
    /// How many extensionRequest values the request holds (attributes, and values
    /// within each attribute's SET): kubeadm and the kubelet write one, or none
    /// without SANs.
    #[serde(skip)]
    pub extension_requests: usize,
    /// SANs of a kind not read into the lists above, or that do not parse.
    #[serde(skip)]
    pub odd_names: Vec<OddName>,
    /// The public key's description (`RSA 2048`, `ECDSA P-256`).
    #[serde(skip)]
    pub public_key: String,
    /// Whether the self-signature verifies with the embedded public key.
    pub signature_valid: bool,
    /// The self-signature's algorithm OID.
    #[serde(skip)]
    pub signature_algorithm: String,
    /// The subjectPublicKey bits (compare with a key's `public_key_bits`).
    #[serde(skip)]
    pub public_key_bits: Vec<u8>,
    /// The DER.
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// A requested SAN that is not a DNS name, IP address, email or URI, or one that
/// does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OddName {
    /// otherName, with its type OID.
    OtherName(String),
    /// directoryName, as text.
    DirectoryName(String),
    /// registeredID, with its OID.
    RegisteredId(String),
    /// x400Address.
    X400Address,
    /// ediPartyName.
    EdiPartyName,
    /// An iPAddress that is neither 4 nor 16 bytes long.
    IpLength(usize),
    /// A name whose content does not parse (e.g. a DNS name that is not IA5), with its tag.
    Invalid(u32),
    /// The subjectAltName extension itself does not parse.
    Unparsed(String),
    /// A second subjectAltName extension (Go refuses duplicate extensions).
    Duplicate,
}

impl fmt::Display for OddName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OtherName(oid) => write!(f, "an otherName of type {oid}"),
            Self::DirectoryName(n) => write!(f, "a directoryName {n:?}"),
            Self::RegisteredId(oid) => write!(f, "a registeredID {oid}"),
            Self::X400Address => f.write_str("an x400Address"),
            Self::EdiPartyName => f.write_str("an ediPartyName"),
            Self::IpLength(n) => write!(f, "an IP address of {n} bytes (neither 4 nor 16)"),
            Self::Invalid(tag) => write!(f, "a name with tag [{tag}] that does not parse"),
            Self::Unparsed(e) => write!(f, "a subjectAltName extension that does not parse ({e})"),
            Self::Duplicate => f.write_str("a second subjectAltName extension"),
        }
    }
}

/// The DER elements one after another in `bytes` (the content of a SEQUENCE or
/// SET); stops at the first that does not parse, counting it.
fn elements(mut bytes: &[u8]) -> Vec<Any<'_>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        match Any::from_der(bytes) {
            Ok((rest, any)) => {
                out.push(any);
                bytes = rest;
            }
            Err(_) => {
                out.push(Any::from_tag_and_data(Tag::Null, bytes));
                break;
            }
        }
    }
    out
}

/// How many extensionRequest values the CertificationRequestInfo `info` holds,
/// counting every value of every such attribute's SET from the DER itself
/// (x509-parser reads the first value of each and drops the rest).
fn extension_request_values(info: &[u8]) -> usize {
    let Ok((_, seq)) = Any::from_der(info) else {
        return 0;
    };
    let Some(attributes) = elements(seq.data).into_iter().nth(3) else {
        return 0;
    };
    elements(attributes.data)
        .iter()
        .filter_map(|attr| {
            let parts = elements(attr.data);
            let oid = parts.first()?.clone().oid().ok()?;
            (oid == OID_PKCS9_EXTENSION_REQUEST)
                .then(|| parts.get(1).map_or(0, |set| elements(set.data).len()))
        })
        .sum()
}

/// The names of the SubjectAltName extensions of one request.
#[derive(Default)]
struct Names {
    dns: Vec<String>,
    ips: Vec<IpAddr>,
    emails: Vec<String>,
    uris: Vec<String>,
    odd: Vec<OddName>,
    sans_seen: usize,
}

impl Names {
    fn add(&mut self, parsed: &ParsedExtension<'_>) {
        self.sans_seen += 1;
        if self.sans_seen == 2 {
            self.odd.push(OddName::Duplicate);
        }
        let san = match parsed {
            ParsedExtension::SubjectAlternativeName(san) => san,
            ParsedExtension::ParseError { error } => {
                self.odd.push(OddName::Unparsed(error.to_string()));
                return;
            }
            _ => {
                self.odd.push(OddName::Unparsed("not read as one".into()));
                return;
            }
        };
        for n in &san.general_names {
            match n {
                GeneralName::DNSName(d) => self.dns.push(d.to_string()),
                GeneralName::RFC822Name(e) => self.emails.push(e.to_string()),
                GeneralName::URI(u) => self.uris.push(u.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => self
                        .ips
                        .extend(<[u8; 4]>::try_from(*b).ok().map(IpAddr::from)),
                    16 => self
                        .ips
                        .extend(<[u8; 16]>::try_from(*b).ok().map(IpAddr::from)),
                    n => self.odd.push(OddName::IpLength(n)),
                },
                GeneralName::OtherName(oid, _) => {
                    self.odd.push(OddName::OtherName(oid.to_id_string()))
                }
                GeneralName::DirectoryName(name) => {
                    self.odd.push(OddName::DirectoryName(name.to_string()));
                }
                GeneralName::RegisteredID(oid) => {
                    self.odd.push(OddName::RegisteredId(oid.to_id_string()));
                }
                GeneralName::X400Address(_) => self.odd.push(OddName::X400Address),
                GeneralName::EDIPartyName(_) => self.odd.push(OddName::EdiPartyName),
                GeneralName::Invalid(tag, _) => self.odd.push(OddName::Invalid(tag.0)),
            }
        }
    }
}

/// Parses the first CSR in PEM or DER bytes and checks its self-signature.
pub fn parse(bytes: &[u8]) -> Result<Csr, CsrError> {
    let blocks = encoding::blocks(bytes)?;
    let block = blocks
        .iter()
        .find(|b| {
            b.label.is_empty()
                || b.label == "CERTIFICATE REQUEST"
                || b.label == "NEW CERTIFICATE REQUEST"
        })
        .ok_or_else(|| {
            CsrError::NoCsr(
                blocks
                    .iter()
                    .map(|b| b.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    let (_, req) = X509CertificationRequest::from_der(&block.der)
        .map_err(|e| CsrError::Malformed(e.to_string()))?;
    let info = &req.certification_request_info;
    let subject = &info.subject;
    let mut names = Names::default();
    for attr in info.iter_attributes() {
        if attr.oid != OID_PKCS9_EXTENSION_REQUEST {
            continue;
        }
        if let ParsedCriAttribute::ExtensionRequest(req) = attr.parsed_attribute() {
            for ext in &req.extensions {
                if ext.oid == OID_X509_EXT_SUBJECT_ALT_NAME {
                    names.add(ext.parsed_extension());
                }
            }
        }
    }
    let signature_valid = signature_check::verify_with_spki(
        info.raw,
        &req.signature_algorithm.algorithm.to_id_string(),
        &req.signature_value.data,
        &info.subject_pki,
    )
    .is_ok();
    Ok(Csr {
        subject: subject.to_string(),
        common_name: subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string),
        common_names: subject
            .iter_common_name()
            .map(|a| a.as_str().unwrap_or("(not a string)").to_string())
            .collect(),
        organizations: subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok())
            .map(str::to_string)
            .collect(),
        dns_names: names.dns,
        ip_addresses: names.ips,
        email_addresses: names.emails,
        uris: names.uris,
        extension_requests: extension_request_values(info.raw),
        odd_names: names.odd,
        public_key: crate::x509::certificate::describe_spki(&info.subject_pki),
        signature_valid,
        signature_algorithm: req.signature_algorithm.algorithm.to_id_string(),
        public_key_bits: info.subject_pki.subject_public_key.data.to_vec(),
        der: block.der.clone(),
    })
}
