//! Property: filters never return another tenant's rows.
//!
//! Client B's data is loaded alone into one database ("solo") and, into another ("shared"), after
//! client A's data, which reuses the same external ids with different content (the generator
//! numbers its records the same way for every seed). For random filters (range, granularity, time
//! zone, and a team, project or repository of B), every report and every drill-down list that B
//! gets from the shared database
//! - mentions no row id of A, and every row id it mentions is one of B's, and
//! - equals what B gets from the solo database once row ids are replaced by external ids.
//!
//! Naming one of A's teams, projects or repositories as B's filter answers "not found" from every
//! report and list. Runs on SQLite and, with `PULSE_TEST_DATABASE_URL`, on PostgreSQL.

// One copy of the database test harness, shared with pulse-db's tests.
#[path = "../../pulse-db/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRng, TestRunner};
use pulse_analytics::data::{self, DataParams};
use pulse_analytics::{Filters, Granularity, MetricsParams};
use pulse_core::{ClientId, Error};
use pulse_db::entity as e;
use pulse_db::repo::{deployments, incidents, issues, sprints, Page};
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use pulse_db::Db;
use pulse_demo::{write_jsonl, Counts, Options, Size};
use serde_json::Value;
use uuid::Uuid;

const CASES: usize = 24;

fn anchor() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 2).unwrap()
}

fn options(seed: u64) -> Options {
    Options {
        size: Size::Custom(Counts {
            prs: 300,
            deployments: 80,
            issues: 300,
        }),
        seed,
        anchor: anchor(),
    }
}

async fn load(db: &Db, client: ClientId, seed: u64) {
    let mut text = Vec::new();
    write_jsonl(&options(seed), &mut text).unwrap();
    let tx = db.tenant(client).await.unwrap();
    pulse_ingest::import(&tx, || Ok(&text[..])).await.unwrap();
    tx.commit().await.unwrap();
}

/// Every row id of a client, mapped to a name that is the same in every database:
/// `table:source:external_id`.
type Names = HashMap<Uuid, String>;

async fn names(db: &Db, client: ClientId) -> Names {
    let mut out = Names::new();
    macro_rules! collect {
        ($($table:ident),*) => {$(
            for row in e::$table::Entity::find()
                .filter(e::$table::Column::ClientId.eq(client.uuid()))
                .all(db.system())
                .await
                .unwrap()
            {
                out.insert(
                    row.id,
                    format!("{}:{}:{}", stringify!($table), row.source, row.external_id),
                );
            }
        )*};
    }
    collect!(
        teams,
        people,
        projects,
        repositories,
        pull_requests,
        commits,
        pr_reviews,
        pr_review_comments,
        deployments,
        boards,
        sprints,
        issues,
        issue_transitions,
        incidents
    );
    out
}

/// Replaces every row id in `v` by its name. Panics on an id of `other` (another tenant's row) or
/// an id that is no row of `own`.
fn normalize(v: &mut Value, own: &Names, other: &Names, what: &str) {
    match v {
        Value::String(s) => {
            if let Ok(id) = Uuid::parse_str(s) {
                assert!(
                    !other.contains_key(&id),
                    "{what}: another tenant's row {} in the answer",
                    other[&id]
                );
                match own.get(&id) {
                    Some(name) => *s = name.clone(),
                    None => panic!("{what}: id {id} is no row of the caller's client"),
                }
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                normalize(item, own, other, what);
            }
            // Rows that tie on every sort key are ordered by id, and ids differ between the
            // two databases: compare arrays as multisets.
            items.sort_by_key(|i| i.to_string());
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                normalize(item, own, other, what);
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone, Copy)]
enum Dim {
    All,
    Team(usize),
    Project(usize),
    Repository(usize),
    ForeignTeam(usize),
    ForeignProject(usize),
    ForeignRepository(usize),
}

#[derive(Debug, Clone)]
struct Case {
    /// Days before the anchor of the range's last day.
    end_back: i64,
    /// Length of the range in days.
    len: i64,
    granularity: Granularity,
    tz: &'static str,
    dim: Dim,
}

fn cases() -> Vec<Case> {
    let granularity = prop_oneof![
        Just(Granularity::Day),
        Just(Granularity::Week),
        Just(Granularity::Month)
    ];
    let tz = prop_oneof![
        Just("UTC"),
        Just("Europe/Berlin"),
        Just("America/New_York"),
        Just("Asia/Kolkata"),
        Just("Pacific/Auckland")
    ];
    let dim = prop_oneof![
        2 => Just(Dim::All),
        2 => (0usize..64).prop_map(Dim::Team),
        2 => (0usize..64).prop_map(Dim::Project),
        2 => (0usize..64).prop_map(Dim::Repository),
        1 => (0usize..64).prop_map(Dim::ForeignTeam),
        1 => (0usize..64).prop_map(Dim::ForeignProject),
        1 => (0usize..64).prop_map(Dim::ForeignRepository),
    ];
    let strategy = (0i64..200, 1i64..120, granularity, tz, dim).prop_map(
        |(end_back, len, granularity, tz, dim)| Case {
            end_back,
            len,
            granularity,
            tz,
            dim,
        },
    );
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &[7; 32]),
    );
    (0..CASES)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// The ids of one table of a client, ordered by name (so both databases pick the same row).
