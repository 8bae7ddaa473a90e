//! The one expiry rule: how much time left is a warning and how little a
//! failure. `verify`, `fleet`, `serve`'s `kcerts_verify_check`,
//! `check-expiration --warn/--crit`, `inspect` and the web page all judge a
//! certificate's expiry with [`Thresholds::status`] (default: warn under 30
//! days, fail under 7 days or expired).

use time::Duration;

use super::Status;

/// The expiry windows: closer than `warn` is a warning, closer than `crit` a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Warning window.
    pub warn: Duration,
    /// Critical window.
    pub crit: Duration,
}

impl Default for Thresholds {
    /// 30 days and 7 days.
    fn default() -> Self {
        Self {
            warn: Duration::days(30),
            crit: Duration::days(7),
        }
    }
}

impl Thresholds {
    /// The windows of `--warn`/`--crit`, `defaults` for those not given;
    /// `crit` never exceeds `warn`.
    pub fn from_flags(warn: Option<Duration>, crit: Option<Duration>, defaults: Self) -> Self {
        let crit = crit.unwrap_or(defaults.crit);
        let warn = warn.unwrap_or(defaults.warn).max(crit);
        Self { warn, crit }
    }

    /// The expiry rule for a certificate with `residual_seconds` left:
    /// `Fail` when it has expired (nothing left) or expires within `crit`,
    /// `Warn` within `warn`, else `Pass`.
    pub fn status(self, residual_seconds: i64) -> Status {
        if residual_seconds <= 0 || residual_seconds < self.crit.whole_seconds() {
            Status::Fail
        } else if residual_seconds < self.warn.whole_seconds() {
            Status::Warn
        } else {
            Status::Pass
        }
    }

    /// The worst [`Thresholds::status`] of several certificates (`Pass` for none).
    pub fn worst(self, residual_seconds: impl IntoIterator<Item = i64>) -> Status {
        residual_seconds
            .into_iter()
            .map(|left| self.status(left))
            .max()
            .unwrap_or(Status::Pass)
    }
}

/// `check-expiration --warn/--crit` (beyond kubeadm): the worst status of the
/// present certificates (their `residual_seconds`) under the one rule, the
/// windows not given taking their defaults (30 days, 7 days); always `Pass`
/// without either flag (kubeadm's behaviour).
pub fn expiration_status(
    residual_seconds: impl IntoIterator<Item = i64>,
    warn: Option<Duration>,
    crit: Option<Duration>,
) -> Status {
    if warn.is_none() && crit.is_none() {
        return Status::Pass;
    }
    Thresholds::from_flags(warn, crit, Thresholds::default()).worst(residual_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn the_rule_at_its_edges() {
        let th = Thresholds::default();
        assert_eq!(th.status(-1), Status::Fail, "expired");
        assert_eq!(th.status(0), Status::Fail, "expires now");
        assert_eq!(th.status(5 * DAY), Status::Fail, "5 days left");
        assert_eq!(th.status(7 * DAY - 1), Status::Fail);
        assert_eq!(th.status(7 * DAY), Status::Warn);
        assert_eq!(th.status(30 * DAY - 1), Status::Warn);
        assert_eq!(th.status(30 * DAY), Status::Pass);
        assert_eq!(th.worst([40 * DAY, 20 * DAY]), Status::Warn);
        assert_eq!(th.worst([]), Status::Pass);
    }

    #[test]
    fn expiration_status_follows_the_flags_given() {
        let d = Duration::days;
        let left = [d(40).whole_seconds(), d(20).whole_seconds()];
        assert_eq!(expiration_status(left, None, None), Status::Pass);
        assert_eq!(expiration_status(left, Some(d(30)), None), Status::Warn);
        assert_eq!(expiration_status(left, Some(d(10)), None), Status::Pass);
        assert_eq!(expiration_status(left, None, Some(d(30))), Status::Fail);
        assert_eq!(
            expiration_status(left, Some(d(50)), Some(d(10))),
            Status::Warn
        );
        assert_eq!(expiration_status([0], Some(d(1)), None), Status::Fail);
        assert_eq!(expiration_status([-5], None, None), Status::Pass);
        // A window not given takes its default: 5 days left fails with only
        // --warn (under the default 7-day critical window), and 20 days left
        // warns with only --crit 7d (under the default 30-day warning window).
        assert_eq!(
            expiration_status([5 * DAY], Some(d(30)), None),
            Status::Fail
        );
        assert_eq!(
            expiration_status([20 * DAY], None, Some(d(7))),
            Status::Warn
        );
    }

    #[test]
    fn crit_never_exceeds_warn() {
        let d = Duration::days;
        let th = Thresholds::from_flags(None, Some(d(60)), Thresholds::default());
        assert_eq!((th.warn, th.crit), (d(60), d(60)));
        let th = Thresholds::from_flags(Some(d(10)), None, Thresholds::default());
        assert_eq!((th.warn, th.crit), (d(10), d(7)));
        assert_eq!(
            Thresholds::from_flags(None, None, Thresholds::default()),
            Thresholds::default()
        );
    }
}
