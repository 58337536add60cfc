//! Deployment frequency.

use super::linking::{finish, DeploymentSet};
use super::model::Deployment;
use crate::benchmarks::DeploymentDayMedians;
use crate::stats::median;
use crate::time::{BucketSpec, Granularity, SeriesPoint};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Average length of a Gregorian month in days (365.2425 / 12), used for the
/// per-month average.
const DAYS_PER_MONTH: f64 = 30.436875;

/// Deployments in one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FrequencyBucket {
    /// Successful production deployments that finished in the bucket.
    pub deployments: u64,
    /// Distinct local days of the bucket with at least one such deployment.
    pub deployment_days: u64,
}

/// Deployment frequency over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentFrequency {
    /// Successful production deployments that finished in the range (a
    /// deployment spanning several repositories counts once).
    pub deployments: usize,
    /// Distinct local days with at least one such deployment.
    pub deployment_days: usize,
    /// Local calendar days in the range.
    pub days_in_range: i64,
    /// `deployments / days_in_range` (0 for an empty range).
    pub per_day: f64,
    /// `per_day * 7`.
    pub per_week: f64,
    /// `per_day * 30.436875` (average month length).
    pub per_month: f64,
    /// Per-bucket counts at the spec's granularity, empty buckets included.
    pub series: Vec<SeriesPoint<FrequencyBucket>>,
    /// Medians of deployment-days per calendar week, month and half-year,
    /// used for benchmark classification.
    pub median_deployment_days: DeploymentDayMedians,
}

/// Computes deployment frequency: counts successful production deployments
/// whose `finished_at` falls in the range of `spec`.
pub fn deployment_frequency(deployments: &[Deployment], spec: &BucketSpec) -> DeploymentFrequency {
    let set = DeploymentSet::new(deployments);
    let times: Vec<_> = set
        .successful()
        .map(finish)
        .filter(|&t| spec.contains(t))
        .collect();
    let days: BTreeSet<NaiveDate> = times.iter().map(|&t| spec.local_date(t)).collect();
    let days_in_range = spec.days();
    let per_day = if days_in_range > 0 {
        times.len() as f64 / days_in_range as f64
    } else {
        0.0
    };
    let series = bucketed(spec, &times);
    let median_days = |g: Granularity| {
        let counts: Vec<f64> = bucketed(&spec.with_granularity(g), &times)
            .iter()
            .map(|p| p.value.deployment_days as f64)
            .collect();
        median(&counts).unwrap_or(0.0)
    };
    DeploymentFrequency {
        deployments: times.len(),
        deployment_days: days.len(),
        days_in_range,
        per_day,
        per_week: per_day * 7.0,
        per_month: per_day * DAYS_PER_MONTH,
        series,
        median_deployment_days: DeploymentDayMedians {
            per_week: median_days(Granularity::Week),
            per_month: median_days(Granularity::Month),
            per_six_months: median_days(Granularity::HalfYear),
        },
    }
}

fn bucketed(spec: &BucketSpec, times: &[crate::Timestamp]) -> Vec<SeriesPoint<FrequencyBucket>> {
    spec.series(times.iter().map(|&t| (t, spec.local_date(t))), |dates| {
        let distinct: BTreeSet<&NaiveDate> = dates.iter().collect();
        FrequencyBucket {
            deployments: dates.len() as u64,
            deployment_days: distinct.len() as u64,
        }
    })
}
