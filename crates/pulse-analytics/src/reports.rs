//! The metric reports. Each function validates the scope, loads through [`crate::load`] and runs
//! the `pulse_metrics` formulas. Formula outputs are embedded as they are (their fields are
//! documented in `docs/METRICS.md` and the `pulse_metrics` docs).

use std::collections::{BTreeMap, HashMap, HashSet};

use pulse_core::Result;
use pulse_db::repo::scope;
use pulse_db::TenantTx;
use pulse_metrics::benchmarks::{classify_dora, DoraTiers};
use pulse_metrics::dora::{
    self, attribute_incidents, link_changes_to_deployments, normalize_deployments, AttributionRule,
    DeploymentSource, DoraInput, DoraReport,
};
use pulse_metrics::flow::{self, done_at, FlowReport};
use pulse_metrics::pull_requests::{cycle_time, pull_request_report, PullRequestReport};
use pulse_metrics::rollup::{rollup, TeamItem};
use pulse_metrics::sprints::{analyze_sprint, velocity, SprintReport};
use pulse_metrics::stats::{ratio, Distribution};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::filters::{AppliedFilters, Filters};
use crate::load;
use crate::rollup;

/// Which computation answers a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The maintained aggregates when they can answer (current, one dimension), else raw rows.
    Aggregates,
    /// Always the raw rows: the reference the aggregates are tested against.
    Raw,
}

/// DORA metrics of a range with their benchmark tiers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DoraMetrics {
    /// The filters used.
    pub filters: AppliedFilters,
    /// Deployment frequency (successful production deployments finished in the range).
    pub deployment_frequency: dora::DeploymentFrequency,
    /// Lead time for changes (seconds).
    pub lead_time: dora::LeadTime,
    /// Change failure rate.
    pub change_failure_rate: dora::ChangeFailureRate,
    /// Failed-deployment recovery time (seconds).
    pub recovery_time: dora::RecoveryTime,
    /// Time to restore service (seconds).
    pub time_to_restore: dora::TimeToRestore,
    /// Deployment rework rate.
    pub rework_rate: dora::ReworkRate,
    /// Each metric's tier (`elite`, `high`, `medium`, `low` or null) for `filters.year`.
    pub tiers: Option<DoraTiers>,
    /// Of `deployment_frequency.deployments`, those that are merged pull requests standing in for
    /// deployments (the metric rules' merged-PR fallback, for repositories without deployment
    /// data; `origin` `merged_pr` in `/data/deployments`).
    pub fallback_deployments: usize,
}

async fn dora_input(tx: &TenantTx, f: &Filters) -> Result<DoraInput> {
    Ok(DoraInput {
        deployments: load::deployments(tx, f).await?,
        changes: load::changes(tx, f).await?,
        incidents: load::incidents(tx, f).await?,
    })
}

/// The attribution rule of the filters' scope: the project's effective metric rules when the
/// filters name a project, the client's otherwise.
async fn attribution(tx: &TenantTx, f: &Filters) -> Result<AttributionRule> {
    Ok(crate::rules::effective(tx, f.project).await?.attribution())
}

async fn dora_parts(tx: &TenantTx, f: &Filters) -> Result<(DoraInput, DoraReport)> {
    let input = dora_input(tx, f).await?;
    let report = dora::dora_report(&input, &f.spec(), &attribution(tx, f).await?);
    Ok((input, report))
}

/// The DORA report and how many of its deployments are merged-PR stand-ins: from the aggregates
/// when they can serve the filters under the rules they were computed with, else from raw rows.
async fn dora_report(tx: &TenantTx, f: &Filters, source: Source) -> Result<(DoraReport, usize)> {
    if source == Source::Aggregates {
        if let Some(dim) = rollup::serving(tx, f).await? {
            if attribution(tx, f).await? == rollup::refresh::rule(tx).await? {
                let spec = f.spec();
                let (start, end) = (spec.range_start(), spec.range_end());
                let facts = rollup::read::dora_facts(
                    tx,
                    dim,
                    start.timestamp(),
                    end.timestamp(),
                    &[&spec],
                    rollup::read::EXACT_LIMIT,
                )
                .await?;
                let fallback = rollup::report::fallback_deployments(&facts, &spec);
                return Ok((rollup::report::dora(&facts, &spec), fallback));
            }
        }
    }
    let (input, report) = dora_parts(tx, f).await?;
    let spec = f.spec();
    let fallback = normalize_deployments(&input.deployments)
        .iter()
        .filter(|d| d.source == DeploymentSource::MergedPrFallback)
        .filter(|d| d.is_successful_production())
        .filter(|d| d.finished_at.is_some_and(|t| spec.contains(t)))
        .count();
    Ok((report, fallback))
}

