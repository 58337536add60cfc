//! Flow aggregates over a range.

use super::model::{StatusCategory, WorkItem};
use super::state::{category_as_of, done_at, started_at, was_reopened};
use crate::stats::Distribution;
use crate::time::{BucketSpec, SeriesPoint};
use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// Items completed in one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThroughputBucket {
    /// Items whose done time falls in the bucket.
    pub items: u64,
    /// Sum of their story points (unestimated items count 0).
    pub points: f64,
}

/// Number of existing items per status category at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryCounts {
    /// Items in To Do.
    pub to_do: usize,
    /// Items in In Progress.
    pub in_progress: usize,
    /// Items in Done.
    pub done: usize,
}

/// An item in progress and how long it has been in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgingItem {
    /// Issue key.
    pub key: String,
    /// Current status name, if known from transitions.
    pub status: Option<String>,
    /// First entry into In Progress.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: Timestamp,
    /// Seconds from `started_at` to the evaluation instant.
    pub age_secs: i64,
}

/// Flow metrics of a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlowReport {
    /// Items whose done time (see [`done_at`]) falls in the range.
    pub completed: usize,
    /// Lead time (created → done) of completed items, seconds.
    pub lead_time: Option<Distribution>,
    /// Cycle time (first entry into In Progress → done) of completed items
    /// that were ever in progress, seconds.
    pub cycle_time: Option<Distribution>,
    /// Completed items that never were in progress (no cycle time).
    pub completed_without_start: usize,
    /// Completed items that had been re-opened at least once.
    pub reopened: usize,
    /// Lead or cycle times whose raw span was negative and counted as 0.
    pub negative_spans_clamped: usize,
    /// Completed items and points per bucket.
    pub throughput: Vec<SeriesPoint<ThroughputBucket>>,
    /// Items per category as of each bucket's end (cumulative flow).
    pub cumulative_flow: Vec<SeriesPoint<CategoryCounts>>,
    /// Items in progress as of the end of the range.
    pub wip_at_end: usize,
    /// Items in progress at the end of the range, oldest first.
    pub aging_wip: Vec<AgingItem>,
}

/// Number of items in progress as of `t`.
pub fn wip_at(items: &[WorkItem], t: Timestamp) -> usize {
    items
        .iter()
        .filter(|i| category_as_of(i, t) == Some(StatusCategory::InProgress))
        .count()
}

/// Items in progress as of `at`, with their age since the first entry into
/// In Progress, oldest first (ties by key).
pub fn aging_wip(items: &[WorkItem], at: Timestamp) -> Vec<AgingItem> {
    let mut aging: Vec<AgingItem> = items
        .iter()
        .filter(|i| category_as_of(i, at) == Some(StatusCategory::InProgress))
        .map(|i| {
            let started = started_at(i).unwrap_or(i.created_at);
            let mut transitions: Vec<_> = i.transitions.iter().filter(|t| t.at < at).collect();
            transitions.sort_by_key(|t| t.at);
            AgingItem {
                key: i.key.clone(),
                status: transitions.last().map(|t| t.to_status.clone()),
                started_at: started,
                age_secs: (at - started).num_seconds().max(0),
            }
        })
        .collect();
    aging.sort_by(|a, b| b.age_secs.cmp(&a.age_secs).then_with(|| a.key.cmp(&b.key)));
    aging
}

fn count_categories(items: &[WorkItem], t: Timestamp) -> CategoryCounts {
    let mut counts = CategoryCounts::default();
    for category in items.iter().filter_map(|i| category_as_of(i, t)) {
        match category {
            StatusCategory::ToDo => counts.to_do += 1,
            StatusCategory::InProgress => counts.in_progress += 1,
            StatusCategory::Done => counts.done += 1,
        }
    }
    counts
}

/// Computes the flow metrics of the range of `spec`.
pub fn flow_report(items: &[WorkItem], spec: &BucketSpec) -> FlowReport {
    let completed: Vec<(&WorkItem, Timestamp)> = items
        .iter()
        .filter_map(|i| done_at(i).map(|d| (i, d)))
        .filter(|(_, d)| spec.contains(*d))
        .collect();
    let mut negative = 0;
    let mut clamp = |secs: i64| {
        if secs < 0 {
            negative += 1;
        }
        secs.max(0)
    };
    let lead: Vec<i64> = completed
        .iter()
        .map(|(i, d)| clamp((*d - i.created_at).num_seconds()))
        .collect();
    let cycle: Vec<i64> = completed
        .iter()
        .filter_map(|(i, d)| started_at(i).map(|s| clamp((*d - s).num_seconds())))
        .collect();
    let end = spec.range_end();
    FlowReport {
        completed: completed.len(),
        lead_time: Distribution::from_secs(&lead),
        cycle_time: Distribution::from_secs(&cycle),
        completed_without_start: completed.len() - cycle.len(),
        reopened: completed.iter().filter(|(i, _)| was_reopened(i)).count(),
        negative_spans_clamped: negative,
        throughput: spec.series(
            completed
                .iter()
                .map(|(i, d)| (*d, i.story_points.unwrap_or(0.0))),
            |points| ThroughputBucket {
                items: points.len() as u64,
                points: points.iter().sum(),
            },
        ),
        cumulative_flow: spec
            .buckets()
            .iter()
            .map(|b| SeriesPoint {
                period_start: b.period_start,
                value: count_categories(items, b.end),
            })
            .collect(),
        wip_at_end: wip_at(items, end),
        aging_wip: aging_wip(items, end),
    }
}
