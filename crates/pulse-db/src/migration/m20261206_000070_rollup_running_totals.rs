//! Running totals on the aggregate cells: `run_items` and `run_extra` hold the sums of `items`
//! and `extra` over the cells of the same client, family and dimension up to and including the
//! cell's day. The counters of any day range then come from two cells per dimension (the last
//! one before the range and the last one inside it) instead of a scan of every day in between,
//! which is what ranking every team and project over a year needs.
//!
//! Existing cells get zeros here; every client gets an `all` marker, so its cells (and their
//! totals) are recomputed on first use.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 2] = ["run_items", "run_extra"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("rollup_cells"))
                    .add_column(
                        ColumnDef::new(Alias::new(column))
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        }
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO rollup_dirty (client_id, kind, day) SELECT id, 'all', 0 FROM clients \
                 WHERE true ON CONFLICT DO NOTHING",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("rollup_cells"))
                    .drop_column(Alias::new(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
