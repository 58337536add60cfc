//! Organisation administration: explicit account mappings and merged people.
//!
//! - `person_accounts.explicit`: the mapping was made by an administrator. Imports replace only the
//!   accounts they own (`explicit = false`), and an explicit mapping wins over an e-mail match.
//! - `people.merged_into_id`: the person was merged into another one. The row stays (so a
//!   re-import of its source record updates it instead of creating a duplicate) and everything
//!   that resolves to it resolves to the person it was merged into. People are never deleted, so
//!   the column needs no foreign key (SQLite cannot add a composite one to an existing table).

use sea_orm_migration::prelude::*;

use super::helpers::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("person_accounts"))
                .add_column(boolean("explicit", false))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("people"))
                .add_column(uuid_null("merged_into_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "people",
            "merged_into",
            &["client_id", "merged_into_id"],
            false,
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_people_merged_into")
                .table(Alias::new("people"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("people"))
                .drop_column(Alias::new("merged_into_id"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("person_accounts"))
                .drop_column(Alias::new("explicit"))
                .to_owned(),
        )
        .await
    }
}
