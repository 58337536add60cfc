//! `sessions`: one row per login; revoking it ends every token issued for it.
use sea_orm::entity::prelude::*;

/// A login session.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub user_id: Uuid,
    /// SHA-256 of the current refresh token.
    pub refresh_hash: String,
    /// SHA-256 of the previous refresh token.
    pub previous_refresh_hash: Option<String>,
    /// Generation of the current refresh token; every rotation increments it. A token of an
    /// earlier generation is reuse.
    pub refresh_generation: i64,
    pub created_at: DateTimeUtc,
    pub last_used_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_reason: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
