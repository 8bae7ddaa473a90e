//! Splitting input bytes into PEM blocks or a single DER object.

use thiserror::Error;

/// One decoded PEM block: its label (`CERTIFICATE`, `RSA PRIVATE KEY`...) and DER contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The label between `-----BEGIN ` and `-----`.
    pub label: String,
    /// The base64-decoded contents.
    pub der: Vec<u8>,
}

/// Why input bytes could not be split into blocks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodingError {
    /// The input is empty or only white space.
    #[error("the file is empty")]
    Empty,
    /// A PEM block could not be decoded.
    #[error("PEM block {index} is malformed: {reason}")]
    BadPem {
        /// 1-based position of the block in the file.
        index: usize,
        /// What is wrong with it.
        reason: PemProblem,
    },
    /// The input is neither PEM nor DER.
    #[error("neither PEM (no -----BEGIN line) nor DER (does not start with an ASN.1 SEQUENCE)")]
    NotPemOrDer,
}

/// What is wrong with one PEM block.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PemProblem {
    /// No closing dashes on the BEGIN line.
    #[error("unterminated BEGIN line")]
    UnterminatedBegin,
    /// The label between the dashes is not UTF-8.
    #[error("the label is not text")]
    LabelNotText,
    /// No END line for the label.
    #[error("no matching -----END {label}----- line")]
    NoEnd {
        /// The block's label.
        label: String,
    },
    /// The body is not base64.
    #[error("invalid base64 ({0})")]
    Base64(base64::DecodeError),
    /// A block still open after this many MiB (a stream gives up on it).
    #[error("longer than {mib} MiB, skipped")]
    TooLong {
        /// The limit, in MiB.
        mib: usize,
    },
}

/// Whether the bytes look like PEM text (contain a `-----BEGIN ` marker).
pub fn looks_like_pem(bytes: &[u8]) -> bool {
    find(bytes, b"-----BEGIN ").is_some()
}

/// Splits `bytes` into blocks: every PEM block in order, or one unlabelled DER block.
///
/// Text between PEM blocks (comments, `openssl x509 -text` dumps) is ignored, as
/// openssl and Go's `pem.Decode` do. A DER input is returned as one block with an
/// empty label when it starts with an ASN.1 SEQUENCE tag.
pub fn blocks(bytes: &[u8]) -> Result<Vec<Block>, EncodingError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(EncodingError::Empty);
    }
    if looks_like_pem(bytes) {
        return pem_blocks(bytes);
    }
    if bytes.first() == Some(&0x30) {
        return Ok(vec![Block {
            label: String::new(),
            der: bytes.to_vec(),
        }]);
    }
    Err(EncodingError::NotPemOrDer)
}

fn pem_blocks(bytes: &[u8]) -> Result<Vec<Block>, EncodingError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(start) = find(rest, b"-----BEGIN ") {
        let index = out.len() + 1;
        let bad = |reason: PemProblem| EncodingError::BadPem { index, reason };
        match pem_block_at(&rest[start..]) {
            Scan::Complete { len, block } => {
                out.push(block.map_err(bad)?);
                rest = &rest[start + len..];
            }
            Scan::Incomplete { reason } => return Err(bad(reason)),
        }
    }
    Ok(out)
}

/// What [`pem_block_at`] found.
pub(crate) enum Scan {
    /// A block spanning the first `len` bytes: decoded, or why it is malformed.
    Complete {
        len: usize,
        block: Result<Block, PemProblem>,
    },
    /// The block does not end within the bytes given (at the end of input: why
    /// it is malformed).
    Incomplete { reason: PemProblem },
}

