//! The queue's public face: [`Engine`] enqueues, controls, lists and claims jobs, and broadcasts
//! [`ProgressEvent`]s.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use pulse_core::{ClientId, Error, Result};
use pulse_db::dialect::{claim_job, ClaimKind};
use pulse_db::entity::{job_events, job_logs, jobs};
use pulse_db::repo::{Page, Paged};
use pulse_db::sea_orm::sea_query::Expr;
use pulse_db::sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use pulse_db::{Db, TenantTx};
use tokio::sync::{broadcast, mpsc, Notify};

use crate::clock::{SharedClock, SystemClock};
use crate::ids::{IntegrationId, JobId};
use crate::lease::Lease;
use crate::model::{Job, JobEvent, JobLog, JobMode, JobStatus, LogLevel, ProgressEvent};
use crate::retry::RetryPolicy;

/// Tunables of the engine. Leases are short (seconds) so a dead worker's job is rescued quickly.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long a claim or heartbeat holds a job.
    pub lease: Duration,
    /// How often a running job's worker renews its lease (well below `lease`).
    pub heartbeat: Duration,
    /// How often an idle worker looks for work when not woken by an enqueue.
    pub poll: Duration,
    /// Backoff for transient failures.
    pub retry: RetryPolicy,
    /// Failed runs allowed per job unless the enqueue says otherwise.
    pub max_attempts: u32,
    /// How long the scheduler's leadership lasts unless renewed.
    pub leader_lease: Duration,
    /// Job logs older than this are purged.
    pub log_retention: Duration,
    /// Raw records not fetched again for this long are purged.
    pub raw_retention: Duration,
}

impl EngineConfig {
    /// Checks that heartbeats renew the lease well before it ends and every duration is usable.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease.is_zero() || self.leader_lease.is_zero() {
            return Err("leases must be longer than zero".into());
        }
        if self.heartbeat.is_zero() || self.heartbeat * 2 > self.lease {
            return Err(format!(
                "the heartbeat ({:?}) must be at most half the lease ({:?})",
                self.heartbeat, self.lease
            ));
        }
        if self.poll.is_zero() || self.max_attempts == 0 {
            return Err("poll interval and max_attempts must be positive".into());
        }
        Ok(())
    }
}

impl EngineConfig {
    /// The settings the operator configured (`[etl]`, `PULSE_ETL_*`), already validated by
    /// `pulse-config` (which names the setting at fault).
    pub fn from_config(etl: &pulse_config::EtlConfig) -> Self {
        let days = |d: u32| Duration::from_secs(u64::from(d) * 24 * 3600);
        // An unvalidated negative or huge value becomes zero, which `validate` refuses.
        let secs = |s: f64| Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO);
        Self {
            lease: secs(etl.lease_seconds),
            heartbeat: secs(etl.heartbeat_seconds),
            poll: Duration::from_millis(u64::from(etl.poll_millis)),
            retry: RetryPolicy {
                base: Duration::from_secs(u64::from(etl.retry_base_seconds)),
                max_delay: Duration::from_secs(u64::from(etl.retry_max_seconds)),
            },
            max_attempts: etl.max_attempts,
            leader_lease: secs(etl.leader_lease_seconds),
            log_retention: days(etl.log_retention_days),
            raw_retention: days(etl.raw_retention_days),
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            poll: Duration::from_secs(2),
            retry: RetryPolicy::default(),
            max_attempts: 5,
            leader_lease: Duration::from_secs(30),
            log_retention: Duration::from_secs(30 * 24 * 3600),
            raw_retention: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// A request to run a job.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The integration to sync.
    pub integration: IntegrationId,
    /// Its scope.
    pub scope: String,
    /// What to do; `sync` by default.
    pub kind: String,
    /// Incremental, full or re-convert.
    pub mode: JobMode,
    /// Failed runs allowed (the engine's default when `None`).
    pub max_attempts: Option<u32>,
    /// Not before this time (now when `None`).
    pub run_at: Option<DateTime<Utc>>,
}

impl NewJob {
    /// An incremental sync of `scope`, now.
    pub fn sync(integration: IntegrationId, scope: impl Into<String>) -> Self {
        Self {
            integration,
            scope: scope.into(),
            kind: crate::worker::SYNC_KIND.into(),
            mode: JobMode::Incremental,
            max_attempts: None,
            run_at: None,
        }
    }
}

/// Filters for [`Engine::list`].
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only these statuses (any when empty).
    pub statuses: Vec<JobStatus>,
    /// Only this integration.
    pub integration: Option<IntegrationId>,
    /// Only this scope.
    pub scope: Option<String>,
}

