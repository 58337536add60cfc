//! The queue without a worker loop: enqueue rules, claims, lease rescue, fencing, controls,
//! retries and rate limits, tenant scoping, credentials and retention. Time is a manual clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use common::*;
use pulse_core::Error;
use pulse_db::repo::Page;
use pulse_etl::testing::CountingConnector;
use pulse_etl::{
    classify_http, HttpFailure, JobFilter, JobStatus, LogLevel, NewJob, RawRecord, Registry,
    SyncError, Worker,
};
use serde_json::json;

fn registry(connector: Arc<CountingConnector>) -> Arc<Registry> {
    let mut r = Registry::new();
    r.register(connector);
    Arc::new(r)
}

async fn enqueue_refuses_a_second_active_job(backend: Backend) {
    let db = database(&backend).await;
    let (engine, _clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let b = client(&db, "b").await;
    let integ = integration(&engine, a, &["x", "y"], None).await;

    let first = engine.enqueue(a, NewJob::sync(integ, "x")).await.unwrap();
    assert_eq!(first.status, JobStatus::Queued);
    let dup = engine.enqueue(a, NewJob::sync(integ, "x")).await;
    assert!(matches!(dup, Err(Error::Conflict(_))), "{dup:?}");
    engine.enqueue(a, NewJob::sync(integ, "y")).await.unwrap();
    // Another tenant cannot queue work on this integration, nor see the job.
    assert!(matches!(
        engine.enqueue(b, NewJob::sync(integ, "x")).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        engine.get(b, first.id).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        engine.cancel(b, first.id).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        engine.history(b, first.id).await,
        Err(Error::NotFound)
    ));
    assert_eq!(
        engine
            .list(b, &JobFilter::default(), Page::default())
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        engine
            .list(a, &JobFilter::default(), Page::default())
            .await
            .unwrap()
            .total,
        2
    );

    // Once the first is finished (cancelled here), the scope may be queued again.
    let cancelled = engine.cancel(a, first.id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(matches!(
        engine.cancel(a, first.id).await,
        Err(Error::Conflict(_))
    ));
    engine.enqueue(a, NewJob::sync(integ, "x")).await.unwrap();
    let history = engine.history(a, first.id).await.unwrap();
    let steps: Vec<_> = history.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(
        steps,
        vec![
            (None, JobStatus::Queued),
            (Some(JobStatus::Queued), JobStatus::Cancelled)
        ]
    );
}
both_backends!(enqueue_rules, enqueue_refuses_a_second_active_job);

async fn lease_expiry_rescue_resumes_from_checkpoint(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let job = engine
        .enqueue(a, NewJob::sync(integ, "main"))
        .await
        .unwrap();

    let first = engine.claim("worker-a").await.unwrap().expect("claimable");
    assert_eq!(first.job.id, job.id);
    assert_eq!(first.job.attempt, 1);
    assert_eq!(first.from, JobStatus::Queued);
    // Held under a live lease: nobody else gets it.
    assert!(engine.claim("worker-b").await.unwrap().is_none());

    // worker-a commits one page with its checkpoint, then goes silent.
    let tx = first.lease.begin(&engine).await.unwrap();
    let page: Vec<RawRecord> = (0..10)
        .map(|i| RawRecord {
            endpoint: "items".into(),
            external_id: format!("main-{i}"),
            payload: json!({ "n": i }),
        })
        .collect();
    tx.upsert_raw(integ, "main", &page).await.unwrap();
    tx.save_checkpoint(&json!({ "next": 10 })).await.unwrap();
    tx.commit().await.unwrap();

    clock.advance(Duration::from_secs(2));
    assert!(
        engine.claim("worker-b").await.unwrap().is_none(),
        "the lease has not expired yet"
    );
    clock.advance(Duration::from_secs(2));

    let connector = Arc::new(CountingConnector::new(30, 10));
    let worker = Worker::new(engine.clone(), registry(connector.clone()), "worker-b");
    let outcome = worker.run_next().await.unwrap().expect("rescued");
    assert_eq!(outcome.job, job.id);
    assert_eq!(outcome.attempt, 2);
    assert_eq!(outcome.status, Some(JobStatus::Succeeded));
    let runs = connector.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].first_item, 10, "resumed from the checkpoint");
    assert_eq!(runs[0].written, 20);

    let ids = raw_ids(&engine, a).await;
    assert_eq!(ids.len(), 30, "no loss, no duplicates: {ids:?}");
    let done = engine.get(a, job.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.attempt, 2);
    assert_eq!(done.failures, 1, "an expired lease counts as a failed run");
    assert_eq!(done.checkpoint, Some(json!({ "next": 30 })));
    let steps: Vec<_> = engine
        .history(a, job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.from, e.to, e.attempt))
        .collect();
    assert_eq!(
        steps,
        vec![
            (None, JobStatus::Queued, 0),
            (Some(JobStatus::Queued), JobStatus::Running, 1),
            (Some(JobStatus::Running), JobStatus::Running, 2),
            (Some(JobStatus::Running), JobStatus::Succeeded, 2),
        ]
    );

    // The zombie wakes up: every write it attempts is refused.
    assert!(matches!(
        first.lease.begin(&engine).await,
        Err(SyncError::LeaseLost)
    ));
    assert!(matches!(
        first.lease.heartbeat(&engine).await,
        Err(SyncError::LeaseLost)
    ));
    assert_eq!(raw_ids(&engine, a).await.len(), 30);
}
both_backends!(lease_rescue, lease_expiry_rescue_resumes_from_checkpoint);

