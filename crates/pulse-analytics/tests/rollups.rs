//! The aggregates answer exactly what the raw computation answers, and stay current.
//!
//! On the small demo dataset plus the documented example and a file of edge cases (no
//! deployments, first deployment of a repository, a squash merge, negative spans, a multi-repo
//! deployment, an incident before any deployment, links beyond the context bound, a running
//! deployment, a work item completed before it was created), for many pseudo-random ranges,
//! granularities, time zones (whole-hour, :30 and :45 offsets) and filters, the DORA,
//! pull-request and executive reports from cells equal the raw reports field for field, on SQLite
//! and PostgreSQL. Writes leave markers in their own transaction (none when rolled back), a read
//! after a write sees it, incremental refreshes equal a full recomputation, and concurrent
//! refreshes leave the same cells as one.

#[path = "../../pulse-db/tests/common/mod.rs"]
mod common;

use chrono::{Duration, NaiveDate, Utc};
use pulse_analytics::rollup::{self, Dims};
use pulse_analytics::{
    dora_from, executive_from, pull_requests_from, Filters, Granularity, MetricsParams, Source,
};
use pulse_core::ClientId;
use pulse_db::entity::repositories;
use pulse_db::repo::{rollups, scope};
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use pulse_db::Db;
use pulse_demo::{write_jsonl, Options, Size};
use serde_json::Value;
use uuid::Uuid;

const EXAMPLE: &str = include_str!("../../../docs/examples/import.jsonl");

