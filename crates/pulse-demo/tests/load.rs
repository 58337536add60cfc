//! The small dataset loads through `pulse_ingest::import` on SQLite and PostgreSQL (a fresh
//! database each), with the row counts the file promises and the derived links in place.

// One copy of the database test harness, shared with pulse-db's tests.
#[path = "../../pulse-db/tests/common/mod.rs"]
mod common;

use chrono::NaiveDate;
use pulse_core::ClientId;
use pulse_db::entity::*;
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use pulse_db::Db;
use pulse_demo::{write_jsonl, Options, Size};

async fn count<E: EntityTrait>(db: &Db, client: ClientId) -> u64
where
    E::Column: ColumnTrait + std::str::FromStr,
    E::Model: Sync,
{
    use std::str::FromStr;
    let col = E::Column::from_str("client_id").ok().unwrap();
    E::find()
        .filter(col.eq(client.uuid()))
        .count(db.system())
        .await
        .unwrap()
}

async fn small_loads(pg: Option<String>) {
    let backend = if pg.is_some() { "postgres" } else { "sqlite" };
    let db = common::migrated(pg).await;
    let client = common::client(&db, "Acme Demo").await;
    let options = Options {
        size: Size::Small,
        seed: 42,
        anchor: NaiveDate::from_ymd_opt(2025, 6, 2).unwrap(),
    };
    let generated = std::time::Instant::now();
    let mut text = Vec::new();
    let stats = write_jsonl(&options, &mut text).unwrap();
    let generated = generated.elapsed();

    let loaded = std::time::Instant::now();
    let tx = db.tenant(client).await.unwrap();
    let summary = pulse_ingest::import(&tx, || Ok(&text[..])).await.unwrap();
    tx.commit().await.unwrap();
    let loaded = loaded.elapsed();
    eprintln!(
        "{backend}: {} records generated in {:.2} s, loaded in {:.2} s",
        summary.records,
        generated.as_secs_f64(),
        loaded.as_secs_f64()
    );

    let total: u64 = stats.values().sum();
    assert_eq!(summary.records, total);
    let inserted: u64 = summary.counts.values().map(|c| c.inserted).sum();
    assert_eq!(inserted, total, "every record is new: {:?}", summary.counts);

    assert_eq!(count::<teams::Entity>(&db, client).await, stats["team"]);
    assert_eq!(count::<people::Entity>(&db, client).await, stats["person"]);
    assert_eq!(
        count::<repositories::Entity>(&db, client).await,
        stats["repository"]
    );
    assert_eq!(
        count::<pull_requests::Entity>(&db, client).await,
        stats["pull_request"]
    );
    assert_eq!(count::<commits::Entity>(&db, client).await, stats["commit"]);
    assert_eq!(
        count::<pr_reviews::Entity>(&db, client).await,
        stats["review"]
    );
    assert_eq!(
        count::<deployments::Entity>(&db, client).await,
        stats["deployment"]
    );
    assert_eq!(count::<sprints::Entity>(&db, client).await, stats["sprint"]);
    assert_eq!(count::<issues::Entity>(&db, client).await, stats["issue"]);
    assert_eq!(
        count::<issue_transitions::Entity>(&db, client).await,
        stats["transition"]
    );
    assert_eq!(
        count::<incidents::Entity>(&db, client).await,
        stats["incident"]
    );
    assert!((1_500..1_600).contains(&stats["pull_request"]));
    assert!(stats["incident"] >= 10, "{stats:?}");

    // Derived on load: deployment links, incident attribution, matched people, PR timings.
    let links = count::<deployment_pull_requests::Entity>(&db, client).await;
    assert!(
        links > stats["pull_request"] / 2,
        "{links} pull requests shipped"
    );
    let unattributed = incidents::Entity::find()
        .filter(incidents::Column::ClientId.eq(client.uuid()))
        .filter(incidents::Column::CausedByDeploymentId.is_null())
        .count(db.system())
        .await
        .unwrap();
    assert_eq!(
        unattributed, 0,
        "every incident is charged to its deployment"
    );
    let matched = pull_requests::Entity::find()
        .filter(pull_requests::Column::ClientId.eq(client.uuid()))
        .filter(pull_requests::Column::AuthorPersonId.is_not_null())
        .count(db.system())
        .await
        .unwrap();
    assert!(
        matched * 100 >= stats["pull_request"] * 90,
        "{matched} authors matched"
    );
    let assigned = issues::Entity::find()
        .filter(issues::Column::ClientId.eq(client.uuid()))
        .filter(issues::Column::AssigneePersonId.is_not_null())
        .count(db.system())
        .await
        .unwrap();
    assert!(
        assigned * 100 >= stats["issue"] * 80,
        "{assigned} assignees matched"
    );
    let reviewed = pull_requests::Entity::find()
        .filter(pull_requests::Column::ClientId.eq(client.uuid()))
        .filter(pull_requests::Column::FirstReviewAt.is_not_null())
        .count(db.system())
        .await
        .unwrap();
    assert!(
        reviewed * 100 >= stats["pull_request"] * 75,
        "{reviewed} reviewed"
    );
}

both_backends!(small_dataset_loads, small_loads);
