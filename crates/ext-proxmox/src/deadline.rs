//! The point in time by which the extension must have answered.
//!
//! Trellis passes `TRELLIS_DEADLINE` (Unix seconds, already a few seconds before it would send
//! SIGTERM). Apache CloudStack only passes the timeout argument and kills the process when it
//! runs out, so a deadline derived from it keeps a margin to report a clean error first.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Used when neither the timeout argument nor the environment says anything (as upstream).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// At most this much of a timeout argument is kept back as a margin.
const MAX_MARGIN: Duration = Duration::from_secs(5);

/// A deadline on the monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline `after` from now.
    pub fn after(after: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + after,
        }
    }

    /// The deadline of an invocation. Under Trellis (`TRELLIS_DEADLINE` set, Unix seconds) that
    /// value rules, bounded by the timeout argument, which Trellis has already shortened. Without
    /// it (Apache CloudStack, which kills at the timeout), the timeout argument less a margin of a
    /// tenth, at most 5 s. Unparsable or zero values are ignored; with neither, [`DEFAULT_TIMEOUT`]
    /// applies.
    pub fn from_invocation(timeout_argument: Option<&str>, environment: Option<&str>) -> Deadline {
        let from_argument = timeout_argument
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
            .map(Duration::from_secs_f64);
        let from_environment = environment
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|epoch| epoch.is_finite() && *epoch > 0.0)
            .map(|epoch| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                Duration::from_secs_f64((epoch - now).max(0.0))
            });
        let budget = match (from_argument, from_environment) {
            (Some(argument), Some(environment)) => argument.min(environment),
            (None, Some(environment)) => environment,
            (Some(argument), None) => argument - (argument / 10).min(MAX_MARGIN),
            (None, None) => DEFAULT_TIMEOUT,
        };
        Deadline::after(budget)
    }

    /// Time left (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn has_passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// A deadline `reserve` earlier, but never less than `floor` from now (or this deadline, if
    /// that comes first).
    pub fn keeping(&self, reserve: Duration, floor: Duration) -> Deadline {
        let earlier = self.at.checked_sub(reserve).unwrap_or(self.at);
        let floor_at = (Instant::now() + floor).min(self.at);
        Deadline {
            at: earlier.max(floor_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_argument_keeps_a_margin() {
        let deadline = Deadline::from_invocation(Some("100"), None);
        let remaining = deadline.remaining();
        assert!(remaining <= Duration::from_secs(95) && remaining > Duration::from_secs(94));
        let short = Deadline::from_invocation(Some("10"), None).remaining();
        assert!(short <= Duration::from_secs(9) && short > Duration::from_secs(8));
    }

    #[test]
    fn environment_deadline_wins_when_earlier() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let deadline = Deadline::from_invocation(Some("600"), Some(&(now + 20).to_string()));
        assert!(deadline.remaining() <= Duration::from_secs(20));
        assert!(deadline.remaining() > Duration::from_secs(18));
        // Under Trellis the timeout argument is already shortened: no second margin.
        let bounded = Deadline::from_invocation(Some("10"), Some(&(now + 600).to_string()));
        assert!(bounded.remaining() > Duration::from_millis(9_900));
        let past = Deadline::from_invocation(None, Some(&(now - 5).to_string()));
        assert!(past.has_passed());
    }

    #[test]
    fn nothing_usable_means_the_default() {
        for argument in [None, Some("0"), Some("soon")] {
            let remaining = Deadline::from_invocation(argument, Some("garbage")).remaining();
            assert!(remaining > DEFAULT_TIMEOUT - Duration::from_secs(2));
        }
    }

    #[test]
    fn keeping_a_reserve_respects_the_floor() {
        let deadline = Deadline::after(Duration::from_secs(100));
        let work = deadline.keeping(Duration::from_secs(30), Duration::from_secs(5));
        assert!(work.remaining() <= Duration::from_secs(70));
        let tight = Deadline::after(Duration::from_secs(10))
            .keeping(Duration::from_secs(30), Duration::from_secs(5));
        assert!(tight.remaining() > Duration::from_secs(4));
    }
}
