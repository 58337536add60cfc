//! Leases and fencing. A claimed job is held by `(attempt, lease_owner)`; every write of the run
//! goes through a [`JobTx`] whose first statement checks, in the same transaction, that the job is
//! still running under that pair. A worker whose lease was taken over (a zombie) therefore writes
//! nothing: every write fails with [`SyncError::LeaseLost`].

use chrono::{DateTime, TimeDelta, Utc};
use pulse_core::ClientId;
use pulse_db::entity::{jobs, raw_records};
use pulse_db::sea_orm::sea_query::Expr;
use pulse_db::sea_orm::{
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
};
use pulse_db::TenantTx;
use serde_json::Value;

use crate::engine::{record_event, write_log, Engine};
use crate::error::SyncError;
use crate::ids::{IntegrationId, JobId};
use crate::model::{JobStatus, LogLevel, Progress};
use crate::retry::Decision;

/// A worker's hold on one job: the fencing token of its writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job: JobId,
    /// Its tenant.
    pub client: ClientId,
    /// The claim number this lease belongs to.
    pub attempt: u32,
    /// The worker holding it.
    pub owner: String,
}

/// Requests an administrator made that the running worker must observe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    /// Stop and mark cancelled.
    pub cancel_requested: bool,
    /// Stop and mark paused.
    pub pause_requested: bool,
}

impl Lease {
    fn fence(&self) -> Condition {
        Condition::all()
            .add(jobs::Column::Id.eq(self.job.uuid()))
            .add(jobs::Column::ClientId.eq(self.client.uuid()))
            .add(jobs::Column::Attempt.eq(i32::try_from(self.attempt).unwrap_or(i32::MAX)))
            .add(jobs::Column::LeaseOwner.eq(self.owner.as_str()))
            .add(jobs::Column::Status.eq(JobStatus::Running.as_str()))
    }

    /// Renews the lease for the engine's lease duration and reads back pending requests. Fails
    /// with [`SyncError::LeaseLost`] when another worker holds the job now.
    pub async fn heartbeat(&self, engine: &Engine) -> Result<Signals, SyncError> {
        let now = engine.now();
        let until = now + TimeDelta::from_std(engine.config().lease).unwrap_or(TimeDelta::MAX);
        let tx = engine.db().tenant(self.client).await?;
        let renewed = jobs::Entity::update_many()
            .col_expr(jobs::Column::HeartbeatAt, Expr::value(now))
            .col_expr(jobs::Column::LeaseExpiresAt, Expr::value(until))
            .filter(self.fence())
            .exec(tx.conn())
            .await?;
        if renewed.rows_affected != 1 {
            return Err(SyncError::LeaseLost);
        }
        let flags: Option<(bool, bool)> = jobs::Entity::find_by_id(self.job.uuid())
            .select_only()
            .column(jobs::Column::CancelRequested)
            .column(jobs::Column::PauseRequested)
            .into_tuple()
            .one(tx.conn())
            .await?;
        tx.commit().await?;
        let (cancel_requested, pause_requested) = flags.unwrap_or_default();
        Ok(Signals {
            cancel_requested,
            pause_requested,
        })
    }

    /// Opens a fenced transaction: fails with [`SyncError::LeaseLost`] unless the job is still
    /// ours. On PostgreSQL the fencing update also locks the job row until commit, so no rescuer
    /// can take the job over while the transaction's writes are pending.
    pub async fn begin(&self, engine: &Engine) -> Result<JobTx, SyncError> {
        let tx = engine.db().tenant_page(self.client).await?;
        let now = engine.now();
        let fenced = jobs::Entity::update_many()
            .col_expr(jobs::Column::HeartbeatAt, Expr::value(now))
            .filter(self.fence())
            .exec(tx.conn())
            .await?;
        if fenced.rows_affected != 1 {
            tx.rollback().await.ok();
            return Err(SyncError::LeaseLost);
        }
        crate::failpoint::hit("lease.after_fence");
        Ok(JobTx {
            tx,
            lease: self.clone(),
            now,
        })
    }
}

