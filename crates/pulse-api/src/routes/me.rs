//! `/me`: the caller's own profile and preferences.

use axum::extract::State;
use pulse_core::{Error, Result};
use pulse_db::repo::users;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{check_name, UserView};
use crate::auth::{Member, Viewer};
use crate::extract::Json;
use crate::state::AppState;

/// The `/me` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_profile, update_profile))
        .routes(routes!(get_preferences, update_preferences))
}

/// The caller's profile.
#[utoipa::path(get, path = "/me", tag = "me",
    responses((status = 200, body = UserView), (status = 401, body = pulse_core::ErrorBody)))]
async fn get_profile(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
) -> Result<axum::Json<UserView>> {
    let tx = state.db().tenant(ctx.client).await?;
    let user = users::get(&tx, ctx.user).await?;
    tx.commit().await?;
    Ok(axum::Json(user.into()))
}

/// Profile fields the caller may change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfile {
    /// Display name.
    pub name: Option<String>,
}

/// Updates the caller's profile (users and admins; viewers are read-only).
#[utoipa::path(patch, path = "/me", tag = "me", request_body = UpdateProfile,
    responses((status = 200, body = UserView), (status = 403, body = pulse_core::ErrorBody)))]
async fn update_profile(
    State(state): State<AppState>,
    Member(ctx): Member,
    Json(req): Json<UpdateProfile>,
) -> Result<axum::Json<UserView>> {
    if let Some(name) = &req.name {
        check_name(name)?;
    }
    let tx = state.db().tenant(ctx.client).await?;
    let user = users::update_profile(&tx, ctx.user, req.name, None).await?;
    tx.commit().await?;
    Ok(axum::Json(user.into()))
}

/// Per-user preferences.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// `light`, `dark` or `system`.
    pub theme: String,
}

/// The caller's preferences.
#[utoipa::path(get, path = "/me/preferences", tag = "me",
    responses((status = 200, body = Preferences), (status = 401, body = pulse_core::ErrorBody)))]
async fn get_preferences(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
) -> Result<axum::Json<Preferences>> {
    let tx = state.db().tenant(ctx.client).await?;
    let user = users::get(&tx, ctx.user).await?;
    tx.commit().await?;
    Ok(axum::Json(Preferences { theme: user.theme }))
}

/// Sets the caller's preferences. Any member may choose a theme, viewers included.
#[utoipa::path(put, path = "/me/preferences", tag = "me", request_body = Preferences,
    responses((status = 200, body = Preferences), (status = 422, body = pulse_core::ErrorBody)))]
async fn update_preferences(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Json(req): Json<Preferences>,
) -> Result<axum::Json<Preferences>> {
    if !matches!(req.theme.as_str(), "light" | "dark" | "system") {
        return Err(Error::invalid("theme", "must be light, dark or system"));
    }
    let tx = state.db().tenant(ctx.client).await?;
    let user = users::update_profile(&tx, ctx.user, None, Some(req.theme)).await?;
    tx.commit().await?;
    Ok(axum::Json(Preferences { theme: user.theme }))
}
