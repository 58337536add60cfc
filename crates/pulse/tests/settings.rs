//! The client settings API (`/api/v1/settings`, `/api/v1/settings/logo`) over real HTTP, on SQLite
//! and (when `PULSE_TEST_DATABASE_URL` is set) PostgreSQL: defaults, updates and their validation,
//! logo upload with content sniffing and size limits, the audit trail, and per-client separation.

mod common;

use std::collections::BTreeMap;

use common::{expect_error, expect_ok, Backend, Session, TestApp};
use pulse_core::Role;
use reqwest::{Method, Response};
use serde_json::{json, Value};

/// A real 1x1 RGB PNG (signature, IHDR, IDAT, IEND with valid CRCs).
const PNG: [u8; 69] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x00, 0x03, 0x01, 0x01, 0x00, 0xc9, 0xfe, 0x92, 0xef, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A real 8x8 grey baseline JFIF JPEG (SOI, APP0, DQT, SOF0, DHT, DHT, SOS, scan, EOI).
const JPEG: [u8; 159] = [
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x08,
    0x00, 0x08, 0x01, 0x01, 0x11, 0x00, 0xff, 0xc4, 0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xc4, 0x00, 0x14,
    0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0x3f, 0xff, 0xd9,
];

/// An SVG with an XML declaration and a comment before the root element.
const SVG: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<!-- Acme logo -->
<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">
  <rect width="16" height="16" fill="#2862EB"/>
</svg>
"##;

/// Pulse's default palette.
const DEFAULT_COLORS: [(&str, &str); 5] = [
    ("color1", "#2862EB"),
    ("color2", "#763DED"),
    ("color3", "#059669"),
    ("color4", "#0EA5E9"),
    ("color5", "#F59E0B"),
];

const MIB: usize = 1024 * 1024;

