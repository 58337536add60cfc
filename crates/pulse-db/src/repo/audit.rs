//! The audit log.

use chrono::{DateTime, Utc};
use pulse_core::{AuditId, ClientId, Result, UserId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::{now, Page, Paged};
use crate::entity::audit_log::{self, Column, Entity, Model};
use crate::TenantTx;

/// One event to record.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// The client, when known.
    pub client: Option<ClientId>,
    /// Who acted, when known.
    pub actor: Option<UserId>,
    /// The actor's e-mail as typed or stored (kept for failed logins of unknown accounts).
    pub actor_email: Option<String>,
    /// What happened, e.g. `auth.login`, `user.create`.
    pub action: String,
    /// What it happened to, e.g. a user id.
    pub target: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Anything else worth keeping (never secrets).
    pub details: Option<serde_json::Value>,
}

/// Records an event on any connection: the tenant transaction of the action it audits (so both
/// commit together), or the privileged connection for events outside a tenant (failed logins).
pub async fn record(conn: &impl ConnectionTrait, entry: Entry) -> Result<()> {
    let model = audit_log::ActiveModel {
        id: Set(AuditId::new().uuid()),
        client_id: Set(entry.client.map(ClientId::uuid)),
        actor_id: Set(entry.actor.map(UserId::uuid)),
        actor_email: Set(entry.actor_email),
        action: Set(entry.action),
        target: Set(entry.target),
        ip: Set(entry.ip),
        at: Set(now()),
        details: Set(entry.details),
    };
    model.insert(conn).await?;
    Ok(())
}

/// Records an event inside a tenant transaction.
pub async fn record_in(tx: &TenantTx, mut entry: Entry) -> Result<()> {
    entry.client = Some(tx.client());
    record(tx.conn(), entry).await
}

/// Filters for reading the log.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Action equals this, or starts with it when it ends in `.` (e.g. `auth.`).
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<UserId>,
    /// Only events at or after.
    pub from: Option<DateTime<Utc>>,
    /// Only events before.
    pub to: Option<DateTime<Utc>>,
}

/// Reads the client's log, newest first.
pub async fn list(tx: &TenantTx, filter: &AuditFilter, page: Page) -> Result<Paged<Model>> {
    let mut query = Entity::find().filter(Column::ClientId.eq(tx.client_uuid()));
    if let Some(action) = &filter.action {
        query = if action.ends_with('.') {
            query.filter(Column::Action.starts_with(action.as_str()))
        } else {
            query.filter(Column::Action.eq(action.as_str()))
        };
    }
    if let Some(actor) = filter.actor {
        query = query.filter(Column::ActorId.eq(actor.uuid()));
    }
    if let Some(from) = filter.from {
        query = query.filter(Column::At.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(Column::At.lt(to));
    }
    let total = query.clone().count(tx.conn()).await?;
    let items = query
        .order_by_desc(Column::At)
        .order_by_desc(Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(tx.conn())
        .await?;
    Ok(Paged { items, total })
}
