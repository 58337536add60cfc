//! The retry policy: a pure function from a failure to what happens next.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::SyncError;

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The backoff ceiling after the first failure.
    pub base: Duration,
    /// The largest backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(10),
            max_delay: Duration::from_secs(30 * 60),
        }
    }
}

/// What to do with a job after a run stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Queue again, claimable at `at`.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// The error, for the job's `last_error`.
        message: String,
    },
    /// Fail for good with an admin-actionable message.
    Fail {
        /// Why, and what to do.
        message: String,
    },
    /// Wait for the rate limit to reset (status `waiting_rate_limit`); not a failure.
    WaitRateLimit {
        /// When requests may resume.
        until: DateTime<Utc>,
        /// What the upstream said.
        message: String,
    },
    /// Mark cancelled.
    Cancel,
    /// Mark paused.
    Pause,
    /// Hand back to the queue at once, without counting a failure (worker shutdown).
    Release,
    /// Write nothing: another worker owns the job now.
    Abandon,
}

impl RetryPolicy {
    /// The ceiling of the backoff after `failures` failed runs (1 for the first):
    /// `min(max_delay, base * 2^(failures-1))`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        self.base
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// Full jitter: a delay uniformly spread over `[0, ceiling(failures)]`; `jitter` is a random
    /// number in `[0, 1)` supplied by the caller.
    pub fn backoff(&self, failures: u32, jitter: f64) -> Duration {
        self.ceiling(failures).mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// Decides what follows `err`. `failures` counts failed runs including this one when `err` is
    /// a failure; `max_attempts` is the job's budget.
    pub fn decide(
        &self,
        err: &SyncError,
        failures: u32,
        max_attempts: u32,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Decision {
        match err {
            SyncError::Transient(message) if failures >= max_attempts => Decision::Fail {
                message: format!("gave up after {failures} failed attempts; last error: {message}"),
            },
            SyncError::Transient(message) => {
                // Whole milliseconds: stored times must compare equal on both backends (PostgreSQL
                // keeps microseconds, SQLite the text it was given).
                let millis = self.backoff(failures, jitter).as_millis();
                let delay = TimeDelta::milliseconds(i64::try_from(millis).unwrap_or(i64::MAX));
                Decision::Retry {
                    at: now.checked_add_signed(delay).unwrap_or(now),
                    message: message.clone(),
                }
            }
            SyncError::Permanent(message) => Decision::Fail {
                message: message.clone(),
            },
            SyncError::RateLimited { until, message } => Decision::WaitRateLimit {
                until: (*until).max(now),
                message: message.clone(),
            },
            SyncError::Cancelled => Decision::Cancel,
            SyncError::Paused => Decision::Pause,
            SyncError::Shutdown => Decision::Release,
            SyncError::LeaseLost => Decision::Abandon,
        }
    }

    /// Whether `err` counts as a failed run.
    pub fn counts_as_failure(err: &SyncError) -> bool {
        matches!(err, SyncError::Transient(_) | SyncError::Permanent(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(10),
            max_delay: Duration::from_secs(300),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_inside() {
        let p = policy();
        assert_eq!(p.ceiling(1), Duration::from_secs(10));
        assert_eq!(p.ceiling(2), Duration::from_secs(20));
        assert_eq!(p.ceiling(4), Duration::from_secs(80));
        assert_eq!(p.ceiling(6), Duration::from_secs(300));
        assert_eq!(p.ceiling(1000), Duration::from_secs(300));
        for failures in 1..40 {
            for j in [0.0, 0.25, 0.5, 0.999_999, 1.0, 7.0, -1.0] {
                let d = p.backoff(failures, j);
                assert!(d <= p.ceiling(failures), "{failures} {j} {d:?}");
            }
        }
        assert_eq!(p.backoff(3, 0.0), Duration::ZERO);
        assert_eq!(p.backoff(3, 0.5), Duration::from_secs(20));
    }

    #[test]
    fn transient_failures_retry_until_the_budget_is_spent() {
        let p = policy();
        let err = SyncError::Transient("502".into());
        match p.decide(&err, 2, 5, now(), 0.5) {
            Decision::Retry { at, message } => {
                assert_eq!(at, now() + TimeDelta::seconds(10));
                assert_eq!(message, "502");
            }
            other => panic!("{other:?}"),
        }
        match p.decide(&err, 5, 5, now(), 0.5) {
            Decision::Fail { message } => assert!(message.contains("gave up after 5")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn permanent_fails_at_once_and_rate_limits_wait_without_failing() {
        let p = policy();
        assert_eq!(
            p.decide(&SyncError::Permanent("bad token".into()), 1, 5, now(), 0.1),
            Decision::Fail {
                message: "bad token".into()
            }
        );
        let until = now() + TimeDelta::minutes(15);
        assert_eq!(
            p.decide(
                &SyncError::RateLimited {
                    until,
                    message: "429".into()
                },
                0,
                5,
                now(),
                0.1
            ),
            Decision::WaitRateLimit {
                until,
                message: "429".into()
            }
        );
        // A reset time in the past waits until now, never earlier.
        assert!(matches!(
            p.decide(&SyncError::RateLimited { until: now() - TimeDelta::seconds(5), message: String::new() }, 0, 5, now(), 0.1),
            Decision::WaitRateLimit { until, .. } if until == now()
        ));
        assert!(!RetryPolicy::counts_as_failure(&SyncError::RateLimited {
            until,
            message: String::new()
        }));
        assert_eq!(
            p.decide(&SyncError::Cancelled, 0, 5, now(), 0.1),
            Decision::Cancel
        );
        assert_eq!(
            p.decide(&SyncError::LeaseLost, 0, 5, now(), 0.1),
            Decision::Abandon
        );
    }
}