async fn superseded_worker_writes_nothing(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let job = engine
        .enqueue(a, NewJob::sync(integ, "main"))
        .await
        .unwrap();
    let zombie = engine.claim("zombie").await.unwrap().unwrap();

    if matches!(backend, Backend::Postgres(_)) {
        // While the holder's fenced transaction is open its row is locked: a rescuer skips it
        // even though the lease has expired, so the pending writes cannot race a takeover.
        let tx = zombie.lease.begin(&engine).await.unwrap();
        clock.advance(Duration::from_secs(4));
        assert!(engine.claim("rescuer").await.unwrap().is_none());
        tx.save_checkpoint(&json!({ "next": 5 })).await.unwrap();
        tx.commit().await.unwrap();
    } else {
        clock.advance(Duration::from_secs(4));
    }
    let rescuer = engine.claim("rescuer").await.unwrap().expect("rescued");
    assert_eq!(rescuer.lease.attempt, 2);

    // Each kind of write by the superseded worker fails and changes nothing.
    assert!(matches!(
        zombie.lease.heartbeat(&engine).await,
        Err(SyncError::LeaseLost)
    ));
    assert!(matches!(
        zombie.lease.begin(&engine).await,
        Err(SyncError::LeaseLost)
    ));
    // A guard forged with the right attempt but another owner fails as well.
    let mut forged = rescuer.lease.clone();
    forged.owner = "zombie".into();
    assert!(matches!(
        forged.begin(&engine).await,
        Err(SyncError::LeaseLost)
    ));
    // The current holder still writes.
    let tx = rescuer.lease.begin(&engine).await.unwrap();
    tx.save_checkpoint(&json!({ "next": 7 })).await.unwrap();
    tx.log(LogLevel::Info, "page 1", None).await.unwrap();
    tx.commit().await.unwrap();
    let now = engine.get(a, job.id).await.unwrap();
    assert_eq!(now.checkpoint, Some(json!({ "next": 7 })));
    assert_eq!(now.lease_owner.as_deref(), Some("rescuer"));
    assert_eq!(now.attempt, 2);
    assert!(raw_ids(&engine, a).await.is_empty());
}
both_backends!(fencing, superseded_worker_writes_nothing);

