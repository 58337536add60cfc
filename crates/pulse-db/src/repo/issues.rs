//! Issues (work items): filtered lists and their status transitions.

use pulse_core::Result;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::scope::{self, Scope};
use super::{Page, Paged};
use crate::entity::issue_transitions;
use crate::entity::issues::{Column, Entity, Model};
use crate::TenantTx;

/// Which time column the date range of [`list`] applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IssueDate {
    /// Created at the tracker.
    #[default]
    Created,
    /// Resolved (unresolved issues are left out).
    Resolved,
    /// Last updated at the tracker.
    Updated,
}

/// Filters for [`list`]. The repository filter does not apply to issues (they have no repository)
/// and is ignored.
#[derive(Debug, Clone, Default)]
pub struct IssueFilter {
    /// Date range, team, project.
    pub scope: Scope,
    /// The time column of the range.
    pub date: IssueDate,
    /// Only this standard type (`story`, `bug`, ...).
    pub standard_type: Option<String>,
    /// Only this status category (`to_do`, `in_progress`, `done`).
    pub status_category: Option<String>,
}

fn time_column(date: IssueDate) -> Column {
    match date {
        IssueDate::Created => Column::CreatedAt,
        IssueDate::Resolved => Column::ResolvedAt,
        IssueDate::Updated => Column::UpdatedAt,
    }
}

/// The `WHERE` condition of [`list`] and [`all`] (tenant filter included).
pub async fn condition(tx: &TenantTx, filter: &IssueFilter) -> Result<Condition> {
    let time = time_column(filter.date);
    let mut cond = Condition::all().add(Column::ClientId.eq(tx.client_uuid()));
    if filter.date != IssueDate::Created {
        cond = cond.add(time.is_not_null());
    }
    if let Some(from) = filter.scope.from {
        cond = cond.add(time.gte(from));
    }
    if let Some(to) = filter.scope.to {
        cond = cond.add(time.lt(to));
    }
    if let Some(t) = &filter.standard_type {
        cond = cond.add(Column::StandardType.eq(t.as_str()));
    }
    if let Some(c) = &filter.status_category {
        cond = cond.add(Column::StatusCategory.eq(c.as_str()));
    }
    if let Some(project) = filter.scope.project {
        let cov = scope::coverage(tx, &[project]).await?;
        cond = cond.add(Column::ProjectKey.is_in(cov.jira_keys));
    }
    if let Some(team) = filter.scope.team {
        let ts = scope::team_scope(tx, team).await?;
        cond = cond.add(
            Condition::any()
                .add(Column::ProjectKey.is_in(ts.coverage.jira_keys))
                .add(Column::AssigneePersonId.is_in(ts.members)),
        );
    }
    Ok(cond)
}

/// Every issue matching the filter (unpaged, unordered), for the metrics.
pub async fn all(tx: &TenantTx, filter: &IssueFilter) -> Result<Vec<Model>> {
    let cond = condition(tx, filter).await?;
    Ok(Entity::find().filter(cond).all(tx.conn()).await?)
}

/// The status transitions of these issues.
pub async fn transitions_of(
    tx: &TenantTx,
    issues: &[Uuid],
) -> Result<Vec<issue_transitions::Model>> {
    let mut out = Vec::new();
    for chunk in issues.chunks(super::ingested::CHUNK) {
        out.extend(
            issue_transitions::Entity::find()
                .filter(issue_transitions::Column::ClientId.eq(tx.client_uuid()))
                .filter(issue_transitions::Column::IssueId.is_in(chunk.iter().copied()))
                .all(tx.conn())
                .await?,
        );
    }
    Ok(out)
}

/// Issues matching the filter, newest first (by the filter's time column).
pub async fn list(tx: &TenantTx, filter: &IssueFilter, page: Page) -> Result<Paged<Model>> {
    let query = ordered(tx, filter).await?;
    let total = query.clone().count(tx.conn()).await?;
    let items = query
        .limit(page.limit)
        .offset(page.offset)
        .all(tx.conn())
        .await?;
    Ok(Paged { items, total })
}

/// Every row matching the filter in the order of [`list`] (for exports, which stream it).
pub async fn ordered(tx: &TenantTx, filter: &IssueFilter) -> Result<sea_orm::Select<Entity>> {
    let time = time_column(filter.date);
    let cond = condition(tx, filter).await?;
    Ok(Entity::find()
        .filter(cond)
        .order_by_desc(time)
        .order_by_desc(Column::Id))
}

/// The status transitions of an issue, oldest first.
pub async fn transitions(tx: &TenantTx, issue: Uuid) -> Result<Vec<issue_transitions::Model>> {
    Ok(issue_transitions::Entity::find()
        .filter(issue_transitions::Column::ClientId.eq(tx.client_uuid()))
        .filter(issue_transitions::Column::IssueId.eq(issue))
        .order_by_asc(issue_transitions::Column::At)
        .order_by_asc(issue_transitions::Column::Id)
        .all(tx.conn())
        .await?)
}

/// These issues (ids of another client are left out).
pub async fn by_ids(tx: &TenantTx, ids: &[Uuid]) -> Result<Vec<Model>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(super::ingested::CHUNK) {
        out.extend(
            Entity::find()
                .filter(Column::ClientId.eq(tx.client_uuid()))
                .filter(Column::Id.is_in(chunk.iter().copied()))
                .all(tx.conn())
                .await?,
        );
    }
    Ok(out)
}
