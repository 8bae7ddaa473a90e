//! Parsed X.509 certificates as plain owned data.

use std::net::IpAddr;
use std::ops::Range;

use serde::Serialize;
use sha2::Digest;
use thiserror::Error;
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::x509::encoding::{self, EncodingError};
use crate::x509::extensions::{self, ExtensionView, key_usage_names};
use crate::x509::hex::hex;
use crate::x509::signature_check::{self, SignatureError};

/// Why bytes are not a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertificateError {
    /// The bytes are not PEM or DER.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// There is no `CERTIFICATE` block.
    #[error("no certificate found (PEM labels present: {})", .labels.join(", "))]
    NoCertificate {
        /// The labels of the PEM blocks that were there instead.
        labels: Vec<String>,
    },
    /// The DER is not a valid X.509 certificate.
    #[error("certificate {index} is not valid X.509: {reason}")]
    Malformed {
        /// 1-based position among the certificates in the file.
        index: usize,
        /// Why.
        reason: DerError,
    },
}

/// Why one DER certificate does not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DerError {
    /// x509-parser refused it; its message.
    #[error("{0}")]
    Parser(String),
    /// Bytes follow the certificate's DER.
    #[error("{0} trailing bytes after the certificate")]
    TrailingBytes(usize),
}

/// Extended key usages kubeadm cares about, plus others by OID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ExtendedKeyUsage {
    /// id-kp-serverAuth
    ServerAuth,
    /// id-kp-clientAuth
    ClientAuth,
    /// Any other purpose, by OID.
    Other(String),
}

impl ExtendedKeyUsage {
    /// The name Kubernetes' CSR API uses (`server auth`, `client auth`) or the OID.
    pub fn name(&self) -> String {
        match self {
            ExtendedKeyUsage::ServerAuth => "server auth".into(),
            ExtendedKeyUsage::ClientAuth => "client auth".into(),
            ExtendedKeyUsage::Other(oid) => oid.clone(),
        }
    }

    /// RFC 5280's short name (`serverAuth`, `clientAuth`, as openssl's
    /// configuration spells them) or the OID.
    pub fn short_name(&self) -> &str {
        match self {
            ExtendedKeyUsage::ServerAuth => "serverAuth",
            ExtendedKeyUsage::ClientAuth => "clientAuth",
            ExtendedKeyUsage::Other(oid) => oid,
        }
    }
}

/// One certificate, decoded into the facts kcerts reports and checks. The
/// fingerprints and the decoded extensions are computed when asked for
/// ([`Certificate::sha256_fingerprint`], [`Certificate::extensions`]), not at
/// parse time: the web page's table of 10,000 certificates needs none of them.
/// Serialised with them (`kcerts inspect -o json`), in place of the DER.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// The subject in RFC 4514-like form (`CN=kube-apiserver`).
    pub subject: String,
    /// The issuer in the same form.
    pub issuer: String,
    /// Subject common name, if any.
    pub common_name: Option<String>,
    /// Subject organizations, in order.
    pub organizations: Vec<String>,
    /// DNS subject alternative names, in certificate order.
    pub dns_names: Vec<String>,
    /// IP subject alternative names, in certificate order.
    pub ip_addresses: Vec<IpAddr>,
    /// Validity start.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// Validity end.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Serial number as lowercase hex.
    pub serial: String,
    /// Basic constraints CA flag.
    pub is_ca: bool,
    /// Key usage names (`digitalSignature`, `keyEncipherment`, `keyCertSign`...).
    pub key_usage: Vec<String>,
    /// Extended key usages.
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// Signature algorithm OID.
    pub signature_algorithm: String,
    /// Public key description (`RSA 2048`, `ECDSA P-256`).
    pub public_key: String,
    /// Subject key identifier, lowercase hex.
    pub subject_key_id: Option<String>,
    /// Authority key identifier, lowercase hex.
    pub authority_key_id: Option<String>,
    /// The raw DER; serialised as `sha256Fingerprint`, `sha1Fingerprint` and
    /// `extensions`, computed then.
    #[serde(flatten, serialize_with = "der_facts")]
    pub der: Vec<u8>,
    /// Raw pieces kept from the one parse, so matching and chaining never re-parse.
    #[serde(skip)]
    raw: RawParts,
}

