//! Integration schedules: a fixed interval or a cron expression in a time zone, and the pure
//! function that says when the next run is due.

use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// When an integration syncs on its own. Stored as JSON on the integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Schedule {
    /// Every `interval_seconds` after the previous run.
    Interval {
        /// Seconds between runs (at least 1).
        interval_seconds: u64,
    },
    /// At the times a cron expression names, read in `time_zone` (an IANA name such as
    /// `Europe/Berlin`; daylight-saving changes follow the zone).
    Cron {
        /// Five fields (`min hour dom month dow`) or six with seconds first. Day-of-week
        /// numbers follow the `cron` crate (1 = Sunday ... 7 = Saturday); names (`MON-FRI`) are
        /// unambiguous and preferred.
        cron: String,
        /// IANA time zone; `UTC` when omitted.
        #[serde(default = "utc")]
        time_zone: String,
    },
}

fn utc() -> String {
    "UTC".into()
}

/// A schedule that cannot be used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schedule: {0}")]
pub struct ScheduleError(pub String);

impl Schedule {
    /// Checks the expression and time zone.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            Schedule::Interval { interval_seconds } if *interval_seconds == 0 => Err(
                ScheduleError("the interval must be at least one second".into()),
            ),
            Schedule::Interval { .. } => Ok(()),
            Schedule::Cron { cron, time_zone } => {
                parse_cron(cron)?;
                parse_tz(time_zone)?;
                Ok(())
            }
        }
    }
}

fn parse_cron(expr: &str) -> Result<cron::Schedule, ScheduleError> {
    let fields = expr.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    };
    cron::Schedule::from_str(&full)
        .map_err(|e| ScheduleError(format!("cron expression '{expr}': {e}")))
}

fn parse_tz(name: &str) -> Result<chrono_tz::Tz, ScheduleError> {
    name.parse::<chrono_tz::Tz>()
        .map_err(|_| ScheduleError(format!("unknown time zone '{name}'")))
}

/// When the next run is due: the first slot after `last_run` (immediately when it never ran).
/// The caller runs when the result is at or before `now`, then passes `now` as the new
/// `last_run`; so after downtime the missed slots collapse into one run instead of one per slot.
/// `None` means the schedule names no future time.
pub fn next_due(
    schedule: &Schedule,
    last_run: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ScheduleError> {
    let Some(last) = last_run else {
        schedule.validate()?;
        return Ok(Some(now));
    };
    match schedule {
        Schedule::Interval { interval_seconds } => {
            schedule.validate()?;
            let secs = i64::try_from(*interval_seconds).unwrap_or(i64::MAX);
            Ok(last.checked_add_signed(TimeDelta::seconds(secs.min(i64::MAX / 1000))))
        }
        Schedule::Cron { cron, time_zone } => {
            let expr = parse_cron(cron)?;
            let tz = parse_tz(time_zone)?;
            Ok(expr
                .after(&last.with_timezone(&tz))
                .next()
                .map(|t| t.with_timezone(&Utc)))
        }
    }
}

/// Whether a run is due at `now`.
pub fn is_due(
    schedule: &Schedule,
    last_run: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, ScheduleError> {
    Ok(next_due(schedule, last_run, now)?.is_some_and(|due| due <= now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn never_run_is_due_now() {
        let s = Schedule::Interval {
            interval_seconds: 3600,
        };
        let now = t("2026-11-22T10:00:00Z");
        assert_eq!(next_due(&s, None, now).unwrap(), Some(now));
    }

    #[test]
    fn interval_counts_from_the_last_run() {
        let s = Schedule::Interval {
            interval_seconds: 3600,
        };
        let last = t("2026-11-22T10:00:00Z");
        assert_eq!(
            next_due(&s, Some(last), last).unwrap(),
            Some(t("2026-11-22T11:00:00Z"))
        );
        assert!(!is_due(&s, Some(last), t("2026-11-22T10:59:59Z")).unwrap());
        assert!(is_due(&s, Some(last), t("2026-11-22T11:00:00Z")).unwrap());
    }

    #[test]
    fn missed_slots_after_downtime_collapse_into_one_run() {
        let s = Schedule::Cron {
            cron: "0 * * * *".into(),
            time_zone: "UTC".into(),
        };
        let last = t("2026-11-22T10:00:00Z");
        let now = t("2026-11-22T15:30:00Z");
        // Five slots were missed; one run is due now...
        assert_eq!(
            next_due(&s, Some(last), now).unwrap(),
            Some(t("2026-11-22T11:00:00Z"))
        );
        assert!(is_due(&s, Some(last), now).unwrap());
        // ...and after it runs (last_run = now) the next is the next future slot.
        assert!(!is_due(&s, Some(now), now).unwrap());
        assert_eq!(
            next_due(&s, Some(now), now).unwrap(),
            Some(t("2026-11-22T16:00:00Z"))
        );
    }

    #[test]
    fn cron_reads_the_time_zone_across_daylight_saving() {
        // 02:30 every day in Berlin: 01:30 UTC in winter, 00:30 UTC in summer.
        let s = Schedule::Cron {
            cron: "0 30 2 * * *".into(),
            time_zone: "Europe/Berlin".into(),
        };
        assert_eq!(
            next_due(
                &s,
                Some(t("2026-01-10T12:00:00Z")),
                t("2026-01-10T12:00:00Z")
            )
            .unwrap(),
            Some(t("2026-01-11T01:30:00Z"))
        );
        assert_eq!(
            next_due(
                &s,
                Some(t("2026-07-10T12:00:00Z")),
                t("2026-07-10T12:00:00Z")
            )
            .unwrap(),
            Some(t("2026-07-11T00:30:00Z"))
        );
    }

    #[test]
    fn weekday_names_skip_the_weekend() {
        let s = Schedule::Cron {
            cron: "0 6 * * MON-FRI".into(),
            time_zone: "UTC".into(),
        };
        // Friday 07:00 → Monday 06:00.
        let friday = t("2026-11-20T07:00:00Z");
        assert_eq!(
            next_due(&s, Some(friday), friday).unwrap(),
            Some(t("2026-11-23T06:00:00Z"))
        );
    }

    #[test]
    fn invalid_schedules_are_reported() {
        let bad = Schedule::Cron {
            cron: "61 * * * *".into(),
            time_zone: "UTC".into(),
        };
        assert!(bad.validate().is_err());
        let tz = Schedule::Cron {
            cron: "0 * * * *".into(),
            time_zone: "Mars/Olympus".into(),
        };
        assert!(tz.validate().unwrap_err().0.contains("Mars/Olympus"));
        assert!(Schedule::Interval {
            interval_seconds: 0
        }
        .validate()
        .is_err());
    }

    #[test]
    fn schedules_read_from_json() {
        let s: Schedule = serde_json::from_str(r#"{"interval_seconds": 900}"#).unwrap();
        assert_eq!(
            s,
            Schedule::Interval {
                interval_seconds: 900
            }
        );
        let c: Schedule = serde_json::from_str(r#"{"cron": "0 6 * * MON-FRI"}"#).unwrap();
        assert_eq!(
            c,
            Schedule::Cron {
                cron: "0 6 * * MON-FRI".into(),
                time_zone: "UTC".into()
            }
        );
    }
}
