//! `/auth`: login, token refresh, logout, sessions, password change, session validation.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pulse_auth::token::{
    constant_time_eq, format_refresh, hash_secret, refresh_secret, split_refresh,
};
use pulse_core::{ClientId, Error, Result, Role, SessionId, UserId};
use pulse_db::repo::{audit, clients, sessions, users};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{check_password, UserView};
use crate::auth::{
    check_request_origin, client_ip, cookies, csrf_token_for, limits, AuthContext, Viewer,
};
use crate::extract::{Json, Path};
use crate::state::AppState;

/// The `/auth` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(me))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(validate))
        .routes(routes!(change_password))
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
    /// Client name, needed only when the e-mail belongs to accounts in several clients.
    #[serde(default)]
    pub client: Option<String>,
}

/// Tokens issued by a login or refresh. Browsers also receive them as cookies.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Access JWT, for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// Refresh token (rotates on every refresh).
    pub refresh_token: String,
    /// CSRF token to send as `X-CSRF-Token` on cookie-authenticated state changes.
    pub csrf_token: String,
    /// The session.
    pub session_id: SessionId,
    /// The user.
    pub user: UserView,
}

/// The peer address and headers, for handlers that run before authentication.
pub struct Caller {
    ip: String,
    headers: HeaderMap,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        Ok(Self {
            ip: client_ip(state, parts),
            headers: parts.headers.clone(),
        })
    }
}

fn invalid_credentials() -> Error {
    Error::Unauthorized("invalid e-mail or password".into())
}

async fn issue(
    state: &AppState,
    user: &pulse_db::entity::users::Model,
    session: SessionId,
    refresh_token: String,
) -> Result<(TokenResponse, Vec<header::HeaderValue>)> {
    let role: Role = user
        .role
        .parse()
        .map_err(|e: String| Error::internal(anyhow::anyhow!(e)))?;
    let (access, expires_at) = state
        .jwt()
        .issue(
            UserId::from_uuid(user.id),
            ClientId::from_uuid(user.client_id),
            role,
            session,
            Utc::now(),
        )
        .map_err(Error::internal)?;
    let csrf = csrf_token_for(state, session);
    let session_secs = state.config().auth.session_days as i64 * 86_400;
    let cookies = vec![
        cookies::set(
            cookies::ACCESS,
            &access,
            state.jwt().ttl().num_seconds(),
            true,
        ),
        cookies::set(cookies::REFRESH, &refresh_token, session_secs, true),
        cookies::set(cookies::CSRF, &csrf, session_secs, false),
    ];
    let body = TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_at,
        refresh_token,
        csrf_token: csrf,
        session_id: session,
        user: user.clone().into(),
    };
    Ok((body, cookies))
}

