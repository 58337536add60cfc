//! `POST /api/v1/ingest/deployments` and `/ingest/incidents` with API tokens, on SQLite and (when
//! configured) PostgreSQL: idempotency, in-place updates, field-level validation that stores
//! nothing, commit-sha linking, incident attribution, roles and tenant isolation.

mod common;

use common::{expect_error, expect_ok, Backend, Session, TestApp};
use pulse_core::{ClientId, Role};
use pulse_db::entity::{deployments, incidents};
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use reqwest::Method;
use serde_json::{json, Value};

const EXAMPLE: &str = include_str!("../../../docs/examples/import.jsonl");

/// A personal API token with `role`, created by the session's user.
async fn token(app: &TestApp, s: &Session, role: &str) -> String {
    let body = expect_ok(
        app.bearer(Method::POST, "/api/v1/auth/tokens", &s.token)
            .json(&json!({"name": format!("ci-{role}"), "role": role}))
            .send()
            .await
            .unwrap(),
        201,
        "create token",
    )
    .await;
    body["token"].as_str().unwrap().to_string()
}

async fn push(app: &TestApp, token: &str, what: &str, body: &Value) -> reqwest::Response {
    app.bearer(Method::POST, &format!("/api/v1/ingest/{what}"), token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Every deployment and incident row of a client, as comparable text (synced_at included).
async fn rows(app: &TestApp, client: ClientId) -> Vec<String> {
    let db = app.db.system();
    let mut out: Vec<String> = deployments::Entity::find()
        .filter(deployments::Column::ClientId.eq(client.uuid()))
        .order_by_asc(deployments::Column::Id)
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|d| format!("{d:?}"))
        .collect();
    out.extend(
        incidents::Entity::find()
            .filter(incidents::Column::ClientId.eq(client.uuid()))
            .order_by_asc(incidents::Column::Id)
            .all(db)
            .await
            .unwrap()
            .iter()
            .map(|i| format!("{i:?}")),
    );
    out
}

/// api#2 was merged as this commit.
const API_2_SHA: &str = "b2c3d4e5f60718293a4b5c6d7e8f900112233445";
/// web#1 was merged as this commit.
const WEB_1_SHA: &str = "c3d4e5f60718293a4b5c6d7e8f90011223344556";

fn jenkins_1() -> Value {
    json!({"id": "jenkins-1", "source": "jenkins", "name": "api #41", "environment": "production",
           "status": "success", "started_at": "2024-03-20T09:50:00Z",
           "finished_at": "2024-03-20T10:00:00Z",
           "repositories": [{"repository": "acme/api", "commit_sha": API_2_SHA.to_uppercase()}]})
}

async fn ingest_push(backend: Backend) {
    let app = common::boot(backend).await;
    let acme = app.client("Acme").await;
    app.user(acme, "admin@acme.example", Role::Admin).await;
    app.user(acme, "user@acme.example", Role::User).await;
    app.user(acme, "viewer@acme.example", Role::Viewer).await;
    let admin = app.login("admin@acme.example", None).await;
    let user = app.login("user@acme.example", None).await;
    let viewer = app.login("viewer@acme.example", None).await;
    let res = app
        .bearer(Method::POST, "/api/v1/import", &admin.token)
        .header("content-type", "application/x-ndjson")
        .body(EXAMPLE)
        .send()
        .await
        .unwrap();
    expect_ok(res, 200, "import").await;
    let ci = token(&app, &user, "user").await;
    let viewer_token = token(&app, &viewer, "viewer").await;
    let capped = token(&app, &admin, "viewer").await;

    // Roles: viewers (and tokens capped at viewer) may not push; no credential is 401.
    for t in [&viewer_token, &capped] {
        let res = push(&app, t, "deployments", &jenkins_1()).await;
        expect_error(res, 403, "forbidden", "viewer token").await;
    }
    let res = app
        .http
        .post(app.url("/api/v1/ingest/incidents"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // One record: created, linked to the pull request merged as the deployed commit.
    let first = expect_ok(
        push(&app, &ci, "deployments", &jenkins_1()).await,
        200,
        "push one",
    )
    .await;
    assert_eq!(first["created"], 1);
    let item = &first["items"][0];
    assert_eq!(item["result"], "created");
    assert_eq!(item["source"], "jenkins");
    assert_eq!(item["external_id"], "jenkins-1");
    assert_eq!(item["pull_requests"], 1, "api#2 through its merge commit");
    let jenkins_1_id = item["id"].as_str().unwrap().to_string();

    // The same payload again changes nothing, not even the row's write time.
    let before = rows(&app, acme).await;
    let again = expect_ok(
        push(&app, &ci, "deployments", &jenkins_1()).await,
        200,
        "push again",
    )
    .await;
    assert_eq!(again["unchanged"], 1);
    assert_eq!(again["items"][0]["id"], json!(jenkins_1_id));
    assert_eq!(
        rows(&app, acme).await,
        before,
        "an identical push writes nothing"
    );

    // A batch: an update by external id (in place) and a new deployment of two repositories, one
    // named by its external id.
    let mut changed = jenkins_1();
    changed["name"] = json!("api #41 (retried)");
    changed["finished_at"] = json!("2024-03-20T10:05:00Z");
    let jenkins_2 = json!({"id": "jenkins-2", "source": "jenkins", "environment": "prod-eu",
        "status": "success", "origin": "webhook", "started_at": "2024-03-21T09:00:00Z",
        "finished_at": "2024-03-21T09:10:00Z", "url": "https://ci.example.com/job/web/7",
        "repositories": [{"repository": "web", "commit_sha": WEB_1_SHA},
                         {"repository": "ACME/API", "commits": ["1f00aa00bb00cc00dd00ee00ff0011223344aa01"]}]});
    let batch = expect_ok(
        push(&app, &ci, "deployments", &json!([changed, jenkins_2])).await,
        200,
        "batch",
    )
    .await;
    assert_eq!(
        (batch["created"].as_u64(), batch["updated"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        batch["items"][0]["id"],
        json!(jenkins_1_id),
        "updated in place"
    );
    assert_eq!(batch["items"][0]["result"], "updated");
    assert_eq!(
        batch["items"][1]["pull_requests"], 1,
        "web#1 by its merge commit"
    );
    let jenkins_2_id = batch["items"][1]["id"].as_str().unwrap().to_string();
    let stored = deployments::Entity::find()
        .filter(deployments::Column::ClientId.eq(acme.uuid()))
        .filter(deployments::Column::ExternalId.eq("jenkins-2"))
        .one(app.db.system())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.is_production, "prod-eu counts as production");
    assert_eq!(stored.origin, "webhook");
    let (_, shipped) = {
        let tx = app.db.tenant(acme).await.unwrap();
        let c = pulse_db::repo::deployments::changes(&tx, stored.id)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        c
    };
    assert_eq!(
        shipped.len(),
        1,
        "the shipped commit known by sha is linked"
    );

    // Problems are reported with their fields, and nothing of a refused request is stored.
    let count = || async {
        deployments::Entity::find()
            .filter(deployments::Column::ClientId.eq(acme.uuid()))
            .count(app.db.system())
            .await
            .unwrap()
    };
    let stored_before = count().await;
    let before = rows(&app, acme).await;
    let mut new_one = jenkins_1();
    new_one["id"] = json!("jenkins-3");
    let mut bad_status = jenkins_1();
    bad_status["id"] = json!("jenkins-4");
    bad_status["status"] = json!("exploded");
    let mut bad_time = jenkins_1();
    bad_time["id"] = json!("jenkins-5");
    bad_time["started_at"] = json!("yesterday");
    let res = push(
        &app,
        &ci,
        "deployments",
        &json!([new_one, bad_status, bad_time]),
    )
    .await;
    let body = expect_error(res, 422, "validation_failed", "bad values").await;
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["[1].status", "[2].started_at"]);
    let mut unknown_repo = jenkins_1();
    unknown_repo["id"] = json!("jenkins-6");
    unknown_repo["repositories"] = json!([{"repository": "acme/nope"}]);
    let res = push(
        &app,
        &ci,
        "deployments",
        &json!([new_one, unknown_repo, new_one]),
    )
    .await;
    let body = expect_error(res, 422, "validation_failed", "unknown repository").await;
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["[1].repositories[0].repository", "[2].id"]);
    let res = push(
        &app,
        &ci,
        "deployments",
        &json!({"id": "x", "client_id": acme.to_string()}),
    )
    .await;
    expect_error(res, 422, "validation_failed", "unknown field").await;
    let res = app
        .bearer(Method::POST, "/api/v1/ingest/deployments", &ci)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "malformed_json", "bad JSON").await;
    assert_eq!(count().await, stored_before);
    assert_eq!(
        rows(&app, acme).await,
        before,
        "refused requests store nothing"
    );

    // Incidents: charged to the deployment before them, or to the one they name.
    let pd_1 = json!({"id": "PD-1", "source": "pagerduty", "title": "Checkout 500s", "severity": "P1",
        "created_at": "2024-03-20T12:00:00Z", "resolved_at": "2024-03-20T13:00:00Z",
        "repository": "acme/api", "team": "PAYMENTS"});
    let pd_2 = json!({"id": "PD-2", "source": "pagerduty", "title": "Web checkout broken",
        "created_at": "2024-03-21T10:00:00Z", "deployment": jenkins_2_id});
    let res = expect_ok(
        push(&app, &ci, "incidents", &json!([pd_1, pd_2])).await,
        200,
        "incidents",
    )
    .await;
    assert_eq!(res["created"], 2);
    assert_eq!(
        res["items"][0]["caused_by_deployment_id"],
        json!(jenkins_1_id)
    );
    assert_eq!(
        res["items"][1]["caused_by_deployment_id"],
        json!(jenkins_2_id)
    );
    let before = rows(&app, acme).await;
    let res = expect_ok(
        push(&app, &ci, "incidents", &json!([pd_1, pd_2])).await,
        200,
        "again",
    )
    .await;
    assert_eq!(res["unchanged"], 2);
    assert_eq!(rows(&app, acme).await, before);
    let bad = json!([{"id": "PD-3", "title": "x", "created_at": "2024-03-22T10:00:00Z", "team": "Nobody"},
                     {"id": "PD-4", "title": "y", "created_at": "2024-03-22T10:00:00Z", "deployment": "jenkins-1"}]);
    let res = push(&app, &ci, "incidents", &bad).await;
    let body = expect_error(res, 422, "validation_failed", "unknown references").await;
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["[0].team", "[1].deployment"],
        "jenkins-1 is in source jenkins, not push"
    );
    assert_eq!(rows(&app, acme).await, before);
    // An incident resolved later is an update in place.
    let mut resolved = pd_2.clone();
    resolved["resolved_at"] = json!("2024-03-21T11:00:00Z");
    let res = expect_ok(
        push(&app, &ci, "incidents", &resolved).await,
        200,
        "resolve",
    )
    .await;
    assert_eq!(res["updated"], 1);

    // The pushed rows are in the drill-down lists and the DORA numbers.
    let list = expect_ok(
        app.bearer(
            Method::GET,
            "/api/v1/data/deployments?from=2024-03-20&to=2024-03-21&production=true",
            &viewer.token,
        )
        .send()
        .await
        .unwrap(),
        200,
        "list",
    )
    .await;
    assert_eq!(list["total"], 2);
    let dora = expect_ok(
        app.bearer(
            Method::GET,
            "/api/v1/metrics/dora?from=2024-03-18&to=2024-03-24",
            &viewer.token,
        )
        .send()
        .await
        .unwrap(),
        200,
        "dora",
    )
    .await;
    assert!(dora.to_string().contains("\"deployments\":2"), "{dora}");

    // Another client's token writes only its own client: the same keys make separate rows, and
    // Acme's repositories and deployments are unknown to it.
    let other = app.client("Other").await;
    app.user(other, "admin@other.example", Role::Admin).await;
    let other_admin = app.login("admin@other.example", None).await;
    let other_token = token(&app, &other_admin, "admin").await;
    let acme_rows = rows(&app, acme).await;
    let res = push(&app, &other_token, "deployments", &jenkins_1()).await;
    let body = expect_error(res, 422, "validation_failed", "Acme's repository").await;
    assert_eq!(
        body["error"]["details"][0]["field"],
        "repositories[0].repository"
    );
    let res = push(
        &app,
        &other_token,
        "incidents",
        &json!({"id": "PD-1", "source": "pagerduty", "title": "t",
        "created_at": "2024-03-20T12:00:00Z", "deployment": jenkins_1_id}),
    )
    .await;
    expect_error(res, 422, "validation_failed", "Acme's deployment").await;
    let own = expect_ok(
        push(
            &app,
            &other_token,
            "incidents",
            &json!({"id": "PD-1", "source": "pagerduty", "title": "Other's",
            "created_at": "2024-03-20T12:00:00Z"}),
        )
        .await,
        200,
        "other's own",
    )
    .await;
    assert_eq!(own["items"][0]["result"], "created");
    assert_eq!(own["items"][0]["caused_by_deployment_id"], Value::Null);
    assert_eq!(rows(&app, acme).await, acme_rows, "Acme is untouched");

    // Pushes are audited with the token's user.
    let audit = expect_ok(
        app.bearer(Method::GET, "/api/v1/audit?action=ingest.", &admin.token)
            .send()
            .await
            .unwrap(),
        200,
        "audit",
    )
    .await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{audit}");
    assert!(
        entries
            .iter()
            .all(|e| e["actor_email"] == "user@acme.example"),
        "{audit}"
    );
}

both_backends!(push_endpoints, ingest_push);
