//! `/data/*`: the rows behind the metrics as paginated lists, as JSON or (`format=csv`) CSV, so
//! every number can be drilled into. The filters mean what they mean for the metrics: `from`/`to`
//! are local dates in `tz`, a team includes its sub-teams.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use pulse_analytics::data::{
    self, DataParams, DeploymentItem, IncidentItem, IssueItem, PullRequestItem, SprintItem,
};
use pulse_analytics::export::{self, CsvExport};
use pulse_core::{ErrorBody, Result};
use pulse_db::repo::{deployments, incidents, issues, pull_requests, sprints, Page, Paged};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::dto::PageOf;
use crate::auth::Viewer;
use crate::extract::Query;
use crate::state::AppState;

/// The `/data` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_pull_requests))
        .routes(routes!(list_deployments))
        .routes(routes!(list_incidents))
        .routes(routes!(list_issues))
        .routes(routes!(list_sprints))
}

/// Answer format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A JSON page.
    #[default]
    Json,
    /// Every row of the filtered result as CSV (`text/csv`, header first, streamed; `limit` and
    /// `offset` do not apply); the number of rows is in `X-Total-Count`.
    Csv,
}

fn page_of<T: Serialize>(found: Paged<T>, page: Page) -> Response {
    axum::Json(PageOf {
        items: found.items,
        total: found.total,
        limit: page.limit,
        offset: page.offset,
    })
    .into_response()
}

/// A streamed CSV answer: every row of the filtered result, header first.
fn csv(export: CsvExport, name: &str) -> Response {
    let stream = futures_util::stream::unfold(export.chunks, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let mut res = Body::from_stream(stream).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert("x-total-count", HeaderValue::from(export.total));
    res
}

fn is_csv(format: Option<Format>) -> bool {
    format == Some(Format::Csv)
}

macro_rules! data_query {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Deserialize, IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            /// First local date, inclusive.
            pub from: Option<NaiveDate>,
            /// Last local date, inclusive.
            pub to: Option<NaiveDate>,
            /// IANA time zone of the dates (default `UTC`).
            pub tz: Option<String>,
            /// Only this team and its sub-teams.
            pub team: Option<Uuid>,
            /// Only this project.
            pub project: Option<Uuid>,
            /// Only this repository.
            pub repository: Option<Uuid>,
            /// `json` (default) or `csv` (every row, streamed; `limit` and `offset` do not apply).
            #[param(inline)]
            pub format: Option<Format>,
            /// Page size (1 to 200, default 50).
            pub limit: Option<u64>,
            /// Rows to skip.
            pub offset: Option<u64>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            fn params(&self) -> DataParams {
                DataParams {
                    from: self.from,
                    to: self.to,
                    tz: self.tz.clone(),
                    team: self.team,
                    project: self.project,
                    repository: self.repository,
                }
            }
        }
    };
}

/// Which time the pull-request range applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrDateParam {
    /// Opened.
    #[default]
    Created,
    /// Merged (unmerged pull requests are left out).
    Merged,
}

data_query!(
    /// Pull-request filters.
    PullRequestQuery {
        /// Which time the range applies to: `created` (default) or `merged`.
        #[param(inline)]
        date: Option<PrDateParam>,
        /// Only this state: `open`, `closed` or `merged`.
        state: Option<String>,
    }
);

