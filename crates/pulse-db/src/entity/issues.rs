//! `issues`.
use sea_orm::entity::prelude::*;

/// A work item (Jira issue).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "issues")]
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
    /// e.g. `PAY-12`.
    pub key: String,
    pub project_key: Option<String>,
    pub title: String,
    /// As named by the tracker.
    pub issue_type: String,
    /// `story`, `bug`, `task`, `subtask`, `epic`, `incident` or `other`.
    pub standard_type: String,
    pub status: String,
    /// `to_do`, `in_progress` or `done`.
    pub status_category: String,
    pub priority: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub story_points: Option<f64>,
    pub parent_id: Option<Uuid>,
    pub epic_id: Option<Uuid>,
    /// Tracker account id of the assignee.
    pub assignee_account: Option<String>,
    pub assignee_person_id: Option<Uuid>,
    /// Label names (JSON array).
    pub labels: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::repo::ingested::keyed!(Entity);
