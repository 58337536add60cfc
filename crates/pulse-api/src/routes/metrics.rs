//! `/metrics/*`: DORA, pull-request, flow, sprint, portfolio and executive metrics. Handlers only
//! parse the filters and call `pulse_analytics`; every member may read them.

use axum::extract::State;
use chrono::{NaiveDate, Utc};
use pulse_analytics::{
    DoraMetrics, ExecutiveReport, Filters, FlowMetrics, Granularity, MetricsParams,
    PortfolioReport, PullRequestMetrics, SprintMetrics,
};
use pulse_core::{ErrorBody, Result};
use pulse_db::TenantTx;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{AuthContext, Viewer};
use crate::extract::Query;
use crate::state::AppState;

/// The `/metrics` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dora))
        .routes(routes!(pull_requests))
        .routes(routes!(flow))
        .routes(routes!(sprints))
        .routes(routes!(portfolio))
        .routes(routes!(executive))
}

/// Filters shared by every metric.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// First local date, inclusive (default: 29 days before `to`).
    pub from: Option<NaiveDate>,
    /// Last local date, inclusive (default: today in `tz`).
    pub to: Option<NaiveDate>,
    /// Only this team and its sub-teams.
    pub team: Option<Uuid>,
    /// Only this project.
    pub project: Option<Uuid>,
    /// Only this repository (does not apply to issues and sprints).
    pub repository: Option<Uuid>,
    /// Series bucket size: `day`, `week` (default) or `month`.
    #[param(inline)]
    pub granularity: Option<Granularity>,
    /// IANA time zone of the calendar (default `UTC`).
    pub tz: Option<String>,
    /// DORA benchmark report year: 2021, 2023 or 2024 (default).
    pub year: Option<u16>,
}

impl MetricsQuery {
    fn filters(self) -> Result<Filters> {
        Filters::parse(
            MetricsParams {
                from: self.from,
                to: self.to,
                team: self.team,
                project: self.project,
                repository: self.repository,
                granularity: self.granularity,
                tz: self.tz,
                year: self.year,
            },
            Utc::now(),
        )
    }
}

async fn read(state: &AppState, ctx: &AuthContext) -> Result<TenantTx> {
    // Bring the metric aggregates up to date first. Should that fail, the reports answer from raw
    // rows (the pending markers stay), so the failure is logged rather than returned.
    if let Err(e) = pulse_analytics::rollup::refresh_pending(state.db(), ctx.client).await {
        tracing::error!(error = %e, "refreshing the metric aggregates failed; reports use raw rows");
    }
    state.db().tenant_read(ctx.client).await
}

macro_rules! metric_handler {
    ($name:ident, $path:literal, $body:ty, $service:path, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(get, path = $path, tag = "metrics", params(MetricsQuery),
            responses((status = 200, body = $body),
                (status = 400, description = "Unknown or malformed parameter", body = ErrorBody),
                (status = 404, description = "Team, project or repository not found", body = ErrorBody),
                (status = 422, description = "Invalid range, time zone or year", body = ErrorBody)))]
        async fn $name(
            State(state): State<AppState>,
            Viewer(ctx): Viewer,
            Query(q): Query<MetricsQuery>,
        ) -> Result<axum::Json<$body>> {
            let filters = q.filters()?;
            let tx = read(&state, &ctx).await?;
            let report = $service(&tx, &filters).await?;
            tx.commit().await?;
            Ok(axum::Json(report))
        }
    };
}

metric_handler!(
    dora,
    "/metrics/dora",
    DoraMetrics,
    pulse_analytics::dora,
    "DORA metrics (deployment frequency, lead time, change failure rate, recovery, rework) with each metric's benchmark tier for `year`."
);
metric_handler!(
    pull_requests,
    "/metrics/pull-requests",
    PullRequestMetrics,
    pulse_analytics::pull_requests,
    "Pull-request metrics over the pull requests merged in the range: throughput, cycle-time stages, size, review depth."
);
metric_handler!(
    flow,
    "/metrics/flow",
    FlowMetrics,
    pulse_analytics::flow,
    "Work-item flow: lead and cycle time, throughput, cumulative flow, WIP."
);
metric_handler!(
    sprints,
    "/metrics/sprints",
    SprintMetrics,
    pulse_analytics::sprints,
    "Sprint metrics of the sprints that closed in the range: commitment, scope change, velocity, planning accuracy."
);
metric_handler!(
    portfolio,
    "/metrics/portfolio",
    PortfolioReport,
    pulse_analytics::portfolio,
    "Every metric rolled up by team (sub-teams included, items counted once) and by project."
);
metric_handler!(
    executive,
    "/metrics/executive",
    ExecutiveReport,
    pulse_analytics::executive,
    "The client's DORA keys with tier and change against the previous period of equal length, delivery predictability and the teams and projects that moved most."
);
