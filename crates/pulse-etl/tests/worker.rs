//! Worker loops on the real clock with short leases: exclusivity between workers, cancellation
//! and pause within a deadline, graceful shutdown. Every wait polls observable state.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use pulse_db::repo::Page;
use pulse_etl::testing::CountingConnector;
use pulse_etl::{Engine, JobFilter, JobStatus, NewJob, Registry, Worker};
use tokio::sync::oneshot;

fn registry(connector: Arc<CountingConnector>) -> Arc<Registry> {
    let mut r = Registry::new();
    r.register(connector);
    Arc::new(r)
}

fn real_engine(db: &pulse_db::Db) -> Engine {
    Engine::new(db.clone(), fast_config()).with_cipher(cipher())
}

struct Running {
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
}

fn start(worker: Worker) -> Running {
    let (stop, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        worker
            .run(async {
                let _ = rx.await;
            })
            .await
    });
    Running { stop, handle }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("worker stops within 10 s")
            .unwrap();
    }
}

async fn two_workers_never_run_the_same_job(backend: Backend) {
    let db = database(&backend).await;
    let engine = real_engine(&db);
    let a = client(&db, "a").await;
    let scopes: Vec<String> = (0..24).map(|i| format!("s{i:02}")).collect();
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let integ = integration(&engine, a, &scope_refs, None).await;
    let connector =
        Arc::new(CountingConnector::new(30, 10).with_page_delay(Duration::from_millis(5)));
    for s in &scopes {
        engine.enqueue(a, NewJob::sync(integ, s)).await.unwrap();
    }
    let w1 = start(Worker::new(
        engine.clone(),
        registry(connector.clone()),
        "w1",
    ));
    let w2 = start(Worker::new(
        engine.clone(),
        registry(connector.clone()),
        "w2",
    ));
    let filter = JobFilter {
        statuses: vec![JobStatus::Succeeded],
        ..Default::default()
    };
    eventually(Duration::from_secs(60), "every job to succeed", || {
        let engine = engine.clone();
        let filter = filter.clone();
        async move {
            let done = engine
                .list(a, &filter, Page::new(Some(200), None))
                .await
                .ok()?;
            (done.total == 24).then_some(())
        }
    })
    .await;
    w1.stop().await;
    w2.stop().await;

    let runs = connector.runs();
    let mut per_job: HashMap<_, Vec<_>> = HashMap::new();
    for r in &runs {
        per_job.entry(r.job).or_default().push(r.clone());
    }
    assert_eq!(per_job.len(), 24);
    for (job, runs) in &per_job {
        assert_eq!(
            runs.len(),
            1,
            "job {job} ran {} times: {runs:?}",
            runs.len()
        );
        assert_eq!(runs[0].attempt, 1);
        assert_eq!(runs[0].outcome, "ok");
    }
    // Runs of one worker never overlap (one job at a time), and the two workers shared the work.
    for owner in ["w1", "w2"] {
        let mut mine: Vec<_> = runs.iter().filter(|r| r.owner == owner).collect();
        mine.sort_by_key(|r| r.started);
        for pair in mine.windows(2) {
            assert!(pair[0].ended <= pair[1].started);
        }
    }
    if matches!(backend, Backend::Postgres(_)) {
        assert!(runs.iter().any(|r| r.owner == "w1") && runs.iter().any(|r| r.owner == "w2"));
    }
    let all = engine
        .list(a, &JobFilter::default(), Page::new(Some(200), None))
        .await
        .unwrap();
    assert!(all.items.iter().all(|j| j.attempt == 1 && j.failures == 0));
    assert_eq!(raw_ids(&engine, a).await.len(), 24 * 30);
}
both_backends!(claim_exclusivity, two_workers_never_run_the_same_job);

async fn checkpoint_of(
    engine: &Engine,
    client: pulse_core::ClientId,
    job: pulse_etl::JobId,
) -> u64 {
    engine
        .get(client, job)
        .await
        .unwrap()
        .checkpoint
        .and_then(|c| c["next"].as_u64())
        .unwrap_or(0)
}

