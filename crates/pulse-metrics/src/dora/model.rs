//! Input records of the DORA metrics.

use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// Outcome of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// The deployment completed successfully.
    Success,
    /// The deployment failed.
    Failure,
    /// The deployment was cancelled before completing.
    Cancelled,
    /// The deployment has not finished yet.
    InProgress,
    /// The source did not report a usable status.
    Unknown,
}

/// Where a deployment record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeploymentSource {
    /// A GitHub Deployment (deployments API).
    GithubDeployment,
    /// A CI workflow run recognised as a deployment.
    WorkflowRun,
    /// A published release.
    Release,
    /// A pushed tag.
    Tag,
    /// A deployment reported through Pulse's webhook.
    Webhook,
    /// A deployment recorded by hand.
    Manual,
    /// No deployment data: each merged pull request is treated as deployed at merge.
    MergedPrFallback,
}

/// One deployment. A deployment may span several repositories; it is still
/// one deployment (counted once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deployment {
    /// Unique id. Several records with the same id are merged into one
    /// deployment (see [`super::normalize_deployments`]).
    pub id: String,
    /// Repositories deployed (one or more).
    pub repos: Vec<String>,
    /// Environment name as reported by the source (e.g. `"production"`).
    pub environment: String,
    /// Whether the environment is production (decided by the storage layer's
    /// environment mapping).
    pub is_production: bool,
    /// Outcome.
    pub status: DeploymentStatus,
    /// When the deployment started.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: Timestamp,
    /// When the deployment finished; `None` while it is running.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<Timestamp>,
    /// Where the record came from.
    pub source: DeploymentSource,
}

impl Deployment {
    /// A successful production deployment: production, status `success` and a
    /// finish time. Only these count as deployments in the DORA metrics.
    pub fn is_successful_production(&self) -> bool {
        self.is_production && self.status == DeploymentStatus::Success && self.finished_at.is_some()
    }

    /// A failed production deployment (status `failure`).
    pub fn is_failed_production(&self) -> bool {
        self.is_production && self.status == DeploymentStatus::Failure
    }

    /// Whether the deployment includes `repo`.
    pub fn touches(&self, repo: &str) -> bool {
        self.repos.iter().any(|r| r == repo)
    }
}

/// A change shipped to production: a merged pull request, or a commit pushed
/// directly to the deployed branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    /// Unique id (e.g. `"api#123"`).
    pub id: String,
    /// Repository of the change.
    pub repo: String,
    /// Time of the change's first commit (the start of lead time). For a
    /// squash-merged pull request this is the first commit of the pull
    /// request's own history, not the squash commit.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub first_commit_at: Timestamp,
    /// When the change reached the deployed branch (for a pull request: the
    /// time of its merge commit, or squash commit). `None` if never merged.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub merged_at: Option<Timestamp>,
    /// Id of the deployment that shipped the change, if known.
    pub deployed_by: Option<String>,
}

/// A production incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Incident {
    /// Unique id.
    pub id: String,
    /// When the incident was opened.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When the incident was resolved; `None` while open.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub resolved_at: Option<Timestamp>,
    /// The deployment the incident is charged to. Filled by
    /// [`super::attribute_incidents`]; read by the metrics.
    pub caused_by: Option<String>,
    /// A deployment linked explicitly by a person or integration (for example
    /// through a label or a field on the incident). Always wins over inference.
    pub explicit_deployment: Option<String>,
}

/// How far apart (in days) two events may be for one to explain the other: a change is shipped
/// by a deployment that finished at most this long after its merge, a failed deployment recovers
/// with a success at most this long after it, a deployment fixes an incident (rework) at most
/// this long after the incident was created, and an incident is charged to a deployment that
/// finished at most this long before it (or, for an explicit link, before or after it).
///
/// The bound makes every per-item outcome depend only on the records within a fixed distance of
/// the item, so a report over a range needs only the range widened by this context, and
/// incrementally maintained aggregates need to recompute only the neighbourhood of a change.
pub const CONTEXT_DAYS: i64 = 90;

/// [`CONTEXT_DAYS`] as a duration.
pub fn context() -> chrono::TimeDelta {
    chrono::TimeDelta::days(CONTEXT_DAYS)
}

/// How incidents without an explicit link are charged to a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributionRule {
    /// Only infer a cause among deployments that finished at most this long
    /// before the incident was created. `None`: the [`CONTEXT_DAYS`] bound
    /// only (a longer window is capped to it).
    pub window: Option<std::time::Duration>,
}