/// `GET /metrics/dora`.
pub async fn dora(tx: &TenantTx, f: &Filters) -> Result<DoraMetrics> {
    dora_from(tx, f, Source::Aggregates).await
}

/// [`dora`] from the given source.
pub async fn dora_from(tx: &TenantTx, f: &Filters, source: Source) -> Result<DoraMetrics> {
    f.check_scope(tx).await?;
    let (report, fallback_deployments) = dora_report(tx, f, source).await?;
    Ok(DoraMetrics {
        fallback_deployments,
        filters: f.applied(),
        tiers: classify_dora(&report, f.year),
        deployment_frequency: report.deployment_frequency,
        lead_time: report.lead_time,
        change_failure_rate: report.change_failure_rate,
        recovery_time: report.recovery_time,
        time_to_restore: report.time_to_restore,
        rework_rate: report.rework_rate,
    })
}

/// Pull-request metrics of the pull requests merged in the range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PullRequestMetrics {
    /// The filters used.
    pub filters: AppliedFilters,
    /// Throughput, cycle-time stages, size, review depth and rework (seconds and counts).
    pub report: PullRequestReport,
}

/// `GET /metrics/pull-requests`.
pub async fn pull_requests(tx: &TenantTx, f: &Filters) -> Result<PullRequestMetrics> {
    pull_requests_from(tx, f, Source::Aggregates).await
}

/// [`pull_requests`] from the given source.
pub async fn pull_requests_from(
    tx: &TenantTx,
    f: &Filters,
    source: Source,
) -> Result<PullRequestMetrics> {
    f.check_scope(tx).await?;
    if source == Source::Aggregates {
        if let Some(dim) = rollup::serving(tx, f).await? {
            let spec = f.spec();
            let facts =
                rollup::read::pull_requests_of(tx, dim, &spec, rollup::read::EXACT_LIMIT).await?;
            return Ok(PullRequestMetrics {
                filters: f.applied(),
                report: rollup::report::pull_requests(&facts, &spec),
            });
        }
    }
    let rows = load::merged_pull_requests(tx, f, 0).await?;
    let deployments = load::deployments(tx, f).await?;
    let changes: Vec<_> = rows.iter().filter_map(crate::convert::change).collect();
    let linked = link_changes_to_deployments(&deployments, &changes);
    let finished: HashMap<String, _> = normalize_deployments(&deployments)
        .into_iter()
        .filter(|d| d.is_successful_production())
        .filter_map(|d| d.finished_at.map(|t| (d.id, t)))
        .collect();
    let deployed_at: HashMap<String, _> = linked
        .iter()
        .filter_map(|c| {
            let by = c.deployed_by.as_ref()?;
            finished.get(by).map(|t| (c.id.clone(), *t))
        })
        .collect();
    let ids: Vec<Uuid> = rows.iter().map(|p| p.id).collect();
    let mut commits: HashMap<Uuid, Vec<_>> = HashMap::new();
    for (pr, t) in pulse_db::repo::pull_requests::commit_times_of(tx, &ids).await? {
        commits.entry(pr).or_default().push(t);
    }
    let mut reviews: HashMap<Uuid, Vec<_>> = HashMap::new();
    for r in pulse_db::repo::pull_requests::reviews_of(tx, &ids).await? {
        reviews.entry(r.pull_request_id).or_default().push(r);
    }
    let prs: Vec<_> = rows
        .iter()
        .map(|p| {
            crate::convert::pull_request(
                p,
                commits.get(&p.id).map_or(&[][..], |v| v),
                reviews.get(&p.id).map_or(&[][..], |v| v),
                deployed_at.get(&p.id.to_string()).copied(),
            )
        })
        .collect();
    Ok(PullRequestMetrics {
        filters: f.applied(),
        report: pull_request_report(&prs, &f.spec()),
    })
}

