//! Deployment frequency.

use super::linking::{finish, DeploymentSet};
use super::model::Deployment;
use crate::benchmarks::DeploymentDayMedians;
use crate::stats::median;
use crate::time::{BucketSpec, Granularity, Placer, SeriesPoint};
use chrono::Duration;
use serde::{Deserialize, Serialize};

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
    frequency_of_finishes(set.successful().map(|d| finish(d).timestamp()), spec)
}

/// [`deployment_frequency`] from the finish instants (Unix seconds) of the successful production
/// deployments, each deployment given once (as [`deployment_frequency`] counts them after
/// normalisation).
pub fn frequency_of_finishes(
    finishes: impl IntoIterator<Item = i64>,
    spec: &BucketSpec,
) -> DeploymentFrequency {
    // Each deployment's local day, as days after `spec.start` (placed once, in order).
    let daily = Placer::new(&spec.with_granularity(Granularity::Day));
    let mut days: Vec<i64> = finishes
        .into_iter()
        .filter_map(|t| daily.bucket(t))
        .map(|i| i as i64)
        .collect();
    days.sort_unstable();
    let counted: Vec<(i64, u64)> = days
        .chunk_by(|a, b| a == b)
        .map(|run| (run[0], run.len() as u64))
        .collect();
    frequency_of_days(&counted, spec)
}

/// [`deployment_frequency`] from the local days with deployments: `(day, deployments)`, the day
/// as days after `spec.start`, sorted by day, each day once, every count at least 1.
pub fn frequency_of_days(days: &[(i64, u64)], spec: &BucketSpec) -> DeploymentFrequency {
    let deployments = days.iter().map(|&(_, n)| n as usize).sum::<usize>();
    let deployment_days = days.len();
    let days_in_range = spec.days();
    let per_day = if days_in_range > 0 {
        deployments as f64 / days_in_range as f64
    } else {
        0.0
    };
    let series = bucketed(spec, days);
    let median_days = |g: Granularity| {
        let counts: Vec<f64> = bucketed(&spec.with_granularity(g), days)
            .iter()
            .map(|p| p.value.deployment_days as f64)
            .collect();
        median(&counts).unwrap_or(0.0)
    };
    DeploymentFrequency {
        deployments,
        deployment_days,
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

/// Deployments and distinct deployment days per bucket of `spec`, from the local days with
/// deployments (days after `spec.start`, each once, with their count).
fn bucketed(spec: &BucketSpec, days: &[(i64, u64)]) -> Vec<SeriesPoint<FrequencyBucket>> {
    let buckets = spec.buckets();
    let mut values = vec![FrequencyBucket::default(); buckets.len()];
    for &(day, n) in days {
        let date = spec.start + Duration::days(day);
        if let Some(slot) = spec.bucket_of_date(date).and_then(|i| values.get_mut(i)) {
            slot.deployments += n;
            slot.deployment_days += 1;
        }
    }
    buckets
        .iter()
        .zip(values)
        .map(|(bucket, value)| SeriesPoint {
            period_start: bucket.period_start,
            value,
        })
        .collect()
}
