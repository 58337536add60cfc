//! Child rows that link two tenant rows (team membership, project scope, pull-request commits,
//! what a deployment shipped, sprint membership). They carry `client_id` like every tenant row and
//! are unique per pair, so writing them again changes nothing.

use std::str::FromStr;

use pulse_core::Result;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Value};
use uuid::Uuid;

use super::ingested::CHUNK;
use crate::TenantTx;

fn col<E: EntityTrait>(name: &str) -> E::Column
where
    E::Column: FromStr,
{
    E::Column::from_str(name)
        .ok()
        .unwrap_or_else(|| panic!("{name} is a column of every link table"))
}

fn prepare<E>(tx: &TenantTx, rows: Vec<E::Model>) -> Vec<E::ActiveModel>
where
    E: EntityTrait,
    E::Column: FromStr,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E>,
{
    rows.into_iter()
        .map(|row| {
            let mut am = row.into_active_model();
            am.set(col::<E>("id"), Value::from(Uuid::now_v7()));
            am.set(col::<E>("client_id"), Value::from(tx.client_uuid()));
            am
        })
        .collect()
}

/// Adds link rows, leaving existing pairs (by the unique `conflict` columns) as they are. Returns
/// the number of rows added. `id` and `client_id` of the rows are set here.
pub async fn add<E>(tx: &TenantTx, rows: Vec<E::Model>, conflict: &[&str]) -> Result<u64>
where
    E: EntityTrait,
    E::Column: FromStr,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let mut added = 0;
    let models = prepare::<E>(tx, rows);
    let mut cols = vec![col::<E>("client_id")];
    cols.extend(conflict.iter().map(|c| col::<E>(c)));
    let mut models = models.into_iter().peekable();
    while models.peek().is_some() {
        let chunk: Vec<_> = models.by_ref().take(CHUNK).collect();
        added += E::insert_many(chunk)
            .on_conflict(OnConflict::columns(cols.clone()).do_nothing().to_owned())
            .exec_without_returning(tx.conn())
            .await?;
    }
    Ok(added)
}

/// Replaces the links of the given parents: deletes every row whose `parent` column is one of
/// `parents`, then inserts `rows`. Used when a parent record lists its children in full.
pub async fn replace<E>(
    tx: &TenantTx,
    parent: &str,
    parents: &[Uuid],
    rows: Vec<E::Model>,
    conflict: &[&str],
) -> Result<u64>
where
    E: EntityTrait,
    E::Column: FromStr,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    for chunk in parents.chunks(CHUNK * 4) {
        E::delete_many()
            .filter(col::<E>("client_id").eq(tx.client_uuid()))
            .filter(col::<E>(parent).is_in(chunk.iter().copied()))
            .exec(tx.conn())
            .await?;
    }
    add::<E>(tx, rows, conflict).await
}