/// Edge cases, mid 2024 (between the example's March 2024 and the demo's December 2024 onwards).
const EDGES: &str = r#"{"type":"repository","id":"edge-a","full_name":"acme/edge-a"}
{"type":"repository","id":"edge-b","full_name":"acme/edge-b"}
{"type":"repository","id":"edge-c","full_name":"acme/edge-c"}
{"type":"project","id":"edge","name":"Edge","teams":["platform"],"repositories":["edge-a","edge-c"],"jira_projects":["EDG"]}
{"type":"pull_request","id":"edge-a#1","repository":"edge-a","title":"Before the first deployment","author":"linus-t","state":"merged","created_at":"2024-06-01T09:00:00Z","merged_at":"2024-06-03T10:00:00Z","additions":10,"deletions":1}
{"type":"pull_request","id":"edge-a#2","repository":"edge-a","title":"Deployed too late to count","author":"linus-t","state":"merged","created_at":"2024-06-19T09:00:00Z","merged_at":"2024-06-20T10:00:00Z","additions":1000,"deletions":300}
{"type":"pull_request","id":"edge-a#3","repository":"edge-a","title":"Squash merged","author":"ada-l","state":"merged","created_at":"2024-09-25T12:00:00Z","merged_at":"2024-09-29T09:00:00Z","merge_commit_sha":"e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e3","additions":60,"deletions":6}
{"type":"pull_request","id":"edge-a#4","repository":"edge-a","title":"Commit after its deployment","author":"linus-t","state":"merged","created_at":"2024-09-29T12:00:00Z","merged_at":"2024-09-29T13:00:00Z","additions":3,"deletions":0}
{"type":"pull_request","id":"edge-b#1","repository":"edge-b","title":"Never deployed","author":"grace@acme.example","author_email":"grace@acme.example","state":"merged","created_at":"2024-07-01T09:00:00Z","merged_at":"2024-07-01T12:00:00Z","additions":20,"deletions":2}
{"type":"pull_request","id":"web#9","repository":"web","title":"Platform work in web","author":"linus-t","state":"merged","created_at":"2024-06-04T09:00:00Z","merged_at":"2024-06-05T10:00:00Z","additions":50,"deletions":5}
{"type":"commit","id":"edge-a@31","repository":"edge-a","sha":"e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e031","authored_at":"2024-09-25T10:00:00Z","pull_requests":["edge-a#3"]}
{"type":"commit","id":"edge-a@32","repository":"edge-a","sha":"e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e032","authored_at":"2024-09-27T10:00:00Z","pull_requests":["edge-a#3"]}
{"type":"commit","id":"edge-a@e3","repository":"edge-a","sha":"e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e3","authored_at":"2024-09-29T09:00:00Z"}
{"type":"commit","id":"edge-a@41","repository":"edge-a","sha":"e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e041","authored_at":"2024-10-01T10:00:00Z","pull_requests":["edge-a#4"]}
{"type":"review","id":"edge-a#3/r1","pull_request":"edge-a#3","reviewer":"gracehopper","state":"approved","submitted_at":"2024-09-26T10:00:00Z"}
{"type":"deployment","id":"web-only-1","environment":"production","status":"success","origin":"workflow_run","started_at":"2024-06-07T09:50:00Z","finished_at":"2024-06-07T10:00:00Z","repositories":[{"repository":"web"}]}
{"type":"deployment","id":"multi-1","environment":"production","status":"success","origin":"release","started_at":"2024-06-10T09:00:00Z","finished_at":"2024-06-10T10:00:00Z","repositories":[{"repository":"edge-a"},{"repository":"web"}]}
{"type":"deployment","id":"fix-1","environment":"production","status":"success","origin":"workflow_run","started_at":"2024-06-11T17:50:00Z","finished_at":"2024-06-11T18:00:00Z","repositories":[{"repository":"edge-a"}]}
{"type":"deployment","id":"fail-1","environment":"production","status":"failure","origin":"workflow_run","started_at":"2024-06-15T09:50:00Z","finished_at":"2024-06-15T10:00:00Z","repositories":[{"repository":"edge-a"}]}
{"type":"deployment","id":"edge-c-1","environment":"production","status":"success","origin":"workflow_run","started_at":"2024-08-01T09:50:00Z","finished_at":"2024-08-01T10:00:00Z","repositories":[{"repository":"edge-c"}]}
{"type":"deployment","id":"late-a","environment":"production","status":"success","origin":"workflow_run","started_at":"2024-09-30T09:50:00Z","finished_at":"2024-09-30T10:00:00Z","repositories":[{"repository":"edge-a","commit_sha":"e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e3"}]}
{"type":"deployment","id":"running-1","environment":"production","status":"in_progress","origin":"workflow_run","started_at":"2024-09-30T11:00:00Z","repositories":[{"repository":"edge-a"}]}
{"type":"incident","id":"INC-E1","title":"Before any deployment","origin":"manual","created_at":"2023-01-10T10:00:00Z","resolved_at":"2023-01-11T10:00:00Z","repository":"edge-c"}
{"type":"incident","id":"INC-E2","title":"Resolved before it was opened","origin":"manual","created_at":"2024-08-02T10:00:00Z","resolved_at":"2024-08-01T09:00:00Z","repository":"edge-c"}
{"type":"incident","id":"INC-E3","title":"Linked to an old deployment","origin":"manual","created_at":"2024-09-20T10:00:00Z","resolved_at":"2024-09-21T10:00:00Z","repository":"web","deployment":"web-only-1"}
{"type":"incident","id":"INC-E4","title":"Still open","origin":"manual","created_at":"2024-06-11T10:00:00Z","repository":"edge-a"}
{"type":"incident","id":"INC-E6","title":"Fixed by a deployment","origin":"manual","created_at":"2024-06-10T12:00:00Z","resolved_at":"2024-06-12T10:00:00Z","repository":"edge-a","team":"platform"}
{"type":"issue","id":"E-1","key":"EDG-1","title":"Resolved before created","issue_type":"Task","standard_type":"task","status":"Done","status_category":"done","created_at":"2024-07-05T10:00:00Z","resolved_at":"2024-07-01T10:00:00Z"}
{"type":"issue","id":"E-2","key":"EDG-2","title":"Normal","issue_type":"Story","standard_type":"story","status":"Done","status_category":"done","created_at":"2024-07-01T10:00:00Z","resolved_at":"2024-07-03T10:00:00Z"}
{"type":"transition","id":"E-2-1","issue":"E-2","at":"2024-07-02T10:00:00Z","from_status":"To Do","from_category":"to_do","to_status":"In Progress","to_category":"in_progress"}
{"type":"transition","id":"E-2-2","issue":"E-2","at":"2024-07-03T10:00:00Z","from_status":"In Progress","from_category":"in_progress","to_status":"Done","to_category":"done"}
{"type":"sprint","id":"open-ended","board":"pay-board","name":"Open ended","state":"active","start_at":"2024-07-01T09:00:00Z"}
"#;

