//! `commits`.
use sea_orm::entity::prelude::*;

/// A commit of a repository.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commits")]
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
    pub repository_id: Uuid,
    pub sha: String,
    /// First line of the message.
    pub message: Option<String>,
    pub author_name: Option<String>,
    /// Lower-cased.
    pub author_email: Option<String>,
    pub author_login: Option<String>,
    pub author_person_id: Option<Uuid>,
    pub authored_at: DateTimeUtc,
    pub committed_at: DateTimeUtc,
    pub additions: i64,
    pub deletions: i64,
    /// Parents: 0 for a root commit, 2 or more for a merge; `None` when the source did not say.
    pub parent_count: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::repo::ingested::keyed!(Entity);
