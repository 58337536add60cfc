//! Every statement that differs between SQLite and PostgreSQL lives here.

use pulse_config::Backend;
use pulse_core::ClientId;
use sea_orm::sea_query::{ArrayType, Value};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    IdenStatic, Iterable, ModelTrait, Statement,
};
use sea_orm_migration::SchemaManager;

/// Per-database settings applied once after connecting.
pub async fn on_connect(conn: &DatabaseConnection, backend: Backend) -> Result<(), DbErr> {
    if backend == Backend::Sqlite {
        // WAL is a property of the file; setting it once is enough for every connection.
        conn.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(())
}

/// Refreshes the planner's statistics after a bulk load. On PostgreSQL, `ANALYZE` (a bounded
/// sample per table): autovacuum would do it eventually, but it may be off or behind, and without
/// statistics a key lookup of a large client (`client_id, source, external_id IN (...)`) is
/// planned as if the table held a few rows, reading all of the client's rows each time (measured:
/// a 20,000-record import chunk took 19 s instead of 10 s once 300,000 rows were loaded). SQLite's
/// planner assumes large tables when it has no statistics, so it needs none.
pub async fn refresh_statistics(conn: &DatabaseConnection, backend: Backend) -> Result<(), DbErr> {
    if backend == Backend::Postgres {
        conn.execute_unprepared("ANALYZE").await?;
    }
    Ok(())
}

/// What [`upkeep`] does to tables after large writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upkeep {
    /// Refreshes their statistics (`ANALYZE`, as [`refresh_statistics`] does for every table).
    Analyze,
    /// Reclaims their deleted rows and refreshes their statistics (`VACUUM (ANALYZE)`, outside
    /// any transaction).
    Vacuum,
}

/// Runs `what` on these tables on PostgreSQL; a no-op on SQLite, whose planner needs no
/// statistics and which reuses freed pages.
pub async fn upkeep(
    conn: &DatabaseConnection,
    backend: Backend,
    what: Upkeep,
    tables: &[&str],
) -> Result<(), DbErr> {
    if backend == Backend::Postgres && !tables.is_empty() {
        let command = match what {
            Upkeep::Analyze => "ANALYZE",
            Upkeep::Vacuum => "VACUUM (ANALYZE)",
        };
        conn.execute_unprepared(&format!("{command} {}", tables.join(", ")))
            .await?;
    }
    Ok(())
}

/// How a tenant transaction lets PostgreSQL cache plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plans {
    /// Plan every statement for its parameters (`plan_cache_mode = force_custom_plan`). A pooled
    /// connection otherwise keeps the generic plan it made for a prepared statement, and
    /// PostgreSQL's own foreign-key checks keep theirs for the connection's life: planned while a
    /// table was empty, every `(client_id, ...)` index ties, and the plan kept may read a whole
    /// client's rows per lookup (measured: each `pr_commits` row's check on `commits` scanned the
    /// client's commits by `(client_id, committed_at)`, so a large import slowed quadratically).
    /// A custom plan sees the table's current size and the client's, and picks the unique index.
    Custom,
    /// PostgreSQL's default: a generic plan once it is no worse than the custom ones. For a
    /// connector's page writes, whose foreign-key checks run once per row: re-planning each check
    /// cost 16 ms per 1,000 commits, as much as inserting them. A page adds at most a page of rows,
    /// and a plan made on an empty table is replaced when `ANALYZE` invalidates it (after large
    /// loads and large syncs: [`refresh_statistics`]).
    Cached,
}

