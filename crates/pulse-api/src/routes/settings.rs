//! `/settings`: the client's branding (display name, colours, logo). Admins write, members read.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pulse_core::{Error, FieldError, Result};
use pulse_db::repo::{audit, settings};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::entry;
use crate::auth::{Admin, Viewer};
use crate::extract::Json;
use crate::state::AppState;

/// Largest accepted logo.
pub const MAX_LOGO_BYTES: usize = 1024 * 1024;

/// The colour tokens a client may override, with Pulse's defaults.
pub const DEFAULT_COLORS: [(&str, &str); 5] = [
    ("color1", "#2862EB"),
    ("color2", "#763DED"),
    ("color3", "#059669"),
    ("color4", "#0EA5E9"),
    ("color5", "#F59E0B"),
];

/// The `/settings` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, update_settings))
        .routes(routes!(get_logo, put_logo, delete_logo))
}

/// The client's logo, when one is set.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogoInfo {
    /// `image/png`, `image/jpeg` or `image/svg+xml`.
    pub mime: String,
    /// Size in bytes.
    pub size: usize,
    /// Where to fetch it (relative to the API base).
    pub url: String,
}

/// The client's settings as every member sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    /// Name shown in the app's header.
    pub display_name: String,
    /// `default` or `custom`: which palette the app uses.
    pub color_schema: String,
    /// Pulse's palette.
    pub default_colors: BTreeMap<String, String>,
    /// The client's own palette (tokens left out fall back to the defaults).
    pub custom_colors: BTreeMap<String, String>,
    /// The palette in effect: defaults overlaid with the custom colours when the schema is `custom`.
    pub colors: BTreeMap<String, String>,
    /// The logo, if any.
    pub logo: Option<LogoInfo>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn default_colors() -> BTreeMap<String, String> {
    DEFAULT_COLORS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl From<pulse_db::entity::client_settings::Model> for SettingsView {
    fn from(m: pulse_db::entity::client_settings::Model) -> Self {
        let custom: BTreeMap<String, String> = m
            .custom_colors
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let mut colors = default_colors();
        if m.color_schema == "custom" {
            for (k, v) in &custom {
                colors.insert(k.clone(), v.clone());
            }
        }
        SettingsView {
            display_name: m.display_name,
            color_schema: m.color_schema,
            default_colors: default_colors(),
            custom_colors: custom,
            colors,
            logo: match (m.logo, m.logo_mime) {
                (Some(bytes), Some(mime)) => Some(LogoInfo {
                    mime,
                    size: bytes.len(),
                    url: "/api/v1/settings/logo".into(),
                }),
                _ => None,
            },
            updated_at: m.updated_at,
        }
    }
}

/// The client's settings.
#[utoipa::path(get, path = "/settings", tag = "settings",
    responses((status = 200, body = SettingsView), (status = 401, body = pulse_core::ErrorBody)))]
async fn get_settings(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
) -> Result<axum::Json<SettingsView>> {
    let tx = state.db().tenant_read(ctx.client).await?;
    let found = settings::get(&tx).await?;
    tx.commit().await?;
    Ok(axum::Json(found.into()))
}

/// Changes to the client's settings; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    /// Name shown in the app's header (1 to 120 characters).
    pub display_name: Option<String>,
    /// `default` or `custom`.
    pub color_schema: Option<String>,
    /// Token (`color1`..`color5`) to `#RRGGBB`; replaces the whole custom palette.
    pub custom_colors: Option<BTreeMap<String, String>>,
}

/// Checks an update and returns every problem at once.
pub fn validate_update(req: &UpdateSettings) -> Result<()> {
    let mut problems = Vec::new();
    if let Some(name) = &req.display_name {
        let len = name.trim().chars().count();
        if len == 0 || len > 120 {
            problems.push(FieldError::new(
                "display_name",
                "must be 1 to 120 characters",
            ));
        }
    }
    if let Some(schema) = &req.color_schema {
        if !matches!(schema.as_str(), "default" | "custom") {
            problems.push(FieldError::new("color_schema", "must be default or custom"));
        }
    }
    if let Some(colors) = &req.custom_colors {
        for (token, value) in colors {
            if !DEFAULT_COLORS.iter().any(|(k, _)| k == token) {
                problems.push(FieldError::new(
                    format!("custom_colors.{token}"),
                    "unknown colour token (expected color1 to color5)",
                ));
            } else if !is_hex_color(value) {
                problems.push(FieldError::new(
                    format!("custom_colors.{token}"),
                    "must be a #RRGGBB colour",
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(problems))
    }
}

fn is_hex_color(value: &str) -> bool {
    value.len() == 7 && value.starts_with('#') && value[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Updates the client's settings (admin).
#[utoipa::path(put, path = "/settings", tag = "settings", request_body = UpdateSettings,
    responses((status = 200, body = SettingsView), (status = 403, body = pulse_core::ErrorBody),
        (status = 422, body = pulse_core::ErrorBody)))]
async fn update_settings(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Json(req): Json<UpdateSettings>,
) -> Result<axum::Json<SettingsView>> {
    validate_update(&req)?;
    let colors = match req.custom_colors {
        Some(c) => Some(Some(serde_json::to_value(c).map_err(Error::internal)?)),
        None => None,
    };
    let tx = state.db().tenant(ctx.client).await?;
    let saved = settings::update(&tx, req.display_name, req.color_schema, colors).await?;
    audit::record_in(&tx, entry(&ctx, "settings.update", None)).await?;
    tx.commit().await?;
    Ok(axum::Json(saved.into()))
}

/// What an uploaded file really is, judged by its bytes (the declared type is ignored).
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(PNG) {
        return Some("image/png");
    }
    if bytes.len() > 3 && bytes[..3] == [0xFF, 0xD8, 0xFF] {
        return Some("image/jpeg");
    }
    if is_svg(bytes) {
        return Some("image/svg+xml");
    }
    None
}

/// An SVG is UTF-8 text whose first element (after an optional BOM, XML declaration, comments and
/// doctype) is `<svg`.
fn is_svg(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("<?") {
            let Some(end) = after.find("?>") else {
                return false;
            };
            rest = after[end + 2..].trim_start();
        } else if let Some(after) = rest.strip_prefix("<!--") {
            let Some(end) = after.find("-->") else {
                return false;
            };
            rest = after[end + 3..].trim_start();
        } else if let Some(after) = rest.strip_prefix("<!DOCTYPE") {
            // An internal subset can declare entities; refuse it rather than reason about it.
            let Some(end) = after.find('>') else {
                return false;
            };
            if after[..end].contains('[') {
                return false;
            }
            rest = after[end + 1..].trim_start();
        } else {
            break;
        }
    }
    rest.strip_prefix("<svg")
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
}

/// The client's logo. SVGs are served under a sandboxing policy so they cannot run script.
#[utoipa::path(get, path = "/settings/logo", tag = "settings",
    responses((status = 200, description = "The logo image", content_type = "image/*"),
        (status = 404, body = pulse_core::ErrorBody)))]
