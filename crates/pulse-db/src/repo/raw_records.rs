//! The collect stage's output: API records as fetched, one row per `(client, integration,
//! endpoint, external id)`, kept for re-convert and purged by retention.

use pulse_core::Result;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::raw_records::{Column, Entity, Model};
use crate::TenantTx;

/// The columns that identify a raw record within its client.
const KEY: [Column; 4] = [
    Column::ClientId,
    Column::IntegrationId,
    Column::Endpoint,
    Column::ExternalId,
];

/// What a record written again replaces.
const UPDATE: [Column; 4] = [
    Column::Scope,
    Column::Payload,
    Column::FetchedAt,
    Column::JobId,
];

/// Rows per SQLite statement: 9 columns each, well under the bind-parameter limit.
const SQLITE_ROWS: usize = 500;

/// Inserts or replaces `rows` by `(integration, endpoint, external id)` in the transaction's
/// client (each row's `client_id` is overwritten with it), so a page written twice (at-least-once
/// delivery) leaves one row per record; of repeated keys the later row wins. Existing rows keep
/// their `id`. Returns the rows written.
pub async fn upsert(tx: &TenantTx, rows: Vec<Model>) -> Result<u64> {
    let client = tx.client_uuid();
    let rows = super::last_per_key(rows, |row| {
        (
            row.integration_id,
            row.endpoint.clone(),
            row.external_id.clone(),
        )
    })
    .map(|mut row| {
        row.client_id = client;
        row
    });
    if tx.conn().get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        return Ok(crate::dialect::upsert_arrays::<Entity>(tx.conn(), rows, &KEY, &UPDATE).await?);
    }
    let mut written = 0u64;
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let models: Vec<crate::entity::raw_records::ActiveModel> = rows
            .by_ref()
            .take(SQLITE_ROWS)
            .map(sea_orm::IntoActiveModel::into_active_model)
            .collect();
        written += models.len() as u64;
        Entity::insert_many(models)
            .on_conflict(OnConflict::columns(KEY).update_columns(UPDATE).to_owned())
            .exec_without_returning(tx.conn())
            .await?;
    }
    Ok(written)
}

/// The raw records of one scope and endpoint of an integration, in `external_id` order after
/// `after` (exclusive), at most `limit` of them: the pages a re-convert walks. The natural key's
/// index serves the order.
pub async fn page(
    tx: &TenantTx,
    integration: uuid::Uuid,
    scope: &str,
    endpoint: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Model>> {
    let mut query = Entity::find()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .filter(Column::IntegrationId.eq(integration))
        .filter(Column::Endpoint.eq(endpoint))
        .filter(Column::Scope.eq(scope));
    if let Some(after) = after {
        query = query.filter(Column::ExternalId.gt(after));
    }
    Ok(query
        .order_by_asc(Column::ExternalId)
        .limit(limit)
        .all(tx.conn())
        .await?)
}

/// How many raw records one scope of an integration keeps.
pub async fn count(tx: &TenantTx, integration: uuid::Uuid, scope: &str) -> Result<u64> {
    Ok(Entity::find()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .filter(Column::IntegrationId.eq(integration))
        .filter(Column::Scope.eq(scope))
        .count(tx.conn())
        .await?)
}