async fn failures_follow_the_retry_policy(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["t", "p", "x"], None).await;
    let connector = Arc::new(CountingConnector::new(30, 10));
    let worker = Worker::new(engine.clone(), registry(connector.clone()), "w");

    // Transient: requeued with backoff inside [now, now + base], resuming from the checkpoint.
    connector.fail_at_page(1, SyncError::Transient("upstream error 502".into()));
    let job = engine.enqueue(a, NewJob::sync(integ, "t")).await.unwrap();
    let out = worker.run_next().await.unwrap().unwrap();
    assert_eq!(out.status, Some(JobStatus::Queued));
    let queued = engine.get(a, job.id).await.unwrap();
    let base = TimeDelta::seconds(10);
    assert!(queued.run_at >= engine.now() && queued.run_at <= engine.now() + base);
    assert_eq!(queued.failures, 1);
    assert_eq!(queued.last_error.as_deref(), Some("upstream error 502"));
    assert_eq!(queued.checkpoint, Some(json!({ "next": 10 })));
    if queued.run_at > engine.now() {
        assert!(
            worker.run_next().await.unwrap().is_none(),
            "not before run_at"
        );
    }
    clock.set(queued.run_at);
    let out = worker.run_next().await.unwrap().unwrap();
    assert_eq!(out.status, Some(JobStatus::Succeeded));
    assert_eq!(connector.runs()[1].first_item, 10);

    // Permanent: failed at once with an actionable message, checkpoint kept.
    let unauthorized = classify_http(
        &HttpFailure {
            status: 401,
            what: "GET /repos/acme/api/pulls",
            ..Default::default()
        },
        engine.now(),
    );
    connector.fail_at_page(1, unauthorized);
    let job = engine.enqueue(a, NewJob::sync(integ, "p")).await.unwrap();
    let out = worker.run_next().await.unwrap().unwrap();
    assert_eq!(out.status, Some(JobStatus::Failed));
    let failed = engine.get(a, job.id).await.unwrap();
    assert!(failed
        .last_error
        .as_deref()
        .unwrap()
        .contains("update the integration's token"));
    assert_eq!(failed.failures, 1);
    assert!(failed.finished_at.is_some());
    assert_eq!(failed.checkpoint, Some(json!({ "next": 10 })));
    let logs = engine.logs(a, job.id, Page::default()).await.unwrap();
    assert!(logs.items.iter().any(|l| l.level == LogLevel::Error));

    // Out of attempts: the last transient failure fails the job.
    connector.fail_at_page(0, SyncError::Transient("timeout".into()));
    connector.fail_at_page(0, SyncError::Transient("timeout".into()));
    let mut new = NewJob::sync(integ, "x");
    new.max_attempts = Some(2);
    let job = engine.enqueue(a, new).await.unwrap();
    assert_eq!(
        worker.run_next().await.unwrap().unwrap().status,
        Some(JobStatus::Queued)
    );
    clock.advance(Duration::from_secs(11));
    assert_eq!(
        worker.run_next().await.unwrap().unwrap().status,
        Some(JobStatus::Failed)
    );
    let gave_up = engine.get(a, job.id).await.unwrap();
    assert!(gave_up.last_error.unwrap().contains("gave up after 2"));
}
both_backends!(retries, failures_follow_the_retry_policy);

async fn rate_limits_wait_without_failing(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let connector = Arc::new(CountingConnector::new(30, 10));
    let worker = Worker::new(engine.clone(), registry(connector.clone()), "w");
    let until = engine.now() + TimeDelta::minutes(15);
    connector.fail_at_page(
        1,
        SyncError::RateLimited {
            until,
            message: "429 too many requests".into(),
        },
    );
    let mut events = engine.subscribe();
    let job = engine
        .enqueue(a, NewJob::sync(integ, "main"))
        .await
        .unwrap();
    let out = worker.run_next().await.unwrap().unwrap();
    assert_eq!(out.status, Some(JobStatus::WaitingRateLimit));
    let waiting = engine.get(a, job.id).await.unwrap();
    assert_eq!(waiting.run_at, until);
    assert_eq!(waiting.failures, 0, "a rate limit is not a failure");
    // The broadcast tells subscribers how long the wait is.
    let mut saw_wait = false;
    while let Ok(ev) = events.try_recv() {
        if ev.status == JobStatus::WaitingRateLimit {
            assert_eq!(ev.waiting_until, Some(until));
            assert_eq!(ev.client, a);
            saw_wait = true;
        }
    }
    assert!(saw_wait);

    clock.set(until - TimeDelta::seconds(1));
    assert!(
        worker.run_next().await.unwrap().is_none(),
        "no retry before the reset"
    );
    clock.set(until);
    let out = worker.run_next().await.unwrap().unwrap();
    assert_eq!(out.status, Some(JobStatus::Succeeded));
    assert_eq!(connector.runs()[1].first_item, 10);
    let done = engine.get(a, job.id).await.unwrap();
    assert_eq!(done.failures, 0);
    let steps: Vec<_> = engine
        .history(a, job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.from, e.to))
        .collect();
    assert!(steps.contains(&(Some(JobStatus::Running), JobStatus::WaitingRateLimit)));
    assert!(steps.contains(&(Some(JobStatus::WaitingRateLimit), JobStatus::Running)));
    assert_eq!(raw_ids(&engine, a).await.len(), 30);
}
both_backends!(rate_limits, rate_limits_wait_without_failing);

