//! DORA metrics.
//!
//! Inputs ([`Deployment`], [`Change`], [`Incident`]) are plain records filled
//! by the storage layer. Two pure helpers connect them:
//!
//! * [`link_changes_to_deployments`] assigns each merged change to the
//!   deployment that shipped it (filling [`Change::deployed_by`]);
//! * [`attribute_incidents`] charges each incident to the deployment that
//!   caused it (filling [`Incident::caused_by`]).
//!
//! The metric functions then read those links:
//! [`deployment_frequency`], [`lead_time_for_changes`],
//! [`change_failure_rate`], [`failed_deployment_recovery_time`],
//! [`time_to_restore`] and [`deployment_rework_rate`]; [`dora_report`] runs
//! the helpers and every metric in one call.
//!
//! Throughout, "deployment" means a *successful production deployment* (see
//! [`Deployment::is_successful_production`]) unless stated otherwise, a
//! deployment's instant is its `finished_at`, and records sharing an id are
//! merged into one deployment first ([`normalize_deployments`]) so that a
//! deployment spanning several repositories is counted once.

mod failure;
mod frequency;
mod lead_time;
mod linking;
mod model;
mod recovery;
mod report;
mod rework;

pub use failure::{change_failure_rate, ChangeFailureRate};
pub use frequency::{
    deployment_frequency, frequency_of_days, frequency_of_finishes, DeploymentFrequency,
    FrequencyBucket,
};
pub use lead_time::{lead_time_for_changes, LeadTime};
pub use linking::{attribute_incidents, link_changes_to_deployments, normalize_deployments};
pub use model::{
    context, AttributionRule, Change, Deployment, DeploymentSource, DeploymentStatus, Incident,
    CONTEXT_DAYS,
};
pub use recovery::{
    failed_deployment_recoveries, failed_deployment_recovery_time, time_to_restore, RecoveryTime,
    TimeToRestore,
};
pub use report::{dora_report, DoraInput, DoraReport};
pub use rework::{deployment_rework_rate, rework_deployments, ReworkRate};
