//! `integrations`: a client's connection to an external system (GitHub, Jira, a git host, ...).
use sea_orm::entity::prelude::*;

/// One configured integration. `credentials` holds AES-256-GCM ciphertext bound to
/// `"<client_id>/<id>"`; it is never returned by the API or logged.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integrations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    /// Which connector handles it (`github`, `jira`, `git`, ...).
    pub kind: String,
    pub name: String,
    pub base_url: Option<String>,
    pub credentials: Option<String>,
    /// JSON array of scope names (repositories, projects) to sync.
    pub scopes: Option<Json>,
    /// `{"interval_seconds": n}` or `{"cron": "...", "time_zone": "..."}`; null means manual only.
    pub schedule: Option<Json>,
    /// Connector-specific rules (filters, mappings).
    pub rules: Option<Json>,
    pub enabled: bool,
    /// When the scheduler last enqueued this integration's scopes.
    pub last_scheduled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
