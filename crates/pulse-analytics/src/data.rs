//! The rows behind the metrics, as paginated lists (JSON or CSV), so every number can be drilled
//! into. Date ranges are local dates in a time zone, exactly as for the metrics: `from` local
//! midnight up to (excluding) local midnight after `to`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use pulse_core::{Error, Result};
use pulse_db::repo::scope::Scope;
use pulse_db::repo::{deployments, incidents, issues, pull_requests, sprints, Page, Paged};
use pulse_db::TenantTx;
use pulse_metrics::time::local_midnight;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::csv::{opt, CsvRow};
use crate::filters::{check_ids, parse_tz};

/// Common filters of the lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataParams {
    /// First local date (inclusive).
    pub from: Option<NaiveDate>,
    /// Last local date (inclusive).
    pub to: Option<NaiveDate>,
    /// IANA time zone of the dates (default UTC).
    pub tz: Option<String>,
    /// Team (with sub-teams).
    pub team: Option<Uuid>,
    /// Project.
    pub project: Option<Uuid>,
    /// Repository.
    pub repository: Option<Uuid>,
}

/// Validates the list filters and checks that team, project and repository exist in the caller's
/// client (404 otherwise).
pub async fn scope(tx: &TenantTx, p: &DataParams) -> Result<Scope> {
    let tz = parse_tz("tz", p.tz.as_deref())?;
    if let (Some(f), Some(t)) = (p.from, p.to) {
        if t < f {
            return Err(Error::invalid("to", "must not be before from"));
        }
    }
    check_ids(tx, p.team, p.project, p.repository).await?;
    Ok(Scope {
        from: p.from.map(|d| local_midnight(d, tz)),
        to: p.to.map(|d| local_midnight(d + Duration::days(1), tz)),
        repository: p.repository,
        team: p.team,
        project: p.project,
    })
}

fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn iso_opt(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(iso).unwrap_or_default()
}

/// A pull request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PullRequestItem {
    /// Id.
    pub id: Uuid,
    /// Source system.
    pub source: String,
    /// Id in the source.
    pub external_id: String,
    /// Repository.
    pub repository_id: Uuid,
    /// Number.
    pub number: Option<i64>,
    /// Title.
    pub title: String,
    /// Author login.
    pub author_login: Option<String>,
    /// `open`, `closed` or `merged`.
    pub state: String,
    /// Opened as a draft.
    pub draft: bool,
    /// Opened.
    pub created_at: DateTime<Utc>,
    /// First commit.
    pub first_commit_at: Option<DateTime<Utc>>,
    /// First review by someone else.
    pub first_review_at: Option<DateTime<Utc>>,
    /// Merged.
    pub merged_at: Option<DateTime<Utc>>,
    /// Lines added.
    pub additions: i64,
    /// Lines deleted.
    pub deletions: i64,
    /// Reviews by others.
    pub review_count: i64,
    /// Comments.
    pub comment_count: i64,
}

impl From<pulse_db::entity::pull_requests::Model> for PullRequestItem {
    fn from(p: pulse_db::entity::pull_requests::Model) -> Self {
        Self {
            id: p.id,
            source: p.source,
            external_id: p.external_id,
            repository_id: p.repository_id,
            number: p.number,
            title: p.title,
            author_login: p.author_login,
            state: p.state,
            draft: p.draft,
            created_at: p.created_at,
            first_commit_at: p.first_commit_at,
            first_review_at: p.first_review_at,
            merged_at: p.merged_at,
            additions: p.additions,
            deletions: p.deletions,
            review_count: p.review_count,
            comment_count: p.comment_count,
        }
    }
}

impl CsvRow for PullRequestItem {
    fn header() -> &'static [&'static str] {
        &[
            "id",
            "source",
            "external_id",
            "repository_id",
            "number",
            "title",
            "author_login",
            "state",
            "draft",
            "created_at",
            "first_commit_at",
            "first_review_at",
            "merged_at",
            "additions",
            "deletions",
            "review_count",
            "comment_count",
        ]
    }
    fn fields(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.source.clone(),
            self.external_id.clone(),
            self.repository_id.to_string(),
            opt(&self.number),
            self.title.clone(),
            opt(&self.author_login),
            self.state.clone(),
            self.draft.to_string(),
            iso(&self.created_at),
            iso_opt(&self.first_commit_at),
            iso_opt(&self.first_review_at),
            iso_opt(&self.merged_at),
            self.additions.to_string(),
            self.deletions.to_string(),
            self.review_count.to_string(),
            self.comment_count.to_string(),
        ]
    }
}

/// Pull requests (the range applies to `created_at`, or to `merged_at` when `merged`).
pub async fn pull_requests(
    tx: &TenantTx,
    scope: Scope,
    merged: bool,
    state: Option<String>,
    page: Page,
) -> Result<Paged<PullRequestItem>> {
    let filter = pull_requests::PrFilter {
        scope,
        date: if merged {
            pull_requests::PrDate::Merged
        } else {
            pull_requests::PrDate::Created
        },
        state,
    };
    let found = pull_requests::list(tx, &filter, page).await?;
    Ok(Paged {
        items: found.items.into_iter().map(Into::into).collect(),
        total: found.total,
    })
}

