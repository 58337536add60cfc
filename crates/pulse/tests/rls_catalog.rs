//! PostgreSQL row-level security, checked against the system catalogs of a freshly migrated
//! database rather than against a fixed list of tables, so a future migration that adds a tenant
//! table without RLS (or a unique index that ignores the tenant, or privileges for the application
//! role it must not have) fails here.
//!
//! PostgreSQL only: each test is skipped (with a note on stderr) when `PULSE_TEST_DATABASE_URL` is
//! unset, and panics when it is set but the server is unreachable.

mod common;

use std::collections::BTreeMap;

use pulse_config::{load_from, Config, Sources};
use pulse_core::{ClientId, Role};
use pulse_db::repo::{clients, users};
use pulse_db::sea_orm::{
    ConnectionTrait, DatabaseBackend, QueryResult, Statement, TransactionTrait, Value,
};
use pulse_db::Db;

/// A freshly created, migrated and prepared PostgreSQL database, or `None` (skip) when
/// `PULSE_TEST_DATABASE_URL` is unset.
///
/// The pool has a single connection, so consecutive statements on [`Db::system`] and inside
/// [`Db::tenant`] run on the same server session: that is what lets the behavioural test prove that
/// nothing set by a tenant transaction survives it.
async fn migrated_postgres() -> Option<(Db, Config)> {
    let Some(url) = common::postgres_database().await else {
        eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL RLS catalog test skipped");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("pulse-rls-{}", uuid::Uuid::new_v4()));
    let env = common::test_env(
        &common::Backend::Postgres(url),
        &dir,
        &[("PULSE_DATABASE_MAX_CONNECTIONS", "1")],
    );
    let config = load_from(Sources { file: None, env }).expect("config");
    let db = Db::connect(&config).await.expect("connect");
    pulse_db::migration::up(db.system()).await.expect("migrate");
    db.prepare().await.expect("prepare");
    Some((db, config))
}

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)
}

