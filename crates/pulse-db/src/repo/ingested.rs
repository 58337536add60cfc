//! Idempotent writes and lookups for ingested tables: every row is keyed by
//! `(client_id, source, external_id)`, so loading the same record again updates it in place (its
//! `id` never changes) instead of adding a duplicate.
//!
//! The functions are generic over the entities that implement [`Keyed`] (every table with a
//! `source`/`external_id` pair). They run on both backends: a bulk `INSERT ... ON CONFLICT
//! (client_id, source, external_id) DO UPDATE`, preceded by one lookup per chunk that tells
//! inserted from updated rows and keeps existing ids.

use std::collections::{HashMap, HashSet};

use pulse_core::Result;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IdenStatic, IntoActiveModel,
    Iterable, ModelTrait, QueryFilter, QuerySelect, Value,
};
use uuid::Uuid;

use crate::TenantTx;

/// Rows per statement: keeps every statement well under both backends' bind-parameter limits.
pub(crate) const CHUNK: usize = 200;

/// An ingested entity: it has `id`, `client_id`, `source`, `external_id` and `synced_at` columns.
pub trait Keyed: EntityTrait {
    /// `id`.
    fn id_col() -> Self::Column;
    /// `client_id`.
    fn client_col() -> Self::Column;
    /// `source`.
    fn source_col() -> Self::Column;
    /// `external_id`.
    fn external_col() -> Self::Column;
    /// `synced_at`.
    fn synced_col() -> Self::Column;
}

macro_rules! keyed {
    ($entity:ty) => {
        impl $crate::repo::ingested::Keyed for $entity {
            fn id_col() -> Column {
                Column::Id
            }
            fn client_col() -> Column {
                Column::ClientId
            }
            fn source_col() -> Column {
                Column::Source
            }
            fn external_col() -> Column {
                Column::ExternalId
            }
            fn synced_col() -> Column {
                Column::SyncedAt
            }
        }
    };
}
pub(crate) use keyed;

/// What an upsert did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upserted {
    /// The stored id of each input row, in input order.
    pub ids: Vec<Uuid>,
    /// Rows that did not exist before.
    pub inserted: u64,
    /// Rows that existed and were overwritten.
    pub updated: u64,
}

fn text_of(v: Value) -> String {
    match v {
        Value::String(Some(s)) => *s,
        _ => String::new(),
    }
}

/// Inserts or updates `rows` by `(source, external_id)` in the transaction's client. Each row's
/// `client_id` is set to the transaction's client and `synced_at` to now; `id` is kept for
/// existing rows and taken from the row (or generated) for new ones. When the same key appears
/// twice, the later row wins.
pub async fn upsert<E>(tx: &TenantTx, rows: Vec<E::Model>) -> Result<Upserted>
where
    E: Keyed,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let mut out = Upserted::default();
    let mut keys_in_order = Vec::with_capacity(rows.len());
    // Deduplicate by key, the later row winning, without reordering the ids reported.
    let mut by_key: HashMap<(String, String), E::Model> = HashMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    for row in rows {
        let key = (
            text_of(row.get(E::source_col())),
            text_of(row.get(E::external_col())),
        );
        keys_in_order.push(key.clone());
        if by_key.insert(key.clone(), row).is_none() {
            order.push(key);
        }
    }
    let mut stored: HashMap<(String, String), Uuid> = HashMap::new();
    // `merged_into_id` (people) is an administrator's decision that a re-import must not undo.
    let update_cols: Vec<E::Column> = E::Column::iter()
        .filter(|c| {
            !matches!(
                c.as_str(),
                "id" | "client_id" | "source" | "external_id" | "merged_into_id"
            )
        })
        .collect();
    let now = super::now();
    for chunk in order.chunks(CHUNK) {
        let existing = existing_ids::<E>(tx, chunk).await?;
        let mut models = Vec::with_capacity(chunk.len());
        for key in chunk {
            let row = by_key.remove(key).expect("every key has a row");
            let mut am = row.into_active_model();
            let id = match existing.get(key) {
                Some(id) => {
                    out.updated += 1;
                    *id
                }
                None => {
                    out.inserted += 1;
                    match am.get(E::id_col()).into_value() {
                        Some(Value::Uuid(Some(id))) if !id.is_nil() => *id,
                        _ => Uuid::now_v7(),
                    }
                }
            };
            am.set(E::id_col(), id.into());
            am.set(E::client_col(), tx.client_uuid().into());
            am.set(E::synced_col(), now.into());
            models.push(am);
        }
        E::insert_many(models)
            .on_conflict(
                OnConflict::columns([E::client_col(), E::source_col(), E::external_col()])
                    .update_columns(update_cols.clone())
                    .to_owned(),
            )
            .exec_without_returning(tx.conn())
            .await?;
        // Read the ids back: a row inserted concurrently since the lookup keeps its own id.
        stored.extend(existing_ids::<E>(tx, chunk).await?);
    }
    out.ids = keys_in_order
        .iter()
        .map(|k| stored.get(k).copied().unwrap_or_default())
        .collect();
    Ok(out)
}

/// Rows per statement of [`store`]: at most 500, and well under both backends' bind-parameter
/// limits (SQLite 32766, PostgreSQL 65535). Larger statements measured slower, not faster.
fn store_chunk(columns: usize) -> usize {
    (30_000 / columns.max(1)).clamp(1, 500)
}

