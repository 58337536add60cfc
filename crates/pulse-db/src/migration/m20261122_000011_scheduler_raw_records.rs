//! The scheduler's leader lease (one row per named lease, no tenant) and raw_records, the collect
//! stage's output (API payloads as fetched, upserted by external id, purged by retention).

use sea_orm_migration::prelude::*;

use super::helpers::*;
use crate::dialect::{disable_tenant_rls, enable_tenant_rls};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("leader_leases"))
                .col(
                    ColumnDef::new(Alias::new("name"))
                        .text()
                        .not_null()
                        .primary_key(),
                )
                .col(text("owner"))
                .col(ts("expires_at"))
                .col(ts("renewed_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Alias::new("raw_records"))
                .col(id("id"))
                .col(uuid("client_id"))
                .col(uuid("integration_id"))
                .col(text("scope"))
                .col(text("endpoint"))
                .col(text("external_id"))
                .col(json_null("payload"))
                .col(ts("fetched_at"))
                .col(uuid_null("job_id"))
                .foreign_key(&mut fk_client("raw_records"))
                .foreign_key(&mut fk("raw_records", "integration_id", "integrations"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "raw_records",
            "natural_key",
            &["client_id", "integration_id", "endpoint", "external_id"],
            true,
        ))
        .await?;
        m.create_index(index(
            "raw_records",
            "client_scope",
            &["client_id", "integration_id", "scope"],
            false,
        ))
        .await?;
        m.create_index(index("raw_records", "fetched_at", &["fetched_at"], false))
            .await?;
        enable_tenant_rls(m, "raw_records", "client_id").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        disable_tenant_rls(m, "raw_records").await?;
        m.drop_table(drop("raw_records")).await?;
        m.drop_table(drop("leader_leases")).await?;
        Ok(())
    }
}
