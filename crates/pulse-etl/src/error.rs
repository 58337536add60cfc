//! How a sync fails, and the classification of upstream HTTP answers into those failures.

use chrono::{DateTime, TimeDelta, Utc};

/// Why a sync stopped before finishing. The retry policy ([`crate::retry`]) decides what follows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyncError {
    /// Worth retrying: network errors, timeouts, 5xx, database hiccups.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying will not help until an administrator acts (bad credentials, missing scope). The
    /// message says what to do.
    #[error("{0}")]
    Permanent(String),
    /// The upstream asked us to wait until `until`. Not a failure.
    #[error("rate limited until {until}: {message}")]
    RateLimited {
        /// When requests may resume.
        until: DateTime<Utc>,
        /// What the upstream said.
        message: String,
    },
    /// An administrator cancelled the job.
    #[error("cancelled")]
    Cancelled,
    /// An administrator paused the job.
    #[error("paused")]
    Paused,
    /// The worker is shutting down; the job is handed back to the queue.
    #[error("worker shutting down")]
    Shutdown,
    /// Another worker took the job over (our lease expired): nothing more may be written.
    #[error("the job's lease was lost to another worker")]
    LeaseLost,
}

impl From<pulse_db::sea_orm::DbErr> for SyncError {
    fn from(e: pulse_db::sea_orm::DbErr) -> Self {
        SyncError::Transient(format!("database error: {e}"))
    }
}

impl From<pulse_core::Error> for SyncError {
    /// Unavailable and internal errors (the database, mostly) are worth retrying; the rest
    /// describe a state an administrator has to change.
    fn from(e: pulse_core::Error) -> Self {
        use pulse_core::Error as E;
        match e {
            E::Unavailable(inner) | E::Internal(inner) => {
                SyncError::Transient(format!("{inner:#}"))
            }
            E::NotFound => SyncError::Permanent("object not found".into()),
            E::Validation(fields) => SyncError::Permanent(
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => SyncError::Permanent(other.to_string()),
        }
    }
}

/// What an upstream answered, reduced to what classification needs (so it stays a pure function
/// of its inputs).
#[derive(Debug, Clone, Default)]
pub struct HttpFailure<'a> {
    /// The status code; 0 for a network error or timeout without a response.
    pub status: u16,
    /// The `Retry-After` header: seconds or an HTTP date.
    pub retry_after: Option<&'a str>,
    /// `x-ratelimit-remaining`, when sent.
    pub rate_limit_remaining: Option<u64>,
    /// `x-ratelimit-reset` (Unix seconds), when sent.
    pub rate_limit_reset: Option<i64>,
    /// A short description of the request (no secrets, no query strings with tokens).
    pub what: &'a str,
}

/// When no header says how long to wait after a rate limit (GitHub's secondary limits: "wait at
/// least one minute").
pub const DEFAULT_RATE_LIMIT_WAIT: TimeDelta = TimeDelta::seconds(60);

