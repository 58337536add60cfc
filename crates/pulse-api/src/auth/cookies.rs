//! The cookies the web app uses. All are `__Host-` prefixed (Secure, Path=/, no Domain).

use axum::http::{header, HeaderMap, HeaderValue};

/// Access JWT (HttpOnly).
pub const ACCESS: &str = "__Host-pulse_access";
/// Refresh token (HttpOnly).
pub const REFRESH: &str = "__Host-pulse_refresh";
/// CSRF token (readable by the page's script, echoed in `X-CSRF-Token`).
pub const CSRF: &str = "__Host-pulse_csrf";
/// Trusted-device token (HttpOnly): exempts a device that logged in before from account lockout.
pub const DEVICE: &str = "__Host-pulse_device";

/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Reads a cookie from the request headers.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value. `http_only` false only for the CSRF cookie.
pub fn set(name: &str, value: &str, max_age_secs: i64, http_only: bool) -> HeaderValue {
    let http_only = if http_only { "; HttpOnly" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age_secs}; Secure; SameSite=Strict{http_only}"
    ))
    .expect("cookie values are URL-safe")
}

/// A `Set-Cookie` value that deletes the cookie.
pub fn clear(name: &str) -> HeaderValue {
    set(name, "", 0, true)
}
