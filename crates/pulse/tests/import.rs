//! `POST /api/v1/import` and `pulse import FILE`, on SQLite and (when configured) PostgreSQL.

mod common;

use common::{Backend, TestApp};
use pulse_core::Role;
use reqwest::Method;
use serde_json::Value;

const EXAMPLE: &str = include_str!("../../../docs/examples/import.jsonl");

async fn post(app: &TestApp, token: &str, body: &str, content_type: &str) -> reqwest::Response {
    app.bearer(Method::POST, "/api/v1/import", token)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn import_over_http(backend: Backend) {
    let app = common::boot(backend).await;
    let client = app.client("Acme").await;
    app.user(client, "admin@acme.example", Role::Admin).await;
    app.user(client, "viewer@acme.example", Role::Viewer).await;
    let admin = app.login("admin@acme.example", None).await;
    let viewer = app.login("viewer@acme.example", None).await;

    let res = post(&app, &viewer.token, EXAMPLE, "application/x-ndjson").await;
    assert_eq!(res.status(), 403);
    let res = post(&app, &admin.token, EXAMPLE, "application/json").await;
    assert_eq!(res.status(), 415);
    assert_eq!(common::error_code(res).await, "unsupported_media_type");

    let res = post(&app, &admin.token, EXAMPLE, "application/x-ndjson").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["records"], 43);
    assert_eq!(body["counts"]["pull_request"]["inserted"], 5);
    assert_eq!(body["counts"]["deployment"]["updated"], 0);

    let res = post(&app, &admin.token, EXAMPLE, "text/plain; charset=utf-8").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["counts"]["pull_request"]["inserted"], 0);
    assert_eq!(body["counts"]["pull_request"]["updated"], 5);

    let bad = format!(
        "{EXAMPLE}{}\n{}\n",
        r#"{"type":"deployment","id":"d9","environment":"production","status":"exploded","origin":"manual","started_at":"2024-03-01T10:00:00Z","repositories":[{"repository":"api"}]}"#,
        r#"{"type":"review","id":"r9","pull_request":"api#404","state":"approved","submitted_at":"2024-03-01T10:00:00Z"}"#
    );
    let res = post(&app, &admin.token, &bad, "application/x-ndjson").await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "validation_failed");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["line 44: status", "line 45: pull_request"]);

    let res = app
        .bearer(Method::GET, "/api/v1/audit?action=data.", &admin.token)
        .send()
        .await
        .unwrap();
    let audit: Value = res.json().await.unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["data.import_rejected", "data.import", "data.import"]
    );

    let spec: Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/import"]["post"].is_object());
}
both_backends!(http_import, import_over_http);

fn pulse(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(args)
        .env("PULSE_DATA_DIR", dir)
        .env_remove("DATABASE_URL")
        .env_remove("CLIENT_NAME")
        .current_dir(dir)
        .output()
        .expect("run pulse")
}

#[test]
fn the_cli_loads_a_file_and_refuses_a_bad_one() {
    let dir = std::env::temp_dir().join(format!("pulse-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(pulse(&dir, &["migrate", "up"]).status.success());
    assert!(pulse(&dir, &["client", "create", "Acme"]).status.success());
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/import.jsonl"
    );

    let out = pulse(&dir, &["import", example, "--client", "Acme"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["pull_request", "5", "0"])),
        "{stdout}"
    );
    assert!(stdout.contains("43 records loaded"));

    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"type\":\"team\",\"id\":\"t\",\"name\":\"T\"}\n{\"type\":\"team\",\"id\":\"u\"}\n",
    )
    .unwrap();
    let out = pulse(&dir, &["import", bad.to_str().unwrap(), "--client", "Acme"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2: name: missing field `name`"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was applied"), "{stderr}");

    let out = pulse(&dir, &["import", example, "--client", "Acme"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["team", "0", "3"])),
        "{stdout}"
    );
}

#[test]
fn generated_data_is_deterministic_and_imports() {
    let dir = std::env::temp_dir().join(format!("pulse-gen-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let generate = |name: &str, seed: &str| {
        let out = pulse(
            &dir,
            &[
                "generate",
                "--size",
                "small",
                "--prs",
                "60",
                "--deployments",
                "15",
                "--issues",
                "40",
                "--seed",
                seed,
                "--anchor",
                "2025-06-02",
                "--out",
                name,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(stderr.contains("records/s"), "{stderr}");
        std::fs::read(dir.join(name)).unwrap()
    };
    let a = generate("a.jsonl", "5");
    assert_eq!(a, generate("b.jsonl", "5"), "same seed, same bytes");
    assert_ne!(a, generate("c.jsonl", "6"), "another seed, other data");

    assert!(pulse(&dir, &["migrate", "up"]).status.success());
    assert!(pulse(&dir, &["client", "create", "Acme"]).status.success());
    let out = pulse(&dir, &["import", "a.jsonl", "--client", "Acme"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("deployment")),
        "{stdout}"
    );
    let bad = pulse(
        &dir,
        &["generate", "--anchor", "yesterday", "--out", "x.jsonl"],
    );
    assert!(!bad.status.success());
    std::fs::remove_dir_all(&dir).ok();
}
