//! The authentication extractors.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use chrono::Utc;
use pulse_auth::token::{constant_time_eq, hash_secret, split_api_token};
use pulse_core::{ApiTokenId, ClientId, Error, Role, SessionId, UserId};
use pulse_db::repo::{api_tokens, sessions};

use super::cache::CachedSession;
use super::{cookies, csrf};
use crate::state::AppState;

/// How the request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An access JWT in the `Authorization` header.
    Bearer(SessionId),
    /// An access JWT in the session cookie (CSRF rules apply).
    Cookie(SessionId),
    /// A personal API token.
    ApiToken(ApiTokenId),
}

/// The verified caller. The client comes only from here, never from the request body or query.
#[derive(Debug, Clone)]
pub struct AuthContext {
    /// The user.
    pub user: UserId,
    /// The user's client: every query of the request is scoped to it.
    pub client: ClientId,
    /// The effective role (the user's current role, capped by an API token's role).
    pub role: Role,
    /// The user's e-mail.
    pub email: String,
    /// How the caller authenticated.
    pub credential: Credential,
    /// The caller's address.
    pub ip: String,
}

impl AuthContext {
    /// The session, when authenticated by one.
    pub fn session(&self) -> Option<SessionId> {
        match self.credential {
            Credential::Bearer(s) | Credential::Cookie(s) => Some(s),
            Credential::ApiToken(_) => None,
        }
    }
}

/// The client's address: the socket peer, or the first `X-Forwarded-For` hop when configured to
/// trust a proxy.
pub fn client_ip(state: &AppState, parts: &Parts) -> String {
    if state.config().auth.trust_proxy {
        if let Some(first) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        {
            return first.to_string();
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn unauthorized() -> Error {
    Error::Unauthorized(
        "authentication required: the credentials are missing, invalid, expired or revoked".into(),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

async fn session_state(
    state: &AppState,
    client: ClientId,
    sid: SessionId,
) -> Result<CachedSession, Error> {
    if let Some(hit) = state.sessions().get(sid) {
        // The cache is keyed by session only: a token naming another client for the same session
        // must not borrow this answer.
        if hit.client != client {
            return Err(unauthorized());
        }
        return Ok(hit);
    }
    let loaded = sessions::load_state(state.db().system(), client, sid)
        .await?
        .ok_or_else(unauthorized)?;
    let role = loaded
        .user
        .role
        .parse::<Role>()
        .map_err(|e| Error::internal(anyhow::anyhow!(e)))?;
    let value = CachedSession {
        client,
        user: UserId::from_uuid(loaded.user.id),
        role,
        email: loaded.user.email.clone(),
        usable: loaded.is_usable(Utc::now()),
        expires_at: loaded.session.expires_at,
    };
    state.sessions().put(sid, value.clone());
    Ok(value)
}

async fn authenticate_jwt(
    state: &AppState,
    token: &str,
    via_cookie: bool,
    ip: String,
) -> Result<AuthContext, Error> {
    let claims = state.jwt().verify(token).map_err(|_| unauthorized())?;
    let session = session_state(state, claims.cid, claims.sid).await?;
    if !session.usable || session.user != claims.sub || session.expires_at <= Utc::now() {
        return Err(unauthorized());
    }
    let credential = if via_cookie {
        Credential::Cookie(claims.sid)
    } else {
        Credential::Bearer(claims.sid)
    };
    Ok(AuthContext {
        user: claims.sub,
        client: claims.cid,
        role: session.role,
        email: session.email,
        credential,
        ip,
    })
}

async fn authenticate_api_token(
    state: &AppState,
    token: &str,
    ip: String,
) -> Result<AuthContext, Error> {
    let (id, secret) = split_api_token(token).ok_or_else(unauthorized)?;
    let db = state.db().system();
    let row = api_tokens::find_for_auth(db, ApiTokenId::from_uuid(id))
        .await?
        .ok_or_else(unauthorized)?;
    let now = Utc::now();
    if !constant_time_eq(&row.secret_hash, &hash_secret(secret))
        || row.revoked_at.is_some()
        || row.expires_at.is_some_and(|e| e <= now)
    {
        return Err(unauthorized());
    }
    let client = ClientId::from_uuid(row.client_id);
    let users =
        pulse_db::repo::users::find_for_login_by_id(db, client, UserId::from_uuid(row.user_id))
            .await?;
    let user = users.ok_or_else(unauthorized)?;
    let user_role = user
        .role
        .parse::<Role>()
        .map_err(|e| Error::internal(anyhow::anyhow!(e)))?;
    let token_role = row
        .role
        .parse::<Role>()
        .map_err(|e| Error::internal(anyhow::anyhow!(e)))?;
    api_tokens::touch(db, &row).await?;
    Ok(AuthContext {
        user: UserId::from_uuid(user.id),
        client,
        role: user_role.min(token_role),
        email: user.email,
        credential: Credential::ApiToken(ApiTokenId::from_uuid(row.id)),
        ip,
    })
}

/// Authenticates a request from its parts (without checking a role).
pub async fn authenticate(state: &AppState, parts: &Parts) -> Result<AuthContext, Error> {
    let ip = client_ip(state, parts);
    let ctx = if let Some(token) = bearer(&parts.headers) {
        if token.starts_with(pulse_auth::token::API_TOKEN_PREFIX) {
            authenticate_api_token(state, token, ip).await?
        } else {
            authenticate_jwt(state, token, false, ip).await?
        }
    } else if let Some(token) = cookies::get(&parts.headers, cookies::ACCESS) {
        let ctx = authenticate_jwt(state, &token, true, ip).await?;
        if let Credential::Cookie(sid) = ctx.credential {
            csrf::check(state, &parts.method, &parts.headers, sid)?;
        }
        ctx
    } else {
        return Err(unauthorized());
    };
    if state
        .pinned_client()
        .is_some_and(|pinned| pinned != ctx.client)
    {
        return Err(unauthorized());
    }
    Ok(ctx)
}

macro_rules! role_extractor {
    ($(#[$meta:meta])* $name:ident, $role:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name(pub AuthContext);

        impl FromRequestParts<AppState> for $name {
            type Rejection = Error;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
                let ctx = authenticate(state, parts).await?;
                if !ctx.role.includes($role) {
                    return Err(Error::Forbidden);
                }
                Ok(Self(ctx))
            }
        }
    };
}

role_extractor!(
    /// Any authenticated member of a client (viewer, user or admin).
    Viewer,
    Role::Viewer
);
role_extractor!(
    /// A member with at least the `user` role.
    Member,
    Role::User
);
role_extractor!(
    /// A client administrator.
    Admin,
    Role::Admin
);
