//! Long ranges of the DORA, pull-request and executive reports read summary cells (rollup
//! families 10 and above: per day, and per aligned block of days, written with the facts they
//! summarise) instead of every item's facts.
//! Cells written before have no summaries; the reports stay exact on them, reading the facts. So
//! that every client gains the summaries, each client that has data is marked for a full
//! recomputation of its cells, done by the next refresh.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        super::helpers::recompute_rollups(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DELETE FROM rollup_cells WHERE family >= 10")
            .await?;
        Ok(())
    }
}
