//! Exit codes for scripts and monitoring, `--warn`/`--crit`, and colour.

use std::io::IsTerminal;

use time::Duration;

use crate::args;

/// Everything fine.
pub const OK: u8 = 0;
/// kcerts could not do its job: bad arguments, a file that cannot be read or parsed.
pub const ERROR: u8 = 1;
/// Something needs attention: expiry within `--warn`, or a `warn` row of verify.
pub const WARNING: u8 = 2;
/// Something is broken or about to be: expiry within `--crit` or past, a `fail` row.
pub const CRITICAL: u8 = 3;

/// The result has been printed; exit with this code.
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Turns a code into the command's result.
pub fn finish(code: u8) -> anyhow::Result<()> {
    if code == OK {
        Ok(())
    } else {
        Err(Exit(code).into())
    }
}

/// `--warn 30d --crit 7d`.
#[derive(Debug, Clone, clap::Args)]
pub struct Thresholds {
    /// Exit 2 when a certificate expires within this window (e.g. 30d, 720h).
    #[arg(long, value_name = "DURATION", value_parser = args::parse_duration)]
    pub warn: Option<Duration>,
    /// Exit 3 when a certificate expires within this window (e.g. 7d) or has expired.
    #[arg(long, value_name = "DURATION", value_parser = args::parse_duration)]
    pub crit: Option<Duration>,
}

impl Thresholds {
    /// The windows, with `defaults` for those not given; `crit` never exceeds `warn`.
    pub fn or(&self, defaults: kcerts_core::verify::Thresholds) -> kcerts_core::verify::Thresholds {
        let crit = self.crit.unwrap_or(defaults.crit);
        let warn = self.warn.unwrap_or(defaults.warn).max(crit);
        kcerts_core::verify::Thresholds { warn, crit }
    }

    /// Whether either flag was given.
    pub fn given(&self) -> bool {
        self.warn.is_some() || self.crit.is_some()
    }
}

/// `--color auto|always|never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset or empty.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Whether to colour stdout (<https://no-color.org>: an explicit flag beats NO_COLOR).
pub fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// Colours the words `pass`, `warn`, `fail`, `critical` and `warning` where a line starts with them.
pub fn paint(text: &str) -> String {
    const WORDS: [(&str, &str); 5] = [
        ("pass", "32"),
        ("warn", "33"),
        ("fail", "1;31"),
        ("  critical", "1;31"),
        ("  warning", "33"),
    ];
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        match WORDS.iter().find(|(w, _)| {
            line.strip_prefix(w)
                .is_some_and(|rest| rest.starts_with([' ', ':']))
        }) {
            Some((w, code)) => {
                let trimmed = w.trim_start();
                let indent = &w[..w.len() - trimmed.len()];
                out.push_str(&format!(
                    "{indent}\x1b[{code}m{trimmed}\x1b[0m{}",
                    &line[w.len()..]
                ));
            }
            None => out.push_str(line),
        }
    }
    out
}
