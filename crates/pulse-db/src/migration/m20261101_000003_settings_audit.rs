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
                .table(Alias::new("client_settings"))
                .col(
                    ColumnDef::new(Alias::new("client_id"))
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(text("display_name"))
                .col(json_null("custom_colors"))
                .col(
                    ColumnDef::new(Alias::new("color_schema"))
                        .text()
                        .not_null()
                        .default("default"),
                )
                .col(blob_null("logo"))
                .col(text_null("logo_mime"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk_client("client_settings"))
                .to_owned(),
        )
        .await?;
        enable_tenant_rls(m, "client_settings", "client_id").await?;

        m.create_table(
            Table::create()
                .table(Alias::new("audit_log"))
                .col(id("id"))
                .col(uuid_null("client_id"))
                .col(uuid_null("actor_id"))
                .col(text_null("actor_email"))
                .col(text("action"))
                .col(text_null("target"))
                .col(text_null("ip"))
                .col(ts("at"))
                .col(json_null("details"))
                .foreign_key(&mut fk_client("audit_log"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("audit_log", "client_at", &["client_id", "at"], false))
            .await?;
        enable_tenant_rls(m, "audit_log", "client_id").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        disable_tenant_rls(m, "audit_log").await?;
        m.drop_table(drop("audit_log")).await?;
        disable_tenant_rls(m, "client_settings").await?;
        m.drop_table(drop("client_settings")).await?;
        Ok(())
    }
}