fn default_colors() -> Value {
    json!(DEFAULT_COLORS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<BTreeMap<_, _>>())
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn get_settings(app: &TestApp, who: &Session) -> Value {
    let res = app
        .bearer(Method::GET, "/api/v1/settings", &who.token)
        .send()
        .await
        .unwrap();
    expect_ok(res, 200, "GET /settings").await
}

async fn put_settings(app: &TestApp, who: &Session, body: Value) -> Response {
    app.bearer(Method::PUT, "/api/v1/settings", &who.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `PUT /settings/logo` with `bytes`, declared as `content_type` (none when `None`).
async fn put_logo(
    app: &TestApp,
    who: &Session,
    bytes: Vec<u8>,
    content_type: Option<&str>,
) -> Response {
    let mut req = app
        .bearer(Method::PUT, "/api/v1/settings/logo", &who.token)
        .body(bytes);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.send().await.unwrap()
}

async fn get_logo(app: &TestApp, who: &Session) -> Response {
    app.bearer(Method::GET, "/api/v1/settings/logo", &who.token)
        .send()
        .await
        .unwrap()
}

/// Uploads a logo, checks the sniffed type in the answer, then fetches it back and checks bytes,
/// `Content-Type` and the sandboxing headers. Returns the response headers of the fetch.
async fn upload_and_fetch(
    app: &TestApp,
    admin: &Session,
    reader: &Session,
    bytes: &[u8],
    declared: Option<&str>,
    sniffed: &str,
) -> reqwest::header::HeaderMap {
    let what = format!("{sniffed} declared as {declared:?}");
    let saved = expect_ok(
        put_logo(app, admin, bytes.to_vec(), declared).await,
        200,
        &what,
    )
    .await;
    assert_eq!(saved["logo"]["mime"], sniffed, "{what}: {saved}");
    assert_eq!(saved["logo"]["size"], bytes.len(), "{what}");
    assert_eq!(saved["logo"]["url"], "/api/v1/settings/logo", "{what}");
    let res = get_logo(app, reader).await;
    assert_eq!(res.status(), 200, "{what}");
    let headers = res.headers().clone();
    assert_eq!(headers["content-type"], sniffed, "{what}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    let fetched = res.bytes().await.unwrap();
    assert!(
        fetched.as_ref() == bytes,
        "{what}: the stored bytes come back unchanged"
    );
    headers
}

/// The client's audit entries whose action starts with `settings.`, oldest first.
async fn settings_audit(app: &TestApp, admin: &Session) -> Vec<Value> {
    let res = app
        .bearer(
            Method::GET,
            "/api/v1/audit?action=settings.&limit=200",
            &admin.token,
        )
        .send()
        .await
        .unwrap();
    let page = expect_ok(res, 200, "GET /audit").await;
    let mut items = page["items"].as_array().unwrap().clone();
    items.reverse();
    items
}

/// Boots a server with one client, an admin and a viewer, both logged in.
async fn setup(backend: Backend, client_name: &str) -> (TestApp, Session, Session) {
    let app = common::boot(backend).await;
    let client = app.client(client_name).await;
    app.user(client, "admin@acme.example", Role::Admin).await;
    app.user(client, "viewer@acme.example", Role::Viewer).await;
    let admin = app.login("admin@acme.example", None).await;
    let viewer = app.login("viewer@acme.example", None).await;
    (app, admin, viewer)
}

// ---------------------------------------------------------------------------------------------
// Defaults, updates, validation
// ---------------------------------------------------------------------------------------------

async fn defaults_and_updates(backend: Backend) {
    let (app, admin, viewer) = setup(backend, "Acme Corporation").await;

    let defaults = get_settings(&app, &viewer).await;
    assert_eq!(defaults["display_name"], "Acme Corporation", "{defaults}");
    assert_eq!(defaults["color_schema"], "default");
    assert_eq!(defaults["default_colors"], default_colors());
    assert_eq!(defaults["custom_colors"], json!({}));
    assert_eq!(defaults["colors"], default_colors());
    assert!(defaults["logo"].is_null(), "{defaults}");

    // A full update; the name is trimmed and the effective palette overlays the custom colours.
    let update = json!({
        "display_name": "  Acme Analytics  ",
        "color_schema": "custom",
        "custom_colors": {"color1": "#112233", "color3": "#a1B2c3"}
    });
    let saved = expect_ok(put_settings(&app, &admin, update).await, 200, "update").await;
    assert_eq!(saved["display_name"], "Acme Analytics");
    assert_eq!(saved["color_schema"], "custom");
    assert_eq!(
        saved["custom_colors"],
        json!({"color1": "#112233", "color3": "#a1B2c3"})
    );
    let mut expected = default_colors();
    expected["color1"] = json!("#112233");
    expected["color3"] = json!("#a1B2c3");
    assert_eq!(saved["colors"], expected);
    assert_eq!(saved["default_colors"], default_colors());
    assert_eq!(
        get_settings(&app, &viewer).await,
        saved,
        "a viewer sees the update"
    );

    // Fields left out stay as they are.
    let renamed = expect_ok(
        put_settings(&app, &admin, json!({"display_name": "Acme"})).await,
        200,
        "rename only",
    )
    .await;
    assert_eq!(renamed["display_name"], "Acme");
    assert_eq!(renamed["color_schema"], "custom");
    assert_eq!(renamed["colors"], expected);
    // Back to the default schema: the custom palette is kept but no longer in effect.
    let reverted = expect_ok(
        put_settings(&app, &admin, json!({"color_schema": "default"})).await,
        200,
        "default schema",
    )
    .await;
    assert_eq!(reverted["colors"], default_colors());
    assert_eq!(reverted["custom_colors"]["color1"], "#112233");
    let max_name = "N".repeat(120);
    let longest = expect_ok(
        put_settings(&app, &admin, json!({"display_name": max_name})).await,
        200,
        "a 120-character name",
    )
    .await;
    assert_eq!(longest["display_name"], max_name);
    let good = expect_ok(
        put_settings(&app, &admin, json!({"display_name": "Acme"})).await,
        200,
        "rename back",
    )
    .await;

    // Every invalid field is reported at once, in `details`.
    let invalid = json!({
        "display_name": "   ",
        "color_schema": "neon",
        "custom_colors": {"color1": "#12345", "color2": "red", "color9": "#123456"}
    });
    let body = expect_error(
        put_settings(&app, &admin, invalid).await,
        422,
        "validation_failed",
        "invalid update",
    )
    .await;
    let details = body["error"]["details"].as_array().unwrap();
    let fields: Vec<&str> = details
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "display_name",
            "color_schema",
            "custom_colors.color1",
            "custom_colors.color2",
            "custom_colors.color9"
        ],
        "{body}"
    );
    assert!(
        details
            .iter()
            .all(|d| !d["message"].as_str().unwrap().is_empty()),
        "{body}"
    );
    let too_long = expect_error(
        put_settings(&app, &admin, json!({"display_name": "N".repeat(121)})).await,
        422,
        "validation_failed",
        "a 121-character name",
    )
    .await;
    assert_eq!(too_long["error"]["details"][0]["field"], "display_name");
    let bad_digit = json!({"custom_colors": {"color2": "#abcdeg"}});
    let bad_hex = expect_error(
        put_settings(&app, &admin, bad_digit).await,
        422,
        "validation_failed",
        "a non-hex digit",
    )
    .await;
    assert_eq!(
        bad_hex["error"]["details"][0]["field"],
        "custom_colors.color2"
    );
    expect_error(
        put_settings(
            &app,
            &admin,
            json!({"logo_url": "https://evil.example/x.png"}),
        )
        .await,
        400,
        "invalid_body",
        "an unknown field",
    )
    .await;
    // Nothing was written: even the timestamp is the same.
    assert_eq!(
        get_settings(&app, &viewer).await,
        good,
        "refused updates changed nothing"
    );

    // Exactly the successful updates are audited, by the admin.
    let audit = settings_audit(&app, &admin).await;
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["settings.update"; 5], "{audit:#?}");
    assert!(audit
        .iter()
        .all(|e| e["actor_email"] == "admin@acme.example"));
}

both_backends!(settings_defaults_and_updates, defaults_and_updates);

// ---------------------------------------------------------------------------------------------
// Logo
// ---------------------------------------------------------------------------------------------

async fn logo(backend: Backend) {
    let (app, admin, viewer) = setup(backend, "Acme").await;
    expect_error(
        get_logo(&app, &viewer).await,
        404,
        "not_found",
        "no logo yet",
    )
    .await;

    // The type is judged by content, whatever the request declares.
    upload_and_fetch(&app, &admin, &viewer, &PNG, None, "image/png").await;
    upload_and_fetch(
        &app,
        &admin,
        &viewer,
        &JPEG,
        Some("image/png"),
        "image/jpeg",
    )
    .await;

    // Not PNG, JPEG or SVG, whatever the declared type: refused, and the logo stays as it was.
    // A real 1x1 GIF.
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\
                \x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
        .to_vec();
    let refused: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a GIF declared as PNG", gif, "image/png"),
        (
            "HTML declared as PNG",
            b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
                .to_vec(),
            "image/png",
        ),
        (
            "HTML wrapping an SVG declared as SVG",
            b"<html><svg xmlns=\"http://www.w3.org/2000/svg\"></svg></html>".to_vec(),
            "image/svg+xml",
        ),
        (
            "an SVG with an internal DTD subset (entity expansion)",
            b"<!DOCTYPE svg [<!ENTITY a \"aaaaaaaaaa\">]><svg>&a;</svg>".to_vec(),
            "image/svg+xml",
        ),
        ("an empty body", Vec::new(), "image/png"),
    ];
    for (name, bytes, declared) in refused {
        expect_error(
            put_logo(&app, &admin, bytes, Some(declared)).await,
            415,
            "unsupported_media_type",
            name,
        )
        .await;
    }
    let still = get_logo(&app, &viewer).await;
    assert_eq!(still.headers()["content-type"], "image/jpeg");
    assert!(
        still.bytes().await.unwrap().as_ref() == JPEG,
        "refused uploads changed nothing"
    );

    // Size: exactly 1 MiB is accepted; one byte more, or 1.5 MiB (both under the 2 MiB request
    // limit), answer 413 from the handler; 3 MiB is stopped by the global body limit.
    let mut exactly = PNG.to_vec();
    exactly.resize(MIB, 0);
    upload_and_fetch(
        &app,
        &admin,
        &viewer,
        &exactly,
        Some("image/png"),
        "image/png",
    )
    .await;
    for size in [MIB + 1, MIB + MIB / 2] {
        let mut big = PNG.to_vec();
        big.resize(size, 0);
        expect_error(
            put_logo(&app, &admin, big, Some("image/png")).await,
            413,
            "payload_too_large",
            &format!("a {size}-byte logo"),
        )
        .await;
    }
    // Over the global limit the status is right; the body is not the JSON error shape (a product
    // bug reproduced by `oversized_body_error_shape` below), so only the status is asserted here.
    let res = common::announce_oversized(
        &app,
        "PUT",
        "/api/v1/settings/logo",
        &admin.token,
        "image/png",
        3 * MIB,
    )
    .await;
    assert_eq!(res.status, 413, "a 3 MiB logo");
    let still = get_logo(&app, &viewer).await;
    assert_eq!(
        still.bytes().await.unwrap().len(),
        MIB,
        "oversized uploads changed nothing"
    );

    // An SVG is served under a policy that forbids scripts and any loading.
    let headers = upload_and_fetch(
        &app,
        &admin,
        &viewer,
        SVG.as_bytes(),
        Some("text/plain"),
        "image/svg+xml",
    )
    .await;
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("sandbox"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("script-src"),
        "no script source is allowed: {csp}"
    );
    assert_eq!(
        get_settings(&app, &viewer).await["logo"]["mime"],
        "image/svg+xml"
    );

    // Removal.
    let res = app
        .bearer(Method::DELETE, "/api/v1/settings/logo", &admin.token)
        .send()
        .await
        .unwrap();
    expect_ok(res, 204, "DELETE /settings/logo").await;
    expect_error(
        get_logo(&app, &viewer).await,
        404,
        "not_found",
        "logo after removal",
    )
    .await;
    assert!(get_settings(&app, &viewer).await["logo"].is_null());

    // The audit log holds one entry per accepted upload (with the sniffed type) and the removal.
    let audit = settings_audit(&app, &admin).await;
    let entries: Vec<(&str, Option<&str>)> = audit
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str()))
        .collect();
    assert_eq!(
        entries,
        [
            ("settings.logo_upload", Some("image/png")),
            ("settings.logo_upload", Some("image/jpeg")),
            ("settings.logo_upload", Some("image/png")),
            ("settings.logo_upload", Some("image/svg+xml")),
            ("settings.logo_delete", None),
        ],
        "{audit:#?}"
    );
    assert!(audit
        .iter()
        .all(|e| e["actor_email"] == "admin@acme.example"));
}