/// What a certificate's DER serialises as (see [`Certificate::der`]).
fn der_facts<S: serde::Serializer>(der: &[u8], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct DerFacts {
        sha256_fingerprint: String,
        sha1_fingerprint: String,
        extensions: Vec<ExtensionView>,
    }
    DerFacts {
        sha256_fingerprint: hex(&sha2::Sha256::digest(der)),
        sha1_fingerprint: hex(&sha1::Sha1::digest(der)),
        extensions: extensions_of(der),
    }
    .serialize(s)
}

/// Every extension of a DER certificate, decoded (none if it does not parse).
fn extensions_of(der: &[u8]) -> Vec<ExtensionView> {
    X509Certificate::from_der(der)
        .map(|(_, x509)| x509.extensions().iter().map(extensions::describe).collect())
        .unwrap_or_default()
}

/// Where pieces of a certificate lie in its DER, found during parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RawParts {
    subject: Range<usize>,
    issuer: Range<usize>,
    spki: Range<usize>,
    public_key_bits: Range<usize>,
}

/// Where `part`, a slice the parser borrowed from `der`, lies in it.
fn span(der: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(der.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if end <= der.len() => start..end,
        _ => 0..0,
    }
}

/// Whether a block with this PEM label holds a certificate (the empty label is
/// DER input, which is taken as one).
pub fn is_certificate_label(label: &str) -> bool {
    matches!(label, "" | "CERTIFICATE" | "X509 CERTIFICATE")
}

/// Parses every certificate in PEM or DER bytes (blocks with other labels are skipped).
pub fn parse_all(bytes: &[u8]) -> Result<Vec<Certificate>, CertificateError> {
    let blocks = encoding::blocks(bytes)?;
    let mut certs = Vec::new();
    for block in blocks.iter().filter(|b| is_certificate_label(&b.label)) {
        let index = certs.len() + 1;
        certs.push(
            Certificate::from_der(&block.der)
                .map_err(|reason| CertificateError::Malformed { index, reason })?,
        );
    }
    if certs.is_empty() {
        let labels: Vec<String> = blocks.iter().map(|b| b.label.clone()).collect();
        return Err(CertificateError::NoCertificate { labels });
    }
    Ok(certs)
}

/// Parses the first certificate in PEM or DER bytes.
pub fn parse_first(bytes: &[u8]) -> Result<Certificate, CertificateError> {
    parse_all(bytes).map(|mut v| v.swap_remove(0))
}

