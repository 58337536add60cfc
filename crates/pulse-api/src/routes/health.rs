//! Health: liveness (`/health`, outside the API) and readiness (`/api/v1/health`).

use axum::extract::State;
use pulse_core::Result;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The readiness route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(readiness))
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// `ok` when the database answered.
    pub database: &'static str,
    /// Pulse's version.
    pub version: &'static str,
}

/// Readiness: answers 200 when the database answers, 503 otherwise.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = pulse_core::ErrorBody)))]
async fn readiness(State(state): State<AppState>) -> Result<axum::Json<Health>> {
    state.db().ping().await?;
    Ok(axum::Json(Health {
        status: "ok",
        database: "ok",
        version: env!("CARGO_PKG_VERSION"),
    }))
}

/// Liveness: the process is up.
pub async fn liveness() -> &'static str {
    "ok"
}