fn with_cookies(body: impl IntoResponse, cookies: Vec<header::HeaderValue>) -> Response {
    let mut res = body.into_response();
    for c in cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// Logs in with e-mail and password.
///
/// Creates a session and returns an access token (also set as the `__Host-pulse_access` cookie), a
/// rotating refresh token and a CSRF token. At most 100 failures per account per hour and a
/// per-address limit apply (429 with `Retry-After`); the answer never reveals whether an account
/// exists.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = pulse_core::ErrorBody),
              (status = 429, body = pulse_core::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<LoginRequest>,
) -> Result<Response> {
    check_request_origin(&state, &caller.headers)?;
    if req.email.len() > 254 || req.password.len() > pulse_auth::password::MAX_LENGTH {
        return Err(invalid_credentials());
    }
    let key = limits::account_key(&req.email);
    let device = cookies::get(&caller.headers, cookies::DEVICE);
    let trusted = limits::is_trusted_device(&state, &key, device.as_deref());
    limits::check(&state, &key, &caller.ip, trusted).await?;

    let db = state.db().system();
    let client_filter = match (state.pinned_client(), req.client.as_deref()) {
        (Some(pinned), _) => Some(pinned),
        (None, Some(name)) => match clients::find_by_name(db, name).await? {
            Some(c) => Some(ClientId::from_uuid(c.id)),
            // No such client: no account can match, but the attempt still costs a hash below.
            None => Some(ClientId::from_uuid(uuid::Uuid::nil())),
        },
        (None, None) => None,
    };
    let candidates = users::find_for_login(db, &req.email, client_filter).await?;
    let mut matched = Vec::new();
    if candidates.is_empty() {
        state.hasher().verify(None, &req.password).await?;
    }
    for (user, client) in candidates.iter() {
        if state
            .hasher()
            .verify(Some(&user.password_hash), &req.password)
            .await?
        {
            matched.push((user.clone(), client.clone()));
        }
    }
    let (user, _client) = match matched.len() {
        1 => matched.remove(0),
        0 => {
            limits::record_failure(&state, &key, &caller.ip).await?;
            // Recorded against the client when one is known to exist; an attempt naming a client
            // that does not exist is a system-level entry (no client).
            let client = match candidates.as_slice() {
                [(u, _)] => Some(ClientId::from_uuid(u.client_id)),
                _ => client_filter.filter(|c| !c.uuid().is_nil()),
            };
            audit::record(
                db,
                audit::Entry {
                    client,
                    actor: candidates
                        .first()
                        .filter(|_| candidates.len() == 1)
                        .map(|(u, _)| UserId::from_uuid(u.id)),
                    actor_email: Some(users::normalize_email(&req.email)),
                    action: "auth.login_failed".into(),
                    ip: Some(caller.ip.clone()),
                    ..Default::default()
                },
            )
            .await?;
            return Err(invalid_credentials());
        }
        _ => {
            return Err(Error::bad_request(
                "client_required",
                "this e-mail belongs to several clients: add \"client\" with the client's name",
            ))
        }
    };

    let client = ClientId::from_uuid(user.client_id);
    let session = SessionId::new();
    let refresh_token = format_refresh(state.hmac_key(), session.uuid(), 0);
    let tx = state.db().tenant(client).await?;
    sessions::create(
        &tx,
        sessions::NewSession {
            id: session,
            user: UserId::from_uuid(user.id),
            refresh_hash: hash_secret(&refresh_token),
            expires_at: Utc::now()
                + chrono::Duration::days(state.config().auth.session_days as i64),
            ip: Some(caller.ip.clone()),
            user_agent: caller
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(String::from),
        },
    )
    .await?;
    users::touch_login(&tx, UserId::from_uuid(user.id)).await?;
    audit::record_in(
        &tx,
        audit::Entry {
            actor: Some(UserId::from_uuid(user.id)),
            actor_email: Some(user.email.clone()),
            action: "auth.login".into(),
            target: Some(session.to_string()),
            ip: Some(caller.ip.clone()),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;

    let (body, mut set) = issue(&state, &user, session, refresh_token).await?;
    set.push(cookies::set(
        cookies::DEVICE,
        &limits::device_token(&state, &key),
        365 * 86_400,
        true,
    ));
    Ok(with_cookies(axum::Json(body), set))
}

/// A refresh request (the refresh token may instead come from the cookie).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the login or the previous refresh.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// Exchanges a refresh token for a new access token and a new refresh token.
///
/// Each refresh token works once; presenting an already rotated one revokes the session (it was
/// probably stolen).
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = pulse_core::ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response> {
    let from_body = if body.is_empty() {
        None
    } else {
        serde_json::from_slice::<RefreshRequest>(&body)
            .map_err(|e| Error::bad_request("invalid_body", e.to_string()))?
            .refresh_token
    };
    let token = match from_body {
        Some(t) => t,
        None => {
            let t = cookies::get(&caller.headers, cookies::REFRESH)
                .ok_or_else(|| Error::Unauthorized("no refresh token".into()))?;
            // Cookie-borne refreshes are state changes a browser could be tricked into: same rules.
            check_request_origin(&state, &caller.headers)?;
            if let Some((sid, _, _)) = split_refresh(&t) {
                let expected = csrf_token_for(&state, SessionId::from_uuid(sid));
                let sent = caller
                    .headers
                    .get(cookies::CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !constant_time_eq(sent, &expected) {
                    return Err(Error::Csrf("missing or invalid CSRF token".into()));
                }
            }
            t
        }
    };
    let rejected =
        || Error::Unauthorized("the refresh token is invalid, expired or revoked".into());
    let (sid, generation, secret) = split_refresh(&token).ok_or_else(rejected)?;
    // A secret that does not verify was never issued: refuse without touching the session.
    if !constant_time_eq(secret, &refresh_secret(state.hmac_key(), sid, generation)) {
        return Err(rejected());
    }
    let sid = SessionId::from_uuid(sid);
    let db = state.db().system();
    let session = sessions::find_for_refresh(db, sid)
        .await?
        .ok_or_else(rejected)?;
    if generation < session.refresh_generation {
        // A genuine token of an earlier generation: it was stolen or replayed. End the session.
        sessions::revoke_by_id(db, sid, "refresh token reused").await?;
        state.sessions().evict(sid);
        tracing::warn!(session_id = %sid, "rotated refresh token presented again; session revoked");
        return Err(rejected());
    }
    if generation != session.refresh_generation
        || session.revoked_at.is_some()
        || session.expires_at <= Utc::now()
    {
        return Err(rejected());
    }
    let client = ClientId::from_uuid(session.client_id);
    let state_row = sessions::load_state(db, client, sid)
        .await?
        .ok_or_else(rejected)?;
    if !state_row.is_usable(Utc::now()) || state.pinned_client().is_some_and(|p| p != client) {
        return Err(rejected());
    }
    let next = format_refresh(state.hmac_key(), sid.uuid(), generation + 1);
    // Conditional on the generation: of concurrent refreshes with this token exactly one wins;
    // the others are refused (not treated as theft: two tabs may refresh at once).
    if !sessions::rotate(db, sid, generation, hash_secret(&next)).await? {
        return Err(rejected());
    }
    let (body, set) = issue(&state, &state_row.user, sid, next).await?;
    Ok(with_cookies(axum::Json(body), set))
}

fn cleared_cookies() -> Vec<header::HeaderValue> {
    vec![
        cookies::clear(cookies::ACCESS),
        cookies::clear(cookies::REFRESH),
        cookies::clear(cookies::CSRF),
    ]
}

/// Ends the current session.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204), (status = 400, body = pulse_core::ErrorBody), (status = 401, body = pulse_core::ErrorBody)))]
async fn logout(State(state): State<AppState>, Viewer(ctx): Viewer) -> Result<Response> {
    let sid = ctx.session().ok_or_else(|| {
        Error::bad_request(
            "not_a_session",
            "API tokens have no session: revoke the token instead",
        )
    })?;
    let tx = state.db().tenant(ctx.client).await?;
    sessions::revoke(&tx, ctx.user, sid, "logout").await?;
    audit::record_in(&tx, entry(&ctx, "auth.logout", Some(sid.to_string()))).await?;
    tx.commit().await?;
    state.sessions().evict(sid);
    Ok(with_cookies(StatusCode::NO_CONTENT, cleared_cookies()))
}

/// How many sessions were ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedCount {
    /// Sessions revoked.
    pub revoked: usize,
}

/// Ends every session of the caller, this one included.
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth",
    responses((status = 200, body = RevokedCount), (status = 401, body = pulse_core::ErrorBody)))]
async fn logout_all(State(state): State<AppState>, Viewer(ctx): Viewer) -> Result<Response> {
    let tx = state.db().tenant(ctx.client).await?;
    let revoked = sessions::revoke_all(&tx, ctx.user, None, "logout-all").await?;
    audit::record_in(
        &tx,
        entry(
            &ctx,
            "auth.logout_all",
            Some(format!("{} sessions", revoked.len())),
        ),
    )
    .await?;
    tx.commit().await?;
    state.sessions().evict_user(ctx.user);
    Ok(with_cookies(
        axum::Json(RevokedCount {
            revoked: revoked.len(),
        }),
        cleared_cookies(),
    ))
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// The user.
    pub user: UserView,
    /// The effective role of this request (an API token may cap it).
    pub role: Role,
    /// The client's name.
    pub client_name: String,
    /// The current session, when authenticated by one.
    pub session_id: Option<SessionId>,
}

/// The authenticated user, their client and role.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, body = MeResponse), (status = 401, body = pulse_core::ErrorBody)))]
async fn me(State(state): State<AppState>, Viewer(ctx): Viewer) -> Result<axum::Json<MeResponse>> {
    let tx = state.db().tenant(ctx.client).await?;
    let user = users::get(&tx, ctx.user).await?;
    let client = clients::current(&tx).await?;
    tx.commit().await?;
    Ok(axum::Json(MeResponse {
        user: user.into(),
        role: ctx.role,
        client_name: client.name,
        session_id: ctx.session(),
    }))
}

/// A session as listed to its owner.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Id.
    pub id: SessionId,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Last refreshed.
    pub last_used_at: DateTime<Utc>,
    /// Ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// Address at login.
    pub ip: Option<String>,
    /// Browser or client at login.
    pub user_agent: Option<String>,
    /// Whether this is the session of the current request.
    pub current: bool,
}

