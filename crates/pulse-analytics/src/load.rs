//! Loading the rows of a report through the tenant-scoped repositories. Each loader reads only the
//! rows of the filters' scope and of the range (widened where a formula needs context, see
//! [`LOOKBACK_DAYS`] and [`LOOKAHEAD_DAYS`]).

use std::collections::HashMap;

use pulse_core::Result;
use pulse_db::entity::{
    incidents as incident_rows, issues as issue_rows, pull_requests as pr_rows,
};
use pulse_db::repo::pull_requests::{PrDate, PrFilter};
use pulse_db::repo::{deployments, incidents, issues, pull_requests, sprints};
use pulse_db::TenantTx;
use pulse_metrics::dora::{Change, Deployment, Incident};
use pulse_metrics::flow::WorkItem;
use pulse_metrics::sprints::{Sprint, SprintIssue};
use uuid::Uuid;

use crate::convert;
use crate::filters::{Filters, DEPLOYMENT_LOOKBACK_DAYS, LOOKAHEAD_DAYS, LOOKBACK_DAYS};

/// Deployments that finished between the deployment lookback before the range and the lookahead
/// after it (any environment and status; the formulas select), with their repositories.
pub async fn deployments(tx: &TenantTx, f: &Filters) -> Result<Vec<Deployment>> {
    let filter = deployments::DeploymentFilter {
        scope: f.scope(DEPLOYMENT_LOOKBACK_DAYS, LOOKAHEAD_DAYS),
        ..Default::default()
    };
    let rows = deployments::all(tx, &filter).await?;
    let ids: Vec<Uuid> = rows.iter().map(|d| d.id).collect();
    let mut repos: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (d, r) in deployments::repositories_of(tx, &ids).await? {
        repos.entry(d).or_default().push(r.to_string());
    }
    let mut out: Vec<Deployment> = rows
        .iter()
        .map(|d| {
            let mut r = repos.remove(&d.id).unwrap_or_default();
            r.sort();
            convert::deployment(d, r)
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Pull requests merged between `before` days before the range and its end.
pub async fn merged_pull_requests(
    tx: &TenantTx,
    f: &Filters,
    before: i64,
) -> Result<Vec<pr_rows::Model>> {
    let filter = PrFilter {
        scope: f.scope(before, 0),
        date: PrDate::Merged,
        state: None,
    };
    let mut rows = pull_requests::all(tx, &filter).await?;
    rows.sort_by_key(|p| p.id);
    Ok(rows)
}

/// Changes merged from the lookback before the range to its end.
pub async fn changes(tx: &TenantTx, f: &Filters) -> Result<Vec<Change>> {
    Ok(merged_pull_requests(tx, f, LOOKBACK_DAYS)
        .await?
        .iter()
        .filter_map(convert::change)
        .collect())
}

/// Incident rows created from the lookback before the range to the lookahead after it (an
/// incident after the range may be charged to a deployment of the range).
pub async fn incident_rows(tx: &TenantTx, f: &Filters) -> Result<Vec<incident_rows::Model>> {
    let filter = incidents::IncidentFilter {
        scope: f.scope(LOOKBACK_DAYS, LOOKAHEAD_DAYS),
        open: None,
    };
    let mut rows = incidents::all(tx, &filter).await?;
    rows.sort_by_key(|i| i.id);
    Ok(rows)
}

/// Incidents created from the lookback before the range to the lookahead after it.
pub async fn incidents(tx: &TenantTx, f: &Filters) -> Result<Vec<Incident>> {
    Ok(incident_rows(tx, f)
        .await?
        .iter()
        .map(convert::incident)
        .collect())
}

/// Issues created before the end of the range, with their transitions (the cumulative flow needs
/// every item that existed).
pub async fn work_items(tx: &TenantTx, f: &Filters) -> Result<Vec<(issue_rows::Model, WorkItem)>> {
    let mut scope = f.scope(0, 0);
    scope.from = None;
    let filter = issues::IssueFilter {
        scope,
        ..Default::default()
    };
    let mut rows = issues::all(tx, &filter).await?;
    rows.sort_by_key(|i| i.id);
    let ids: Vec<Uuid> = rows.iter().map(|i| i.id).collect();
    let transitions = issues::transitions_of(tx, &ids).await?;
    let mut by_issue: HashMap<Uuid, Vec<&pulse_db::entity::issue_transitions::Model>> =
        HashMap::new();
    for t in &transitions {
        by_issue.entry(t.issue_id).or_default().push(t);
    }
    Ok(rows
        .into_iter()
        .map(|i| {
            let item = convert::work_item(&i, by_issue.get(&i.id).map_or(&[][..], |v| v));
            (i, item)
        })
        .collect())
}

/// A sprint of the range with its board and issues.
pub struct LoadedSprint {
    /// The stored row.
    pub row: pulse_db::entity::sprints::Model,
    /// The formula input.
    pub sprint: Sprint,
    /// Its issues.
    pub issues: Vec<SprintIssue>,
}

/// Sprints that closed in the range (so each sprint's planning is judged in one period), with
/// their issues, ordered by start.
pub async fn sprints(tx: &TenantTx, f: &Filters) -> Result<Vec<LoadedSprint>> {
    let filter = sprints::SprintFilter {
        scope: f.scope(0, 0),
        ..Default::default()
    };
    let spec = f.spec();
    let rows: Vec<_> = sprints::all(tx, &filter)
        .await?
        .into_iter()
        .filter_map(|row| {
            let s = convert::sprint(&row)?;
            spec.contains(s.close()).then_some((row, s))
        })
        .collect();
    let ids: Vec<Uuid> = rows.iter().map(|(r, _)| r.id).collect();
    let memberships = sprints::issues_of(tx, &ids).await?;
    let issue_ids: Vec<Uuid> = memberships.iter().map(|m| m.issue_id).collect();
    let issue_rows = issues::by_ids(tx, &issue_ids).await?;
    let issue_map: HashMap<Uuid, &issue_rows::Model> =
        issue_rows.iter().map(|i| (i.id, i)).collect();
    let mut of_sprint: HashMap<Uuid, Vec<_>> = HashMap::new();
    for m in &memberships {
        of_sprint.entry(m.sprint_id).or_default().push(m);
    }
    let mut out: Vec<LoadedSprint> = rows
        .into_iter()
        .map(|(row, sprint)| {
            let mine = of_sprint.get(&row.id).map_or(&[][..], |v| v);
            let issues = convert::sprint_issues(&sprint, mine, &issue_map);
            LoadedSprint {
                row,
                sprint,
                issues,
            }
        })
        .collect();
    out.sort_by(|a, b| (a.sprint.start, &a.row.name).cmp(&(b.sprint.start, &b.row.name)));
    Ok(out)
}