/// Inserts or updates `rows` by `(source, external_id)` like [`upsert`], without reporting ids:
/// one `INSERT ... ON CONFLICT DO UPDATE` per chunk and no lookups, for loaders that do not need
/// the ids back (a connector's bulk rows). Existing rows keep their `id`; new rows take the row's
/// non-nil `id` or a generated one. Returns the rows written (after dropping repeated keys, the
/// later row winning).
pub async fn store<E>(tx: &TenantTx, rows: Vec<E::Model>) -> Result<u64>
where
    E: Keyed,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let unique = super::last_per_key(rows, |row| {
        (
            text_of(row.get(E::source_col())),
            text_of(row.get(E::external_col())),
        )
    });
    let update_cols: Vec<E::Column> = E::Column::iter()
        .filter(|c| !matches!(c.as_str(), "id" | "client_id" | "source" | "external_id"))
        .collect();
    let now = super::now();
    let client = tx.client_uuid();
    if tx.conn().get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        return store_json::<E>(tx, unique, &update_cols, now).await;
    }
    let chunk = store_chunk(E::Column::iter().count());
    let mut written = 0u64;
    let mut rows = unique.peekable();
    while rows.peek().is_some() {
        let models: Vec<E::ActiveModel> = rows
            .by_ref()
            .take(chunk)
            .map(|row| {
                let mut am = row.into_active_model();
                let id = match am.get(E::id_col()).into_value() {
                    Some(Value::Uuid(Some(id))) if !id.is_nil() => *id,
                    _ => Uuid::now_v7(),
                };
                am.set(E::id_col(), id.into());
                am.set(E::client_col(), client.into());
                am.set(E::synced_col(), now.into());
                am
            })
            .collect();
        written += models.len() as u64;
        E::insert_many(models)
            .on_conflict(
                OnConflict::columns([E::client_col(), E::source_col(), E::external_col()])
                    .update_columns(update_cols.clone())
                    .to_owned(),
            )
            .exec_without_returning(tx.conn())
            .await?;
    }
    Ok(written)
}

/// [`store`] on PostgreSQL: the rows, stamped with their id, client and sync time, go through
/// [`crate::dialect::upsert_arrays`].
async fn store_json<E>(
    tx: &TenantTx,
    rows: impl Iterator<Item = E::Model>,
    update_cols: &[E::Column],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64>
where
    E: Keyed,
{
    let client = tx.client_uuid();
    let stamped = rows.map(|mut row| {
        let id = match row.get(E::id_col()) {
            Value::Uuid(Some(id)) if !id.is_nil() => *id,
            _ => Uuid::now_v7(),
        };
        row.set(E::id_col(), id.into());
        row.set(E::client_col(), client.into());
        row.set(E::synced_col(), now.into());
        row
    });
    Ok(crate::dialect::upsert_arrays::<E>(
        tx.conn(),
        stamped,
        &[E::client_col(), E::source_col(), E::external_col()],
        update_cols,
    )
    .await?)
}

async fn existing_ids<E: Keyed>(
    tx: &TenantTx,
    keys: &[(String, String)],
) -> Result<HashMap<(String, String), Uuid>> {
    let mut by_source: HashMap<&str, Vec<&str>> = HashMap::new();
    for (source, external) in keys {
        by_source
            .entry(source.as_str())
            .or_default()
            .push(external.as_str());
    }
    let mut out = HashMap::new();
    for (source, externals) in by_source {
        let found: Vec<(Uuid, String)> = E::find()
            .select_only()
            .column(E::id_col())
            .column(E::external_col())
            .filter(E::client_col().eq(tx.client_uuid()))
            .filter(E::source_col().eq(source))
            .filter(E::external_col().is_in(externals))
            .into_tuple()
            .all(tx.conn())
            .await?;
        for (id, external) in found {
            out.insert((source.to_string(), external), id);
        }
    }
    Ok(out)
}

/// The ids of the rows with these external ids in `source` (missing ones are left out).
pub async fn ids_by_external<E: Keyed>(
    tx: &TenantTx,
    source: &str,
    external_ids: &[String],
) -> Result<HashMap<String, Uuid>> {
    let unique: Vec<String> = external_ids
        .iter()
        .cloned()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut out = HashMap::with_capacity(unique.len());
    for chunk in unique.chunks(CHUNK * 4) {
        let keys: Vec<(String, String)> = chunk
            .iter()
            .map(|e| (source.to_string(), e.clone()))
            .collect();
        for ((_, external), id) in existing_ids::<E>(tx, &keys).await? {
            out.insert(external, id);
        }
    }
    Ok(out)
}

/// The id of the row with this external id in `source`.
pub async fn find_id<E: Keyed>(
    tx: &TenantTx,
    source: &str,
    external_id: &str,
) -> Result<Option<Uuid>> {
    Ok(ids_by_external::<E>(tx, source, &[external_id.to_string()])
        .await?
        .into_values()
        .next())
}

/// The row with this external id in `source`.
pub async fn find_by_external<E: Keyed>(
    tx: &TenantTx,
    source: &str,
    external_id: &str,
) -> Result<Option<E::Model>> {
    Ok(E::find()
        .filter(E::client_col().eq(tx.client_uuid()))
        .filter(E::source_col().eq(source))
        .filter(E::external_col().eq(external_id))
        .one(tx.conn())
        .await?)
}

/// The row with this id, in the transaction's client.
pub async fn get<E: Keyed>(tx: &TenantTx, id: Uuid) -> Result<E::Model> {
    E::find()
        .filter(E::client_col().eq(tx.client_uuid()))
        .filter(E::id_col().eq(id))
        .one(tx.conn())
        .await?
        .ok_or(pulse_core::Error::NotFound)
}
