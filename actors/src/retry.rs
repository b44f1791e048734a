//! Retry policy: how many attempts an item gets and how long it waits between them.

use std::time::Duration;

/// Exponential backoff with full jitter (the AWS architecture blog's "full jitter"): the wait
/// before attempt n+1 is uniform in `[0, min(max, base * 2^(n-1))]`, so items that failed
/// together do not retry together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per item per round, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
    /// Extra rounds at the end of a job that give retryably-failed items a fresh budget.
    pub auto_retry_rounds: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base: Duration::from_millis(500),
            max: Duration::from_secs(60),
            auto_retry_rounds: 1,
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the wait after the `attempt`-th failure (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exp).min(self.max)
    }

    /// A jittered wait after the `attempt`-th failure; a provider's `Retry-After` wins.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max);
        }
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        Duration::from_millis(fastrand::u64(0..=ceiling))
    }

    /// Whether an item that has made `attempts` attempts in total may try again, given the
    /// round it is in (round 0 is the job's first pass).
    pub fn may_retry(&self, attempts: i64, round: u32) -> bool {
        let budget = i64::from(self.max_attempts) * (i64::from(round) + 1);
        attempts < budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap_with_full_jitter() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(5), Duration::from_millis(1000));
        assert_eq!(p.ceiling(500), Duration::from_millis(1000));
        let waits: Vec<_> = (0..200).map(|_| p.backoff(3, None)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(400)));
        // Full jitter spreads the waits; equal waits would mean no jitter at all.
        assert!(waits.iter().any(|w| *w != waits[0]));
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let p = RetryPolicy {
            max: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(99))),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn each_round_adds_a_fresh_budget() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(p.may_retry(2, 0));
        assert!(!p.may_retry(3, 0));
        assert!(p.may_retry(3, 1));
        assert!(!p.may_retry(6, 1));
    }
}