fn pick(names: &Names, table: &str, i: usize) -> Uuid {
    let mut rows: Vec<(&String, &Uuid)> = names
        .iter()
        .filter(|(_, n)| n.starts_with(&format!("{table}:")))
        .map(|(id, n)| (n, id))
        .collect();
    rows.sort();
    assert!(!rows.is_empty(), "the dataset has no {table}");
    *rows[i % rows.len()].1
}

struct Side<'a> {
    db: &'a Db,
    client: ClientId,
    own: &'a Names,
    other: &'a Names,
}

/// Every report and list of `case` for one client, normalized; `Err(NotFound)` when the filter
/// names no row of the client (every answer must agree on that).
async fn answers(side: &Side<'_>, case: &Case, foreign: &Names) -> Result<Vec<Value>, Error> {
    let (team, project, repository) = match case.dim {
        Dim::All => (None, None, None),
        Dim::Team(i) => (Some(pick(side.own, "teams", i)), None, None),
        Dim::Project(i) => (None, Some(pick(side.own, "projects", i)), None),
        Dim::Repository(i) => (None, None, Some(pick(side.own, "repositories", i))),
        Dim::ForeignTeam(i) => (Some(pick(foreign, "teams", i)), None, None),
        Dim::ForeignProject(i) => (None, Some(pick(foreign, "projects", i)), None),
        Dim::ForeignRepository(i) => (None, None, Some(pick(foreign, "repositories", i))),
    };
    let to = anchor() - Duration::days(case.end_back);
    let from = to - Duration::days(case.len - 1);
    let now = Utc.from_utc_datetime(&anchor().and_hms_opt(0, 0, 0).unwrap());
    let filters = Filters::parse(
        MetricsParams {
            from: Some(from),
            to: Some(to),
            team,
            project,
            repository,
            granularity: Some(case.granularity),
            tz: Some(case.tz.to_string()),
            year: None,
        },
        now,
    )
    .unwrap();
    let params = DataParams {
        from: Some(from),
        to: Some(to),
        tz: Some(case.tz.to_string()),
        team,
        project,
        repository,
    };
    let tx = side.db.tenant_read(side.client).await.unwrap();
    let mut results: Vec<Result<Value, Error>> = Vec::new();
    macro_rules! json {
        ($e:expr) => {
            results.push($e.await.map(|r| serde_json::to_value(&r).unwrap()))
        };
    }
    json!(pulse_analytics::dora(&tx, &filters));
    json!(pulse_analytics::pull_requests(&tx, &filters));
    json!(pulse_analytics::flow(&tx, &filters));
    json!(pulse_analytics::sprints(&tx, &filters));
    json!(pulse_analytics::portfolio(&tx, &filters));
    json!(pulse_analytics::executive(&tx, &filters));
    let page = Page::new(Some(Page::MAX_LIMIT), None);
    macro_rules! list {
        ($e:expr) => {
            results.push($e.await.map(|p| {
                serde_json::json!({"total": p.total, "items": serde_json::to_value(&p.items).unwrap()})
            }))
        };
    }
    match data::scope(&tx, &params).await {
        Ok(scope) => {
            list!(data::pull_requests(&tx, scope.clone(), true, None, page));
            list!(data::deployments(
                &tx,
                deployments::DeploymentFilter {
                    scope: scope.clone(),
                    ..Default::default()
                },
                page
            ));
            list!(data::incidents(
                &tx,
                incidents::IncidentFilter {
                    scope: scope.clone(),
                    open: None,
                },
                page
            ));
            list!(data::issues(
                &tx,
                issues::IssueFilter {
                    scope: scope.clone(),
                    ..Default::default()
                },
                page
            ));
            list!(data::sprints(
                &tx,
                sprints::SprintFilter {
                    scope,
                    ..Default::default()
                },
                page
            ));
        }
        Err(e) => results.push(Err(e)),
    }
    drop(tx);
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    if !failures.is_empty() {
        assert_eq!(
            failures.len(),
            results.len(),
            "{case:?}: some answers failed and some did not: {failures:?}"
        );
        assert!(
            failures.iter().all(|f| f == &Error::NotFound.to_string()),
            "{case:?}: {failures:?}"
        );
        return Err(Error::NotFound);
    }
    let mut values: Vec<Value> = results.into_iter().map(Result::unwrap).collect();
    for (i, v) in values.iter_mut().enumerate() {
        normalize(v, side.own, side.other, &format!("{case:?} answer {i}"));
    }
    Ok(values)
}

