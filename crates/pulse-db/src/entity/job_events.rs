//! `job_events`: one row per status change of a job.
use sea_orm::entity::prelude::*;

/// A status change.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub job_id: Uuid,
    pub at: DateTimeUtc,
    /// Null for the creation event.
    pub from_status: Option<String>,
    pub to_status: String,
    pub attempt: i32,
    pub message: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
