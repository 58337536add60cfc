//! `sprint_issues`.
use sea_orm::entity::prelude::*;

/// An issue's membership of a sprint: added at `added_at` (null: before the sprint started), removed at `removed_at` (null: still in it).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sprint_issues")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub sprint_id: Uuid,
    pub issue_id: Uuid,
    pub added_at: Option<DateTimeUtc>,
    pub removed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
