//! `/audit`: the client's audit log, for admins.

use axum::extract::State;
use chrono::{DateTime, Utc};
use pulse_core::{AuditId, Result, UserId};
use pulse_db::repo::{audit, Page};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::PageOf;
use crate::auth::Admin;
use crate::extract::Query;
use crate::state::AppState;

/// The `/audit` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Action (`auth.login`), or a prefix ending in `.` (`auth.`).
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<UserId>,
    /// At or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page size (1 to 200, default 50).
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
}

/// One audited event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Id.
    pub id: AuditId,
    /// Who acted.
    pub actor_id: Option<UserId>,
    /// Their e-mail.
    pub actor_email: Option<String>,
    /// What happened.
    pub action: String,
    /// What it happened to.
    pub target: Option<String>,
    /// From which address.
    pub ip: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// More about it.
    pub details: Option<serde_json::Value>,
}

/// The client's audit log, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = PageOf<AuditEntry>), (status = 403, body = pulse_core::ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<PageOf<AuditEntry>>> {
    let page = Page::new(q.limit, q.offset);
    let filter = audit::AuditFilter {
        action: q.action,
        actor: q.actor,
        from: q.from,
        to: q.to,
    };
    let tx = state.db().tenant(ctx.client).await?;
    let found = audit::list(&tx, &filter, page).await?;
    tx.commit().await?;
    let items = found
        .items
        .into_iter()
        .map(|e| AuditEntry {
            id: AuditId::from_uuid(e.id),
            actor_id: e.actor_id.map(UserId::from_uuid),
            actor_email: e.actor_email,
            action: e.action,
            target: e.target,
            ip: e.ip,
            at: e.at,
            details: e.details,
        })
        .collect();
    Ok(axum::Json(PageOf {
        items,
        total: found.total,
        limit: page.limit,
        offset: page.offset,
    }))
}
