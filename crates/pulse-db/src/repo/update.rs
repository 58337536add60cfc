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
use crate::dialect::numbered;
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
    let set: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("\"{}\" = v.column{}", c.as_str(), i + 2))
        .collect();
    let tuple = format!("({})", vec!["?"; columns.len() + 1].join(", "));
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
        let mut tuples = 0;
        for (id, row) in rows.by_ref().take(CHUNK) {
            assert_eq!(row.len(), columns.len(), "one value per column");
            values.push(id.into());
            values.extend(row);
            tuples += 1;
        }
        values.push(tx.client_uuid().into());
        let text = format!(
            "UPDATE \"{table}\" SET {} FROM (VALUES {}) AS v \
             WHERE \"{table}\".client_id = ? AND \"{table}\".id = v.column1",
            set.join(", "),
            vec![tuple.as_str(); tuples].join(", "),
        );
        updated += tx
            .conn()
            .execute(Statement::from_sql_and_values(
                backend,
                numbered(backend, &text),
                values,
            ))
            .await?
            .rows_affected();
    }
    Ok(updated)
}