/// One collected API record, as the collect stage hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// The endpoint or resource kind (`pulls`, `issues`).
    pub endpoint: String,
    /// The upstream's id for it; `(client, integration, endpoint, external_id)` is unique.
    pub external_id: String,
    /// The payload as fetched.
    pub payload: Value,
}

/// A transaction that may write on behalf of a job, opened by [`Lease::begin`]. Commit the rows
/// of a page and the checkpoint that covers them in the same `JobTx`.
pub struct JobTx {
    tx: TenantTx,
    lease: Lease,
    now: DateTime<Utc>,
}

impl std::fmt::Debug for JobTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobTx").field("lease", &self.lease).finish()
    }
}

impl JobTx {
    /// The tenant transaction, for connector-specific upserts (which must filter and stamp by
    /// [`JobTx::client`]).
    pub fn conn(&self) -> &DatabaseTransaction {
        self.tx.conn()
    }

    /// The tenant transaction itself, for repository functions taking one.
    pub fn tenant(&self) -> &TenantTx {
        &self.tx
    }

    /// The job's tenant.
    pub fn client(&self) -> ClientId {
        self.lease.client
    }

    /// The lease this transaction is fenced on.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The time the transaction started (engine clock).
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    async fn update_job(
        &self,
        update: pulse_db::sea_orm::UpdateMany<jobs::Entity>,
    ) -> Result<(), SyncError> {
        let done = update
            .col_expr(jobs::Column::UpdatedAt, Expr::value(self.now))
            .filter(self.lease.fence())
            .exec(self.tx.conn())
            .await?;
        if done.rows_affected != 1 {
            return Err(SyncError::LeaseLost);
        }
        Ok(())
    }

    /// Stores the resume point (fenced; commit it with the rows it covers).
    pub async fn save_checkpoint(&self, checkpoint: &Value) -> Result<(), SyncError> {
        self.update_job(
            jobs::Entity::update_many()
                .col_expr(jobs::Column::Checkpoint, Expr::value(checkpoint.clone())),
        )
        .await
    }

    /// Stores a page's resume point and the progress shown for it in one fenced update (commit it
    /// with the rows the checkpoint covers).
    pub async fn save_page(
        &self,
        checkpoint: &Value,
        progress: &Progress,
    ) -> Result<(), SyncError> {
        let value = serde_json::to_value(progress).unwrap_or(Value::Null);
        self.update_job(
            jobs::Entity::update_many()
                .col_expr(jobs::Column::Checkpoint, Expr::value(checkpoint.clone()))
                .col_expr(jobs::Column::Progress, Expr::value(value)),
        )
        .await
    }

    /// Stores the progress shown for the job (fenced).
    pub async fn set_progress(&self, progress: &Progress) -> Result<(), SyncError> {
        let value = serde_json::to_value(progress).unwrap_or(Value::Null);
        self.update_job(
            jobs::Entity::update_many().col_expr(jobs::Column::Progress, Expr::value(value)),
        )
        .await
    }

    /// Inserts or replaces raw records by `(client, integration, endpoint, external_id)`, so a
    /// page written twice (at-least-once delivery) leaves one row per record.
    pub async fn upsert_raw(
        &self,
        integration: IntegrationId,
        scope: &str,
        records: &[RawRecord],
    ) -> Result<u64, SyncError> {
        let rows = records.iter().map(|r| raw_records::Model {
            id: uuid::Uuid::now_v7(),
            client_id: self.lease.client.uuid(),
            integration_id: integration.uuid(),
            scope: scope.to_string(),
            endpoint: r.endpoint.clone(),
            external_id: r.external_id.clone(),
            payload: Some(r.payload.clone()),
            fetched_at: self.now,
            job_id: Some(self.lease.job.uuid()),
        });
        Ok(pulse_db::repo::raw_records::upsert(&self.tx, rows.collect()).await?)
    }