async fn pause_resume_and_cancel_requests(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let job = engine
        .enqueue(a, NewJob::sync(integ, "main"))
        .await
        .unwrap();

    assert_eq!(
        engine.pause(a, job.id).await.unwrap().status,
        JobStatus::Paused
    );
    assert!(
        engine.claim("w").await.unwrap().is_none(),
        "paused jobs are not claimed"
    );
    assert_eq!(
        engine.resume(a, job.id).await.unwrap().status,
        JobStatus::Queued
    );
    let claim = engine.claim("w").await.unwrap().unwrap();

    // A running job gets flags its worker observes through the heartbeat.
    let paused = engine.pause(a, job.id).await.unwrap();
    assert_eq!(paused.status, JobStatus::Running);
    assert!(paused.pause_requested);
    assert!(
        claim
            .lease
            .heartbeat(&engine)
            .await
            .unwrap()
            .pause_requested
    );
    assert!(!engine.resume(a, job.id).await.unwrap().pause_requested);
    let cancelling = engine.cancel(a, job.id).await.unwrap();
    assert!(cancelling.cancel_requested);
    assert_eq!(cancelling.status, JobStatus::Running);
    let signals = claim.lease.heartbeat(&engine).await.unwrap();
    assert!(signals.cancel_requested && !signals.pause_requested);

    let steps: Vec<_> = engine
        .history(a, job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.from, e.to))
        .collect();
    assert_eq!(
        steps,
        vec![
            (None, JobStatus::Queued),
            (Some(JobStatus::Queued), JobStatus::Paused),
            (Some(JobStatus::Paused), JobStatus::Queued),
            (Some(JobStatus::Queued), JobStatus::Running),
        ]
    );
    let logs = engine.logs(a, job.id, Page::default()).await.unwrap();
    let messages: Vec<_> = logs.items.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "pause requested",
            "pause request withdrawn",
            "cancel requested"
        ]
    );

    // Its worker dies: with nobody left to observe the flag, the cancel takes effect at once and
    // the late worker is fenced out.
    clock.advance(Duration::from_secs(4));
    let cancelled = engine.cancel(a, job.id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(matches!(
        claim.lease.heartbeat(&engine).await,
        Err(SyncError::LeaseLost)
    ));
    assert!(engine.claim("w2").await.unwrap().is_none());
    let last = engine.history(a, job.id).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.from, last.to),
        (Some(JobStatus::Running), JobStatus::Cancelled)
    );
}
both_backends!(controls, pause_resume_and_cancel_requests);