async fn rows(conn: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Vec<QueryResult> {
    conn.query_all(stmt(sql, values))
        .await
        .unwrap_or_else(|e| panic!("query failed: {e}\n{sql}"))
}

fn get<T: pulse_db::sea_orm::TryGetable>(row: &QueryResult, column: &str) -> T {
    row.try_get("", column)
        .unwrap_or_else(|e| panic!("column {column}: {e}"))
}

async fn count(conn: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> i64 {
    let row = conn
        .query_one(stmt(sql, values))
        .await
        .unwrap_or_else(|e| panic!("query failed: {e}\n{sql}"))
        .expect("one row");
    get::<i64>(&row, "n")
}

/// Every ordinary or partitioned table of the public schema with a `client_id` column, except
/// `clients` (whose tenant column is `id`). Read from the catalog, so new tables are included.
async fn tenant_tables(conn: &impl ConnectionTrait) -> Vec<String> {
    let tables: Vec<String> = rows(
        conn,
        "SELECT c.relname::text AS name
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public'
            AND c.relkind IN ('r', 'p')
            AND c.relname <> 'clients'
            AND EXISTS (SELECT 1 FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attname = 'client_id'
                           AND a.attnum > 0 AND NOT a.attisdropped)
          ORDER BY 1",
        vec![],
    )
    .await
    .iter()
    .map(|r| get(r, "name"))
    .collect();
    // Guard against a query that silently matches nothing (which would make every check vacuous).
    for expected in [
        "users",
        "sessions",
        "api_tokens",
        "client_settings",
        "audit_log",
    ] {
        assert!(
            tables.iter().any(|t| t == expected),
            "the catalog query should find the tenant table {expected}; found {tables:?}"
        );
    }
    tables
}

/// One row of `pg_policies`.
#[derive(Debug)]
struct Policy {
    name: String,
    roles: Vec<String>,
    permissive: bool,
    cmd: String,
    qual: Option<String>,
    with_check: Option<String>,
}

async fn policies(conn: &impl ConnectionTrait) -> BTreeMap<String, Vec<Policy>> {
    let mut by_table: BTreeMap<String, Vec<Policy>> = BTreeMap::new();
    for r in rows(
        conn,
        "SELECT tablename::text AS tablename, policyname::text AS policyname,
                array_to_string(roles, ',') AS roles, permissive, cmd, qual, with_check
           FROM pg_policies WHERE schemaname = 'public'",
        vec![],
    )
    .await
    {
        by_table
            .entry(get(&r, "tablename"))
            .or_default()
            .push(Policy {
                name: get(&r, "policyname"),
                roles: get::<String>(&r, "roles")
                    .split(',')
                    .map(str::to_string)
                    .collect(),
                permissive: get::<String>(&r, "permissive") == "PERMISSIVE",
                cmd: get(&r, "cmd"),
                qual: get(&r, "qual"),
                with_check: get(&r, "with_check"),
            });
    }
    by_table
}

/// Whether an expression compares `column` with the tenant set by `Db::tenant`.
fn is_tenant_filter(expr: Option<&str>, column: &str) -> bool {
    expr.is_some_and(|e| e.contains(column) && e.contains("current_setting('app.client_id'"))
}

/// Why `table`'s policies would let the application role see or write another tenant's rows, if
/// they would.
fn policy_problem(table: &str, column: &str, list: &[Policy], app_role: &str) -> Option<String> {
    // Permissive policies are OR-ed: every one that applies to the application role must filter by
    // the tenant, or it opens the table. (Restrictive ones can only narrow.)
    let applicable: Vec<&Policy> = list
        .iter()
        .filter(|p| p.permissive && p.roles.iter().any(|r| r == "public" || r == app_role))
        .collect();
    if applicable.is_empty() {
        return Some(format!(
            "{table}: no permissive policy applies to {app_role}"
        ));
    }
    for p in applicable {
        let reads = matches!(p.cmd.as_str(), "ALL" | "SELECT" | "UPDATE" | "DELETE");
        let writes = matches!(p.cmd.as_str(), "ALL" | "INSERT" | "UPDATE");
        // Without an explicit WITH CHECK, PostgreSQL checks new rows with the USING expression.
        let check = p.with_check.as_deref().or(p.qual.as_deref());
        if reads && !is_tenant_filter(p.qual.as_deref(), column) {
            return Some(format!(
                "{table}: policy {} ({}) reads without the tenant filter: USING {:?}",
                p.name, p.cmd, p.qual
            ));
        }
        if writes && !is_tenant_filter(check, column) {
            return Some(format!(
                "{table}: policy {} ({}) writes without the tenant filter: WITH CHECK {:?}",
                p.name, p.cmd, check
            ));
        }
    }
    None
}

/// (a) Every tenant table has ENABLE + FORCE row-level security and at least one policy, and every
/// permissive policy reaching the application role filters by the tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenant_table_forces_row_level_security() {
    let Some((db, config)) = migrated_postgres().await else {
        return;
    };
    let conn = db.system();
    let app_role = &config.database.app_role;
    let tables = tenant_tables(conn).await;
    let policies = policies(conn).await;

    let mut flags: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for r in rows(
        conn,
        "SELECT c.relname::text AS name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
        vec![],
    )
    .await
    {
        flags.insert(get(&r, "name"), (get(&r, "enabled"), get(&r, "forced")));
    }

    let mut checked: Vec<(String, &str)> =
        tables.iter().map(|t| (t.clone(), "client_id")).collect();
    // `clients` is not a tenant table by the column rule, but it is behind RLS too (on `id`).
    checked.push(("clients".into(), "id"));

    let not_enabled: Vec<&str> = checked
        .iter()
        .filter(|(t, _)| !flags.get(t).is_some_and(|f| f.0))
        .map(|(t, _)| t.as_str())
        .collect();
    let not_forced: Vec<&str> = checked
        .iter()
        .filter(|(t, _)| !flags.get(t).is_some_and(|f| f.1))
        .map(|(t, _)| t.as_str())
        .collect();
    let no_policy: Vec<&str> = checked
        .iter()
        .filter(|(t, _)| policies.get(t).is_none_or(Vec::is_empty))
        .map(|(t, _)| t.as_str())
        .collect();
    let bad_policy: Vec<String> = checked
        .iter()
        .filter_map(|(t, col)| {
            policy_problem(
                t,
                col,
                policies.get(t).map_or(&[][..], Vec::as_slice),
                app_role,
            )
        })
        .collect();

    let mut problems = Vec::new();
    if !not_enabled.is_empty() {
        problems.push(format!(
            "without ENABLE ROW LEVEL SECURITY (call dialect::enable_tenant_rls in the migration): \
             {not_enabled:?}"
        ));
    }
    if !not_forced.is_empty() {
        problems.push(format!("without FORCE ROW LEVEL SECURITY: {not_forced:?}"));
    }
    if !no_policy.is_empty() {
        problems.push(format!("without any policy: {no_policy:?}"));
    }
    problems.extend(bad_policy);
    assert!(
        problems.is_empty(),
        "tenant tables not confined by row-level security:\n  {}",
        problems.join("\n  ")
    );
}

/// (b) The application role exists, is neither superuser nor BYPASSRLS, owns nothing, cannot become
/// an owner, and may not touch the migration bookkeeping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_role_is_unprivileged() {
    let Some((db, config)) = migrated_postgres().await else {
        return;
    };
    let conn = db.system();
    let role = config.database.app_role.clone();
    assert_eq!(role, "pulse_app", "the default application role");

    let found = rows(
        conn,
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1",
        vec![role.clone().into()],
    )
    .await;
    assert_eq!(found.len(), 1, "role {role} should exist after Db::prepare");
    let r = &found[0];
    assert!(!get::<bool>(r, "rolsuper"), "{role} must not be superuser");
    assert!(
        !get::<bool>(r, "rolbypassrls"),
        "{role} must not have BYPASSRLS"
    );
    assert!(
        !get::<bool>(r, "rolcreaterole"),
        "{role} must not have CREATEROLE"
    );
    assert!(
        !get::<bool>(r, "rolcreatedb"),
        "{role} must not have CREATEDB"
    );

    let owned: Vec<String> = rows(
        conn,
        "SELECT c.relname::text || ' (' || c.relkind::text || ')' AS name
           FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
          WHERE r.rolname = $1
          UNION ALL
         SELECT 'schema ' || n.nspname::text
           FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
          WHERE r.rolname = $1
          ORDER BY 1",
        vec![role.clone().into()],
    )
    .await
    .iter()
    .map(|r| get(r, "name"))
    .collect();
    assert!(
        owned.is_empty(),
        "{role} owns objects (an owner may disable RLS or drop policies): {owned:?}"
    );

    // Membership in a table owner's role (or a superuser's) would let it SET ROLE around RLS.
    let owners_reachable: Vec<String> = rows(
        conn,
        "SELECT DISTINCT r.rolname::text AS owner
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_roles r ON r.oid = c.relowner
          WHERE n.nspname = 'public' AND pg_has_role($1::name, r.oid, 'MEMBER')",
        vec![role.clone().into()],
    )
    .await
    .iter()
    .map(|r| get(r, "owner"))
    .collect();
    assert!(
        owners_reachable.is_empty(),
        "{role} is a member of table owners {owners_reachable:?}"
    );

    let privileges = rows(
        conn,
        "SELECT has_table_privilege($1::name, 'public.users', 'SELECT, INSERT, UPDATE, DELETE') AS data,
                has_table_privilege($1::name, 'public.seaql_migrations', 'SELECT') AS migrations_read,
                has_table_privilege($1::name, 'public.seaql_migrations', 'INSERT, UPDATE, DELETE') AS migrations_write,
                has_schema_privilege($1::name, 'public', 'CREATE') AS schema_create",
        vec![role.clone().into()],
    )
    .await;
    let p = &privileges[0];
    assert!(get::<bool>(p, "data"), "{role} needs data access to users");
    assert!(
        !get::<bool>(p, "migrations_read"),
        "{role} must not read seaql_migrations"
    );
    assert!(
        !get::<bool>(p, "migrations_write"),
        "{role} must not write seaql_migrations"
    );
    // PostgreSQL 15+ no longer grants CREATE on public to PUBLIC; with it the role could create
    // (and own) tables of its own.
    assert!(
        !get::<bool>(p, "schema_create"),
        "{role} must not create objects in public"
    );
}