/// Classifies an upstream failure:
/// - 429, or 403 with `Retry-After` or an exhausted rate limit: [`SyncError::RateLimited`] until the
///   header's time (at least `now`; `Retry-After: 0` means "now");
/// - 401: permanent, the credentials need replacing (the checkpoint is kept);
/// - 404: permanent, the scope does not exist or the token cannot see it;
/// - 408, 5xx, network errors (status 0), and 403 without rate headers (possibly a secondary
///   limit): transient;
/// - any other 4xx: permanent.
pub fn classify_http(f: &HttpFailure<'_>, now: DateTime<Utc>) -> SyncError {
    let what = f.what;
    let header_wait = || -> Option<DateTime<Utc>> {
        if let Some(v) = f.retry_after {
            let v = v.trim();
            if let Ok(secs) = v.parse::<i64>() {
                return Some(now + TimeDelta::seconds(secs.max(0)));
            }
            if let Ok(at) = DateTime::parse_from_rfc2822(v) {
                return Some(at.with_timezone(&Utc).max(now));
            }
        }
        if f.rate_limit_remaining == Some(0) {
            if let Some(reset) = f.rate_limit_reset {
                return DateTime::from_timestamp(reset, 0).map(|t| t.max(now));
            }
        }
        None
    };
    match f.status {
        429 => SyncError::RateLimited {
            until: header_wait().unwrap_or(now + DEFAULT_RATE_LIMIT_WAIT),
            message: format!("{what}: 429 too many requests"),
        },
        403 => match header_wait() {
            Some(until) => SyncError::RateLimited {
                until,
                message: format!("{what}: 403 rate limit"),
            },
            None => SyncError::Transient(format!(
                "{what}: 403 forbidden (possibly a secondary rate limit)"
            )),
        },
        401 => SyncError::Permanent(format!(
            "{what}: the credentials were rejected (401); update the integration's token, then \
             run the sync again"
        )),
        404 => SyncError::Permanent(format!(
            "{what}: not found (404); check that the scope exists and the token can read it"
        )),
        0 => SyncError::Transient(format!("{what}: network error or timeout")),
        408 => SyncError::Transient(format!("{what}: 408 request timeout")),
        s if s >= 500 => SyncError::Transient(format!("{what}: upstream error {s}")),
        s => SyncError::Permanent(format!("{what}: the upstream refused the request ({s})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn f(status: u16) -> HttpFailure<'static> {
        HttpFailure {
            status,
            what: "GET /repos/x/pulls",
            ..Default::default()
        }
    }

    #[test]
    fn server_errors_and_timeouts_are_transient() {
        for s in [0, 408, 500, 502, 503, 504] {
            assert!(
                matches!(classify_http(&f(s), at()), SyncError::Transient(_)),
                "{s}"
            );
        }
    }

    #[test]
    fn credentials_and_missing_scopes_are_permanent_and_actionable() {
        let SyncError::Permanent(m) = classify_http(&f(401), at()) else {
            panic!("401 must be permanent")
        };
        assert!(m.contains("update the integration's token"), "{m}");
        let SyncError::Permanent(m) = classify_http(&f(404), at()) else {
            panic!("404 must be permanent")
        };
        assert!(m.contains("scope exists"), "{m}");
        assert!(matches!(
            classify_http(&f(422), at()),
            SyncError::Permanent(_)
        ));
    }

    #[test]
    fn rate_limits_wait_until_the_header_time() {
        let mut r = f(429);
        r.retry_after = Some("120");
        assert_eq!(
            classify_http(&r, at()),
            SyncError::RateLimited {
                until: at() + TimeDelta::seconds(120),
                message: "GET /repos/x/pulls: 429 too many requests".into()
            }
        );
        r.retry_after = Some("0");
        let SyncError::RateLimited { until, .. } = classify_http(&r, at()) else {
            panic!()
        };
        assert_eq!(until, at());
        r.retry_after = Some("Sun, 22 Nov 2026 10:05:00 GMT");
        let SyncError::RateLimited { until, .. } = classify_http(&r, at()) else {
            panic!()
        };
        assert_eq!(until, at() + TimeDelta::minutes(5));
        r.retry_after = None;
        let SyncError::RateLimited { until, .. } = classify_http(&r, at()) else {
            panic!()
        };
        assert_eq!(until, at() + DEFAULT_RATE_LIMIT_WAIT);

        let mut p = f(403);
        p.rate_limit_remaining = Some(0);
        p.rate_limit_reset = Some((at() + TimeDelta::seconds(900)).timestamp());
        let SyncError::RateLimited { until, .. } = classify_http(&p, at()) else {
            panic!("exhausted primary limit")
        };
        assert_eq!(until, at() + TimeDelta::seconds(900));
        assert!(matches!(
            classify_http(&f(403), at()),
            SyncError::Transient(_)
        ));
    }
}