impl Certificate {
    /// Decodes one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, DerError> {
        Self::from_der_vec(der.to_vec())
    }

    /// Decodes one DER certificate, keeping `der` (no copy).
    pub fn from_der_vec(der: Vec<u8>) -> Result<Self, DerError> {
        let mut cert = Self::parse(&der)?;
        cert.der = der;
        Ok(cert)
    }

    /// Everything but [`Certificate::der`], which the caller sets.
    fn parse(der: &[u8]) -> Result<Self, DerError> {
        let (rest, x509) =
            X509Certificate::from_der(der).map_err(|e| DerError::Parser(e.to_string()))?;
        if !rest.is_empty() {
            return Err(DerError::TrailingBytes(rest.len()));
        }
        let subject = x509.subject();
        let common_name = subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string);
        let organizations = subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok())
            .map(str::to_string)
            .collect();
        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        let mut is_ca = false;
        let mut key_usage = Vec::new();
        let mut extended_key_usage = Vec::new();
        let mut subject_key_id = None;
        let mut authority_key_id = None;
        for ext in x509.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                            GeneralName::IPAddress(b) => {
                                if let Some(ip) = ip_from_bytes(b) {
                                    ip_addresses.push(ip);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
                ParsedExtension::KeyUsage(ku) => {
                    key_usage = key_usage_names(ku.flags);
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    if eku.server_auth {
                        extended_key_usage.push(ExtendedKeyUsage::ServerAuth);
                    }
                    if eku.client_auth {
                        extended_key_usage.push(ExtendedKeyUsage::ClientAuth);
                    }
                    let named = [
                        (eku.any, "2.5.29.37.0"),
                        (eku.code_signing, "1.3.6.1.5.5.7.3.3"),
                        (eku.email_protection, "1.3.6.1.5.5.7.3.4"),
                        (eku.time_stamping, "1.3.6.1.5.5.7.3.8"),
                        (eku.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
                    ];
                    for (set, oid) in named {
                        if set {
                            extended_key_usage.push(ExtendedKeyUsage::Other(oid.into()));
                        }
                    }
                    for oid in &eku.other {
                        extended_key_usage.push(ExtendedKeyUsage::Other(eku_oid_name(oid)));
                    }
                }
                ParsedExtension::SubjectKeyIdentifier(id) => subject_key_id = Some(hex(id.0)),
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    authority_key_id = aki.key_identifier.as_ref().map(|k| hex(k.0));
                }
                _ => {}
            }
        }
        Ok(Certificate {
            subject: subject.to_string(),
            issuer: x509.issuer().to_string(),
            common_name,
            organizations,
            dns_names,
            ip_addresses,
            not_before: x509.validity().not_before.to_datetime(),
            not_after: x509.validity().not_after.to_datetime(),
            serial: hex(x509.raw_serial()),
            is_ca,
            key_usage,
            extended_key_usage,
            signature_algorithm: x509.signature_algorithm.algorithm.to_id_string(),
            public_key: describe_spki(x509.public_key()),
            subject_key_id,
            authority_key_id,
            der: Vec::new(),
            raw: RawParts {
                subject: span(der, x509.subject().as_raw()),
                issuer: span(der, x509.issuer().as_raw()),
                spki: span(der, x509.public_key().raw),
                public_key_bits: span(der, &x509.public_key().subject_public_key.data),
            },
        })
    }

    /// SHA-256 fingerprint of the DER, lowercase hex.
    pub fn sha256_fingerprint(&self) -> String {
        hex(&sha2::Sha256::digest(&self.der))
    }

    /// SHA-1 fingerprint of the DER, lowercase hex (what older tools show).
    pub fn sha1_fingerprint(&self) -> String {
        hex(&sha1::Sha1::digest(&self.der))
    }

    /// Every extension, decoded (from the DER again: [`Certificate::from_der`]
    /// accepted it, so it parses).
    pub fn extensions(&self) -> Vec<ExtensionView> {
        extensions_of(&self.der)
    }

    /// The certificate as a PEM `CERTIFICATE` block.
    pub fn to_pem(&self) -> String {
        encoding::to_pem("CERTIFICATE", &self.der)
    }

    /// The contents of the subjectPublicKey BIT STRING (compare with
    /// [`crate::PrivateKey::public_key_bits`] to match a key).
    pub fn public_key_bits(&self) -> Vec<u8> {
        self.public_key_bits_der().to_vec()
    }

    /// [`Certificate::public_key_bits`], borrowed.
    pub fn public_key_bits_der(&self) -> &[u8] {
        self.part(&self.raw.public_key_bits)
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.part(&self.raw.spki).to_vec()
    }

    /// The raw DER of the subject name (for exact issuer matching).
    pub fn subject_der(&self) -> &[u8] {
        self.part(&self.raw.subject)
    }

    /// The raw DER of the issuer name.
    pub fn issuer_der(&self) -> &[u8] {
        self.part(&self.raw.issuer)
    }

    fn part(&self, range: &Range<usize>) -> &[u8] {
        self.der.get(range.clone()).unwrap_or_default()
    }

    /// Whether `key` is the private half of this certificate's public key.
    pub fn matches_key(&self, key: &crate::PrivateKey) -> bool {
        let bits = self.public_key_bits_der();
        !bits.is_empty() && bits == key.public_key_bits()
    }

    /// Checks that `issuer` issued this certificate: names match and the
    /// signature verifies with the issuer's public key.
    pub fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), IssuerError> {
        if self.issuer_der() != issuer.subject_der() {
            return Err(IssuerError::NameMismatch {
                issuer: self.issuer.clone(),
                ca_subject: issuer.subject.clone(),
            });
        }
        let parsed = X509Certificate::from_der(&self.der)
            .map_err(|_| IssuerError::Signature(SignatureError::Invalid))?
            .1;
        let ca = X509Certificate::from_der(&issuer.der)
            .map_err(|_| IssuerError::Signature(SignatureError::BadKey))?
            .1;
        signature_check::verify_with_spki(
            parsed.tbs_certificate.as_ref(),
            &parsed.signature_algorithm.algorithm.to_id_string(),
            &parsed.signature_value.data,
            ca.public_key(),
        )
        .map_err(IssuerError::Signature)
    }

    /// Seconds from `now` until `not_after`, truncated toward zero (kubeadm's
    /// `int64(time.Until(NotAfter) / time.Second)`).
    pub fn residual_seconds(&self, now: OffsetDateTime) -> i64 {
        let d = self.not_after - now;
        d.whole_seconds()
    }
}

