//! Every way a request can fail authentication or authorisation, over real HTTP, on SQLite and
//! (when `PULSE_TEST_DATABASE_URL` is set) PostgreSQL.
//!
//! Each check asserts the status and the JSON error `code`. Nothing sleeps: the session cache is
//! exercised both disabled (`PULSE_SESSION_CACHE_SECONDS=0`, every request reads the
//! database) and at its maximum (60 s, longer than the whole test), so a revocation that forgot
//! to evict the cache in this process fails deterministically instead of "within the bound".

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{expect_error, expect_ok, Backend, Session, TestApp, PASSWORD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pulse_core::Role;
use pulse_db::sea_orm::sea_query::Expr;
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use reqwest::{Method, Response};
use serde_json::{json, Value};

/// The JWT signing key the servers of this file use, so tests can forge correctly signed tokens.
const SIGNING_KEY: &str = "auth-rejections-signing-key-0123456789abcdef";

/// Boots a server signing with [`SIGNING_KEY`], plus `extra` settings.
///
/// `PULSE_JWT_SECRET` (the preferred name of `JWT_SECRET_KEY`) is used because the harness already
/// sets `JWT_SECRET_KEY` on PostgreSQL and the first occurrence of a name wins.
async fn boot(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("PULSE_JWT_SECRET", SIGNING_KEY)];
    env.extend_from_slice(extra);
    let app = common::boot_with(backend, &env).await;
    assert_eq!(
        app.config.auth.jwt_secret.expose(),
        SIGNING_KEY,
        "the server must sign with the test's key"
    );
    app
}

// ---------------------------------------------------------------------------------------------
// Response helpers
// ---------------------------------------------------------------------------------------------

/// Asserts a 429 `rate_limited` whose `Retry-After` lies within the last two minutes of `window`.
async fn expect_rate_limited(res: Response, window_secs: u64, what: &str) {
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{what}: a numeric Retry-After header is required"));
    assert!(
        retry <= window_secs && retry + 120 >= window_secs,
        "{what}: Retry-After {retry} should be close to the {window_secs} s window"
    );
    expect_error(res, 429, "rate_limited", what).await;
}

/// A request with a bearer token and an optional JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Response {
    let mut req = app.bearer(method, path, token);
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

/// `GET /auth/me` with a bearer token.
async fn me(app: &TestApp, token: &str) -> Response {
    call(app, Method::GET, "/api/v1/auth/me", token, None).await
}

/// Asserts the token is accepted and returns `/auth/me`.
async fn me_ok(app: &TestApp, token: &str, what: &str) -> Value {
    expect_ok(me(app, token).await, 200, what).await
}

/// Asserts the token is refused with 401 `unauthorized`.
async fn me_refused(app: &TestApp, token: &str, what: &str) {
    expect_error(me(app, token).await, 401, "unauthorized", what).await;
}

/// `POST /auth/refresh` with the refresh token in the body.
async fn refresh(app: &TestApp, refresh_token: &str) -> Response {
    app.http
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap()
}

