//! Commits record how many parents they have (`parent_count`): 0 for a root commit, 1 for an
//! ordinary commit, 2 or more for a merge. Nullable: sources that do not know it (imports, older
//! rows) leave it empty.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("commits"))
                .add_column(ColumnDef::new(Alias::new("parent_count")).integer().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("commits"))
                .drop_column(Alias::new("parent_count"))
                .to_owned(),
        )
        .await
    }
}