/// A deployment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeploymentItem {
    /// Id.
    pub id: Uuid,
    /// Source system.
    pub source: String,
    /// Id in the source.
    pub external_id: String,
    /// Name.
    pub name: Option<String>,
    /// Environment.
    pub environment: String,
    /// Counted as a deployment and in production (per the metric rules).
    pub is_production: bool,
    /// Counted as a deployment at all (per the metric rules).
    pub counted: bool,
    /// A merged pull request standing in for a deployment (the merged-PR fallback; `origin`
    /// `merged_pr`).
    pub fallback: bool,
    /// Branch of a workflow run.
    pub branch: Option<String>,
    /// `success`, `failure`, `cancelled`, `in_progress` or `unknown`.
    pub status: String,
    /// How it was detected.
    pub origin: String,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Repositories deployed.
    pub repository_ids: Vec<Uuid>,
}

impl CsvRow for DeploymentItem {
    fn header() -> &'static [&'static str] {
        &[
            "id",
            "source",
            "external_id",
            "name",
            "environment",
            "is_production",
            "counted",
            "fallback",
            "branch",
            "status",
            "origin",
            "started_at",
            "finished_at",
            "repository_ids",
        ]
    }
    fn fields(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.source.clone(),
            self.external_id.clone(),
            opt(&self.name),
            self.environment.clone(),
            self.is_production.to_string(),
            self.counted.to_string(),
            self.fallback.to_string(),
            opt(&self.branch),
            self.status.clone(),
            self.origin.clone(),
            iso(&self.started_at),
            iso_opt(&self.finished_at),
            self.repository_ids
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ]
    }
}

/// Deployments (the range applies to `finished_at`).
pub async fn deployments(
    tx: &TenantTx,
    filter: deployments::DeploymentFilter,
    page: Page,
) -> Result<Paged<DeploymentItem>> {
    let found = deployments::list(tx, &filter, page).await?;
    let ids: Vec<Uuid> = found.items.iter().map(|d| d.id).collect();
    let links = deployments::repositories_of(tx, &ids).await?;
    let items = found
        .items
        .into_iter()
        .map(|d| {
            let mut repository_ids: Vec<Uuid> = links
                .iter()
                .filter(|(dep, _)| *dep == d.id)
                .map(|(_, r)| *r)
                .collect();
            repository_ids.sort();
            DeploymentItem::from_row(d, repository_ids)
        })
        .collect();
    Ok(Paged {
        items,
        total: found.total,
    })
}

/// An incident.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentItem {
    /// Id.
    pub id: Uuid,
    /// Source system.
    pub source: String,
    /// Id in the source.
    pub external_id: String,
    /// Title.
    pub title: String,
    /// How it was detected.
    pub origin: String,
    /// Severity.
    pub severity: Option<String>,
    /// Opened.
    pub created_at: DateTime<Utc>,
    /// Resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Repository.
    pub repository_id: Option<Uuid>,
    /// Team.
    pub team_id: Option<Uuid>,
    /// Deployment charged with it.
    pub caused_by_deployment_id: Option<Uuid>,
    /// How that deployment was found: `explicit`, `issue_link` (metric rules) or `inferred`.
    pub attributed_by: Option<String>,
}

impl CsvRow for IncidentItem {
    fn header() -> &'static [&'static str] {
        &[
            "id",
            "source",
            "external_id",
            "title",
            "origin",
            "severity",
            "created_at",
            "resolved_at",
            "repository_id",
            "team_id",
            "caused_by_deployment_id",
            "attributed_by",
        ]
    }
    fn fields(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.source.clone(),
            self.external_id.clone(),
            self.title.clone(),
            self.origin.clone(),
            opt(&self.severity),
            iso(&self.created_at),
            iso_opt(&self.resolved_at),
            opt(&self.repository_id),
            opt(&self.team_id),
            opt(&self.caused_by_deployment_id),
            opt(&self.attributed_by),
        ]
    }
}

/// Incidents (the range applies to `created_at`).
pub async fn incidents(
    tx: &TenantTx,
    filter: incidents::IncidentFilter,
    page: Page,
) -> Result<Paged<IncidentItem>> {
    let found = incidents::list(tx, &filter, page).await?;
    Ok(Paged {
        items: found.items.into_iter().map(IncidentItem::from).collect(),
        total: found.total,
    })
}

/// An issue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssueItem {
    /// Id.
    pub id: Uuid,
    /// Source system.
    pub source: String,
    /// Id in the source.
    pub external_id: String,
    /// Tracker key.
    pub key: String,
    /// Tracker project key.
    pub project_key: Option<String>,
    /// Title.
    pub title: String,
    /// Standard type.
    pub standard_type: String,
    /// Status.
    pub status: String,
    /// `to_do`, `in_progress` or `done`.
    pub status_category: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Story points.
    pub story_points: Option<f64>,
}

