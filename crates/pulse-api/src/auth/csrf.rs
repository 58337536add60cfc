//! CSRF protection for cookie-authenticated requests: a double-submit token bound to the session,
//! plus Origin and `Sec-Fetch-Site` checks.

use axum::http::{HeaderMap, Method};
use pulse_auth::token::{constant_time_eq, sign};
use pulse_core::{Error, SessionId};

use super::cookies;
use crate::state::AppState;

/// The CSRF token of a session: an HMAC of its id, so it cannot be forged or moved to another
/// session.
pub fn csrf_token_for(state: &AppState, session: SessionId) -> String {
    sign(state.hmac_key(), &format!("csrf:{session}"))
}

/// Whether the method changes state.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Rejects requests a browser sent on behalf of another site: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` that is neither Pulse's public origin nor an allowed CORS origin.
pub fn check_request_origin(state: &AppState, headers: &HeaderMap) -> Result<(), Error> {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return Err(Error::Csrf("cross-site request refused".into()));
    }
    if let Some(origin) = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        let server = &state.config().server;
        let allowed =
            origin == server.public_origin() || server.cors_origins.iter().any(|o| o == origin);
        if !allowed {
            return Err(Error::Csrf(format!(
                "requests from origin {origin} are not accepted"
            )));
        }
    }
    Ok(())
}

/// Checks a cookie-authenticated, state-changing request.
pub fn check(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    session: SessionId,
) -> Result<(), Error> {
    if !is_unsafe(method) {
        return Ok(());
    }
    check_request_origin(state, headers)?;
    let expected = csrf_token_for(state, session);
    let header = headers
        .get(cookies::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let cookie = cookies::get(headers, cookies::CSRF).unwrap_or_default();
    if !(constant_time_eq(header, &expected) && constant_time_eq(&cookie, &expected)) {
        return Err(Error::Csrf(
            "missing or invalid CSRF token (send the X-CSRF-Token header)".into(),
        ));
    }
    Ok(())
}