async fn filters_never_cross_tenants(pg: Option<String>) {
    // "solo" holds B alone; "shared" holds A, then B.
    let solo = common::migrated(match &pg {
        Some(_) => common::postgres_url().await,
        None => None,
    })
    .await;
    let shared = common::migrated(pg).await;
    let b_solo = common::client(&solo, "Beta").await;
    load(&solo, b_solo, 2).await;
    let a = common::client(&shared, "Alpha").await;
    let b = common::client(&shared, "Beta").await;
    load(&shared, a, 1).await;
    load(&shared, b, 2).await;

    let a_names = names(&shared, a).await;
    let b_names = names(&shared, b).await;
    let solo_names = names(&solo, b_solo).await;
    assert!(a_names.len() > 1000, "A has data: {}", a_names.len());
    assert_eq!(
        b_names.values().collect::<std::collections::BTreeSet<_>>(),
        solo_names
            .values()
            .collect::<std::collections::BTreeSet<_>>(),
        "B's rows are the same in both databases"
    );
    let empty = Names::new();
    let shared_side = Side {
        db: &shared,
        client: b,
        own: &b_names,
        other: &a_names,
    };
    let solo_side = Side {
        db: &solo,
        client: b_solo,
        own: &solo_names,
        other: &empty,
    };
    let mut non_empty = 0;
    let mut refused = 0;
    for case in cases() {
        let from_shared = answers(&shared_side, &case, &a_names).await;
        let foreign = matches!(
            case.dim,
            Dim::ForeignTeam(_) | Dim::ForeignProject(_) | Dim::ForeignRepository(_)
        );
        if foreign {
            assert!(
                matches!(from_shared, Err(Error::NotFound)),
                "{case:?}: another tenant's id as a filter must answer not found"
            );
            refused += 1;
            continue;
        }
        let from_shared = from_shared.unwrap_or_else(|e| panic!("{case:?}: {e}"));
        let from_solo = answers(&solo_side, &case, &empty)
            .await
            .unwrap_or_else(|e| panic!("{case:?}: {e}"));
        for (i, (s, o)) in from_shared.iter().zip(&from_solo).enumerate() {
            assert_eq!(
                s, o,
                "{case:?}: answer {i} depends on another tenant's data"
            );
        }
        if from_shared[6]["total"].as_u64().unwrap_or(0) > 0 {
            non_empty += 1;
        }
    }
    eprintln!("{non_empty} cases with data, {refused} foreign filters refused");
    assert!(non_empty >= CASES / 4, "enough cases saw data: {non_empty}");
    assert!(refused > 0, "some cases named another tenant's ids");
}

both_backends!(
    filters_never_return_another_tenants_rows,
    filters_never_cross_tenants
);