/// Flow metrics of the work items (issues) in scope.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FlowMetrics {
    /// The filters used (the repository filter does not apply to issues).
    pub filters: AppliedFilters,
    /// Lead and cycle time (seconds), throughput, cumulative flow, WIP and ageing WIP.
    pub report: FlowReport,
}

/// `GET /metrics/flow`.
pub async fn flow(tx: &TenantTx, f: &Filters) -> Result<FlowMetrics> {
    f.check_scope(tx).await?;
    let items: Vec<_> = load::work_items(tx, f)
        .await?
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    Ok(FlowMetrics {
        filters: f.applied(),
        report: flow::flow_report(&items, &f.spec()),
    })
}

/// One sprint and its metrics.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SprintRow {
    /// Sprint id (see `/data/sprints`).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// `future`, `active` or `closed`.
    pub state: String,
    /// Board.
    pub board_id: Option<Uuid>,
    /// Commitment, scope change, completion, carry-over and planning accuracy.
    pub report: SprintReport,
}

/// Sprint metrics of the sprints that closed in the range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SprintMetrics {
    /// The filters used (the repository filter does not apply to sprints).
    pub filters: AppliedFilters,
    /// Sprints, earliest start first.
    pub sprints: Vec<SprintRow>,
    /// Completed points per sprint.
    pub velocity: Option<Distribution>,
    /// Committed issues completed ÷ committed issues over all these sprints (delivery
    /// predictability); null when nothing was committed.
    pub planning_accuracy_issues: Option<f64>,
    /// The same by points.
    pub planning_accuracy_points: Option<f64>,
}

/// `GET /metrics/sprints`.
pub async fn sprints(tx: &TenantTx, f: &Filters) -> Result<SprintMetrics> {
    f.check_scope(tx).await?;
    sprint_metrics(tx, f).await
}

async fn sprint_metrics(tx: &TenantTx, f: &Filters) -> Result<SprintMetrics> {
    let loaded = load::sprints(tx, f).await?;
    let rows: Vec<SprintRow> = loaded
        .iter()
        .map(|s| SprintRow {
            id: s.row.id,
            name: s.row.name.clone(),
            state: s.row.state.clone(),
            board_id: s.row.board_id,
            report: analyze_sprint(&s.sprint, &s.issues),
        })
        .collect();
    let reports: Vec<SprintReport> = rows.iter().map(|r| r.report.clone()).collect();
    let committed: usize = reports.iter().map(|r| r.committed.issues).sum();
    let done: usize = reports.iter().map(|r| r.completed_committed.issues).sum();
    let committed_points: f64 = reports.iter().map(|r| r.committed.points).sum();
    let done_points: f64 = reports.iter().map(|r| r.completed_committed.points).sum();
    Ok(SprintMetrics {
        filters: f.applied(),
        velocity: velocity(&reports),
        planning_accuracy_issues: ratio(done, committed),
        planning_accuracy_points: (committed_points > 0.0).then(|| done_points / committed_points),
        sprints: rows,
    })
}

/// The headline figures of one team or project.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PortfolioRow {
    /// Team or project id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Parent team (teams only).
    pub parent_id: Option<Uuid>,
    /// Successful production deployments finished in the range.
    pub deployments: usize,
    /// Of those, deployments with an incident charged to them ÷ deployments.
    pub change_failure_rate: Option<f64>,
    /// Changes deployed in the range.
    pub changes: usize,
    /// Median lead time for changes, seconds.
    pub lead_time_median_secs: Option<f64>,
    /// Pull requests merged in the range.
    pub merged_pull_requests: usize,
    /// Median pull-request cycle time, seconds.
    pub cycle_time_median_secs: Option<f64>,
    /// Work items done in the range.
    pub completed_items: usize,
    /// Median work-item lead time, seconds.
    pub flow_lead_time_median_secs: Option<f64>,
    /// Committed sprint issues completed ÷ committed (sprints closed in the range).
    pub planning_accuracy: Option<f64>,
}

/// Every metric rolled up by team (each team includes its sub-teams, items counted once) and by
/// project, side by side.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PortfolioReport {
    /// The filters used.
    pub filters: AppliedFilters,
    /// Teams, by name.
    pub teams: Vec<PortfolioRow>,
    /// Projects, by name.
    pub projects: Vec<PortfolioRow>,
}

