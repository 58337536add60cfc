//! Every statement that differs between SQLite and PostgreSQL lives here.

use pulse_config::Backend;
use pulse_core::ClientId;
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

/// Makes the rest of `tx` run as the application role with `client` as the tenant, so row-level
/// security applies. The settings are transaction-local (`set_config(..., true)`): they end with
/// the transaction and can never leak to the next user of a pooled connection.
///
/// Tenant transactions also plan every statement for its parameters (`plan_cache_mode =
/// force_custom_plan`). A pooled connection otherwise keeps the generic plan it made for a
/// prepared statement, and PostgreSQL's own foreign-key checks keep theirs for the connection's
/// life: planned while a table was empty, every `(client_id, ...)` index ties, and the plan kept
/// may read a whole client's rows per lookup (measured: each `pr_commits` row's check on
/// `commits` scanned the client's commits by `(client_id, committed_at)`, so a large import
/// slowed quadratically). A custom plan sees the table's current size and picks the unique index.
pub async fn enter_tenant(
    tx: &DatabaseTransaction,
    role: &str,
    client: ClientId,
) -> Result<(), DbErr> {
    tx.execute(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT set_config('role', $1, true), set_config('app.client_id', $2, true), \
         set_config('plan_cache_mode', 'force_custom_plan', true)",
        [role.into(), client.to_string().into()],
    ))
    .await?;
    Ok(())
}

/// PostgreSQL's upsert of many rows passed as one JSON array (`$1`): the rows are expanded by
/// `json_populate_recordset` with the table's own row type, so one parameter carries a whole page
/// and the server parses no per-value placeholders. Rows that collide on `conflict` keep their
/// other columns and get the `update` columns.
pub fn upsert_json_sql(
    table: &str,
    columns: &[&str],
    conflict: &[&str],
    update: &[&str],
) -> String {
    let cols = columns.join(", ");
    let set = update
        .iter()
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{table}, $1::json) \
         ON CONFLICT ({}) DO UPDATE SET {set}",
        conflict.join(", ")
    )
}

/// Rows per statement of [`upsert_json`] (one JSON parameter each).
const JSON_ROWS: usize = 2000;

/// Upserts complete `rows` of `E` on PostgreSQL through [`upsert_json_sql`], [`JSON_ROWS`] rows per
/// statement; returns the rows written. Callers stamp every column (ids, client, times) first and
/// pass rows without repeated `conflict` keys (one statement may not update a row twice).
pub async fn upsert_json<E>(
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
    let names: Vec<&str> = columns.iter().map(|c| c.as_str()).collect();
    let conflict: Vec<&str> = conflict.iter().map(|c| c.as_str()).collect();
    let update: Vec<&str> = update.iter().map(|c| c.as_str()).collect();
    let sql = upsert_json_sql(E::default().table_name(), &names, &conflict, &update);
    let mut written = 0u64;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut page = Vec::with_capacity(JSON_ROWS);
        for row in rows.by_ref().take(JSON_ROWS) {
            let mut object = serde_json::Map::with_capacity(columns.len());
            for (col, name) in columns.iter().zip(&names) {
                let json = crate::bulk::json_of(&row.get(*col))
                    .map_err(|e| DbErr::Custom(e.to_string()))?;
                object.insert((*name).to_string(), json);
            }
            page.push(serde_json::Value::Object(object));
        }
        written += page.len() as u64;
        conn.execute(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            sql.clone(),
            [serde_json::Value::Array(page).to_string().into()],
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