async fn cancel_is_honoured_within_seconds(backend: Backend) {
    let db = database(&backend).await;
    let engine = real_engine(&db);
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["big"], None).await;
    let connector =
        Arc::new(CountingConnector::new(100_000, 10).with_page_delay(Duration::from_millis(10)));
    let job = engine.enqueue(a, NewJob::sync(integ, "big")).await.unwrap();
    let worker = start(Worker::new(
        engine.clone(),
        registry(connector.clone()),
        "w",
    ));
    eventually(Duration::from_secs(20), "a few pages", || {
        let engine = engine.clone();
        async move { (checkpoint_of(&engine, a, job.id).await >= 30).then_some(()) }
    })
    .await;

    let asked = tokio::time::Instant::now();
    engine.cancel(a, job.id).await.unwrap();
    eventually(Duration::from_secs(3), "the job to be cancelled", || {
        let engine = engine.clone();
        async move {
            let j = engine.get(a, job.id).await.ok()?;
            (j.status == JobStatus::Cancelled).then_some(())
        }
    })
    .await;
    let took = asked.elapsed();
    // Data is consistent with the checkpoint, and nothing is written after the cancel.
    let at_cancel = checkpoint_of(&engine, a, job.id).await;
    assert_eq!(raw_ids(&engine, a).await.len() as u64, at_cancel);
    assert!(at_cancel < 100_000);
    worker.stop().await;
    assert_eq!(raw_ids(&engine, a).await.len() as u64, at_cancel);
    let cancelled = engine.get(a, job.id).await.unwrap();
    assert!(!cancelled.cancel_requested && cancelled.finished_at.is_some());
    eprintln!("cancel honoured in {took:?}");
}
both_backends!(cancel, cancel_is_honoured_within_seconds);

async fn pause_then_resume_continues_from_the_checkpoint(backend: Backend) {
    let db = database(&backend).await;
    let engine = real_engine(&db);
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let connector =
        Arc::new(CountingConnector::new(400, 10).with_page_delay(Duration::from_millis(10)));
    let job = engine
        .enqueue(a, NewJob::sync(integ, "main"))
        .await
        .unwrap();
    let worker = start(Worker::new(
        engine.clone(),
        registry(connector.clone()),
        "w",
    ));
    eventually(Duration::from_secs(20), "a few pages", || {
        let engine = engine.clone();
        async move { (checkpoint_of(&engine, a, job.id).await >= 20).then_some(()) }
    })
    .await;
    engine.pause(a, job.id).await.unwrap();
    eventually(Duration::from_secs(3), "the job to pause", || {
        let engine = engine.clone();
        async move { (engine.get(a, job.id).await.ok()?.status == JobStatus::Paused).then_some(()) }
    })
    .await;
    let paused_at = checkpoint_of(&engine, a, job.id).await;
    engine.resume(a, job.id).await.unwrap();
    eventually(Duration::from_secs(30), "the job to finish", || {
        let engine = engine.clone();
        async move {
            (engine.get(a, job.id).await.ok()?.status == JobStatus::Succeeded).then_some(())
        }
    })
    .await;
    worker.stop().await;
    let runs = connector.runs();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].outcome, "paused");
    assert_eq!(runs[1].first_item, paused_at);
    assert_eq!(raw_ids(&engine, a).await.len(), 400);
    assert_eq!(engine.get(a, job.id).await.unwrap().failures, 0);
}
both_backends!(
    pause_resume,
    pause_then_resume_continues_from_the_checkpoint
);

