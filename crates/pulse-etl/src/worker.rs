//! The worker loop: claim a job, keep its lease alive, run its connector, apply the retry policy.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use pulse_core::ClientId;
use pulse_db::entity::jobs;
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::watch;

use crate::connector::{Registry, RunControl, SyncContext};
use crate::engine::{Claim, Engine};
use crate::error::SyncError;
use crate::integrations;
use crate::lease::Lease;
use crate::model::{Job, JobMode, JobStatus, LogLevel};
use crate::retry::{Decision, RetryPolicy};

/// The job kind that runs [`Connector::sync`](crate::Connector::sync).
pub const SYNC_KIND: &str = "sync";

/// What became of one claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The job.
    pub job: crate::JobId,
    /// The attempt that ran.
    pub attempt: u32,
    /// Its status afterwards; `None` when the lease was lost and nothing was written.
    pub status: Option<JobStatus>,
}

/// Runs jobs one at a time. Start several (in one process or many) for parallelism; each needs an
/// id unique across processes.
#[derive(Debug, Clone)]
pub struct Worker {
    engine: Engine,
    registry: Arc<Registry>,
    id: String,
    client: Option<ClientId>,
}

impl Worker {
    /// A worker named `id` running the connectors of `registry`, for every client's jobs.
    pub fn new(engine: Engine, registry: Arc<Registry>, id: impl Into<String>) -> Self {
        Self {
            engine,
            registry,
            id: id.into(),
            client: None,
        }
    }

    /// Pins the worker to one client: it claims only that client's jobs (`None`: any client's).
    pub fn pinned(mut self, client: Option<ClientId>) -> Self {
        self.client = client;
        self
    }

    /// Its id (the `lease_owner` of the jobs it holds).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client it is pinned to, if any.
    pub fn client(&self) -> Option<ClientId> {
        self.client
    }

