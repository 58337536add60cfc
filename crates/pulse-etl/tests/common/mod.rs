//! Shared setup: a migrated database (SQLite file or a fresh PostgreSQL database), a client, an
//! integration of the counting connector, and polling with deadlines instead of sleeps.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pulse_config::{load_from, Secret, Sources};
use pulse_core::ClientId;
use pulse_db::Db;
use pulse_etl::integrations::{self, NewIntegration};
use pulse_etl::testing::COUNTING_KIND;
use pulse_etl::{Engine, EngineConfig, IntegrationId, ManualClock, RetryPolicy, Schedule};

/// Which database a test runs against.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

/// A fresh PostgreSQL database on the server named by `PULSE_TEST_DATABASE_URL`, or `None` when
/// unset. Panics when the server is unreachable, so CI fails rather than silently skipping.
pub async fn postgres_database() -> Option<String> {
    let admin = std::env::var("PULSE_TEST_DATABASE_URL").ok()?;
    let name = format!("pulse_test_{}", uuid::Uuid::new_v4().simple());
    let conn = pulse_db::sea_orm::Database::connect(&admin)
        .await
        .expect("PostgreSQL is unreachable");
    use pulse_db::sea_orm::ConnectionTrait;
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    conn.close().await.ok();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin);
    Some(format!("{base}/{name}"))
}

/// Runs `$body` (an async fn taking a [`Backend`]) as two tests: SQLite, and PostgreSQL when
/// `PULSE_TEST_DATABASE_URL` is set.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(url) = $crate::common::postgres_database().await else {
                    eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
                    return;
                };
                super::$body($crate::common::Backend::Postgres(url)).await;
            }
        }
    };
}

/// A migrated database with the application role prepared.
pub async fn database(backend: &Backend) -> Db {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pulse-etl-test-{}", uuid::Uuid::new_v4()));
    let mut env = vec![("PULSE_DATA_DIR".to_string(), dir.display().to_string())];
    if let Backend::Postgres(url) = backend {
        env.push(("DATABASE_URL".into(), url.clone()));
        env.push((
            "JWT_SECRET_KEY".into(),
            "test-secret-test-secret-test-secret-00".into(),
        ));
        env.push((
            "PULSE_ENCRYPTION_KEY".into(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        ));
    }
    let config = load_from(Sources { file: None, env }).expect("config");
    let db = Db::connect(&config).await.expect("connect");
    pulse_db::migration::up(db.system()).await.expect("migrate");
    db.prepare().await.expect("prepare");
    db
}

/// Short leases and fast retries, so tests finish in seconds.
pub fn fast_config() -> EngineConfig {
    EngineConfig {
        lease: Duration::from_secs(3),
        heartbeat: Duration::from_millis(150),
        poll: Duration::from_millis(50),
        retry: RetryPolicy {
            base: Duration::from_secs(10),
            max_delay: Duration::from_secs(60),
        },
        max_attempts: 3,
        leader_lease: Duration::from_secs(10),
        ..EngineConfig::default()
    }
}

/// The key every test encrypts credentials with.
pub fn cipher() -> pulse_auth::crypto::Cipher {
    pulse_auth::crypto::Cipher::new(&[9u8; 32])
}

/// A fixed starting time for manual clocks.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// An engine on a manual clock.
pub fn manual_engine(db: &Db) -> (Engine, Arc<ManualClock>) {
    let clock = ManualClock::new(t0());
    let engine = Engine::with_clock(db.clone(), fast_config(), clock.clone()).with_cipher(cipher());
    (engine, clock)
}

/// A new client.
pub async fn client(db: &Db, name: &str) -> ClientId {
    let c = pulse_db::repo::clients::create(db.system(), name)
        .await
        .expect("client");
    ClientId::from_uuid(c.id)
}

/// A counting-connector integration with the given scopes and schedule.
pub async fn integration(
    engine: &Engine,
    client: ClientId,
    scopes: &[&str],
    schedule: Option<Schedule>,
) -> IntegrationId {
    let tx = engine.db().tenant(client).await.unwrap();
    let created = integrations::create(
        &tx,
        &cipher(),
        NewIntegration {
            kind: COUNTING_KIND.into(),
            name: format!("counting-{}", uuid::Uuid::new_v4().simple()),
            credentials: Some(Secret::new("ghp_canary_token_value")),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            schedule,
            ..Default::default()
        },
        engine.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    created.id
}

/// Polls `check` until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Raw records of a client's integration (through the tenant transaction).
pub async fn raw_ids(engine: &Engine, client: ClientId) -> Vec<String> {
    use pulse_db::entity::raw_records;
    use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let tx = engine.db().tenant(client).await.unwrap();
    let rows = raw_records::Entity::find()
        .filter(raw_records::Column::ClientId.eq(client.uuid()))
        .order_by_asc(raw_records::Column::ExternalId)
        .all(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    rows.into_iter().map(|r| r.external_id).collect()
}