/// (c) Every UNIQUE index (and so every unique or primary-key constraint) of a tenant table has
/// `client_id` among its key columns, so one tenant's data can neither collide with nor reveal
/// another's (a unique violation on, say, a global e-mail index would tell tenant B that tenant A
/// has that address).
///
/// The one exception, applied by rule and printed: a single-column primary key on a `uuid` column
/// named `id`. Those ids are v7 UUIDs generated by the server (`UserId::new()` and friends), never
/// taken from a request, so they are globally unique by construction: a conflict cannot happen
/// between tenants and its absence reveals nothing. A unique index on any other column (an e-mail,
/// a name, an external key, a hash) must include `client_id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_indexes_of_tenant_tables_include_client_id() {
    let Some((db, _config)) = migrated_postgres().await else {
        return;
    };
    let conn = db.system();
    let tables = tenant_tables(conn).await;

    let indexes = rows(
        conn,
        "SELECT t.relname::text AS table_name, i.relname::text AS index_name, x.indisprimary AS pk,
                (x.indexprs IS NOT NULL) AS has_expressions,
                coalesce((SELECT string_agg(a.attname::text || ':' || format_type(a.atttypid, a.atttypmod), ','
                                   ORDER BY k.ord)
                            FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                           WHERE k.ord <= x.indnkeyatts), '') AS key_columns
           FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid
           JOIN pg_class t ON t.oid = x.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
          WHERE n.nspname = 'public' AND x.indisunique
          ORDER BY 1, 2",
        vec![],
    )
    .await;

    let mut exceptions = Vec::new();
    let mut offending = Vec::new();
    let mut seen_tenant_unique = 0;
    for r in &indexes {
        let table: String = get(r, "table_name");
        if !tables.contains(&table) {
            continue;
        }
        seen_tenant_unique += 1;
        let index: String = get(r, "index_name");
        let pk: bool = get(r, "pk");
        let expressions: bool = get(r, "has_expressions");
        let key: String = get(r, "key_columns");
        let columns: Vec<(&str, &str)> = key
            .split(',')
            .filter(|c| !c.is_empty())
            .filter_map(|c| c.split_once(':'))
            .collect();
        if columns.iter().any(|(name, _)| *name == "client_id") {
            continue;
        }
        if pk && !expressions && columns == [("id", "uuid")] {
            exceptions.push(format!("{table}.{index}"));
            continue;
        }
        offending.push(format!(
            "{table}.{index} (key: {key}{})",
            if expressions {
                ", with expressions"
            } else {
                ""
            }
        ));
    }
    eprintln!("unique indexes allowed without client_id (uuid v7 primary keys): {exceptions:?}");
    assert!(
        seen_tenant_unique > 0 && exceptions.iter().any(|e| e == "users.users_pkey"),
        "the index query should see the tenant tables' primary keys (users_pkey among them); \
         it returned {} unique indexes",
        indexes.len()
    );
    assert!(
        offending.is_empty(),
        "unique indexes on tenant tables without client_id among their key columns: {offending:?}"
    );
}

