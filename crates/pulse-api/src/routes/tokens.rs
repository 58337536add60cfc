//! `/auth/tokens`: personal API tokens for automation.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use pulse_auth::token::{format_api_token, hash_secret, random_secret};
use pulse_core::{ApiTokenId, Error, Result, Role};
use pulse_db::repo::{api_tokens, audit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::entry;
use crate::auth::{Credential, Viewer};
use crate::extract::{Json, Path};
use crate::state::AppState;

/// The `/auth/tokens` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// A token as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Id.
    pub id: ApiTokenId,
    /// Name given at creation.
    pub name: String,
    /// Highest role the token acts with (capped by the user's current role).
    pub role: Role,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<pulse_db::entity::api_tokens::Model> for TokenView {
    fn from(t: pulse_db::entity::api_tokens::Model) -> Self {
        Self {
            id: ApiTokenId::from_uuid(t.id),
            name: t.name,
            role: t.role.parse().unwrap_or(Role::Viewer),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
        }
    }
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// A name to recognise it by.
    pub name: String,
    /// Role to act with; defaults to the caller's role and may not exceed it.
    #[serde(default)]
    pub role: Option<Role>,
    /// Days until it expires (1 to 3650); none for no expiry.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// The new token. `token` is shown this once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// The token to use as `Authorization: Bearer <token>`.
    pub token: String,
    /// Its description.
    #[serde(flatten)]
    pub info: TokenView,
}

/// The caller's API tokens.
#[utoipa::path(get, path = "/auth/tokens", tag = "auth",
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = pulse_core::ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
) -> Result<axum::Json<Vec<TokenView>>> {
    let tx = state.db().tenant(ctx.client).await?;
    let rows = api_tokens::list(&tx, ctx.user).await?;
    tx.commit().await?;
    Ok(axum::Json(rows.into_iter().map(TokenView::from).collect()))
}

/// Creates a personal API token. Only a logged-in session can create tokens (not another token).
#[utoipa::path(post, path = "/auth/tokens", tag = "auth", request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 403, body = pulse_core::ErrorBody),
              (status = 422, body = pulse_core::ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Json(req): Json<CreateTokenRequest>,
) -> Result<(StatusCode, axum::Json<CreatedToken>)> {
    if matches!(ctx.credential, Credential::ApiToken(_)) {
        return Err(Error::Forbidden);
    }
    super::dto::check_name(&req.name)?;
    let role = req.role.unwrap_or(ctx.role);
    if !ctx.role.includes(role) {
        return Err(Error::invalid("role", "may not exceed your own role"));
    }
    let expires_at = match req.expires_in_days {
        Some(d) if !(1..=3650).contains(&d) => {
            return Err(Error::invalid("expires_in_days", "must be 1 to 3650"))
        }
        Some(d) => Some(Utc::now() + chrono::Duration::days(i64::from(d))),
        None => None,
    };
    let id = ApiTokenId::new();
    let secret = random_secret(32);
    let tx = state.db().tenant(ctx.client).await?;
    let row = api_tokens::create(
        &tx,
        id,
        ctx.user,
        &req.name,
        hash_secret(&secret),
        role,
        expires_at,
    )
    .await?;
    audit::record_in(&tx, entry(&ctx, "auth.token_created", Some(id.to_string()))).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedToken {
            token: format_api_token(id.uuid(), &secret),
            info: row.into(),
        }),
    ))
}

/// Revokes one of the caller's API tokens.
#[utoipa::path(delete, path = "/auth/tokens/{id}", tag = "auth",
    params(("id" = ApiTokenId, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = pulse_core::ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Path(id): Path<ApiTokenId>,
) -> Result<StatusCode> {
    let tx = state.db().tenant(ctx.client).await?;
    api_tokens::revoke(&tx, ctx.user, id).await?;
    audit::record_in(&tx, entry(&ctx, "auth.token_revoked", Some(id.to_string()))).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