/// What one team or project owns directly.
struct Owner {
    id: Uuid,
    repos: HashSet<String>,
    members: HashSet<Uuid>,
    jira_keys: HashSet<String>,
    boards: HashSet<Uuid>,
    team: bool,
}

/// Owned items of one measure.
#[derive(Default)]
struct Items {
    deployments: Vec<TeamItem>,
    changes: Vec<TeamItem>,
    prs: Vec<TeamItem>,
    work: Vec<TeamItem>,
    committed: Vec<TeamItem>,
}

async fn portfolio_rows(
    tx: &TenantTx,
    f: &Filters,
) -> Result<(Vec<PortfolioRow>, Vec<PortfolioRow>)> {
    let spec = f.spec();
    // Items of the whole scope, computed once.
    let deployments = load::deployments(tx, f).await?;
    let pr_rows = load::merged_pull_requests(tx, f, load_lookback()).await?;
    let changes: Vec<_> = pr_rows.iter().filter_map(crate::convert::change).collect();
    let incident_rows = load::incident_rows(tx, f).await?;
    let incidents: Vec<_> = incident_rows.iter().map(crate::convert::incident).collect();
    let normalized = normalize_deployments(&deployments);
    let in_range: Vec<_> = normalized
        .iter()
        .filter(|d| d.is_successful_production())
        .filter(|d| d.finished_at.is_some_and(|t| spec.contains(t)))
        .collect();
    let finished: HashMap<&str, _> = in_range
        .iter()
        .filter_map(|d| d.finished_at.map(|t| (d.id.as_str(), t)))
        .collect();
    // Deployments with an incident charged to them, per attribution rule: teams use the scope's
    // rule, each project its own effective rules.
    let mut failed_by_rule: Vec<(AttributionRule, HashSet<String>)> = Vec::new();
    let mut failed_set = |rule: AttributionRule| -> usize {
        if let Some(i) = failed_by_rule.iter().position(|(r, _)| *r == rule) {
            return i;
        }
        let set = attribute_incidents(&deployments, &incidents, &rule)
            .into_iter()
            .filter_map(|i| i.caused_by)
            .collect();
        failed_by_rule.push((rule, set));
        failed_by_rule.len() - 1
    };
    let scope_rule = failed_set(attribution(tx, f).await?);
    let linked = link_changes_to_deployments(&deployments, &changes);
    let pr_by_id: HashMap<String, &pulse_db::entity::pull_requests::Model> =
        pr_rows.iter().map(|p| (p.id.to_string(), p)).collect();
    let work = load::work_items(tx, f).await?;
    let sprints = load::sprints(tx, f).await?;

    // Owners: teams (own scope, rolled up) and projects.
    let teams = scope::all_teams(tx).await?;
    let projects = scope::all_projects(tx).await?;
    let mut owners = Vec::new();
    let mut owner_rule: HashMap<Uuid, usize> = HashMap::new();
    for p in &projects {
        let rule = crate::rules::effective(tx, Some(p.id)).await?.attribution();
        owner_rule.insert(p.id, failed_set(rule));
    }
    for t in &teams {
        let s = scope::own_team_scope(tx, t.id).await?;
        owners.push(Owner {
            id: t.id,
            repos: s
                .coverage
                .repositories
                .iter()
                .map(|r| r.to_string())
                .collect(),
            members: s.members.into_iter().collect(),
            jira_keys: s.coverage.jira_keys.into_iter().collect(),
            boards: s.coverage.boards.into_iter().collect(),
            team: true,
        });
    }
    for p in &projects {
        let c = scope::coverage(tx, &[p.id]).await?;
        owners.push(Owner {
            id: p.id,
            repos: c.repositories.iter().map(|r| r.to_string()).collect(),
            members: HashSet::new(),
            jira_keys: c.jira_keys.into_iter().collect(),
            boards: c.boards.into_iter().collect(),
            team: false,
        });
    }

    let mut team_items = Items::default();
    let mut project_items = Items::default();
    let item = |o: &Owner, id: &str, value: f64| TeamItem {
        team_id: o.id.to_string(),
        item_id: id.to_string(),
        value,
    };
    for o in &owners {
        let items = if o.team {
            &mut team_items
        } else {
            &mut project_items
        };
        let failed = &failed_by_rule[owner_rule.get(&o.id).copied().unwrap_or(scope_rule)].1;
        for d in &in_range {
            if d.repos.iter().any(|r| o.repos.contains(r)) {
                let v = if failed.contains(&d.id) { 1.0 } else { 0.0 };
                items.deployments.push(item(o, &d.id, v));
            }
        }
        for c in &linked {
            let Some(pr) = pr_by_id.get(&c.id) else {
                continue;
            };
            let owned = o.repos.contains(&c.repo)
                || pr.author_person_id.is_some_and(|p| o.members.contains(&p));
            if !owned {
                continue;
            }
            if let Some(t) = c.deployed_by.as_deref().and_then(|d| finished.get(d)) {
                let secs = (*t - c.first_commit_at).num_seconds().max(0) as f64;
                items.changes.push(item(o, &c.id, secs));
            }
            if c.merged_at.is_some_and(|m| spec.contains(m)) {
                let deployed = c
                    .deployed_by
                    .as_deref()
                    .and_then(|d| finished.get(d))
                    .copied();
                let converted = crate::convert::pull_request(pr, &[], &[], deployed);
                if let Some(ct) = cycle_time(&converted) {
                    items.prs.push(item(o, &c.id, ct.total_secs as f64));
                }
            }
        }
        for (row, w) in &work {
            let owned = row
                .project_key
                .as_ref()
                .is_some_and(|k| o.jira_keys.contains(k))
                || row
                    .assignee_person_id
                    .is_some_and(|p| o.members.contains(&p));
            if !owned {
                continue;
            }
            if let Some(done) = done_at(w).filter(|d| spec.contains(*d)) {
                let secs = (done - w.created_at).num_seconds().max(0) as f64;
                items.work.push(item(o, &w.key, secs));
            }
        }
        for s in &sprints {
            if !s.row.board_id.is_some_and(|b| o.boards.contains(&b)) {
                continue;
            }
            let close = s.sprint.close();
            for i in s.issues.iter().filter(|i| i.in_sprint_at(s.sprint.start)) {
                let done = i.in_sprint_at(close) && i.completed_at.is_some_and(|c| c <= close);
                let id = format!("{}/{}", s.row.id, i.key);
                items
                    .committed
                    .push(item(o, &id, if done { 1.0 } else { 0.0 }));
            }
        }
    }

    let parents: BTreeMap<String, Option<String>> = teams
        .iter()
        .map(|t| (t.id.to_string(), t.parent_id.map(|p| p.to_string())))
        .collect();
    let flat: BTreeMap<String, Option<String>> =
        projects.iter().map(|p| (p.id.to_string(), None)).collect();
    let team_rows = rows(
        &parents,
        &team_items,
        teams.iter().map(|t| (t.id, t.name.clone(), t.parent_id)),
    )?;
    let project_rows = rows(
        &flat,
        &project_items,
        projects.iter().map(|p| (p.id, p.name.clone(), None)),
    )?;
    Ok((team_rows, project_rows))
}

