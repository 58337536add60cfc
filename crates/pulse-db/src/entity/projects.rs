//! `projects`.
use sea_orm::entity::prelude::*;

/// A portfolio project: repositories, Jira projects and boards owned by teams.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
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
    pub name: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::repo::ingested::keyed!(Entity);
