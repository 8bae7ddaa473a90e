//! `kcerts inspect --summary`: streams each file and prints one record per
//! certificate as soon as it is read, so a bundle of any size is inspected in
//! the memory of one certificate (plus a read buffer).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use kcerts_core::encoding::{Block, EncodingError};
use kcerts_core::pem_stream::PemStream;
use kcerts_core::summary::{self, CertificateSummary, Validity};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::fsio;

/// Bytes read from a file at a time.
const CHUNK: usize = 256 * 1024;

/// How the records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One readable line per certificate and a count per file.
    Text,
    /// JSON Lines: one object per certificate or error.
    JsonLines,
}

/// Summarises `files` to stdout; returns whether any file or certificate failed.
pub fn run(files: &[PathBuf], format: Format, now: OffsetDateTime) -> io::Result<bool> {
    let mut out = Sink {
        out: io::BufWriter::with_capacity(CHUNK, crate::report::out::Stdout),
        format,
    };
    let mut failed = false;
    for path in files {
        let name = path.display().to_string();
        let counts = match summarize_file(path, &name, now, &mut out) {
            Ok(counts) => counts,
            Err(FileError::Output(e)) => return Err(e),
            Err(FileError::Input(reason)) => {
                out.error(&name, None, &reason)?;
                failed = true;
                continue;
            }
        };
        failed |= counts.errors > 0;
        if counts.certificates == 0 && counts.errors == 0 {
            let others = if counts.other_labels.is_empty() {
                String::new()
            } else {
                format!(" (only {})", counts.other_labels.join(", "))
            };
            out.error(&name, None, &format!("no certificate found{others}"))?;
            failed = true;
        } else {
            out.file_done(&name, &counts)?;
        }
    }
    out.out.flush()?;
    Ok(failed)
}

/// What one file held.
#[derive(Debug, Default)]
struct Counts {
    certificates: usize,
    expired: usize,
    errors: usize,
    /// Labels of PEM blocks that are not certificates (keys, CSRs), skipped.
    other_labels: Vec<String>,
}

enum FileError {
    /// The file could not be read: reported, and the next file is read.
    Input(String),
    /// stdout failed (a closed pipe): nothing more can be printed.
    Output(io::Error),
}

fn summarize_file(
    path: &Path,
    name: &str,
    now: OffsetDateTime,
    out: &mut Sink,
) -> Result<Counts, FileError> {
    let (mut file, _) = fsio::open_regular(path)
        .map_err(|e| FileError::Input(e.to_string()))?
        .ok_or_else(|| FileError::Input("no such file".into()))?;
    let mut counts = Counts::default();
    let mut buf = vec![0u8; CHUNK];
    let first = read_some(&mut file, &mut buf)?;
    if looks_like_der(&buf[..first]) {
        // One DER certificate: small by nature; read it whole (bounded).
        let mut der = buf[..first].to_vec();
        file.take(fsio::MAX_FILE_BYTES)
            .read_to_end(&mut der)
            .map_err(|e| FileError::Input(e.to_string()))?;
        let block = Block {
            label: String::new(),
            der,
        };
        handle(Ok(block), 1, name, now, out, &mut counts).map_err(FileError::Output)?;
        return Ok(counts);
    }
    let mut stream = PemStream::default();
    let mut written: io::Result<()> = Ok(());
    let mut index = 0;
    let mut on_block = |block: Result<Block, EncodingError>| {
        index += 1;
        if written.is_ok() {
            written = handle(block, index, name, now, out, &mut counts);
        }
    };
    let mut len = first;
    while len > 0 {
        stream.feed(&buf[..len], &mut on_block);
        len = read_some(&mut file, &mut buf)?;
    }
    stream.finish(&mut on_block);
    written.map_err(FileError::Output)?;
    Ok(counts)
}

fn read_some(file: &mut std::fs::File, buf: &mut [u8]) -> Result<usize, FileError> {
    loop {
        match file.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FileError::Input(e.to_string())),
        }
    }
}

/// A DER certificate starts with a SEQUENCE whose length takes 1-4 more bytes;
/// PEM text never has a byte of 0x81 or more in second place.
fn looks_like_der(bytes: &[u8]) -> bool {
    matches!(bytes, [0x30, 0x81..=0x84, ..])
}

fn handle(
    block: Result<Block, EncodingError>,
    index: usize,
    name: &str,
    now: OffsetDateTime,
    out: &mut Sink,
    counts: &mut Counts,
) -> io::Result<()> {
    let block = match block {
        Ok(b) => b,
        Err(e) => {
            counts.errors += 1;
            return out.error(name, Some(index), &e.to_string());
        }
    };
    if !kcerts_core::certificate::is_certificate_label(&block.label) {
        if !counts.other_labels.contains(&block.label) {
            counts.other_labels.push(block.label);
        }
        return Ok(());
    }
    match summary::summarize(&block.der, now) {
        Ok(s) => {
            counts.certificates += 1;
            if s.validity == Validity::Expired {
                counts.expired += 1;
            }
            out.certificate(name, index, &s)
        }
        Err(reason) => {
            counts.errors += 1;
            out.error(
                name,
                Some(index),
                &format!("block {index} is not a valid certificate: {reason}"),
            )
        }
    }
}

/// Where records go: stdout in the chosen format; errors also to stderr.
struct Sink {
    out: io::BufWriter<crate::report::out::Stdout>,
    format: Format,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateRecord<'a> {
    file: &'a str,
    index: usize,
    #[serde(flatten)]
    summary: &'a CertificateSummary,
}

#[derive(Serialize)]
struct ErrorRecord<'a> {
    file: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    error: &'a str,
}

impl Sink {
    /// A closed stdout (`| head`) ends the run early, as `BrokenPipe`.
    fn open(&self) -> io::Result<()> {
        if crate::report::out::closed() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        Ok(())
    }

    fn certificate(&mut self, file: &str, index: usize, s: &CertificateSummary) -> io::Result<()> {
        self.open()?;
        match self.format {
            Format::JsonLines => {
                let record = CertificateRecord {
                    file,
                    index,
                    summary: s,
                };
                serde_json::to_writer(&mut self.out, &record)?;
                self.out.write_all(b"\n")
            }
            Format::Text => {
                let not_after = s.not_after.format(&Rfc3339).unwrap_or_default();
                let state = match s.validity {
                    Validity::Valid => format!("{} left", s.residual),
                    Validity::Expired => "EXPIRED".to_string(),
                    Validity::NotYetValid => "NOT YET VALID".to_string(),
                };
                writeln!(
                    self.out,
                    "{file}[{index}]: {} | issuer {} | serial {} | not after {not_after} ({state})",
                    s.subject, s.issuer, s.serial
                )
            }
        }
    }

    fn error(&mut self, file: &str, index: Option<usize>, reason: &str) -> io::Result<()> {
        self.open()?;
        match index {
            Some(i) => eprintln!("error: {file}: block {i}: {reason}"),
            None => eprintln!("error: {file}: {reason}"),
        }
        if self.format == Format::JsonLines {
            serde_json::to_writer(
                &mut self.out,
                &ErrorRecord {
                    file,
                    index,
                    error: reason,
                },
            )?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn file_done(&mut self, file: &str, c: &Counts) -> io::Result<()> {
        self.open()?;
        if self.format != Format::Text {
            return Ok(());
        }
        let others = if c.other_labels.is_empty() {
            String::new()
        } else {
            format!(", skipped {}", c.other_labels.join(", "))
        };
        writeln!(
            self.out,
            "{file}: {} certificates, {} expired, {} errors{others}",
            c.certificates, c.expired, c.errors
        )
    }
}