/// A job a worker now holds, with the lease its writes are fenced on.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The job as claimed (status running, attempt incremented).
    pub job: Job,
    /// The status it was claimed from (`running` for a rescued expired lease).
    pub from: JobStatus,
    /// The lease.
    pub lease: Lease,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) clock: SharedClock,
    pub(crate) config: EngineConfig,
    pub(crate) cipher: Option<pulse_auth::crypto::Cipher>,
    events: broadcast::Sender<ProgressEvent>,
    /// Where events go for other processes, while a [`Relay`](crate::relay::Relay) runs.
    outbox: std::sync::Mutex<Option<mpsc::Sender<ProgressEvent>>>,
    /// This engine's identity in relayed events (so it skips its own).
    origin: uuid::Uuid,
    pub(crate) wake: Notify,
}

/// The job engine: a cheap-to-clone handle shared by the API, workers and the scheduler.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine on `db` with the system clock.
    pub fn new(db: Db, config: EngineConfig) -> Self {
        Self::with_clock(db, config, Arc::new(SystemClock))
    }

    /// An engine with an explicit clock (tests drive a [`ManualClock`](crate::ManualClock)).
    ///
    /// # Panics
    /// When `config` fails [`EngineConfig::validate`] (a start-up configuration error).
    pub fn with_clock(db: Db, config: EngineConfig, clock: SharedClock) -> Self {
        if let Err(e) = config.validate() {
            panic!("invalid job engine configuration: {e}");
        }
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                db,
                clock,
                config,
                cipher: None,
                events,
                outbox: std::sync::Mutex::new(None),
                origin: uuid::Uuid::new_v4(),
                wake: Notify::new(),
            }),
        }
    }

    /// Sets the cipher that decrypts integration credentials for connectors.
    pub fn with_cipher(self, cipher: pulse_auth::crypto::Cipher) -> Self {
        let inner = Arc::try_unwrap(self.inner)
            .unwrap_or_else(|_| panic!("with_cipher must be called before the engine is shared"));
        Self {
            inner: Arc::new(Inner {
                cipher: Some(cipher),
                ..inner
            }),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The engine's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The credential cipher, when configured.
    pub fn cipher(&self) -> Option<&pulse_auth::crypto::Cipher> {
        self.inner.cipher.as_ref()
    }

    /// Live progress and status events of every tenant's jobs. A subscriber serving one tenant
    /// must drop events whose `client` is not its own. Slow subscribers miss events
    /// (`RecvError::Lagged`) rather than slowing workers down.
    pub fn subscribe(&self) -> broadcast::Receiver<ProgressEvent> {
        self.inner.events.subscribe()
    }

    /// Live events of one tenant's jobs only: what a WebSocket handler should use.
    pub fn subscribe_client(&self, client: ClientId) -> ClientEvents {
        ClientEvents {
            rx: self.inner.events.subscribe(),
            client,
        }
    }

    pub(crate) fn publish(&self, event: ProgressEvent) {
        let outbox = self
            .inner
            .outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(outbox) = outbox {
            if outbox.try_send(event.clone()).is_err() {
                tracing::debug!(job = %event.job, "progress event not relayed: the relay is behind");
            }
        }
        let _ = self.inner.events.send(event);
    }

    /// Hands an event published by another process to this engine's subscribers only.
    pub(crate) fn deliver(&self, event: ProgressEvent) {
        let _ = self.inner.events.send(event);
    }

    /// Routes this engine's events to a relay as well (`None`: this process only).
    pub(crate) fn set_outbox(&self, outbox: Option<mpsc::Sender<ProgressEvent>>) {
        *self.inner.outbox.lock().unwrap_or_else(|e| e.into_inner()) = outbox;
    }

    /// This engine's identity in relayed events.
    pub fn origin(&self) -> uuid::Uuid {
        self.inner.origin
    }

    pub(crate) fn publish_status(&self, job: &Job, message: Option<String>) {
        let progress = job.progress.clone().unwrap_or_default();
        self.publish(ProgressEvent {
            client: job.client,
            job: job.id,
            integration: job.integration,
            scope: job.scope.clone(),
            status: job.status,
            attempt: job.attempt,
            phase: progress.phase,
            done: progress.done,
            total: progress.total,
            rate: None,
            eta_seconds: None,
            current: progress.current,
            waiting_until: matches!(job.status, JobStatus::Queued | JobStatus::WaitingRateLimit)
                .then_some(job.run_at)
                .filter(|at| *at > self.now()),
            message,
            at: self.now(),
        });
    }

    /// Queues a job. Refuses (409) a second active job for the same integration scope, and
    /// answers 404 for another tenant's or a missing integration.
    pub async fn enqueue(&self, client: ClientId, new: NewJob) -> Result<Job> {
        let tx = self.inner.db.tenant(client).await?;
        let job = enqueue_in(&tx, self.now(), self.config().max_attempts, new).await?;
        tx.commit().await?;
        self.inner.wake.notify_waiters();
        self.publish_status(&job, Some("queued".into()));
        Ok(job)
    }

    /// Runs a scope as soon as a worker is free: a queued (or rate-limit-waiting) job is moved to
    /// the front, a running or paused one is returned as is, otherwise an incremental job is queued.
    pub async fn run_now(
        &self,
        client: ClientId,
        integration: IntegrationId,
        scope: &str,
    ) -> Result<Job> {
        let now = self.now();
        let tx = self.inner.db.tenant(client).await?;
        if let Some(active) = active_job(&tx, integration, scope).await? {
            let job = Job::try_from(active.clone())?;
            if job.status == JobStatus::Queued && job.run_at > now {
                let done = jobs::Entity::update_many()
                    .col_expr(jobs::Column::RunAt, Expr::value(now))
                    .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
                    .filter(jobs::Column::Id.eq(active.id))
                    .filter(jobs::Column::ClientId.eq(tx.client_uuid()))
                    .filter(jobs::Column::Status.eq(JobStatus::Queued.as_str()))
                    .exec(tx.conn())
                    .await?;
                let job = load_in(&tx, JobId::from_uuid(active.id)).await?;
                tx.commit().await?;
                if done.rows_affected == 1 {
                    self.inner.wake.notify_waiters();
                }
                return Ok(job);
            }
            tx.commit().await?;
            return Ok(job);
        }
        let job = enqueue_in(
            &tx,
            now,
            self.config().max_attempts,
            NewJob::sync(integration, scope),
        )
        .await?;
        tx.commit().await?;
        self.inner.wake.notify_waiters();
        self.publish_status(&job, Some("queued to run now".into()));
        Ok(job)
    }

    /// Queues a job of `mode` for a scope now: a full re-sync (everything, ignoring the
    /// watermark) or a re-convert (the kept raw records through extract, convert and load again,
    /// without calling the source). Refused (409) while another job for the scope is active:
    /// cancel it first.
    pub async fn queue(
        &self,
        client: ClientId,
        integration: IntegrationId,
        scope: &str,
        mode: JobMode,
    ) -> Result<Job> {
        let mut new = NewJob::sync(integration, scope);
        new.mode = mode;
        self.enqueue(client, new).await
    }

    /// Cancels a job: at once when it is not running; a running job gets a flag its worker
    /// observes between pages (within a heartbeat interval), leaving the data consistent as of
    /// the last committed page. A finished job answers 409.
    pub async fn cancel(&self, client: ClientId, job: JobId) -> Result<Job> {
        self.control(client, job, Control::Cancel).await
    }

    /// Pauses a job: at once when queued or waiting; a running job stops at its next page and
    /// keeps its checkpoint.
    pub async fn pause(&self, client: ClientId, job: JobId) -> Result<Job> {
        self.control(client, job, Control::Pause).await
    }

    /// Resumes a paused job (queued again, continuing from its checkpoint), or withdraws a pause
    /// request a running job has not observed yet.
    pub async fn resume(&self, client: ClientId, job: JobId) -> Result<Job> {
        self.control(client, job, Control::Resume).await
    }

    async fn control(&self, client: ClientId, id: JobId, what: Control) -> Result<Job> {
        // A worker may change the status between our read and our write; the guarded update
        // below then affects no row and we look again.
        for _ in 0..5 {
            let now = self.now();
            let tx = self.inner.db.tenant(client).await?;
            let job = load_in(&tx, id).await?;
            // A running job whose lease has expired has no live worker to observe a flag: act on
            // it at once (a late zombie is fenced out by the status change).
            let stale = job.status == JobStatus::Running
                && job.lease_expires_at.is_none_or(|until| until < now);
            let (to, flag, message) = match (what, job.status) {
                (_, s) if s.is_terminal() => {
                    return Err(Error::Conflict(format!("the job has already {s}")))
                }
                (Control::Cancel, JobStatus::Running) if stale => (
                    Some(JobStatus::Cancelled),
                    None,
                    Some("cancelled (its worker had stopped responding)"),
                ),
                (Control::Pause, JobStatus::Running) if stale => (
                    Some(JobStatus::Paused),
                    None,
                    Some("paused (its worker had stopped responding)"),
                ),
                (Control::Cancel, JobStatus::Running) => (None, Some(Flag::Cancel(true)), None),
                (Control::Cancel, _) => (Some(JobStatus::Cancelled), None, Some("cancelled")),
                (Control::Pause, JobStatus::Running) => (None, Some(Flag::Pause(true)), None),
                (Control::Pause, JobStatus::Paused) => return Ok(job),
                (Control::Pause, _) => (Some(JobStatus::Paused), None, Some("paused")),
                (Control::Resume, JobStatus::Paused) => {
                    (Some(JobStatus::Queued), None, Some("resumed"))
                }
                (Control::Resume, JobStatus::Running) if job.pause_requested => {
                    (None, Some(Flag::Pause(false)), None)
                }
                (Control::Resume, _) => return Ok(job),
            };
            let mut update = jobs::Entity::update_many()
                .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
                .filter(jobs::Column::Id.eq(id.uuid()))
                .filter(jobs::Column::ClientId.eq(tx.client_uuid()))
                .filter(jobs::Column::Status.eq(job.status.as_str()))
                .filter(jobs::Column::Attempt.eq(job.attempt as i32));
            if stale {
                update = update.filter(
                    Condition::any()
                        .add(jobs::Column::LeaseExpiresAt.is_null())
                        .add(jobs::Column::LeaseExpiresAt.lt(now)),
                );
            }
            match flag {
                Some(Flag::Cancel(v)) => {
                    update = update.col_expr(jobs::Column::CancelRequested, Expr::value(v))
                }
                Some(Flag::Pause(v)) => {
                    update = update.col_expr(jobs::Column::PauseRequested, Expr::value(v))
                }
                None => {}
            }
            if let Some(to) = to {
                update = update
                    .col_expr(jobs::Column::Status, Expr::value(to.as_str()))
                    .col_expr(jobs::Column::PauseRequested, Expr::value(false));
                match to {
                    JobStatus::Cancelled => {
                        update = update.col_expr(jobs::Column::FinishedAt, Expr::value(now))
                    }
                    JobStatus::Queued => {
                        update = update.col_expr(jobs::Column::RunAt, Expr::value(now))
                    }
                    _ => {}
                }
            }
            if update.exec(tx.conn()).await?.rows_affected != 1 {
                continue;
            }
            match to {
                Some(to) => {
                    record_event(
                        tx.conn(),
                        &job,
                        Some(job.status),
                        to,
                        message.map(String::from),
                        now,
                    )
                    .await?
                }
                None => {
                    let message = match flag {
                        Some(Flag::Cancel(_)) => "cancel requested",
                        Some(Flag::Pause(true)) => "pause requested",
                        _ => "pause request withdrawn",
                    };
                    write_log(tx.conn(), &job, LogLevel::Info, message, None, now).await?;
                }
            }
            let updated = load_in(&tx, id).await?;
            tx.commit().await?;
            if to == Some(JobStatus::Queued) {
                self.inner.wake.notify_waiters();
            }
            self.publish_status(&updated, message.map(String::from));
            return Ok(updated);
        }
        Err(Error::Conflict(
            "the job changed state repeatedly; try again".into(),
        ))
    }

    /// One job of `client` (404 when missing or another tenant's).
    pub async fn get(&self, client: ClientId, job: JobId) -> Result<Job> {
        let tx = self.inner.db.tenant(client).await?;
        let job = load_in(&tx, job).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// The client's jobs, newest first.
    pub async fn list(
        &self,
        client: ClientId,
        filter: &JobFilter,
        page: Page,
    ) -> Result<Paged<Job>> {
        let tx = self.inner.db.tenant(client).await?;
        let mut query = jobs::Entity::find().filter(jobs::Column::ClientId.eq(tx.client_uuid()));
        if !filter.statuses.is_empty() {
            query = query
                .filter(jobs::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
        }
        if let Some(integration) = filter.integration {
            query = query.filter(jobs::Column::IntegrationId.eq(integration.uuid()));
        }
        if let Some(scope) = &filter.scope {
            query = query.filter(jobs::Column::Scope.eq(scope.as_str()));
        }
        let total = query.clone().count(tx.conn()).await?;
        let rows = query
            .order_by_desc(jobs::Column::CreatedAt)
            .order_by_desc(jobs::Column::Id)
            .limit(page.limit)
            .offset(page.offset)
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        let items = rows.into_iter().map(Job::try_from).collect::<Result<_>>()?;
        Ok(Paged { items, total })
    }

    /// Every status change of a job, oldest first.
    pub async fn history(&self, client: ClientId, job: JobId) -> Result<Vec<JobEvent>> {
        let tx = self.inner.db.tenant(client).await?;
        load_in(&tx, job).await?;
        let rows = job_events::Entity::find()
            .filter(job_events::Column::ClientId.eq(tx.client_uuid()))
            .filter(job_events::Column::JobId.eq(job.uuid()))
            .order_by_asc(job_events::Column::At)
            .order_by_asc(job_events::Column::Id)
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(JobEvent::from).collect())
    }

    /// A job's log lines, oldest first.
    pub async fn logs(&self, client: ClientId, job: JobId, page: Page) -> Result<Paged<JobLog>> {
        let tx = self.inner.db.tenant(client).await?;
        load_in(&tx, job).await?;
        let query = job_logs::Entity::find()
            .filter(job_logs::Column::ClientId.eq(tx.client_uuid()))
            .filter(job_logs::Column::JobId.eq(job.uuid()));
        let total = query.clone().count(tx.conn()).await?;
        let rows = query
            .order_by_asc(job_logs::Column::At)
            .order_by_asc(job_logs::Column::Id)
            .limit(page.limit)
            .offset(page.offset)
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(Paged {
            items: rows.into_iter().map(JobLog::from).collect(),
            total,
        })
    }

    /// Claims the next runnable job for `owner` (a worker id unique across processes), across
    /// tenants: first a running job whose lease expired (rescued with attempt + 1, resuming from
    /// its checkpoint), then a rate-limit wait that is over, then the oldest due queued job.
    pub async fn claim(&self, owner: &str) -> Result<Option<Claim>> {
        self.claim_for(owner, None).await
    }

    /// Like [`Engine::claim`], limited to `client`'s jobs when given: what a worker pinned to one
    /// client (`pulse worker --client`) calls. Another client's job is never a candidate, so it
    /// stays queued (or its expired lease unrescued) for an unpinned worker or one pinned to it.
    pub async fn claim_for(&self, owner: &str, client: Option<ClientId>) -> Result<Option<Claim>> {
        let now = self.now();
        let until = now + TimeDelta::from_std(self.config().lease).unwrap_or(TimeDelta::MAX);
        for kind in [
            ClaimKind::ExpiredLease,
            ClaimKind::Due(JobStatus::WaitingRateLimit.as_str()),
            ClaimKind::Due(JobStatus::Queued.as_str()),
        ] {
            let tx = self.inner.db.system().begin().await?;
            let Some(id) = claim_job(&tx, kind, owner, now, until, client).await? else {
                tx.commit().await?;
                continue;
            };
            let model = jobs::Entity::find_by_id(id)
                .one(&tx)
                .await?
                .ok_or(Error::NotFound)?;
            let job = Job::try_from(model)?;
            let (from, message) = match kind {
                ClaimKind::ExpiredLease => (
                    JobStatus::Running,
                    format!("lease expired; rescued by {owner}, resuming from checkpoint"),
                ),
                ClaimKind::Due(s) => (
                    JobStatus::parse(s).unwrap_or(JobStatus::Queued),
                    format!("claimed by {owner}"),
                ),
            };
            record_event(
                &tx,
                &job,
                Some(from),
                JobStatus::Running,
                Some(message.clone()),
                now,
            )
            .await?;
            tx.commit().await?;
            self.publish_status(&job, Some(message));
            let lease = Lease {
                job: job.id,
                client: job.client,
                attempt: job.attempt,
                owner: owner.to_string(),
            };
            return Ok(Some(Claim { job, from, lease }));
        }
        Ok(None)
    }

    /// Deletes job logs and raw records older than the configured retention. Cross-tenant
    /// housekeeping on the privileged connection; returns (logs, raw records) deleted.
    pub async fn purge(&self) -> Result<(u64, u64)> {
        let now = self.now();
        let conn = self.inner.db.system();
        let logs_before =
            now - TimeDelta::from_std(self.config().log_retention).unwrap_or(TimeDelta::MAX);
        let raw_before =
            now - TimeDelta::from_std(self.config().raw_retention).unwrap_or(TimeDelta::MAX);
        let logs = job_logs::Entity::delete_many()
            .filter(job_logs::Column::At.lt(logs_before))
            .exec(conn)
            .await?
            .rows_affected;
        let raw = pulse_db::entity::raw_records::Entity::delete_many()
            .filter(pulse_db::entity::raw_records::Column::FetchedAt.lt(raw_before))
            .exec(conn)
            .await?
            .rows_affected;
        Ok((logs, raw))
    }
}

/// A subscription to one tenant's [`ProgressEvent`]s (see [`Engine::subscribe_client`]).
#[derive(Debug)]
pub struct ClientEvents {
    rx: broadcast::Receiver<ProgressEvent>,
    client: ClientId,
}

impl ClientEvents {
    /// The next event of this tenant; `None` once the engine is gone. Events missed because the
    /// subscriber fell behind are skipped (the job rows stay the source of truth).
    pub async fn recv(&mut self) -> Option<ProgressEvent> {
        loop {
            match self.rx.recv().await {
                Ok(event) if event.client == self.client => return Some(event),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Control {
    Cancel,
    Pause,
    Resume,
}

#[derive(Debug, Clone, Copy)]
enum Flag {
    Cancel(bool),
    Pause(bool),
}

pub(crate) async fn load_in(tx: &TenantTx, id: JobId) -> Result<Job> {
    let model = jobs::Entity::find_by_id(id.uuid())
        .filter(jobs::Column::ClientId.eq(tx.client_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(Error::NotFound)?;
    Job::try_from(model)
}

async fn active_job(
    tx: &TenantTx,
    integration: IntegrationId,
    scope: &str,
) -> Result<Option<jobs::Model>> {
    Ok(jobs::Entity::find()
        .filter(jobs::Column::ClientId.eq(tx.client_uuid()))
        .filter(jobs::Column::IntegrationId.eq(integration.uuid()))
        .filter(jobs::Column::Scope.eq(scope))
        .filter(
            jobs::Column::Status.is_in(
                JobStatus::ALL
                    .into_iter()
                    .filter(|s| s.is_active())
                    .map(|s| s.as_str()),
            ),
        )
        .one(tx.conn())
        .await?)
}

/// Queues a job inside a tenant transaction (shared by the API path and the scheduler).
pub(crate) async fn enqueue_in(
    tx: &TenantTx,
    now: DateTime<Utc>,
    default_attempts: u32,
    new: NewJob,
) -> Result<Job> {
    let scope = new.scope.trim();
    if scope.is_empty() {
        return Err(Error::invalid("scope", "must not be empty"));
    }
    crate::integrations::get(tx, new.integration).await?;
    if let Some(active) = active_job(tx, new.integration, scope).await? {
        return Err(Error::Conflict(format!(
            "job {} for this integration scope is already {}; cancel it or wait for it to finish",
            active.id, active.status
        )));
    }
    let max_attempts = new.max_attempts.unwrap_or(default_attempts).max(1);
    let model = jobs::ActiveModel {
        id: Set(JobId::new().uuid()),
        client_id: Set(tx.client_uuid()),
        integration_id: Set(new.integration.uuid()),
        kind: Set(new.kind),
        scope: Set(scope.to_string()),
        mode: Set(new.mode.as_str().into()),
        status: Set(JobStatus::Queued.as_str().into()),
        attempt: Set(0),
        failures: Set(0),
        max_attempts: Set(i32::try_from(max_attempts).unwrap_or(i32::MAX)),
        run_at: Set(new.run_at.unwrap_or(now)),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        heartbeat_at: Set(None),
        progress: Set(None),
        checkpoint: Set(None),
        last_error: Set(None),
        cancel_requested: Set(false),
        pause_requested: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
    }
    // The partial unique index turns a concurrent duplicate into a 409 as well.
    .insert(tx.conn())
    .await?;
    let job = Job::try_from(model)?;
    record_event(
        tx.conn(),
        &job,
        None,
        JobStatus::Queued,
        Some(format!("{} {}", job.mode.as_str(), job.kind)),
        now,
    )
    .await?;
    Ok(job)
}

/// What a log or event row needs to know about its job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobRef {
    pub(crate) client: ClientId,
    pub(crate) job: JobId,
    pub(crate) attempt: u32,
}

impl From<&Job> for JobRef {
    fn from(j: &Job) -> Self {
        JobRef {
            client: j.client,
            job: j.id,
            attempt: j.attempt,
        }
    }
}

impl From<&Lease> for JobRef {
    fn from(l: &Lease) -> Self {
        JobRef {
            client: l.client,
            job: l.job,
            attempt: l.attempt,
        }
    }
}

/// Writes a `job_events` row.
pub(crate) async fn record_event(
    conn: &impl ConnectionTrait,
    job: impl Into<JobRef>,
    from: Option<JobStatus>,
    to: JobStatus,
    message: Option<String>,
    at: DateTime<Utc>,
) -> Result<()> {
    let job = job.into();
    job_events::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        client_id: Set(job.client.uuid()),
        job_id: Set(job.job.uuid()),
        at: Set(at),
        from_status: Set(from.map(|s| s.as_str().to_string())),
        to_status: Set(to.as_str().into()),
        attempt: Set(i32::try_from(job.attempt).unwrap_or(i32::MAX)),
        message: Set(message),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Writes a `job_logs` row.
pub(crate) async fn write_log(
    conn: &impl ConnectionTrait,
    job: impl Into<JobRef>,
    level: LogLevel,
    message: &str,
    fields: Option<serde_json::Value>,
    at: DateTime<Utc>,
) -> Result<()> {
    let job = job.into();
    job_logs::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        client_id: Set(job.client.uuid()),
        job_id: Set(job.job.uuid()),
        at: Set(at),
        level: Set(level.as_str().into()),
        message: Set(message.into()),
        fields: Set(fields),
    }
    .insert(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_settings_map_to_the_engine() {
        let defaults = EngineConfig::from_config(&pulse_config::EtlConfig::default());
        let builtin = EngineConfig::default();
        assert_eq!(defaults.lease, builtin.lease);
        assert_eq!(defaults.heartbeat, builtin.heartbeat);
        assert_eq!(defaults.poll, builtin.poll);
        assert_eq!(defaults.retry, builtin.retry);
        assert_eq!(defaults.max_attempts, builtin.max_attempts);
        assert_eq!(defaults.leader_lease, builtin.leader_lease);
        assert_eq!(defaults.log_retention, builtin.log_retention);
        assert_eq!(defaults.raw_retention, builtin.raw_retention);

        let etl = pulse_config::EtlConfig {
            lease_seconds: 1.5,
            heartbeat_seconds: 0.25,
            poll_millis: 40,
            max_attempts: 100,
            retry_base_seconds: 2,
            retry_max_seconds: 9,
            leader_lease_seconds: 3.0,
            log_retention_days: 1,
            raw_retention_days: 2,
            ..Default::default()
        };
        let c = EngineConfig::from_config(&etl);
        assert_eq!(c.lease, Duration::from_millis(1500));
        assert_eq!(c.heartbeat, Duration::from_millis(250));
        assert_eq!(c.poll, Duration::from_millis(40));
        assert_eq!(c.max_attempts, 100);
        assert_eq!(
            c.retry,
            RetryPolicy {
                base: Duration::from_secs(2),
                max_delay: Duration::from_secs(9)
            }
        );
        assert_eq!(c.leader_lease, Duration::from_secs(3));
        assert_eq!(c.log_retention, Duration::from_secs(86_400));
        assert_eq!(c.raw_retention, Duration::from_secs(2 * 86_400));
        assert!(c.validate().is_ok());

        let broken = EngineConfig::from_config(&pulse_config::EtlConfig {
            lease_seconds: -1.0,
            ..Default::default()
        });
        assert!(broken.validate().is_err());
    }
}
