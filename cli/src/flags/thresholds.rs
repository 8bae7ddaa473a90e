//! `--warn`/`--crit` on the command line. The rules that turn them into a
//! status live in the core (`kcerts_core::verify::Thresholds::from_flags`,
//! `kcerts_core::verify::expiration_status`).

use time::Duration;

use crate::flags::value;

/// `--warn 30d --crit 7d`.
#[derive(Debug, Clone, clap::Args)]
pub struct Thresholds {
    /// Exit 2 when a certificate expires within this window (e.g. 30d, 720h).
    #[arg(long, value_name = "DURATION", value_parser = value::parse_duration)]
    pub warn: Option<Duration>,
    /// Exit 3 when a certificate expires within this window (e.g. 7d) or has expired.
    #[arg(long, value_name = "DURATION", value_parser = value::parse_duration)]
    pub crit: Option<Duration>,
}