async fn credentials_are_encrypted_and_bound_to_their_row(backend: Backend) {
    use pulse_db::entity::integrations as rows;
    use pulse_db::sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let db = database(&backend).await;
    let (engine, _clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let first = integration(&engine, a, &["main"], None).await;
    let second = integration(&engine, a, &["main"], None).await;
    let stored = rows::Entity::find_by_id(first.uuid())
        .one(db.system())
        .await
        .unwrap()
        .unwrap();
    let ciphertext = stored.credentials.clone().unwrap();
    assert!(!ciphertext.contains("ghp_canary"));

    let tx = db.tenant(a).await.unwrap();
    let config = pulse_etl::integrations::config(&tx, Some(&cipher()), first)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        config.credentials.unwrap().expose(),
        "ghp_canary_token_value"
    );
    assert!(!format!(
        "{:?}",
        pulse_etl::integrations::get(&db.tenant(a).await.unwrap(), first)
            .await
            .unwrap()
    )
    .contains("ghp_"));

    // Copied onto another row, the ciphertext does not decrypt.
    let mut other: rows::ActiveModel = rows::Entity::find_by_id(second.uuid())
        .one(db.system())
        .await
        .unwrap()
        .unwrap()
        .into();
    other.credentials = Set(Some(ciphertext));
    other.update(db.system()).await.unwrap();
    let tx = db.tenant(a).await.unwrap();
    assert!(
        pulse_etl::integrations::config(&tx, Some(&cipher()), second)
            .await
            .is_err()
    );
    tx.commit().await.unwrap();

    // Key rotation re-encrypts every row.
    let new_key = pulse_auth::crypto::Cipher::new(&[3u8; 32]);
    let tx = db.tenant(a).await.unwrap();
    pulse_etl::integrations::set_credentials(
        &tx,
        &cipher(),
        second,
        Some(&pulse_config::Secret::new("jira-token")),
        engine.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        pulse_etl::integrations::rotate_key(db.system(), &cipher(), &new_key)
            .await
            .unwrap(),
        pulse_etl::integrations::Rotation {
            rewritten: 2,
            already_new: 0
        }
    );
    let tx = db.tenant(a).await.unwrap();
    let rotated = pulse_etl::integrations::config(&tx, Some(&new_key), second)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rotated.credentials.unwrap().expose(), "jira-token");
}
both_backends!(
    credentials,
    credentials_are_encrypted_and_bound_to_their_row
);

async fn retention_purges_old_logs_and_raw_records(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let worker = Worker::new(
        engine.clone(),
        registry(Arc::new(CountingConnector::new(20, 10))),
        "w",
    );
    engine
        .enqueue(a, NewJob::sync(integ, "main"))
        .await
        .unwrap();
    let claim = engine.claim("logger").await.unwrap().unwrap();
    let tx = claim.lease.begin(&engine).await.unwrap();
    tx.log(LogLevel::Warn, "a line to purge", Some(json!({"page": 1})))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // The logger goes silent; the worker rescues the job and finishes it.
    clock.advance(Duration::from_secs(4));
    assert_eq!(
        worker.run_next().await.unwrap().unwrap().status,
        Some(JobStatus::Succeeded)
    );

    assert_eq!(engine.purge().await.unwrap(), (0, 0));
    clock.advance(Duration::from_secs(31 * 24 * 3600));
    let (logs, raw) = engine.purge().await.unwrap();
    assert_eq!(logs, 1);
    assert_eq!(raw, 0, "raw records are kept longer than logs");
    clock.advance(Duration::from_secs(60 * 24 * 3600));
    assert_eq!(engine.purge().await.unwrap(), (0, 20));
}
both_backends!(retention, retention_purges_old_logs_and_raw_records);

