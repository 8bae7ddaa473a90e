//! Parsing durations as kubeadm takes them: Go's `time.ParseDuration`
//! (`8760h`, `1h30m`, `1.5h`, `500ms`; no days) for configuration files, and
//! the same plus a `d` unit for days (`30d`) in kcerts' own flags.

use thiserror::Error;
use time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid duration {0:?}: use a number with a unit, e.g. 8760h, 30d, 1h30m, 90s")]
pub struct DurationError(pub String);

/// A flag's duration: Go's syntax (below) plus `d` for 24 hours (`30d`,
/// `1d12h`).
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    parse_with(s, true)
}

/// Go's `time.ParseDuration`, as kubeadm decodes `certificateValidityPeriod`:
/// an optional sign, then numbers with an optional fraction, each with a unit
/// (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`); `0` alone needs none.
/// `30d` is refused, as kubeadm refuses it.
pub fn parse_go(s: &str) -> Result<Duration, DurationError> {
    parse_with(s, false)
}

fn parse_with(text: &str, days: bool) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_string());
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(err());
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, next) = after.split_at(unit_len);
        let nanos: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "d" if days => 86_400 * 1_000_000_000,
            _ => return Err(err()),
        };
        let whole: i128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| err())?
        };
        let mut value = whole.checked_mul(nanos).ok_or_else(err)?;
        // The fraction, digit by digit, as Go does (its rounding down included).
        let mut scale = nanos;
        for d in frac.bytes().take(30) {
            scale /= 10;
            value += i128::from(d - b'0') * scale;
        }
        total = total.checked_add(value).ok_or_else(err)?;
        if total > i128::from(i64::MAX) {
            return Err(err());
        }
        rest = next;
    }
    let nanos = i64::try_from(if negative { -total } else { total }).map_err(|_| err())?;
    Ok(Duration::nanoseconds(nanos))
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
    fn go_syntax_as_time_parse_duration() {
        // Values and refusals of Go's own time.ParseDuration tests.
        for (s, want) in [
            ("1.5h", Duration::minutes(90)),
            ("500ms", Duration::milliseconds(500)),
            ("0", Duration::ZERO),
            ("+5s", Duration::seconds(5)),
            ("-5s", Duration::seconds(-5)),
            ("1h2m3s4ms5us6ns", Duration::new(3723, 4_005_006)),
            (".5s", Duration::milliseconds(500)),
            ("1.s", Duration::seconds(1)),
            ("10µs", Duration::microseconds(10)),
            ("8760h0m0s", Duration::hours(8760)),
        ] {
            assert_eq!(parse_go(s), Ok(want), "{s}");
        }
        for bad in [
            "", "3", "-", "s", ".", "-.", ".s", "+.s", "30d", "1.5x", "3000000h",
        ] {
            assert!(parse_go(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("1.5d"), Ok(Duration::hours(36)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "h", "10", "10x", "99999999999d"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
