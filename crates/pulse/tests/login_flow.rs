//! Boots the real server on port 0 against SQLite and (when PULSE_TEST_DATABASE_URL is set)
//! PostgreSQL, and walks the login flow an operator would with curl.

mod common;

use common::{Backend, TestApp, PASSWORD};
use serde_json::{json, Value};

async fn login_flow(backend: Backend) {
    let app: TestApp = common::boot(backend).await;
    let client = app.client("Acme").await;
    app.user(client, "admin@acme.example", pulse_core::Role::Admin)
        .await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", app.base);

    let bad = http
        .post(url("/api/v1/auth/login"))
        .json(&json!({"email": "admin@acme.example", "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let unknown = http
        .post(url("/api/v1/auth/login"))
        .json(&json!({"email": "nobody@acme.example", "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    let a: Value = bad.json().await.unwrap();
    let b: Value = unknown.json().await.unwrap();
    assert_eq!(
        a["error"]["message"], b["error"]["message"],
        "no user enumeration by message"
    );

    let res = http
        .post(url("/api/v1/auth/login"))
        .json(&json!({"email": "ADMIN@acme.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let set_cookie: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(set_cookie
        .iter()
        .any(|c| c.starts_with("__Host-pulse_access=")
            && c.contains("HttpOnly")
            && c.contains("Secure")
            && c.contains("SameSite=Strict")));
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_string();

    let me = http
        .get(url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers()["cache-control"], "no-store");
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["client_name"], "Acme");

    let created = http
        .post(url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({"email": "viewer@acme.example", "name": "Vi", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert!(created["initial_password"].as_str().unwrap().len() >= 12);
    assert!(created["user"].get("password_hash").is_none());

    let list: Value = http
        .get(url("/api/v1/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 2);

    let unknown_field = http
        .post(url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({"email": "x@acme.example", "name": "X", "role": "user", "client_id": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_field.status(), 400);
    let malformed = http
        .post(url("/api/v1/users"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );
    let nowhere = http.get(url("/api/v1/no-such-route")).send().await.unwrap();
    assert_eq!(nowhere.status(), 404);
    assert_eq!(
        nowhere.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    let huge = common::announce_oversized(
        &app,
        "POST",
        "/api/v1/users",
        &token,
        "application/json",
        3 * 1024 * 1024,
    )
    .await;
    assert_eq!(huge.status, 413);
    let body: Value = serde_json::from_str(&huge.body).expect("a JSON error body");
    assert_eq!(body["error"]["code"], "payload_too_large");

    let out = http
        .post(url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = http
        .get(url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401, "a logged-out token is rejected");
}

both_backends!(login_flow_on, login_flow);
