//! kubeadm's time columns: the EXPIRES date and RESIDUAL TIME, how long until a
//! certificate expires.
//!
//! kubeadm 1.31+ prints apimachinery's `duration.HumanDuration` of the whole
//! seconds left; up to 1.30 it printed `ShortHumanDuration`. Both are here, as
//! functions of a signed number of seconds (negative: already expired).

use time::OffsetDateTime;
use time::macros::format_description;

/// Go's `Jan 02, 2006 15:04 MST` in UTC: the EXPIRES column, and every date kcerts
/// prints for people.
pub fn format_date(t: OffsetDateTime) -> String {
    let fmt = format_description!("[month repr:short] [day], [year] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

/// [`format_date`] with seconds (`Nov 30, 2026 04:28:13 UTC`): for moments that a
/// minute cannot tell apart, such as a process start and a file write.
pub fn format_instant(t: OffsetDateTime) -> String {
    let fmt = format_description!("[month repr:short] [day], [year] [hour]:[minute]:[second] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const YEAR: i64 = 365 * DAY;

/// kubeadm 1.31+ format: `<invalid>`, `0s`, `59s`, `2m5s`, `15m`, `3h20m`, `20h`,
/// `3d4h`, `364d`, `2y327d`, `9y`.
pub fn human(seconds: i64) -> String {
    // "Allow deviation no more than 2 seconds(excluded)": -1s still reads 0s.
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 2 * MINUTE {
        return format!("{seconds}s");
    }
    let minutes = seconds / MINUTE;
    if minutes < 10 {
        let s = seconds % MINUTE;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 3 * 60 {
        return format!("{minutes}m");
    }
    let hours = seconds / HOUR;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let years = seconds / YEAR;
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{days}d")
        };
    }
    format!("{}y", seconds / YEAR)
}

/// kubeadm up to 1.30 format: `<invalid>`, `0s`, `Ns`, `Nm`, `Nh`, `Nd`, `Ny`.
pub fn short(seconds: i64) -> String {
    if seconds < -1 {
        "<invalid>".into()
    } else if seconds < 0 {
        "0s".into()
    } else if seconds < MINUTE {
        format!("{seconds}s")
    } else if seconds < HOUR {
        format!("{}m", seconds / MINUTE)
    } else if seconds < DAY {
        format!("{}h", seconds / HOUR)
    } else if seconds < YEAR {
        format!("{}d", seconds / DAY)
    } else {
        format!("{}y", seconds / YEAR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_dates_like_go() {
        assert_eq!(
            format_date(datetime!(2021-09-24 15:21:07 UTC)),
            "Sep 24, 2021 15:21 UTC"
        );
        assert_eq!(
            format_date(datetime!(2030-01-02 03:04 +02:00)),
            "Jan 02, 2030 01:04 UTC"
        );
    }

    /// Both boundaries of every band of the 1.31+ format (docs/kubeadm.md, Residual time).
    #[test]
    fn human_bands() {
        let cases: &[(i64, &str)] = &[
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (1, "1s"),
            (119, "119s"),
            (120, "2m"),
            (121, "2m1s"),
            (9 * MINUTE + 59, "9m59s"),
            (10 * MINUTE, "10m"),
            (3 * HOUR - 1, "179m"),
            (3 * HOUR, "3h"),
            (3 * HOUR + 20 * MINUTE + 59, "3h20m"),
            (8 * HOUR - 1, "7h59m"),
            (8 * HOUR, "8h"),
            (48 * HOUR - 1, "47h"),
            (48 * HOUR, "2d"),
            (49 * HOUR, "2d1h"),
            (8 * DAY - 1, "7d23h"),
            (8 * DAY, "8d"),
            (364 * DAY, "364d"),
            (2 * YEAR - 1, "729d"),
            (2 * YEAR, "2y"),
            (2 * YEAR + 327 * DAY, "2y327d"),
            (8 * YEAR - 1, "7y364d"),
            (8 * YEAR, "8y"),
            (10 * YEAR - 1, "9y"),
            (100 * YEAR, "100y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human(*secs), *want, "human({secs})");
        }
    }

    #[test]
    fn instants_have_seconds_dates_do_not() {
        let t = time::macros::datetime!(2026-11-30 04:28:13 +01:00);
        assert_eq!(format_instant(t), "Nov 30, 2026 03:28:13 UTC");
        assert_eq!(format_date(t), "Nov 30, 2026 03:28 UTC");
    }

    /// Both boundaries of every band of the short (up to 1.30) format.
    #[test]
    fn short_bands() {
        let cases: &[(i64, &str)] = &[
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (HOUR - 1, "59m"),
            (HOUR, "1h"),
            (DAY - 1, "23h"),
            (DAY, "1d"),
            (YEAR - 1, "364d"),
            (YEAR, "1y"),
            (10 * YEAR - 1, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(short(*secs), *want, "short({secs})");
        }
    }
}