fn load_lookback() -> i64 {
    crate::filters::LOOKBACK_DAYS
}

fn rows(
    parents: &BTreeMap<String, Option<String>>,
    items: &Items,
    owners: impl Iterator<Item = (Uuid, String, Option<Uuid>)>,
) -> Result<Vec<PortfolioRow>> {
    let roll = |list: &[TeamItem]| rollup(parents, list).map_err(pulse_core::Error::internal);
    let deployments = roll(&items.deployments)?;
    let changes = roll(&items.changes)?;
    let prs = roll(&items.prs)?;
    let work = roll(&items.work)?;
    let committed = roll(&items.committed)?;
    let median = |r: Option<&pulse_metrics::rollup::Rollup>| {
        r.and_then(|r| r.distribution).map(|d| d.median)
    };
    let share = |r: Option<&pulse_metrics::rollup::Rollup>| {
        r.filter(|r| r.count > 0).map(|r| r.sum / r.count as f64)
    };
    let mut out: Vec<PortfolioRow> = owners
        .map(|(id, name, parent_id)| {
            let key = id.to_string();
            let d = deployments.get(&key);
            PortfolioRow {
                id,
                name,
                parent_id,
                deployments: d.map_or(0, |r| r.count),
                change_failure_rate: share(d),
                changes: changes.get(&key).map_or(0, |r| r.count),
                lead_time_median_secs: median(changes.get(&key)),
                merged_pull_requests: prs.get(&key).map_or(0, |r| r.count),
                cycle_time_median_secs: median(prs.get(&key)),
                completed_items: work.get(&key).map_or(0, |r| r.count),
                flow_lead_time_median_secs: median(work.get(&key)),
                planning_accuracy: share(committed.get(&key)),
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
    Ok(out)
}

/// `GET /metrics/portfolio`.
pub async fn portfolio(tx: &TenantTx, f: &Filters) -> Result<PortfolioReport> {
    f.check_scope(tx).await?;
    let (teams, projects) = portfolio_rows(tx, f).await?;
    Ok(PortfolioReport {
        filters: f.applied(),
        teams,
        projects,
    })
}

/// A figure now and in the previous period of equal length.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Comparison {
    /// This period.
    pub current: Option<f64>,
    /// The previous period.
    pub previous: Option<f64>,
    /// `current - previous` (null when either is missing).
    pub change: Option<f64>,
}

impl Comparison {
    pub(crate) fn of(current: Option<f64>, previous: Option<f64>) -> Self {
        Self {
            current,
            previous,
            change: current.zip(previous).map(|(c, p)| c - p),
        }
    }
}

/// A DORA key figure with its tier.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KeyMetric {
    /// Values now and before.
    #[serde(flatten)]
    pub value: Comparison,
    /// Tier for the benchmark year (`elite`, `high`, `medium`, `low`), now.
    #[schema(value_type = Option<String>)]
    pub tier: Option<pulse_metrics::benchmarks::Tier>,
    /// Tier in the previous period.
    #[schema(value_type = Option<String>)]
    pub previous_tier: Option<pulse_metrics::benchmarks::Tier>,
}

/// The DORA keys.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExecutiveDora {
    /// Successful production deployments per week (tier from deployment-days medians).
    pub deployments_per_week: KeyMetric,
    /// Median lead time for changes, seconds.
    pub lead_time_median_secs: KeyMetric,
    /// Change failure rate (fraction).
    pub change_failure_rate: KeyMetric,
    /// Median failed-deployment recovery time, seconds (tier per the year's recovery measure).
    pub recovery_time_median_secs: KeyMetric,
}

