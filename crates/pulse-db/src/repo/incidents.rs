//! Incidents: filtered lists.

use pulse_core::Result;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::deployments::touching;
use super::scope::{self, Scope};
use super::{Page, Paged};
use crate::entity::incidents::{Column, Entity, Model};
use crate::TenantTx;

/// Filters for [`list`]. The date range applies to `created_at`.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Date range, repository, team, project.
    pub scope: Scope,
    /// Only open (true) or resolved (false) incidents.
    pub open: Option<bool>,
}

fn of_repositories(client: Uuid, repos: Vec<Uuid>) -> Condition {
    Condition::any()
        .add(Column::RepositoryId.is_in(repos.clone()))
        .add(Column::CausedByDeploymentId.in_subquery(touching(client, repos)))
}

/// The `WHERE` condition of [`list`] and [`all`] (tenant filter included).
pub async fn condition(tx: &TenantTx, filter: &IncidentFilter) -> Result<Condition> {
    let c = tx.client_uuid();
    let mut cond = Condition::all().add(Column::ClientId.eq(c));
    if let Some(from) = filter.scope.from {
        cond = cond.add(Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.scope.to {
        cond = cond.add(Column::CreatedAt.lt(to));
    }
    match filter.open {
        Some(true) => cond = cond.add(Column::ResolvedAt.is_null()),
        Some(false) => cond = cond.add(Column::ResolvedAt.is_not_null()),
        None => {}
    }
    if let Some(repo) = filter.scope.repository {
        cond = cond.add(of_repositories(c, vec![repo]));
    }
    if let Some(project) = filter.scope.project {
        let cov = scope::coverage(tx, &[project]).await?;
        cond = cond.add(of_repositories(c, cov.repositories));
    }
    if let Some(team) = filter.scope.team {
        let ts = scope::team_scope(tx, team).await?;
        cond = cond
            .add(of_repositories(c, ts.coverage.repositories).add(Column::TeamId.is_in(ts.teams)));
    }
    Ok(cond)
}

/// Every incident matching the filter (unpaged, unordered), for the metrics.
pub async fn all(tx: &TenantTx, filter: &IncidentFilter) -> Result<Vec<Model>> {
    let cond = condition(tx, filter).await?;
    Ok(Entity::find().filter(cond).all(tx.conn()).await?)
}

/// Incidents matching the filter, newest first.
pub async fn list(tx: &TenantTx, filter: &IncidentFilter, page: Page) -> Result<Paged<Model>> {
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
pub async fn ordered(tx: &TenantTx, filter: &IncidentFilter) -> Result<sea_orm::Select<Entity>> {
    let cond = condition(tx, filter).await?;
    Ok(Entity::find()
        .filter(cond)
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id))
}
