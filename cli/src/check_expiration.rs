//! `kcerts check-expiration`.

use std::io::Write;

use anyhow::Result;
use kcerts_core::report::{self, structured, text};
use time::OffsetDateTime;

use crate::{DirArgs, Reported, args};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Text output is kubeadm 1.31+'s two tables, byte-for-byte; json and yaml \
are kubeadm's output.kubeadm.k8s.io/v1alpha3 CertificateExpirationInfo.\n\
Beyond kubeadm: --at evaluates expiry at another moment; a file that cannot be read or \
parsed is reported on stderr (exit 1) while the other files are still reported; etcd \
rows are left out when neither etcd/ca.crt nor any etcd certificate exists (external etcd)."
)]
pub struct Args {
    #[command(flatten)]
    dirs: DirArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Evaluate expiry as of this RFC 3339 time instead of now (e.g. your next maintenance window).
    #[arg(long, value_name = "TIME", value_parser = args::parse_time)]
    at: Option<OffsetDateTime>,
}

pub fn run(a: Args) -> Result<()> {
    let dirs = a.dirs.dirs();
    let files = dirs.load();
    let report = report::build(&files, args::now_or(a.at));
    let out = match a.output {
        Output::Text => text::render(&report),
        Output::Json => structured::to_json(&report),
        Output::Yaml => structured::to_yaml(&report),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    for e in &report.errors {
        eprintln!("error: {}: {}", dirs.path(&e.path).display(), e.message);
    }
    if report.errors.is_empty() {
        Ok(())
    } else {
        Err(Reported.into())
    }
}
