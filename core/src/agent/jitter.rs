//! How long an agent waits before it tries to take the Lease: a random part, so
//! that agents whose timers fire together (a DaemonSet started at once, a renew
//! request written to every Node in one go) do not all reach for it at the same
//! moment, and how soon an agent that had to wait tries again.

use std::time::Duration;

use rand_core::Rng;

/// A wait drawn uniformly from [0, `max`), in whole milliseconds, from the caller's
/// `rng` (zero when `max` is zero).
pub fn draw<R: Rng + ?Sized>(max: Duration, rng: &mut R) -> Duration {
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rng.next_u64() % ms)
}

/// When an agent that is waiting (the Lease held, a rollout stopped, a safety rule)
/// looks again: every third of the Lease's duration (as often as a holder renews
/// it), at least a second, never later than the next regular run.
pub fn retry_after(lease_duration_seconds: i32, interval: Duration) -> Duration {
    let third =
        Duration::from_millis(u64::from(lease_duration_seconds.max(0).unsigned_abs()) * 1000 / 3);
    third
        .max(Duration::from_secs(1))
        .min(interval.max(Duration::from_secs(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_below_the_maximum_and_spread() {
        let mut rng = crate::seeded_rng(3);
        let max = Duration::from_secs(30);
        let draws: Vec<Duration> = (0..200).map(|_| draw(max, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d < max));
        assert!(draws.iter().any(|d| *d < Duration::from_secs(10)));
        assert!(draws.iter().any(|d| *d > Duration::from_secs(20)));
        assert_eq!(draw(Duration::ZERO, &mut rng), Duration::ZERO);
        // The same seed, the same waits.
        let mut a = crate::seeded_rng(9);
        let mut b = crate::seeded_rng(9);
        assert_eq!(draw(max, &mut a), draw(max, &mut b));
    }

    #[test]
    fn retries_follow_the_lease_renewals() {
        let hour = Duration::from_secs(3600);
        assert_eq!(retry_after(60, hour), Duration::from_secs(20));
        assert_eq!(retry_after(15, hour), Duration::from_secs(5));
        assert_eq!(retry_after(1, hour), Duration::from_secs(1));
        assert_eq!(retry_after(-5, hour), Duration::from_secs(1));
        assert_eq!(
            retry_after(60, Duration::from_secs(7)),
            Duration::from_secs(7)
        );
    }
}