async fn load(db: &Db, client: ClientId, text: &[u8]) {
    let tx = db.tenant(client).await.unwrap();
    pulse_ingest::import(&tx, || Ok(text))
        .await
        .unwrap_or_else(|e| panic!("import: {e:?}"));
    tx.commit().await.unwrap();
}

fn demo() -> Vec<u8> {
    let options = Options {
        size: Size::Small,
        seed: 7,
        anchor: NaiveDate::from_ymd_opt(2025, 6, 2).unwrap(),
    };
    let mut text = Vec::new();
    write_jsonl(&options, &mut text).unwrap();
    text
}

async fn fixture(pg: Option<String>) -> (Db, ClientId) {
    let db = common::migrated(pg).await;
    let client = common::client(&db, "Acme").await;
    load(&db, client, &demo()).await;
    load(&db, client, EXAMPLE.as_bytes()).await;
    load(&db, client, EDGES.as_bytes()).await;
    (db, client)
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Adelaide",
    "America/St_Johns",
    "Pacific/Chatham",
];

fn filters(
    from: NaiveDate,
    to: NaiveDate,
    g: Granularity,
    tz: &str,
    scope: (Option<Uuid>, Option<Uuid>, Option<Uuid>),
) -> Filters {
    Filters::parse(
        MetricsParams {
            from: Some(from),
            to: Some(to),
            team: scope.0,
            project: scope.1,
            repository: scope.2,
            granularity: Some(g),
            tz: Some(tz.into()),
            year: None,
        },
        Utc::now(),
    )
    .unwrap()
}

/// The three reports from cells and from raw rows, as JSON (with the dimension that served them).
async fn both(db: &Db, client: ClientId, f: &Filters) -> [(Value, Value); 3] {
    let tx = db.tenant_read(client).await.unwrap();
    let dim = rollup::serving(&tx, f).await.unwrap();
    assert_eq!(
        dim,
        Dims::of_filter(f.team, f.project, f.repository),
        "cells must serve {f:?}"
    );
    let json = |v: &dyn erased::Ser| v.value();
    let out = [
        (
            json(&dora_from(&tx, f, Source::Aggregates).await.unwrap()),
            json(&dora_from(&tx, f, Source::Raw).await.unwrap()),
        ),
        (
            json(
                &pull_requests_from(&tx, f, Source::Aggregates)
                    .await
                    .unwrap(),
            ),
            json(&pull_requests_from(&tx, f, Source::Raw).await.unwrap()),
        ),
        (
            json(&executive_from(&tx, f, Source::Aggregates).await.unwrap()),
            json(&executive_from(&tx, f, Source::Raw).await.unwrap()),
        ),
    ];
    tx.rollback().await.unwrap();
    out
}

mod erased {
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap()
        }
    }
}

async fn assert_same(db: &Db, client: ClientId, f: &Filters) -> [Value; 3] {
    let pairs = both(db, client, f).await;
    for ((cells, raw), name) in pairs.iter().zip(["dora", "pull-requests", "executive"]) {
        assert_eq!(cells, raw, "{name} differs for {f:?}");
    }
    pairs.map(|(c, _)| c)
}

async fn scopes(db: &Db, client: ClientId) -> Vec<(Option<Uuid>, Option<Uuid>, Option<Uuid>)> {
    let tx = db.tenant_read(client).await.unwrap();
    let mut out = vec![(None, None, None)];
    for t in scope::all_teams(&tx).await.unwrap() {
        out.push((Some(t.id), None, None));
    }
    for p in scope::all_projects(&tx).await.unwrap() {
        out.push((None, Some(p.id), None));
    }
    let repos = repositories::Entity::find()
        .filter(repositories::Column::ClientId.eq(client.uuid()))
        .all(tx.conn())
        .await
        .unwrap();
    for r in repos {
        out.push((None, None, Some(r.id)));
    }
    tx.rollback().await.unwrap();
    out
}

