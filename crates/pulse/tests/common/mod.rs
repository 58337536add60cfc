//! Shared harness for the integration tests: boots the real server on port 0 against SQLite or a
//! fresh PostgreSQL database, and offers helpers to create clients, users and sessions.
#![allow(dead_code)]

use pulse_config::{load_from, Config, Sources};
use pulse_core::{ClientId, Role, UserId};
use pulse_db::Db;
use serde_json::{json, Value};

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// Which database a test runs against.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

/// A running server plus direct database access for setup and checks.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub db: Db,
    pub config: Config,
    pub dir: std::path::PathBuf,
    hasher: pulse_auth::password::Hasher,
}

/// Creates a fresh PostgreSQL database on the server named by `PULSE_TEST_DATABASE_URL` and returns
/// its URL, or `None` when the variable is unset. Panics when the server is unreachable, so CI fails
/// rather than silently skipping.
pub async fn postgres_database() -> Option<String> {
    let admin = std::env::var("PULSE_TEST_DATABASE_URL").ok()?;
    let name = format!("pulse_test_{}", uuid::Uuid::new_v4().simple());
    let conn = pulse_db::sea_orm::Database::connect(&admin)
        .await
        .expect("PostgreSQL is unreachable");
    use pulse_db::sea_orm::ConnectionTrait;
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    conn.close().await.ok();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin);
    Some(format!("{base}/{name}"))
}

/// Runs `$body` (an async fn taking a [`Backend`]) as two tests: SQLite, and PostgreSQL when
/// `PULSE_TEST_DATABASE_URL` is set.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(url) = $crate::common::postgres_database().await else {
                    eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
                    return;
                };
                super::$body($crate::common::Backend::Postgres(url)).await;
            }
        }
    };
}

/// Environment for a test server on `backend`, plus `extra` settings.
pub fn test_env(
    backend: &Backend,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env = vec![("PULSE_DATA_DIR".to_string(), dir.display().to_string())];
    if let Backend::Postgres(url) = backend {
        env.push(("DATABASE_URL".into(), url.clone()));
        env.push((
            "JWT_SECRET_KEY".into(),
            "test-secret-test-secret-test-secret-00".into(),
        ));
        env.push((
            "PULSE_ENCRYPTION_KEY".into(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        ));
    }
    for (k, v) in extra {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// Boots a server with default settings.
pub async fn boot(backend: Backend) -> TestApp {
    boot_with(backend, &[]).await
}

/// Boots a server with extra settings (environment-variable names and values).
pub async fn boot_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pulse-test-{}", uuid::Uuid::new_v4()));
    let env = test_env(&backend, &dir, extra);
    let config = load_from(Sources { file: None, env }).expect("config");
    let db = Db::connect(&config).await.expect("connect");
    pulse_db::migration::up(db.system()).await.expect("migrate");
    db.prepare().await.expect("prepare");
    let keys = pulse_auth::keys::load(&config).expect("keys");
    let state = pulse_api::AppState::new(config.clone(), db.clone(), keys, None).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pulse_api::serve::serve(
        listener,
        state,
        std::future::pending(),
    ));
    TestApp {
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        config,
        dir,
        hasher: pulse_auth::password::Hasher::new(2),
    }
}

/// Boots a server whose job engine runs `registry`'s connectors on `workers` in-process workers
/// (short leases and heartbeats, so control requests are observed quickly). Returns the engine
/// too, for tests that drive or observe it directly.
pub async fn boot_with_registry(
    backend: Backend,
    extra: &[(&str, &str)],
    registry: pulse_etl::Registry,
    workers: usize,
) -> (TestApp, pulse_etl::Engine) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pulse-test-{}", uuid::Uuid::new_v4()));
    let env = test_env(&backend, &dir, extra);
    let config = load_from(Sources { file: None, env }).expect("config");
    let db = Db::connect(&config).await.expect("connect");
    pulse_db::migration::up(db.system()).await.expect("migrate");
    db.prepare().await.expect("prepare");
    let keys = pulse_auth::keys::load(&config).expect("keys");
    let engine = pulse_etl::Engine::new(
        db.clone(),
        pulse_etl::EngineConfig {
            lease: std::time::Duration::from_secs(5),
            heartbeat: std::time::Duration::from_millis(100),
            poll: std::time::Duration::from_millis(100),
            ..Default::default()
        },
    )
    .with_cipher(pulse_auth::crypto::Cipher::new(&keys.encryption_key));
    let registry = std::sync::Arc::new(registry);
    let state = pulse_api::AppState::with_etl(
        config.clone(),
        db.clone(),
        keys,
        None,
        engine.clone(),
        registry.clone(),
    )
    .expect("state");
    for i in 0..workers {
        let worker = pulse_etl::Worker::new(engine.clone(), registry.clone(), format!("test-w{i}"));
        tokio::spawn(async move { worker.run(std::future::pending()).await });
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pulse_api::serve::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let app = TestApp {
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        config,
        dir,
        hasher: pulse_auth::password::Hasher::new(2),
    };
    (app, engine)
}

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub refresh_token: String,
    pub csrf_token: String,
    pub session_id: String,
    pub user_id: String,
    /// The `Cookie` header a browser would send (access, refresh and CSRF cookies).
    pub cookie: String,
}

