//! The job engine's tables: integrations (what to sync), jobs (the durable queue), job_events (every
//! status change) and job_logs (what a run said, purged by retention).

use sea_orm_migration::prelude::*;

use super::helpers::*;
use crate::dialect::{disable_tenant_rls, enable_tenant_rls};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn int(name: &str, default: i32) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .integer()
        .not_null()
        .default(default)
        .to_owned()
}

/// Statuses a job holds while it still has work to do; at most one such job per integration scope.
const ACTIVE: &str = "('queued','running','paused','waiting_rate_limit')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("integrations"))
                .col(id("id"))
                .col(uuid("client_id"))
                .col(text("kind"))
                .col(text("name"))
                .col(text_null("base_url"))
                // AES-256-GCM ciphertext bound to "<client_id>/<integration id>"; never plaintext.
                .col(text_null("credentials"))
                .col(json_null("scopes"))
                .col(json_null("schedule"))
                .col(json_null("rules"))
                .col(boolean("enabled", true))
                .col(ts_null("last_scheduled_at"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk_client("integrations"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "integrations",
            "client_name",
            &["client_id", "name"],
            true,
        ))
        .await?;
        enable_tenant_rls(m, "integrations", "client_id").await?;

        m.create_table(
            Table::create()
                .table(Alias::new("jobs"))
                .col(id("id"))
                .col(uuid("client_id"))
                .col(uuid("integration_id"))
                .col(text("kind"))
                .col(text("scope"))
                .col(text("mode"))
                .col(text("status"))
                // Incremented by every claim: the fencing token of the current run.
                .col(int("attempt", 0))
                // Failed runs so far (rate-limit waits and cancellations do not count).
                .col(int("failures", 0))
                .col(int("max_attempts", 5))
                .col(ts("run_at"))
                .col(text_null("lease_owner"))
                .col(ts_null("lease_expires_at"))
                .col(ts_null("heartbeat_at"))
                .col(json_null("progress"))
                .col(json_null("checkpoint"))
                .col(text_null("last_error"))
                .col(boolean("cancel_requested", false))
                .col(boolean("pause_requested", false))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(ts_null("started_at"))
                .col(ts_null("finished_at"))
                .foreign_key(&mut fk_client("jobs"))
                .foreign_key(&mut fk("jobs", "integration_id", "integrations"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("jobs", "claim", &["status", "run_at"], false))
            .await?;
        m.create_index(index(
            "jobs",
            "client_created",
            &["client_id", "created_at"],
            false,
        ))
        .await?;
        m.create_index(index(
            "jobs",
            "client_integration",
            &["client_id", "integration_id", "scope"],
            false,
        ))
        .await?;
        // Partial indexes are spelled the same on SQLite and PostgreSQL.
        m.get_connection()
            .execute_unprepared(&format!(
                "CREATE UNIQUE INDEX ix_jobs_active_scope ON jobs (client_id, integration_id, scope) \
                 WHERE status IN {ACTIVE}"
            ))
            .await?;
        enable_tenant_rls(m, "jobs", "client_id").await?;

        m.create_table(
            Table::create()
                .table(Alias::new("job_events"))
                .col(id("id"))
                .col(uuid("client_id"))
                .col(uuid("job_id"))
                .col(ts("at"))
                .col(text_null("from_status"))
                .col(text("to_status"))
                .col(int("attempt", 0))
                .col(text_null("message"))
                .foreign_key(&mut fk_client("job_events"))
                .foreign_key(&mut fk("job_events", "job_id", "jobs"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "job_events",
            "client_job",
            &["client_id", "job_id", "at"],
            false,
        ))
        .await?;
        enable_tenant_rls(m, "job_events", "client_id").await?;

        m.create_table(
            Table::create()
                .table(Alias::new("job_logs"))
                .col(id("id"))
                .col(uuid("client_id"))
                .col(uuid("job_id"))
                .col(ts("at"))
                .col(text("level"))
                .col(text("message"))
                .col(json_null("fields"))
                .foreign_key(&mut fk_client("job_logs"))
                .foreign_key(&mut fk("job_logs", "job_id", "jobs"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "job_logs",
            "client_job",
            &["client_id", "job_id", "at"],
            false,
        ))
        .await?;
        m.create_index(index("job_logs", "at", &["at"], false))
            .await?;
        enable_tenant_rls(m, "job_logs", "client_id").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["job_logs", "job_events", "jobs", "integrations"] {
            disable_tenant_rls(m, table).await?;
            m.drop_table(drop(table)).await?;
        }
        Ok(())
    }
}
