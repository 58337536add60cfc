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