    /// Adds a log line to the job (committed with the transaction).
    pub async fn log(
        &self,
        level: LogLevel,
        message: &str,
        fields: Option<Value>,
    ) -> Result<(), SyncError> {
        write_log(
            self.tx.conn(),
            &self.lease,
            level,
            message,
            fields,
            self.now,
        )
        .await?;
        Ok(())
    }

    /// Commits every write of the transaction.
    pub async fn commit(self) -> Result<(), SyncError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Applies the outcome of a run: the new status, its event row and the job's bookkeeping,
    /// fenced like every other write. Returns the new status (`None` for [`Decision::Abandon`]).
    pub(crate) async fn finish(
        self,
        decision: &Decision,
        counts_failure: bool,
    ) -> Result<Option<JobStatus>, SyncError> {
        let now = self.now;
        let mut update = jobs::Entity::update_many().col_expr(
            jobs::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        );
        if counts_failure {
            update = update.col_expr(
                jobs::Column::Failures,
                Expr::col(jobs::Column::Failures).add(1),
            );
        }
        let (to, message): (JobStatus, Option<String>) = match decision {
            Decision::Abandon => return Ok(None),
            Decision::Retry { at, message } => {
                update = update
                    .col_expr(jobs::Column::RunAt, Expr::value(*at))
                    .col_expr(jobs::Column::LastError, Expr::value(message.clone()));
                (
                    JobStatus::Queued,
                    Some(format!("retry at {}: {message}", at.to_rfc3339())),
                )
            }
            Decision::Fail { message } => {
                update = update
                    .col_expr(jobs::Column::FinishedAt, Expr::value(now))
                    .col_expr(jobs::Column::LastError, Expr::value(message.clone()));
                (JobStatus::Failed, Some(message.clone()))
            }
            Decision::WaitRateLimit { until, message } => {
                update = update
                    .col_expr(jobs::Column::RunAt, Expr::value(*until))
                    .col_expr(jobs::Column::LastError, Expr::value(message.clone()));
                (
                    JobStatus::WaitingRateLimit,
                    Some(format!("waiting until {}: {message}", until.to_rfc3339())),
                )
            }
            Decision::Cancel => {
                update = update
                    .col_expr(jobs::Column::FinishedAt, Expr::value(now))
                    .col_expr(jobs::Column::CancelRequested, Expr::value(false));
                (JobStatus::Cancelled, Some("cancelled".into()))
            }
            Decision::Pause => {
                update = update.col_expr(jobs::Column::PauseRequested, Expr::value(false));
                (
                    JobStatus::Paused,
                    Some("paused; resumes from its checkpoint".into()),
                )
            }
            Decision::Release => {
                update = update.col_expr(jobs::Column::RunAt, Expr::value(now));
                (
                    JobStatus::Queued,
                    Some("handed back: worker shutting down".into()),
                )
            }
        };
        self.update_job(update.col_expr(jobs::Column::Status, Expr::value(to.as_str())))
            .await?;
        record_event(
            self.tx.conn(),
            &self.lease,
            Some(JobStatus::Running),
            to,
            message,
            now,
        )
        .await?;
        self.commit().await?;
        Ok(Some(to))
    }

    /// Marks the job succeeded (fenced), keeping its final checkpoint as the next incremental
    /// run's starting point.
    pub(crate) async fn succeed(self) -> Result<(), SyncError> {
        let now = self.now;
        self.update_job(
            jobs::Entity::update_many()
                .col_expr(
                    jobs::Column::Status,
                    Expr::value(JobStatus::Succeeded.as_str()),
                )
                .col_expr(jobs::Column::FinishedAt, Expr::value(now))
                .col_expr(jobs::Column::LastError, Expr::value(Option::<String>::None))
                .col_expr(
                    jobs::Column::LeaseExpiresAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                ),
        )
        .await?;
        record_event(
            self.tx.conn(),
            &self.lease,
            Some(JobStatus::Running),
            JobStatus::Succeeded,
            None,
            now,
        )
        .await?;
        crate::failpoint::hit("worker.succeed_before_commit");
        self.commit().await
    }
}
