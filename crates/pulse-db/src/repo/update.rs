//! Updates that give each row its own values, many rows per statement.
//!
//! One `UPDATE` per row costs a round trip, a plan and (on PostgreSQL) a run of the statement-level
//! triggers per row: for the 20,000 pull requests of a large import that was thousands of
//! statements where a hundred do. Here one statement updates up to [`CHUNK`] rows from a `VALUES`
//! list (`UPDATE ... FROM (VALUES ...)`, which both backends take in the same spelling).

use std::collections::HashMap;

use pulse_core::Result;
use sea_orm::{ConnectionTrait, EntityTrait, IdenStatic, Statement, Value};
use uuid::Uuid;

use super::ingested::CHUNK;
use crate::TenantTx;

/// Sets `columns` of each listed row of the transaction's client (by `id`) to that row's values,
/// given in the order of `columns`. When an id repeats, its last values win, as they would with
/// one statement per row. Rows that do not exist are skipped. Returns the rows updated.
///
/// # Panics
/// When a row's values do not match `columns` in number (a programming error).
pub async fn each<E: EntityTrait>(
    tx: &TenantTx,
    columns: &[E::Column],
    rows: Vec<(Uuid, Vec<Value>)>,
) -> Result<u64> {
    if rows.is_empty() || columns.is_empty() {
        return Ok(0);
    }
    let table = E::default().table_name().to_string();
    let backend = tx.conn().get_database_backend();
    let postgres = backend == sea_orm::DatabaseBackend::Postgres;
    let mark = |k: usize| {
        if postgres {
            format!("${k}")
        } else {
            "?".to_string()
        }
    };
    let set: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("\"{}\" = v.column{}", c.as_str(), i + 2))
        .collect();
    let head = format!("UPDATE \"{table}\" SET {} FROM (VALUES ", set.join(", "));
    // One statement must not update a row twice (which match wins would be undefined).
    let mut last: HashMap<Uuid, usize> = HashMap::with_capacity(rows.len());
    for (i, (id, _)) in rows.iter().enumerate() {
        last.insert(*id, i);
    }
    let mut updated = 0;
    let mut rows = rows
        .into_iter()
        .enumerate()
        .filter(|(i, (id, _))| last.get(id) == Some(i))
        .map(|(_, row)| row)
        .peekable();
    while rows.peek().is_some() {
        let mut values = Vec::new();
        let mut tuples = Vec::new();
        for (id, row) in rows.by_ref().take(CHUNK) {
            assert_eq!(row.len(), columns.len(), "one value per column");
            let marks: Vec<String> = (0..=row.len())
                .map(|i| mark(values.len() + 1 + i))
                .collect();
            tuples.push(format!("({})", marks.join(", ")));
            values.push(id.into());
            values.extend(row);
        }
        // The client comes last, as it does in the text (SQLite numbers `?` in text order).
        values.push(tx.client_uuid().into());
        let sql = format!(
            "{head}{}) AS v WHERE \"{table}\".client_id = {} AND \"{table}\".id = v.column1",
            tuples.join(", "),
            mark(values.len())
        );
        updated += tx
            .conn()
            .execute(Statement::from_sql_and_values(backend, sql, values))
            .await?
            .rows_affected();
    }
    Ok(updated)
}
