//! `/rules`: the metric rules (what counts as a deployment, what is production, what is an
//! incident, how incidents are charged to deployments), per client and overridable per project.
//! Every member reads; admins change them. A change is validated whole (field-level errors,
//! nothing stored when any field is wrong), recomputes what depends on it in the same transaction,
//! and is audited. The document is described in `docs/METRICS.md#rules`.

use axum::extract::State;
use pulse_analytics::rules::service::{
    self, ClientRulesChange, ClientRulesView, ProjectRulesChange, ProjectRulesView,
};
use pulse_analytics::rules::Rules;
use pulse_core::Result;
use pulse_db::repo::audit;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::entry;
use crate::auth::{Admin, Viewer};
use crate::extract::{Json, Path};
use crate::state::AppState;

/// The `/rules` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_rules, replace_rules, patch_rules))
        .routes(routes!(
            get_project_rules,
            set_project_rules,
            clear_project_rules
        ))
}

/// A partial rules document: any subset of the fields of `Rules`, nested the same way. A field
/// present replaces the value it applies to (`null` included); a field left out is inherited.
#[derive(ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)]
pub struct PartialRules(Value);

/// The client's metric rules.
#[utoipa::path(get, path = "/rules", tag = "rules",
    responses((status = 200, body = ClientRulesView)))]
async fn get_rules(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
) -> Result<axum::Json<ClientRulesView>> {
    let tx = state.db().tenant_read(ctx.client).await?;
    let view = service::view_client(&tx).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
}

fn details(changed: &[String], recomputed: &impl serde::Serialize) -> Option<Value> {
    Some(json!({"changed": changed, "recomputed": recomputed}))
}

/// Replaces the client's rules (admin): fields left out take Pulse's defaults. Recomputes the
/// client's deployment classes, fallback deployments, incidents found by rule and incident
/// attribution.
#[utoipa::path(put, path = "/rules", tag = "rules", request_body = Rules,
    responses((status = 200, body = ClientRulesChange), (status = 400, body = pulse_core::ErrorBody),
        (status = 403, body = pulse_core::ErrorBody), (status = 422, body = pulse_core::ErrorBody)))]
async fn replace_rules(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Json(document): Json<Value>,
) -> Result<axum::Json<ClientRulesChange>> {
    let tx = state.db().tenant(ctx.client).await?;
    let change = service::replace_client(&tx, document).await?;
    let mut e = entry(&ctx, "rules.replace", None);
    e.details = details(&change.changed, &change.recomputed);
    audit::record_in(&tx, e).await?;
    tx.commit().await?;
    Ok(axum::Json(change))
}

/// Changes some of the client's rules (admin): the body is a partial document merged over them.
#[utoipa::path(patch, path = "/rules", tag = "rules", request_body = PartialRules,
    responses((status = 200, body = ClientRulesChange), (status = 400, body = pulse_core::ErrorBody),
        (status = 403, body = pulse_core::ErrorBody), (status = 422, body = pulse_core::ErrorBody)))]
async fn patch_rules(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Json(patch): Json<Value>,
) -> Result<axum::Json<ClientRulesChange>> {
    let tx = state.db().tenant(ctx.client).await?;
    let change = service::patch_client(&tx, patch).await?;
    let mut e = entry(&ctx, "rules.update", None);
    e.details = details(&change.changed, &change.recomputed);
    audit::record_in(&tx, e).await?;
    tx.commit().await?;
    Ok(axum::Json(change))
}

/// A project's rules: the effective rules, the client's, and which fields the project overrides.
#[utoipa::path(get, path = "/rules/projects/{project_id}", tag = "rules",
    params(("project_id" = Uuid, Path, description = "Project id")),
    responses((status = 200, body = ProjectRulesView), (status = 404, body = pulse_core::ErrorBody)))]
async fn get_project_rules(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Path(project): Path<Uuid>,
) -> Result<axum::Json<ProjectRulesView>> {
    let tx = state.db().tenant_read(ctx.client).await?;
    let view = service::view_project(&tx, project).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
}

/// Sets a project's override (admin): a partial document merged over the client's rules for the
/// project's repositories and Jira projects; it replaces any previous override. Recomputes the
/// project's rows.
#[utoipa::path(put, path = "/rules/projects/{project_id}", tag = "rules",
    params(("project_id" = Uuid, Path, description = "Project id")),
    request_body = PartialRules,
    responses((status = 200, body = ProjectRulesChange), (status = 400, body = pulse_core::ErrorBody),
        (status = 403, body = pulse_core::ErrorBody), (status = 404, body = pulse_core::ErrorBody),
        (status = 422, body = pulse_core::ErrorBody)))]
async fn set_project_rules(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(project): Path<Uuid>,
    Json(document): Json<Value>,
) -> Result<axum::Json<ProjectRulesChange>> {
    let tx = state.db().tenant(ctx.client).await?;
    let change = service::set_project(&tx, project, document).await?;
    let mut e = entry(&ctx, "rules.project_override", Some(project.to_string()));
    e.details = details(&change.changed, &change.recomputed);
    audit::record_in(&tx, e).await?;
    tx.commit().await?;
    Ok(axum::Json(change))
}

/// Removes a project's override (admin): the client's rules apply to it again.
#[utoipa::path(delete, path = "/rules/projects/{project_id}", tag = "rules",
    params(("project_id" = Uuid, Path, description = "Project id")),
    responses((status = 200, body = ProjectRulesChange), (status = 403, body = pulse_core::ErrorBody),
        (status = 404, body = pulse_core::ErrorBody)))]
async fn clear_project_rules(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(project): Path<Uuid>,
) -> Result<axum::Json<ProjectRulesChange>> {
    let tx = state.db().tenant(ctx.client).await?;
    let change = service::clear_project(&tx, project).await?;
    let mut e = entry(
        &ctx,
        "rules.project_override_clear",
        Some(project.to_string()),
    );
    e.details = details(&change.changed, &change.recomputed);
    audit::record_in(&tx, e).await?;
    tx.commit().await?;
    Ok(axum::Json(change))
}