both_backends!(settings_logo, logo);

// ---------------------------------------------------------------------------------------------
// Per-client settings
// ---------------------------------------------------------------------------------------------

async fn per_client(backend: Backend) {
    let (app, admin_a, viewer_a) = setup(backend, "Acme").await;
    let beta = app.client("Beta Inc").await;
    app.user(beta, "admin@beta.example", Role::Admin).await;
    let admin_b = app.login("admin@beta.example", None).await;

    let update = json!({
        "display_name": "Acme Analytics",
        "color_schema": "custom",
        "custom_colors": {"color1": "#000000"}
    });
    let a_settings = expect_ok(
        put_settings(&app, &admin_a, update).await,
        200,
        "A's update",
    )
    .await;
    expect_ok(
        put_logo(&app, &admin_a, PNG.to_vec(), Some("image/png")).await,
        200,
        "A's logo",
    )
    .await;

    // B sees its own defaults, named after B, with no logo.
    let b_settings = get_settings(&app, &admin_b).await;
    assert_eq!(b_settings["display_name"], "Beta Inc", "{b_settings}");
    assert_eq!(b_settings["color_schema"], "default");
    assert_eq!(b_settings["custom_colors"], json!({}));
    assert_eq!(b_settings["colors"], default_colors());
    assert!(b_settings["logo"].is_null(), "{b_settings}");
    expect_error(
        get_logo(&app, &admin_b).await,
        404,
        "not_found",
        "B fetching the logo",
    )
    .await;
    assert!(
        settings_audit(&app, &admin_b).await.is_empty(),
        "B's audit log holds none of A's entries"
    );

    // B's changes stay in B.
    let b_update = json!({"display_name": "Beta", "custom_colors": {"color2": "#FFFFFF"}});
    expect_ok(
        put_settings(&app, &admin_b, b_update).await,
        200,
        "B's update",
    )
    .await;
    expect_ok(
        put_logo(&app, &admin_b, JPEG.to_vec(), None).await,
        200,
        "B's logo",
    )
    .await;
    let a_after = get_settings(&app, &viewer_a).await;
    assert_eq!(a_after["display_name"], "Acme Analytics");
    assert_eq!(a_after["custom_colors"], a_settings["custom_colors"]);
    assert_eq!(a_after["logo"]["mime"], "image/png");
    let a_logo = get_logo(&app, &viewer_a).await;
    assert!(
        a_logo.bytes().await.unwrap().as_ref() == PNG,
        "A's logo is A's"
    );
    let b_after = get_settings(&app, &admin_b).await;
    assert_eq!(b_after["display_name"], "Beta");
    assert_eq!(b_after["logo"]["mime"], "image/jpeg");
    let a_actions: Vec<Value> = settings_audit(&app, &admin_a)
        .await
        .into_iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        a_actions,
        [json!("settings.update"), json!("settings.logo_upload")],
        "A's audit log holds none of B's entries"
    );
}

both_backends!(settings_per_client, per_client);

/// Regression: a body over the global limit (`PULSE_BODY_LIMIT_BYTES`, 2 MiB) gets the JSON
/// error shape, not the body-limit layer's plain text.
mod oversized_body_error_shape {
    use super::*;

    async fn check(backend: Backend) {
        let (app, admin, _) = setup(backend, "Acme").await;
        let res = common::announce_oversized(
            &app,
            "PUT",
            "/api/v1/settings/logo",
            &admin.token,
            "image/png",
            3 * MIB,
        )
        .await;
        assert_eq!(res.status, 413, "a 3 MiB logo");
        assert_eq!(
            res.header("content-type"),
            Some("application/json"),
            "{}",
            res.body
        );
        let body: serde_json::Value = serde_json::from_str(&res.body).expect("a JSON body");
        assert_eq!(body["error"]["code"], "payload_too_large");
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
