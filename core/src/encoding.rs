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
        /// What the PEM decoder said.
        reason: String,
    },
    /// The input is neither PEM nor DER.
    #[error("neither PEM (no -----BEGIN line) nor DER (does not start with an ASN.1 SEQUENCE)")]
    NotPemOrDer,
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
        let bad = |reason: &str| EncodingError::BadPem {
            index,
            reason: reason.to_string(),
        };
        let after_begin = &rest[start + 11..];
        let label_end =
            find(after_begin, b"-----").ok_or_else(|| bad("unterminated BEGIN line"))?;
        let label = std::str::from_utf8(&after_begin[..label_end])
            .map_err(|_| bad("the label is not text"))?
            .to_string();
        if label.contains('\n') {
            return Err(bad("unterminated BEGIN line"));
        }
        let body_and_rest = &after_begin[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_len = find(body_and_rest, end_marker.as_bytes())
            .ok_or_else(|| bad(&format!("no matching -----END {label}----- line")))?;
        let der = decode_body(&body_and_rest[..body_len]).map_err(|r| bad(&r))?;
        out.push(Block { label, der });
        rest = &body_and_rest[body_len + end_marker.len()..];
    }
    Ok(out)
}

/// Decodes the base64 body of a PEM block, skipping RFC 1421 headers
/// (`Proc-Type: ...`, `DEK-Info: ...`) like openssl and Go's `pem.Decode`.
fn decode_body(body: &[u8]) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let mut b64 = Vec::with_capacity(body.len());
    for line in body.split(|&c| c == b'\n') {
        if line.contains(&b':') {
            continue;
        }
        b64.extend(line.iter().filter(|c| !c.is_ascii_whitespace()));
    }
    base64::engine::general_purpose::STANDARD
        .decode(&b64)
        .map_err(|e| format!("invalid base64 ({e})"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
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