/// Makes the rest of `tx` run as the application role with `client` as the tenant, so row-level
/// security applies, planning statements as `plans` says. The settings are transaction-local
/// (`set_config(..., true)`): they end with the transaction and can never leak to the next user
/// of a pooled connection.
pub async fn enter_tenant(
    tx: &DatabaseTransaction,
    role: &str,
    client: ClientId,
    plans: Plans,
) -> Result<(), DbErr> {
    let mode = match plans {
        Plans::Custom => "force_custom_plan",
        Plans::Cached => "auto",
    };
    tx.execute(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT set_config('role', $1, true), set_config('app.client_id', $2, true), \
         set_config('plan_cache_mode', $3, true)",
        [role.into(), client.to_string().into(), mode.into()],
    ))
    .await?;
    Ok(())
}

/// How a column travels in [`upsert_arrays`]: the PostgreSQL array type its parameter is cast
/// to, the array's element type, and the placeholder that stands in for a NULL (arrays bound from
/// Rust cannot hold NULL elements; a second `bool[]` parameter marks them).
fn array_kind(value: &Value) -> Option<(&'static str, ArrayType, Value)> {
    Some(match value {
        Value::Bool(_) => ("bool[]", ArrayType::Bool, false.into()),
        Value::SmallInt(_) => ("int2[]", ArrayType::SmallInt, 0i16.into()),
        Value::Int(_) => ("int4[]", ArrayType::Int, 0i32.into()),
        Value::BigInt(_) => ("int8[]", ArrayType::BigInt, 0i64.into()),
        Value::Float(_) => ("float4[]", ArrayType::Float, 0f32.into()),
        Value::Double(_) => ("float8[]", ArrayType::Double, 0f64.into()),
        Value::String(_) => ("text[]", ArrayType::String, String::new().into()),
        Value::Bytes(_) => ("bytea[]", ArrayType::Bytes, Vec::<u8>::new().into()),
        Value::Json(_) => ("jsonb[]", ArrayType::Json, serde_json::Value::Null.into()),
        Value::Uuid(_) => ("uuid[]", ArrayType::Uuid, uuid::Uuid::nil().into()),
        Value::ChronoDate(_) => (
            "date[]",
            ArrayType::ChronoDate,
            chrono::NaiveDate::default().into(),
        ),
        Value::ChronoDateTime(_) => (
            "timestamp[]",
            ArrayType::ChronoDateTime,
            chrono::NaiveDateTime::default().into(),
        ),
        Value::ChronoDateTimeUtc(_) => (
            "timestamptz[]",
            ArrayType::ChronoDateTimeUtc,
            chrono::DateTime::<chrono::Utc>::default().into(),
        ),
        Value::ChronoDateTimeWithTimeZone(_) => (
            "timestamptz[]",
            ArrayType::ChronoDateTimeWithTimeZone,
            chrono::DateTime::<chrono::FixedOffset>::default().into(),
        ),
        _ => return None,
    })
}

/// Whether `value` is a NULL of one of the types [`array_kind`] carries.
fn is_null(value: &Value) -> bool {
    matches!(
        value,
        Value::Bool(None)
            | Value::SmallInt(None)
            | Value::Int(None)
            | Value::BigInt(None)
            | Value::Float(None)
            | Value::Double(None)
            | Value::String(None)
            | Value::Bytes(None)
            | Value::Json(None)
            | Value::Uuid(None)
            | Value::ChronoDate(None)
            | Value::ChronoDateTime(None)
            | Value::ChronoDateTimeUtc(None)
            | Value::ChronoDateTimeWithTimeZone(None)
    )
}

/// One column of an [`upsert_arrays`] statement.
struct ArrayColumn {
    sql_type: &'static str,
    kind: ArrayType,
    placeholder: Value,
    values: Vec<Value>,
    nulls: Vec<bool>,
    /// Whether any row holds NULL here (the column then gets its `bool[]` companion).
    any_null: bool,
}

