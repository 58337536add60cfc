//! Raw bulk loading: the fastest way each backend takes many new rows, with no upsert, no lookups
//! and no per-row logic. `COPY ... FROM STDIN` on PostgreSQL; multi-row `INSERT`s in one
//! transaction on SQLite. It is the yardstick `pulse bench ingest` compares the ETL load path
//! with, so it must stay the plain, fast path (it bypasses tenant transactions: callers pass
//! complete rows, `client_id` included, on the privileged connection).

use sea_orm::sea_query::Value;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, IdenStatic, Iterable,
    ModelTrait, Statement, TransactionTrait,
};

/// SQLite's bind-parameter limit is 32766; statements stay well below it.
const SQLITE_PARAMS: usize = 30_000;
/// Rows per SQLite statement at most (larger statements stop paying off).
const SQLITE_ROWS: usize = 500;
/// Bytes per COPY message sent to PostgreSQL.
const COPY_CHUNK: usize = 1 << 20;

/// Inserts `rows` (new rows: a duplicate key fails the whole load) as fast as the backend allows;
/// returns the rows written. All or nothing on both backends.
pub async fn insert<E>(conn: &DatabaseConnection, rows: &[E::Model]) -> anyhow::Result<u64>
where
    E: EntityTrait,
    E::Model: ModelTrait<Entity = E>,
{
    if rows.is_empty() {
        return Ok(0);
    }
    let table = E::default().table_name().to_string();
    let columns: Vec<E::Column> = E::Column::iter().collect();
    let names: Vec<&str> = columns.iter().map(|c| c.as_str()).collect();
    match conn.get_database_backend() {
        DatabaseBackend::Postgres => copy_in::<E>(conn, &table, &names, &columns, rows).await,
        _ => insert_batches::<E>(conn, &table, &names, &columns, rows).await,
    }
}

async fn copy_in<E>(
    conn: &DatabaseConnection,
    table: &str,
    names: &[&str],
    columns: &[E::Column],
    rows: &[E::Model],
) -> anyhow::Result<u64>
where
    E: EntityTrait,
    E::Model: ModelTrait<Entity = E>,
{
    let pool = conn.get_postgres_connection_pool();
    let mut pg = pool.acquire().await?;
    let statement = format!(
        "COPY {table} ({}) FROM STDIN (FORMAT text)",
        names.join(", ")
    );
    let mut copy = pg.copy_in_raw(&statement).await?;
    let mut buf = String::with_capacity(COPY_CHUNK + 4096);
    for row in rows {
        for (i, col) in columns.iter().enumerate() {
            if i > 0 {
                buf.push('\t');
            }
            copy_field(&mut buf, &row.get(*col))?;
        }
        buf.push('\n');
        if buf.len() >= COPY_CHUNK {
            copy.send(std::mem::take(&mut buf).into_bytes()).await?;
            buf.reserve(COPY_CHUNK + 4096);
        }
    }
    if !buf.is_empty() {
        copy.send(buf.into_bytes()).await?;
    }
    Ok(copy.finish().await?)
}

/// Appends one value in COPY's text format (`\N` for NULL, backslash escapes).
fn copy_field(out: &mut String, value: &Value) -> anyhow::Result<()> {
    match text_of(value)? {
        None => out.push_str("\\N"),
        Some(text) => {
            for ch in text.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
    Ok(())
}

/// The text PostgreSQL parses back into the column's value; `None` for NULL.
fn text_of(value: &Value) -> anyhow::Result<Option<String>> {
    Ok(match value {
        Value::Bool(v) => v.map(|b| if b { "t" } else { "f" }.to_string()),
        Value::TinyInt(v) => v.map(|n| n.to_string()),
        Value::SmallInt(v) => v.map(|n| n.to_string()),
        Value::Int(v) => v.map(|n| n.to_string()),
        Value::BigInt(v) => v.map(|n| n.to_string()),
        Value::Float(v) => v.map(|n| n.to_string()),
        Value::Double(v) => v.map(|n| n.to_string()),
        Value::String(v) => v.as_ref().map(|s| s.to_string()),
        Value::Uuid(v) => v.as_ref().map(|u| u.to_string()),
        Value::Json(v) => v.as_ref().map(|j| j.to_string()),
        Value::ChronoDateTimeUtc(v) => v.as_ref().map(|t| t.to_rfc3339()),
        Value::ChronoDateTimeWithTimeZone(v) => v.as_ref().map(|t| t.to_rfc3339()),
        other => anyhow::bail!("bulk loading does not support the column value {other:?}"),
    })
}

async fn insert_batches<E>(
    conn: &DatabaseConnection,
    table: &str,
    names: &[&str],
    columns: &[E::Column],
    rows: &[E::Model],
) -> anyhow::Result<u64>
where
    E: EntityTrait,
    E::Model: ModelTrait<Entity = E>,
{
    let per_statement = (SQLITE_PARAMS / columns.len()).clamp(1, SQLITE_ROWS);
    let placeholders = format!("({})", vec!["?"; columns.len()].join(", "));
    let head = format!("INSERT INTO {table} ({}) VALUES ", names.join(", "));
    let sql_for = |n: usize| format!("{head}{}", vec![placeholders.as_str(); n].join(", "));
    let full_sql = sql_for(per_statement);
    let backend = conn.get_database_backend();
    let tx = conn.begin().await?;
    let mut written = 0u64;
    for batch in rows.chunks(per_statement) {
        let mut values = Vec::with_capacity(batch.len() * columns.len());
        for row in batch {
            for col in columns {
                values.push(row.get(*col));
            }
        }
        let sql = if batch.len() == per_statement {
            full_sql.clone()
        } else {
            sql_for(batch.len())
        };
        written += tx
            .execute(Statement::from_sql_and_values(backend, sql, values))
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_and_marks_null() {
        let mut out = String::new();
        copy_field(
            &mut out,
            &Value::String(Some(Box::new("a\tb\\c\nd".into()))),
        )
        .unwrap();
        out.push('|');
        copy_field(&mut out, &Value::String(None)).unwrap();
        out.push('|');
        copy_field(&mut out, &Value::Bool(Some(true))).unwrap();
        assert_eq!(out, "a\\tb\\\\c\\nd|\\N|t");
    }
}
