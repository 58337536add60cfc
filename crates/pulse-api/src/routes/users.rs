//! `/users`: user management for client admins.

use axum::extract::State;
use axum::http::StatusCode;
use pulse_auth::token::random_password;
use pulse_core::{Error, Result, Role, UserId};
use pulse_db::repo::{api_tokens, audit, sessions, users, Page};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::entry;
use super::dto::{check_email, check_name, check_password, PageOf, UserView};
use crate::auth::Admin;
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

/// The `/users` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(deactivate_user))
        .routes(routes!(reset_password))
}

/// Filters and paging for the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListUsersQuery {
    /// Only this role.
    pub role: Option<Role>,
    /// Only active or inactive users.
    pub active: Option<bool>,
    /// E-mail or name contains.
    pub search: Option<String>,
    /// Page size (1 to 200, default 50).
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
}

/// Lists the client's users.
#[utoipa::path(get, path = "/users", tag = "users", params(ListUsersQuery),
    responses((status = 200, body = PageOf<UserView>), (status = 403, body = pulse_core::ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Query(q): Query<ListUsersQuery>,
) -> Result<axum::Json<PageOf<UserView>>> {
    let page = Page::new(q.limit, q.offset);
    let filter = users::UserFilter {
        role: q.role,
        active: q.active,
        search: q.search,
    };
    let tx = state.db().tenant(ctx.client).await?;
    let found = users::list(&tx, &filter, page).await?;
    tx.commit().await?;
    Ok(axum::Json(PageOf {
        items: found.items.into_iter().map(UserView::from).collect(),
        total: found.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// E-mail (unique within the client).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Initial password; when omitted one is generated and returned once.
    #[serde(default)]
    pub password: Option<String>,
}

/// A created user, with the generated password when none was given.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    /// The user.
    pub user: UserView,
    /// The generated initial password (shown once).
    pub initial_password: Option<String>,
}

/// Creates a user in the caller's client.
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = CreatedUser), (status = 409, body = pulse_core::ErrorBody), (status = 422, body = pulse_core::ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Json(req): Json<CreateUserRequest>,
) -> Result<(StatusCode, axum::Json<CreatedUser>)> {
    check_email(&req.email)?;
    check_name(&req.name)?;
    let (password, generated) = match req.password {
        Some(p) => {
            check_password("password", &p)?;
            (p, false)
        }
        None => (random_password(), true),
    };
    let hash = state.hasher().hash(&password).await?;
    let tx = state.db().tenant(ctx.client).await?;
    let user = users::create(
        &tx,
        users::NewUser {
            email: req.email,
            name: req.name,
            password_hash: hash,
            role: req.role,
        },
    )
    .await?;
    audit::record_in(&tx, entry(&ctx, "user.create", Some(user.id.to_string()))).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedUser {
            user: user.into(),
            initial_password: generated.then_some(password),
        }),
    ))
}

/// One user of the caller's client.
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = UserId, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 404, body = pulse_core::ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<UserId>,
) -> Result<axum::Json<UserView>> {
    let tx = state.db().tenant(ctx.client).await?;
    let user = users::get(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(user.into()))
}

/// Changes to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// Display name.
    pub name: Option<String>,
    /// Role (takes effect on the user's next request).
    pub role: Option<Role>,
    /// Active or not (deactivating ends the user's sessions and tokens).
    pub active: Option<bool>,
}

async fn guard_last_admin(
    tx: &pulse_db::TenantTx,
    target: &pulse_db::entity::users::Model,
) -> Result<()> {
    if target.role == Role::Admin.as_str()
        && target.active
        && users::count_active_admins(tx).await? <= 1
    {
        return Err(Error::Conflict(
            "the client must keep at least one active admin".into(),
        ));
    }
    Ok(())
}

async fn end_access(state: &AppState, tx: &pulse_db::TenantTx, user: UserId) -> Result<()> {
    sessions::revoke_all(tx, user, None, "deactivated").await?;
    api_tokens::revoke_all(tx, user).await?;
    state.sessions().evict_user(user);
    Ok(())
}

