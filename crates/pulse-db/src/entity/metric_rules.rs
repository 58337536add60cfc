//! `metric_rules`: a client's metric rules (the row without a project) and per-project overrides.
use sea_orm::entity::prelude::*;

/// A rules document: the client's whole document, or a project's partial override.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "metric_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    /// `None`: the client's rules; otherwise the project whose override this is.
    pub project_id: Option<Uuid>,
    /// The JSON document (validated before it is stored).
    pub document: Json,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
