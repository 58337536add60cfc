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

fn time_column(date: PrDate) -> Column {
    match date {
        PrDate::Created => Column::CreatedAt,
        PrDate::Merged => Column::MergedAt,
    }
}

/// The `WHERE` condition of [`list`] and [`all`] (tenant filter included).
pub async fn condition(tx: &TenantTx, filter: &PrFilter) -> Result<Condition> {
    let time = time_column(filter.date);
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
    Ok(cond)
}

/// Every pull request matching the filter (unpaged, unordered), for the metrics.
pub async fn all(tx: &TenantTx, filter: &PrFilter) -> Result<Vec<Model>> {
    let cond = condition(tx, filter).await?;
    Ok(Entity::find().filter(cond).all(tx.conn()).await?)
}

/// Pull requests matching the filter, newest first (by the filter's time column).
pub async fn list(tx: &TenantTx, filter: &PrFilter, page: Page) -> Result<Paged<Model>> {
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
pub async fn ordered(tx: &TenantTx, filter: &PrFilter) -> Result<sea_orm::Select<Entity>> {
    let time = time_column(filter.date);
    let cond = condition(tx, filter).await?;
    Ok(Entity::find()
        .filter(cond)
        .order_by_desc(time)
        .order_by_desc(Column::Id))
}

/// Commit times (authored) of these pull requests' own commits: `(pull request, authored_at)`.
pub async fn commit_times_of(
    tx: &TenantTx,
    prs: &[uuid::Uuid],
) -> Result<Vec<(uuid::Uuid, chrono::DateTime<chrono::Utc>)>> {
    use crate::entity::{commits, pr_commits};
    let c = tx.client_uuid();
    let mut links: Vec<(uuid::Uuid, uuid::Uuid)> = Vec::new();
    for chunk in prs.chunks(super::ingested::CHUNK) {
        let rows: Vec<(uuid::Uuid, uuid::Uuid)> = pr_commits::Entity::find()
            .select_only()
            .column(pr_commits::Column::PullRequestId)
            .column(pr_commits::Column::CommitId)
            .filter(pr_commits::Column::ClientId.eq(c))
            .filter(pr_commits::Column::PullRequestId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        links.extend(rows);
    }
    let ids: Vec<uuid::Uuid> = links.iter().map(|(_, commit)| *commit).collect();
    let mut times = std::collections::HashMap::new();
    for chunk in ids.chunks(super::ingested::CHUNK) {
        let rows: Vec<(uuid::Uuid, chrono::DateTime<chrono::Utc>)> = commits::Entity::find()
            .select_only()
            .column(commits::Column::Id)
            .column(commits::Column::AuthoredAt)
            .filter(commits::Column::ClientId.eq(c))
            .filter(commits::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        times.extend(rows);
    }
    Ok(links
        .into_iter()
        .filter_map(|(pr, commit)| times.get(&commit).map(|t| (pr, *t)))
        .collect())
}

/// The reviews of these pull requests.
pub async fn reviews_of(
    tx: &TenantTx,
    prs: &[uuid::Uuid],
) -> Result<Vec<crate::entity::pr_reviews::Model>> {
    use crate::entity::pr_reviews;
    let mut out = Vec::new();
    for chunk in prs.chunks(super::ingested::CHUNK) {
        out.extend(
            pr_reviews::Entity::find()
                .filter(pr_reviews::Column::ClientId.eq(tx.client_uuid()))
                .filter(pr_reviews::Column::PullRequestId.is_in(chunk.iter().copied()))
                .all(tx.conn())
                .await?,
        );
    }
    Ok(out)
}
