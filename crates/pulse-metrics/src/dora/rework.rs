//! Deployment rework rate (DORA 2024).

use super::linking::{finish, DeploymentSet};
use super::model::{context, Deployment, Incident};
use crate::stats::ratio;
use crate::time::BucketSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Deployment rework rate over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReworkRate {
    /// Successful production deployments that finished in the range.
    pub deployments: usize,
    /// Of those, deployments counted as rework.
    pub rework_deployments: usize,
    /// `rework_deployments / deployments`; `None` when there is no deployment.
    pub rate: Option<f64>,
    /// Ids of the rework deployments, sorted.
    pub rework_deployment_ids: Vec<String>,
}

/// Computes the deployment rework rate: the share of deployments that are
/// unplanned and happen because of an incident.
///
/// A successful production deployment `E` counts as rework when, for some
/// incident `I` charged to a deployment `D` ([`Incident::caused_by`]) and some
/// repository `r` of `D`, `E` is the **first** successful production
/// deployment of `r` that finished strictly after `I` was created, at or
/// before `I` was resolved (any time after creation if `I` is still open) and
/// at most [`super::CONTEXT_DAYS`] after `I` was created.
/// `E` is counted once even if it fixes several incidents or repositories.
pub fn deployment_rework_rate(
    deployments: &[Deployment],
    incidents: &[Incident],
    spec: &BucketSpec,
) -> ReworkRate {
    let set = DeploymentSet::new(deployments);
    let rework = rework_set(&set, incidents);
    let in_range: Vec<&Deployment> = set
        .successful()
        .filter(|d| spec.contains(finish(d)))
        .collect();
    let ids: Vec<String> = in_range
        .iter()
        .filter(|d| rework.contains(&d.id))
        .map(|d| d.id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    ReworkRate {
        deployments: in_range.len(),
        rework_deployments: ids.len(),
        rate: ratio(ids.len(), in_range.len()),
        rework_deployment_ids: ids,
    }
}

/// Ids of every deployment (whenever it finished) that counts as rework by the rule of
/// [`deployment_rework_rate`]. Reads [`Incident::caused_by`].
pub fn rework_deployments(deployments: &[Deployment], incidents: &[Incident]) -> BTreeSet<String> {
    rework_set(&DeploymentSet::new(deployments), incidents)
}

fn rework_set(set: &DeploymentSet, incidents: &[Incident]) -> BTreeSet<String> {
    let mut rework: BTreeSet<String> = BTreeSet::new();
    for incident in incidents {
        let Some(cause) = incident.caused_by.as_deref().and_then(|id| set.get(id)) else {
            continue;
        };
        let created = incident.created_at;
        for repo in &cause.repos {
            let fix = set.first_after(repo, created, false).filter(|e| {
                incident.resolved_at.is_none_or(|r| finish(e) <= r)
                    && finish(e) - created <= context()
            });
            if let Some(e) = fix {
                rework.insert(e.id.clone());
            }
        }
    }
    rework
}