/// A login attempt, optionally presenting cookies (the trusted-device cookie).
async fn login_with(app: &TestApp, email: &str, password: &str, cookie: Option<&str>) -> Response {
    let mut req = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// The `name=value` pair of one cookie out of a session's `Cookie` header.
fn cookie_pair(session: &Session, name: &str) -> String {
    session
        .cookie
        .split("; ")
        .find(|p| p.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("the login set no {name} cookie"))
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// JWT helpers (claims shape of crates/pulse-auth/src/jwt.rs)
// ---------------------------------------------------------------------------------------------

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn b64_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// The claims of a token, decoded without verification.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign_with(alg: Algorithm, key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

/// Signs `claims` exactly as the server would (HS256, the server's key).
fn sign(claims: &Value) -> String {
    sign_with(Algorithm::HS256, SIGNING_KEY.as_bytes(), claims)
}

/// `claims` with some fields replaced.
fn with(claims: &Value, changes: Value) -> Value {
    let mut c = claims.clone();
    for (k, v) in changes.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ---------------------------------------------------------------------------------------------
// JWTs
// ---------------------------------------------------------------------------------------------

async fn forged_and_invalid_jwts(backend: Backend) {
    let app = boot(backend, &[]).await;
    let acme = app.client("Acme").await;
    let admin_id = app.user(acme, "admin@acme.example", Role::Admin).await;
    app.user(acme, "viewer@acme.example", Role::Viewer).await;
    let viewer = app.login("viewer@acme.example", None).await;

    // The server's claims have exactly the documented shape, and a token the test signs from them
    // is accepted: every rejection below is for the reason it names, not a wrong test key.
    let good = claims_of(&viewer.token);
    let mut keys: Vec<&str> = good
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["aud", "cid", "exp", "iat", "iss", "nbf", "role", "sid", "sub"]
    );
    assert_eq!(good["role"], "viewer");
    let ours = me_ok(
        &app,
        &sign(&good),
        "a token signed by the test with the real claims",
    )
    .await;
    assert_eq!(ours["user"]["email"], "viewer@acme.example");

    let t = now();
    let real_parts: Vec<&str> = viewer.token.split('.').collect();
    let none_header = b64_json(&json!({"alg": "none", "typ": "JWT"}));
    let mut missing_exp = good.clone();
    missing_exp.as_object_mut().unwrap().remove("exp");
    let mut missing_sub = good.clone();
    missing_sub.as_object_mut().unwrap().remove("sub");

    let rejected: Vec<(&str, String)> = vec![
        ("alg none", format!("{none_header}.{}.", b64_json(&good))),
        (
            "alg none keeping the real signature",
            format!("{none_header}.{}.{}", real_parts[1], real_parts[2]),
        ),
        (
            "signed with a wrong key",
            sign_with(
                Algorithm::HS256,
                b"another-key-another-key-another-key-00",
                &good,
            ),
        ),
        (
            "right key, algorithm not allowed (HS512)",
            sign_with(Algorithm::HS512, SIGNING_KEY.as_bytes(), &good),
        ),
        (
            "expired (beyond the 30 s leeway)",
            sign(&with(
                &good,
                json!({"exp": t - 3600, "iat": t - 7200, "nbf": t - 7200}),
            )),
        ),
        (
            "not yet valid (nbf in the future)",
            sign(&with(&good, json!({"nbf": t + 3600}))),
        ),
        (
            "wrong audience",
            sign(&with(&good, json!({"aud": "someone-else"}))),
        ),
        ("wrong issuer", sign(&with(&good, json!({"iss": "evil"})))),
        ("missing exp", sign(&missing_exp)),
        ("missing sub", sign(&missing_sub)),
        (
            "tampered payload: role changed to admin, signature kept",
            format!(
                "{}.{}.{}",
                real_parts[0],
                b64_json(&with(&good, json!({"role": "admin"}))),
                real_parts[2]
            ),
        ),
        (
            "tampered payload: expiry extended, signature kept",
            format!(
                "{}.{}.{}",
                real_parts[0],
                b64_json(&with(&good, json!({"exp": t + 86_400}))),
                real_parts[2]
            ),
        ),
        ("garbage", "not.a.jwt".into()),
        ("random text", "c29tZXRoaW5nIGVsc2U".into()),
        ("empty", String::new()),
        // Correctly signed, but naming nothing usable.
        (
            "correctly signed for a session that does not exist",
            sign(&with(&good, json!({"sid": new_uuid()}))),
        ),
        (
            "correctly signed, real session, another user as subject",
            sign(&with(
                &good,
                json!({"sub": admin_id.to_string(), "role": "admin"}),
            )),
        ),
    ];
    for (name, token) in &rejected {
        me_refused(&app, token, &format!("bearer: {name}")).await;
        let by_cookie = app
            .http
            .get(app.url("/api/v1/auth/me"))
            .header("cookie", format!("__Host-pulse_access={token}"))
            .send()
            .await
            .unwrap();
        expect_error(by_cookie, 401, "unauthorized", &format!("cookie: {name}")).await;
    }

    // No credential, and a credential in a scheme other than Bearer.
    let none = app
        .http
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    expect_error(none, 401, "unauthorized", "no credential").await;
    let basic = app
        .http
        .get(app.url("/api/v1/auth/me"))
        .header("authorization", format!("Basic {}", viewer.token))
        .send()
        .await
        .unwrap();
    expect_error(basic, 401, "unauthorized", "Basic scheme").await;

    // A correctly signed token claiming admin for the viewer's real session is accepted as a
    // credential, but the role comes from the database: it stays a viewer.
    let claims_admin = sign(&with(&good, json!({"role": "admin"})));
    let who = me_ok(&app, &claims_admin, "re-signed with role admin").await;
    assert_eq!(
        who["role"], "viewer",
        "the token's role claim is not trusted"
    );
    expect_error(
        call(&app, Method::GET, "/api/v1/users", &claims_admin, None).await,
        403,
        "forbidden",
        "viewer session with an admin role claim on an admin route",
    )
    .await;

    // The real token still works after all of this.
    me_ok(&app, &viewer.token, "the original token").await;
}

both_backends!(jwt_rejections, forged_and_invalid_jwts);

/// A correctly signed token for a real session of client A that names client B in `cid`. The
/// session row belongs to A, so the session check must refuse it; otherwise anyone holding the
/// signing key and any session of A acts inside B with that session's role.
///
/// Returns the answers to `GET /auth/me` and `GET /users` (B's user list) with the forged token,
/// after the session was used normally once.
async fn forged_client_claim(backend: Backend, cache_seconds: &str) -> [(u16, String); 2] {
    let app = boot(backend, &[("PULSE_SESSION_CACHE_SECONDS", cache_seconds)]).await;
    let acme = app.client("Acme").await;
    let beta = app.client("Beta").await;
    app.user(acme, "admin@acme.example", Role::Admin).await;
    app.user(beta, "secret-user@beta.example", Role::Admin)
        .await;
    let admin = app.login("admin@acme.example", None).await;
    me_ok(&app, &admin.token, "the real token").await;
    let forged = sign(&with(
        &claims_of(&admin.token),
        json!({"cid": beta.to_string()}),
    ));
    let mut out = Vec::new();
    for path in ["/api/v1/auth/me", "/api/v1/users"] {
        let res = call(&app, Method::GET, path, &forged, None).await;
        out.push((res.status().as_u16(), res.text().await.unwrap()));
    }
    me_ok(&app, &admin.token, "the real token afterwards").await;
    out.try_into().unwrap()
}

async fn forged_client_claim_uncached(backend: Backend) {
    for (status, body) in forged_client_claim(backend, "0").await {
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("\"unauthorized\""), "{body}");
    }
}

both_backends!(jwt_other_client_uncached, forged_client_claim_uncached);

/// Regression: with the session cache on (the default), a cache hit must still check the token's
/// client, or a token re-signed with another `cid` would list that client's users.
mod jwt_other_client_cached {
    use super::*;

    async fn check(backend: Backend) {
        let answers = forged_client_claim(backend, "5").await;
        assert!(
            answers.iter().all(|(status, _)| *status == 401),
            "a forged cid on a cached session must be refused, got {answers:#?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]

    async fn sqlite() {
        check(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]

    async fn postgres() {
        let Some(url) = common::postgres_database().await else {
            eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
            return;
        };
        check(Backend::Postgres(url)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Revocation
// ---------------------------------------------------------------------------------------------

const NEW_PASSWORD: &str = "a completely new passphrase 42";

async fn revocation(backend: Backend, cache_seconds: u64) {
    let cache = cache_seconds.to_string();
    let app = boot(backend, &[("PULSE_SESSION_CACHE_SECONDS", &cache)]).await;
    assert_eq!(app.config.auth.session_cache_seconds, cache_seconds);
    let acme = app.client("Acme").await;
    app.user(acme, "admin@acme.example", Role::Admin).await;
    let admin = app.login("admin@acme.example", None).await;

    // Logout ends the session: its access token, its refresh token, and even a freshly re-signed
    // token for it are refused.
    app.user(acme, "ann@acme.example", Role::User).await;
    let s = app.login("ann@acme.example", None).await;
    me_ok(&app, &s.token, "before logout (primes the cache)").await;
    let out = call(&app, Method::POST, "/api/v1/auth/logout", &s.token, None).await;
    expect_ok(out, 204, "logout").await;
    me_refused(&app, &s.token, "after logout").await;
    expect_error(
        refresh(&app, &s.refresh_token).await,
        401,
        "unauthorized",
        "refresh after logout",
    )
    .await;
    let resigned = sign(&with(
        &claims_of(&s.token),
        json!({"exp": now() + 600, "iat": now(), "nbf": now()}),
    ));
    me_refused(
        &app,
        &resigned,
        "a re-signed token for a logged-out session",
    )
    .await;

    // Revoking another of one's own sessions ends that one only.
    let a = app.login("ann@acme.example", None).await;
    let b = app.login("ann@acme.example", None).await;
    me_ok(&app, &a.token, "session a").await;
    me_ok(&app, &b.token, "session b").await;
    let listed = expect_ok(
        call(&app, Method::GET, "/api/v1/auth/sessions", &a.token, None).await,
        200,
        "list sessions",
    )
    .await;
    let ids: Vec<(&str, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["current"].as_bool().unwrap()))
        .collect();
    assert!(ids.contains(&(a.session_id.as_str(), true)), "{listed}");
    assert!(ids.contains(&(b.session_id.as_str(), false)), "{listed}");
    let path = format!("/api/v1/auth/sessions/{}", b.session_id);
    expect_ok(
        call(&app, Method::DELETE, &path, &a.token, None).await,
        204,
        "revoke session b from a",
    )
    .await;
    me_refused(&app, &b.token, "revoked session b").await;
    me_ok(&app, &a.token, "the revoking session a").await;
    expect_error(
        refresh(&app, &b.refresh_token).await,
        401,
        "unauthorized",
        "refresh of revoked session b",
    )
    .await;
    // Another user's session is "not found" and keeps working.
    let path = format!("/api/v1/auth/sessions/{}", admin.session_id);
    expect_error(
        call(&app, Method::DELETE, &path, &a.token, None).await,
        404,
        "not_found",
        "revoking another user's session",
    )
    .await;
    me_ok(
        &app,
        &admin.token,
        "the admin's session after ann tried to revoke it",
    )
    .await;

    // Logout-all ends every session of the caller, the current one included, and no one else's.
    let c = app.login("ann@acme.example", None).await;
    me_ok(&app, &c.token, "session c").await;
    let all = expect_ok(
        call(
            &app,
            Method::POST,
            "/api/v1/auth/logout-all",
            &a.token,
            None,
        )
        .await,
        200,
        "logout-all",
    )
    .await;
    assert_eq!(all["revoked"], 2, "sessions a and c: {all}");
    me_refused(&app, &a.token, "session a after logout-all").await;
    me_refused(&app, &c.token, "session c after logout-all").await;
    me_ok(&app, &admin.token, "the admin after ann's logout-all").await;

    // A password change keeps the current session and ends the others.
    let p1 = app.login("ann@acme.example", None).await;
    let p2 = app.login("ann@acme.example", None).await;
    me_ok(&app, &p1.token, "p1").await;
    me_ok(&app, &p2.token, "p2").await;
    let wrong = json!({"current_password": "not the password!", "new_password": NEW_PASSWORD});
    let body = expect_error(
        call(
            &app,
            Method::PUT,
            "/api/v1/auth/password",
            &p1.token,
            Some(&wrong),
        )
        .await,
        422,
        "validation_failed",
        "password change with a wrong current password",
    )
    .await;
    assert_eq!(body["error"]["details"][0]["field"], "current_password");
    me_ok(&app, &p2.token, "p2 after a refused password change").await;
    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    expect_ok(
        call(
            &app,
            Method::PUT,
            "/api/v1/auth/password",
            &p1.token,
            Some(&change),
        )
        .await,
        204,
        "password change",
    )
    .await;
    me_refused(&app, &p2.token, "p2 after the password change").await;
    expect_error(
        refresh(&app, &p2.refresh_token).await,
        401,
        "unauthorized",
        "refresh of p2 after the password change",
    )
    .await;
    me_ok(&app, &p1.token, "p1, which changed the password").await;
    expect_error(
        app.login_raw("ann@acme.example", PASSWORD, None).await,
        401,
        "unauthorized",
        "login with the old password",
    )
    .await;
    expect_ok(
        app.login_raw("ann@acme.example", NEW_PASSWORD, None).await,
        200,
        "login with the new password",
    )
    .await;

    // An admin deactivating a user ends their sessions (both the dedicated route and PATCH).
    app.user(acme, "dora@acme.example", Role::User).await;
    let d = app.login("dora@acme.example", None).await;
    me_ok(&app, &d.token, "dora").await;
    let path = format!("/api/v1/users/{}/deactivate", d.user_id);
    let res = expect_ok(
        call(&app, Method::POST, &path, &admin.token, None).await,
        200,
        "deactivate dora",
    )
    .await;
    assert_eq!(res["active"], false);
    me_refused(&app, &d.token, "dora after deactivation").await;
    expect_error(
        refresh(&app, &d.refresh_token).await,
        401,
        "unauthorized",
        "dora's refresh after deactivation",
    )
    .await;
    expect_error(
        app.login_raw("dora@acme.example", PASSWORD, None).await,
        401,
        "unauthorized",
        "dora's login after deactivation",
    )
    .await;

    app.user(acme, "pat@acme.example", Role::User).await;
    let p = app.login("pat@acme.example", None).await;
    me_ok(&app, &p.token, "pat").await;
    let path = format!("/api/v1/users/{}", p.user_id);
    expect_ok(
        call(
            &app,
            Method::PATCH,
            &path,
            &admin.token,
            Some(&json!({"active": false})),
        )
        .await,
        200,
        "PATCH active=false",
    )
    .await;
    me_refused(&app, &p.token, "pat after PATCH active=false").await;

    // An admin resetting a user's password ends all their sessions.
    app.user(acme, "rita@acme.example", Role::User).await;
    let r = app.login("rita@acme.example", None).await;
    me_ok(&app, &r.token, "rita").await;
    let path = format!("/api/v1/users/{}/reset-password", r.user_id);
    let reset = json!({"password": NEW_PASSWORD});
    expect_ok(
        call(&app, Method::POST, &path, &admin.token, Some(&reset)).await,
        200,
        "admin resets rita's password",
    )
    .await;
    me_refused(&app, &r.token, "rita after a password reset").await;
    expect_error(
        refresh(&app, &r.refresh_token).await,
        401,
        "unauthorized",
        "rita's refresh after a password reset",
    )
    .await;

    // Role changes apply to existing tokens: the role claim of the old token is not trusted.
    app.user(acme, "second@acme.example", Role::Admin).await;
    let second = app.login("second@acme.example", None).await;
    expect_ok(
        call(&app, Method::GET, "/api/v1/users", &second.token, None).await,
        200,
        "second admin lists users",
    )
    .await;
    let path = format!("/api/v1/users/{}", second.user_id);
    expect_ok(
        call(
            &app,
            Method::PATCH,
            &path,
            &admin.token,
            Some(&json!({"role": "viewer"})),
        )
        .await,
        200,
        "demote the second admin",
    )
    .await;
    assert_eq!(
        claims_of(&second.token)["role"],
        "admin",
        "the old token says admin"
    );
    expect_error(
        call(&app, Method::GET, "/api/v1/users", &second.token, None).await,
        403,
        "forbidden",
        "demoted admin's old token on an admin route",
    )
    .await;
    assert_eq!(
        me_ok(&app, &second.token, "demoted").await["role"],
        "viewer"
    );

    app.user(acme, "vic@acme.example", Role::Viewer).await;
    let vic = app.login("vic@acme.example", None).await;
    expect_error(
        call(&app, Method::GET, "/api/v1/users", &vic.token, None).await,
        403,
        "forbidden",
        "viewer on an admin route",
    )
    .await;
    let path = format!("/api/v1/users/{}", vic.user_id);
    expect_ok(
        call(
            &app,
            Method::PATCH,
            &path,
            &admin.token,
            Some(&json!({"role": "admin"})),
        )
        .await,
        200,
        "promote vic",
    )
    .await;
    expect_ok(
        call(&app, Method::GET, "/api/v1/users", &vic.token, None).await,
        200,
        "promoted viewer's old token on an admin route",
    )
    .await;

    // A revocation written straight to the database stands for one made by another process. It
    // applies at once without a cache and only within the cache bound with one, which shows that
    // with the 60 s cache everything above relied on this process evicting its cache.
    app.user(acme, "olga@acme.example", Role::User).await;
    let o = app.login("olga@acme.example", None).await;
    me_ok(&app, &o.token, "olga (primes the cache)").await;
    {
        use pulse_db::entity::sessions::{Column, Entity};
        let done = Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(chrono::Utc::now()))
            .filter(Column::Id.eq(uuid::Uuid::parse_str(&o.session_id).unwrap()))
            .exec(app.db.system())
            .await
            .unwrap();
        assert_eq!(done.rows_affected, 1);
    }
    if cache_seconds == 0 {
        me_refused(&app, &o.token, "revoked by another process, no cache").await;
    } else {
        me_ok(
            &app,
            &o.token,
            "revoked by another process, still inside the cache bound",
        )
        .await;
    }
    expect_error(
        refresh(&app, &o.refresh_token).await,
        401,
        "unauthorized",
        "the refresh token is checked against the database, cache or not",
    )
    .await;
}

async fn revocation_without_cache(backend: Backend) {
    revocation(backend, 0).await;
}

/// With the cache at its maximum, only the in-process eviction can make revocations take effect
/// within the test.
async fn revocation_with_longest_cache(backend: Backend) {
    revocation(backend, 60).await;
}

both_backends!(revocation_uncached, revocation_without_cache);
both_backends!(revocation_cached, revocation_with_longest_cache);

// ---------------------------------------------------------------------------------------------
// Refresh
// ---------------------------------------------------------------------------------------------

/// Moves a session's end into the past, directly in the database.
async fn expire_session(app: &TestApp, session_id: &str) {
    use pulse_db::entity::sessions::{Column, Entity};
    let done = Entity::update_many()
        .col_expr(
            Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::hours(1)),
        )
        .filter(Column::Id.eq(uuid::Uuid::parse_str(session_id).unwrap()))
        .exec(app.db.system())
        .await
        .unwrap();
    assert_eq!(done.rows_affected, 1);
}

async fn refresh_rotation(backend: Backend) {
    // No session cache: the expiry written straight to the database below is seen at once.
    let app = boot(backend, &[("PULSE_SESSION_CACHE_SECONDS", "0")]).await;
    let acme = app.client("Acme").await;
    app.user(acme, "ann@acme.example", Role::User).await;
    let s0 = app.login("ann@acme.example", None).await;

    let res = refresh(&app, &s0.refresh_token).await;
    assert_eq!(res.status(), 200);
    let s1 = common::session_from(res).await;
    assert_eq!(s1.session_id, s0.session_id, "refresh keeps the session");
    assert_ne!(
        s1.refresh_token, s0.refresh_token,
        "refresh rotates the token"
    );
    me_ok(&app, &s1.token, "access token from the refresh").await;

    let res = refresh(&app, &s1.refresh_token).await;
    assert_eq!(res.status(), 200, "the new refresh token works once");
    let s2 = common::session_from(res).await;

    // Presenting the rotated token again is refused and revokes the whole session.
    expect_error(
        refresh(&app, &s1.refresh_token).await,
        401,
        "unauthorized",
        "reused refresh token",
    )
    .await;
    expect_error(
        refresh(&app, &s2.refresh_token).await,
        401,
        "unauthorized",
        "the newest refresh token after reuse was detected",
    )
    .await;
    me_refused(&app, &s2.token, "newest access token after reuse").await;
    me_refused(&app, &s0.token, "first access token after reuse").await;

    // Malformed or unknown refresh tokens are refused; a wrong secret for a live session is refused
    // without ending it (knowing a session id must not be enough to revoke it).
    let live = app.login("ann@acme.example", None).await;
    let malformed = [
        "garbage".to_string(),
        format!("{}.", live.session_id),
        format!("{}.some-secret", new_uuid()),
        format!("{}.not-the-secret", live.session_id),
    ];
    for token in &malformed {
        expect_error(
            refresh(&app, token).await,
            401,
            "unauthorized",
            &format!("refresh with {token}"),
        )
        .await;
    }
    let none = app
        .http
        .post(app.url("/api/v1/auth/refresh"))
        .send()
        .await
        .unwrap();
    expect_error(none, 401, "unauthorized", "refresh without any token").await;
    me_ok(&app, &live.token, "live session after bad refresh attempts").await;
    expect_ok(
        refresh(&app, &live.refresh_token).await,
        200,
        "live session's own refresh token",
    )
    .await;

    // An expired session: neither its access token nor its refresh token works.
    let old = app.login("ann@acme.example", None).await;
    me_ok(&app, &old.token, "before expiry").await;
    expire_session(&app, &old.session_id).await;
    me_refused(&app, &old.token, "access token of an expired session").await;
    expect_error(
        refresh(&app, &old.refresh_token).await,
        401,
        "unauthorized",
        "refresh token of an expired session",
    )
    .await;
}

both_backends!(refresh_tokens, refresh_rotation);

/// Regression: one refresh token presented by several concurrent requests works at most once (the
/// rotation is conditional on the token's generation).
mod refresh_concurrent_reuse {
    use super::*;

    async fn check(backend: Backend) {
        let app = boot(backend, &[]).await;
        let acme = app.client("Acme").await;
        app.user(acme, "ann@acme.example", Role::User).await;
        let s0 = app.login("ann@acme.example", None).await;
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let http = app.http.clone();
                let url = app.url("/api/v1/auth/refresh");
                let body = json!({ "refresh_token": s0.refresh_token });
                tokio::spawn(async move {
                    let res = http.post(url).json(&body).send().await.unwrap();
                    res.status().as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for a in attempts {
            statuses.push(a.await.unwrap());
        }
        let successes = statuses.iter().filter(|s| **s == 200).count();
        assert!(
            successes <= 1,
            "one refresh token must work once, got {statuses:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]

    async fn sqlite() {
        check(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]

    async fn postgres() {
        let Some(url) = common::postgres_database().await else {
            eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
            return;
        };
        check(Backend::Postgres(url)).await;
    }
}

/// Regression: a refresh token of any earlier generation (not only the previous one) is reuse and
/// revokes the session, as the refresh route documents.
mod refresh_stale_reuse {
    use super::*;

    async fn check(backend: Backend) {
        let app = boot(backend, &[]).await;
        let acme = app.client("Acme").await;
        app.user(acme, "ann@acme.example", Role::User).await;
        let s0 = app.login("ann@acme.example", None).await;
        let s1 = common::session_from(refresh(&app, &s0.refresh_token).await).await;
        let s2 = common::session_from(refresh(&app, &s1.refresh_token).await).await;
        expect_error(
            refresh(&app, &s0.refresh_token).await,
            401,
            "unauthorized",
            "a refresh token rotated twice",
        )
        .await;
        expect_error(
            refresh(&app, &s2.refresh_token).await,
            401,
            "unauthorized",
            "the newest refresh token after an old one was replayed",
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]

    async fn sqlite() {
        check(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]

    async fn postgres() {
        let Some(url) = common::postgres_database().await else {
            eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
            return;
        };
        check(Backend::Postgres(url)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Lockout and enumeration
// ---------------------------------------------------------------------------------------------

const ACCOUNT_WINDOW: u64 = 3600;
const ADDRESS_WINDOW: u64 = 900;

async fn account_lockout(backend: Backend) {
    // The per-address limit stays at its default (50), far above what this test spends.
    let app = boot(backend, &[("PULSE_MAX_FAILURES_PER_ACCOUNT", "5")]).await;
    let acme = app.client("Acme").await;
    app.user(acme, "victim@acme.example", Role::User).await;
    app.user(acme, "bystander@acme.example", Role::User).await;
    // The real user logged in from this browser before: it holds a trusted-device cookie.
    let victim_device = cookie_pair(
        &app.login("victim@acme.example", None).await,
        "__Host-pulse_device",
    );
    let bystander_device = cookie_pair(
        &app.login("bystander@acme.example", None).await,
        "__Host-pulse_device",
    );

    for i in 0..5 {
        expect_error(
            app.login_raw("victim@acme.example", "wrong password!", None)
                .await,
            401,
            "unauthorized",
            &format!("failure {i}"),
        )
        .await;
    }
    expect_rate_limited(
        app.login_raw("victim@acme.example", "wrong password!", None)
            .await,
        ACCOUNT_WINDOW,
        "sixth attempt",
    )
    .await;
    expect_rate_limited(
        app.login_raw("victim@acme.example", PASSWORD, None).await,
        ACCOUNT_WINDOW,
        "right password on a locked account",
    )
    .await;
    expect_rate_limited(
        app.login_raw("  VICTIM@Acme.Example", PASSWORD, None).await,
        ACCOUNT_WINDOW,
        "the same account spelled differently",
    )
    .await;

    // Another account from the same address is unaffected.
    expect_ok(
        app.login_raw("bystander@acme.example", PASSWORD, None)
            .await,
        200,
        "another account from the same address",
    )
    .await;
    // The real user, with the device cookie, still logs in.
    expect_ok(
        login_with(&app, "victim@acme.example", PASSWORD, Some(&victim_device)).await,
        200,
        "victim with the trusted-device cookie",
    )
    .await;
    // The exemption is bound to the account and not a password bypass.
    expect_error(
        login_with(
            &app,
            "victim@acme.example",
            "wrong password!",
            Some(&victim_device),
        )
        .await,
        401,
        "unauthorized",
        "trusted device with a wrong password",
    )
    .await;
    expect_rate_limited(
        login_with(
            &app,
            "victim@acme.example",
            PASSWORD,
            Some(&bystander_device),
        )
        .await,
        ACCOUNT_WINDOW,
        "another account's device cookie",
    )
    .await;
    let forged = format!("{}x", victim_device);
    expect_rate_limited(
        login_with(&app, "victim@acme.example", PASSWORD, Some(&forged)).await,
        ACCOUNT_WINDOW,
        "a forged device cookie",
    )
    .await;

    // Accounts that do not exist lock the same way, so the limit reveals nothing.
    for i in 0..5 {
        expect_error(
            app.login_raw("ghost@acme.example", "wrong password!", None)
                .await,
            401,
            "unauthorized",
            &format!("ghost failure {i}"),
        )
        .await;
    }
    expect_rate_limited(
        app.login_raw("ghost@acme.example", "wrong password!", None)
            .await,
        ACCOUNT_WINDOW,
        "unknown account after 5 failures",
    )
    .await;
}

both_backends!(lockout_per_account, account_lockout);

async fn address_limit(backend: Backend) {
    let app = boot(backend, &[("PULSE_MAX_FAILURES_PER_ADDRESS", "3")]).await;
    let acme = app.client("Acme").await;
    app.user(acme, "alice@acme.example", Role::User).await;
    let device = cookie_pair(
        &app.login("alice@acme.example", None).await,
        "__Host-pulse_device",
    );
    // Three failures on three different accounts: no account is near its limit (100).
    for i in 0..3 {
        expect_error(
            app.login_raw(&format!("nobody{i}@acme.example"), "wrong password!", None)
                .await,
            401,
            "unauthorized",
            &format!("address failure {i}"),
        )
        .await;
    }
    expect_rate_limited(
        app.login_raw("alice@acme.example", PASSWORD, None).await,
        ADDRESS_WINDOW,
        "right password from a limited address",
    )
    .await;
    expect_rate_limited(
        login_with(&app, "alice@acme.example", PASSWORD, Some(&device)).await,
        ADDRESS_WINDOW,
        "trusted device from a limited address (the device exempts the account limit only)",
    )
    .await;
    // Without PULSE_TRUST_PROXY, a forged X-Forwarded-For does not change the address.
    let spoofed = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"email": "alice@acme.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_rate_limited(spoofed, ADDRESS_WINDOW, "a forged X-Forwarded-For").await;
}

both_backends!(lockout_per_address, address_limit);

async fn no_user_enumeration(backend: Backend) {
    let app = boot(backend, &[]).await;
    let acme = app.client("Acme").await;
    app.user(acme, "alice@acme.example", Role::User).await;
    app.user(acme, "admin@acme.example", Role::Admin).await;
    app.user(acme, "gone@acme.example", Role::User).await;
    let admin = app.login("admin@acme.example", None).await;
    let gone = app.login("gone@acme.example", None).await;
    let path = format!("/api/v1/users/{}/deactivate", gone.user_id);
    expect_ok(
        call(&app, Method::POST, &path, &admin.token, None).await,
        200,
        "deactivate gone",
    )
    .await;

    let attempts: Vec<(&str, Response)> = vec![
        (
            "known account, wrong password",
            app.login_raw("alice@acme.example", "wrong password!", None)
                .await,
        ),
        (
            "unknown account",
            app.login_raw("nobody@acme.example", "wrong password!", None)
                .await,
        ),
        (
            "unknown account, the real password",
            app.login_raw("nobody@acme.example", PASSWORD, None).await,
        ),
        (
            "deactivated account, right password",
            app.login_raw("gone@acme.example", PASSWORD, None).await,
        ),
        (
            "known account, its client named, wrong password",
            app.login_raw("alice@acme.example", "wrong password!", Some("Acme"))
                .await,
        ),
        (
            "unknown account, an existing client named",
            app.login_raw("nobody@acme.example", PASSWORD, Some("Acme"))
                .await,
        ),
    ];
    let mut seen = Vec::new();
    for (name, res) in attempts {
        assert!(
            res.headers().get("set-cookie").is_none(),
            "{name}: a failed login sets no cookie"
        );
        let body = expect_error(res, 401, "unauthorized", name).await;
        seen.push((name, body["error"]["message"].clone()));
    }
    for (name, message) in &seen {
        assert_eq!(
            message, &seen[0].1,
            "{name} must be indistinguishable from {}",
            seen[0].0
        );
    }
}

both_backends!(login_enumeration, no_user_enumeration);

/// Regression: naming a client that does not exist answers 401 like any failed login (it once
/// answered 500, which also told an attacker which client names exist).
mod login_unknown_client {
    use super::*;

    async fn check(backend: Backend) {
        let app = boot(backend, &[]).await;
        let acme = app.client("Acme").await;
        app.user(acme, "alice@acme.example", Role::User).await;
        let known = app
            .login_raw("alice@acme.example", "wrong password!", Some("Acme"))
            .await;
        let known = expect_error(known, 401, "unauthorized", "existing client").await;
        let unknown = app
            .login_raw("alice@acme.example", PASSWORD, Some("No Such Client"))
            .await;
        let unknown = expect_error(unknown, 401, "unauthorized", "unknown client").await;
        assert_eq!(known["error"]["message"], unknown["error"]["message"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]

    async fn sqlite() {
        check(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]

    async fn postgres() {
        let Some(url) = common::postgres_database().await else {
            eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
            return;
        };
        check(Backend::Postgres(url)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// CSRF with cookie authentication
// ---------------------------------------------------------------------------------------------

/// Extra request headers.
type Headers<'a> = Vec<(&'a str, &'a str)>;

/// `PUT /me/preferences` authenticated by `cookie`, with extra headers.
async fn put_theme(app: &TestApp, cookie: &str, theme: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = app
        .http
        .put(app.url("/api/v1/me/preferences"))
        .header("cookie", cookie)
        .json(&json!({ "theme": theme }));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// The theme, read with the cookie (a GET needs no CSRF token).
async fn theme(app: &TestApp, cookie: &str) -> Value {
    let res = app
        .http
        .get(app.url("/api/v1/me/preferences"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    expect_ok(res, 200, "cookie GET without a CSRF token").await["theme"].clone()
}

async fn csrf(backend: Backend) {
    let app = boot(backend, &[]).await;
    let acme = app.client("Acme").await;
    app.user(acme, "ann@acme.example", Role::User).await;
    let s = app.login("ann@acme.example", None).await;
    let other = app.login("ann@acme.example", None).await;
    let origin = app.config.server.public_origin();
    let access_only = cookie_pair(&s, "__Host-pulse_access");
    assert_ne!(
        s.csrf_token, other.csrf_token,
        "CSRF tokens are per session"
    );

    // Login CSRF: a cross-site form post cannot log the browser in.
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let res = app
            .http
            .post(app.url("/api/v1/auth/login"))
            .header(name, value)
            .json(&json!({"email": "ann@acme.example", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        expect_error(
            res,
            403,
            "csrf_failed",
            &format!("login with {name}: {value}"),
        )
        .await;
    }

    let refused: Vec<(&str, String, Headers)> = vec![
        ("no token", s.cookie.clone(), vec![]),
        (
            "a wrong token",
            s.cookie.clone(),
            vec![(
                "x-csrf-token",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            )],
        ),
        (
            "another session's token",
            s.cookie.clone(),
            vec![("x-csrf-token", other.csrf_token.as_str())],
        ),
        (
            "the right header without the CSRF cookie",
            access_only.clone(),
            vec![("x-csrf-token", s.csrf_token.as_str())],
        ),
        (
            "the right token from a foreign origin",
            s.cookie.clone(),
            vec![
                ("x-csrf-token", s.csrf_token.as_str()),
                ("origin", "https://evil.example"),
            ],
        ),
        (
            "the right token from origin null",
            s.cookie.clone(),
            vec![("x-csrf-token", s.csrf_token.as_str()), ("origin", "null")],
        ),
        (
            "the right token, Sec-Fetch-Site cross-site",
            s.cookie.clone(),
            vec![
                ("x-csrf-token", s.csrf_token.as_str()),
                ("sec-fetch-site", "cross-site"),
            ],
        ),
    ];
    for (name, cookie, headers) in &refused {
        expect_error(
            put_theme(&app, cookie, "dark", headers).await,
            403,
            "csrf_failed",
            name,
        )
        .await;
    }
    assert_eq!(theme(&app, &s.cookie).await, "system", "nothing changed");

    let ok = put_theme(
        &app,
        &s.cookie,
        "dark",
        &[("x-csrf-token", s.csrf_token.as_str())],
    )
    .await;
    assert_eq!(
        expect_ok(ok, 200, "right token, no Origin").await["theme"],
        "dark"
    );
    let ok = put_theme(
        &app,
        &s.cookie,
        "light",
        &[
            ("x-csrf-token", s.csrf_token.as_str()),
            ("origin", origin.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(
        expect_ok(ok, 200, "right token, same origin").await["theme"],
        "light"
    );
    assert_eq!(theme(&app, &s.cookie).await, "light");
    // Bearer requests carry no ambient authority: no CSRF token needed.
    let bearer = call(
        &app,
        Method::PUT,
        "/api/v1/me/preferences",
        &s.token,
        Some(&json!({"theme": "dark"})),
    )
    .await;
    expect_ok(bearer, 200, "bearer PUT without a CSRF token").await;

    // Logout and a cookie-borne refresh are state changes too.
    let logout = |cookie: String, token: Option<String>| {
        let mut req = app
            .http
            .post(app.url("/api/v1/auth/logout"))
            .header("cookie", cookie);
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        req.send()
    };
    expect_error(
        logout(s.cookie.clone(), None).await.unwrap(),
        403,
        "csrf_failed",
        "cookie logout without a token",
    )
    .await;
    me_ok(&app, &s.token, "the session after a refused logout").await;

    let cookie_refresh = |cookie: String, token: Option<String>| {
        let mut req = app
            .http
            .post(app.url("/api/v1/auth/refresh"))
            .header("cookie", cookie);
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        req.send()
    };
    expect_error(
        cookie_refresh(s.cookie.clone(), None).await.unwrap(),
        403,
        "csrf_failed",
        "cookie refresh without a token",
    )
    .await;
    let res = cookie_refresh(s.cookie.clone(), Some(s.csrf_token.clone()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "cookie refresh with the token");
    let renewed = common::session_from(res).await;
    assert_eq!(renewed.session_id, s.session_id);

    expect_ok(
        logout(renewed.cookie.clone(), Some(renewed.csrf_token.clone()))
            .await
            .unwrap(),
        204,
        "cookie logout with the token",
    )
    .await;
    let after = app
        .http
        .get(app.url("/api/v1/auth/me"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    expect_error(after, 401, "unauthorized", "cookie after logout").await;
}

both_backends!(csrf_with_cookies, csrf);

// ---------------------------------------------------------------------------------------------
// Role escalation
// ---------------------------------------------------------------------------------------------

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde\0\0\0\x0cIDATx\x9cc\xf8\xcf\xc0\0\0\x03\x01\x01\0\xc9\xfe\x92\xef\0\0\0\0IEND\xaeB`\x82";

enum Body {
    None,
    Json(Value),
    Bytes(&'static [u8]),
}

/// The admin-only operations, aimed at `admin_id` (or at the caller itself for self-promotion).
fn admin_routes(admin_id: &str, caller_id: &str) -> Vec<(Method, String, Body)> {
    vec![
        (Method::GET, "/api/v1/users".into(), Body::None),
        (
            Method::POST,
            "/api/v1/users".into(),
            Body::Json(json!({
                "email": "mallory@acme.example", "name": "Mallory", "role": "admin",
                "password": "mallory's own password"
            })),
        ),
        (Method::GET, format!("/api/v1/users/{admin_id}"), Body::None),
        (
            Method::PATCH,
            format!("/api/v1/users/{caller_id}"),
            Body::Json(json!({"role": "admin"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{admin_id}"),
            Body::Json(json!({"role": "viewer", "active": false})),
        ),
        (
            Method::POST,
            format!("/api/v1/users/{admin_id}/deactivate"),
            Body::None,
        ),
        (
            Method::POST,
            format!("/api/v1/users/{admin_id}/reset-password"),
            Body::Json(json!({"password": "attacker chosen password"})),
        ),
        (Method::GET, "/api/v1/audit".into(), Body::None),
        (
            Method::PUT,
            "/api/v1/settings".into(),
            Body::Json(json!({"display_name": "Pwned", "color_schema": "custom"})),
        ),
        (
            Method::PUT,
            "/api/v1/settings/logo".into(),
            Body::Bytes(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
        ),
        (Method::DELETE, "/api/v1/settings/logo".into(), Body::None),
    ]
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Body,
) -> Response {
    let mut req = app.http.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Bytes(b) => req
            .header("content-type", "application/octet-stream")
            .body(b.to_vec()),
    };
    req.send().await.unwrap()
}

async fn get_json(app: &TestApp, path: &str, token: &str) -> Value {
    expect_ok(call(app, Method::GET, path, token, None).await, 200, path).await
}

async fn role_escalation(backend: Backend) {
    let app = boot(backend, &[]).await;
    let acme = app.client("Acme").await;
    let admin_id = app
        .user(acme, "admin@acme.example", Role::Admin)
        .await
        .to_string();
    app.user(acme, "ulla@acme.example", Role::User).await;
    app.user(acme, "vera@acme.example", Role::Viewer).await;
    let admin = app.login("admin@acme.example", None).await;
    let user = app.login("ulla@acme.example", None).await;
    let viewer = app.login("vera@acme.example", None).await;

    // State to compare against afterwards: a logo, the settings, the users, the audit log.
    let logo = app
        .bearer(Method::PUT, "/api/v1/settings/logo", &admin.token)
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    expect_ok(logo, 200, "admin uploads a logo").await;
    let settings_before = get_json(&app, "/api/v1/settings", &admin.token).await;
    let users_before = get_json(&app, "/api/v1/users", &admin.token).await;
    let audit_before = get_json(&app, "/api/v1/audit?limit=200", &admin.token).await;

    for (who, session) in [("user", &user), ("viewer", &viewer)] {
        for (method, path, body) in admin_routes(&admin_id, &session.user_id) {
            let what = format!("{who}: {method} {path}");
            let res = send(&app, method.clone(), &path, Some(&session.token), &body).await;
            expect_error(res, 403, "forbidden", &what).await;
            let res = send(&app, method, &path, None, &body).await;
            expect_error(res, 401, "unauthorized", &format!("anonymous: {what}")).await;
        }
    }
    // Member-only writes: a viewer is read-only, a user may edit their own profile.
    let rename = json!({"name": "Renamed"});
    expect_error(
        call(
            &app,
            Method::PATCH,
            "/api/v1/me",
            &viewer.token,
            Some(&rename),
        )
        .await,
        403,
        "forbidden",
        "viewer: PATCH /me",
    )
    .await;
    expect_ok(
        call(
            &app,
            Method::PATCH,
            "/api/v1/me",
            &user.token,
            Some(&rename),
        )
        .await,
        200,
        "user: PATCH /me",
    )
    .await;

    // Nothing the refused requests aimed at changed.
    let users_after = get_json(&app, "/api/v1/users", &admin.token).await;
    assert_eq!(
        users_after["total"], 3,
        "no user was created: {users_after}"
    );
    for u in users_after["items"].as_array().unwrap() {
        let before = users_before["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == u["id"])
            .expect("the same users");
        assert_eq!(u["role"], before["role"], "role of {}", u["email"]);
        assert_eq!(u["active"], before["active"], "active of {}", u["email"]);
    }
    assert_eq!(
        get_json(&app, "/api/v1/settings", &admin.token).await,
        settings_before,
        "settings unchanged"
    );
    let stored = app
        .bearer(Method::GET, "/api/v1/settings/logo", &admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    assert_eq!(
        stored.bytes().await.unwrap().as_ref(),
        PNG,
        "logo unchanged"
    );
    me_ok(&app, &admin.token, "the admin's session survived").await;
    expect_ok(
        app.login_raw("admin@acme.example", PASSWORD, None).await,
        200,
        "the admin's password was not reset",
    )
    .await;
    assert_eq!(me_ok(&app, &viewer.token, "viewer").await["role"], "viewer");
    assert_eq!(me_ok(&app, &user.token, "user").await["role"], "user");
    // The only new audit entry is the admin's own login just above.
    let audit_after = get_json(&app, "/api/v1/audit?limit=200", &admin.token).await;
    let new_actions: Vec<&str> = audit_after["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            !audit_before["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["id"] == e["id"])
        })
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(new_actions, ["auth.login"], "{audit_after}");
}

both_backends!(role_escalation_refused, role_escalation);

// ---------------------------------------------------------------------------------------------
// Personal API tokens
// ---------------------------------------------------------------------------------------------

async fn create_token(app: &TestApp, session: &Session, body: Value) -> Value {
    expect_ok(
        call(
            app,
            Method::POST,
            "/api/v1/auth/tokens",
            &session.token,
            Some(&body),
        )
        .await,
        201,
        "create token",
    )
    .await
}

async fn api_tokens(backend: Backend) {
    let app = boot(backend, &[]).await;
    let acme = app.client("Acme").await;
    app.user(acme, "admin@acme.example", Role::Admin).await;
    app.user(acme, "ulla@acme.example", Role::User).await;
    let admin = app.login("admin@acme.example", None).await;
    let user = app.login("ulla@acme.example", None).await;

    let created = create_token(&app, &user, json!({"name": "ci"})).await;
    let secret = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("pulse_pat_"), "{created}");
    assert_eq!(created["role"], "user");

    // It works as a bearer credential, without a session.
    let who = me_ok(&app, &secret, "API token").await;
    assert_eq!(who["user"]["email"], "ulla@acme.example");
    assert_eq!(who["role"], "user");
    assert!(who["session_id"].is_null());

    // Shown once: the listing has the token but never its secret.
    let listed = get_json(&app, "/api/v1/auth/tokens", &user.token).await;
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .expect("the token is listed");
    assert_eq!(entry["name"], "ci");
    assert!(entry.get("token").is_none(), "{entry}");
    let secret_part = secret.rsplit('_').next().unwrap();
    assert!(!listed.to_string().contains(secret_part), "{listed}");

    // A user's token is refused on admin routes; it cannot mint tokens; a user cannot mint an
    // admin token; a wrong secret for a real token id is refused.
    expect_error(
        call(&app, Method::GET, "/api/v1/users", &secret, None).await,
        403,
        "forbidden",
        "user's API token on an admin route",
    )
    .await;
    expect_error(
        call(
            &app,
            Method::POST,
            "/api/v1/auth/tokens",
            &secret,
            Some(&json!({"name": "x"})),
        )
        .await,
        403,
        "forbidden",
        "an API token creating a token",
    )
    .await;
    expect_error(
        call(
            &app,
            Method::POST,
            "/api/v1/auth/tokens",
            &user.token,
            Some(&json!({"name": "up", "role": "admin"})),
        )
        .await,
        422,
        "validation_failed",
        "a user asking for an admin token",
    )
    .await;
    expect_error(
        call(&app, Method::POST, "/api/v1/auth/logout", &secret, None).await,
        400,
        "not_a_session",
        "logout with an API token",
    )
    .await;
    expect_error(
        call(
            &app,
            Method::POST,
            "/api/v1/auth/tokens",
            &user.token,
            Some(&json!({"name": "zero", "expires_in_days": 0})),
        )
        .await,
        422,
        "validation_failed",
        "a token expiring in 0 days",
    )
    .await;
    let wrong_secret = format!("{}x", &secret[..secret.len() - 1]);
    me_refused(&app, &wrong_secret, "right token id, wrong secret").await;
    me_refused(&app, "pulse_pat_garbage", "malformed API token").await;

    // An admin's token created with the viewer role acts as a viewer.
    let capped = create_token(&app, &admin, json!({"name": "ro", "role": "viewer"})).await;
    let capped = capped["token"].as_str().unwrap();
    assert_eq!(me_ok(&app, capped, "capped token").await["role"], "viewer");
    expect_error(
        call(&app, Method::GET, "/api/v1/users", capped, None).await,
        403,
        "forbidden",
        "admin's viewer-role token on an admin route",
    )
    .await;

    // Expired: refused (the expiry is moved into the past directly in the database).
    let expiring = create_token(&app, &user, json!({"name": "short", "expires_in_days": 1})).await;
    assert!(expiring["expires_at"].is_string(), "{expiring}");
    let expiring_secret = expiring["token"].as_str().unwrap();
    me_ok(&app, expiring_secret, "token before expiry").await;
    {
        use pulse_db::entity::api_tokens::{Column, Entity};
        let id = uuid::Uuid::parse_str(expiring["id"].as_str().unwrap()).unwrap();
        let done = Entity::update_many()
            .col_expr(
                Column::ExpiresAt,
                Expr::value(Some(chrono::Utc::now() - chrono::Duration::minutes(1))),
            )
            .filter(Column::Id.eq(id))
            .exec(app.db.system())
            .await
            .unwrap();
        assert_eq!(done.rows_affected, 1);
    }
    me_refused(&app, expiring_secret, "expired API token").await;

    // Revoked: refused, and gone from the listing.
    let path = format!("/api/v1/auth/tokens/{id}");
    expect_ok(
        call(&app, Method::DELETE, &path, &user.token, None).await,
        204,
        "revoke the token",
    )
    .await;
    me_refused(&app, &secret, "revoked API token").await;
    let listed = get_json(&app, "/api/v1/auth/tokens", &user.token).await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != id.as_str()),
        "{listed}"
    );

    // The user's current role caps a token: demoted to viewer, a user-role token is read-only.
    let second = create_token(&app, &user, json!({"name": "second"})).await;
    let second = second["token"].as_str().unwrap().to_string();
    let rename = json!({"name": "Ulla"});
    expect_ok(
        call(&app, Method::PATCH, "/api/v1/me", &second, Some(&rename)).await,
        200,
        "user token on a member route",
    )
    .await;
    let user_path = format!("/api/v1/users/{}", user.user_id);
    expect_ok(
        call(
            &app,
            Method::PATCH,
            &user_path,
            &admin.token,
            Some(&json!({"role": "viewer"})),
        )
        .await,
        200,
        "demote ulla",
    )
    .await;
    expect_error(
        call(&app, Method::PATCH, "/api/v1/me", &second, Some(&rename)).await,
        403,
        "forbidden",
        "user-role token of a demoted user on a member route",
    )
    .await;

    // A deactivated user's token is refused, and stays refused after reactivation (deactivation
    // revoked it).
    let deact = format!("/api/v1/users/{}/deactivate", user.user_id);
    expect_ok(
        call(&app, Method::POST, &deact, &admin.token, None).await,
        200,
        "deactivate ulla",
    )
    .await;
    me_refused(&app, &second, "token of a deactivated user").await;
    expect_ok(
        call(
            &app,
            Method::PATCH,
            &user_path,
            &admin.token,
            Some(&json!({"active": true})),
        )
        .await,
        200,
        "reactivate ulla",
    )
    .await;
    me_refused(&app, &second, "token revoked by the deactivation").await;
}

both_backends!(personal_api_tokens, api_tokens);
