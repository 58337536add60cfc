//! All DORA metrics in one call.

use super::failure::{change_failure_rate, ChangeFailureRate};
use super::frequency::{deployment_frequency, DeploymentFrequency};
use super::lead_time::{lead_time_for_changes, LeadTime};
use super::linking::{attribute_incidents, link_changes_to_deployments};
use super::model::{AttributionRule, Change, Deployment, Incident};
use super::recovery::{
    failed_deployment_recovery_time, time_to_restore, RecoveryTime, TimeToRestore,
};
use super::rework::{deployment_rework_rate, ReworkRate};
use crate::time::BucketSpec;
use serde::{Deserialize, Serialize};

/// Everything the DORA metrics need.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DoraInput {
    /// Deployments (any environment and status; the metrics select).
    pub deployments: Vec<Deployment>,
    /// Changes (merged pull requests or direct commits).
    pub changes: Vec<Change>,
    /// Production incidents.
    pub incidents: Vec<Incident>,
}

/// The DORA metrics of one range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DoraReport {
    /// Deployment frequency.
    pub deployment_frequency: DeploymentFrequency,
    /// Lead time for changes.
    pub lead_time: LeadTime,
    /// Change failure rate.
    pub change_failure_rate: ChangeFailureRate,
    /// Failed-deployment recovery time (DORA 2023 and later).
    pub recovery_time: RecoveryTime,
    /// Time to restore service (DORA up to 2022).
    pub time_to_restore: TimeToRestore,
    /// Deployment rework rate (DORA 2024).
    pub rework_rate: ReworkRate,
}

/// Links changes ([`link_changes_to_deployments`]), attributes incidents
/// ([`attribute_incidents`] with `rule`) and computes every DORA metric for
/// the range of `spec`.
pub fn dora_report(input: &DoraInput, spec: &BucketSpec, rule: &AttributionRule) -> DoraReport {
    let changes = link_changes_to_deployments(&input.deployments, &input.changes);
    let incidents = attribute_incidents(&input.deployments, &input.incidents, rule);
    let deployments = &input.deployments;
    DoraReport {
        deployment_frequency: deployment_frequency(deployments, spec),
        lead_time: lead_time_for_changes(deployments, &changes, spec),
        change_failure_rate: change_failure_rate(deployments, &incidents, spec),
        recovery_time: failed_deployment_recovery_time(deployments, &incidents, spec),
        time_to_restore: time_to_restore(&incidents, spec),
        rework_rate: deployment_rework_rate(deployments, &incidents, spec),
    }
}
