//! Deployments: filtered lists, and the repositories and changes of a deployment.

use pulse_core::Result;
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::scope::{self, Scope};
use super::{Page, Paged};
use crate::entity::deployments::{Column, Entity, Model};
use crate::entity::{deployment_commits, deployment_pull_requests, deployment_repositories};
use crate::TenantTx;

/// Filters for [`list`]. The date range applies to `finished_at` (deployments still running are
/// left out of a ranged list).
#[derive(Debug, Clone, Default)]
pub struct DeploymentFilter {
    /// Date range, repository, team, project.
    pub scope: Scope,
    /// Only production (true) or non-production (false) deployments.
    pub production: Option<bool>,
    /// Only deployments the metric rules count (true) or do not count (false).
    pub counted: Option<bool>,
    /// Only this status.
    pub status: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this origin (`github_deployment`, ..., `merged_pr`).
    pub origin: Option<String>,
}

/// `id IN (deployments of any of these repositories)`.
pub(crate) fn touching(client: Uuid, repos: Vec<Uuid>) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(deployment_repositories::Column::DeploymentId)
        .from(deployment_repositories::Entity)
        .and_where(deployment_repositories::Column::ClientId.eq(client))
        .and_where(deployment_repositories::Column::RepositoryId.is_in(repos))
        .to_owned()
}

/// The `WHERE` condition of [`list`] and [`all`] (tenant filter included).
pub async fn condition(tx: &TenantTx, filter: &DeploymentFilter) -> Result<Condition> {
    let c = tx.client_uuid();
    let mut cond = Condition::all().add(Column::ClientId.eq(c));
    if let Some(from) = filter.scope.from {
        cond = cond.add(Column::FinishedAt.gte(from));
    }
    if let Some(to) = filter.scope.to {
        cond = cond.add(Column::FinishedAt.lt(to));
    }
    if let Some(p) = filter.production {
        cond = cond.add(Column::IsProduction.eq(p));
    }
    if let Some(k) = filter.counted {
        cond = cond.add(Column::Counted.eq(k));
    }
    if let Some(s) = &filter.status {
        cond = cond.add(Column::Status.eq(s.as_str()));
    }
    if let Some(e) = &filter.environment {
        cond = cond.add(Column::Environment.eq(e.as_str()));
    }
    if let Some(o) = &filter.origin {
        cond = cond.add(Column::Origin.eq(o.as_str()));
    }
    if let Some(repo) = filter.scope.repository {
        cond = cond.add(Column::Id.in_subquery(touching(c, vec![repo])));
    }
    if let Some(project) = filter.scope.project {
        let cov = scope::coverage(tx, &[project]).await?;
        cond = cond.add(Column::Id.in_subquery(touching(c, cov.repositories)));
    }
    if let Some(team) = filter.scope.team {
        let ts = scope::team_scope(tx, team).await?;
        cond = cond.add(Column::Id.in_subquery(touching(c, ts.coverage.repositories)));
    }
    Ok(cond)
}

/// Every deployment matching the filter (unpaged, unordered), for the metrics.
pub async fn all(tx: &TenantTx, filter: &DeploymentFilter) -> Result<Vec<Model>> {
    let cond = condition(tx, filter).await?;
    Ok(Entity::find().filter(cond).all(tx.conn()).await?)
}

/// How many deployments match the filter.
pub async fn count(tx: &TenantTx, filter: &DeploymentFilter) -> Result<u64> {
    let cond = condition(tx, filter).await?;
    Ok(Entity::find().filter(cond).count(tx.conn()).await?)
}

/// The repositories of these deployments (`(deployment, repository)` pairs).
pub async fn repositories_of(tx: &TenantTx, deployments: &[Uuid]) -> Result<Vec<(Uuid, Uuid)>> {
    let mut out = Vec::new();
    for chunk in deployments.chunks(super::ingested::CHUNK) {
        let rows: Vec<(Uuid, Uuid)> = deployment_repositories::Entity::find()
            .select_only()
            .column(deployment_repositories::Column::DeploymentId)
            .column(deployment_repositories::Column::RepositoryId)
            .filter(deployment_repositories::Column::ClientId.eq(tx.client_uuid()))
            .filter(deployment_repositories::Column::DeploymentId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// Deployments matching the filter, latest finish first.
pub async fn list(tx: &TenantTx, filter: &DeploymentFilter, page: Page) -> Result<Paged<Model>> {
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
pub async fn ordered(tx: &TenantTx, filter: &DeploymentFilter) -> Result<sea_orm::Select<Entity>> {
    let cond = condition(tx, filter).await?;
    Ok(Entity::find()
        .filter(cond)
        .order_by_desc(Column::FinishedAt)
        .order_by_desc(Column::StartedAt)
        .order_by_desc(Column::Id))
}

/// The repositories a deployment deployed.
pub async fn repositories(
    tx: &TenantTx,
    deployment: Uuid,
) -> Result<Vec<deployment_repositories::Model>> {
    Ok(deployment_repositories::Entity::find()
        .filter(deployment_repositories::Column::ClientId.eq(tx.client_uuid()))
        .filter(deployment_repositories::Column::DeploymentId.eq(deployment))
        .all(tx.conn())
        .await?)
}

/// The pull requests and commits a deployment shipped (ids).
pub async fn changes(tx: &TenantTx, deployment: Uuid) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
    let c = tx.client_uuid();
    let prs = deployment_pull_requests::Entity::find()
        .select_only()
        .column(deployment_pull_requests::Column::PullRequestId)
        .filter(deployment_pull_requests::Column::ClientId.eq(c))
        .filter(deployment_pull_requests::Column::DeploymentId.eq(deployment))
        .into_tuple()
        .all(tx.conn())
        .await?;
    let commits = deployment_commits::Entity::find()
        .select_only()
        .column(deployment_commits::Column::CommitId)
        .filter(deployment_commits::Column::ClientId.eq(c))
        .filter(deployment_commits::Column::DeploymentId.eq(deployment))
        .into_tuple()
        .all(tx.conn())
        .await?;
    Ok((prs, commits))
}
