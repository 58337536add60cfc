//! The sprint-membership index by issue carries the sprint too, `(client_id, issue_id,
//! sprint_id)`, so it covers the joins from an issue to its sprints (the aggregates' triggers run
//! one per written issue). With only `(client_id, issue_id)`, SQLite's planner preferred the
//! covering `(client_id, sprint_id, issue_id)` pair index with `client_id` alone, scanning every
//! membership of the client for each issue written: loads grew quadratically.

use sea_orm_migration::prelude::*;

use super::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn replace(m: &SchemaManager<'_>, columns: &[&str]) -> Result<(), DbErr> {
    m.drop_index(
        Index::drop()
            .name("ix_sprint_issues_issue_id")
            .table(Alias::new("sprint_issues"))
            .to_owned(),
    )
    .await?;
    m.create_index(index("sprint_issues", "issue_id", columns, false))
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(m, &["client_id", "issue_id", "sprint_id"]).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(m, &["client_id", "issue_id"]).await
    }
}
