//! `/api/v1/data/*?format=csv` exports every row of the filtered result (not one page), streamed,
//! with the JSON list's columns and order, on SQLite and (when configured) PostgreSQL.

mod common;

use common::{expect_ok, Backend, TestApp};
use pulse_core::Role;
use reqwest::Method;
use serde_json::{json, Value};

/// More than two full pages (the largest page is 200 rows).
const N: usize = 450;

fn records() -> String {
    let mut lines = vec![
        json!({"type": "repository", "id": "api", "full_name": "acme/api"}),
        json!({"type": "repository", "id": "web", "full_name": "acme/web"}),
        json!({"type": "board", "id": "b", "name": "Board", "kind": "scrum", "project_key": "PAY"}),
    ];
    for i in 0..N {
        let day = 1 + (i % 28);
        let at = format!("2024-02-{day:02}T{:02}:{:02}:00Z", i % 24, i % 60);
        lines.push(json!({"type": "pull_request", "id": format!("pr-{i}"), "repository": "api",
            "number": i, "title": format!("Change, \"quoted\" #{i}"), "author": "ada", "state": "open",
            "created_at": at}));
        let mut repos = vec![json!({"repository": "api"})];
        if i % 3 == 0 {
            repos.push(json!({"repository": "web"}));
        }
        lines.push(
            json!({"type": "deployment", "id": format!("d-{i}"), "environment": "production",
            "status": "success", "origin": "manual", "started_at": at, "finished_at": at,
            "repositories": repos}),
        );
        lines.push(
            json!({"type": "incident", "id": format!("inc-{i}"), "title": format!("=cmd {i}"),
            "origin": "manual", "created_at": at}),
        );
        lines.push(
            json!({"type": "issue", "id": format!("i-{i}"), "key": format!("PAY-{i}"),
            "title": "t", "issue_type": "Story", "standard_type": "story", "status": "To Do",
            "status_category": "to_do", "created_at": at}),
        );
        lines.push(
            json!({"type": "sprint", "id": format!("s-{i}"), "board": "b",
            "name": format!("Sprint {i}"), "state": "closed", "start_at": at, "end_at": at}),
        );
    }
    lines
        .iter()
        .map(|l| l.to_string() + "\n")
        .collect::<String>()
}

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.bearer(Method::GET, path, token).send().await.unwrap()
}

/// Ids of every row of a list, page by page (200 per page).
async fn json_ids(app: &TestApp, token: &str, list: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let sep = if list.contains('?') { '&' } else { '?' };
        let page = expect_ok(
            get(
                app,
                token,
                &format!("{list}{sep}limit=200&offset={}", out.len()),
            )
            .await,
            200,
            list,
        )
        .await;
        let items = page["items"].as_array().unwrap();
        if items.is_empty() {
            return out;
        }
        out.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
    }
}

/// Splits CSV text into records (quoted fields may hold commas and quotes, not line breaks here).
fn rows(text: &str) -> Vec<Vec<String>> {
    text.split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut cells = Vec::new();
            let mut cell = String::new();
            let mut quoted = false;
            let mut chars = l.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, quoted) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        cell.push('"');
                        chars.next();
                    }
                    ('"', _) => quoted = !quoted,
                    (',', false) => cells.push(std::mem::take(&mut cell)),
                    (c, _) => cell.push(c),
                }
            }
            cells.push(cell);
            cells
        })
        .collect()
}

async fn export_every_row(backend: Backend) {
    let app = common::boot(backend).await;
    let client = app.client("Acme").await;
    app.user(client, "admin@acme.example", Role::Admin).await;
    app.user(client, "viewer@acme.example", Role::Viewer).await;
    let admin = app.login("admin@acme.example", None).await;
    let viewer = app.login("viewer@acme.example", None).await;
    let res = app
        .bearer(Method::POST, "/api/v1/import", &admin.token)
        .header("content-type", "application/x-ndjson")
        .body(records())
        .send()
        .await
        .unwrap();
    expect_ok(res, 200, "import").await;

    for (list, filter) in [
        ("/api/v1/data/pull-requests", ""),
        ("/api/v1/data/deployments", "production=true"),
        ("/api/v1/data/incidents", ""),
        ("/api/v1/data/issues", "status_category=to_do"),
        ("/api/v1/data/sprints", "state=closed"),
    ] {
        let path = format!("{list}?from=2024-02-01&to=2024-02-29&{filter}");
        let res = get(&app, &viewer.token, &format!("{path}&format=csv&limit=5")).await;
        assert_eq!(res.status(), 200, "{list}");
        assert_eq!(
            res.headers()["content-type"],
            "text/csv; charset=utf-8",
            "{list}"
        );
        assert_eq!(
            res.headers()["x-total-count"],
            N.to_string().as_str(),
            "{list}"
        );
        assert!(
            res.headers().get("content-length").is_none(),
            "{list}: the export is streamed, not rendered up front"
        );
        let text = res.text().await.unwrap();
        let table = rows(&text);
        assert_eq!(
            table.len(),
            N + 1,
            "{list}: header plus every row, not one page"
        );
        let width = table[0].len();
        assert!(
            table.iter().all(|r| r.len() == width),
            "{list}: ragged rows"
        );
        // Same rows, same order, as the JSON pages; the same columns as the JSON items.
        let ids: Vec<String> = table[1..].iter().map(|r| r[0].clone()).collect();
        assert_eq!(ids, json_ids(&app, &viewer.token, &path).await, "{list}");
        let first = expect_ok(
            get(&app, &viewer.token, &format!("{path}&limit=1")).await,
            200,
            list,
        )
        .await;
        let item = &first["items"][0];
        for (col, value) in table[0].iter().zip(&table[1]) {
            let json_value = match &item[col.as_str()] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            if col.ends_with("_at") && !value.is_empty() {
                assert_eq!(&value[..19], &json_value[..19], "{list} {col}");
            } else if col == "title" && value.starts_with('\'') {
                assert_eq!(&value[1..], json_value, "{list} {col}: formula guard only");
            } else {
                assert_eq!(value, &json_value, "{list} {col}");
            }
        }
    }
    // Deployments list their repositories in one cell.
    let text = get(&app, &viewer.token, "/api/v1/data/deployments?format=csv")
        .await
        .text()
        .await
        .unwrap();
    let table = rows(&text);
    let col = table[0].iter().position(|c| c == "repository_ids").unwrap();
    let two = table[1..].iter().filter(|r| r[col].contains(' ')).count();
    assert_eq!(
        two,
        N.div_ceil(3),
        "every third deployment has two repositories"
    );
    // Bad filters are still refused before anything is streamed.
    let res = get(
        &app,
        &viewer.token,
        "/api/v1/data/issues?format=csv&tz=Mars/Base",
    )
    .await;
    assert_eq!(res.status(), 422);
}

both_backends!(csv_export, export_every_row);