/// How much a team or project moved between the periods.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Mover {
    /// Team or project id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Deployments.
    pub deployments: Comparison,
    /// Merged pull requests.
    pub merged_pull_requests: Comparison,
    /// Completed work items.
    pub completed_items: Comparison,
    /// Median lead time for changes, seconds.
    pub lead_time_median_secs: Comparison,
    /// Sum of the absolute changes in deployments, merged pull requests and completed items
    /// (the ranking key).
    pub movement: f64,
}

/// The client's executive view in one call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutiveReport {
    /// The filters used.
    pub filters: AppliedFilters,
    /// First day of the previous period.
    pub previous_from: chrono::NaiveDate,
    /// Last day of the previous period.
    pub previous_to: chrono::NaiveDate,
    /// DORA keys with tiers and change.
    pub dora: ExecutiveDora,
    /// Sprint planning accuracy (committed issues completed ÷ committed).
    pub delivery_predictability: Comparison,
    /// Up to five teams that moved most, most first (teams that did not move are left out).
    pub teams_moved: Vec<Mover>,
    /// Up to five projects that moved most.
    pub projects_moved: Vec<Mover>,
}

/// How many movers are listed.
pub const MOVERS: usize = 5;

/// The teams and projects an executive view picks its movers from, each shown with its own
/// numbers: all of them for the whole client; under a team filter, the team, its sub-teams and
/// the projects they own; under a project filter, the project and the teams that own it; under a
/// repository filter, the projects covering the repository and the teams that own those. Filters
/// combined narrow together. `None` means every one.
#[derive(Debug, Clone, Default)]
pub(crate) struct MoverScope {
    teams: Option<HashSet<Uuid>>,
    projects: Option<HashSet<Uuid>>,
}

