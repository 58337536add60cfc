//! `/api/v1/metrics/*` and `/api/v1/data/*` over the example import (`docs/examples/import.jsonl`):
//! hand-computed values, drill-down totals matching the metrics, CSV, bad filters, and the same
//! answers on SQLite and PostgreSQL (when `PULSE_TEST_DATABASE_URL` is set).

mod common;

use std::collections::HashMap;

use common::{Backend, Session, TestApp};
use pulse_core::Role;
use pulse_db::sea_orm::{EntityTrait, QueryFilter, QuerySelect};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

const EXAMPLE: &str = include_str!("../../../docs/examples/import.jsonl");
const RANGE: &str = "from=2024-03-01&to=2024-03-17&tz=UTC";

struct Fixture {
    app: TestApp,
    viewer: Session,
    /// Row id -> `kind:external_id`, to compare answers across databases.
    names: HashMap<String, String>,
    client: pulse_core::ClientId,
}

async fn ids_of<E>(app: &TestApp, client: Uuid, kind: &str, out: &mut HashMap<String, String>)
where
    E: EntityTrait,
{
    use pulse_db::sea_orm::sea_query::Expr;
    let rows: Vec<(Uuid, String)> = E::find()
        .select_only()
        .column_as(
            Expr::col(pulse_db::sea_orm::sea_query::Alias::new("id")),
            "id",
        )
        .column_as(
            Expr::col(pulse_db::sea_orm::sea_query::Alias::new("external_id")),
            "external_id",
        )
        .filter(Expr::col(pulse_db::sea_orm::sea_query::Alias::new("client_id")).eq(client))
        .into_tuple()
        .all(app.db.system())
        .await
        .unwrap();
    for (id, ext) in rows {
        out.insert(id.to_string(), format!("{kind}:{ext}"));
    }
}

