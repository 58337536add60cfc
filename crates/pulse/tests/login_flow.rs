//! Boots the real server on port 0 against SQLite and (when PULSE_TEST_DATABASE_URL is set)
//! PostgreSQL, and walks the login flow an operator would with curl.

use pulse_config::{load_from, Sources};
use serde_json::{json, Value};

struct TestApp {
    base: String,
    password: String,
}

async fn boot(database_url: Option<String>) -> TestApp {
    let dir = std::env::temp_dir().join(format!("pulse-test-{}", uuid::Uuid::new_v4()));
    let mut env = vec![("PULSE_DATA_DIR".to_string(), dir.display().to_string())];
    if let Some(url) = database_url {
        env.push(("DATABASE_URL".into(), url));
        env.push((
            "JWT_SECRET_KEY".into(),
            "test-secret-test-secret-test-secret-00".into(),
        ));
        env.push((
            "PULSE_ENCRYPTION_KEY".into(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        ));
    }
    let config = load_from(Sources { file: None, env }).expect("config");
    let db = pulse_db::Db::connect(&config).await.expect("connect");
    pulse_db::migration::up(db.system()).await.expect("migrate");
    db.prepare().await.expect("prepare");
    let hasher = pulse_auth::password::Hasher::new(2);
    let client = pulse_db::repo::clients::create(db.system(), "Acme")
        .await
        .expect("client");
    let tx = db
        .tenant(pulse_core::ClientId::from_uuid(client.id))
        .await
        .unwrap();
    let password = "correct horse battery staple".to_string();
    pulse_db::repo::users::create(
        &tx,
        pulse_db::repo::users::NewUser {
            email: "admin@acme.example".into(),
            name: "Admin".into(),
            password_hash: hasher.hash(&password).await.unwrap(),
            role: pulse_core::Role::Admin,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let keys = pulse_auth::keys::load(&config).expect("keys");
    let state = pulse_api::AppState::new(config, db, keys, None).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pulse_api::serve::serve(
        listener,
        state,
        std::future::pending(),
    ));
    TestApp { base, password }
}

async fn postgres_database() -> Option<String> {
    let admin = std::env::var("PULSE_TEST_DATABASE_URL").ok()?;
    let name = format!("pulse_test_{}", uuid::Uuid::new_v4().simple());
    let conn = pulse_db::sea_orm::Database::connect(&admin)
        .await
        .expect("PostgreSQL is unreachable");
    use pulse_db::sea_orm::ConnectionTrait;
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin);
    Some(format!("{base}/{name}"))
}

async fn login_flow(app: TestApp) {
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
        .json(&json!({"email": "ADMIN@acme.example", "password": app.password}))
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
    let huge = http
        .post(url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);

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

#[tokio::test]
async fn login_flow_sqlite() {
    login_flow(boot(None).await).await;
}

#[tokio::test]
async fn login_flow_postgres() {
    let Some(url) = postgres_database().await else {
        eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
        return;
    };
    login_flow(boot(Some(url)).await).await;
}