impl CsvRow for IssueItem {
    fn header() -> &'static [&'static str] {
        &[
            "id",
            "source",
            "external_id",
            "key",
            "project_key",
            "title",
            "standard_type",
            "status",
            "status_category",
            "created_at",
            "resolved_at",
            "story_points",
        ]
    }
    fn fields(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.source.clone(),
            self.external_id.clone(),
            self.key.clone(),
            opt(&self.project_key),
            self.title.clone(),
            self.standard_type.clone(),
            self.status.clone(),
            self.status_category.clone(),
            iso(&self.created_at),
            iso_opt(&self.resolved_at),
            opt(&self.story_points),
        ]
    }
}

/// Issues (the range applies to the filter's time column; the repository filter does not apply).
pub async fn issues(
    tx: &TenantTx,
    filter: issues::IssueFilter,
    page: Page,
) -> Result<Paged<IssueItem>> {
    let found = issues::list(tx, &filter, page).await?;
    Ok(Paged {
        items: found.items.into_iter().map(IssueItem::from).collect(),
        total: found.total,
    })
}

/// A sprint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SprintItem {
    /// Id.
    pub id: Uuid,
    /// Source system.
    pub source: String,
    /// Id in the source.
    pub external_id: String,
    /// Board.
    pub board_id: Option<Uuid>,
    /// Name.
    pub name: String,
    /// `future`, `active` or `closed`.
    pub state: String,
    /// Started.
    pub start_at: Option<DateTime<Utc>>,
    /// Planned end.
    pub end_at: Option<DateTime<Utc>>,
    /// Completed.
    pub complete_at: Option<DateTime<Utc>>,
}

impl CsvRow for SprintItem {
    fn header() -> &'static [&'static str] {
        &[
            "id",
            "source",
            "external_id",
            "board_id",
            "name",
            "state",
            "start_at",
            "end_at",
            "complete_at",
        ]
    }
    fn fields(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.source.clone(),
            self.external_id.clone(),
            opt(&self.board_id),
            self.name.clone(),
            self.state.clone(),
            iso_opt(&self.start_at),
            iso_opt(&self.end_at),
            iso_opt(&self.complete_at),
        ]
    }
}

/// Sprints overlapping the range (the repository filter does not apply).
pub async fn sprints(
    tx: &TenantTx,
    filter: sprints::SprintFilter,
    page: Page,
) -> Result<Paged<SprintItem>> {
    let found = sprints::list(tx, &filter, page).await?;
    Ok(Paged {
        items: found.items.into_iter().map(SprintItem::from).collect(),
        total: found.total,
    })
}

impl DeploymentItem {
    /// A stored deployment with its repositories (sorted by the caller).
    pub(crate) fn from_row(
        d: pulse_db::entity::deployments::Model,
        repository_ids: Vec<Uuid>,
    ) -> Self {
        DeploymentItem {
            id: d.id,
            source: d.source,
            external_id: d.external_id,
            name: d.name,
            environment: d.environment,
            is_production: d.is_production,
            counted: d.counted,
            fallback: d.origin == "merged_pr",
            branch: d.branch,
            status: d.status,
            origin: d.origin,
            started_at: d.started_at,
            finished_at: d.finished_at,
            repository_ids,
        }
    }
}

impl From<pulse_db::entity::incidents::Model> for IncidentItem {
    fn from(i: pulse_db::entity::incidents::Model) -> Self {
        IncidentItem {
            id: i.id,
            source: i.source,
            external_id: i.external_id,
            title: i.title,
            origin: i.origin,
            severity: i.severity,
            created_at: i.created_at,
            resolved_at: i.resolved_at,
            repository_id: i.repository_id,
            team_id: i.team_id,
            caused_by_deployment_id: i.caused_by_deployment_id,
            attributed_by: i.attributed_by,
        }
    }
}

impl From<pulse_db::entity::issues::Model> for IssueItem {
    fn from(i: pulse_db::entity::issues::Model) -> Self {
        IssueItem {
            id: i.id,
            source: i.source,
            external_id: i.external_id,
            key: i.key,
            project_key: i.project_key,
            title: i.title,
            standard_type: i.standard_type,
            status: i.status,
            status_category: i.status_category,
            created_at: i.created_at,
            resolved_at: i.resolved_at,
            story_points: i.story_points,
        }
    }
}

impl From<pulse_db::entity::sprints::Model> for SprintItem {
    fn from(s: pulse_db::entity::sprints::Model) -> Self {
        SprintItem {
            id: s.id,
            source: s.source,
            external_id: s.external_id,
            board_id: s.board_id,
            name: s.name,
            state: s.state,
            start_at: s.start_at,
            end_at: s.end_at,
            complete_at: s.complete_at,
        }
    }
}
