//! Migrations as code: ordered, each with a down step. Names sort in the order they apply.
//!
//! Every table with a `client_id` column must call [`enable_tenant_rls`](crate::dialect::enable_tenant_rls)
//! in its migration; the RLS catalog test fails otherwise.

mod helpers;
mod m20261101_000001_clients_users;
mod m20261101_000002_sessions_tokens;
mod m20261101_000003_settings_audit;
mod m20261115_000001_client_name_ci;
mod m20261115_000002_refresh_generation;
mod m20261120_000004_org;
mod m20261120_000005_code;
mod m20261120_000006_delivery_work;
mod m20261122_000010_integrations_jobs;
mod m20261122_000011_scheduler_raw_records;
mod m20261123_000020_commit_parents;
mod m20261123_000030_org_admin;
mod m20261123_000040_metric_rules;
mod m20261123_000050_rollups;
mod m20261123_000060_covering_indexes;
mod m20261206_000070_rollup_running_totals;
mod m20261206_000080_rollup_trigger_planning;
mod m20261206_000090_deployment_commit_lookup;
mod m20261206_000100_rollup_summaries;
mod m20261206_000110_rollup_delivery_summaries;

use sea_orm::DatabaseConnection;
pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::{MigrationStatus, MigrationTrait};

/// All migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261101_000001_clients_users::Migration),
            Box::new(m20261101_000002_sessions_tokens::Migration),
            Box::new(m20261101_000003_settings_audit::Migration),
            Box::new(m20261115_000001_client_name_ci::Migration),
            Box::new(m20261115_000002_refresh_generation::Migration),
            Box::new(m20261120_000004_org::Migration),
            Box::new(m20261120_000005_code::Migration),
            Box::new(m20261120_000006_delivery_work::Migration),
            Box::new(m20261122_000010_integrations_jobs::Migration),
            Box::new(m20261122_000011_scheduler_raw_records::Migration),
            Box::new(m20261123_000020_commit_parents::Migration),
            Box::new(m20261123_000030_org_admin::Migration),
            Box::new(m20261123_000040_metric_rules::Migration),
            Box::new(m20261123_000050_rollups::Migration),
            Box::new(m20261123_000060_covering_indexes::Migration),
            Box::new(m20261206_000070_rollup_running_totals::Migration),
            Box::new(m20261206_000080_rollup_trigger_planning::Migration),
            Box::new(m20261206_000090_deployment_commit_lookup::Migration),
            Box::new(m20261206_000100_rollup_summaries::Migration),
            Box::new(m20261206_000110_rollup_delivery_summaries::Migration),
        ]
    }
}

/// One migration and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The migration's name (its id for `migrate down --to`).
    pub name: String,
    /// Whether it has been applied.
    pub applied: bool,
}

/// Lists every migration with its status, oldest first.
pub async fn status(db: &DatabaseConnection) -> anyhow::Result<Vec<Status>> {
    let list = Migrator::get_migration_with_status(db).await?;
    Ok(list
        .iter()
        .map(|m| Status {
            name: m.name().to_string(),
            applied: m.status() == MigrationStatus::Applied,
        })
        .collect())
}

/// Applies every pending migration; returns the names applied.
pub async fn up(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let pending: Vec<String> = Migrator::get_pending_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    Migrator::up(db, None).await?;
    Ok(pending)
}

/// Rolls back every applied migration newer than `target` (which stays applied). `target` may be a
/// full name or a unique prefix; `0` rolls back everything. Returns the names rolled back, newest
/// first.
pub async fn down_to(db: &DatabaseConnection, target: &str) -> anyhow::Result<Vec<String>> {
    let all = status(db).await?;
    let keep = if target == "0" {
        0
    } else {
        let matches: Vec<usize> = all
            .iter()
            .enumerate()
            .filter(|(_, m)| m.name.starts_with(target))
            .map(|(i, _)| i)
            .collect();
        match matches.as_slice() {
            [i] => i + 1,
            [] => anyhow::bail!("no migration named '{target}' (see `pulse migrate status`)"),
            _ => anyhow::bail!("'{target}' matches several migrations; give more of the name"),
        }
    };
    let to_undo: Vec<String> = all
        .iter()
        .skip(keep)
        .filter(|m| m.applied)
        .map(|m| m.name.clone())
        .rev()
        .collect();
    if !to_undo.is_empty() {
        Migrator::down(db, Some(to_undo.len() as u32)).await?;
    }
    Ok(to_undo)
}

/// Fails with an actionable message when migrations are pending (for commands that must not
/// migrate on their own).
pub async fn ensure_current(db: &DatabaseConnection) -> anyhow::Result<()> {
    let pending = status(db).await?.into_iter().filter(|m| !m.applied).count();
    anyhow::ensure!(
        pending == 0,
        "{pending} migrations are pending: run `pulse migrate up`"
    );
    Ok(())
}
