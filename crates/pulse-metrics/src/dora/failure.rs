//! Change failure rate.

use super::linking::{finish, DeploymentSet};
use super::model::{Deployment, Incident};
use crate::stats::ratio;
use crate::time::BucketSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Change failure rate over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeFailureRate {
    /// Successful production deployments that finished in the range.
    pub deployments: usize,
    /// Of those, deployments with at least one incident charged to them.
    pub failed_deployments: usize,
    /// `failed_deployments / deployments`; `None` when there is no deployment
    /// (never NaN).
    pub rate: Option<f64>,
    /// Ids of the failed deployments, sorted.
    pub failed_deployment_ids: Vec<String>,
    /// Incidents charged to a deployment of the range.
    pub incidents_attributed: usize,
    /// Incidents created in the range that are charged to no deployment (for
    /// example an incident before any deployment).
    pub incidents_unattributed: usize,
}

/// Computes the change failure rate: deployments with at least one attributed
/// incident divided by successful production deployments, both restricted to
/// deployments that finished in the range. An incident counts for its
/// deployment whenever it was created. Reads [`Incident::caused_by`] (see
/// [`super::attribute_incidents`]).
pub fn change_failure_rate(
    deployments: &[Deployment],
    incidents: &[Incident],
    spec: &BucketSpec,
) -> ChangeFailureRate {
    let set = DeploymentSet::new(deployments);
    let in_range: BTreeSet<&str> = set
        .successful()
        .filter(|d| spec.contains(finish(d)))
        .map(|d| d.id.as_str())
        .collect();
    let mut failed: BTreeSet<&str> = BTreeSet::new();
    let mut attributed = 0;
    let mut unattributed = 0;
    for incident in incidents {
        match incident.caused_by.as_deref() {
            Some(id) if in_range.contains(id) => {
                attributed += 1;
                failed.insert(id);
            }
            Some(_) => {}
            None if spec.contains(incident.created_at) => unattributed += 1,
            None => {}
        }
    }
    ChangeFailureRate {
        deployments: in_range.len(),
        failed_deployments: failed.len(),
        rate: ratio(failed.len(), in_range.len()),
        failed_deployment_ids: failed.iter().map(|s| s.to_string()).collect(),
        incidents_attributed: attributed,
        incidents_unattributed: unattributed,
    }
}
