//! Stored metric rules: the client's document and per-project overrides (`metric_rules`). The
//! documents are opaque JSON here; `pulse_analytics::rules` validates them before they are saved
//! and interprets them.

use chrono::{DateTime, Utc};
use pulse_core::Result;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::now;
use crate::entity::metric_rules::{self, Column, Entity, Model};
use crate::TenantTx;

/// The `source` of rows the metric rules derive (incidents found by rule, merged-PR fallback
/// deployments). Imports and pushes may not use it, so derived rows are never confused with
/// loaded ones.
pub const DERIVED_SOURCE: &str = "rules";

/// A stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The JSON document.
    pub document: serde_json::Value,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Model> for Stored {
    fn from(m: Model) -> Self {
        Self {
            document: m.document,
            updated_at: m.updated_at,
        }
    }
}

async fn find(tx: &TenantTx, project: Option<Uuid>) -> Result<Option<Model>> {
    let q = Entity::find().filter(Column::ClientId.eq(tx.client_uuid()));
    let q = match project {
        Some(p) => q.filter(Column::ProjectId.eq(p)),
        None => q.filter(Column::ProjectId.is_null()),
    };
    Ok(q.one(tx.conn()).await?)
}

/// The client's document, if one was saved.
pub async fn client(tx: &TenantTx) -> Result<Option<Stored>> {
    Ok(find(tx, None).await?.map(Into::into))
}

/// The override of a project, if any.
pub async fn project(tx: &TenantTx, project: Uuid) -> Result<Option<Stored>> {
    Ok(find(tx, Some(project)).await?.map(Into::into))
}

/// Every project override, by project id (ascending).
pub async fn overrides(tx: &TenantTx) -> Result<Vec<(Uuid, Stored)>> {
    let rows = Entity::find()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .filter(Column::ProjectId.is_not_null())
        .order_by_asc(Column::ProjectId)
        .all(tx.conn())
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|m| m.project_id.map(|p| (p, m.into())))
        .collect())
}

/// Stores the client's document (`project` `None`) or a project's override, replacing any
/// previous one.
pub async fn save(
    tx: &TenantTx,
    project: Option<Uuid>,
    document: serde_json::Value,
) -> Result<Stored> {
    let saved = match find(tx, project).await? {
        Some(existing) => {
            let mut am = existing.into_active_model();
            am.document = Set(document);
            am.updated_at = Set(now());
            am.update(tx.conn()).await?
        }
        None => {
            metric_rules::ActiveModel {
                id: Set(Uuid::now_v7()),
                client_id: Set(tx.client_uuid()),
                project_id: Set(project),
                document: Set(document),
                updated_at: Set(now()),
            }
            .insert(tx.conn())
            .await?
        }
    };
    Ok(saved.into())
}

/// Removes a project's override; returns whether there was one.
pub async fn clear(tx: &TenantTx, project: Uuid) -> Result<bool> {
    let done = Entity::delete_many()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .filter(Column::ProjectId.eq(project))
        .exec(tx.conn())
        .await?;
    Ok(done.rows_affected > 0)
}
