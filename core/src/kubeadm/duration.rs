//! Parsing durations as kubeadm's flags take them (Go's `time.ParseDuration`:
//! `8760h`, `1h30m`, `90s`), plus a `d` unit for days (`30d`) as a convenience.

use thiserror::Error;
use time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid duration {0:?}: use a number with a unit, e.g. 8760h, 30d, 1h30m, 90s")]
pub struct DurationError(pub String);

/// Parses `8760h`, `30d`, `1h30m`, `45m`, `90s` (units d, h, m, s; whole numbers).
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(s.to_string());
    let mut total = Duration::ZERO;
    let mut digits = String::new();
    let mut any = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| err())?;
        digits.clear();
        let unit = match c {
            'd' => Duration::days(1),
            'h' => Duration::hours(1),
            'm' => Duration::minutes(1),
            's' => Duration::seconds(1),
            _ => return Err(err()),
        };
        total = unit
            .checked_mul(i32::try_from(n).map_err(|_| err())?)
            .and_then(|d| total.checked_add(d))
            .ok_or_else(err)?;
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(err());
    }
    Ok(total)
}

/// Formats a duration the way Go prints one (`8760h0m0s`).
pub fn format_go(d: Duration) -> String {
    let secs = d.whole_seconds();
    format!("{}h{}m{}s", secs / 3600, (secs % 3600) / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_style_and_days() {
        assert_eq!(parse("8760h"), Ok(Duration::hours(8760)));
        assert_eq!(parse("30d"), Ok(Duration::days(30)));
        assert_eq!(parse("1h30m"), Ok(Duration::minutes(90)));
        assert_eq!(parse("90s"), Ok(Duration::seconds(90)));
        assert_eq!(format_go(Duration::hours(8760)), "8760h0m0s");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "h", "10", "10x", "-5h", "1.5h", "99999999999d"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
