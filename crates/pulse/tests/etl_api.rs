//! The ETL admin API end to end: integrations with write-only credentials, jobs run by in-process
//! workers (the counting test connector), their history and logs, control (cancel, pause, resume),
//! role checks on every `/etl` route, and the progress WebSocket (origin, credential, tenant).

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestApp};
use futures_util::StreamExt;
use pulse_core::{ClientId, Role};
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use pulse_etl::testing::CountingConnector;
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "ghp_canaryTOKEN_0123456789abcdef";

/// A registry with the counting connector: 40 items in pages of 2, 50 ms a page (about 1 s a run).
fn registry() -> pulse_etl::Registry {
    let mut registry = pulse_etl::Registry::new();
    registry.register(std::sync::Arc::new(
        CountingConnector::new(40, 2).with_page_delay(Duration::from_millis(50)),
    ));
    registry
}

struct Tenant {
    client: ClientId,
    admin: String,
    user: String,
    viewer: String,
}

async fn tenant(app: &TestApp, name: &str, domain: &str) -> Tenant {
    let client = app.client(name).await;
    let mut tokens = Vec::new();
    for (who, role) in [
        ("admin", Role::Admin),
        ("user", Role::User),
        ("viewer", Role::Viewer),
    ] {
        let email = format!("{who}@{domain}");
        app.user(client, &email, role).await;
        tokens.push(app.login(&email, None).await.token);
    }
    let viewer = tokens.pop().unwrap();
    let user = tokens.pop().unwrap();
    let admin = tokens.pop().unwrap();
    Tenant {
        client,
        admin,
        user,
        viewer,
    }
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.bearer(method, &format!("/api/v1{path}"), token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn create_integration(app: &TestApp, token: &str, name: &str) -> String {
    let (status, body) = call(
        app,
        Method::POST,
        "/etl/integrations",
        token,
        Some(json!({"kind": "counting", "name": name, "scopes": ["main"],
                    "base_url": "https://git.example.com/api", "credentials": SECRET})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Polls the job until `done` holds, failing after 30 s.
async fn wait_job(
    app: &TestApp,
    token: &str,
    job: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = call(app, Method::GET, &format!("/etl/jobs/{job}"), token, None).await;
        assert_eq!(status, 200, "{body}");
        if done(&body["job"]) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "job {job} never became {what}: {}",
            body["job"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn status_is(s: &'static str) -> impl Fn(&Value) -> bool {
    move |job| job["status"] == s
}

async fn run_now(app: &TestApp, token: &str, integration: &str) -> String {
    let (status, body) = call(
        app,
        Method::POST,
        &format!("/etl/integrations/{integration}/run"),
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body[0]["id"].as_str().unwrap().to_string()
}

async fn credentials_are_write_only(backend: Backend) {
    let (app, _engine) = common::boot_with_registry(backend, &[], registry(), 0).await;
    let a = tenant(&app, "Cred Corp", "cred.example").await;
    let id = create_integration(&app, &a.admin, "Canary").await;

    let (status, got) = call(
        &app,
        Method::GET,
        &format!("/etl/integrations/{id}"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(got["has_credentials"], true);
    assert_eq!(got["base_url"], "https://git.example.com/api");
    let (_, list) = call(&app, Method::GET, "/etl/integrations", &a.admin, None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, audit) = call(&app, Method::GET, "/audit?action=etl.", &a.admin, None).await;
    assert!(audit["total"].as_u64().unwrap() >= 1, "{audit}");
    for shown in [&got, &list, &audit] {
        assert!(!shown.to_string().contains(SECRET), "secret shown: {shown}");
    }

    // At rest: ciphertext, not the token.
    use pulse_db::entity::integrations;
    let row = integrations::Entity::find()
        .filter(integrations::Column::ClientId.eq(a.client.uuid()))
        .one(app.db.system())
        .await
        .unwrap()
        .unwrap();
    let stored = row.credentials.expect("stored credentials");
    assert!(
        !stored.contains(SECRET) && !stored.contains("canaryTOKEN"),
        "{stored}"
    );
    assert_ne!(stored, SECRET);

    // Replacing and removing credentials; the answer never carries them either.
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/etl/integrations/{id}"),
        &a.admin,
        Some(json!({"credentials": "ghp_second_canary_token"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.to_string().contains("second_canary"));
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/etl/integrations/{id}"),
        &a.admin,
        Some(json!({"credentials": null})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["has_credentials"], false);

    // Base URLs: no credentials in URLs, http(s) only; unknown kinds are refused.
    for (url, why) in [
        ("https://user:pw@git.example.com", "userinfo"),
        ("ftp://git.example.com", "scheme"),
        ("file:///etc/passwd", "file"),
    ] {
        let (status, body) = call(
            &app,
            Method::POST,
            "/etl/integrations",
            &a.admin,
            Some(json!({"kind": "counting", "name": format!("bad {why}"), "base_url": url})),
        )
        .await;
        assert_eq!(status, 422, "{why}: {body}");
        assert!(!body.to_string().contains("pw@"), "{body}");
    }
    let (status, _) = call(
        &app,
        Method::POST,
        "/etl/integrations",
        &a.admin,
        Some(json!({"kind": "nope", "name": "x"})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = call(
        &app,
        Method::PUT,
        &format!("/etl/integrations/{id}/schedule"),
        &a.admin,
        Some(json!({"schedule": {"cron": "0 6 * * MON-FRI", "time_zone": "Mars/Olympus"}})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, body) = call(
        &app,
        Method::PUT,
        &format!("/etl/integrations/{id}/schedule"),
        &a.admin,
        Some(json!({"schedule": {"cron": "0 6 * * MON-FRI", "time_zone": "Europe/Berlin"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["schedule"]["time_zone"], "Europe/Berlin");
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/etl/integrations/{id}/disable"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!((status, &body["enabled"]), (200, &json!(false)));
    assert_eq!(
        body["schedule"]["cron"], "0 6 * * MON-FRI",
        "disabling keeps the schedule"
    );
    let (status, body) = call(
        &app,
        Method::DELETE,
        &format!("/etl/integrations/{id}/schedule"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!((status, &body["schedule"]), (200, &Value::Null));
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/etl/integrations/{id}/test"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!((status, &body["ok"]), (200, &json!(true)), "{body}");
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/etl/integrations/{id}"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/etl/integrations/{id}"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

both_backends!(credentials, credentials_are_write_only);

async fn jobs_run_with_history_and_logs(backend: Backend) {
    let (app, _engine) = common::boot_with_registry(backend, &[], registry(), 2).await;
    let a = tenant(&app, "Jobs Corp", "jobs.example").await;
    let integration = create_integration(&app, &a.admin, "Counter").await;
    let job = run_now(&app, &a.admin, &integration).await;
    let detail = wait_job(&app, &a.admin, &job, "succeeded", status_is("succeeded")).await;
    assert_eq!(detail["job"]["progress"]["done"], 40);
    let history: Vec<String> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(history, ["queued", "running", "succeeded"], "{detail}");

    let (status, list) = call(
        &app,
        Method::GET,
        &format!("/etl/jobs?status=succeeded,failed&integration={integration}&limit=10"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], job);
    let (_, none) = call(
        &app,
        Method::GET,
        "/etl/jobs?status=running",
        &a.admin,
        None,
    )
    .await;
    assert_eq!(none["total"], 0);
    let (status, _) = call(&app, Method::GET, "/etl/jobs?status=bogus", &a.admin, None).await;
    assert_eq!(status, 422);

    // A second run, paused while running, leaves a log line; then logs are read and purged.
    let second = run_now(&app, &a.admin, &integration).await;
    wait_job(&app, &a.admin, &second, "running with progress", |j| {
        j["status"] == "running" && j["progress"]["done"].as_u64().unwrap_or(0) > 0
    })
    .await;
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/etl/jobs/{second}/pause"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_job(&app, &a.admin, &second, "paused", status_is("paused")).await;
    let (status, logs) = call(
        &app,
        Method::GET,
        &format!("/etl/logs?job={second}&level=info"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        logs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"] == "pause requested"),
        "{logs}"
    );
    let (_, errors) = call(
        &app,
        Method::GET,
        &format!("/etl/logs?job={second}&level=error"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(errors["total"], 0);
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/etl/logs?job={}", uuid::Uuid::now_v7()),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, deleted) = call(
        &app,
        Method::DELETE,
        "/etl/logs?before=2000-01-01T00:00:00Z",
        &a.admin,
        None,
    )
    .await;
    assert_eq!((status, &deleted["deleted"]), (200, &json!(0)));
    let (status, deleted) = call(
        &app,
        Method::DELETE,
        "/etl/logs?before=2100-01-01T00:00:00Z",
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(deleted["deleted"].as_u64().unwrap() >= 1, "{deleted}");
    let (_, logs) = call(&app, Method::GET, "/etl/logs", &a.admin, None).await;
    assert_eq!(logs["total"], 0);

    // Resume continues from the checkpoint and finishes.
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/etl/jobs/{second}/resume"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let done = wait_job(&app, &a.admin, &second, "succeeded", status_is("succeeded")).await;
    let tos: Vec<&str> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert!(
        tos.contains(&"paused") && tos.ends_with(&["succeeded"]),
        "{tos:?}"
    );

    // Cancel a running job; a finished job cannot be cancelled.
    let third = run_now(&app, &a.admin, &integration).await;
    wait_job(&app, &a.admin, &third, "running", status_is("running")).await;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/etl/jobs/{third}/cancel"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    wait_job(&app, &a.admin, &third, "cancelled", status_is("cancelled")).await;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/etl/jobs/{third}/cancel"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 409);

    // A full re-sync is queued as a full job.
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/etl/integrations/{integration}/full-resync"),
        &a.admin,
        Some(json!({"scope": "main"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["mode"], "full");
    let full = body[0]["id"].as_str().unwrap().to_string();
    wait_job(&app, &a.admin, &full, "succeeded", status_is("succeeded")).await;

    // A re-convert is queued like a full re-sync; this connector keeps no raw records to
    // re-convert, so the job fails at once saying so.
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/etl/integrations/{integration}/reconvert"),
        &a.admin,
        Some(json!({"scope": "main"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["mode"], "reconvert");
    let reconvert = body[0]["id"].as_str().unwrap().to_string();
    let failed = wait_job(&app, &a.admin, &reconvert, "failed", status_is("failed")).await;
    assert!(
        failed["job"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("re-convert")),
        "{failed}"
    );

    let (_, audit) = call(
        &app,
        Method::GET,
        "/audit?action=etl.&limit=200",
        &a.admin,
        None,
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "etl.integration.create",
        "etl.job.run_now",
        "etl.job.pause",
        "etl.job.resume",
        "etl.job.cancel",
        "etl.job.full_resync",
        "etl.job.reconvert",
        "etl.logs.delete",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} not audited: {actions:?}"
        );
    }
}

both_backends!(jobs, jobs_run_with_history_and_logs);

async fn only_admins_reach_etl(backend: Backend) {
    let (app, _engine) = common::boot_with_registry(backend, &[], registry(), 0).await;
    let a = tenant(&app, "Roles Corp", "roles.example").await;
    let integration = create_integration(&app, &a.admin, "Roles").await;
    let job = run_now(&app, &a.admin, &integration).await;
    let spec: Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/etl") {
            continue;
        }
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            let concrete = path
                .replace(
                    "/integrations/{id}",
                    &format!("/integrations/{integration}"),
                )
                .replace("/jobs/{id}", &format!("/jobs/{job}"));
            let concrete = if concrete == "/etl/logs" && method == "delete" {
                "/etl/logs?before=2100-01-01T00:00:00Z".to_string()
            } else {
                concrete
            };
            let body = matches!(method, "put" | "post" | "patch").then(|| json!({}));
            for token in [&a.user, &a.viewer] {
                let (status, res) = call(
                    &app,
                    method.to_uppercase().parse().unwrap(),
                    &concrete,
                    token,
                    body.clone(),
                )
                .await;
                assert_eq!(status, 403, "{method} {concrete}: {res}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} /etl operations found");
    // Nothing changed: the integration and the queued job are as they were.
    let (_, got) = call(
        &app,
        Method::GET,
        &format!("/etl/jobs/{job}"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(got["job"]["status"], "queued");
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/etl/integrations/{integration}"),
        &a.admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
}

both_backends!(roles, only_admins_reach_etl);

fn ws_url(app: &TestApp) -> String {
    format!("{}/api/v1/etl/ws", app.base.replacen("http", "ws", 1))
}

async fn ws_connect(
    app: &TestApp,
    token: Option<&str>,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    u16,
> {
    let mut req = ws_url(app).into_client_request().unwrap();
    if let Some(t) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((stream, _)) => Ok(stream),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("unexpected WebSocket error: {e}"),
    }
}

async fn websocket_delivers_own_progress_only(backend: Backend) {
    let (app, _engine) = common::boot_with_registry(backend, &[], registry(), 2).await;
    let a = tenant(&app, "Socket A", "wsa.example").await;
    let b = tenant(&app, "Socket B", "wsb.example").await;

    // Refused before the upgrade: a foreign Origin, no credential, a non-admin.
    assert_eq!(
        ws_connect(&app, Some(&a.admin), Some("https://evil.example"))
            .await
            .err(),
        Some(403)
    );
    assert_eq!(ws_connect(&app, None, None).await.err(), Some(401));
    assert_eq!(
        ws_connect(&app, Some(&a.viewer), None).await.err(),
        Some(403)
    );
    assert_eq!(ws_connect(&app, Some(&a.user), None).await.err(), Some(403));
    // A plain GET (no handshake) is a 400, not a crash.
    let (status, _) = call(&app, Method::GET, "/etl/ws", &a.admin, None).await;
    assert_eq!(status, 400);

    // The server's own origin is accepted.
    let own_origin = app.config.server.public_origin();
    let mut socket = ws_connect(&app, Some(&a.admin), Some(&own_origin))
        .await
        .expect("handshake");
    let first = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.into_text().unwrap().as_str(), r#"{"type":"ready"}"#);

    let a_integration = create_integration(&app, &a.admin, "A counter").await;
    let b_integration = create_integration(&app, &b.admin, "B counter").await;
    let b_job = run_now(&app, &b.admin, &b_integration).await;
    let a_job = run_now(&app, &a.admin, &a_integration).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "A's job never finished on the socket: {seen:?}"
        );
        let msg = tokio::time::timeout(left, socket.next())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let event: Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(event["type"], "progress", "{event}");
        assert_eq!(event["client"], a.client.to_string(), "{event}");
        assert_ne!(event["job"], b_job, "B's event reached A: {event}");
        let finished = event["job"] == a_job.as_str() && event["status"] == "succeeded";
        seen.push(event);
        if finished {
            break;
        }
    }
    assert!(
        seen.iter().any(|e| e["job"] == a_job.as_str()
            && e["status"] == "running"
            && e["done"].as_u64() > Some(0)),
        "no progress event of A's running job: {seen:?}"
    );
    // B's job ran meanwhile; once it is done, drain what A has and check again.
    wait_job(&app, &b.admin, &b_job, "succeeded", status_is("succeeded")).await;
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(Duration::from_millis(300), socket.next()).await
    {
        if let Message::Text(text) = msg {
            assert!(
                !text.as_str().contains(&b_job),
                "B's event reached A: {text}"
            );
            assert!(!text.as_str().contains(&b.client.to_string()));
        }
    }
}

both_backends!(websocket, websocket_delivers_own_progress_only);
