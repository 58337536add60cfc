//! A deployment's repositories are found by deployed commit, `(client_id, repository_id,
//! commit_sha)`: linking a merged pull request to the deployments that shipped its merge commit
//! looks them up by repository and sha. With `(client_id, repository_id)` alone, each lookup read
//! every deployment of the repository, which grows with the history loaded. The new index keeps
//! the old one's prefix, so it replaces it.

use sea_orm_migration::prelude::*;

use super::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "deployment_repositories";

async fn replace(
    m: &SchemaManager<'_>,
    drop: &str,
    name: &str,
    columns: &[&str],
) -> Result<(), DbErr> {
    m.create_index(index(TABLE, name, columns, false)).await?;
    m.drop_index(
        Index::drop()
            .name(format!("ix_{TABLE}_{drop}"))
            .table(Alias::new(TABLE))
            .to_owned(),
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(
            m,
            "repository_id",
            "repository_sha",
            &["client_id", "repository_id", "commit_sha"],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(
            m,
            "repository_sha",
            "repository_id",
            &["client_id", "repository_id"],
        )
        .await
    }
}
