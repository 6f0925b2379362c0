//! The point in time by which the extension must have answered: the one deadline policy of the
//! built-in extensions.
//!
//! Under Trellis, `TRELLIS_DEADLINE` (Unix seconds) already leaves headroom before the server
//! sends SIGTERM, and the timeout argument is shortened to match, so no further margin is taken.
//! Apache CloudStack only passes the timeout argument and kills the process when it runs out, so
//! without the variable a margin of a tenth of the timeout (at most 5 s) is kept back to report a
//! clean error first.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Used when neither the timeout argument nor the environment says anything.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// At most this much of a bare timeout argument is kept back as a margin.
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

    /// The deadline of an invocation from the timeout argument (seconds) and `TRELLIS_DEADLINE`
    /// (Unix seconds), with [`DEFAULT_TIMEOUT`] when neither is usable; see
    /// [`Deadline::from_invocation_or`].
    pub fn from_invocation(timeout_argument: Option<&str>, environment: Option<&str>) -> Deadline {
        Deadline::from_invocation_or(timeout_argument, environment, DEFAULT_TIMEOUT)
    }

    /// The deadline of an invocation. With both values the earlier one rules (Trellis has
    /// already shortened the argument: no second margin). With only the argument (Apache
    /// CloudStack, which kills at the timeout), the argument less a tenth, at most 5 s. With only
    /// the variable, the variable. Unparsable or non-positive values are ignored; with neither,
    /// `default` applies.
    pub fn from_invocation_or(
        timeout_argument: Option<&str>,
        environment: Option<&str>,
        default: Duration,
    ) -> Deadline {
        let positive = |text: &str| {
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|value| value.is_finite() && *value > 0.0)
        };
        let from_argument = timeout_argument
            .and_then(positive)
            .map(Duration::from_secs_f64);
        let from_environment = environment.and_then(positive).map(|epoch| {
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
            (None, None) => default,
        };
        Deadline::after(budget)
    }

    /// The instant itself.
    pub fn instant(&self) -> Instant {
        self.at
    }

    /// Time left (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn has_passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The earlier of this deadline and `limit` from now.
    pub fn capped(&self, limit: Duration) -> Deadline {
        Deadline {
            at: self.at.min(Instant::now() + limit),
        }
    }

    /// A deadline `reserve` earlier, but never less than `floor` from now (nor later than this
    /// deadline).
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

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn a_bare_timeout_argument_keeps_a_margin() {
        let remaining = Deadline::from_invocation(Some("100"), None).remaining();
        assert!(remaining <= Duration::from_secs(95) && remaining > Duration::from_secs(94));
        let short = Deadline::from_invocation(Some("10"), None).remaining();
        assert!(short <= Duration::from_secs(9) && short > Duration::from_secs(8));
    }

    #[test]
    fn the_environment_deadline_wins_when_earlier() {
        let deadline = Deadline::from_invocation(Some("600"), Some(&(now() + 20).to_string()));
        assert!(deadline.remaining() <= Duration::from_secs(20));
        assert!(deadline.remaining() > Duration::from_secs(18));
        let soon = Deadline::from_invocation(Some("600"), Some(&(now() + 3).to_string()));
        assert!(soon.remaining() <= Duration::from_secs(3));
        // Under Trellis the timeout argument is already shortened: no second margin.
        let bounded = Deadline::from_invocation(Some("10"), Some(&(now() + 600).to_string()));
        assert!(bounded.remaining() > Duration::from_millis(9_900));
        assert!(Deadline::from_invocation(None, Some(&(now() - 5).to_string())).has_passed());
        assert!(
            Deadline::from_invocation(Some("600"), Some(&(now() - 5).to_string())).has_passed()
        );
    }

    #[test]
    fn nothing_usable_means_the_default() {
        for argument in [None, Some("0"), Some("soon")] {
            let remaining = Deadline::from_invocation(argument, Some("garbage")).remaining();
            assert!(remaining > DEFAULT_TIMEOUT - Duration::from_secs(2));
            let longer = Duration::from_secs(1800);
            let remaining = Deadline::from_invocation_or(argument, None, longer).remaining();
            assert!(remaining > Duration::from_secs(1700));
        }
    }

    #[test]
    fn capping_and_reserving() {
        let deadline = Deadline::after(Duration::from_secs(100));
        assert!(deadline.capped(Duration::from_secs(3)).remaining() <= Duration::from_secs(3));
        assert!(deadline.capped(Duration::from_secs(300)).remaining() > Duration::from_secs(99));
        let work = deadline.keeping(Duration::from_secs(30), Duration::from_secs(5));
        assert!(work.remaining() <= Duration::from_secs(70));
        let tight = Deadline::after(Duration::from_secs(10))
            .keeping(Duration::from_secs(30), Duration::from_secs(5));
        assert!(tight.remaining() > Duration::from_secs(4));
    }
}