impl TestApp {
    /// An absolute URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a client.
    pub async fn client(&self, name: &str) -> ClientId {
        let c = pulse_db::repo::clients::create(self.db.system(), name)
            .await
            .expect("client");
        ClientId::from_uuid(c.id)
    }

    /// Creates a user with [`PASSWORD`].
    pub async fn user(&self, client: ClientId, email: &str, role: Role) -> UserId {
        let tx = self.db.tenant(client).await.unwrap();
        let user = pulse_db::repo::users::create(
            &tx,
            pulse_db::repo::users::NewUser {
                email: email.into(),
                name: email.split('@').next().unwrap_or("user").into(),
                password_hash: self.hasher.hash(PASSWORD).await.unwrap(),
                role,
            },
        )
        .await
        .expect("user");
        tx.commit().await.unwrap();
        UserId::from_uuid(user.id)
    }

    /// Logs in and returns the session, panicking on failure.
    pub async fn login(&self, email: &str, client: Option<&str>) -> Session {
        let res = self.login_raw(email, PASSWORD, client).await;
        assert_eq!(res.status(), 200, "login of {email} failed");
        session_from(res).await
    }

    /// A login attempt.
    pub async fn login_raw(
        &self,
        email: &str,
        password: &str,
        client: Option<&str>,
    ) -> reqwest::Response {
        let mut body = json!({"email": email, "password": password});
        if let Some(c) = client {
            body["client"] = json!(c);
        }
        self.http
            .post(self.url("/api/v1/auth/login"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A request authenticated with a bearer token.
    pub fn bearer(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(token)
    }
}

/// Reads a login or refresh response into a [`Session`].
pub async fn session_from(res: reqwest::Response) -> Session {
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    let body: Value = res.json().await.unwrap();
    Session {
        token: body["access_token"].as_str().unwrap().into(),
        refresh_token: body["refresh_token"].as_str().unwrap().into(),
        csrf_token: body["csrf_token"].as_str().unwrap().into(),
        session_id: body["session_id"].as_str().unwrap().into(),
        user_id: body["user"]["id"].as_str().unwrap().into(),
        cookie,
    }
}

/// The JSON error code of a response.
pub async fn error_code(res: reqwest::Response) -> String {
    let body: Value = res.json().await.expect("a JSON error body");
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A raw HTTP response: status, lower-cased headers and body.
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Announces a body of `len` bytes without sending it and reads the answer. The server must refuse
/// an oversized body from its `Content-Length` alone; a real client streaming megabytes would race
/// the server closing the connection (a broken pipe instead of the response).
pub async fn announce_oversized(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    content_type: &str,
    len: usize,
) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut raw),
    )
    .await
    .expect("the server answers an oversized announcement without waiting for the body")
    .unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    // Chunked bodies carry a size line first; the JSON object is what matters.
    let body = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if b >= a => body[a..=b].to_string(),
        _ => body.to_string(),
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

/// Asserts an error response's status and JSON `code`; returns the body.
pub async fn expect_error(
    res: reqwest::Response,
    status: u16,
    code: &str,
    what: &str,
) -> serde_json::Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    assert_eq!(
        got, status,
        "{what}: expected {status} {code}, got {got} {text}"
    );
    assert_eq!(body["error"]["code"], code, "{what}: {text}");
    body
}

/// Asserts a successful status; returns the JSON body (`Null` when empty).
pub async fn expect_ok(res: reqwest::Response, status: u16, what: &str) -> serde_json::Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}