/// Why a certificate does not chain to a given CA.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IssuerError {
    /// The certificate's issuer is not the CA's subject.
    #[error("issued by \"{issuer}\", not by this CA (\"{ca_subject}\")")]
    NameMismatch {
        /// The certificate's issuer name.
        issuer: String,
        /// The CA's subject name.
        ca_subject: String,
    },
    /// The signature does not verify.
    #[error("{0}")]
    Signature(SignatureError),
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// The dotted form of an extended key usage OID, or `malformed OID <hex>` when its
/// encoding is not canonical DER (an arc cut short or padded with 0x80). The
/// parser would print a truncated arc as if it were complete, and renewal would
/// then issue a certificate with a different usage than the one it read; Go's
/// crypto/x509 (kubeadm) refuses such a certificate. Found by the `roundtrip`
/// fuzz target: `1.3.6.1.5.5.7.3` followed by a lone `0x82` read as clientAuth.
fn eku_oid_name(oid: &x509_parser::der_parser::oid::Oid) -> String {
    let bytes = oid.as_bytes();
    let arc_starts = std::iter::once(0).chain(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b & 0x80 == 0)
            .map(|(i, _)| i + 1),
    );
    let well_formed = bytes.last().is_some_and(|b| b & 0x80 == 0)
        && arc_starts
            .filter(|&i| i < bytes.len())
            .all(|i| bytes[i] != 0x80);
    if well_formed {
        oid.to_id_string()
    } else {
        format!("malformed OID {}", hex(bytes))
    }
}

/// A public key's description (`RSA 2048`, `ECDSA P-256`), for certificates and CSRs.
pub(crate) fn describe_spki(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> String {
    use x509_parser::public_key::PublicKey;
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = crate::x509::signature_check::named_curve(&spki.algorithm);
            match curve.as_deref() {
                Some(signature_check::oid::P256) => "ECDSA P-256".into(),
                Some(signature_check::oid::P384) => "ECDSA P-384".into(),
                Some("1.3.132.0.35") => "ECDSA P-521".into(),
                Some(other) => format!("ECDSA {other}"),
                None => "ECDSA".into(),
            }
        }
        _ if spki.algorithm.algorithm.to_id_string() == signature_check::oid::ED25519 => {
            "Ed25519".into()
        }
        _ => format!("unknown ({})", spki.algorithm.algorithm.to_id_string()),
    }
}