/// The caller's active sessions.
#[utoipa::path(get, path = "/auth/sessions", tag = "auth",
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = pulse_core::ErrorBody)))]
async fn list_sessions(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
) -> Result<axum::Json<Vec<SessionView>>> {
    let tx = state.db().tenant(ctx.client).await?;
    let rows = sessions::list_active(&tx, ctx.user).await?;
    tx.commit().await?;
    let current = ctx.session();
    Ok(axum::Json(
        rows.into_iter()
            .map(|s| SessionView {
                id: SessionId::from_uuid(s.id),
                current: current == Some(SessionId::from_uuid(s.id)),
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect(),
    ))
}

/// Ends one of the caller's sessions (another device, for example).
#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "auth",
    params(("id" = SessionId, Path, description = "Session id")),
    responses((status = 204), (status = 404, body = pulse_core::ErrorBody)))]
async fn revoke_session(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Path(id): Path<SessionId>,
) -> Result<StatusCode> {
    let tx = state.db().tenant(ctx.client).await?;
    sessions::revoke(&tx, ctx.user, id, "revoked by user").await?;
    audit::record_in(
        &tx,
        entry(&ctx, "auth.session_revoked", Some(id.to_string())),
    )
    .await?;
    tx.commit().await?;
    state.sessions().evict(id);
    Ok(StatusCode::NO_CONTENT)
}