async fn run_now_and_full_resync(backend: Backend) {
    let db = database(&backend).await;
    let (engine, _clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let connector = Arc::new(CountingConnector::new(30, 10));
    let worker = Worker::new(engine.clone(), registry(connector.clone()), "w");

    // "Run now" moves a job queued for later to the front.
    let mut later = NewJob::sync(integ, "main");
    later.run_at = Some(engine.now() + TimeDelta::hours(1));
    let job = engine.enqueue(a, later).await.unwrap();
    assert!(engine.claim("w").await.unwrap().is_none());
    let moved = engine.run_now(a, integ, "main").await.unwrap();
    assert_eq!(moved.id, job.id);
    assert_eq!(moved.run_at, engine.now());
    assert_eq!(
        worker.run_next().await.unwrap().unwrap().status,
        Some(JobStatus::Succeeded)
    );

    // Without an active job it queues an incremental run that starts from the last watermark.
    let next = engine.run_now(a, integ, "main").await.unwrap();
    assert_ne!(next.id, job.id);
    assert!(matches!(
        engine
            .queue(a, integ, "main", pulse_etl::JobMode::Full)
            .await,
        Err(Error::Conflict(_))
    ));
    worker.run_next().await.unwrap().unwrap();
    let runs = connector.runs();
    assert_eq!(runs[1].mode, pulse_etl::JobMode::Incremental);
    assert_eq!(runs[1].previous, Some(json!({ "next": 30 })));

    // A full re-sync ignores the watermark.
    let full = engine
        .queue(a, integ, "main", pulse_etl::JobMode::Full)
        .await
        .unwrap();
    assert_eq!(full.mode, pulse_etl::JobMode::Full);
    worker.run_next().await.unwrap().unwrap();
    let runs = connector.runs();
    assert_eq!(runs[2].mode, pulse_etl::JobMode::Full);
    assert_eq!(runs[2].previous, None);
    assert_eq!(runs[2].written, 30);
    assert_eq!(
        raw_ids(&engine, a).await.len(),
        30,
        "upserts, no duplicates"
    );
}
both_backends!(run_now, run_now_and_full_resync);

async fn a_job_whose_workers_keep_dying_fails(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let worker = Worker::new(
        engine.clone(),
        registry(Arc::new(CountingConnector::new(10, 10))),
        "w",
    );
    let mut new = NewJob::sync(integ, "main");
    new.max_attempts = Some(2);
    let job = engine.enqueue(a, new).await.unwrap();
    for _ in 0..2 {
        engine.claim("dies").await.unwrap().unwrap();
        clock.advance(Duration::from_secs(4));
    }
    let out = worker.run_next().await.unwrap().unwrap();
    assert_eq!(out.attempt, 3);
    assert_eq!(out.status, Some(JobStatus::Failed));
    let failed = engine.get(a, job.id).await.unwrap();
    assert!(failed.last_error.unwrap().contains("stopped responding"));
}
both_backends!(dying_workers, a_job_whose_workers_keep_dying_fails);

async fn concurrent_claims_never_hand_out_a_job_twice(backend: Backend) {
    let db = database(&backend).await;
    let (engine, _clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let scopes: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let integ = integration(&engine, a, &refs, None).await;
    for s in &scopes {
        engine.enqueue(a, NewJob::sync(integ, s)).await.unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..6 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(claim) = engine.claim(&format!("w{w}")).await.unwrap() {
                mine.push(claim.job.id);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 40, "every job claimed once");
    assert_eq!(unique.len(), 40, "no job claimed twice");
}
both_backends!(
    concurrent_claims,
    concurrent_claims_never_hand_out_a_job_twice
);

async fn progress_events_reach_only_their_tenant(backend: Backend) {
    let db = database(&backend).await;
    let (engine, _clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let b = client(&db, "b").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let worker = Worker::new(
        engine.clone(),
        registry(Arc::new(CountingConnector::new(30, 10))),
        "w",
    );
    let mut mine = engine.subscribe_client(a);
    let mut theirs = engine.subscribe_client(b);
    let job = engine
        .enqueue(a, NewJob::sync(integ, "main"))
        .await
        .unwrap();
    worker.run_next().await.unwrap().unwrap();

    let mut seen = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), mine.recv()).await {
        assert_eq!(ev.client, a);
        assert_eq!(ev.job, job.id);
        seen.push((ev.status, ev.done, ev.total));
        if ev.status == JobStatus::Succeeded {
            break;
        }
    }
    assert_eq!(seen.first().map(|s| s.0), Some(JobStatus::Queued));
    let pages: Vec<_> = seen
        .iter()
        .filter(|s| s.0 == JobStatus::Running && s.1 > 0)
        .map(|s| (s.1, s.2))
        .collect();
    assert_eq!(pages, vec![(10, Some(30)), (20, Some(30)), (30, Some(30))]);
    assert_eq!(seen.last().map(|s| s.0), Some(JobStatus::Succeeded));
    assert!(
        tokio::time::timeout(Duration::from_millis(100), theirs.recv())
            .await
            .is_err(),
        "another tenant receives nothing"
    );
}
both_backends!(progress_events, progress_events_reach_only_their_tenant);

async fn deleting_an_integration_removes_its_jobs_and_fences_its_worker(backend: Backend) {
    let db = database(&backend).await;
    let (engine, _clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let b = client(&db, "b").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let job = engine
        .enqueue(a, NewJob::sync(integ, "main"))
        .await
        .unwrap();
    let claim = engine.claim("w").await.unwrap().unwrap();

    let tx = db.tenant(b).await.unwrap();
    assert!(matches!(
        pulse_etl::integrations::delete(&tx, integ).await,
        Err(Error::NotFound)
    ));
    tx.commit().await.unwrap();
    let tx = db.tenant(a).await.unwrap();
    let renamed = pulse_etl::integrations::update(
        &tx,
        integ,
        pulse_etl::integrations::IntegrationUpdate {
            name: Some("renamed".into()),
            scopes: Some(vec!["main".into(), "other".into()]),
            ..Default::default()
        },
        engine.now(),
    )
    .await
    .unwrap();
    assert_eq!(renamed.name, "renamed");
    assert_eq!(renamed.scopes, vec!["main", "other"]);
    pulse_etl::integrations::delete(&tx, integ).await.unwrap();
    tx.commit().await.unwrap();

    assert!(matches!(engine.get(a, job.id).await, Err(Error::NotFound)));
    assert!(matches!(
        claim.lease.begin(&engine).await,
        Err(SyncError::LeaseLost)
    ));
}
both_backends!(
    delete_integration,
    deleting_an_integration_removes_its_jobs_and_fences_its_worker
);

async fn pinned_workers_claim_only_their_clients_jobs(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let b = client(&db, "b").await;
    let ia = integration(&engine, a, &["a1", "a2", "a3"], None).await;
    let ib = integration(&engine, b, &["b1", "b2", "b3", "b4"], None).await;
    // B's jobs are older, so a claim without a client filter takes them first.
    for s in ["b1", "b2", "b3", "b4"] {
        engine.enqueue(b, NewJob::sync(ib, s)).await.unwrap();
        clock.advance(Duration::from_secs(1));
    }
    for s in ["a1", "a2", "a3"] {
        engine.enqueue(a, NewJob::sync(ia, s)).await.unwrap();
        clock.advance(Duration::from_secs(1));
    }

    let unpinned = engine.claim("any").await.unwrap().expect("a job");
    assert_eq!(
        (unpinned.job.client, unpinned.job.scope.as_str()),
        (b, "b1")
    );

    // Pinned to A: A's three jobs, oldest first, then nothing although B's jobs are queued.
    let mut scopes = Vec::new();
    while let Some(c) = engine.claim_for("pinned-a", Some(a)).await.unwrap() {
        assert_eq!(c.job.client, a, "a worker pinned to A claimed {:?}", c.job);
        scopes.push(c.job.scope);
    }
    assert_eq!(scopes, ["a1", "a2", "a3"]);
    let queued_b = engine
        .list(
            b,
            &JobFilter {
                statuses: vec![JobStatus::Queued],
                ..Default::default()
            },
            Page::new(Some(10), None),
        )
        .await
        .unwrap();
    assert_eq!(queued_b.total, 3, "B's jobs stay queued for other workers");

    // Every lease expires: the worker pinned to A rescues only A's jobs, never B's b1.
    clock.advance(Duration::from_secs(4));
    let mut rescued = Vec::new();
    while let Some(c) = engine.claim_for("pinned-a-2", Some(a)).await.unwrap() {
        assert_eq!(c.job.client, a);
        assert_eq!(c.from, JobStatus::Running, "a rescue");
        rescued.push(c.job.scope);
    }
    assert_eq!(rescued.len(), 3);
    let b1 = engine.get(b, unpinned.job.id).await.unwrap();
    assert_eq!((b1.attempt, b1.lease_owner.as_deref()), (1, Some("any")));

    // A worker pinned to B takes its expired b1 over; an unpinned one claims whatever is left.
    let pinned_b = Worker::new(
        engine.clone(),
        registry(Arc::new(CountingConnector::new(5, 5))),
        "pinned-b",
    )
    .pinned(Some(b));
    assert_eq!(pinned_b.client(), Some(b));
    let out = pinned_b.run_next().await.unwrap().expect("b1 rescued");
    assert_eq!((out.job, out.attempt), (unpinned.job.id, 2));
    assert_eq!(out.status, Some(JobStatus::Succeeded));
    let mut rest = Vec::new();
    while let Some(c) = engine.claim("any-2").await.unwrap() {
        rest.push((c.job.client, c.job.scope));
    }
    rest.sort();
    let mut expected = vec![
        (b, "b2".to_string()),
        (b, "b3".to_string()),
        (b, "b4".to_string()),
    ];
    expected.sort();
    assert_eq!(rest, expected);
    assert!(engine
        .claim_for("pinned-a-3", Some(a))
        .await
        .unwrap()
        .is_none());
}
both_backends!(pinning, pinned_workers_claim_only_their_clients_jobs);
