//! The scheduler on a manual clock: one run after downtime, one leader across instances.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use pulse_etl::testing::CountingConnector;
use pulse_etl::{JobStatus, Registry, Schedule, Scheduler, Worker};

async fn drain(worker: &Worker) -> usize {
    let mut n = 0;
    while let Some(out) = worker.run_next().await.unwrap() {
        assert_eq!(out.status, Some(JobStatus::Succeeded));
        n += 1;
    }
    n
}

async fn missed_slots_run_once_after_downtime(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    integration(
        &engine,
        a,
        &["x", "y"],
        Some(Schedule::Interval {
            interval_seconds: 3600,
        }),
    )
    .await;
    // A manual-only integration is never queued by the scheduler.
    integration(&engine, a, &["manual"], None).await;
    let mut registry = Registry::new();
    registry.register(Arc::new(CountingConnector::new(5, 5)));
    let worker = Worker::new(engine.clone(), Arc::new(registry), "w");
    let scheduler = Scheduler::new(engine.clone(), "s1");

    assert_eq!(
        scheduler.tick().await.unwrap().len(),
        2,
        "first run at once"
    );
    assert_eq!(scheduler.tick().await.unwrap().len(), 0);
    assert_eq!(drain(&worker).await, 2);
    clock.advance(Duration::from_secs(1800));
    assert_eq!(scheduler.tick().await.unwrap().len(), 0, "not due yet");

    // Five hours of downtime: one run per scope, not five.
    clock.advance(Duration::from_secs(5 * 3600));
    let queued = scheduler.tick().await.unwrap();
    assert_eq!(queued.len(), 2);
    assert_eq!(scheduler.tick().await.unwrap().len(), 0);
    assert_eq!(drain(&worker).await, 2);
    assert_eq!(scheduler.tick().await.unwrap().len(), 0);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(scheduler.tick().await.unwrap().len(), 2);
}
both_backends!(downtime, missed_slots_run_once_after_downtime);

async fn only_one_scheduler_leads(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    integration(
        &engine,
        a,
        &["x"],
        Some(Schedule::Interval {
            interval_seconds: 60,
        }),
    )
    .await;
    let s1 = Scheduler::new(engine.clone(), "s1");
    let s2 = Scheduler::new(engine.clone(), "s2");
    assert!(s1.try_lead().await.unwrap());
    assert!(!s2.try_lead().await.unwrap());
    assert!(
        s2.tick().await.unwrap().is_empty(),
        "a follower queues nothing"
    );
    assert_eq!(s1.tick().await.unwrap().len(), 1);

    // The leader keeps renewing; the follower stays out.
    clock.advance(Duration::from_secs(8));
    assert!(s1.try_lead().await.unwrap());
    clock.advance(Duration::from_secs(8));
    assert!(!s2.try_lead().await.unwrap());
    // The leader stops renewing (crashed): after the lease the follower takes over.
    clock.advance(Duration::from_secs(11));
    assert!(s2.try_lead().await.unwrap());
    assert!(!s1.try_lead().await.unwrap());
    // Resigning hands over at once.
    s2.resign().await.unwrap();
    assert!(s1.try_lead().await.unwrap());

    // Many candidates at the same instant: exactly one wins.
    clock.advance(Duration::from_secs(60));
    let mut handles = Vec::new();
    for i in 0..8 {
        let s = Scheduler::new(engine.clone(), format!("c{i}"));
        handles.push(tokio::spawn(async move { s.try_lead().await.unwrap() }));
    }
    let mut leaders = 0;
    for h in handles {
        leaders += usize::from(h.await.unwrap());
    }
    assert_eq!(leaders, 1);
}
both_backends!(leadership, only_one_scheduler_leads);