async fn equivalence(pg: Option<String>) {
    let (db, client) = fixture(pg).await;
    let stats = rollup::refresh_pending(&db, client).await.unwrap().unwrap();
    assert!(stats.full && stats.cells > 100, "{stats:?}");
    let scopes = scopes(&db, client).await;
    assert!(scopes.len() > 15, "{} scopes", scopes.len());
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();

    // Hand-picked: the example's range, the edge cases' months, a week boundary in zones ahead
    // of and behind UTC, and the demo's last 30 days.
    let fixed = [
        ("2024-03-01", "2024-03-17", Granularity::Week, "UTC"),
        ("2024-06-01", "2024-10-31", Granularity::Month, "UTC"),
        (
            "2024-06-03",
            "2024-06-16",
            Granularity::Week,
            "Pacific/Chatham",
        ),
        (
            "2024-06-03",
            "2024-06-16",
            Granularity::Week,
            "America/St_Johns",
        ),
        (
            "2024-06-01",
            "2024-07-31",
            Granularity::Day,
            "Asia/Kathmandu",
        ),
        (
            "2025-05-03",
            "2025-06-01",
            Granularity::Week,
            "Europe/Berlin",
        ),
        (
            "2022-12-01",
            "2025-06-10",
            Granularity::Month,
            "America/New_York",
        ),
    ];
    let mut checked = 0;
    for (from, to, g, tz) in fixed {
        for s in &scopes {
            assert_same(&db, client, &filters(day(from), day(to), g, tz, *s)).await;
            checked += 1;
        }
    }
    // Pseudo-random ranges over the whole span of the data.
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let first = day("2024-02-01");
    let span = (day("2025-06-15") - first).num_days() as usize;
    for _ in 0..60 {
        let from = first + Duration::days(rng.below(span) as i64);
        let long = rng.below(4) == 0;
        let len = 1 + rng.below(if long { 400 } else { 60 });
        let to = from + Duration::days(len as i64 - 1);
        let g = *rng.pick(&[Granularity::Day, Granularity::Week, Granularity::Month]);
        let tz = *rng.pick(ZONES);
        let s = *rng.pick(&scopes);
        assert_same(&db, client, &filters(from, to, g, tz, s)).await;
        checked += 1;
    }

    // The comparisons were not vacuous: the edge months have deployments, changes, incidents
    // and movers, and the bound is visible (a change deployed after 102 days is undeployed).
    let [dora, prs, exec] = assert_same(
        &db,
        client,
        &filters(
            day("2024-06-01"),
            day("2024-10-31"),
            Granularity::Month,
            "UTC",
            (None, None, None),
        ),
    )
    .await;
    assert!(
        dora["deployment_frequency"]["deployments"]
            .as_u64()
            .unwrap()
            >= 5,
        "{dora}"
    );
    assert!(
        dora["lead_time"]["negative_spans_clamped"]
            .as_u64()
            .unwrap()
            >= 1,
        "{dora}"
    );
    assert!(
        dora["lead_time"]["merged_not_deployed"].as_u64().unwrap() >= 2,
        "{dora}"
    );
    assert!(
        dora["recovery_time"]["unrecovered"].as_u64().unwrap() >= 1,
        "{dora}"
    );
    assert!(
        dora["rework_rate"]["rework_deployments"].as_u64().unwrap() >= 1,
        "{dora}"
    );
    assert!(
        dora["change_failure_rate"]["incidents_unattributed"]
            .as_u64()
            .unwrap()
            >= 1,
        "{dora}"
    );
    assert!(prs["report"]["merged"].as_u64().unwrap() >= 6, "{prs}");
    assert!(
        !exec["teams_moved"].as_array().unwrap().is_empty(),
        "{exec}"
    );
    eprintln!("{checked} filter combinations agree");
}
both_backends!(cells_equal_raw_reports, equivalence);

/// Compares a report from summaries with the exact one: every field equal, except quantiles
/// (medians, p75, p90, and the median series), which must lie within the summaries' stated
/// relative error (1/128) of the exact value.
fn within_bound(got: &Value, exact: &Value, path: &str, quantile: bool) {
    match (got, exact) {
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{path}"
            );
            for (k, v) in a {
                let q =
                    quantile || matches!(k.as_str(), "median" | "p75" | "p90" | "median_series");
                within_bound(v, &b[k], &format!("{path}.{k}"), q);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                within_bound(x, y, &format!("{path}[{i}]"), quantile);
            }
        }
        (Value::Number(x), Value::Number(y)) if quantile => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= y.abs() / 128.0 + 1e-9,
                "{path}: {x} is not within 1/128 of {y}"
            );
        }
        _ => assert_eq!(got, exact, "{path}"),
    }
}

