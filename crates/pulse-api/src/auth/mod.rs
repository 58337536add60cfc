//! Authentication and authorisation of requests.
//!
//! Handlers state what they need in their signature: [`Viewer`] (any member), [`Member`] (`user` or
//! `admin`) or [`Admin`]. Each extractor verifies the credentials (access JWT from the
//! `Authorization: Bearer` header or the `__Host-pulse_access` cookie, or a personal API token),
//! checks that the session is still active, applies CSRF rules to cookie-authenticated state changes,
//! and checks the role, answering 401 or 403 in the standard error shape.

pub mod cache;
pub mod cookies;
mod csrf;
mod extract;
pub mod limits;

pub use csrf::{check_request_origin, csrf_token_for};
pub use extract::{authenticate, client_ip, Admin, AuthContext, Credential, Member, Viewer};
