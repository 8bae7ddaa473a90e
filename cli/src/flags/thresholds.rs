//! `--warn`/`--crit` on the command line. The rules that turn them into a
//! status live in the core (`kcerts_core::verify::Thresholds::from_flags`,
//! `kcerts_core::verify::expiration_status`).

use kcerts_core::verify;
use time::Duration;

use crate::flags::value;

/// `--warn 30d --crit 7d` (check-expiration, verify, serve, fleet and inspect; each
/// command's help says what a warning and a critical certificate do to its exit status).
#[derive(Debug, Clone, clap::Args)]
pub struct Thresholds {
    /// A certificate that expires within this window is a warning (e.g. 30d, 720h)
    /// [default: 30d].
    #[arg(long, value_name = "DURATION", value_parser = value::parse_duration)]
    pub warn: Option<Duration>,
    /// A certificate that expires within this window (e.g. 7d), or has expired, is
    /// critical [default: 7d].
    #[arg(long, value_name = "DURATION", value_parser = value::parse_duration)]
    pub crit: Option<Duration>,
}

impl Thresholds {
    /// The expiry rule these flags give (a flag left out takes its default).
    pub fn rule(&self) -> verify::Thresholds {
        verify::Thresholds::from_flags(self.warn, self.crit, verify::Thresholds::default())
    }
}