/// PostgreSQL's upsert of many rows passed column by column: every column is one array parameter
/// (binary-encoded by the driver), `unnest` zips them back into rows, and a column holding NULLs
/// gets a `bool[]` companion that marks them. The server neither parses text nor expands
/// per-value placeholders (measured on a page of 1,000 commits: the same rows as one JSON
/// document spent a third of the statement parsing it). Rows that collide on `conflict` keep their
/// other columns and get the `update` columns.
pub fn upsert_arrays_sql(
    table: &str,
    columns: &[(&str, &str, bool)],
    conflict: &[&str],
    update: &[&str],
) -> String {
    let names: Vec<&str> = columns.iter().map(|(name, _, _)| *name).collect();
    let mut params = Vec::new();
    let mut aliases = Vec::new();
    let mut select = Vec::new();
    for (i, (_, sql_type, nullable)) in columns.iter().enumerate() {
        params.push(format!("${}::{sql_type}", params.len() + 1));
        aliases.push(format!("c{i}"));
        if *nullable {
            params.push(format!("${}::bool[]", params.len() + 1));
            aliases.push(format!("n{i}"));
            select.push(format!("CASE WHEN n{i} THEN NULL ELSE c{i} END"));
        } else {
            select.push(format!("c{i}"));
        }
    }
    let action = if update.is_empty() {
        "NOTHING".to_string()
    } else {
        let set = update
            .iter()
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("UPDATE SET {set}")
    };
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM unnest({}) AS u({}) ON CONFLICT ({}) DO {action}",
        names.join(", "),
        select.join(", "),
        params.join(", "),
        aliases.join(", "),
        conflict.join(", "),
    )
}

/// Rows per statement of [`upsert_arrays`].
const ARRAY_ROWS: usize = 2000;

/// Upserts complete `rows` of `E` on PostgreSQL through [`upsert_arrays_sql`], [`ARRAY_ROWS`] rows
/// per statement; returns the rows written. Callers stamp every column (ids, client, times) first
/// and pass rows without repeated `conflict` keys (one statement may not update a row twice).
pub async fn upsert_arrays<E>(
    conn: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = E::Model>,
    conflict: &[E::Column],
    update: &[E::Column],
) -> Result<u64, DbErr>
where
    E: EntityTrait,
    E::Model: ModelTrait<Entity = E>,
{
    let columns: Vec<E::Column> = E::Column::iter().collect();
    let conflict: Vec<&str> = conflict.iter().map(|c| c.as_str()).collect();
    let update: Vec<&str> = update.iter().map(|c| c.as_str()).collect();
    let entity = E::default();
    let table = entity.table_name();
    let mut written = 0u64;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let page: Vec<E::Model> = rows.by_ref().take(ARRAY_ROWS).collect();
        let mut arrays = Vec::with_capacity(columns.len());
        for col in &columns {
            let first = page[0].get(*col);
            let (sql_type, kind, placeholder) = array_kind(&first).ok_or_else(|| {
                DbErr::Custom(format!(
                    "{table}.{} has a type the array upsert does not carry: {first:?}",
                    col.as_str()
                ))
            })?;
            arrays.push(ArrayColumn {
                sql_type,
                kind,
                placeholder,
                values: Vec::with_capacity(page.len()),
                nulls: Vec::with_capacity(page.len()),
                any_null: false,
            });
        }
        for row in &page {
            for (col, array) in columns.iter().zip(arrays.iter_mut()) {
                let value = row.get(*col);
                let null = is_null(&value);
                array.values.push(if null {
                    array.placeholder.clone()
                } else {
                    value
                });
                array.nulls.push(null);
                array.any_null |= null;
            }
        }
        let shape: Vec<(&str, &str, bool)> = columns
            .iter()
            .zip(&arrays)
            .map(|(col, a)| (col.as_str(), a.sql_type, a.any_null))
            .collect();
        let sql = upsert_arrays_sql(table, &shape, &conflict, &update);
        let mut params = Vec::with_capacity(arrays.len() * 2);
        for array in arrays {
            params.push(Value::Array(array.kind, Some(Box::new(array.values))));
            if array.any_null {
                params.push(Value::Array(
                    ArrayType::Bool,
                    Some(Box::new(array.nulls.into_iter().map(Value::from).collect())),
                ));
            }
        }
        written += page.len() as u64;
        conn.execute(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            sql,
            params,
        ))
        .await?;
    }
    Ok(written)
}

