//! DORA benchmark tiers, stored as data keyed by report year.
//!
//! The built-in table (`dora_benchmarks.json`, embedded in the crate and
//! parsed once) holds, for each report year and metric, an ordered list of
//! [`Rule`]s. Classification walks the rules in order and returns the tier of
//! the first rule that matches, so adding a report year is a data change only.
//! A custom table can be loaded with [`BenchmarkTable::from_json`].
//!
//! Units: durations (lead time, recovery time) in seconds; rates (change
//! failure rate, rework rate) as fractions in `[0, 1]`; deployment frequency
//! as medians of deployment-days per calendar period ([`DeploymentDayMedians`]).

mod classify;
mod table;

pub use classify::{classify_dora, DoraTiers};
pub use table::{
    tier, BenchmarkTable, BenchmarkYear, Comparison, DeploymentDayMedians, Measurement, Metric,
    RecoveryMeasure, Rule, Statistic, Tier,
};