/// The identity behind a valid credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidateResponse {
    /// Always true (invalid credentials answer 401).
    pub valid: bool,
    /// The user.
    pub user_id: UserId,
    /// The client.
    pub client_id: ClientId,
    /// The effective role.
    pub role: Role,
    /// The e-mail.
    pub email: String,
    /// The session, when the credential is a session token.
    pub session_id: Option<SessionId>,
}

/// Validates the request's own credential (for services embedded in the platform) and returns the
/// identity behind it. Revoked, expired or forged credentials answer 401.
#[utoipa::path(post, path = "/auth/validate", tag = "auth",
    responses((status = 200, body = ValidateResponse), (status = 401, body = pulse_core::ErrorBody)))]
async fn validate(Viewer(ctx): Viewer) -> axum::Json<ValidateResponse> {
    axum::Json(ValidateResponse {
        valid: true,
        user_id: ctx.user,
        client_id: ctx.client,
        role: ctx.role,
        session_id: ctx.session(),
        email: ctx.email,
    })
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password.
    pub current_password: String,
    /// The new password (at least 12 characters).
    pub new_password: String,
}

/// Changes the caller's password. Every other session of the caller ends.
#[utoipa::path(put, path = "/auth/password", tag = "auth", request_body = ChangePasswordRequest,
    responses((status = 204), (status = 401, body = pulse_core::ErrorBody), (status = 422, body = pulse_core::ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Json(req): Json<ChangePasswordRequest>,
) -> Result<StatusCode> {
    check_password("new_password", &req.new_password)?;
    let tx = state.db().tenant(ctx.client).await?;
    let user = users::get(&tx, ctx.user).await?;
    if !state
        .hasher()
        .verify(Some(&user.password_hash), &req.current_password)
        .await?
    {
        return Err(Error::invalid("current_password", "is not correct"));
    }
    let hash = state.hasher().hash(&req.new_password).await?;
    users::set_password_hash(&tx, ctx.user, hash).await?;
    sessions::revoke_all(&tx, ctx.user, ctx.session(), "password changed").await?;
    audit::record_in(
        &tx,
        entry(&ctx, "auth.password_changed", Some(ctx.user.to_string())),
    )
    .await?;
    tx.commit().await?;
    state.sessions().evict_user(ctx.user);
    Ok(StatusCode::NO_CONTENT)
}

/// An audit entry for an action of the caller.
pub fn entry(ctx: &AuthContext, action: &str, target: Option<String>) -> audit::Entry {
    audit::Entry {
        actor: Some(ctx.user),
        actor_email: Some(ctx.email.clone()),
        action: action.to_string(),
        target,
        ip: Some(ctx.ip.clone()),
        ..Default::default()
    }
}