    /// Runs until `shutdown` completes. A job running at shutdown stops at its next page and is
    /// handed back to the queue (not counted as a failure).
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut stopping = false;
        while !stopping {
            let claim = match self.engine.claim_for(&self.id, self.client).await {
                Ok(claim) => claim,
                Err(e) => {
                    tracing::warn!(worker = %self.id, error = %e, "claiming a job failed");
                    None
                }
            };
            let Some(claim) = claim else {
                tokio::select! {
                    _ = &mut shutdown => stopping = true,
                    _ = self.engine.inner.wake.notified() => {}
                    _ = tokio::time::sleep(self.engine.config().poll) => {}
                }
                continue;
            };
            let control = Arc::new(RunControl::default());
            let run = self.run_claim(claim, control.clone());
            tokio::pin!(run);
            tokio::select! {
                _ = &mut run => {}
                _ = &mut shutdown => {
                    stopping = true;
                    control.shutdown.store(true, Ordering::SeqCst);
                    run.await;
                }
            }
        }
    }

    /// Claims and runs one job to the end of this attempt; `None` when nothing was runnable. Tests
    /// drain the queue with this instead of sleeping.
    pub async fn run_next(&self) -> pulse_core::Result<Option<RunOutcome>> {
        match self.engine.claim_for(&self.id, self.client).await? {
            Some(claim) => Ok(Some(
                self.run_claim(claim, Arc::new(RunControl::default())).await,
            )),
            None => Ok(None),
        }
    }

    async fn run_claim(&self, claim: Claim, control: Arc<RunControl>) -> RunOutcome {
        let Claim { job, lease, .. } = claim;
        crate::failpoint::hit("worker.after_claim");
        let (result, items) = self.sync(&job, &lease, control.clone()).await;
        let status = self.settle(&job, &lease, result, &control).await;
        if status == Some(JobStatus::Succeeded) {
            // A large sync changed the tables' shape: new statistics also replace the plans
            // cached while they were small (see `pulse_db::Plans::Cached`).
            if let Err(e) = self.engine.db().refresh_statistics_after(items).await {
                tracing::warn!(job = %job.id, error = %e, "refreshing planner statistics failed");
            }
        }
        if let Ok(updated) = self.engine.get(job.client, job.id).await {
            if status.is_some() {
                self.engine
                    .publish_status(&updated, updated.last_error.clone());
            }
        }
        RunOutcome {
            job: job.id,
            attempt: job.attempt,
            status,
        }
    }

    /// Runs the job's connector; returns its result and the items it reported done.
    async fn sync(
        &self,
        job: &Job,
        lease: &Lease,
        control: Arc<RunControl>,
    ) -> (Result<(), SyncError>, u64) {
        let mut items = 0;
        let result = self.sync_items(job, lease, control, &mut items).await;
        (result, items)
    }

    async fn sync_items(
        &self,
        job: &Job,
        lease: &Lease,
        control: Arc<RunControl>,
        items: &mut u64,
    ) -> Result<(), SyncError> {
        if job.cancel_requested {
            return Err(SyncError::Cancelled);
        }
        if job.pause_requested {
            return Err(SyncError::Paused);
        }
        if job.failures >= job.max_attempts {
            return Err(SyncError::Permanent(format!(
                "gave up after {} attempts: the workers running this job stopped responding \
                 (see the job's history); check worker logs and resources, then run it again",
                job.failures
            )));
        }
        if job.kind != SYNC_KIND {
            return Err(SyncError::Permanent(format!(
                "this worker does not know job kind '{}'",
                job.kind
            )));
        }
        let (config, previous) = self.load(job).await?;
        let connector = self.registry.get(&config.integration.kind).ok_or_else(|| {
            SyncError::Permanent(format!(
                "no connector is installed for integration kind '{}'",
                config.integration.kind
            ))
        })?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let heartbeat = tokio::spawn(heartbeat(
            self.engine.clone(),
            lease.clone(),
            control.clone(),
            stop_rx,
        ));
        let mut ctx = SyncContext::new(
            self.engine.clone(),
            lease.clone(),
            job.clone(),
            config,
            previous,
            control,
        );
        let result = match job.mode {
            JobMode::Reconvert => connector.reconvert(&mut ctx).await,
            JobMode::Incremental | JobMode::Full => connector.sync(&mut ctx).await,
        };
        let _ = stop_tx.send(true);
        let _ = heartbeat.await;
        *items = ctx.items_done();
        result
    }

    async fn load(
        &self,
        job: &Job,
    ) -> Result<(integrations::IntegrationConfig, Option<serde_json::Value>), SyncError> {
        let tx = self.engine.db().tenant(job.client).await?;
        let config = integrations::config(&tx, self.engine.cipher(), job.integration)
            .await
            .map_err(|e| match e {
                pulse_core::Error::NotFound => {
                    SyncError::Permanent("the integration no longer exists".into())
                }
                other => SyncError::from(other),
            })?;
        let previous = if job.mode == JobMode::Incremental {
            jobs::Entity::find()
                .filter(jobs::Column::ClientId.eq(tx.client_uuid()))
                .filter(jobs::Column::IntegrationId.eq(job.integration.uuid()))
                .filter(jobs::Column::Scope.eq(job.scope.as_str()))
                .filter(jobs::Column::Status.eq(JobStatus::Succeeded.as_str()))
                // A re-convert reads no source, so its checkpoint is no watermark.
                .filter(jobs::Column::Mode.ne(JobMode::Reconvert.as_str()))
                .order_by_desc(jobs::Column::FinishedAt)
                .one(tx.conn())
                .await?
                .and_then(|m| m.checkpoint)
        } else {
            None
        };
        tx.commit().await?;
        Ok((config, previous))
    }

    async fn settle(
        &self,
        job: &Job,
        lease: &Lease,
        result: Result<(), SyncError>,
        control: &RunControl,
    ) -> Option<JobStatus> {
        let outcome = async {
            if result.is_ok() {
                // Every page and its checkpoint are committed; the success is not recorded yet.
                crate::failpoint::hit("worker.before_succeed");
            }
            let tx = lease.begin(&self.engine).await?;
            match result {
                Ok(()) => {
                    tx.succeed().await?;
                    Ok(Some(JobStatus::Succeeded))
                }
                Err(err) => {
                    let err = if control.lost.load(Ordering::SeqCst) {
                        SyncError::LeaseLost
                    } else {
                        err
                    };
                    let counts = RetryPolicy::counts_as_failure(&err);
                    let failures = job.failures + u32::from(counts);
                    let decision = self.engine.config().retry.decide(
                        &err,
                        failures,
                        job.max_attempts,
                        self.engine.now(),
                        rand::random::<f64>(),
                    );
                    if counts {
                        tx.log(LogLevel::Error, &err.to_string(), None).await?;
                    }
                    if decision == Decision::Abandon {
                        return Ok(None);
                    }
                    tx.finish(&decision, counts).await
                }
            }
        }
        .await;
        match outcome {
            Ok(status) => status,
            Err(SyncError::LeaseLost) => {
                tracing::warn!(job = %job.id, attempt = job.attempt, worker = %self.id,
                    "lease lost: another worker took the job over; this run's results are discarded");
                None
            }
            Err(e) => {
                // The job stays running; its lease expires and another claim rescues it.
                tracing::warn!(job = %job.id, error = %e, "recording the job's outcome failed");
                None
            }
        }
    }
}

async fn heartbeat(
    engine: Engine,
    lease: Lease,
    control: Arc<RunControl>,
    mut stop: watch::Receiver<bool>,
) {
    let every = engine.config().heartbeat;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match lease.heartbeat(&engine).await {
            Ok(signals) => {
                control
                    .cancel
                    .store(signals.cancel_requested, Ordering::SeqCst);
                control
                    .pause
                    .store(signals.pause_requested, Ordering::SeqCst);
            }
            Err(SyncError::LeaseLost) => {
                control.lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(job = %lease.job, error = %e, "heartbeat failed"),
        }
    }
}