impl MoverScope {
    pub(crate) async fn of(tx: &TenantTx, f: &Filters) -> Result<Self> {
        fn narrow(set: &mut Option<HashSet<Uuid>>, ids: Vec<Uuid>) {
            let ids: HashSet<Uuid> = ids.into_iter().collect();
            *set = Some(match set.take() {
                Some(s) => s.intersection(&ids).copied().collect(),
                None => ids,
            });
        }
        let mut out = Self::default();
        if let Some(team) = f.team {
            let teams = scope::team_and_descendants(tx, team).await?;
            let projects = scope::projects_of_teams(tx, &teams).await?;
            narrow(&mut out.teams, teams);
            narrow(&mut out.projects, projects);
        }
        if let Some(project) = f.project {
            narrow(&mut out.projects, vec![project]);
            narrow(
                &mut out.teams,
                scope::teams_of_projects(tx, &[project]).await?,
            );
        }
        if let Some(repository) = f.repository {
            let projects = scope::projects_with_repository(tx, repository).await?;
            let teams = scope::teams_of_projects(tx, &projects).await?;
            narrow(&mut out.projects, projects);
            narrow(&mut out.teams, teams);
        }
        Ok(out)
    }

    pub(crate) fn has_team(&self, id: Uuid) -> bool {
        self.teams.as_ref().is_none_or(|s| s.contains(&id))
    }

    pub(crate) fn has_project(&self, id: Uuid) -> bool {
        self.projects.as_ref().is_none_or(|s| s.contains(&id))
    }
}

pub(crate) fn movers(now: &[PortfolioRow], before: &[PortfolioRow]) -> Vec<Mover> {
    let previous: HashMap<Uuid, &PortfolioRow> = before.iter().map(|r| (r.id, r)).collect();
    let count = |n: usize| Some(n as f64);
    let mut out: Vec<Mover> = now
        .iter()
        .map(|r| {
            let p = previous.get(&r.id);
            let deployments =
                Comparison::of(count(r.deployments), p.and_then(|p| count(p.deployments)));
            let merged = Comparison::of(
                count(r.merged_pull_requests),
                p.and_then(|p| count(p.merged_pull_requests)),
            );
            let completed = Comparison::of(
                count(r.completed_items),
                p.and_then(|p| count(p.completed_items)),
            );
            let movement = [&deployments, &merged, &completed]
                .iter()
                .map(|c| c.change.unwrap_or(0.0).abs())
                .sum();
            Mover {
                id: r.id,
                name: r.name.clone(),
                lead_time_median_secs: Comparison::of(
                    r.lead_time_median_secs,
                    p.and_then(|p| p.lead_time_median_secs),
                ),
                deployments,
                merged_pull_requests: merged,
                completed_items: completed,
                movement,
            }
        })
        .filter(|m| m.movement > 0.0)
        .collect();
    out.sort_by(|a, b| {
        b.movement
            .total_cmp(&a.movement)
            .then_with(|| a.name.cmp(&b.name))
    });
    out.truncate(MOVERS);
    out
}

fn recovery_median(r: &DoraReport) -> Option<f64> {
    r.recovery_time.distribution.map(|d| d.median)
}

/// `GET /metrics/executive`.
pub async fn executive(tx: &TenantTx, f: &Filters) -> Result<ExecutiveReport> {
    executive_from(tx, f, Source::Aggregates).await
}

