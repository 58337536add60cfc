//! A fresh, migrated database per test: SQLite in a directory under Cargo's `target/tmp` (kept
//! out of the system's temporary directory), or a new PostgreSQL database on the server named by
//! `PULSE_TEST_DATABASE_URL`.
#![allow(dead_code)]

use pulse_config::{load_from, Sources};
use pulse_core::ClientId;
use pulse_db::sea_orm::{ConnectionTrait, Database};
use pulse_db::Db;

/// Creates a new PostgreSQL database and returns its URL; `None` when the variable is unset.
pub async fn postgres_url() -> Option<String> {
    let admin = std::env::var("PULSE_TEST_DATABASE_URL").ok()?;
    let name = format!("pulse_test_{}", uuid::Uuid::new_v4().simple());
    let conn = Database::connect(&admin)
        .await
        .expect("PostgreSQL is unreachable");
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

/// Connects to SQLite (`None`) or the given PostgreSQL URL, without migrating.
pub async fn connect(pg: Option<String>) -> Db {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pulse-db-test-{}", uuid::Uuid::new_v4()));
    let mut env = vec![("PULSE_DATA_DIR".to_string(), dir.display().to_string())];
    if let Some(url) = pg {
        env.push(("DATABASE_URL".into(), url));
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
    Db::connect(&config).await.expect("connect")
}

/// A migrated database with the application role prepared.
pub async fn migrated(pg: Option<String>) -> Db {
    let db = connect(pg).await;
    pulse_db::migration::up(db.system()).await.expect("migrate");
    db.prepare().await.expect("prepare");
    db
}

/// Creates a client.
pub async fn client(db: &Db, name: &str) -> ClientId {
    let c = pulse_db::repo::clients::create(db.system(), name)
        .await
        .expect("client");
    ClientId::from_uuid(c.id)
}

/// Runs `$body` (an async fn taking `Option<String>`: `None` for SQLite, a PostgreSQL URL
/// otherwise) against both backends; the PostgreSQL case is skipped when
/// `PULSE_TEST_DATABASE_URL` is unset.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(None).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(url) = $crate::common::postgres_url().await else {
                    eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
                    return;
                };
                super::$body(Some(url)).await;
            }
        }
    };
}
