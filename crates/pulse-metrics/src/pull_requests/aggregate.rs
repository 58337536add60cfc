//! Pull-request aggregates over a range.

use super::cycle_time::{cycle_time, CycleTime};
use super::model::{PullRequest, SizeBucket};
use crate::stats::{ratio, Distribution};
use crate::time::{BucketSpec, SeriesPoint};
use serde::{Deserialize, Serialize};

/// Distributions of each cycle-time stage, in seconds, over the same set of
/// pull requests (so their means add up to the mean total; medians in general
/// do not add up).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageDistributions {
    /// Coding stage.
    pub coding: Option<Distribution>,
    /// Pickup stage (0 for unreviewed pull requests).
    pub pickup: Option<Distribution>,
    /// Review stage.
    pub review: Option<Distribution>,
    /// Deploy stage (0 for undeployed pull requests).
    pub deploy: Option<Distribution>,
    /// Total cycle time.
    pub total: Option<Distribution>,
}

/// Number of merged pull requests per size class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SizeCounts {
    /// XS: fewer than 10 changed lines.
    pub xs: usize,
    /// S: 10 to 49.
    pub s: usize,
    /// M: 50 to 249.
    pub m: usize,
    /// L: 250 to 999.
    pub l: usize,
    /// XL: 1000 or more.
    pub xl: usize,
}

impl SizeCounts {
    fn add(&mut self, bucket: SizeBucket) {
        match bucket {
            SizeBucket::Xs => self.xs += 1,
            SizeBucket::S => self.s += 1,
            SizeBucket::M => self.m += 1,
            SizeBucket::L => self.l += 1,
            SizeBucket::Xl => self.xl += 1,
        }
    }
}

/// Review depth: reviews and comments per merged pull request.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewDepth {
    /// Reviews by someone other than the author, per pull request.
    pub reviews_per_pr: Option<Distribution>,
    /// Comments per pull request.
    pub comments_per_pr: Option<Distribution>,
}

/// Commits pushed after the first review.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReworkAfterReview {
    /// Merged pull requests that were reviewed.
    pub reviewed_prs: usize,
    /// Of those, pull requests with at least one commit after the first review.
    pub prs_with_rework: usize,
    /// `prs_with_rework / reviewed_prs`; `None` when nothing was reviewed.
    pub share: Option<f64>,
    /// Total commits after first review.
    pub commits: usize,
    /// Commits after first review per reviewed pull request.
    pub commits_per_reviewed_pr: Option<Distribution>,
}

/// Pull-request aggregates over the pull requests merged in a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullRequestReport {
    /// Pull requests merged in the range.
    pub merged: usize,
    /// Merged pull requests per bucket of merge time (throughput).
    pub throughput: Vec<SeriesPoint<u64>>,
    /// Cycle-time stages over all merged pull requests of the range.
    pub cycle_time: StageDistributions,
    /// Merged pull requests with a known production deployment.
    pub deployed: usize,
    /// Merged pull requests never deployed (their total ends at the merge).
    pub merged_not_deployed: usize,
    /// Pull requests whose raw times were out of order and clamped.
    pub clamped: usize,
    /// Size classes.
    pub size: SizeCounts,
    /// Changed lines (`additions + deletions`) per pull request.
    pub size_distribution: Option<Distribution>,
    /// Ready for review to first review, seconds, over reviewed pull requests.
    pub time_to_first_review: Option<Distribution>,
    /// Reviews and comments per pull request.
    pub review_depth: ReviewDepth,
    /// Merged pull requests without any review by someone other than the author.
    pub merged_without_review: usize,
    /// `merged_without_review / merged`; `None` when nothing was merged.
    pub merged_without_review_share: Option<f64>,
    /// Commits pushed after the first review.
    pub rework_after_review: ReworkAfterReview,
}

/// Aggregates the pull requests merged (by `merged_at`) in the range of `spec`.
pub fn pull_request_report(prs: &[PullRequest], spec: &BucketSpec) -> PullRequestReport {
    let merged: Vec<&PullRequest> = prs
        .iter()
        .filter(|p| p.merged_at.is_some_and(|m| spec.contains(m)))
        .collect();
    let times: Vec<CycleTime> = merged.iter().filter_map(|p| cycle_time(p)).collect();
    let dist = |f: fn(&CycleTime) -> i64| {
        Distribution::from_secs(&times.iter().map(f).collect::<Vec<_>>())
    };
    let reviewed: Vec<(&&PullRequest, &CycleTime)> = merged
        .iter()
        .zip(&times)
        .filter(|(_, c)| c.reviewed)
        .collect();
    let rework: Vec<f64> = reviewed
        .iter()
        .map(|(p, _)| p.commits_after_first_review() as f64)
        .collect();
    let prs_with_rework = rework.iter().filter(|&&c| c > 0.0).count();
    let mut size = SizeCounts::default();
    merged.iter().for_each(|p| size.add(p.size()));
    let per_pr = |f: &dyn Fn(&PullRequest) -> f64| {
        Distribution::from_values(&merged.iter().map(|p| f(p)).collect::<Vec<_>>())
    };
    let unreviewed = times.iter().filter(|c| !c.reviewed).count();
    PullRequestReport {
        merged: merged.len(),
        throughput: spec.count_series(merged.iter().filter_map(|p| p.merged_at)),
        cycle_time: StageDistributions {
            coding: dist(|c| c.coding_secs),
            pickup: dist(|c| c.pickup_secs),
            review: dist(|c| c.review_secs),
            deploy: dist(|c| c.deploy_secs),
            total: dist(|c| c.total_secs),
        },
        deployed: times.iter().filter(|c| c.deployed).count(),
        merged_not_deployed: times.iter().filter(|c| !c.deployed).count(),
        clamped: times.iter().filter(|c| c.clamped).count(),
        size,
        size_distribution: per_pr(&|p| p.changed_lines() as f64),
        time_to_first_review: Distribution::from_secs(
            &reviewed
                .iter()
                .map(|(_, c)| c.pickup_secs)
                .collect::<Vec<_>>(),
        ),
        review_depth: ReviewDepth {
            reviews_per_pr: per_pr(&|p| p.review_count() as f64),
            comments_per_pr: per_pr(&|p| f64::from(p.comment_count)),
        },
        merged_without_review: unreviewed,
        merged_without_review_share: ratio(unreviewed, merged.len()),
        rework_after_review: ReworkAfterReview {
            reviewed_prs: reviewed.len(),
            prs_with_rework,
            share: ratio(prs_with_rework, reviewed.len()),
            commits: rework.iter().sum::<f64>() as usize,
            commits_per_reviewed_pr: Distribution::from_values(&rework),
        },
    }
}
