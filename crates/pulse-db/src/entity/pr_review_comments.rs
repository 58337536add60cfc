//! `pr_review_comments`.
use sea_orm::entity::prelude::*;

/// A review or discussion comment on a pull request.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pr_review_comments")]
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
    pub pull_request_id: Uuid,
    pub review_id: Option<Uuid>,
    pub author_login: Option<String>,
    pub author_person_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::repo::ingested::keyed!(Entity);
