//! Normalising deployments, linking changes to deployments and attributing
//! incidents to deployments.

use super::model::{context, AttributionRule, Change, Deployment, DeploymentStatus, Incident};
use crate::Timestamp;
use chrono::TimeDelta;
use std::collections::HashMap;

/// Merges records that share a deployment id into one deployment, so a
/// deployment reported once per repository is counted once.
///
/// Merge rules: repositories are the union (sorted, without duplicates);
/// `started_at` is the earliest start; `finished_at` is the latest finish, or
/// `None` if any part is still running; the status is `success` only if every
/// part succeeded, otherwise the first non-success status; the deployment is
/// production if any part is; environment and source come from the first
/// record. Output keeps the order of first appearance.
pub fn normalize_deployments(deployments: &[Deployment]) -> Vec<Deployment> {
    let mut merged: Vec<Deployment> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for d in deployments {
        match index.get(d.id.as_str()) {
            None => {
                index.insert(&d.id, merged.len());
                merged.push(d.clone());
            }
            Some(&i) => {
                let m = &mut merged[i];
                m.repos.extend(d.repos.iter().cloned());
                m.started_at = m.started_at.min(d.started_at);
                m.finished_at = match (m.finished_at, d.finished_at) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                if m.status == DeploymentStatus::Success {
                    m.status = d.status;
                }
                m.is_production |= d.is_production;
            }
        }
    }
    for m in &mut merged {
        m.repos.sort();
        m.repos.dedup();
    }
    merged
}

/// Normalised deployments plus the successful production ones in finish order,
/// globally and per repository, for binary searches by finish time.
pub(crate) struct DeploymentSet {
    all: Vec<Deployment>,
    /// Indices into `all` of successful production deployments, sorted by
    /// `(finished_at, id)`.
    successful: Vec<usize>,
    /// The same, per repository.
    by_repo: HashMap<String, Vec<usize>>,
    by_id: HashMap<String, usize>,
}

impl DeploymentSet {
    pub(crate) fn new(deployments: &[Deployment]) -> Self {
        let all = normalize_deployments(deployments);
        let mut successful: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].is_successful_production())
            .collect();
        successful
            .sort_by(|&a, &b| (finish(&all[a]), &all[a].id).cmp(&(finish(&all[b]), &all[b].id)));
        let mut by_repo: HashMap<String, Vec<usize>> = HashMap::new();
        for &i in &successful {
            for repo in &all[i].repos {
                by_repo.entry(repo.clone()).or_default().push(i);
            }
        }
        let by_id = all
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.clone(), i))
            .collect();
        Self {
            all,
            successful,
            by_repo,
            by_id,
        }
    }

    /// All normalised deployments, whatever their status.
    pub(crate) fn all(&self) -> &[Deployment] {
        &self.all
    }

    /// Successful production deployments, earliest finish first.
    pub(crate) fn successful(&self) -> impl Iterator<Item = &Deployment> + '_ {
        self.successful.iter().map(|&i| &self.all[i])
    }

    /// A deployment by id (any status).
    pub(crate) fn get(&self, id: &str) -> Option<&Deployment> {
        self.by_id.get(id).map(|&i| &self.all[i])
    }

    /// A successful production deployment by id.
    pub(crate) fn get_successful(&self, id: &str) -> Option<&Deployment> {
        self.get(id).filter(|d| d.is_successful_production())
    }

    /// The earliest successful production deployment of `repo` that finished
    /// at or after `at` (`inclusive`) or strictly after `at`.
    pub(crate) fn first_after(
        &self,
        repo: &str,
        at: Timestamp,
        inclusive: bool,
    ) -> Option<&Deployment> {
        let list = self.by_repo.get(repo)?;
        let pos = list.partition_point(|&i| {
            let f = finish(&self.all[i]);
            if inclusive {
                f < at
            } else {
                f <= at
            }
        });
        list.get(pos).map(|&i| &self.all[i])
    }

    /// The latest successful production deployment (any repository) that
    /// finished strictly before `at`.
    pub(crate) fn latest_before(&self, at: Timestamp) -> Option<&Deployment> {
        let pos = self
            .successful
            .partition_point(|&i| finish(&self.all[i]) < at);
        pos.checked_sub(1).map(|p| &self.all[self.successful[p]])
    }
}

/// Finish instant of a deployment, falling back to its start when unfinished.
pub(crate) fn finish(d: &Deployment) -> Timestamp {
    d.finished_at.unwrap_or(d.started_at)
}

/// Assigns each merged change to the deployment that shipped it.
///
/// A change whose `deployed_by` is already set keeps it (the storage layer may
/// know better, e.g. from commit reachability). Every other merged change is
/// assigned to the **earliest successful production deployment of its
/// repository that finished at or after the change's merge time**, provided it
/// finished at most [`super::CONTEXT_DAYS`] after the merge. Because the
/// merge time is that of the merge (or squash) commit, squash-merged pull
/// requests link like any other. Unlike Apache DevLake, the *first* deployment
/// of a repository is credited with every change merged before it (within the
/// bound). Changes with no such deployment keep `deployed_by = None` (merged,
/// never deployed).
pub fn link_changes_to_deployments(deployments: &[Deployment], changes: &[Change]) -> Vec<Change> {
    let set = DeploymentSet::new(deployments);
    changes
        .iter()
        .map(|c| {
            let mut linked = c.clone();
            if linked.deployed_by.is_none() {
                linked.deployed_by = c
                    .merged_at
                    .and_then(|m| {
                        set.first_after(&c.repo, m, true)
                            .filter(|d| finish(d) - m <= context())
                    })
                    .map(|d| d.id.clone());
            }
            linked
        })
        .collect()
}

/// Charges each incident to the deployment that caused it, setting
/// [`Incident::caused_by`] (any previous value is replaced):
///
/// 1. when the incident has an `explicit_deployment`: that deployment, if it is
///    among `deployments` and finished at most [`super::CONTEXT_DAYS`] before
///    or after the incident was created, else `None` (an explicit link is never
///    replaced by a guess);
/// 2. otherwise the **latest successful production deployment that finished
///    strictly before the incident was created**, provided it finished no more
///    than `rule.window` (capped to [`super::CONTEXT_DAYS`]) before creation;
/// 3. otherwise `None` (for example an incident before any deployment).
pub fn attribute_incidents(
    deployments: &[Deployment],
    incidents: &[Incident],
    rule: &AttributionRule,
) -> Vec<Incident> {
    let set = DeploymentSet::new(deployments);
    let window = rule.window.map_or(context(), |w| {
        TimeDelta::from_std(w)
            .unwrap_or(TimeDelta::MAX)
            .min(context())
    });
    incidents
        .iter()
        .map(|incident| {
            let mut attributed = incident.clone();
            let at = incident.created_at;
            attributed.caused_by = match &incident.explicit_deployment {
                Some(id) => set
                    .get(id)
                    .filter(|d| (finish(d) - at).abs() <= context())
                    .map(|d| d.id.clone()),
                None => set
                    .latest_before(at)
                    .filter(|d| at - finish(d) <= window)
                    .map(|d| d.id.clone()),
            };
            attributed
        })
        .collect()
}