async fn shutdown_hands_the_running_job_back(backend: Backend) {
    let db = database(&backend).await;
    let engine = real_engine(&db);
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let connector =
        Arc::new(CountingConnector::new(300, 10).with_page_delay(Duration::from_millis(10)));
    let job = engine
        .enqueue(a, NewJob::sync(integ, "main"))
        .await
        .unwrap();
    let first = start(Worker::new(
        engine.clone(),
        registry(connector.clone()),
        "w1",
    ));
    eventually(Duration::from_secs(20), "a few pages", || {
        let engine = engine.clone();
        async move { (checkpoint_of(&engine, a, job.id).await >= 20).then_some(()) }
    })
    .await;
    first.stop().await;
    let handed_back = engine.get(a, job.id).await.unwrap();
    assert_eq!(handed_back.status, JobStatus::Queued);
    assert_eq!(handed_back.failures, 0);
    let resume_from = checkpoint_of(&engine, a, job.id).await;

    let second = Worker::new(engine.clone(), registry(connector.clone()), "w2");
    let out = second.run_next().await.unwrap().unwrap();
    assert_eq!(out.status, Some(JobStatus::Succeeded));
    assert_eq!(connector.runs()[1].first_item, resume_from);
    assert_eq!(raw_ids(&engine, a).await.len(), 300);
}
both_backends!(shutdown, shutdown_hands_the_running_job_back);

async fn a_zombie_worker_loses_its_writes_to_the_rescuer(backend: Backend) {
    let db = database(&backend).await;
    let clock = pulse_etl::ManualClock::new(t0());
    // Heartbeats far apart in real time, so only the manual clock decides when the lease ends.
    let config = pulse_etl::EngineConfig {
        lease: Duration::from_secs(30),
        heartbeat: Duration::from_secs(15),
        ..fast_config()
    };
    let engine = Engine::with_clock(db.clone(), config, clock.clone()).with_cipher(cipher());
    let a = client(&db, "a").await;
    let integ = integration(&engine, a, &["main"], None).await;
    let connector =
        Arc::new(CountingConnector::new(100, 10).with_page_delay(Duration::from_millis(60)));
    let job = engine
        .enqueue(a, NewJob::sync(integ, "main"))
        .await
        .unwrap();
    let zombie = Worker::new(engine.clone(), registry(connector.clone()), "zombie");
    let zombie_run = tokio::spawn(async move { zombie.run_next().await });
    eventually(
        Duration::from_secs(20),
        "the zombie to write a page",
        || {
            let engine = engine.clone();
            async move { (checkpoint_of(&engine, a, job.id).await >= 10).then_some(()) }
        },
    )
    .await;

    // The zombie stalls past its lease (in engine time) and a rescuer takes the job over.
    clock.advance(Duration::from_secs(31));
    let rescuer = Worker::new(engine.clone(), registry(connector.clone()), "rescuer");
    let rescued = eventually(Duration::from_secs(20), "the rescuer to claim", || {
        let rescuer = rescuer.clone();
        async move { rescuer.run_next().await.unwrap() }
    })
    .await;
    assert_eq!(rescued.attempt, 2);
    assert_eq!(rescued.status, Some(JobStatus::Succeeded));
    let zombie_out = zombie_run.await.unwrap().unwrap().unwrap();
    assert_eq!(zombie_out.attempt, 1);
    assert_eq!(zombie_out.status, None, "the zombie recorded no outcome");

    let runs = connector.runs();
    let z = runs.iter().find(|r| r.owner == "zombie").unwrap();
    assert!(z.outcome.contains("lease was lost"), "{}", z.outcome);
    let r = runs.iter().find(|r| r.owner == "rescuer").unwrap();
    assert_eq!(z.first_item + z.written, r.first_item, "no overlap, no gap");
    let ids = raw_ids(&engine, a).await;
    assert_eq!(ids.len(), 100);
    let done = engine.get(a, job.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.lease_owner.as_deref(), Some("rescuer"));
    assert_eq!(done.checkpoint, Some(serde_json::json!({ "next": 100 })));
}
both_backends!(zombie, a_zombie_worker_loses_its_writes_to_the_rescuer);