/// Key of the advisory lock that serializes [`ensure_app_role`] across processes.
const APP_ROLE_LOCK: i64 = 0x5055_4c53_4552_4f4c; // "PULSEROL"

/// Creates the application role if it is missing and grants it what it needs: data access on every
/// table, no ownership, no superuser, no BYPASSRLS. Idempotent; run after migrations.
///
/// Runs in one transaction holding an advisory lock: processes starting together (several
/// `pulse worker`s) would otherwise update the same catalog rows at once and fail with "tuple
/// concurrently updated".
pub async fn ensure_app_role(conn: &DatabaseConnection, role: &str) -> anyhow::Result<()> {
    use sea_orm::TransactionTrait;
    let tx = conn.begin().await?;
    tx.execute(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [APP_ROLE_LOCK.into()],
    ))
    .await?;
    grant_app_role(&tx, role).await?;
    tx.commit().await?;
    Ok(())
}

async fn grant_app_role(conn: &DatabaseTransaction, role: &str) -> anyhow::Result<()> {
    // `role` is validated as a plain identifier by the configuration.
    let sql = format!(
        r#"DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
    BEGIN
      CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    EXCEPTION WHEN duplicate_object THEN NULL;
    END;
  END IF;
END $$;
GRANT USAGE ON SCHEMA public TO "{role}";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}";
REVOKE ALL ON seaql_migrations FROM "{role}";"#
    );
    conn.execute_unprepared(&sql).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot prepare the PostgreSQL application role '{role}' ({e}); create it once as a \
             superuser: CREATE ROLE {role} NOLOGIN; GRANT {role} TO <the DATABASE_URL user>;"
        )
    })?;
    // Membership lets the connecting user switch to the role; superusers need none, and granting a
    // role to itself's owner twice is harmless, so errors here are only reported.
    let grant = format!(
        r#"DO $$ BEGIN EXECUTE format('GRANT "{role}" TO %I', current_user); EXCEPTION WHEN OTHERS THEN NULL; END $$;"#
    );
    conn.execute_unprepared(&grant).await?;
    Ok(())
}

/// Puts a tenant table behind row-level security on PostgreSQL (a no-op on SQLite).
///
/// The table must have a `client_id` column (`id` for `clients`). Two policies: the owner (the
/// role that runs migrations and the explicitly privileged [`Db::system`](crate::Db::system)
/// handle) sees everything; every other role, including the application role, sees only the rows
/// of the tenant set in the transaction. `FORCE` makes the policies apply to the owner too, so a
/// missing owner policy would be noticed rather than bypassed.
pub async fn enable_tenant_rls(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &str,
) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let sql = format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
         CREATE POLICY {table}_owner ON {table} TO CURRENT_USER USING (true) WITH CHECK (true);
         CREATE POLICY {table}_tenant ON {table}
           USING ({column} = nullif(current_setting('app.client_id', true), '')::uuid)
           WITH CHECK ({column} = nullif(current_setting('app.client_id', true), '')::uuid);"
    );
    manager.get_connection().execute_unprepared(&sql).await?;
    Ok(())
}

/// Undoes [`enable_tenant_rls`] (for down migrations).
pub async fn disable_tenant_rls(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let sql = format!(
        "DROP POLICY IF EXISTS {table}_owner ON {table};
         DROP POLICY IF EXISTS {table}_tenant ON {table};
         ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
         ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;"
    );
    manager.get_connection().execute_unprepared(&sql).await?;
    Ok(())
}

/// Which jobs [`claim_job`] may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    /// A `running` job whose lease expired before `now` (its worker died or stalled).
    ExpiredLease,
    /// A job in the given status (`queued`, `waiting_rate_limit`) whose `run_at` has come.
    Due(&'static str),
}

