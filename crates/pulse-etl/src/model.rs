//! The engine's public vocabulary: job status and mode, jobs, their events and logs, progress.

use chrono::{DateTime, Utc};
use pulse_core::ClientId;
use pulse_db::entity::{job_events, job_logs, jobs};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{IntegrationId, JobId};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker (possibly until a retry time).
    Queued,
    /// Held by a worker under a lease.
    Running,
    /// Stopped by an administrator; keeps its checkpoint until resumed.
    Paused,
    /// Finished without error.
    Succeeded,
    /// Finished with a permanent error or out of attempts.
    Failed,
    /// Stopped by an administrator for good.
    Cancelled,
    /// Waiting for the upstream rate limit to reset; not a failure.
    WaitingRateLimit,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 7] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Paused,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::WaitingRateLimit,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Paused => "paused",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::WaitingRateLimit => "waiting_rate_limit",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the job still has work to do (at most one active job per integration scope).
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }

    /// Whether the job is finished for good.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a sync fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JobMode {
    /// Only what changed since the last successful run.
    #[default]
    Incremental,
    /// Everything, ignoring earlier watermarks.
    Full,
    /// No API calls: extract, convert and load again the raw records kept for the scope (after
    /// a transform or a rule changed). It leaves the incremental watermark alone.
    Reconvert,
}

impl JobMode {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobMode::Incremental => "incremental",
            JobMode::Full => "full",
            JobMode::Reconvert => "reconvert",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "incremental" => Some(JobMode::Incremental),
            "full" => Some(JobMode::Full),
            "reconvert" => Some(JobMode::Reconvert),
            _ => None,
        }
    }
}

/// What a run has done so far (stored on the job, broadcast as [`ProgressEvent`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Progress {
    /// The stage or endpoint being worked on (`collect pulls`, `convert`, ...).
    pub phase: String,
    /// Items done.
    pub done: u64,
    /// Items expected, when known.
    pub total: Option<u64>,
    /// The entity being fetched (a repository, a page URL without secrets).
    pub current: Option<String>,
}

/// A job as the API shows it (never credentials).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The tenant.
    pub client: ClientId,
    /// The integration it syncs.
    pub integration: IntegrationId,
    /// What to do (`sync`).
    pub kind: String,
    /// The integration scope.
    pub scope: String,
    /// Incremental, full or re-convert.
    pub mode: JobMode,
    /// Where it stands.
    pub status: JobStatus,
    /// Claims so far (the current run's fencing token).
    pub attempt: u32,
    /// Failed runs so far.
    pub failures: u32,
    /// Failed runs allowed before the job fails for good.
    pub max_attempts: u32,
    /// Not claimable before this time (retry or rate-limit reset).
    pub run_at: DateTime<Utc>,
    /// The worker holding it.
    pub lease_owner: Option<String>,
    /// When the current lease ends unless renewed.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The last heartbeat.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Last reported progress.
    pub progress: Option<Progress>,
    /// Resume point.
    pub checkpoint: Option<Value>,
    /// The last error, admin-actionable where possible.
    pub last_error: Option<String>,
    /// A cancel waits for the running worker to observe it.
    pub cancel_requested: bool,
    /// A pause waits for the running worker to observe it.
    pub pause_requested: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// First claimed.
    pub started_at: Option<DateTime<Utc>>,
    /// Reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
}

fn count(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

impl TryFrom<jobs::Model> for Job {
    type Error = pulse_core::Error;

    fn try_from(m: jobs::Model) -> Result<Self, Self::Error> {
        let status = JobStatus::parse(&m.status).ok_or_else(|| {
            pulse_core::Error::internal(anyhow::anyhow!("unknown job status {}", m.status))
        })?;
        let mode = JobMode::parse(&m.mode).ok_or_else(|| {
            pulse_core::Error::internal(anyhow::anyhow!("unknown job mode {}", m.mode))
        })?;
        Ok(Job {
            id: JobId::from_uuid(m.id),
            client: ClientId::from_uuid(m.client_id),
            integration: IntegrationId::from_uuid(m.integration_id),
            kind: m.kind,
            scope: m.scope,
            mode,
            status,
            attempt: count(m.attempt),
            failures: count(m.failures),
            max_attempts: count(m.max_attempts),
            run_at: m.run_at,
            lease_owner: m.lease_owner,
            lease_expires_at: m.lease_expires_at,
            heartbeat_at: m.heartbeat_at,
            progress: m.progress.and_then(|p| serde_json::from_value(p).ok()),
            checkpoint: m.checkpoint,
            last_error: m.last_error,
            cancel_requested: m.cancel_requested,
            pause_requested: m.pause_requested,
            created_at: m.created_at,
            updated_at: m.updated_at,
            started_at: m.started_at,
            finished_at: m.finished_at,
        })
    }
}

/// One status change of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// The previous status (none for creation).
    pub from: Option<JobStatus>,
    /// The new status.
    pub to: JobStatus,
    /// The attempt it happened in.
    pub attempt: u32,
    /// Why.
    pub message: Option<String>,
}

impl From<job_events::Model> for JobEvent {
    fn from(m: job_events::Model) -> Self {
        JobEvent {
            at: m.at,
            from: m.from_status.as_deref().and_then(JobStatus::parse),
            to: JobStatus::parse(&m.to_status).unwrap_or(JobStatus::Failed),
            attempt: count(m.attempt),
            message: m.message,
        }
    }
}

/// Severity of a job log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something an administrator may want to look at.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "debug" => LogLevel::Debug,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        }
    }
}

/// One log line of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobLog {
    /// When.
    pub at: DateTime<Utc>,
    /// Severity.
    pub level: LogLevel,
    /// What happened (never secrets).
    pub message: String,
    /// Structured detail.
    pub fields: Option<Value>,
}

impl From<job_logs::Model> for JobLog {
    fn from(m: job_logs::Model) -> Self {
        JobLog {
            at: m.at,
            level: LogLevel::parse(&m.level),
            message: m.message,
            fields: m.fields,
        }
    }
}

/// A live update about one job, broadcast to subscribers (the WebSocket handler filters by
/// `client` before delivering).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressEvent {
    /// The tenant; deliver only to this client's sessions.
    pub client: ClientId,
    /// The job.
    pub job: JobId,
    /// Its integration.
    pub integration: IntegrationId,
    /// Its scope.
    pub scope: String,
    /// Its status after this event.
    pub status: JobStatus,
    /// The attempt.
    pub attempt: u32,
    /// The stage being worked on.
    pub phase: String,
    /// Items done.
    pub done: u64,
    /// Items expected, when known.
    pub total: Option<u64>,
    /// Items per second over this run.
    pub rate: Option<f64>,
    /// Seconds left at that rate, when the total is known.
    pub eta_seconds: Option<u64>,
    /// The entity being fetched.
    pub current: Option<String>,
    /// Set while waiting for a rate limit or a retry.
    pub waiting_until: Option<DateTime<Utc>>,
    /// A short explanation for status changes.
    pub message: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}
