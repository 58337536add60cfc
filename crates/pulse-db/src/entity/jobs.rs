//! `jobs`: the durable queue. A row is claimed under a short lease renewed by heartbeats; every
//! write a run makes is fenced on `(attempt, lease_owner)`.
use sea_orm::entity::prelude::*;

/// One job.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub integration_id: Uuid,
    /// What to do (`sync`, ...).
    pub kind: String,
    /// The integration scope (a repository, a project).
    pub scope: String,
    /// `incremental` or `full`.
    pub mode: String,
    /// `queued`, `running`, `paused`, `succeeded`, `failed`, `cancelled`, `waiting_rate_limit`.
    pub status: String,
    /// Number of claims so far; the fencing token of the current run.
    pub attempt: i32,
    /// Failed runs so far (rate-limit waits, pauses and cancellations do not count).
    pub failures: i32,
    pub max_attempts: i32,
    /// Not claimable before this time.
    pub run_at: DateTimeUtc,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub heartbeat_at: Option<DateTimeUtc>,
    pub progress: Option<Json>,
    /// Where a resumed run continues; committed with the rows it covers.
    pub checkpoint: Option<Json>,
    pub last_error: Option<String>,
    pub cancel_requested: bool,
    pub pause_requested: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