/// Long ranges read summaries for the days they cover whole (forced here with a limit of zero
/// items), and the reports stay within the stated bound of the exact ones: counts, shares, means,
/// extremes and lists equal, quantiles within 1/128.
async fn summaries(pg: Option<String>) {
    let (db, client) = fixture(pg).await;
    rollup::refresh_pending(&db, client).await.unwrap();
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let scopes = scopes(&db, client).await;
    let cases = [
        ("2024-01-01", "2025-06-30", Granularity::Month, "UTC"),
        ("2025-01-06", "2025-06-01", Granularity::Week, "UTC"),
        (
            "2025-01-06",
            "2025-06-01",
            Granularity::Week,
            "Europe/Berlin",
        ),
        (
            "2025-03-01",
            "2025-05-31",
            Granularity::Month,
            "Asia/Kolkata",
        ),
        // Local midnights off the hour (a quarter past), and across daylight-saving changes.
        (
            "2025-01-06",
            "2025-06-01",
            Granularity::Week,
            "Asia/Kathmandu",
        ),
        (
            "2024-09-01",
            "2025-04-30",
            Granularity::Month,
            "America/New_York",
        ),
    ];
    let mut summarised = 0;
    let mut deployments_summarised = 0;
    for (from, to, g, tz) in cases {
        for scope in scopes.iter().take(4) {
            let f = filters(day(from), day(to), g, tz, *scope);
            let Some(dim) = Dims::of_filter(f.team, f.project, f.repository) else {
                continue;
            };
            let spec = f.spec();
            let (start, end) = (spec.range_start().timestamp(), spec.range_end().timestamp());
            let tx = db.tenant_read(client).await.unwrap();
            let facts = rollup::read::dora_facts(&tx, dim, start, end, &[&spec], 0)
                .await
                .unwrap();
            let prs = rollup::read::pull_requests_of(&tx, dim, &spec, 0)
                .await
                .unwrap();
            summarised += usize::from(!facts.lead.blocks.is_empty());
            summarised += usize::from(!prs.blocks.is_empty());
            deployments_summarised += usize::from(!facts.deployments.blocks.is_empty());
            summarised += usize::from(!facts.incidents.blocks.is_empty());
            let dora = serde_json::to_value(rollup::report::dora(&facts, &spec)).unwrap();
            let raw = serde_json::to_value(dora_from(&tx, &f, Source::Raw).await.unwrap()).unwrap();
            for key in [
                "deployment_frequency",
                "lead_time",
                "change_failure_rate",
                "recovery_time",
                "time_to_restore",
                "rework_rate",
            ] {
                within_bound(&dora[key], &raw[key], &format!("{f:?} dora.{key}"), false);
            }
            let report = serde_json::to_value(rollup::report::pull_requests(&prs, &spec)).unwrap();
            let raw = serde_json::to_value(
                pull_requests_from(&tx, &f, Source::Raw)
                    .await
                    .unwrap()
                    .report,
            )
            .unwrap();
            within_bound(&report, &raw, &format!("{f:?} pull-requests"), false);
            tx.rollback().await.unwrap();
        }
    }
    // Most reads above summarised some days (a scope may have no lead time in a range).
    assert!(summarised >= 16, "{summarised} reads used summaries");
    assert!(
        deployments_summarised >= 8,
        "{deployments_summarised} reads used deployment summaries"
    );
}
both_backends!(summaries_stay_within_their_bound, summaries);