/// Updates a user's name, role or active state.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = UserId, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses((status = 200, body = UserView), (status = 404, body = pulse_core::ErrorBody), (status = 409, body = pulse_core::ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<UserId>,
    Json(req): Json<UpdateUserRequest>,
) -> Result<axum::Json<UserView>> {
    if let Some(name) = &req.name {
        check_name(name)?;
    }
    let tx = state.db().tenant(ctx.client).await?;
    let mut user = users::get(&tx, id).await?;
    if req.role.is_some_and(|r| r != Role::Admin) || req.active == Some(false) {
        guard_last_admin(&tx, &user).await?;
    }
    if let Some(name) = req.name {
        user = users::update_profile(&tx, id, Some(name), None).await?;
    }
    if let Some(role) = req.role {
        user = users::set_role(&tx, id, role).await?;
        audit::record_in(
            &tx,
            audit::Entry {
                details: Some(serde_json::json!({ "role": role })),
                ..entry(&ctx, "user.set_role", Some(id.to_string()))
            },
        )
        .await?;
    }
    if let Some(active) = req.active {
        user = users::set_active(&tx, id, active).await?;
        if !active {
            end_access(&state, &tx, id).await?;
        }
        audit::record_in(
            &tx,
            entry(
                &ctx,
                if active {
                    "user.activate"
                } else {
                    "user.deactivate"
                },
                Some(id.to_string()),
            ),
        )
        .await?;
    }
    tx.commit().await?;
    state.sessions().evict_user(id);
    Ok(axum::Json(user.into()))
}

/// Deactivates a user: they cannot log in, and their sessions and tokens end.
#[utoipa::path(post, path = "/users/{id}/deactivate", tag = "users", params(("id" = UserId, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 404, body = pulse_core::ErrorBody), (status = 409, body = pulse_core::ErrorBody)))]
async fn deactivate_user(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<UserId>,
) -> Result<axum::Json<UserView>> {
    let tx = state.db().tenant(ctx.client).await?;
    let user = users::get(&tx, id).await?;
    guard_last_admin(&tx, &user).await?;
    let user = users::set_active(&tx, id, false).await?;
    end_access(&state, &tx, id).await?;
    audit::record_in(&tx, entry(&ctx, "user.deactivate", Some(id.to_string()))).await?;
    tx.commit().await?;
    state.sessions().evict_user(id);
    Ok(axum::Json(user.into()))
}

/// A password reset.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The new password; when omitted one is generated and returned once.
    #[serde(default)]
    pub password: Option<String>,
}

/// The result of a reset.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetPasswordResponse {
    /// The generated password (shown once), when none was given.
    pub password: Option<String>,
}

/// Resets a user's password and ends their sessions.
#[utoipa::path(post, path = "/users/{id}/reset-password", tag = "users", params(("id" = UserId, Path, description = "User id")),
    request_body(content = Option<ResetPasswordRequest>, description = "Optional: an empty body generates a password"),
    responses((status = 200, body = ResetPasswordResponse), (status = 404, body = pulse_core::ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<UserId>,
    body: axum::body::Bytes,
) -> Result<axum::Json<ResetPasswordResponse>> {
    // An empty body means "generate one", so `curl -X POST` needs no JSON at all.
    let req: ResetPasswordRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ResetPasswordRequest::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let (password, generated) = match req.password {
        Some(p) => {
            check_password("password", &p)?;
            (p, false)
        }
        None => (random_password(), true),
    };
    let tx = state.db().tenant(ctx.client).await?;
    users::get(&tx, id).await?;
    let hash = state.hasher().hash(&password).await?;
    users::set_password_hash(&tx, id, hash).await?;
    sessions::revoke_all(&tx, id, None, "password reset").await?;
    audit::record_in(
        &tx,
        entry(&ctx, "user.reset_password", Some(id.to_string())),
    )
    .await?;
    tx.commit().await?;
    state.sessions().evict_user(id);
    Ok(axum::Json(ResetPasswordResponse {
        password: generated.then_some(password),
    }))
}
