//! Input records of the pull-request metrics.

use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// State of a submitted review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Approved.
    Approved,
    /// Changes requested.
    ChangesRequested,
    /// Commented without a verdict.
    Commented,
    /// Dismissed after submission (still counts as a review that happened).
    Dismissed,
}

/// A review submitted on a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Review {
    /// Login of the reviewer.
    pub reviewer: String,
    /// When the review was submitted.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub submitted_at: Timestamp,
    /// Review state.
    pub state: ReviewState,
}

/// A pull request (merge request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullRequest {
    /// Unique id (e.g. `"api#42"`).
    pub id: String,
    /// Repository.
    pub repo: String,
    /// Login of the author; reviews by the author are not reviews.
    pub author: String,
    /// When the pull request was opened.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Whether it was opened as a draft.
    pub opened_as_draft: bool,
    /// When a draft was marked ready for review (ignored unless `opened_as_draft`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub ready_for_review_at: Option<Timestamp>,
    /// When it was merged; `None` if not merged.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub merged_at: Option<Timestamp>,
    /// When the production deployment that shipped it finished; `None` if not
    /// deployed (yet).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub deployed_at: Option<Timestamp>,
    /// Commit times of the pull request's own commits (before any squash).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, format = DateTime))]
    pub commit_times: Vec<Timestamp>,
    /// Submitted reviews, in any order.
    pub reviews: Vec<Review>,
    /// Number of review and discussion comments.
    pub comment_count: u32,
    /// Lines added.
    pub additions: u64,
    /// Lines deleted.
    pub deletions: u64,
}

/// Size class of a pull request by changed lines (`additions + deletions`):
/// XS < 10, S < 50, M < 250, L < 1000, XL >= 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SizeBucket {
    /// 0–9 changed lines.
    Xs,
    /// 10–49 changed lines.
    S,
    /// 50–249 changed lines.
    M,
    /// 250–999 changed lines.
    L,
    /// 1000 or more changed lines.
    Xl,
}

impl SizeBucket {
    /// The size class of a number of changed lines.
    pub fn of_lines(lines: u64) -> Self {
        match lines {
            0..=9 => SizeBucket::Xs,
            10..=49 => SizeBucket::S,
            50..=249 => SizeBucket::M,
            250..=999 => SizeBucket::L,
            _ => SizeBucket::Xl,
        }
    }
}

impl PullRequest {
    /// Changed lines: `additions + deletions`.
    pub fn changed_lines(&self) -> u64 {
        self.additions.saturating_add(self.deletions)
    }

    /// Size class of the pull request.
    pub fn size(&self) -> SizeBucket {
        SizeBucket::of_lines(self.changed_lines())
    }

    /// Time of the first commit, if the pull request has commits.
    pub fn first_commit_at(&self) -> Option<Timestamp> {
        self.commit_times.iter().min().copied()
    }

    /// Time of the first review by someone other than the author.
    pub fn first_review_at(&self) -> Option<Timestamp> {
        self.reviews
            .iter()
            .filter(|r| r.reviewer != self.author)
            .map(|r| r.submitted_at)
            .min()
    }

    /// Number of reviews by someone other than the author.
    pub fn review_count(&self) -> usize {
        self.reviews
            .iter()
            .filter(|r| r.reviewer != self.author)
            .count()
    }

    /// Commits made after the first review (rework after review); 0 when unreviewed.
    pub fn commits_after_first_review(&self) -> usize {
        self.first_review_at().map_or(0, |first| {
            self.commit_times.iter().filter(|&&t| t > first).count()
        })
    }
}
