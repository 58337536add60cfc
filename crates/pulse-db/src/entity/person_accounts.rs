//! `person_accounts`.
use sea_orm::entity::prelude::*;

/// An account of a person in a tool (explicit mapping, used when the e-mail does not match).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "person_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub person_id: Uuid,
    /// `github` or `jira`.
    pub provider: String,
    /// Login (GitHub) or account id (Jira).
    pub login: String,
    /// Mapped by an administrator: imports leave it alone, and it wins over an e-mail match.
    pub explicit: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
