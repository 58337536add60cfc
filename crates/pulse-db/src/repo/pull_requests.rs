//! Pull requests: filtered lists and the derived columns kept up to date from commits and reviews.

use pulse_core::Result;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::scope::{self, Scope};
use super::{Page, Paged};
use crate::entity::pull_requests::{Column, Entity, Model};
use crate::TenantTx;

/// Which time column the date range of [`list`] applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrDate {
    /// Opened (`created_at`).
    #[default]
    Created,
    /// Merged (`merged_at`; unmerged pull requests are left out).
    Merged,
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct PrFilter {
    /// Date range, repository, team, project.
    pub scope: Scope,
    /// The time column of the range.
    pub date: PrDate,
    /// Only this state (`open`, `closed`, `merged`).
    pub state: Option<String>,
}

/// Pull requests matching the filter, newest first (by the filter's time column).
pub async fn list(tx: &TenantTx, filter: &PrFilter, page: Page) -> Result<Paged<Model>> {
    let time = match filter.date {
        PrDate::Created => Column::CreatedAt,
        PrDate::Merged => Column::MergedAt,
    };
    let mut cond = Condition::all().add(Column::ClientId.eq(tx.client_uuid()));
    if filter.date == PrDate::Merged {
        cond = cond.add(Column::MergedAt.is_not_null());
    }
    if let Some(from) = filter.scope.from {
        cond = cond.add(time.gte(from));
    }
    if let Some(to) = filter.scope.to {
        cond = cond.add(time.lt(to));
    }
    if let Some(state) = &filter.state {
        cond = cond.add(Column::State.eq(state.as_str()));
    }
    if let Some(repo) = filter.scope.repository {
        cond = cond.add(Column::RepositoryId.eq(repo));
    }
    if let Some(project) = filter.scope.project {
        let cov = scope::coverage(tx, &[project]).await?;
        cond = cond.add(Column::RepositoryId.is_in(cov.repositories));
    }
    if let Some(team) = filter.scope.team {
        let ts = scope::team_scope(tx, team).await?;
        cond = cond.add(
            Condition::any()
                .add(Column::RepositoryId.is_in(ts.coverage.repositories))
                .add(Column::AuthorPersonId.is_in(ts.members)),
        );
    }
    let query = Entity::find().filter(cond);
    let total = query.clone().count(tx.conn()).await?;
    let items = query
        .order_by_desc(time)
        .order_by_desc(Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(tx.conn())
        .await?;
    Ok(Paged { items, total })
}
