//! The connector interface and the context a sync runs in.
//!
//! A connector works in explicit stages: **collect** (API → [`RawRecord`]s, written with the
//! checkpoint that covers them), **extract** (raw → the connector's rows, [`Extract`]) and
//! **convert** (rows → the normalized model, [`Convert`]). Extract and convert are pure, so they
//! are tested from recorded payloads without a database or network.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::engine::Engine;
use crate::error::SyncError;
use crate::integrations::IntegrationConfig;
use crate::lease::{JobTx, Lease, RawRecord};
use crate::model::{Job, JobMode, LogLevel, Progress, ProgressEvent};

/// What a connector tells the UI about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectorInfo {
    /// The integration kind it handles (`github`).
    pub kind: String,
    /// Display name.
    pub name: String,
    /// JSON Schema of the integration's `rules`.
    pub rules_schema: Value,
    /// What a scope is called (`repository`, `project`).
    pub scope_label: String,
}

/// A scope the upstream offers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeInfo {
    /// The value to store in the integration's scopes.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// A source of data. Object-safe: the engine holds connectors as `Arc<dyn Connector>`.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// Kind, name and configuration schema.
    fn describe(&self) -> ConnectorInfo;

    /// Checks that the base URL and credentials work; the error says what to fix.
    async fn test_connection(&self, integration: &IntegrationConfig) -> Result<(), SyncError>;

    /// Lists the scopes the credentials can see.
    async fn discover_scopes(
        &self,
        integration: &IntegrationConfig,
    ) -> Result<Vec<ScopeInfo>, SyncError>;

    /// Syncs `ctx.scope()`, resuming from `ctx.checkpoint()`. Between pages it calls
    /// [`SyncContext::check`] and commits each page's rows with their checkpoint through
    /// [`SyncContext::begin`] / [`SyncContext::commit`]. Must be idempotent: a page may be written
    /// again after a crash.
    async fn sync(&self, ctx: &mut SyncContext) -> Result<(), SyncError>;

    /// Runs extract, convert and load again over the raw records `ctx.scope()` keeps
    /// ([`SyncContext::raw_records`]), without calling the source: a [`JobMode::Reconvert`] job.
    /// Same contract as [`Connector::sync`] (pages committed with their checkpoint, resumable,
    /// idempotent). Connectors that keep no raw records refuse.
    async fn reconvert(&self, _ctx: &mut SyncContext) -> Result<(), SyncError> {
        Err(SyncError::Permanent(format!(
            "the {} connector keeps no raw records to re-convert; run a sync instead",
            self.describe().kind
        )))
    }
}

/// The extract stage: one raw record to the connector's rows. Pure.
pub trait Extract {
    /// The connector's row type.
    type Row;
    /// Parses one raw record.
    fn extract(&self, raw: &RawRecord) -> Result<Vec<Self::Row>, SyncError>;
}

/// The convert stage: connector rows to the normalized model. Pure.
pub trait Convert {
    /// The connector's row type.
    type Row;
    /// The normalized type.
    type Model;
    /// Converts a batch.
    fn convert(&self, rows: &[Self::Row]) -> Vec<Self::Model>;
}

/// Runs the pure stages over a batch: extract every raw record, then convert the rows.
pub fn extract_convert<E, C>(
    extract: &E,
    convert: &C,
    raw: &[RawRecord],
) -> Result<Vec<C::Model>, SyncError>
where
    E: Extract,
    C: Convert<Row = E::Row>,
{
    let mut rows = Vec::new();
    for record in raw {
        rows.extend(extract.extract(record)?);
    }
    Ok(convert.convert(&rows))
}

/// The connectors a worker can run, by integration kind.
#[derive(Clone, Default)]
pub struct Registry {
    connectors: BTreeMap<String, Arc<dyn Connector>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.connectors.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a connector under its kind (replacing one of the same kind).
    pub fn register(&mut self, connector: Arc<dyn Connector>) -> &mut Self {
        self.connectors.insert(connector.describe().kind, connector);
        self
    }

    /// The connector for `kind`.
    pub fn get(&self, kind: &str) -> Option<Arc<dyn Connector>> {
        self.connectors.get(kind).cloned()
    }

    /// Every registered connector's description.
    pub fn describe(&self) -> Vec<ConnectorInfo> {
        self.connectors.values().map(|c| c.describe()).collect()
    }
}

/// Flags the worker's heartbeat and shutdown set while a sync runs.
#[derive(Debug, Default)]
pub(crate) struct RunControl {
    pub(crate) cancel: AtomicBool,
    pub(crate) pause: AtomicBool,
    pub(crate) lost: AtomicBool,
    pub(crate) shutdown: AtomicBool,
}

/// Everything a sync needs from the engine: its job and integration, the checkpoint, fenced
/// transactions, progress reporting, logging and cancellation.
pub struct SyncContext {
    engine: Engine,
    lease: Lease,
    job: Job,
    integration: IntegrationConfig,
    checkpoint: Option<Value>,
    previous: Option<Value>,
    control: Arc<RunControl>,
    started: Instant,
    started_done: Option<u64>,
    last_done: u64,
}

