//! Failed-deployment recovery time and the older time to restore service.

use super::linking::{finish, DeploymentSet};
use super::model::{context, Deployment, Incident};
use crate::stats::Distribution;
use crate::time::BucketSpec;
use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Failed-deployment recovery time over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryTime {
    /// Recovery times in seconds of the recovered failures; `None` if none.
    pub distribution: Option<Distribution>,
    /// Failures that began in the range (`failed_deployments +
    /// incident_causing_deployments`).
    pub failures: usize,
    /// Failed production deployments (status `failure`) in the range.
    pub failed_deployments: usize,
    /// Successful production deployments in the range with at least one
    /// attributed incident.
    pub incident_causing_deployments: usize,
    /// Failures that have recovered (measured in `distribution`).
    pub recovered: usize,
    /// Failures not yet recovered (no later successful deployment, or an
    /// attributed incident still open).
    pub unrecovered: usize,
    /// Recovered failures whose raw span was negative and counted as 0.
    pub negative_spans_clamped: usize,
}

/// Time to restore service (incident created to resolved) over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeToRestore {
    /// Durations in seconds of the resolved incidents created in the range.
    pub distribution: Option<Distribution>,
    /// Incidents created in the range.
    pub incidents: usize,
    /// Of those, incidents still open.
    pub unresolved: usize,
    /// Resolved incidents whose resolution preceded their creation (counted as 0).
    pub negative_spans_clamped: usize,
}

/// Computes failed-deployment recovery time. A failure is one of:
///
/// * a **failed production deployment** (status `failure`), failing at its
///   `finished_at` (or `started_at` if it has none). It recovers when the
///   next successful production deployment of any of its repositories
///   finishes (at or after the failure).
/// * a **successful production deployment with attributed incidents**,
///   failing at its `finished_at`. It recovers when the last of its
///   incidents is resolved; while any is open it is unrecovered.
///
/// Failures are counted in the range containing their failure instant;
/// recovery time = recovery instant − failure instant, clamped at 0.
pub fn failed_deployment_recovery_time(
    deployments: &[Deployment],
    incidents: &[Incident],
    spec: &BucketSpec,
) -> RecoveryTime {
    let set = DeploymentSet::new(deployments);
    // (failure instant, recovery instant if recovered) of each failure.
    let mut outcomes: Vec<(Timestamp, Option<Timestamp>)> = Vec::new();

    let failed: Vec<&Deployment> = set
        .all()
        .iter()
        .filter(|d| d.is_failed_production() && spec.contains(finish(d)))
        .collect();
    for f in &failed {
        outcomes.push((finish(f), recovery_of_failed(&set, f)));
    }

    // Successful deployments in the range -> (finish, resolution of each attributed incident).
    let mut by_deployment: BTreeMap<&str, (Timestamp, Vec<Option<Timestamp>>)> = BTreeMap::new();
    for incident in incidents {
        if let Some(d) = incident
            .caused_by
            .as_deref()
            .and_then(|id| set.get_successful(id))
        {
            if spec.contains(finish(d)) {
                let entry = by_deployment
                    .entry(d.id.as_str())
                    .or_insert((finish(d), Vec::new()));
                entry.1.push(incident.resolved_at);
            }
        }
    }
    for (at, resolutions) in by_deployment.values() {
        // Recovered once every attributed incident is resolved: at the last resolution.
        let all_resolved: Option<Vec<Timestamp>> = resolutions.iter().copied().collect();
        outcomes.push((*at, all_resolved.and_then(|r| r.into_iter().max())));
    }

    let (values, negative) = spans(
        outcomes
            .iter()
            .filter_map(|&(from, to)| to.map(|to| (from, to))),
    );
    let recovered = values.len();
    RecoveryTime {
        distribution: Distribution::from_values(&values),
        failures: outcomes.len(),
        failed_deployments: failed.len(),
        incident_causing_deployments: by_deployment.len(),
        recovered,
        unrecovered: outcomes.len() - recovered,
        negative_spans_clamped: negative,
    }
}

/// Every failed production deployment (whenever it failed) with its failure
/// instant and, when it recovered by the rule of
/// [`failed_deployment_recovery_time`], its recovery instant: `(id, failed
/// at, recovered at)`.
pub fn failed_deployment_recoveries(
    deployments: &[Deployment],
) -> Vec<(String, Timestamp, Option<Timestamp>)> {
    let set = DeploymentSet::new(deployments);
    set.all()
        .iter()
        .filter(|d| d.is_failed_production())
        .map(|f| (f.id.clone(), finish(f), recovery_of_failed(&set, f)))
        .collect()
}

/// When a failed deployment recovered: the earliest successful production
/// deployment of any of its repositories finishing at or after the failure and
/// within the context bound.
fn recovery_of_failed(set: &DeploymentSet, failed: &Deployment) -> Option<Timestamp> {
    let at = finish(failed);
    failed
        .repos
        .iter()
        .filter_map(|repo| set.first_after(repo, at, true))
        .map(finish)
        .min()
        .filter(|&t| t - at <= context())
}

/// Computes time to restore service (the pre-2023 DORA recovery metric): for
/// each incident created in the range, `resolved_at - created_at`, clamped at
/// 0. Open incidents are counted in `unresolved` and not measured.
pub fn time_to_restore(incidents: &[Incident], spec: &BucketSpec) -> TimeToRestore {
    let created: Vec<&Incident> = incidents
        .iter()
        .filter(|i| spec.contains(i.created_at))
        .collect();
    let (values, negative) = spans(
        created
            .iter()
            .filter_map(|i| i.resolved_at.map(|r| (i.created_at, r))),
    );
    TimeToRestore {
        distribution: Distribution::from_values(&values),
        incidents: created.len(),
        unresolved: created.len() - values.len(),
        negative_spans_clamped: negative,
    }
}

/// Durations in seconds of `(from, to)` pairs clamped at 0, and how many were negative.
fn spans(pairs: impl Iterator<Item = (Timestamp, Timestamp)>) -> (Vec<f64>, usize) {
    let mut negative = 0;
    let values = pairs
        .map(|(from, to)| {
            let s = (to - from).num_seconds();
            if s < 0 {
                negative += 1;
            }
            s.max(0) as f64
        })
        .collect();
    (values, negative)
}
