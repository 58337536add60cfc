//! Raw bulk loading (`bulk::insert`: COPY on PostgreSQL, batched INSERTs on SQLite) and the
//! lookup-free upsert (`ingested::store`) and the per-row update (`update::each`), on both
//! backends.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use pulse_db::entity::{commits, repositories};
use pulse_db::repo::{ingested, update};
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

fn repository(client: Uuid) -> repositories::Model {
    repositories::Model {
        id: Uuid::now_v7(),
        client_id: client,
        source: "git".into(),
        external_id: "repo".into(),
        synced_at: Utc::now(),
        full_name: "shop".into(),
        default_branch: None,
        url: None,
    }
}

fn commit(client: Uuid, repo: Uuid, i: usize) -> commits::Model {
    let at = DateTime::parse_from_rfc3339("2024-01-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + TimeDelta::minutes(i as i64);
    commits::Model {
        id: Uuid::now_v7(),
        client_id: client,
        source: "git".into(),
        external_id: format!("repo@{i:040x}"),
        synced_at: at,
        repository_id: repo,
        sha: format!("{i:040x}"),
        // Text COPY must escape tabs, newlines and backslashes; NULLs stay NULL.
        message: (!i.is_multiple_of(3)).then(|| format!("fix\tthe \\ path\nline {i} é")),
        author_name: Some(format!("Dev {}", i % 7)),
        author_email: None,
        author_login: None,
        author_person_id: None,
        authored_at: at,
        committed_at: at,
        additions: i as i64 * 3,
        deletions: i as i64,
        parent_count: i.is_multiple_of(2).then_some(1),
    }
}

async fn stored(db: &pulse_db::Db, client: Uuid) -> Vec<commits::Model> {
    commits::Entity::find()
        .filter(commits::Column::ClientId.eq(client))
        .order_by_asc(commits::Column::Sha)
        .all(db.system())
        .await
        .unwrap()
}

async fn bulk_insert_writes_rows_exactly(pg: Option<String>) {
    let db = migrated(pg).await;
    let client = client(&db, "bulk").await.uuid();
    let repo = repository(client);
    pulse_db::bulk::insert::<repositories::Entity>(db.system(), std::slice::from_ref(&repo))
        .await
        .unwrap();
    // More rows than one SQLite statement and one COPY chunk boundary's worth of small rows.
    let rows: Vec<commits::Model> = (0..1234).map(|i| commit(client, repo.id, i)).collect();
    assert_eq!(
        pulse_db::bulk::insert::<commits::Entity>(db.system(), &rows)
            .await
            .unwrap(),
        1234
    );
    let mut expected = rows.clone();
    expected.sort_by(|a, b| a.sha.cmp(&b.sha));
    assert_eq!(stored(&db, client).await, expected);

    // A duplicate key fails the whole load: nothing of it is written.
    let again = vec![commit(client, repo.id, 5000), commit(client, repo.id, 7)];
    assert!(
        pulse_db::bulk::insert::<commits::Entity>(db.system(), &again)
            .await
            .is_err()
    );
    assert_eq!(stored(&db, client).await.len(), 1234);
}
both_backends!(bulk_insert, bulk_insert_writes_rows_exactly);

async fn store_upserts_without_lookups(pg: Option<String>) {
    let db = migrated(pg).await;
    let client = client(&db, "store").await;
    let tx = db.tenant(client).await.unwrap();
    let repo = ingested::upsert::<repositories::Entity>(&tx, vec![repository(Uuid::nil())])
        .await
        .unwrap()
        .ids[0];
    // 2500 rows: several statements; the repeated key keeps the later row.
    let mut rows: Vec<commits::Model> = (0..2500).map(|i| commit(Uuid::nil(), repo, i)).collect();
    let mut later = commit(Uuid::nil(), repo, 10);
    later.message = Some("the later row".into());
    rows.push(later);
    assert_eq!(
        ingested::store::<commits::Entity>(&tx, rows).await.unwrap(),
        2500
    );
    tx.commit().await.unwrap();
    let first = stored(&db, client.uuid()).await;
    assert_eq!(first.len(), 2500);
    assert!(first.iter().all(|c| c.client_id == client.uuid()));
    let ten = first
        .iter()
        .find(|c| c.sha == format!("{:040x}", 10))
        .unwrap();
    assert_eq!(ten.message.as_deref(), Some("the later row"));

    // Stored again with new ids and values: rows update in place and keep their ids.
    let tx = db.tenant(client).await.unwrap();
    let rows: Vec<commits::Model> = (0..2500)
        .map(|i| {
            let mut c = commit(Uuid::nil(), repo, i);
            c.additions = 1;
            c
        })
        .collect();
    ingested::store::<commits::Entity>(&tx, rows).await.unwrap();
    tx.commit().await.unwrap();
    let second = stored(&db, client.uuid()).await;
    assert_eq!(second.len(), 2500);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.id, b.id, "ids are stable");
        assert_eq!(b.additions, 1);
    }
}
both_backends!(store, store_upserts_without_lookups);

async fn each_row_gets_its_own_values(pg: Option<String>) {
    let db = migrated(pg).await;
    let mut written = Vec::new();
    for name in ["each", "other"] {
        let client = client(&db, name).await;
        let tx = db.tenant(client).await.unwrap();
        let repo = ingested::upsert::<repositories::Entity>(&tx, vec![repository(Uuid::nil())])
            .await
            .unwrap()
            .ids[0];
        // More rows than one statement holds.
        let rows: Vec<commits::Model> = (0..450).map(|i| commit(Uuid::nil(), repo, i)).collect();
        ingested::upsert::<commits::Entity>(&tx, rows)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        written.push((client, stored(&db, client.uuid()).await));
    }
    let (client, before) = &written[0];
    let (_, other) = &written[1];

    // Every even row: its own additions and message (a NULL for every fourth), plus an id of the
    // other client and an unknown id, which are skipped.
    let mut rows: Vec<(Uuid, Vec<pulse_db::sea_orm::Value>)> = before
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(i, c)| {
            let message = (i % 4 != 0).then(|| format!("row {i}"));
            (c.id, vec![(1000 + i as i64).into(), message.into()])
        })
        .collect();
    rows.push((
        other[0].id,
        vec![7i64.into(), Some("not mine".to_string()).into()],
    ));
    rows.push((Uuid::now_v7(), vec![7i64.into(), None::<String>.into()]));
    // A repeated id: its last values win (row 1 is otherwise left alone).
    rows.push((
        before[1].id,
        vec![1i64.into(), Some("first".to_string()).into()],
    ));
    rows.push((
        before[1].id,
        vec![2i64.into(), Some("last".to_string()).into()],
    ));
    let tx = db.tenant(*client).await.unwrap();
    let updated = update::each::<commits::Entity>(
        &tx,
        &[commits::Column::Additions, commits::Column::Message],
        rows,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(updated, 226);

    let after = stored(&db, client.uuid()).await;
    for (i, (a, b)) in before.iter().zip(&after).enumerate() {
        let mut expected = a.clone();
        if i % 2 == 0 {
            expected.additions = 1000 + i as i64;
            expected.message = (i % 4 != 0).then(|| format!("row {i}"));
        }
        if i == 1 {
            expected.additions = 2;
            expected.message = Some("last".into());
        }
        assert_eq!(b, &expected, "row {i}");
    }
    assert_eq!(&stored(&db, other[0].client_id).await, other);
}
both_backends!(each, each_row_gets_its_own_values);
