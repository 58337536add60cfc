//! Pull-request metrics: the per-PR cycle-time breakdown ([`cycle_time`]) and
//! aggregates over a range ([`pull_request_report`]).

mod aggregate;
mod cycle_time;
mod model;

pub use aggregate::{
    pull_request_report, PullRequestReport, ReviewDepth, ReworkAfterReview, SizeCounts,
    StageDistributions,
};
pub use cycle_time::{cycle_time, CycleTime};
pub use model::{PullRequest, Review, ReviewState, SizeBucket};
