//! Sprints: filtered lists and their issues.

use pulse_core::Result;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::scope::{self, Scope};
use super::{Page, Paged};
use crate::entity::sprint_issues;
use crate::entity::sprints::{Column, Entity, Model};
use crate::TenantTx;

/// Filters for [`list`]. The date range keeps sprints that overlap it (started before its end and
/// ended or completed at or after its start). The repository filter does not apply to sprints and
/// is ignored.
#[derive(Debug, Clone, Default)]
pub struct SprintFilter {
    /// Date range, team, project.
    pub scope: Scope,
    /// Only this board.
    pub board: Option<Uuid>,
    /// Only this state (`future`, `active`, `closed`).
    pub state: Option<String>,
}

/// The `WHERE` condition of [`list`] and [`all`] (tenant filter included).
pub async fn condition(tx: &TenantTx, filter: &SprintFilter) -> Result<Condition> {
    let mut cond = Condition::all().add(Column::ClientId.eq(tx.client_uuid()));
    if let Some(to) = filter.scope.to {
        cond = cond.add(Column::StartAt.lt(to));
    }
    if let Some(from) = filter.scope.from {
        cond = cond.add(
            Condition::any()
                .add(Column::EndAt.gte(from))
                .add(Column::CompleteAt.gte(from)),
        );
    }
    if let Some(board) = filter.board {
        cond = cond.add(Column::BoardId.eq(board));
    }
    if let Some(state) = &filter.state {
        cond = cond.add(Column::State.eq(state.as_str()));
    }
    if let Some(project) = filter.scope.project {
        let cov = scope::coverage(tx, &[project]).await?;
        cond = cond.add(Column::BoardId.is_in(cov.boards));
    }
    if let Some(team) = filter.scope.team {
        let ts = scope::team_scope(tx, team).await?;
        cond = cond.add(Column::BoardId.is_in(ts.coverage.boards));
    }
    Ok(cond)
}

/// Every sprint matching the filter (unpaged, unordered), for the metrics.
pub async fn all(tx: &TenantTx, filter: &SprintFilter) -> Result<Vec<Model>> {
    let cond = condition(tx, filter).await?;
    Ok(Entity::find().filter(cond).all(tx.conn()).await?)
}

/// The issue memberships of these sprints.
pub async fn issues_of(tx: &TenantTx, sprints: &[Uuid]) -> Result<Vec<sprint_issues::Model>> {
    let mut out = Vec::new();
    for chunk in sprints.chunks(super::ingested::CHUNK) {
        out.extend(
            sprint_issues::Entity::find()
                .filter(sprint_issues::Column::ClientId.eq(tx.client_uuid()))
                .filter(sprint_issues::Column::SprintId.is_in(chunk.iter().copied()))
                .all(tx.conn())
                .await?,
        );
    }
    Ok(out)
}

/// Sprints matching the filter, latest start first.
pub async fn list(tx: &TenantTx, filter: &SprintFilter, page: Page) -> Result<Paged<Model>> {
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
pub async fn ordered(tx: &TenantTx, filter: &SprintFilter) -> Result<sea_orm::Select<Entity>> {
    let cond = condition(tx, filter).await?;
    Ok(Entity::find()
        .filter(cond)
        .order_by_desc(Column::StartAt)
        .order_by_desc(Column::Id))
}

/// The issues that were in a sprint, with when they were added and removed.
pub async fn issues(tx: &TenantTx, sprint: Uuid) -> Result<Vec<sprint_issues::Model>> {
    Ok(sprint_issues::Entity::find()
        .filter(sprint_issues::Column::ClientId.eq(tx.client_uuid()))
        .filter(sprint_issues::Column::SprintId.eq(sprint))
        .all(tx.conn())
        .await?)
}
