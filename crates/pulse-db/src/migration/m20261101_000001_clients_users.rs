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
                .table(Alias::new("clients"))
                .col(id("id"))
                .col(text("name"))
                .col(boolean("active", true))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("clients", "name", &["name"], true))
            .await?;
        enable_tenant_rls(m, "clients", "id").await?;

        m.create_table(
            Table::create()
                .table(Alias::new("users"))
                .col(id("id"))
                .col(uuid("client_id"))
                .col(text("email"))
                .col(text("name"))
                .col(text("password_hash"))
                .col(text("role"))
                .col(boolean("active", true))
                .col(
                    ColumnDef::new(Alias::new("theme"))
                        .text()
                        .not_null()
                        .default("system"),
                )
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(ts("password_changed_at"))
                .col(ts_null("last_login_at"))
                .foreign_key(&mut fk_client("users"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "users",
            "client_email",
            &["client_id", "email"],
            true,
        ))
        .await?;
        m.create_index(index("users", "email", &["email"], false))
            .await?;
        enable_tenant_rls(m, "users", "client_id").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        disable_tenant_rls(m, "users").await?;
        m.drop_table(drop("users")).await?;
        disable_tenant_rls(m, "clients").await?;
        m.drop_table(drop("clients")).await?;
        Ok(())
    }
}
