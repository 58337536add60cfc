//! Per-item facts from the `pulse_metrics` formulas. Each function takes the records of one
//! dimension (already converted by [`crate::convert`], exactly as the raw reports convert them)
//! for a window plus the context the formulas need, runs the same linking, attribution, rework,
//! recovery and cycle-time functions the reports run, and keeps the facts whose instant falls in
//! the window `[from, to)` (Unix seconds). Pure: no IO.

use std::collections::HashMap;

use pulse_db::entity::{pr_reviews, pull_requests, sprints};
use pulse_metrics::dora::{
    attribute_incidents, failed_deployment_recoveries, link_changes_to_deployments,
    normalize_deployments, rework_deployments, AttributionRule, Change, Deployment,
    DeploymentSource, Incident,
};
use pulse_metrics::flow::{done_at, WorkItem};
use pulse_metrics::pull_requests::cycle_time;
use pulse_metrics::sprints::{analyze_sprint, Sprint, SprintIssue};
use pulse_metrics::Timestamp;
use uuid::Uuid;

use super::facts::*;
use crate::convert;

fn uuid(id: &str) -> Uuid {
    // Ids in the formula inputs are row UUIDs (see `convert`).
    Uuid::parse_str(id).unwrap_or_default()
}

fn secs(from: Timestamp, to: Timestamp) -> i64 {
    (to - from).num_seconds()
}

/// The delivery facts of one dimension.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Successful production deployments.
    pub deployments: Vec<DeploymentFact>,
    /// Failed production deployments.
    pub failed: Vec<FailedFact>,
    /// Deployed changes (by change id).
    pub lead: Vec<(String, LeadFact)>,
    /// Incidents.
    pub incidents: Vec<IncidentFact>,
}

/// Delivery facts in `[from, to)`: `deployments` must hold every deployment of the dimension that
/// finished from `2 × CONTEXT_DAYS` before `from` to `CONTEXT_DAYS` after `to`, `changes` every
/// change merged from `CONTEXT_DAYS` before `from` to `to`, and `incidents` every incident created
/// from `CONTEXT_DAYS` before `from` to `CONTEXT_DAYS` after `to` (the same context the raw
/// reports load around a range).
pub fn delivery(
    deployments: &[Deployment],
    changes: &[Change],
    incidents: &[Incident],
    rule: &AttributionRule,
    from: i64,
    to: i64,
) -> Delivery {
    let inside = |t: Timestamp| (from..to).contains(&t.timestamp());
    let normalized = normalize_deployments(deployments);
    let successful: HashMap<&str, &Deployment> = normalized
        .iter()
        .filter(|d| d.is_successful_production())
        .map(|d| (d.id.as_str(), d))
        .collect();
    let attributed = attribute_incidents(deployments, incidents, rule);
    let rework = rework_deployments(deployments, &attributed);
    let mut charged: HashMap<&str, Vec<Option<Timestamp>>> = HashMap::new();
    for i in &attributed {
        if let Some(id) = i.caused_by.as_deref() {
            if successful.contains_key(id) {
                charged.entry(id).or_default().push(i.resolved_at);
            }
        }
    }
    let mut out = Delivery::default();
    for d in normalized.iter().filter(|d| d.is_successful_production()) {
        let Some(f) = d.finished_at.filter(|&f| inside(f)) else {
            continue;
        };
        let resolutions = charged.get(d.id.as_str());
        let recovered = resolutions.and_then(|r| {
            let all: Option<Vec<Timestamp>> = r.iter().copied().collect();
            all.and_then(|r| r.into_iter().max())
                .map(|last| secs(f, last))
        });
        out.deployments.push(DeploymentFact {
            at: f.timestamp(),
            id: uuid(&d.id),
            incidents: resolutions.map_or(0, |r| r.len() as u32),
            recovered,
            rework: rework.contains(&d.id),
            fallback: d.source == DeploymentSource::MergedPrFallback,
        });
    }
    for (_, at, recovered) in failed_deployment_recoveries(deployments) {
        if inside(at) {
            out.failed.push(FailedFact {
                at: at.timestamp(),
                recovered: recovered.map(|r| secs(at, r)),
            });
        }
    }
    for c in link_changes_to_deployments(deployments, changes) {
        let Some(d) = c.deployed_by.as_deref().and_then(|id| successful.get(id)) else {
            continue;
        };
        let Some(f) = d.finished_at.filter(|&f| inside(f)) else {
            continue;
        };
        out.lead.push((
            c.id.clone(),
            LeadFact {
                at: f.timestamp(),
                span: secs(c.first_commit_at, f),
            },
        ));
    }
    for i in attributed.iter().filter(|i| inside(i.created_at)) {
        out.incidents.push(IncidentFact {
            at: i.created_at.timestamp(),
            restored: i.resolved_at.map(|r| secs(i.created_at, r)),
            unattributed: i.caused_by.is_none(),
        });
    }
    out
}

