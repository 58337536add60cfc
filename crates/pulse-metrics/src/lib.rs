//! # pulse-metrics
//!
//! The pure metrics engine of Pulse. Every function in this crate is a plain,
//! deterministic computation over in-memory inputs: there is no IO, no
//! database access, no clock reads and no async code. A storage layer fills the
//! input structs (all of which are `serde`-serialisable) and hands them to the
//! functions here; the results are `serde`-serialisable report structs.
//!
//! Modules, one per metric family:
//!
//! * [`stats`]: median, percentiles and the [`stats::Distribution`] summary.
//! * [`time`]: date ranges, time-zone aware day/week/month buckets.
//! * [`dora`]: the DORA metrics (deployment frequency, lead time for changes,
//!   change failure rate, recovery time, rework rate) and the linking /
//!   attribution helpers they rely on.
//! * [`benchmarks`]: DORA benchmark tiers stored as data, keyed by report year.
//! * [`pull_requests`]: cycle-time breakdown and pull-request aggregates.
//! * [`flow`]: work-item flow metrics (lead time, cycle time, WIP, cumulative flow).
//! * [`sprints`]: sprint commitment, scope change, velocity and planning accuracy.
//! * [`rollup`]: roll per-team values up a team hierarchy without double counting.
//!
//! The formulas and every rule choice are documented in `docs/METRICS.md`.
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use pulse_metrics::dora::*;
//! use pulse_metrics::time::{BucketSpec, Granularity};
//!
//! let at = |d, h| Utc.with_ymd_and_hms(2024, 3, d, h, 0, 0).unwrap();
//! let deploy = Deployment {
//!     id: "d1".into(),
//!     repos: vec!["api".into()],
//!     environment: "production".into(),
//!     is_production: true,
//!     status: DeploymentStatus::Success,
//!     started_at: at(5, 9),
//!     finished_at: Some(at(5, 10)),
//!     source: DeploymentSource::WorkflowRun,
//! };
//! let change = Change {
//!     id: "api#1".into(),
//!     repo: "api".into(),
//!     first_commit_at: at(4, 10),
//!     merged_at: Some(at(5, 8)),
//!     deployed_by: None,
//! };
//! let input = DoraInput { deployments: vec![deploy], changes: vec![change], incidents: vec![] };
//! let week = BucketSpec::with_zone_name(
//!     NaiveDate::from_ymd_opt(2024, 3, 4).unwrap(),
//!     NaiveDate::from_ymd_opt(2024, 3, 10).unwrap(),
//!     Granularity::Week,
//!     "Europe/Berlin",
//! )
//! .unwrap();
//! let report = dora_report(&input, &week, &AttributionRule::default());
//! assert_eq!(report.deployment_frequency.deployments, 1);
//! // first commit 03-04 10:00 -> deployed 03-05 10:00: 24 hours
//! assert_eq!(report.lead_time.distribution.unwrap().median, 86_400.0);
//! assert_eq!(report.change_failure_rate.rate, Some(0.0));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod benchmarks;
pub mod dora;
mod error;
pub mod flow;
pub mod pull_requests;
pub mod rollup;
pub mod sprints;
pub mod stats;
pub mod time;

pub use error::MetricsError;

/// An instant in time. All inputs are expressed in UTC; local time zones are
/// only used for bucketing (see [`time::BucketSpec`]).
pub type Timestamp = chrono::DateTime<chrono::Utc>;