/// Reads the PEM block at the start of `bytes`, which begin with `-----BEGIN `.
/// A BEGIN line that is not a block (no closing dashes on its line, a label
/// that is not text) spans only the marker, so the caller goes on after it.
pub(crate) fn pem_block_at(bytes: &[u8]) -> Scan {
    const BEGIN_LEN: usize = b"-----BEGIN ".len();
    let marker_only = |reason: PemProblem| Scan::Complete {
        len: BEGIN_LEN,
        block: Err(reason),
    };
    let after_begin = &bytes[BEGIN_LEN..];
    let line = match memchr::memchr(b'\n', after_begin) {
        Some(end) => &after_begin[..end],
        None => after_begin,
    };
    let Some(label_end) = find(line, b"-----") else {
        if line.len() < after_begin.len() {
            return marker_only(PemProblem::UnterminatedBegin);
        }
        return Scan::Incomplete {
            reason: PemProblem::UnterminatedBegin,
        };
    };
    let Ok(label) = std::str::from_utf8(&line[..label_end]) else {
        return marker_only(PemProblem::LabelNotText);
    };
    let body_and_rest = &after_begin[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let Some(body_len) = find(body_and_rest, end_marker.as_bytes()) else {
        return Scan::Incomplete {
            reason: PemProblem::NoEnd {
                label: label.to_string(),
            },
        };
    };
    Scan::Complete {
        len: BEGIN_LEN + label_end + 5 + body_len + end_marker.len(),
        block: decode_body(&body_and_rest[..body_len]).map(|der| Block {
            label: label.to_string(),
            der,
        }),
    }
}

/// Decodes the base64 body of a PEM block, skipping RFC 1421 headers
/// (`Proc-Type: ...`, `DEK-Info: ...`) like openssl and Go's `pem.Decode`.
fn decode_body(body: &[u8]) -> Result<Vec<u8>, PemProblem> {
    use base64::Engine;
    let mut b64 = Vec::with_capacity(body.len());
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    for end in ends {
        let line = &body[start..end];
        start = end + 1;
        if memchr::memchr(b':', line).is_some() {
            continue;
        }
        // White space is at most b' ': one comparison a byte, which vectorises.
        if line.iter().any(|&c| c <= b' ') {
            b64.extend(line.iter().filter(|c| !c.is_ascii_whitespace()));
        } else {
            // The common case: a plain 64-column line, copied at once.
            b64.extend_from_slice(line);
        }
    }
    base64::engine::general_purpose::STANDARD
        .decode(&b64)
        .map_err(PemProblem::Base64)
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Wraps DER bytes in a PEM block with the given label (64-column lines, `\n` endings).
pub fn to_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pem_with_junk_between_blocks() {
        let a = to_pem("CERTIFICATE", &[0x30, 0x01, 0x02]);
        let b = to_pem("RSA PRIVATE KEY", &[0x30, 0x00]);
        let input = format!("subject=CN = x\n{a}junk line\n\n{b}trailer");
        let got = blocks(input.as_bytes()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].label, "CERTIFICATE");
        assert_eq!(got[0].der, vec![0x30, 0x01, 0x02]);
        assert_eq!(got[1].label, "RSA PRIVATE KEY");
    }

    #[test]
    fn skips_rfc1421_headers_and_accepts_crlf() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES-128-CBC,00\r\n\r\nMAEC\r\n-----END RSA PRIVATE KEY-----\r\n";
        assert_eq!(
            blocks(pem.as_bytes()).unwrap()[0].der,
            vec![0x30, 0x01, 0x02]
        );
    }

    #[test]
    fn der_is_one_unlabelled_block() {
        let got = blocks(&[0x30, 0x03, 1, 2, 3]).unwrap();
        assert_eq!(
            got,
            vec![Block {
                label: String::new(),
                der: vec![0x30, 0x03, 1, 2, 3]
            }]
        );
    }

    #[test]
    fn rejects_empty_and_garbage() {
        assert_eq!(blocks(b" \n\t"), Err(EncodingError::Empty));
        assert_eq!(blocks(b"hello"), Err(EncodingError::NotPemOrDer));
    }

    #[test]
    fn reports_bad_base64_and_unterminated_blocks() {
        let bad = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            blocks(bad),
            Err(EncodingError::BadPem { index: 1, .. })
        ));
        let open = b"-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(matches!(
            blocks(open),
            Err(EncodingError::BadPem { index: 1, .. })
        ));
    }
}
