//! `job_logs`: what a job's runs reported (never secrets), purged by retention.
use sea_orm::entity::prelude::*;

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_logs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub job_id: Uuid,
    pub at: DateTimeUtc,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
    pub fields: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
