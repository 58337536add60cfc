//! Client names are looked up case-insensitively, so they must be unique case-insensitively too:
//! otherwise two concurrent `client create`s of "Acme" and "acme" could both succeed.

use sea_orm_migration::prelude::*;

use super::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The same statement on SQLite and PostgreSQL: both index expressions.
        m.get_connection()
            .execute_unprepared("CREATE UNIQUE INDEX ux_clients_name_ci ON clients (lower(name))")
            .await?;
        m.drop_index(
            Index::drop()
                .name("ix_clients_name")
                .table(Alias::new("clients"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index("clients", "name", &["name"], true))
            .await?;
        m.get_connection()
            .execute_unprepared("DROP INDEX ux_clients_name_ci")
            .await?;
        Ok(())
    }
}
