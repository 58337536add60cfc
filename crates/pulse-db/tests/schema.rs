//! The schema's invariants, read from the database catalog: every table with a `client_id` has
//! row-level security (PostgreSQL), every unique index of such a table includes `client_id`, and
//! every migration can be rolled back and applied again.

mod common;

use pulse_db::dialect::Upkeep;
use pulse_db::sea_orm::{ConnectionTrait, Statement};

async fn rows(db: &pulse_db::Db, sql: &str) -> Vec<Vec<String>> {
    let conn = db.system();
    let backend = conn.get_database_backend();
    let found = conn
        .query_all(Statement::from_string(backend, sql.to_string()))
        .await
        .expect(sql);
    found
        .iter()
        .map(|r| {
            (0..)
                .map_while(|i| r.try_get_by_index::<String>(i).ok())
                .collect()
        })
        .collect()
}

async fn tenant_tables(db: &pulse_db::Db) -> Vec<String> {
    let sql = match db.backend() {
        pulse_config::Backend::Sqlite => {
            "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND c.name = 'client_id' ORDER BY m.name"
        }
        pulse_config::Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND column_name = 'client_id' ORDER BY 1"
        }
    };
    rows(db, sql)
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

/// (table, index, columns) of every unique index of the tenant tables.
async fn unique_indexes(
    db: &pulse_db::Db,
    tables: &[String],
) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for table in tables {
        let sql = match db.backend() {
            pulse_config::Backend::Sqlite => format!(
                "SELECT il.name, ii.name FROM pragma_index_list('{table}') il, \
                 pragma_index_info(il.name) ii WHERE il.\"unique\" = 1 AND il.origin <> 'pk'"
            ),
            pulse_config::Backend::Postgres => format!(
                "SELECT i.relname::text, a.attname::text FROM pg_index x \
                 JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey) \
                 WHERE t.relname = '{table}' AND x.indisunique AND NOT x.indisprimary"
            ),
        };
        let mut by_index: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for r in rows(db, &sql).await {
            by_index.entry(r[0].clone()).or_default().push(r[1].clone());
        }
        out.extend(by_index.into_iter().map(|(i, c)| (table.clone(), i, c)));
    }
    out
}

async fn catalog(pg: Option<String>) {
    let db = common::migrated(pg).await;
    let tables = tenant_tables(&db).await;
    for expected in [
        "teams",
        "people",
        "pull_requests",
        "deployments",
        "issues",
        "sprint_issues",
        "incidents",
    ] {
        assert!(
            tables.iter().any(|t| t == expected),
            "{expected} has client_id"
        );
    }
    let uniques = unique_indexes(&db, &tables).await;
    assert!(uniques.len() > 20, "unique indexes found: {uniques:?}");
    for (table, index, cols) in &uniques {
        if table == "client_settings" {
            continue; // its primary key is client_id itself
        }
        assert!(
            cols.iter().any(|c| c == "client_id"),
            "unique index {index} on {table} ({cols:?}) must include client_id"
        );
    }
    if db.backend() == pulse_config::Backend::Postgres {
        let sql = "SELECT relname::text FROM pg_class WHERE relkind = 'r' \
                   AND relnamespace = 'public'::regnamespace \
                   AND relrowsecurity AND relforcerowsecurity";
        let secured: Vec<String> = rows(&db, sql)
            .await
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        for table in &tables {
            assert!(
                secured.contains(table),
                "{table} has client_id but no forced RLS"
            );
        }
    }
}
both_backends!(catalog_invariants, catalog);

async fn down_and_up(pg: Option<String>) {
    let db = common::migrated(pg).await;
    // Roll back to just before the engineering model; later migrations go too.
    let undone = pulse_db::migration::down_to(db.system(), "m20261115_000002")
        .await
        .unwrap();
    for m in [
        "m20261120_000004_org",
        "m20261120_000005_code",
        "m20261120_000006_delivery_work",
    ] {
        assert!(
            undone.iter().any(|u| u == m),
            "{m} not rolled back: {undone:?}"
        );
    }
    let tables = tenant_tables(&db).await;
    assert!(!tables.iter().any(|t| t == "pull_requests"), "{tables:?}");
    let applied = pulse_db::migration::up(db.system()).await.unwrap();
    assert_eq!(applied.len(), undone.len());
    assert!(tenant_tables(&db)
        .await
        .iter()
        .any(|t| t == "pull_requests"));
}
both_backends!(migrations_roll_back, down_and_up);