/// A change of every kind the triggers watch, as an import of updated and new records.
const CHANGES: &str = r#"{"type":"deployment","id":"late-a","environment":"production","status":"success","origin":"workflow_run","started_at":"2024-09-01T09:50:00Z","finished_at":"2024-09-01T10:00:00Z","repositories":[{"repository":"edge-a"},{"repository":"edge-b"}]}
{"type":"pull_request","id":"edge-a#2","repository":"edge-a","title":"Deployed too late to count","author":"linus-t","state":"merged","created_at":"2024-06-19T09:00:00Z","merged_at":"2024-07-20T10:00:00Z","additions":1000,"deletions":300}
{"type":"incident","id":"INC-E4","title":"Now resolved","origin":"manual","created_at":"2024-06-11T10:00:00Z","resolved_at":"2024-06-14T10:00:00Z","repository":"edge-a"}
{"type":"review","id":"edge-a#3/r2","pull_request":"edge-a#3","reviewer":"linus-t","state":"approved","submitted_at":"2024-09-28T10:00:00Z"}
{"type":"transition","id":"E-2-3","issue":"E-2","at":"2024-07-04T10:00:00Z","from_status":"Done","from_category":"done","to_status":"In Progress","to_category":"in_progress"}
{"type":"deployment","id":"new-1","environment":"production","status":"success","origin":"workflow_run","started_at":"2024-06-21T09:50:00Z","finished_at":"2024-06-21T10:00:00Z","repositories":[{"repository":"edge-c"}]}
{"type":"team","id":"platform","name":"Platform","parent":"engineering","members":["linus","ada"]}
"#;

