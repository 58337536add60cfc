//! Pulse's HTTP API.
//!
//! Handlers are thin: they take typed extractors ([`auth::Admin`], [`extract::Json`], ...), open a
//! tenant transaction with the caller's client, call `pulse_db::repo` functions and map the result.
//! Every error is a [`pulse_core::Error`] and renders in one JSON shape.

pub mod app;
pub mod auth;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod routes;
pub mod serve;
pub mod state;

pub use app::{openapi, router};
pub use state::AppState;
