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
                .table(Alias::new("sessions"))
                .col(id("id"))
                .col(uuid("client_id"))
                .col(uuid("user_id"))
                .col(text("refresh_hash"))
                .col(text_null("previous_refresh_hash"))
                .col(ts("created_at"))
                .col(ts("last_used_at"))
                .col(ts("expires_at"))
                .col(ts_null("revoked_at"))
                .col(text_null("revoked_reason"))
                .col(text_null("ip"))
                .col(text_null("user_agent"))
                .foreign_key(&mut fk_client("sessions"))
                .foreign_key(&mut fk("sessions", "user_id", "users"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "sessions",
            "client_user",
            &["client_id", "user_id"],
            false,
        ))
        .await?;
        enable_tenant_rls(m, "sessions", "client_id").await?;

        m.create_table(
            Table::create()
                .table(Alias::new("api_tokens"))
                .col(id("id"))
                .col(uuid("client_id"))
                .col(uuid("user_id"))
                .col(text("name"))
                .col(text("secret_hash"))
                .col(text("role"))
                .col(ts("created_at"))
                .col(ts_null("last_used_at"))
                .col(ts_null("expires_at"))
                .col(ts_null("revoked_at"))
                .foreign_key(&mut fk_client("api_tokens"))
                .foreign_key(&mut fk("api_tokens", "user_id", "users"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "api_tokens",
            "client_user",
            &["client_id", "user_id"],
            false,
        ))
        .await?;
        enable_tenant_rls(m, "api_tokens", "client_id").await?;

        m.create_table(
            Table::create()
                .table(Alias::new("login_failures"))
                .col(id("id"))
                .col(text("account_key"))
                .col(text("ip"))
                .col(ts("at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "login_failures",
            "account_at",
            &["account_key", "at"],
            false,
        ))
        .await?;
        m.create_index(index("login_failures", "ip_at", &["ip", "at"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(drop("login_failures")).await?;
        disable_tenant_rls(m, "api_tokens").await?;
        m.drop_table(drop("api_tokens")).await?;
        disable_tenant_rls(m, "sessions").await?;
        m.drop_table(drop("sessions")).await?;
        Ok(())
    }
}
