//! `raw_records`: API payloads as collected, one row per `(client, integration, endpoint,
//! external id)`, purged by retention.
use sea_orm::entity::prelude::*;

/// One collected record.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "raw_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub integration_id: Uuid,
    pub scope: String,
    /// The API endpoint or resource kind it came from (`pulls`, `issues`, ...).
    pub endpoint: String,
    pub external_id: String,
    pub payload: Option<Json>,
    pub fetched_at: DateTimeUtc,
    /// The job that last wrote it.
    pub job_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