/// Processes starting together (several `pulse worker`s) all prepare the application role at
/// once; none may fail ("tuple concurrently updated" on the catalog rows GRANT rewrites).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_prepare_succeeds() {
    let Some(url) = common::postgres_url().await else {
        eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
        return;
    };
    common::migrated(Some(url.clone())).await;
    let mut processes = Vec::new();
    for _ in 0..6 {
        processes.push(common::connect(Some(url.clone())).await);
    }
    for round in 0..3 {
        let tasks: Vec<_> = processes
            .iter()
            .cloned()
            .map(|db| tokio::spawn(async move { db.prepare().await }))
            .collect();
        for task in tasks {
            task.await
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e:#}"));
        }
    }
}

/// A large refresh of the aggregate cells analyzes their table on PostgreSQL (plans made on the
/// statistics of before read every dimension's cells of a day range) and reclaims the markers it
/// deleted; a small one leaves both to autovacuum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_writes_refresh_the_statistics_of_their_tables() {
    let Some(url) = common::postgres_url().await else {
        eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
        return;
    };
    let db = common::migrated(Some(url)).await;
    let analyzed = |table: &'static str| {
        let db = db.clone();
        async move {
            rows(
                &db,
                &format!(
                    "SELECT COALESCE(to_char(last_analyze, 'YYYY-MM-DD HH24:MI:SS.US'), 'never') \
                     FROM pg_stat_user_tables WHERE relname = '{table}'"
                ),
            )
            .await[0][0]
                .clone()
        }
    };
    let small = pulse_db::Db::LARGE_LOAD - 1;
    assert!(!db
        .upkeep_after(small, Upkeep::Analyze, &["rollup_cells"])
        .await
        .unwrap());
    assert_eq!(analyzed("rollup_cells").await, "never");
    assert!(db
        .upkeep_after(pulse_db::Db::LARGE_LOAD, Upkeep::Analyze, &["rollup_cells"])
        .await
        .unwrap());
    assert_ne!(analyzed("rollup_cells").await, "never");
    // Only the tables named.
    assert_eq!(analyzed("pull_requests").await, "never");

    // A large refresh's deleted markers are reclaimed (and their table analyzed) as well.
    let vacuumed = || async {
        rows(
            &db,
            "SELECT COALESCE(to_char(last_vacuum, 'YYYY-MM-DD HH24:MI:SS.US'), 'never') \
             FROM pg_stat_user_tables WHERE relname = 'rollup_dirty'",
        )
        .await[0][0]
            .clone()
    };
    assert!(!db
        .upkeep_after(small, Upkeep::Vacuum, &["rollup_dirty"])
        .await
        .unwrap());
    assert_eq!(vacuumed().await, "never");
    assert!(db
        .upkeep_after(pulse_db::Db::LARGE_LOAD, Upkeep::Vacuum, &["rollup_dirty"])
        .await
        .unwrap());
    assert_ne!(vacuumed().await, "never");
    assert_ne!(analyzed("rollup_dirty").await, "never");
}

/// The SQLite writer cuts its write-ahead log back after checkpoints instead of keeping the
/// largest size a bulk load gave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_limits_its_write_ahead_log() {
    let db = common::migrated(None).await;
    let conn = db.system();
    let row = conn
        .query_one(Statement::from_string(
            conn.get_database_backend(),
            "PRAGMA journal_size_limit",
        ))
        .await
        .unwrap()
        .unwrap();
    let limit: i64 = row.try_get_by_index(0).unwrap();
    assert_eq!(limit as u64, pulse_db::SQLITE_WAL_LIMIT_BYTES);
}
