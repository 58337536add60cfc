//! Input records of the flow metrics.

use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// The category of a workflow status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StatusCategory {
    /// Not started.
    ToDo,
    /// Being worked on.
    InProgress,
    /// Finished.
    Done,
}

/// A status change of a work item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transition {
    /// When the status changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    /// Category before the change.
    pub from_category: StatusCategory,
    /// Category after the change.
    pub to_category: StatusCategory,
    /// Status name before the change.
    pub from_status: String,
    /// Status name after the change.
    pub to_status: String,
}

/// A work item (issue, story, bug, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkItem {
    /// Issue key (e.g. `"PAY-12"`).
    pub key: String,
    /// Issue type as named by the tracker (e.g. `"Story"`).
    pub issue_type: String,
    /// Pulse's standard type (e.g. `"REQUIREMENT"`, `"BUG"`, `"INCIDENT"`).
    pub standard_type: String,
    /// When the item was created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Resolution time reported by the tracker; only used when the item has
    /// no transitions (then it is Done from this instant).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub resolved_at: Option<Timestamp>,
    /// Status changes, in any order (sorted by time before use).
    pub transitions: Vec<Transition>,
    /// Story points, if estimated.
    pub story_points: Option<f64>,
}