/// Claims one job atomically and returns its id: sets it `running` under a lease held by `owner`
/// until `lease_until`, increments `attempt` (the fencing token) and, when rescuing an expired
/// lease, `failures`. With `client`, only that client's jobs are candidates (a worker pinned to
/// one client); without, any client's.
///
/// PostgreSQL picks the row with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait on
/// or take the same row. SQLite runs the same single `UPDATE ... WHERE id = (SELECT ...)
/// RETURNING` statement, which holds the write lock from its start, so it is atomic as well.
pub async fn claim_job<C: ConnectionTrait>(
    conn: &C,
    kind: ClaimKind,
    owner: &str,
    now: chrono::DateTime<chrono::Utc>,
    lease_until: chrono::DateTime<chrono::Utc>,
    client: Option<ClientId>,
) -> Result<Option<uuid::Uuid>, DbErr> {
    let backend = conn.get_database_backend();
    let (status, condition, failed) = match kind {
        ClaimKind::ExpiredLease => ("running", "lease_expires_at < {now}", 1),
        ClaimKind::Due(status) => (status, "run_at <= {now}", 0),
    };
    let only_client = if client.is_some() {
        " AND client_id = {client}"
    } else {
        ""
    };
    let lock = match backend {
        DatabaseBackend::Postgres => " FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let sql = format!(
        "UPDATE jobs SET status = 'running', attempt = attempt + 1, failures = failures + {failed}, \
           lease_owner = {{owner}}, lease_expires_at = {{until}}, heartbeat_at = {{now}}, \
           updated_at = {{now}}, started_at = COALESCE(started_at, {{now}}) \
         WHERE status = {{status}} AND id = (\
           SELECT id FROM jobs WHERE status = {{status}} AND {condition}{only_client} \
           ORDER BY run_at, id LIMIT 1{lock}) \
         RETURNING id"
    );
    let mut named: Vec<(&str, sea_orm::Value)> = vec![
        ("owner", owner.into()),
        ("until", lease_until.into()),
        ("now", now.into()),
        ("status", status.into()),
    ];
    if let Some(client) = client {
        named.push(("client", client.uuid().into()));
    }
    let (sql, values) = bind_named(backend, &sql, &named);
    let row = conn
        .query_one(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    row.map(|r| r.try_get::<uuid::Uuid>("", "id")).transpose()
}

/// Replaces `{name}` markers with the backend's positional placeholders, repeating values as
/// needed (SQLite `?` placeholders are positional, PostgreSQL's `$n` numbered).
fn bind_named(
    backend: DatabaseBackend,
    sql: &str,
    named: &[(&str, sea_orm::Value)],
) -> (String, Vec<sea_orm::Value>) {
    let mut out = String::with_capacity(sql.len());
    let mut values = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find('{') {
        let end = start + rest[start..].find('}').expect("unclosed placeholder");
        let name = &rest[start + 1..end];
        let value = named
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no value for placeholder {name}"))
            .1
            .clone();
        out.push_str(&rest[..start]);
        values.push(value);
        match backend {
            DatabaseBackend::Postgres => out.push_str(&format!("${}", values.len())),
            _ => out.push('?'),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    (out, values)
}

/// Serialises the writers of a client's derived metric data (rule changes and the recomputation
/// that follows an import) until `tx` ends: on PostgreSQL a transaction-level advisory lock keyed
/// by the client, so two such transactions of one client never interleave their reads and writes
/// (nor deadlock on each other's rows). SQLite has a single writer already: a no-op.
pub async fn lock_client_rules(tx: &crate::TenantTx) -> Result<(), DbErr> {
    if tx.conn().get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let bytes = tx.client_uuid().into_bytes();
    let mut key = 0x7075_6c73_6572_756c_i64; // "pulserul": keeps clear of other lock users
    for chunk in bytes.chunks(8) {
        let mut part = [0u8; 8];
        part.copy_from_slice(chunk);
        key ^= i64::from_be_bytes(part);
    }
    tx.conn()
        .execute(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [key.into()],
        ))
        .await?;
    Ok(())
}

/// The statement (and its parameters) reading, for every family of `families` and dimension of
/// `dims`, and every day of `days`, the running totals of the last cell of `client` before that
/// day, or zeros; rows `(family, dim_kind, dim_id, day, run_items, run_extra)`. One index descent
/// per row and day. PostgreSQL takes the lists as arrays (three parameters, where a `VALUES` list
/// of thousands cost more to parse and plan than the lookups) and reads both totals in a
/// `LATERAL` subquery; SQLite, which has neither, takes a `VALUES` list, finds the cell's `rowid`
/// with a correlated subquery and joins it.
pub fn totals_before(
    backend: DatabaseBackend,
    families: &[i16],
    dims: &[(i16, uuid::Uuid)],
    days: &[i64],
    client: ClientId,
) -> (String, Vec<Value>) {
    let rows = families
        .iter()
        .flat_map(|&f| dims.iter().map(move |&(k, id)| (f, k, id)));
    match backend {
        DatabaseBackend::Postgres => {
            let rows: Vec<(i16, i16, uuid::Uuid)> = rows.collect();
            let values = vec![
                pg_array(ArrayType::SmallInt, rows.iter().map(|r| r.0)),
                pg_array(ArrayType::SmallInt, rows.iter().map(|r| r.1)),
                pg_array(ArrayType::Uuid, rows.iter().map(|r| r.2)),
                pg_array(ArrayType::BigInt, days.iter().copied()),
                client.uuid().into(),
            ];
            let sql = "WITH d AS (SELECT * FROM unnest($1::int2[], $2::int2[], $3::uuid[]) \
                         AS d (family, dim_kind, dim_id)), \
                       b AS (SELECT * FROM unnest($4::int8[]) AS b (day)) \
                       SELECT d.family, d.dim_kind, d.dim_id, b.day, \
                              COALESCE(x.run_items, 0) AS run_items, \
                              COALESCE(x.run_extra, 0) AS run_extra \
                       FROM d CROSS JOIN b LEFT JOIN LATERAL ( \
                         SELECT c.run_items, c.run_extra FROM rollup_cells c \
                         WHERE c.client_id = $5 AND c.family = d.family \
                           AND c.dim_kind = d.dim_kind AND c.dim_id = d.dim_id AND c.day < b.day \
                         ORDER BY c.day DESC LIMIT 1) x ON true";
            (sql.to_string(), values)
        }
        _ => {
            let mut values = Vec::new();
            for (f, k, id) in rows {
                values.extend([Value::from(f), k.into(), id.into()]);
            }
            let n = values.len() / 3;
            values.extend(days.iter().map(|&d| Value::from(d)));
            values.push(client.uuid().into());
            let sql = format!(
                "WITH d (family, dim_kind, dim_id) AS (VALUES {}), b (day) AS (VALUES {}), \
                 l AS ( \
                   SELECT d.family, d.dim_kind, d.dim_id, b.day, \
                          (SELECT c.rowid FROM rollup_cells c \
                           WHERE c.client_id = ? AND c.family = d.family \
                             AND c.dim_kind = d.dim_kind AND c.dim_id = d.dim_id AND c.day < b.day \
                           ORDER BY c.day DESC LIMIT 1) AS cell \
                   FROM d CROSS JOIN b) \
                 SELECT l.family, l.dim_kind, l.dim_id, l.day, \
                        COALESCE(x.run_items, 0) AS run_items, \
                        COALESCE(x.run_extra, 0) AS run_extra \
                 FROM l LEFT JOIN rollup_cells x ON x.rowid = l.cell",
                vec!["(?, ?, ?)"; n].join(", "),
                vec!["(?)"; days.len()].join(", "),
            );
            (sql, values)
        }
    }
}

/// A PostgreSQL array parameter of these values.
fn pg_array<T: Into<Value>>(kind: ArrayType, values: impl Iterator<Item = T>) -> Value {
    Value::Array(kind, Some(Box::new(values.map(Into::into).collect())))
}

/// A condition matching rollup cells at exactly these keys (`family`, `dim_kind`, `dim_id`,
/// `day`), with its values. PostgreSQL filters a row-value `IN` list as one long `OR` over every
/// row the other conditions leave (a second per hundred thousand cells), so there the keys are
/// joined as arrays; SQLite probes the unique key index for each listed row value.
pub fn cell_keys(
    backend: DatabaseBackend,
    keys: &[(i16, i16, uuid::Uuid, i64)],
) -> (String, Vec<Value>) {
    match backend {
        DatabaseBackend::Postgres => {
            let values = vec![
                pg_array(ArrayType::SmallInt, keys.iter().map(|k| k.0)),
                pg_array(ArrayType::SmallInt, keys.iter().map(|k| k.1)),
                pg_array(ArrayType::Uuid, keys.iter().map(|k| k.2)),
                pg_array(ArrayType::BigInt, keys.iter().map(|k| k.3)),
            ];
            (
                "(family, dim_kind, dim_id, day) IN \
                 (SELECT * FROM unnest(?::int2[], ?::int2[], ?::uuid[], ?::int8[]))"
                    .to_string(),
                values,
            )
        }
        _ => {
            let mut values = Vec::with_capacity(keys.len() * 4);
            for &(family, kind, id, day) in keys {
                values.extend([family.into(), kind.into(), id.into(), Value::from(day)]);
            }
            (
                format!(
                    "(family, dim_kind, dim_id, day) IN ({})",
                    vec!["(?, ?, ?, ?)"; keys.len()].join(", ")
                ),
                values,
            )
        }
    }
}

/// Rewrites `?` placeholders as `$1`, `$2`, ... on PostgreSQL (SQLite takes `?` as they are,
/// numbered in the order they appear).
pub fn numbered(backend: DatabaseBackend, text: &str) -> String {
    if backend != DatabaseBackend::Postgres {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_on_postgres() {
        assert_eq!(
            numbered(DatabaseBackend::Postgres, "a = ? AND b IN (?, ?)"),
            "a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(numbered(DatabaseBackend::Sqlite, "a = ?"), "a = ?");
    }

    #[test]
    fn array_upsert_marks_only_nullable_columns() {
        let sql = upsert_arrays_sql(
            "t",
            &[("id", "uuid[]", false), ("note", "text[]", true)],
            &["id"],
            &["note"],
        );
        assert_eq!(
            sql,
            "INSERT INTO t (id, note) SELECT c0, CASE WHEN n1 THEN NULL ELSE c1 END \
             FROM unnest($1::uuid[], $2::text[], $3::bool[]) AS u(c0, c1, n1) \
             ON CONFLICT (id) DO UPDATE SET note = EXCLUDED.note"
        );
        assert!(
            upsert_arrays_sql("t", &[("id", "uuid[]", false)], &["id"], &[])
                .ends_with("ON CONFLICT (id) DO NOTHING")
        );
    }

    #[test]
    fn nulls_are_recognised_for_every_carried_type() {
        for value in [
            Value::Bool(None),
            Value::String(None),
            Value::Uuid(None),
            Value::Json(None),
            Value::ChronoDateTimeUtc(None),
            Value::BigInt(None),
        ] {
            assert!(is_null(&value), "{value:?}");
            let (_, _, placeholder) = array_kind(&value).expect("carried");
            assert!(!is_null(&placeholder), "{placeholder:?}");
        }
        assert!(!is_null(&Value::from("x")));
    }
}
