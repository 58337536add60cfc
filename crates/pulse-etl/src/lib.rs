//! Pulse's durable job engine.
//!
//! - [`Engine`]: the queue's public API (enqueue, run now, full re-sync, cancel, pause, resume,
//!   list, get, history, logs, claim) and a broadcast of [`ProgressEvent`]s.
//! - [`Lease`] / [`JobTx`]: fencing. Every write a run makes first checks, in the same
//!   transaction, that the job's `attempt` and `lease_owner` are still the run's own.
//! - [`RetryPolicy`]: what follows a failure (backoff with full jitter, fail, wait for a rate
//!   limit), a pure function.
//! - [`Worker`]: claims jobs, heartbeats, runs [`Connector`]s, applies the policy.
//! - [`Scheduler`]: one leader across processes queues scheduled integrations ([`next_due`]).
//! - [`connectors`]: the connectors that ship with Pulse (the local git connector).
//! - [`Relay`]: progress events across processes on PostgreSQL (LISTEN/NOTIFY).
//!
//! [`failpoint`] is a testing hook (`PULSE_FAILPOINTS`) that aborts the process at named points of
//! the commit path; the crash tests use it.
//!
//! Delivery is at least once: connectors upsert by natural key and commit each page's rows with
//! the checkpoint that covers them, so a rescued job resumes without loss or duplicates.

pub mod clock;
pub mod connector;
pub mod connectors;
pub mod engine;
pub mod error;
pub mod failpoint;
pub mod ids;
pub mod integrations;
pub mod lease;
pub mod model;
pub mod relay;
pub mod retry;
pub mod schedule;
pub mod scheduler;
pub mod testing;
pub mod worker;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use connector::{
    extract_convert, Connector, ConnectorInfo, Convert, Extract, Registry, ScopeInfo, SyncContext,
};
pub use engine::{Claim, ClientEvents, Engine, EngineConfig, JobFilter, NewJob};
pub use error::{classify_http, HttpFailure, SyncError};
pub use ids::{IntegrationId, JobId};
pub use lease::{JobTx, Lease, RawRecord, Signals};
pub use model::{Job, JobEvent, JobLog, JobMode, JobStatus, LogLevel, Progress, ProgressEvent};
pub use relay::Relay;
pub use retry::{Decision, RetryPolicy};
pub use schedule::{is_due, next_due, Schedule, ScheduleError};
pub use scheduler::Scheduler;
pub use worker::{RunOutcome, Worker, SYNC_KIND};
