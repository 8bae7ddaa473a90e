//! Parsers for command-line values shared by several commands.

use kcerts_core::KeyAlgorithm;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `--at 2026-06-01T00:00:00Z`
pub fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| format!("invalid time {s:?}: use RFC 3339, e.g. 2026-06-01T00:00:00Z"))
}

/// `--validity 8760h`
pub fn parse_duration(s: &str) -> Result<time::Duration, String> {
    let d = kcerts_core::duration::parse(s).map_err(|e| e.to_string())?;
    if d <= time::Duration::ZERO {
        return Err(format!("invalid duration {s:?}: it must be positive"));
    }
    Ok(d)
}

/// `--key-algorithm ECDSA-P256`
pub fn parse_key_algorithm(s: &str) -> Result<KeyAlgorithm, String> {
    KeyAlgorithm::from_name(s).ok_or_else(|| {
        let names: Vec<_> = KeyAlgorithm::ALL.iter().map(|a| a.name()).collect();
        format!(
            "unknown key algorithm {s:?}: use one of {}",
            names.join(", ")
        )
    })
}

/// The current time, or `--at` when given.
pub fn now_or(at: Option<OffsetDateTime>) -> OffsetDateTime {
    at.unwrap_or_else(OffsetDateTime::now_utc)
}

/// The SANs of one `--add-san` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanList(pub Vec<kcerts_core::alt_names::San>);

/// `--add-san IP:203.0.113.7,DNS:api.example.com`
pub fn parse_add_san(s: &str) -> Result<SanList, String> {
    let sans = kcerts_core::alt_names::parse_add_san(s).map_err(|e| e.to_string())?;
    if sans.is_empty() {
        return Err("no SAN given: use e.g. IP:203.0.113.7,DNS:api.example.com".into());
    }
    Ok(SanList(sans))
}
