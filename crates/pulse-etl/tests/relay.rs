//! Progress events across processes on PostgreSQL: two engines on separate connection pools (as
//! two processes have) relay their events to each other's subscribers through LISTEN/NOTIFY,
//! without duplicates, without crossing tenants, and the listener comes back after its
//! connection is killed. SQLite runs no relay.

mod common;

use std::time::Duration;

use common::*;
use pulse_db::sea_orm::ConnectionTrait;
use pulse_etl::{ClientEvents, Engine, JobId, NewJob, ProgressEvent, Relay};

const WAIT: Duration = Duration::from_secs(15);

async fn next(rx: &mut ClientEvents, what: &str) -> ProgressEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no event within {WAIT:?}: {what}"))
        .expect("the engine is alive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_other_processes_once_and_only_their_clients() {
    let Some(url) = postgres_database().await else {
        eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
        return;
    };
    let backend = Backend::Postgres(url.clone());
    let db_one = database(&backend).await;
    let db_two = database(&backend).await;
    let one = Engine::new(db_one.clone(), fast_config()).with_cipher(cipher());
    let two = Engine::new(db_two.clone(), fast_config()).with_cipher(cipher());
    assert_ne!(one.origin(), two.origin());
    let relay_one = Relay::start(&one, &url, true).expect("a relay on PostgreSQL");
    let relay_two = Relay::start(&two, &url, true).expect("a relay on PostgreSQL");
    assert!(relay_one.wait_connected(1, WAIT).await, "listener one");
    assert!(relay_two.wait_connected(1, WAIT).await, "listener two");

    let a = client(&db_one, "a").await;
    let b = client(&db_one, "b").await;
    let scopes: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let int_a = integration(&one, a, &scope_refs, None).await;
    let int_b = integration(&one, b, &["t1"], None).await;
    let mut two_sees_a = two.subscribe_client(a);
    let mut two_sees_b = two.subscribe_client(b);
    let mut one_sees_a = one.subscribe_client(a);
    let mut scope = scopes.iter();
    let mut enqueue = |engine: &Engine| {
        let engine = engine.clone();
        let s = scope.next().unwrap().clone();
        async move { engine.enqueue(a, NewJob::sync(int_a, s)).await.unwrap().id }
    };

    // An event published by one process reaches the other's subscriber, and its own once.
    let first: JobId = enqueue(&one).await;
    assert_eq!(next(&mut two_sees_a, "relayed to two").await.job, first);
    assert_eq!(next(&mut one_sees_a, "local to one").await.job, first);

    // And the other way round. Once one has received two's event, two's NOTIFY is in the
    // queue; a marker sent by one afterwards must be the next thing two's subscriber sees, so a
    // copy of its own event coming back would show up before it.
    let second = enqueue(&two).await;
    assert_eq!(next(&mut two_sees_a, "local to two").await.job, second);
    assert_eq!(next(&mut one_sees_a, "relayed to one").await.job, second);
    let marker = enqueue(&one).await;
    let seen = next(&mut two_sees_a, "the marker").await;
    assert_eq!(seen.job, marker, "two received its own event twice");
    assert_eq!(next(&mut one_sees_a, "local marker").await.job, marker);

    // Client b's subscriber received none of a's events: its first event is b's own.
    let of_b = one.enqueue(b, NewJob::sync(int_b, "t1")).await.unwrap().id;
    let got = next(&mut two_sees_b, "b's event").await;
    assert_eq!((got.job, got.client), (of_b, b));
    assert_eq!(got.scope, "t1");

    // Kill the listening connections: they come back and events flow again.
    let before = relay_two.connections();
    let killed = db_one
        .system()
        .query_all(pulse_db::sea_orm::Statement::from_sql_and_values(
            pulse_db::sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database()",
            [pulse_etl::relay::LISTENER_NAME.into()],
        ))
        .await
        .unwrap();
    assert_eq!(killed.len(), 2, "both listeners were connected");
    assert!(
        relay_two.wait_connected(before + 1, WAIT).await,
        "the listener reconnected"
    );
    let after = enqueue(&one).await;
    assert_eq!(
        next(&mut two_sees_a, "relayed after reconnecting")
            .await
            .job,
        after
    );

    relay_one.stop(&one).await;
    relay_two.stop(&two).await;
}

#[tokio::test]
async fn no_relay_on_sqlite() {
    let db = database(&Backend::Sqlite).await;
    let engine = Engine::new(db, fast_config());
    assert!(Relay::start(&engine, "sqlite:///tmp/pulse.db?mode=rwc", true).is_none());
}