impl std::fmt::Debug for SyncContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncContext")
            .field("job", &self.job.id)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl SyncContext {
    pub(crate) fn new(
        engine: Engine,
        lease: Lease,
        job: Job,
        integration: IntegrationConfig,
        previous: Option<Value>,
        control: Arc<RunControl>,
    ) -> Self {
        let checkpoint = job.checkpoint.clone();
        Self {
            engine,
            lease,
            job,
            integration,
            checkpoint,
            previous,
            control,
            started: Instant::now(),
            started_done: None,
            last_done: 0,
        }
    }

    /// The job being run (as claimed).
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The lease this run's writes are fenced on.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The integration, with decrypted credentials.
    pub fn integration(&self) -> &IntegrationConfig {
        &self.integration
    }

    /// The scope to sync.
    pub fn scope(&self) -> &str {
        &self.job.scope
    }

    /// Incremental, full or re-convert.
    pub fn mode(&self) -> JobMode {
        self.job.mode
    }

    /// Where this job stopped last (a rescued, retried or resumed run continues here); `None` on a
    /// fresh job.
    pub fn checkpoint(&self) -> Option<&Value> {
        self.checkpoint.as_ref()
    }

    /// The final checkpoint of the scope's last successful job (the incremental watermark); `None`
    /// for full syncs and first runs.
    pub fn previous_checkpoint(&self) -> Option<&Value> {
        self.previous.as_ref()
    }

    /// Up to `limit` raw records this scope keeps for `endpoint`, in external-id order after
    /// `after`: what a re-convert ([`JobMode::Reconvert`]) reads instead of the source.
    pub async fn raw_records(
        &self,
        endpoint: &str,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<RawRecord>, SyncError> {
        let tx = self.engine.db().tenant(self.job.client).await?;
        let rows = pulse_db::repo::raw_records::page(
            &tx,
            self.job.integration.uuid(),
            self.scope(),
            endpoint,
            after,
            limit,
        )
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| RawRecord {
                endpoint: r.endpoint,
                external_id: r.external_id,
                payload: r.payload.unwrap_or(Value::Null),
            })
            .collect())
    }

    /// How many raw records this scope keeps (a re-convert's total).
    pub async fn raw_record_count(&self) -> Result<u64, SyncError> {
        let tx = self.engine.db().tenant(self.job.client).await?;
        let n = pulse_db::repo::raw_records::count(&tx, self.job.integration.uuid(), self.scope())
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The engine's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.engine.now()
    }

    /// Call between pages: fails when the job was cancelled or paused, the lease was lost, or the
    /// worker is shutting down, so the connector returns with its data consistent as of the last
    /// committed page.
    pub fn check(&self) -> Result<(), SyncError> {
        if self.control.lost.load(Ordering::SeqCst) {
            Err(SyncError::LeaseLost)
        } else if self.control.cancel.load(Ordering::SeqCst) {
            Err(SyncError::Cancelled)
        } else if self.control.pause.load(Ordering::SeqCst) {
            Err(SyncError::Paused)
        } else if self.control.shutdown.load(Ordering::SeqCst) {
            Err(SyncError::Shutdown)
        } else {
            Ok(())
        }
    }

    /// Opens a fenced transaction for a page's writes.
    pub async fn begin(&self) -> Result<JobTx, SyncError> {
        match self.lease.begin(&self.engine).await {
            Err(SyncError::LeaseLost) => {
                self.control.lost.store(true, Ordering::SeqCst);
                Err(SyncError::LeaseLost)
            }
            other => other,
        }
    }

    /// Saves `checkpoint` and `progress` in `tx` and commits it with the page's rows, then
    /// broadcasts the progress.
    pub async fn commit(
        &mut self,
        tx: JobTx,
        checkpoint: Value,
        progress: Progress,
    ) -> Result<(), SyncError> {
        // The page's rows are written in `tx`; its checkpoint is not.
        crate::failpoint::hit("sync.before_checkpoint");
        tx.save_page(&checkpoint, &progress).await?;
        crate::failpoint::hit("sync.before_commit");
        tx.commit().await?;
        crate::failpoint::hit("sync.after_commit");
        self.checkpoint = Some(checkpoint);
        self.broadcast(&progress);
        Ok(())
    }

    /// Items this run has reported done (its last progress less its first): how much it wrote.
    pub(crate) fn items_done(&self) -> u64 {
        self.last_done
            .saturating_sub(self.started_done.unwrap_or(self.last_done))
    }

    /// Stores and broadcasts progress without other writes.
    pub async fn report(&mut self, progress: Progress) -> Result<(), SyncError> {
        let tx = self.begin().await?;
        tx.set_progress(&progress).await?;
        tx.commit().await?;
        self.broadcast(&progress);
        Ok(())
    }

    /// Adds a line to the job's log (fenced, committed at once). Never pass secrets.
    pub async fn log(
        &self,
        level: LogLevel,
        message: &str,
        fields: Option<Value>,
    ) -> Result<(), SyncError> {
        tracing::info!(job = %self.job.id, level = level.as_str(), "{message}");
        let tx = self.begin().await?;
        tx.log(level, message, fields).await?;
        tx.commit().await
    }

    fn broadcast(&mut self, progress: &Progress) {
        let start = *self.started_done.get_or_insert(progress.done);
        self.last_done = progress.done;
        let secs = self.started.elapsed().as_secs_f64();
        let rate = (secs > 0.0).then(|| progress.done.saturating_sub(start) as f64 / secs);
        let eta_seconds = match (rate, progress.total) {
            (Some(r), Some(total)) if r > 0.0 => {
                Some((total.saturating_sub(progress.done) as f64 / r).ceil() as u64)
            }
            _ => None,
        };
        self.engine.publish(ProgressEvent {
            client: self.job.client,
            job: self.job.id,
            integration: self.job.integration,
            scope: self.job.scope.clone(),
            status: crate::model::JobStatus::Running,
            attempt: self.job.attempt,
            phase: progress.phase.clone(),
            done: progress.done,
            total: progress.total,
            rate,
            eta_seconds,
            current: progress.current.clone(),
            waiting_until: None,
            message: None,
            at: self.engine.now(),
        });
    }
}
