//! The PostgreSQL triggers that write aggregate markers plan their statements when they run.
//!
//! PL/pgSQL keeps the plan of a static statement for the connection's life (a statement without
//! parameters is never re-planned, whatever `plan_cache_mode` says), until statistics change.
//! A plan made while a table was empty stays in use while one transaction fills it: the marker
//! of a new Jira transition, which joins the other transitions, was planned as a scan of
//! every transition of the client, so each 200-row insert read them all (measured: 97 s of a
//! 155 s import of 200,000 records went to that one trigger). With `EXECUTE`, each statement is
//! planned for the tables as they are and for the rows the statement actually wrote.
//!
//! SQLite's triggers are unchanged: its planner needs no statistics to use the indexes.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

use super::m20261123_000050_rollups::{replace_pg_functions, Planning};

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn replace(m: &SchemaManager<'_>, planning: Planning) -> Result<(), DbErr> {
    if m.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let conn = m.get_connection();
    for sql in replace_pg_functions(planning) {
        conn.execute_unprepared(&sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(m, Planning::PerCall).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(m, Planning::Cached).await
    }
}