/// Pull requests, newest first.
#[utoipa::path(get, path = "/data/pull-requests", tag = "data", params(PullRequestQuery),
    responses((status = 200, content(
            (PageOf<PullRequestItem> = "application/json"),
            (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_pull_requests(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Query(q): Query<PullRequestQuery>,
) -> Result<Response> {
    let merged = q.date == Some(PrDateParam::Merged);
    if is_csv(q.format) {
        let tx = state.db().tenant_snapshot(ctx.client).await?;
        let filter = pull_requests::PrFilter {
            scope: data::scope(&tx, &q.params()).await?,
            date: if merged {
                pull_requests::PrDate::Merged
            } else {
                pull_requests::PrDate::Created
            },
            state: q.state,
        };
        return Ok(csv(
            export::pull_requests(tx, filter).await?,
            "pull-requests",
        ));
    }
    let page = Page::new(q.limit, q.offset);
    let tx = state.db().tenant_read(ctx.client).await?;
    let scope = data::scope(&tx, &q.params()).await?;
    let found = data::pull_requests(&tx, scope, merged, q.state, page).await?;
    tx.commit().await?;
    Ok(page_of(found, page))
}

data_query!(
    /// Deployment filters.
    DeploymentQuery {
        /// Only production (`true`) or non-production (`false`) deployments.
        production: Option<bool>,
        /// Only deployments the metric rules count (`true`) or do not count (`false`).
        counted: Option<bool>,
        /// Only this status (`success`, `failure`, ...).
        status: Option<String>,
        /// Only this environment.
        environment: Option<String>,
        /// Only this origin (`github_deployment`, `workflow_run`, `release`, `tag`, `webhook`,
        /// `manual`, or `merged_pr` for the merged-PR fallback).
        origin: Option<String>,
    }
);

/// Deployments, latest finish first (the range applies to the finish time).
#[utoipa::path(get, path = "/data/deployments", tag = "data", params(DeploymentQuery),
    responses((status = 200, content(
            (PageOf<DeploymentItem> = "application/json"),
            (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_deployments(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Query(q): Query<DeploymentQuery>,
) -> Result<Response> {
    let page = Page::new(q.limit, q.offset);
    let tx = if is_csv(q.format) {
        state.db().tenant_snapshot(ctx.client).await?
    } else {
        state.db().tenant_read(ctx.client).await?
    };
    let filter = deployments::DeploymentFilter {
        scope: data::scope(&tx, &q.params()).await?,
        production: q.production,
        counted: q.counted,
        status: q.status,
        environment: q.environment,
        origin: q.origin,
    };
    if is_csv(q.format) {
        return Ok(csv(export::deployments(tx, filter).await?, "deployments"));
    }
    let found = data::deployments(&tx, filter, page).await?;
    tx.commit().await?;
    Ok(page_of(found, page))
}

data_query!(
    /// Incident filters.
    IncidentQuery {
        /// Only open (`true`) or resolved (`false`) incidents.
        open: Option<bool>,
    }
);

/// Incidents, newest first (the range applies to the creation time).
#[utoipa::path(get, path = "/data/incidents", tag = "data", params(IncidentQuery),
    responses((status = 200, content(
            (PageOf<IncidentItem> = "application/json"),
            (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_incidents(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Query(q): Query<IncidentQuery>,
) -> Result<Response> {
    let page = Page::new(q.limit, q.offset);
    let tx = if is_csv(q.format) {
        state.db().tenant_snapshot(ctx.client).await?
    } else {
        state.db().tenant_read(ctx.client).await?
    };
    let filter = incidents::IncidentFilter {
        scope: data::scope(&tx, &q.params()).await?,
        open: q.open,
    };
    if is_csv(q.format) {
        return Ok(csv(export::incidents(tx, filter).await?, "incidents"));
    }
    let found = data::incidents(&tx, filter, page).await?;
    tx.commit().await?;
    Ok(page_of(found, page))
}

/// Which time the issue range applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueDateParam {
    /// Created.
    #[default]
    Created,
    /// Resolved (unresolved issues are left out).
    Resolved,
    /// Last updated.
    Updated,
}

data_query!(
    /// Issue filters (the repository filter does not apply to issues).
    IssueQuery {
        /// Which time the range applies to: `created` (default), `resolved` or `updated`.
        #[param(inline)]
        date: Option<IssueDateParam>,
        /// Only this standard type (`story`, `bug`, ...).
        standard_type: Option<String>,
        /// Only this status category (`to_do`, `in_progress`, `done`).
        status_category: Option<String>,
    }
);

/// Issues, newest first.
#[utoipa::path(get, path = "/data/issues", tag = "data", params(IssueQuery),
    responses((status = 200, content(
            (PageOf<IssueItem> = "application/json"),
            (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_issues(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Query(q): Query<IssueQuery>,
) -> Result<Response> {
    let page = Page::new(q.limit, q.offset);
    let tx = if is_csv(q.format) {
        state.db().tenant_snapshot(ctx.client).await?
    } else {
        state.db().tenant_read(ctx.client).await?
    };
    let filter = issues::IssueFilter {
        scope: data::scope(&tx, &q.params()).await?,
        date: match q.date.unwrap_or_default() {
            IssueDateParam::Created => issues::IssueDate::Created,
            IssueDateParam::Resolved => issues::IssueDate::Resolved,
            IssueDateParam::Updated => issues::IssueDate::Updated,
        },
        standard_type: q.standard_type,
        status_category: q.status_category,
    };
    if is_csv(q.format) {
        return Ok(csv(export::issues(tx, filter).await?, "issues"));
    }
    let found = data::issues(&tx, filter, page).await?;
    tx.commit().await?;
    Ok(page_of(found, page))
}

data_query!(
    /// Sprint filters (the repository filter does not apply to sprints).
    SprintQuery {
        /// Only this board.
        board: Option<Uuid>,
        /// Only this state (`future`, `active`, `closed`).
        state: Option<String>,
    }
);

/// Sprints overlapping the range, latest start first.
#[utoipa::path(get, path = "/data/sprints", tag = "data", params(SprintQuery),
    responses((status = 200, content(
            (PageOf<SprintItem> = "application/json"),
            (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_sprints(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Query(q): Query<SprintQuery>,
) -> Result<Response> {
    let page = Page::new(q.limit, q.offset);
    let tx = if is_csv(q.format) {
        state.db().tenant_snapshot(ctx.client).await?
    } else {
        state.db().tenant_read(ctx.client).await?
    };
    let filter = sprints::SprintFilter {
        scope: data::scope(&tx, &q.params()).await?,
        board: q.board,
        state: q.state,
    };
    if is_csv(q.format) {
        return Ok(csv(export::sprints(tx, filter).await?, "sprints"));
    }
    let found = data::sprints(&tx, filter, page).await?;
    tx.commit().await?;
    Ok(page_of(found, page))
}
