//! PEM blocks from a byte stream that arrives in chunks, holding at most one
//! block (plus one chunk) in memory: what `kcerts inspect --summary` reads a
//! 100,000-certificate bundle with.
//!
//! The rules are [`crate::x509::encoding`]'s (text between blocks ignored, RFC 1421
//! headers skipped, CRLF accepted), except that a malformed block is an error for
//! that block only and the stream goes on with the next one.

use crate::x509::encoding::{self, Block, EncodingError, PemProblem};

/// The largest PEM block accepted (base64 text, headers included). A certificate
/// is a few KiB; a longer block is reported and skipped rather than buffered.
pub const MAX_BLOCK_BYTES: usize = 4 << 20;

const BEGIN: &[u8] = b"-----BEGIN ";

/// Splits a chunked byte stream into PEM blocks.
///
/// ```
/// use kcerts_core::pem_stream::PemStream;
/// let pem = kcerts_core::encoding::to_pem("CERTIFICATE", &[0x30, 0x00]);
/// let mut stream = PemStream::default();
/// let mut labels = Vec::new();
/// for chunk in pem.as_bytes().chunks(7) {
///     stream.feed(chunk, |block| labels.push(block.unwrap().label));
/// }
/// stream.finish(|block| labels.push(block.unwrap().label));
/// assert_eq!(labels, ["CERTIFICATE"]);
/// ```
#[derive(Debug, Default)]
pub struct PemStream {
    pending: Vec<u8>,
    /// Blocks seen so far (well-formed or not), for 1-based error indexes.
    seen: usize,
}

impl PemStream {
    /// Adds `chunk` and calls `emit` with every block it completes, in order.
    pub fn feed(&mut self, chunk: &[u8], mut emit: impl FnMut(Result<Block, EncodingError>)) {
        self.pending.extend_from_slice(chunk);
        let consumed = self.scan(false, &mut emit);
        self.pending.drain(..consumed);
    }

    /// Ends the stream: a block left open is reported as malformed.
    pub fn finish(mut self, mut emit: impl FnMut(Result<Block, EncodingError>)) {
        self.scan(true, &mut emit);
    }

    /// Emits the complete blocks in `pending` and returns how many bytes of it are
    /// done with (one drain per chunk, not per block).
    fn scan(&mut self, at_end: bool, emit: &mut impl FnMut(Result<Block, EncodingError>)) -> usize {
        let mut pos = 0;
        loop {
            let rest = &self.pending[pos..];
            let Some(start) = encoding::find(rest, BEGIN) else {
                // Keep a tail that may hold the start of a BEGIN marker.
                return self.pending.len() - rest.len().min(BEGIN.len() - 1);
            };
            match encoding::pem_block_at(&rest[start..]) {
                encoding::Scan::Complete { len, block } => {
                    self.seen += 1;
                    let index = self.seen;
                    emit(block.map_err(|reason| EncodingError::BadPem { index, reason }));
                    pos += start + len;
                }
                encoding::Scan::Incomplete { reason } => {
                    let open = rest.len() - start;
                    if at_end || open > MAX_BLOCK_BYTES {
                        self.seen += 1;
                        let reason = if at_end {
                            reason
                        } else {
                            PemProblem::TooLong {
                                mib: MAX_BLOCK_BYTES >> 20,
                            }
                        };
                        emit(Err(EncodingError::BadPem {
                            index: self.seen,
                            reason,
                        }));
                        // Go on after this BEGIN marker.
                        pos += start + BEGIN.len();
                        continue;
                    }
                    return pos + start;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], chunk: usize) -> Vec<Result<Block, EncodingError>> {
        let mut out = Vec::new();
        let mut stream = PemStream::default();
        for c in input.chunks(chunk.max(1)) {
            stream.feed(c, |b| out.push(b));
        }
        stream.finish(|b| out.push(b));
        out
    }

    #[test]
    fn every_chunk_size_gives_what_the_whole_file_parser_gives() {
        let a = encoding::to_pem("CERTIFICATE", &[0x30, 0x01, 0x02]);
        let b = encoding::to_pem("RSA PRIVATE KEY", &[0x30, 0x00]);
        let input = format!("preamble -----BEGIN\n{a}junk\r\n{b}-----BEGIN  trailer");
        let whole: Vec<Block> = encoding::blocks(format!("{a}junk\r\n{b}").as_bytes()).unwrap();
        for chunk in 1..input.len() + 1 {
            let got = run(input.as_bytes(), chunk);
            assert_eq!(got.len(), 3, "chunk {chunk}");
            assert_eq!(got[0].as_ref().unwrap(), &whole[0], "chunk {chunk}");
            assert_eq!(got[1].as_ref().unwrap(), &whole[1], "chunk {chunk}");
            // The final BEGIN never ends.
            assert!(
                matches!(&got[2], Err(EncodingError::BadPem { index: 3, .. })),
                "chunk {chunk}: {:?}",
                got[2]
            );
        }
    }

    #[test]
    fn a_bad_block_is_its_own_error_and_the_next_block_is_read() {
        let good = encoding::to_pem("CERTIFICATE", &[0x30, 0x00]);
        let input = format!("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n{good}");
        let got = run(input.as_bytes(), 5);
        assert_eq!(got.len(), 2);
        assert!(matches!(
            &got[0],
            Err(EncodingError::BadPem {
                index: 1,
                reason: PemProblem::Base64(_)
            })
        ));
        assert_eq!(got[1].as_ref().unwrap().der, [0x30, 0x00]);
    }

    #[test]
    fn memory_stays_bounded_without_blocks_and_with_a_huge_one() {
        let mut stream = PemStream::default();
        let mut out = Vec::new();
        for _ in 0..1000 {
            stream.feed(&[b'x'; 4096], |b| out.push(b));
        }
        assert!(stream.pending.len() < BEGIN.len());
        stream.feed(b"-----BEGIN CERTIFICATE-----\n", |b| out.push(b));
        for _ in 0..(MAX_BLOCK_BYTES / 4096 + 2) {
            stream.feed(&[b'A'; 4096], |b| out.push(b));
        }
        assert!(stream.pending.len() <= MAX_BLOCK_BYTES + 4096);
        assert_eq!(out.len(), 1);
        assert!(matches!(
            &out[0],
            Err(EncodingError::BadPem {
                index: 1,
                reason: PemProblem::TooLong { mib: 4 }
            })
        ));
        let good = encoding::to_pem("CERTIFICATE", &[0x30, 0x00]);
        stream.feed(good.as_bytes(), |b| out.push(b));
        stream.finish(|b| out.push(b));
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].as_ref().unwrap().der, [0x30, 0x00]);
    }
}