async fn setup(backend: Backend) -> Fixture {
    use pulse_db::entity::*;
    let app = common::boot(backend).await;
    let client = app.client("Acme").await;
    app.user(client, "admin@acme.example", Role::Admin).await;
    app.user(client, "viewer@acme.example", Role::Viewer).await;
    let admin = app.login("admin@acme.example", None).await;
    let viewer = app.login("viewer@acme.example", None).await;
    let res = app
        .bearer(Method::POST, "/api/v1/import", &admin.token)
        .header("content-type", "application/x-ndjson")
        .body(EXAMPLE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let mut names = HashMap::new();
    let c = client.uuid();
    ids_of::<teams::Entity>(&app, c, "team", &mut names).await;
    ids_of::<projects::Entity>(&app, c, "project", &mut names).await;
    ids_of::<repositories::Entity>(&app, c, "repository", &mut names).await;
    ids_of::<boards::Entity>(&app, c, "board", &mut names).await;
    ids_of::<deployments::Entity>(&app, c, "deployment", &mut names).await;
    ids_of::<pull_requests::Entity>(&app, c, "pull_request", &mut names).await;
    ids_of::<incidents::Entity>(&app, c, "incident", &mut names).await;
    ids_of::<issues::Entity>(&app, c, "issue", &mut names).await;
    ids_of::<sprints::Entity>(&app, c, "sprint", &mut names).await;
    Fixture {
        app,
        viewer,
        names,
        client,
    }
}

impl Fixture {
    fn id(&self, name: &str) -> String {
        self.names
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("no row {name}"))
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.app
            .bearer(Method::GET, &format!("/api/v1{path}"), &self.viewer.token)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 200, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Replaces row ids by `kind:external_id` and sorts string arrays (id lists sort by id).
    fn normalize(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.names.get(&s).cloned().unwrap_or(s)),
            Value::Array(items) => {
                let mut items: Vec<Value> = items.into_iter().map(|i| self.normalize(i)).collect();
                if items.iter().all(Value::is_string) {
                    items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                }
                Value::Array(items)
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, self.normalize(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

/// The metric endpoints, with and without a team filter, as `(label, path)`.
fn metric_paths(f: &Fixture) -> Vec<(String, String)> {
    let payments = f.id("team:payments");
    let checkout = f.id("project:checkout");
    let api = f.id("repository:api");
    let mut out = Vec::new();
    for metric in [
        "dora",
        "pull-requests",
        "flow",
        "sprints",
        "portfolio",
        "executive",
    ] {
        for (label, extra) in [
            ("all", String::new()),
            ("team", format!("&team={payments}")),
            ("project", format!("&project={checkout}")),
            ("repository", format!("&repository={api}")),
            (
                "daily-berlin",
                "&granularity=day&tz=Europe/Berlin&year=2021".to_string(),
            ),
        ] {
            let path = format!("/metrics/{metric}?{RANGE}{extra}");
            let path = if extra.contains("tz=") {
                path.replace("&tz=UTC", "")
            } else {
                path
            };
            out.push((format!("{metric} {label}"), path));
        }
    }
    out
}

async fn answers(f: &Fixture) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (label, path) in metric_paths(f) {
        let body = f.json(&path).await;
        out.push((label, f.normalize(body)));
    }
    out
}

/// Hand-computed values from the example file, drill-down totals, CSV and bad filters.
async fn check_values(f: &Fixture) {
    let dora = f.json(&format!("/metrics/dora?{RANGE}")).await;
    // deploy-101, release-2024.03.06 and deploy-104; deploy-103 failed and staging-55 is staging.
    assert_eq!(dora["deployment_frequency"]["deployments"], 3);
    // INC-1 is linked to the release explicitly; INC-2 (03-07 11:40) is charged to the latest
    // earlier deployment, the release again: one failed deployment of three.
    let cfr = &dora["change_failure_rate"];
    assert_eq!(cfr["failed_deployments"], 1);
    assert!((cfr["rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(
        cfr["failed_deployment_ids"],
        serde_json::json!([f.id("deployment:release-2024.03.06")])
    );
    // Lead times: api#1 03-01 10:00 -> deploy-101 03-04 10:00 = 72 h; api#2 03-05 09:00 -> release
    // 03-06 15:00 = 30 h; web#1 03-06 10:00 -> release = 5 h; api#3 03-07 11:30 -> deploy-104
    // 13:00 = 1.5 h. Median (5 h + 30 h) / 2 = 17.5 h.
    let lead = &dora["lead_time"];
    assert_eq!(lead["changes"], 4);
    assert_eq!(lead["distribution"]["median"], 63_000.0);
    assert_eq!(lead["distribution"]["max"], 259_200.0);
    assert_eq!(lead["distribution"]["min"], 5_400.0);
    assert_eq!(dora["tiers"]["year"], 2024);
    // 2024 cut-offs: low from 40 %, so one in three is medium.
    assert_eq!(dora["tiers"]["change_failure_rate"], "medium");
    assert_eq!(dora["filters"]["granularity"], "week");

    // Drill-down: the lists with the same filters count what the metrics count.
    let deployments = f
        .json(&format!(
            "/data/deployments?{RANGE}&production=true&status=success"
        ))
        .await;
    assert_eq!(
        deployments["total"],
        dora["deployment_frequency"]["deployments"]
    );
    let prs = f.json(&format!("/metrics/pull-requests?{RANGE}")).await;
    assert_eq!(prs["report"]["merged"], 4);
    let merged = f
        .json(&format!("/data/pull-requests?{RANGE}&date=merged"))
        .await;
    assert_eq!(merged["total"], prs["report"]["merged"]);
    let incidents = f.json(&format!("/data/incidents?{RANGE}")).await;
    assert_eq!(
        incidents["total"].as_u64().unwrap() as usize,
        cfr["incidents_attributed"].as_u64().unwrap() as usize
            + cfr["incidents_unattributed"].as_u64().unwrap() as usize
    );
    let team = f.id("team:payments");
    let team_dora = f.json(&format!("/metrics/dora?{RANGE}&team={team}")).await;
    let team_list = f
        .json(&format!(
            "/data/deployments?{RANGE}&team={team}&production=true&status=success"
        ))
        .await;
    assert_eq!(
        team_list["total"],
        team_dora["deployment_frequency"]["deployments"]
    );
    let platform = f.id("team:platform");
    let platform_dora = f
        .json(&format!("/metrics/dora?{RANGE}&team={platform}"))
        .await;
    assert_eq!(platform_dora["deployment_frequency"]["deployments"], 0);

    // Flow and sprints: PAY-1 was done on 03-04 and committed to sprint 12, which closed 03-15.
    let flow = f.json(&format!("/metrics/flow?{RANGE}")).await;
    assert_eq!(flow["report"]["completed"], 2);
    let sprints = f.json(&format!("/metrics/sprints?{RANGE}")).await;
    assert_eq!(sprints["sprints"].as_array().unwrap().len(), 1);
    assert_eq!(sprints["planning_accuracy_issues"], 1.0);
    let sprint_list = f.json(&format!("/data/sprints?{RANGE}")).await;
    assert_eq!(sprint_list["total"], 1);
    let issues = f.json(&format!("/data/issues?{RANGE}&date=resolved")).await;
    assert_eq!(issues["total"], flow["report"]["completed"]);

    // Portfolio: Engineering rolls up Payments (which owns the Checkout project).
    let portfolio = f.json(&format!("/metrics/portfolio?{RANGE}")).await;
    let row = |list: &str, name: &str| {
        portfolio[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {list}"))
    };
    assert_eq!(row("teams", "Engineering")["deployments"], 3);
    assert_eq!(row("teams", "Payments")["deployments"], 3);
    assert_eq!(row("teams", "Platform")["deployments"], 0);
    assert_eq!(row("teams", "Payments")["lead_time_median_secs"], 63_000.0);
    assert_eq!(row("projects", "Checkout")["merged_pull_requests"], 4);
    assert_eq!(row("projects", "Checkout")["planning_accuracy"], 1.0);

    // Executive: the previous 17 days had nothing.
    let exec = f.json(&format!("/metrics/executive?{RANGE}")).await;
    assert_eq!(exec["previous_from"], "2024-02-13");
    assert_eq!(exec["previous_to"], "2024-02-29");
    let cfr_key = &exec["dora"]["change_failure_rate"];
    assert!((cfr_key["current"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(cfr_key["previous"], Value::Null);
    assert_eq!(cfr_key["tier"], "medium");
    assert_eq!(exec["delivery_predictability"]["current"], 1.0);
    let moved: Vec<&str> = exec["teams_moved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(moved, ["Engineering", "Payments"]);

    // CSV: a header plus one line per item of the same page, properly quoted.
    for list in [
        "pull-requests",
        "deployments",
        "incidents",
        "issues",
        "sprints",
    ] {
        let json = f.json(&format!("/data/{list}?{RANGE}")).await;
        let res = f.get(&format!("/data/{list}?{RANGE}&format=csv")).await;
        assert_eq!(res.status(), 200);
        let ct = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/csv"), "{list}: {ct}");
        assert_eq!(
            res.headers()["x-total-count"].to_str().unwrap(),
            json["total"].to_string()
        );
        let text = res.text().await.unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert!(lines[0].starts_with("id,source,external_id"), "{list}");
        assert_eq!(
            lines.len() - 1,
            json["items"].as_array().unwrap().len(),
            "{list}"
        );
    }
    let csv = f
        .get(&format!("/data/pull-requests?{RANGE}&format=csv"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("\"Revert \"\"Retry card captures\"\"\""),
        "{csv}"
    );

    // Bad filters answer 4xx JSON errors.
    let unknown_team = Uuid::new_v4();
    for (path, status, code) in [
        (
            format!("/metrics/dora?{RANGE}&team={unknown_team}"),
            404,
            "not_found",
        ),
        (
            format!("/data/deployments?team={unknown_team}"),
            404,
            "not_found",
        ),
        (
            "/metrics/dora?from=2024-03-10&to=2024-03-01".into(),
            422,
            "validation_failed",
        ),
        (
            format!("/metrics/flow?{RANGE}&tz=Mars/Olympus").replace("tz=UTC&", ""),
            422,
            "validation_failed",
        ),
        (
            "/metrics/sprints?tz=Mars/Olympus".into(),
            422,
            "validation_failed",
        ),
        (
            format!("/metrics/pull-requests?{RANGE}&granularity=year"),
            400,
            "invalid_query",
        ),
        (
            format!("/metrics/dora?{RANGE}&year=2022"),
            422,
            "validation_failed",
        ),
        (
            format!("/metrics/portfolio?{RANGE}&bogus=1"),
            400,
            "invalid_query",
        ),
        (
            "/data/issues?from=2024-03-10&to=2024-03-01".into(),
            422,
            "validation_failed",
        ),
        ("/data/sprints?format=xml".into(), 400, "invalid_query"),
    ] {
        let res = f.get(&path).await;
        assert_eq!(res.status(), status, "{path}");
        assert_eq!(common::error_code(res).await, code, "{path}");
    }
    let _ = f.client;
}

async fn metrics_over_http(backend: Backend) -> Vec<(String, Value)> {
    let f = setup(backend).await;
    check_values(&f).await;
    answers(&f).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_the_example_on_every_backend() {
    let sqlite = metrics_over_http(Backend::Sqlite).await;
    let Some(url) = common::postgres_database().await else {
        eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL comparison skipped");
        return;
    };
    let postgres = metrics_over_http(Backend::Postgres(url)).await;
    assert_eq!(sqlite.len(), postgres.len());
    for ((label, a), (_, b)) in sqlite.iter().zip(&postgres) {
        assert_eq!(
            a, b,
            "{label} differs between SQLite and PostgreSQL:\nsqlite   {a}\npostgres {b}"
        );
    }
}