/// (d) Row-level security is a second wall: a raw statement without a tenant filter, run inside
/// `db.tenant(B)`, sees and changes only B's rows, whatever its own WHERE clause says; a row for
/// another tenant cannot be written; with no tenant set the application role sees nothing; and
/// nothing set by the tenant transaction outlives it on the pooled connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_confines_raw_sql_inside_a_tenant_transaction() {
    let Some((db, config)) = migrated_postgres().await else {
        return;
    };
    let role = config.database.app_role.clone();
    let a = ClientId::from_uuid(clients::create(db.system(), "Tenant A").await.unwrap().id);
    let b = ClientId::from_uuid(clients::create(db.system(), "Tenant B").await.unwrap().id);
    for (client, email) in [
        (a, "one@a.example"),
        (a, "two@a.example"),
        (b, "one@b.example"),
    ] {
        let tx = db.tenant(client).await.unwrap();
        users::create(
            &tx,
            users::NewUser {
                email: email.into(),
                name: "original".into(),
                password_hash: "not-a-real-hash".into(),
                role: Role::User,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let a_id: Value = a.uuid().into();
    assert_eq!(
        count(db.system(), "SELECT count(*) AS n FROM users", vec![]).await,
        3,
        "the system handle sees every tenant"
    );

    let tx = db.tenant(b).await.unwrap();
    let conn = tx.conn();
    let who = conn
        .query_one(stmt("SELECT current_user::text AS u", vec![]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        get::<String>(&who, "u"),
        role,
        "tenant work runs as the app role"
    );
    assert_eq!(
        count(conn, "SELECT count(*) AS n FROM users", vec![]).await,
        1,
        "an unfiltered SELECT inside tenant(B) sees only B's user"
    );
    assert_eq!(
        count(
            conn,
            "SELECT count(*) AS n FROM users WHERE client_id = $1",
            vec![a_id.clone()]
        )
        .await,
        0,
        "asking for A's rows by name inside tenant(B) finds none"
    );
    assert_eq!(
        count(conn, "SELECT count(*) AS n FROM clients", vec![]).await,
        1,
        "inside tenant(B) only B's own client row is visible"
    );
    let updated = conn
        .execute(stmt(
            "UPDATE users SET name = 'x' WHERE client_id = $1",
            vec![a_id.clone()],
        ))
        .await
        .unwrap();
    assert_eq!(
        updated.rows_affected(),
        0,
        "UPDATE of A's users from tenant(B)"
    );
    let deleted = conn
        .execute(stmt(
            "DELETE FROM users WHERE client_id = $1",
            vec![a_id.clone()],
        ))
        .await
        .unwrap();
    assert_eq!(
        deleted.rows_affected(),
        0,
        "DELETE of A's users from tenant(B)"
    );
    let own = conn
        .execute(stmt("UPDATE users SET name = 'renamed by B'", vec![]))
        .await
        .unwrap();
    assert_eq!(
        own.rows_affected(),
        1,
        "an unfiltered UPDATE reaches only B's row"
    );
    tx.commit().await.unwrap();

    // Writing a row into A, or moving B's row to A, violates the WITH CHECK of the tenant policy.
    for (what, sql) in [
        (
            "INSERT of a row for A",
            "INSERT INTO users (id, client_id, email, name, password_hash, role, active, theme,
                                created_at, updated_at, password_changed_at)
             VALUES (gen_random_uuid(), $1, 'planted@a.example', 'p', 'h', 'admin', true, 'system',
                     now(), now(), now())",
        ),
        (
            "UPDATE moving B's row to A",
            "UPDATE users SET client_id = $1",
        ),
    ] {
        let tx = db.tenant(b).await.unwrap();
        let err = tx
            .conn()
            .execute(stmt(sql, vec![a_id.clone()]))
            .await
            .expect_err(what);
        assert!(
            err.to_string().contains("row-level security"),
            "{what} from tenant(B) should be refused by the policy, got: {err}"
        );
        tx.rollback().await.unwrap();
    }

    let names: Vec<(String, String)> = rows(
        db.system(),
        "SELECT email, name FROM users ORDER BY email",
        vec![],
    )
    .await
    .iter()
    .map(|r| (get(r, "email"), get(r, "name")))
    .collect();
    assert_eq!(
        names,
        vec![
            ("one@a.example".to_string(), "original".to_string()),
            ("one@b.example".to_string(), "renamed by B".to_string()),
            ("two@a.example".to_string(), "original".to_string()),
        ],
        "A's users are untouched and nothing was planted"
    );

    // The pool has one connection: the tenant transactions above ran on the same session as this
    // query, and neither the role nor the tenant survived them.
    let session = db
        .system()
        .query_one(stmt(
            "SELECT current_user::text AS u, coalesce(current_setting('app.client_id', true), '') AS c",
            vec![],
        ))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        get::<String>(&session, "u"),
        role,
        "the role leaked out of the transaction"
    );
    assert_eq!(
        get::<String>(&session, "c"),
        "",
        "the tenant leaked out of the transaction"
    );

    // Fail closed: the application role with no tenant set sees no rows at all.
    let tx = db.system().begin().await.unwrap();
    tx.execute(stmt(
        "SELECT set_config('role', $1, true)",
        vec![role.clone().into()],
    ))
    .await
    .unwrap();
    assert_eq!(
        count(&tx, "SELECT count(*) AS n FROM users", vec![]).await,
        0,
        "the app role without app.client_id must see nothing"
    );
    tx.rollback().await.unwrap();
}
