//! Lead time for changes.

use super::linking::{finish, DeploymentSet};
use super::model::{Change, Deployment};
use crate::stats::{median, Distribution};
use crate::time::{BucketSpec, SeriesPoint};
use serde::{Deserialize, Serialize};

/// Lead time for changes over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeadTime {
    /// Lead times in seconds of the changes whose deployment finished in the
    /// range: `deployment.finished_at - change.first_commit_at`, negative
    /// spans clamped to 0. `None` when no change was deployed in the range.
    pub distribution: Option<Distribution>,
    /// Number of changes measured (same as `distribution.count`).
    pub changes: usize,
    /// How many of those changes had a negative span (first commit after the
    /// deployment finished, e.g. from clock skew or rewritten history) and
    /// were counted as 0.
    pub negative_spans_clamped: usize,
    /// Changes merged in the range that were never deployed (no deployment
    /// link). Reported separately; they are not part of the lead time.
    pub merged_not_deployed: usize,
    /// Ids of those changes.
    pub merged_not_deployed_ids: Vec<String>,
    /// Changes linked to a deployment id that is not a known successful
    /// production deployment; they are neither measured nor counted as
    /// undeployed.
    pub unknown_deployment_links: usize,
    /// Median lead time (seconds) per bucket of deployment finish time;
    /// `None` for buckets without deployed changes.
    pub median_series: Vec<SeriesPoint<Option<f64>>>,
}

/// Computes lead time for changes. Reads [`Change::deployed_by`] (see
/// [`super::link_changes_to_deployments`]).
pub fn lead_time_for_changes(
    deployments: &[Deployment],
    changes: &[Change],
    spec: &BucketSpec,
) -> LeadTime {
    let set = DeploymentSet::new(deployments);
    let mut samples = Vec::new();
    let mut negative = 0;
    let mut not_deployed = Vec::new();
    let mut unknown = 0;
    for change in changes {
        match &change.deployed_by {
            Some(id) => match set.get_successful(id) {
                Some(d) if spec.contains(finish(d)) => {
                    let span = (finish(d) - change.first_commit_at).num_seconds();
                    if span < 0 {
                        negative += 1;
                    }
                    samples.push((finish(d), span.max(0) as f64));
                }
                Some(_) => {}
                None => unknown += 1,
            },
            None => {
                if change.merged_at.is_some_and(|m| spec.contains(m)) {
                    not_deployed.push(change.id.clone());
                }
            }
        }
    }
    let values: Vec<f64> = samples.iter().map(|&(_, v)| v).collect();
    LeadTime {
        distribution: Distribution::from_values(&values),
        changes: values.len(),
        negative_spans_clamped: negative,
        merged_not_deployed: not_deployed.len(),
        merged_not_deployed_ids: not_deployed,
        unknown_deployment_links: unknown,
        median_series: spec.series(samples, median),
    }
}
