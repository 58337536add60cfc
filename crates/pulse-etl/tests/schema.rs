//! The engine's migrations: reversible, and every tenant table behind forced row-level security.

mod common;

use common::*;
use pulse_db::entity::jobs;
use pulse_db::sea_orm::{ConnectionTrait, EntityTrait, Statement};
use pulse_etl::NewJob;

const TENANT_TABLES: [&str; 5] = [
    "integrations",
    "jobs",
    "job_events",
    "job_logs",
    "raw_records",
];

async fn tables(db: &pulse_db::Db) -> Vec<String> {
    let sql = match db.backend() {
        pulse_config::Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        pulse_config::Backend::Postgres => {
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        }
    };
    let rows = db
        .system()
        .query_all(Statement::from_string(
            db.system().get_database_backend(),
            sql,
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect()
}

async fn migrations_round_trip(backend: Backend) {
    let db = database(&backend).await;
    let before = tables(&db).await;
    for t in TENANT_TABLES.iter().chain(&["leader_leases"]) {
        assert!(before.iter().any(|n| n == t), "{t} missing");
    }
    let undone = pulse_db::migration::down_to(db.system(), "m20261120_000006_delivery_work")
        .await
        .unwrap();
    assert_eq!(
        undone,
        vec![
            "m20261122_000011_scheduler_raw_records",
            "m20261122_000010_integrations_jobs"
        ]
    );
    let after = tables(&db).await;
    for t in TENANT_TABLES.iter().chain(&["leader_leases"]) {
        assert!(!after.iter().any(|n| n == t), "{t} still there");
    }
    pulse_db::migration::up(db.system()).await.unwrap();
    db.prepare().await.unwrap();
    assert_eq!(tables(&db).await.len(), before.len());
}
both_backends!(round_trip, migrations_round_trip);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_tables_force_row_level_security() {
    let Some(url) = postgres_database().await else {
        eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
        return;
    };
    let db = database(&Backend::Postgres(url)).await;
    for t in TENANT_TABLES {
        let row = db
            .system()
            .query_one(Statement::from_string(
                pulse_db::sea_orm::DatabaseBackend::Postgres,
                format!(
                    "SELECT relrowsecurity AS e, relforcerowsecurity AS f FROM pg_class \
                     WHERE relname = '{t}' AND relkind = 'r'"
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        assert!(
            row.try_get::<bool>("", "e").unwrap(),
            "{t}: RLS not enabled"
        );
        assert!(row.try_get::<bool>("", "f").unwrap(), "{t}: RLS not forced");
    }
    // A query that forgets its tenant filter still sees one tenant only.
    let (engine, _clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let b = client(&db, "b").await;
    let integ = integration(&engine, a, &["main"], None).await;
    engine
        .enqueue(a, NewJob::sync(integ, "main"))
        .await
        .unwrap();
    let tx = db.tenant(b).await.unwrap();
    assert!(jobs::Entity::find()
        .all(tx.conn())
        .await
        .unwrap()
        .is_empty());
    tx.commit().await.unwrap();
    let tx = db.tenant(a).await.unwrap();
    assert_eq!(jobs::Entity::find().all(tx.conn()).await.unwrap().len(), 1);
    tx.commit().await.unwrap();
}