/// A merged pull request with what its cycle time needs.
pub struct PullRequestInput<'a> {
    /// The stored row.
    pub row: &'a pull_requests::Model,
    /// Its own commits' times.
    pub commits: &'a [Timestamp],
    /// Its reviews.
    pub reviews: &'a [pr_reviews::Model],
}

/// Pull-request facts (and the changes never deployed) of the pull requests merged in
/// `[from, to)`; `deployments` must hold every deployment of the dimension that finished from
/// `from` to `CONTEXT_DAYS` after `to`.
pub fn pull_requests(
    prs: &[PullRequestInput<'_>],
    deployments: &[Deployment],
    from: i64,
    to: i64,
) -> (Vec<PullRequestFact>, Vec<UndeployedFact>) {
    let inside = |t: Timestamp| (from..to).contains(&t.timestamp());
    let changes: Vec<Change> = prs.iter().filter_map(|p| convert::change(p.row)).collect();
    let linked = link_changes_to_deployments(deployments, &changes);
    let finished: HashMap<String, Timestamp> = normalize_deployments(deployments)
        .into_iter()
        .filter(|d| d.is_successful_production())
        .filter_map(|d| d.finished_at.map(|t| (d.id, t)))
        .collect();
    let mut deployed_at: HashMap<&str, Timestamp> = HashMap::new();
    let mut undeployed = Vec::new();
    for c in &linked {
        match c.deployed_by.as_deref() {
            Some(by) => {
                if let Some(t) = finished.get(by) {
                    deployed_at.insert(c.id.as_str(), *t);
                }
            }
            None => {
                if let Some(m) = c.merged_at.filter(|&m| inside(m)) {
                    undeployed.push(UndeployedFact {
                        at: m.timestamp(),
                        id: uuid(&c.id),
                    });
                }
            }
        }
    }
    let mut facts = Vec::new();
    for p in prs {
        let Some(merged) = p.row.merged_at.filter(|&m| inside(m)) else {
            continue;
        };
        let id = p.row.id.to_string();
        let pr = convert::pull_request(
            p.row,
            p.commits,
            p.reviews,
            deployed_at.get(id.as_str()).copied(),
        );
        let Some(ct) = cycle_time(&pr) else {
            continue;
        };
        facts.push(PullRequestFact {
            at: merged.timestamp(),
            coding: ct.coding_secs,
            pickup: ct.pickup_secs,
            review: ct.review_secs,
            deploy: ct.deploy_secs,
            total: ct.total_secs,
            deployed: ct.deployed,
            reviewed: ct.reviewed,
            clamped: ct.clamped,
            lines: pr.changed_lines(),
            reviews: u32::try_from(pr.review_count()).unwrap_or(u32::MAX),
            comments: pr.comment_count,
            rework_commits: u32::try_from(pr.commits_after_first_review()).unwrap_or(u32::MAX),
        });
    }
    (facts, undeployed)
}

/// Work-item facts of the items completed in `[from, to)`.
pub fn work(items: &[WorkItem], from: i64, to: i64) -> Vec<WorkFact> {
    items
        .iter()
        .filter_map(|w| {
            let done = done_at(w)?.timestamp();
            (from..to).contains(&done).then_some(WorkFact {
                at: done,
                created: w.created_at.timestamp(),
            })
        })
        .collect()
}

/// The fact of a sprint closing in `[from, to)`. A sprint with neither a planned end nor a
/// completion is never selected by a range's query and has no fact.
pub fn sprint(
    row: &sprints::Model,
    sprint: &Sprint,
    issues: &[SprintIssue],
    from: i64,
    to: i64,
) -> Option<SprintFact> {
    if row.end_at.is_none() && row.complete_at.is_none() {
        return None;
    }
    let close = sprint.close().timestamp();
    if !(from..to).contains(&close) {
        return None;
    }
    let report = analyze_sprint(sprint, issues);
    Some(SprintFact {
        at: close,
        start: sprint.start.timestamp(),
        committed: report.committed.issues as u32,
        completed: report.completed_committed.issues as u32,
    })
}
