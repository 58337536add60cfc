//! `incidents`.
use sea_orm::entity::prelude::*;

/// A production incident.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    /// The system the row came from (`github`, `jira`, `import`, ...).
    pub source: String,
    /// Its id in that system; unique per client and source.
    pub external_id: String,
    /// When the row was last written by an import or sync.
    pub synced_at: DateTimeUtc,
    pub title: String,
    /// `issue_rule`, `label_rule`, `revert_pr` or `manual`. Rows with source `rules` are derived
    /// by the metric rules and maintained by their recomputation.
    pub origin: String,
    pub severity: Option<String>,
    pub created_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    /// The tracker issue it came from.
    pub issue_id: Option<Uuid>,
    /// The revert pull request it came from.
    pub pull_request_id: Option<Uuid>,
    pub repository_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    /// Deployment linked explicitly (always wins).
    pub deployment_id: Option<Uuid>,
    /// The deployment charged with it: the explicit one, else the latest successful production deployment (of its repository, when known) that finished before it was created.
    pub caused_by_deployment_id: Option<Uuid>,
    /// How `caused_by_deployment_id` was found: `explicit` (`deployment_id`), `issue_link` (a
    /// label of its issue names the deployment, per the metric rules) or `inferred`; `None` when
    /// no deployment is charged.
    pub attributed_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::repo::ingested::keyed!(Entity);
