//! `/ingest/deployments` and `/ingest/incidents`: deployments and incidents pushed by CI/CD and
//! incident tools, so teams on Jenkins, Argo CD or PagerDuty get DORA numbers without a
//! connector. Meant for API tokens (`Authorization: Bearer pulse_at_...`); any credential of a
//! `user` or `admin` works, viewers are refused (403). A body is one record or an array of up to
//! 500; a request with any problem is refused whole (422, every problem with its field, e.g.
//! `[3].status`) and nothing of it is stored. Records are upserted by `(source, id)`: posting the
//! same record again changes nothing. Documented in `docs/IMPORT.md`.

use axum::extract::State;
use pulse_core::{ErrorBody, Result};
use pulse_db::repo::audit;
use pulse_ingest::push::{self, Outcome, PushedDeployment, PushedIncident, Stored};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::entry;
use crate::auth::{AuthContext, Member};
use crate::extract::Json;
use crate::state::AppState;

/// The `/ingest` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push_deployments))
        .routes(routes!(push_incidents))
}

/// What a push stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushResult {
    /// One entry per record, in request order.
    pub items: Vec<Stored>,
    /// Records that were new.
    pub created: u64,
    /// Records that changed a stored row.
    pub updated: u64,
    /// Records identical to the stored row (not written).
    pub unchanged: u64,
}

fn summary(items: Vec<Stored>) -> PushResult {
    let count = |o: Outcome| items.iter().filter(|s| s.result == o).count() as u64;
    PushResult {
        created: count(Outcome::Created),
        updated: count(Outcome::Updated),
        unchanged: count(Outcome::Unchanged),
        items,
    }
}

async fn audit_push(
    ctx: &AuthContext,
    action: &str,
    tx: &pulse_db::TenantTx,
    result: &PushResult,
) -> Result<()> {
    if result.created + result.updated == 0 {
        return Ok(());
    }
    let mut e = entry(ctx, action, None);
    e.details = Some(serde_json::json!({
        "records": result.items.len(),
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
    }));
    audit::record_in(tx, e).await
}

/// Records deployments from a CI/CD tool (role `user` or `admin`; meant for API tokens).
/// Repositories are named by Pulse id, `owner/name` or external id; deployed commit shas link the
/// pull requests merged as those commits.
#[utoipa::path(post, path = "/ingest/deployments", tag = "ingest",
    request_body(content = Vec<PushedDeployment>,
        description = "One deployment (a JSON object) or an array of up to 500"),
    responses((status = 200, body = PushResult),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "Viewers may not push", body = ErrorBody),
        (status = 422, description = "Every problem with its field (`[i].field` in a batch); nothing stored",
            body = ErrorBody)))]
async fn push_deployments(
    State(state): State<AppState>,
    Member(ctx): Member,
    Json(body): Json<serde_json::Value>,
) -> Result<axum::Json<PushResult>> {
    let (records, batch) = push::parse_batch::<PushedDeployment>(body, push::check_deployment)
        .map_err(pulse_core::Error::Validation)?;
    let tx = state.db().tenant(ctx.client).await?;
    let resolved = push::resolve_deployments(&tx, records, batch).await?;
    let result = summary(push::apply_deployments(&tx, resolved).await?);
    audit_push(&ctx, "ingest.deployments", &tx, &result).await?;
    tx.commit().await?;
    Ok(axum::Json(result))
}

/// Records incidents from an incident tool (role `user` or `admin`; meant for API tokens). Each is
/// charged to the deployment it names, else to the latest successful production deployment
/// before it (of its repository, when named).
#[utoipa::path(post, path = "/ingest/incidents", tag = "ingest",
    request_body(content = Vec<PushedIncident>,
        description = "One incident (a JSON object) or an array of up to 500"),
    responses((status = 200, body = PushResult),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "Viewers may not push", body = ErrorBody),
        (status = 422, description = "Every problem with its field (`[i].field` in a batch); nothing stored",
            body = ErrorBody)))]
async fn push_incidents(
    State(state): State<AppState>,
    Member(ctx): Member,
    Json(body): Json<serde_json::Value>,
) -> Result<axum::Json<PushResult>> {
    let (records, batch) = push::parse_batch::<PushedIncident>(body, push::check_incident)
        .map_err(pulse_core::Error::Validation)?;
    let tx = state.db().tenant(ctx.client).await?;
    let resolved = push::resolve_incidents(&tx, records, batch).await?;
    let result = summary(push::apply_incidents(&tx, resolved).await?);
    audit_push(&ctx, "ingest.incidents", &tx, &result).await?;
    tx.commit().await?;
    Ok(axum::Json(result))
}