/// [`executive`] from the given source. From aggregates, the team and project movers need the
/// unfiltered view (with a filter they are computed from raw rows).
pub async fn executive_from(tx: &TenantTx, f: &Filters, source: Source) -> Result<ExecutiveReport> {
    f.check_scope(tx).await?;
    let started = std::time::Instant::now();
    let prev = f.previous();
    let cells = match source {
        Source::Aggregates => match rollup::serving(tx, f).await? {
            Some(dim) if attribution(tx, f).await? == rollup::refresh::rule(tx).await? => Some(dim),
            _ => None,
        },
        Source::Raw => None,
    };
    let (now, before) = match cells {
        Some(dim) => {
            let (spec, prev_spec) = rollup::executive::totals_specs(f, &prev);
            let facts = rollup::read::dora_facts(
                tx,
                dim,
                prev_spec.range_start().timestamp(),
                spec.range_end().timestamp(),
                &[&spec, &prev_spec],
                rollup::read::EXACT_LIMIT,
            )
            .await?;
            (
                rollup::report::dora(&facts, &spec),
                rollup::report::dora(&facts, &prev_spec),
            )
        }
        None => (
            dora_report(tx, f, Source::Raw).await?.0,
            dora_report(tx, &prev, Source::Raw).await?.0,
        ),
    };
    let dora_done = started.elapsed();
    let tiers = classify_dora(&now, f.year);
    let previous_tiers = classify_dora(&before, f.year);
    let tier = |t: Option<DoraTiers>,
                pick: fn(&DoraTiers) -> Option<pulse_metrics::benchmarks::Tier>| {
        t.as_ref().and_then(pick)
    };
    let key =
        |c: Option<f64>,
         p: Option<f64>,
         pick: fn(&DoraTiers) -> Option<pulse_metrics::benchmarks::Tier>| KeyMetric {
            value: Comparison::of(c, p),
            tier: tier(tiers, pick),
            previous_tier: tier(previous_tiers, pick),
        };
    let dora = ExecutiveDora {
        deployments_per_week: key(
            Some(now.deployment_frequency.per_week),
            Some(before.deployment_frequency.per_week),
            |t| t.deployment_frequency,
        ),
        lead_time_median_secs: key(
            now.lead_time.distribution.map(|d| d.median),
            before.lead_time.distribution.map(|d| d.median),
            |t| t.lead_time,
        ),
        change_failure_rate: key(
            now.change_failure_rate.rate,
            before.change_failure_rate.rate,
            |t| t.change_failure_rate,
        ),
        recovery_time_median_secs: key(recovery_median(&now), recovery_median(&before), |t| {
            t.recovery_time
        }),
    };
    let delivery_predictability = match cells {
        Some(dim) => rollup::executive::predictability(tx, dim, f, &prev).await?,
        None => Comparison::of(
            sprint_metrics(tx, f).await?.planning_accuracy_issues,
            sprint_metrics(tx, &prev).await?.planning_accuracy_issues,
        ),
    };
    let predictability_done = started.elapsed();
    let within = MoverScope::of(tx, f).await?;
    let (teams_moved, projects_moved) = match cells {
        Some(_) => rollup::executive::movers(tx, f, &prev, &within).await?,
        None => {
            // Each candidate with its own numbers: the portfolio of the whole client, narrowed.
            let (teams_now, projects_now) = portfolio_rows(tx, &f.unscoped()).await?;
            let (teams_before, projects_before) = portfolio_rows(tx, &prev.unscoped()).await?;
            let teams = |rows: Vec<PortfolioRow>| -> Vec<PortfolioRow> {
                rows.into_iter().filter(|r| within.has_team(r.id)).collect()
            };
            let projects = |rows: Vec<PortfolioRow>| -> Vec<PortfolioRow> {
                rows.into_iter()
                    .filter(|r| within.has_project(r.id))
                    .collect()
            };
            (
                movers(&teams(teams_now), &teams(teams_before)),
                movers(&projects(projects_now), &projects(projects_before)),
            )
        }
    };
    tracing::debug!(
        aggregates = cells.is_some(),
        dora_us = dora_done.as_micros() as u64,
        predictability_us = (predictability_done - dora_done).as_micros() as u64,
        movers_us = (started.elapsed() - predictability_done).as_micros() as u64,
        "executive view"
    );
    Ok(ExecutiveReport {
        filters: f.applied(),
        previous_from: prev.from,
        previous_to: prev.to,
        dora,
        delivery_predictability,
        teams_moved,
        projects_moved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u128, name: &str, deployments: usize, merged: usize) -> PortfolioRow {
        PortfolioRow {
            id: Uuid::from_u128(id),
            name: name.into(),
            parent_id: None,
            deployments,
            change_failure_rate: None,
            changes: 0,
            lead_time_median_secs: None,
            merged_pull_requests: merged,
            cycle_time_median_secs: None,
            completed_items: 0,
            flow_lead_time_median_secs: None,
            planning_accuracy: None,
        }
    }

    #[test]
    fn movers_rank_by_absolute_change_and_drop_the_still() {
        let now = [row(1, "A", 5, 1), row(2, "B", 1, 1), row(3, "C", 2, 2)];
        let before = [row(1, "A", 1, 1), row(2, "B", 1, 1), row(3, "C", 0, 7)];
        let m = movers(&now, &before);
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["C", "A"]);
        assert_eq!(m[0].movement, 7.0);
        assert_eq!(m[1].deployments.change, Some(4.0));
    }

    #[test]
    fn comparison_needs_both_sides() {
        assert_eq!(Comparison::of(Some(3.0), None).change, None);
        assert_eq!(Comparison::of(Some(3.0), Some(1.0)).change, Some(2.0));
    }
}
