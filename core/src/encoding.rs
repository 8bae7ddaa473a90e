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
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
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
        let from_begin = &rest[start..];
        let index = out.len() + 1;
        let end = find_end(from_begin).ok_or_else(|| EncodingError::BadPem {
            index,
            reason: "no matching -----END line".into(),
        })?;
        let block = &from_begin[..end];
        let parsed = pem::parse(block).map_err(|e| EncodingError::BadPem {
            index,
            reason: e.to_string(),
        })?;
        out.push(Block {
            label: parsed.tag().to_string(),
            der: parsed.into_contents(),
        });
        rest = &from_begin[end..];
    }
    Ok(out)
}

/// Returns the length of the PEM block at the start of `s`, through its END line.
fn find_end(s: &[u8]) -> Option<usize> {
    let end_marker = find(s, b"-----END ")?;
    let after = &s[end_marker + 9..];
    let close = find(after, b"-----")?;
    Some(end_marker + 9 + close + 5)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Wraps DER bytes in a PEM block with the given label (64-column lines, `\n` endings).
pub fn to_pem(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
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
