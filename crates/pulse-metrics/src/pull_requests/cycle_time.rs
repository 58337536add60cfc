//! Per-pull-request cycle-time breakdown.

use super::model::PullRequest;
use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// Cycle time of one merged pull request, split into four stages that always
/// add up to the total: `coding + pickup + review + deploy == total`.
///
/// Stages are measured between five boundaries, each made monotone by
/// `boundary = max(previous boundary, raw time)`:
///
/// 1. start: first commit (or `created_at` when there are no commits);
/// 2. ready: `created_at`, or for a pull request opened as a draft its
///    `ready_for_review_at` (falling back to the first review, then the merge,
///    when a draft was never marked ready);
/// 3. first review: first review by someone other than the author; when there
///    is no review this boundary equals *ready* (pickup is 0 and the whole
///    ready-to-merge span is the review stage);
/// 4. merged;
/// 5. deployed: production deployment finished; when undeployed this equals
///    *merged* (deploy is 0 and the total ends at the merge).
///
/// All values are whole seconds (differences of Unix seconds), never negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CycleTime {
    /// Pull request id.
    pub id: String,
    /// First commit to ready for review.
    pub coding_secs: i64,
    /// Ready for review to first review.
    pub pickup_secs: i64,
    /// First review to merge.
    pub review_secs: i64,
    /// Merge to production deployment finished.
    pub deploy_secs: i64,
    /// First commit to deployed (or merged when undeployed).
    pub total_secs: i64,
    /// Whether a production deployment is known.
    pub deployed: bool,
    /// Whether someone other than the author reviewed it.
    pub reviewed: bool,
    /// Whether a raw time was out of order and moved to keep stages non-negative.
    pub clamped: bool,
}

/// The cycle-time breakdown of a pull request, or `None` if it is not merged.
pub fn cycle_time(pr: &PullRequest) -> Option<CycleTime> {
    let merged = pr.merged_at?;
    let first_review = pr.first_review_at();
    let ready_raw = if pr.opened_as_draft {
        pr.ready_for_review_at.or(first_review).unwrap_or(merged)
    } else {
        pr.created_at
    };
    let start = pr.first_commit_at().unwrap_or(pr.created_at);
    let mut clamped = false;
    let mut advance = |previous: Timestamp, raw: Timestamp| {
        if raw < previous {
            clamped = true;
        }
        previous.max(raw)
    };
    let ready = advance(start, ready_raw);
    let reviewed = first_review.map(|r| advance(ready, r)).unwrap_or(ready);
    let merged = advance(reviewed, merged);
    let deployed = pr.deployed_at.map(|d| advance(merged, d)).unwrap_or(merged);
    let secs = |from: Timestamp, to: Timestamp| to.timestamp() - from.timestamp();
    Some(CycleTime {
        id: pr.id.clone(),
        coding_secs: secs(start, ready),
        pickup_secs: secs(ready, reviewed),
        review_secs: secs(reviewed, merged),
        deploy_secs: secs(merged, deployed),
        total_secs: secs(start, deployed),
        deployed: pr.deployed_at.is_some(),
        reviewed: first_review.is_some(),
        clamped,
    })
}
