//! `people`.
use sea_orm::entity::prelude::*;

/// A person, one across their GitHub and Jira accounts.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "people")]
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
    /// Lower-cased e-mail; the first key used to match an account to the person.
    pub email: Option<String>,
    /// Set when the person was merged into another: the row stays so that a re-import of its
    /// source record updates it, and everything that resolves to it resolves to that person.
    /// Imports never change it.
    pub merged_into_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::repo::ingested::keyed!(Entity);