async fn maintenance(pg: Option<String>) {
    let (db, client) = fixture(pg).await;
    rollup::refresh_pending(&db, client).await.unwrap();
    assert!(rollup::refresh_pending(&db, client)
        .await
        .unwrap()
        .is_none());
    let range = filters(
        NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
        NaiveDate::from_ymd_opt(2024, 10, 31).unwrap(),
        Granularity::Week,
        "Europe/Berlin",
        (None, None, None),
    );
    let before = assert_same(&db, client, &range).await;
    let snapshot = |db: Db| async move {
        let tx = db.tenant_read(client).await.unwrap();
        let cells = rollups::all_cells(&tx).await.unwrap();
        let markers = rollups::markers(&tx).await.unwrap();
        tx.rollback().await.unwrap();
        (cells, markers)
    };
    // Every cell's running totals, checked against the sums of the counters of the cells of its
    // family and dimension up to its day.
    let totals = |db: Db| async move {
        let tx = db.tenant_read(client).await.unwrap();
        let all = rollups::all_cells(&tx).await.unwrap();
        tx.rollback().await.unwrap();
        // Summary cells keep no running totals.
        let summaries = rollup::facts::family::all_levels(&rollup::facts::family::SUMMARIES);
        let (summary_cells, cells): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|c| summaries.contains(&c.key.family));
        assert!(!summary_cells.is_empty());
        assert!(summary_cells
            .iter()
            .all(|c| (c.run_items, c.run_extra) == (0, 0)));
        let totals: Vec<_> = cells
            .iter()
            .map(|c| (c.key, c.run_items, c.run_extra))
            .collect();
        let mut expected = Vec::new();
        let mut run = (0, 0);
        for (i, c) in cells.iter().enumerate() {
            let same = i > 0 && {
                let p = cells[i - 1].key;
                (p.family, p.dim_kind, p.dim_id) == (c.key.family, c.key.dim_kind, c.key.dim_id)
            };
            if !same {
                run = (0, 0);
            }
            run = (run.0 + c.items, run.1 + c.extra);
            expected.push((c.key, run.0, run.1));
        }
        assert!(
            totals == expected,
            "running totals differ from the cells' sums"
        );
        totals
    };

    // A rolled-back write leaves neither markers nor cells changed.
    let (cells0, markers0) = snapshot(db.clone()).await;
    assert!(markers0.is_empty());
    let tx = db.tenant(client).await.unwrap();
    pulse_ingest::import(&tx, || Ok(CHANGES.as_bytes()))
        .await
        .unwrap();
    assert!(rollups::pending(&tx).await.unwrap(), "the write marks");
    tx.rollback().await.unwrap();
    assert_eq!(snapshot(db.clone()).await, (cells0.clone(), markers0));

    // A committed write leaves markers; reads stay correct (from raw rows) until the refresh.
    load(&db, client, CHANGES.as_bytes()).await;
    let (_, markers) = snapshot(db.clone()).await;
    let kinds: std::collections::BTreeSet<&str> = markers.iter().map(|m| m.kind.as_str()).collect();
    for k in ["dep", "pr", "prd", "inc", "work", "org"] {
        assert!(kinds.contains(k), "{k} marker missing: {kinds:?}");
    }
    {
        let tx = db.tenant_read(client).await.unwrap();
        assert_eq!(rollup::serving(&tx, &range).await.unwrap(), None);
        let cells = dora_from(&tx, &range, Source::Aggregates).await.unwrap();
        let raw = dora_from(&tx, &range, Source::Raw).await.unwrap();
        assert_eq!(
            serde_json::to_value(&cells).unwrap(),
            serde_json::to_value(&raw).unwrap()
        );
    }
    let stats = rollup::refresh_pending(&db, client).await.unwrap().unwrap();
    assert_eq!(stats.markers, markers.len());
    assert!(stats.full, "the team's membership changed: {stats:?}");
    let after = assert_same(&db, client, &range).await;
    assert_ne!(before[0], after[0], "the new deployment shows");
    assert_eq!(
        after[0]["deployment_frequency"]["deployments"]
            .as_u64()
            .unwrap(),
        before[0]["deployment_frequency"]["deployments"]
            .as_u64()
            .unwrap()
            + 1
    );

    // Incremental refreshes give the cells a full recomputation gives: change rows of every kind
    // without touching the organisation, refresh, and compare with a full refresh.
    let more = CHANGES
        .lines()
        .filter(|l| !l.contains("\"type\":\"team\""))
        .map(|l| {
            l.replace("2024-09-01T09:50", "2024-08-20T09:50")
                .replace("2024-09-01T10:00", "2024-08-20T10:00")
                .replace("2024-07-20T10:00", "2024-06-22T10:00")
                .replace("2024-06-14T10:00", "2024-06-13T10:00")
                .replace("2024-09-28T10:00", "2024-09-27T11:00")
                .replace("2024-07-04T10:00", "2024-07-05T10:00")
                .replace("2024-06-21T10:00", "2024-06-09T10:00")
                .replace("2024-06-21T09:50", "2024-06-09T09:50")
        })
        .collect::<Vec<_>>()
        .join("\n");
    load(&db, client, more.as_bytes()).await;
    let stats = rollup::refresh_pending(&db, client).await.unwrap().unwrap();
    assert!(!stats.full, "{stats:?}");
    let (incremental, _) = snapshot(db.clone()).await;
    let incremental_totals = totals(db.clone()).await;
    rollup::refresh_all(&db, client).await.unwrap();
    let (full, markers) = snapshot(db.clone()).await;
    assert!(markers.is_empty());
    assert_eq!(incremental.len(), full.len());
    assert!(
        incremental == full,
        "incremental cells differ from a full recomputation"
    );
    assert!(incremental_totals == totals(db.clone()).await);
    assert_same(&db, client, &range).await;
}
both_backends!(writes_are_seen_and_refreshes_are_exact, maintenance);

async fn concurrent(pg: Option<String>) {
    let (db, client) = fixture(pg).await;
    rollup::refresh_pending(&db, client).await.unwrap();
    let tx = db.tenant_read(client).await.unwrap();
    let expected = rollups::all_cells(&tx).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(!expected.is_empty());
    // Two refreshes of the same pending work at once: one waits for the other's lock and then
    // finds nothing (or the remainder) to do.
    let tx = db.tenant(client).await.unwrap();
    rollups::mark_all(&tx).await.unwrap();
    tx.commit().await.unwrap();
    let (a, b) = tokio::join!(
        rollup::refresh_pending(&db, client),
        rollup::refresh_pending(&db, client)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let processed: usize = [&a, &b]
        .iter()
        .filter_map(|s| s.as_ref())
        .map(|s| s.markers)
        .sum();
    assert_eq!(processed, 1, "the marker is processed once: {a:?} {b:?}");
    let tx = db.tenant_read(client).await.unwrap();
    assert!(!rollups::pending(&tx).await.unwrap());
    assert!(rollups::all_cells(&tx).await.unwrap() == expected);
    tx.rollback().await.unwrap();
}
both_backends!(concurrent_refreshes_agree, concurrent);