async fn get_logo(State(state): State<AppState>, Viewer(ctx): Viewer) -> Result<Response> {
    let tx = state.db().tenant_read(ctx.client).await?;
    let found = settings::get(&tx).await?;
    tx.commit().await?;
    let (Some(bytes), Some(mime)) = (found.logo, found.logo_mime) else {
        return Err(Error::NotFound);
    };
    let mut res = (StatusCode::OK, bytes).into_response();
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline; filename=\"logo\""),
    );
    Ok(res)
}

/// Uploads the logo (admin): the raw image as the body, PNG, JPEG or SVG, at most 1 MiB.
#[utoipa::path(put, path = "/settings/logo", tag = "settings",
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "PNG, JPEG or SVG bytes; the type is judged by content"),
    responses((status = 200, body = SettingsView), (status = 413, body = pulse_core::ErrorBody),
        (status = 415, body = pulse_core::ErrorBody)))]
async fn put_logo(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    body: Bytes,
) -> Result<axum::Json<SettingsView>> {
    if body.len() > MAX_LOGO_BYTES {
        return Err(Error::PayloadTooLarge);
    }
    let mime = sniff_image(&body).ok_or_else(|| {
        Error::UnsupportedMediaType("the logo must be a PNG, JPEG or SVG image".into())
    })?;
    let tx = state.db().tenant(ctx.client).await?;
    let saved = settings::set_logo(&tx, Some((body.to_vec(), mime.to_string()))).await?;
    audit::record_in(&tx, entry(&ctx, "settings.logo_upload", Some(mime.into()))).await?;
    tx.commit().await?;
    Ok(axum::Json(saved.into()))
}

/// Removes the logo (admin).
#[utoipa::path(delete, path = "/settings/logo", tag = "settings",
    responses((status = 204, description = "Removed"), (status = 403, body = pulse_core::ErrorBody)))]
async fn delete_logo(State(state): State<AppState>, Admin(ctx): Admin) -> Result<StatusCode> {
    let tx = state.db().tenant(ctx.client).await?;
    settings::set_logo(&tx, None).await?;
    audit::record_in(&tx, entry(&ctx, "settings.logo_delete", None)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(
            sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0, 0]),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff_image(
                b"<?xml version=\"1.0\"?>\n<!-- x --><svg xmlns=\"http://www.w3.org/2000/svg\"/>"
            ),
            Some("image/svg+xml")
        );
        assert_eq!(sniff_image(b"<svg>"), Some("image/svg+xml"));
        assert_eq!(sniff_image(b"<html><svg></svg></html>"), None);
        assert_eq!(sniff_image(b"<svgfoo>"), None);
        assert_eq!(sniff_image(b"GIF89a"), None);
        assert_eq!(sniff_image(b""), None);
        assert_eq!(
            sniff_image(b"<!DOCTYPE svg [<!ENTITY a \"b\">]><svg/>"),
            None,
            "internal DTD subsets are refused"
        );
    }

    #[test]
    fn validates_every_field() {
        let req = UpdateSettings {
            display_name: Some("  ".into()),
            color_schema: Some("neon".into()),
            custom_colors: Some(BTreeMap::from([
                ("color1".into(), "#12345".into()),
                ("color9".into(), "#123456".into()),
            ])),
        };
        let Err(Error::Validation(problems)) = validate_update(&req) else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "display_name",
                "color_schema",
                "custom_colors.color1",
                "custom_colors.color9"
            ]
        );
        let ok = UpdateSettings {
            display_name: Some("Acme".into()),
            color_schema: Some("custom".into()),
            custom_colors: Some(BTreeMap::from([("color2".into(), "#a1B2c3".into())])),
        };
        assert!(validate_update(&ok).is_ok());
    }
}
