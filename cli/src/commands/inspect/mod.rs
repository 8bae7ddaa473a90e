//! `kcerts inspect`.

mod summary;

use std::path::PathBuf;

use anyhow::Result;
use kcerts_core::analysis::InputFile;
use kcerts_core::{inspect, inspect_output};
use time::OffsetDateTime;

use crate::flags::OutputFormat;
use crate::flags::thresholds::Thresholds;
use crate::flags::value;
use crate::fsio;
use crate::report::color::{self, ColorChoice};
use crate::report::exit::Code;

/// The output formats of this command.
const FORMATS: [(OutputFormat, Option<&str>); 2] =
    [(OutputFormat::Text, None), (OutputFormat::Json, None)];

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads PEM or DER certificates (chains too), private keys, public keys, \
CSRs and kubeconfigs. For each certificate: subject, issuer, which of the given files signed it \
(signature checked), serial, validity, SANs, key type and size, signature algorithm, usages, \
every extension decoded and the SHA-256 fingerprint. Keys show their type and which \
certificate or CSR they belong to; key material is never printed.\n\
With --summary (beyond kubeadm and openssl's one-at-a-time view) each file is streamed and \
every certificate gets one record as soon as it is read: subject, issuer, serial, not-after, \
time left (kubeadm's RESIDUAL TIME form) and, in JSON, not-before and the SHA-256 fingerprint. \
Memory stays at about one certificate whatever the file size, so bundles of 100,000 \
certificates are fine; -o json then prints JSON Lines (one object per certificate or error). \
Other PEM blocks (keys, CSRs) are skipped and counted, never printed.\n\
--warn/--crit set when a certificate's expiry is a warning or critical (the rule of verify and \
check-expiration); they change the findings, not the exit status, and --summary ignores them.\n\
Exit status: 0, or 1 when a file cannot be read or understood (the others are still shown)."
)]
pub struct Args {
    /// Files to inspect.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, default_value = "text", value_parser = OutputFormat::parser(&FORMATS))]
    output: OutputFormat,
    /// Evaluate validity as of this RFC 3339 time instead of now.
    #[arg(long, value_name = "TIME", value_parser = value::parse_time)]
    at: Option<OffsetDateTime>,
    #[command(flatten)]
    thresholds: Thresholds,
    /// Stream each file and print one record per certificate (see below).
    #[arg(long)]
    summary: bool,
    /// Colour the findings.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

/// The largest file the full inspection reads (it holds every certificate and
/// cross-checks them); `--summary` streams files of any size.
const MAX_INSPECT_BYTES: u64 = 32 << 20;

pub fn run(a: Args) -> Result<Code> {
    if a.summary {
        return run_summary(&a);
    }
    let mut contents = Vec::new();
    let mut failed = false;
    for path in &a.files {
        match fsio::read_up_to(
            path,
            MAX_INSPECT_BYTES,
            "a full inspection; `kcerts inspect --summary` streams files of any size",
        ) {
            Ok(Some(bytes)) => contents.push((path.display().to_string(), bytes)),
            Ok(None) => {
                eprintln!("error: {}: no such file", path.display());
                failed = true;
            }
            Err(reason) => {
                eprintln!("error: {}: {reason}", path.display());
                failed = true;
            }
        }
    }
    let inputs: Vec<InputFile<'_>> = contents
        .iter()
        .map(|(name, bytes)| InputFile { name, bytes })
        .collect();
    let analysis = inspect::inspect_with(&inputs, value::now_or(a.at), a.thresholds.rule());
    let out = match a.output {
        OutputFormat::Json => inspect_output::to_json(&analysis),
        // Text: FORMATS accepts only text and json.
        _ => inspect_output::render_text(&analysis),
    };
    let out = if a.output == OutputFormat::Text && color::color_enabled(a.color) {
        color::paint(&out)
    } else {
        out
    };
    crate::report::out::print(&out)?;
    if failed || inspect::has_errors(&analysis) {
        Ok(Code::Error)
    } else {
        Ok(Code::Ok)
    }
}

fn run_summary(a: &Args) -> Result<Code> {
    let format = match a.output {
        OutputFormat::Json => summary::Format::JsonLines,
        _ => summary::Format::Text,
    };
    match summary::run(&a.files, format, value::now_or(a.at)) {
        Ok(false) => Ok(Code::Ok),
        Ok(true) => Ok(Code::Error),
        // `kcerts inspect --summary big.pem | head`: stop quietly, like cat.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Code::Ok),
        Err(e) => Err(anyhow::anyhow!("cannot write the output: {e}")),
    }
}
