//! The scheduler: one leader across processes (a lease row renewed while alive) enqueues each
//! enabled integration's scopes when its schedule is due.

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};
use pulse_core::{ClientId, Error, Result};
use pulse_db::entity::{integrations as integration_rows, leader_leases};
use pulse_db::sea_orm::sea_query::{Expr, OnConflict};
use pulse_db::sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::engine::{enqueue_in, Engine, NewJob};
use crate::integrations::Integration;
use crate::model::Job;
use crate::schedule::is_due;

/// The lease row the scheduler's leader holds.
pub const SCHEDULER_LEASE: &str = "scheduler";

/// Takes or renews the named lease for `owner` until `now + ttl`. True when `owner` holds it:
/// it held it already, the row was free, or the previous holder's lease expired. Atomic on both
/// backends (one conditional `UPDATE`, else an `INSERT ... ON CONFLICT DO NOTHING`).
pub async fn acquire_lease(
    conn: &impl ConnectionTrait,
    name: &str,
    owner: &str,
    now: DateTime<Utc>,
    ttl: TimeDelta,
) -> Result<bool> {
    let until = now + ttl;
    let renewed = leader_leases::Entity::update_many()
        .col_expr(leader_leases::Column::Owner, Expr::value(owner))
        .col_expr(leader_leases::Column::ExpiresAt, Expr::value(until))
        .col_expr(leader_leases::Column::RenewedAt, Expr::value(now))
        .filter(leader_leases::Column::Name.eq(name))
        .filter(
            Condition::any()
                .add(leader_leases::Column::Owner.eq(owner))
                .add(leader_leases::Column::ExpiresAt.lt(now)),
        )
        .exec(conn)
        .await?;
    if renewed.rows_affected == 1 {
        return Ok(true);
    }
    let inserted = leader_leases::Entity::insert(leader_leases::ActiveModel {
        name: Set(name.into()),
        owner: Set(owner.into()),
        expires_at: Set(until),
        renewed_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(leader_leases::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted == 1)
}

/// Gives the named lease up at once (on shutdown), if `owner` holds it.
pub async fn release_lease(
    conn: &impl ConnectionTrait,
    name: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    leader_leases::Entity::update_many()
        .col_expr(
            leader_leases::Column::ExpiresAt,
            Expr::value(now - TimeDelta::seconds(1)),
        )
        .filter(leader_leases::Column::Name.eq(name))
        .filter(leader_leases::Column::Owner.eq(owner))
        .exec(conn)
        .await?;
    Ok(())
}

/// One scheduler instance; run one per process, only the leader acts.
#[derive(Debug, Clone)]
pub struct Scheduler {
    engine: Engine,
    owner: String,
}

impl Scheduler {
    /// A scheduler identified by `owner` (unique across processes).
    pub fn new(engine: Engine, owner: impl Into<String>) -> Self {
        Self {
            engine,
            owner: owner.into(),
        }
    }

    /// Takes or renews leadership; true while this instance leads.
    pub async fn try_lead(&self) -> Result<bool> {
        let ttl = TimeDelta::from_std(self.engine.config().leader_lease)
            .map_err(|e| Error::internal(anyhow::anyhow!(e)))?;
        acquire_lease(
            self.engine.db().system(),
            SCHEDULER_LEASE,
            &self.owner,
            self.engine.now(),
            ttl,
        )
        .await
    }

    /// Gives leadership up.
    pub async fn resign(&self) -> Result<()> {
        release_lease(
            self.engine.db().system(),
            SCHEDULER_LEASE,
            &self.owner,
            self.engine.now(),
        )
        .await
    }

    /// One round: when leading, queues every due scope of every enabled, scheduled integration
    /// (skipping scopes that already have an active job) and records the run time, so missed
    /// slots after downtime give one run, not one per slot. Returns the jobs queued.
    pub async fn tick(&self) -> Result<Vec<Job>> {
        if !self.try_lead().await? {
            return Ok(Vec::new());
        }
        let now = self.engine.now();
        // Cross-tenant read on the privileged connection: the scheduler serves every client.
        let rows = integration_rows::Entity::find()
            .filter(integration_rows::Column::Enabled.eq(true))
            .filter(integration_rows::Column::Schedule.is_not_null())
            .all(self.engine.db().system())
            .await?;
        let mut queued = Vec::new();
        for integration in rows.into_iter().map(Integration::from) {
            let Some(schedule) = &integration.schedule else {
                continue;
            };
            match is_due(schedule, integration.last_scheduled_at, now) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(integration = %integration.id, error = %e, "unusable schedule");
                    continue;
                }
            }
            queued.extend(self.enqueue_scopes(&integration, now).await?);
        }
        if !queued.is_empty() {
            self.engine.inner.wake.notify_waiters();
        }
        for job in &queued {
            self.engine
                .publish_status(job, Some("queued by schedule".into()));
        }
        Ok(queued)
    }

    async fn enqueue_scopes(
        &self,
        integration: &Integration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Job>> {
        let client: ClientId = integration.client;
        let tx = self.engine.db().tenant(client).await?;
        let mut queued = Vec::new();
        for scope in &integration.scopes {
            match enqueue_in(
                &tx,
                now,
                self.engine.config().max_attempts,
                NewJob::sync(integration.id, scope.as_str()),
            )
            .await
            {
                Ok(job) => queued.push(job),
                Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        integration_rows::Entity::update_many()
            .col_expr(integration_rows::Column::LastScheduledAt, Expr::value(now))
            .filter(integration_rows::Column::Id.eq(integration.id.uuid()))
            .filter(integration_rows::Column::ClientId.eq(tx.client_uuid()))
            .exec(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// Ticks every third of the leader lease until `shutdown`, then resigns.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let every = self.engine.config().leader_lease / 3;
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(scheduler = %self.owner, error = %e, "scheduler tick failed");
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
        if let Err(e) = self.resign().await {
            tracing::warn!(scheduler = %self.owner, error = %e, "resigning failed");
        }
    }
}
