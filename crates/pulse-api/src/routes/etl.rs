//! `/etl`: integrations, sync jobs, their logs and schedules, for client admins; live progress on
//! the `/etl/ws` WebSocket.
//!
//! Credentials are write-only: requests may carry them, responses only say `has_credentials`. They
//! are never logged (the request types hold them as [`Secret`], whose `Debug` is redacted), never
//! audited, and never accepted in URLs (a base URL with user information is refused).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use pulse_config::Secret;
use pulse_core::{Error, Result};
use pulse_db::entity::job_logs;
use pulse_db::repo::{audit, Page};
use pulse_db::sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use pulse_etl::integrations::{self, Integration, IntegrationUpdate, NewIntegration};
use pulse_etl::{
    IntegrationId, Job, JobEvent, JobFilter, JobId, JobMode, JobStatus, LogLevel, Schedule,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::entry;
use super::dto::{check_name, PageOf};
use crate::auth::{Admin, AuthContext};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub mod ws;

/// The `/etl` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_integrations, create_integration))
        .routes(routes!(
            get_integration,
            update_integration,
            delete_integration
        ))
        .routes(routes!(enable_integration))
        .routes(routes!(disable_integration))
        .routes(routes!(test_integration))
        .routes(routes!(
            set_integration_schedule,
            clear_integration_schedule
        ))
        .routes(routes!(run_integration_now))
        .routes(routes!(full_resync_integration))
        .routes(routes!(reconvert_integration))
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(cancel_job))
        .routes(routes!(pause_job))
        .routes(routes!(resume_job))
        .routes(routes!(list_job_logs, delete_job_logs))
        .routes(routes!(ws::etl_events))
}

// ---------------------------------------------------------------------------------------------
// Views

/// An integration as the API shows it: never its credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    /// Id.
    #[schema(value_type = uuid::Uuid)]
    pub id: IntegrationId,
    /// Connector kind (`git`, ...).
    pub kind: String,
    /// Display name, unique within the client.
    pub name: String,
    /// The upstream's base URL.
    pub base_url: Option<String>,
    /// Whether credentials are stored (they are never returned).
    pub has_credentials: bool,
    /// Scopes to sync.
    pub scopes: Vec<String>,
    /// When it syncs on its own: `{"interval_seconds": n}` or `{"cron": "...", "time_zone": "..."}`.
    #[schema(value_type = Option<Object>)]
    pub schedule: Option<Schedule>,
    /// Connector-specific rules.
    #[schema(value_type = Option<Object>)]
    pub rules: Option<Value>,
    /// Whether the scheduler runs it.
    pub enabled: bool,
    /// When the scheduler last queued it.
    pub last_scheduled_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Integration> for IntegrationView {
    fn from(i: Integration) -> Self {
        Self {
            id: i.id,
            kind: i.kind,
            name: i.name,
            base_url: i.base_url,
            has_credentials: i.has_credentials,
            scopes: i.scopes,
            schedule: i.schedule,
            rules: i.rules,
            enabled: i.enabled,
            last_scheduled_at: i.last_scheduled_at,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// A sync job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// Id.
    #[schema(value_type = uuid::Uuid)]
    pub id: JobId,
    /// The integration it syncs.
    #[schema(value_type = uuid::Uuid)]
    pub integration_id: IntegrationId,
    /// What it does (`sync`).
    pub kind: String,
    /// The integration scope.
    pub scope: String,
    /// `incremental`, `full` or `reconvert`.
    pub mode: String,
    /// `queued`, `running`, `paused`, `succeeded`, `failed`, `cancelled` or `waiting_rate_limit`.
    pub status: String,
    /// Claims so far.
    pub attempt: u32,
    /// Failed runs so far.
    pub failures: u32,
    /// Failed runs allowed.
    pub max_attempts: u32,
    /// Not run before this time.
    pub run_at: DateTime<Utc>,
    /// The worker holding it.
    pub lease_owner: Option<String>,
    /// Last reported progress (`phase`, `done`, `total`, `current`).
    #[schema(value_type = Option<Object>)]
    pub progress: Option<pulse_etl::Progress>,
    /// The last error.
    pub last_error: Option<String>,
    /// A cancel waits for the running worker.
    pub cancel_requested: bool,
    /// A pause waits for the running worker.
    pub pause_requested: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// First claimed.
    pub started_at: Option<DateTime<Utc>>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        Self {
            id: j.id,
            integration_id: j.integration,
            kind: j.kind,
            scope: j.scope,
            mode: j.mode.as_str().into(),
            status: j.status.as_str().into(),
            attempt: j.attempt,
            failures: j.failures,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            lease_owner: j.lease_owner,
            progress: j.progress,
            last_error: j.last_error,
            cancel_requested: j.cancel_requested,
            pause_requested: j.pause_requested,
            created_at: j.created_at,
            updated_at: j.updated_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

/// One status change of a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobEventView {
    /// When.
    pub at: DateTime<Utc>,
    /// The previous status (none at creation).
    pub from: Option<String>,
    /// The new status.
    pub to: String,
    /// The attempt.
    pub attempt: u32,
    /// Why.
    pub message: Option<String>,
}

impl From<JobEvent> for JobEventView {
    fn from(e: JobEvent) -> Self {
        Self {
            at: e.at,
            from: e.from.map(|s| s.as_str().into()),
            to: e.to.as_str().into(),
            attempt: e.attempt,
            message: e.message,
        }
    }
}

/// One log line of a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobLogView {
    /// Id.
    pub id: uuid::Uuid,
    /// The job.
    pub job_id: uuid::Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// What happened.
    pub message: String,
    /// Structured detail.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Value>,
}

impl From<job_logs::Model> for JobLogView {
    fn from(m: job_logs::Model) -> Self {
        Self {
            id: m.id,
            job_id: m.job_id,
            at: m.at,
            level: m.level,
            message: m.message,
            fields: m.fields,
        }
    }
}

/// A job with its history and its first log lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDetail {
    /// The job.
    pub job: JobView,
    /// Every status change, oldest first.
    pub history: Vec<JobEventView>,
    /// The first log lines, oldest first (page through `GET /etl/logs?job=`).
    pub logs: PageOf<JobLogView>,
}

// ---------------------------------------------------------------------------------------------
// Validation

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Whether `host` is on the allow-list (`example.com`, or `*.example.com` for its subdomains).
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    allowed.is_empty()
        || allowed.iter().any(|a| {
            let a = a.trim().trim_end_matches('.').to_ascii_lowercase();
            match a.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
                None => host == a,
            }
        })
}

/// Checks a tenant-supplied base URL: http or https, a host, no user information (credentials
/// never travel in URLs), no query or fragment, and a host on `etl.allowed_hosts` when set.
/// Returns the URL without a trailing slash.
pub fn check_base_url(raw: &str, allowed: &[String]) -> Result<String> {
    let invalid = |m: &str| Error::invalid("base_url", m);
    let url = url::Url::parse(raw.trim()).map_err(|_| invalid("is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must use http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not contain user information; send credentials in the `credentials` field",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| invalid("must name a host"))?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if !host_allowed(&host, allowed) {
        return Err(invalid("names a host this server is not allowed to reach"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn check_scopes(scopes: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in scopes {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > 500 {
            return Err(Error::invalid(
                "scopes",
                "each scope must be 1 to 500 characters",
            ));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    if out.len() > 1000 {
        return Err(Error::invalid("scopes", "at most 1000 scopes"));
    }
    Ok(out)
}

fn check_schedule(schedule: &Schedule) -> Result<()> {
    schedule
        .validate()
        .map_err(|e| Error::invalid("schedule", e.0))
}

fn check_credentials(secret: &Secret) -> Result<()> {
    if secret.is_empty() || secret.expose().len() > 16 * 1024 {
        return Err(Error::invalid(
            "credentials",
            "must be 1 to 16384 bytes (send null to remove them)",
        ));
    }
    Ok(())
}

fn cipher(state: &AppState) -> Result<&pulse_auth::crypto::Cipher> {
    state
        .engine()
        .cipher()
        .ok_or_else(|| Error::internal(anyhow::anyhow!("the job engine has no cipher")))
}

fn audited(ctx: &AuthContext, action: &str, target: impl ToString, details: Value) -> audit::Entry {
    audit::Entry {
        details: Some(details),
        ..entry(ctx, action, Some(target.to_string()))
    }
}

// ---------------------------------------------------------------------------------------------
// Integrations

/// Lists the client's integrations by name.
#[utoipa::path(get, path = "/etl/integrations", tag = "etl",
    responses((status = 200, body = Vec<IntegrationView>), (status = 403, body = pulse_core::ErrorBody)))]
async fn list_integrations(
    State(state): State<AppState>,
    Admin(ctx): Admin,
) -> Result<axum::Json<Vec<IntegrationView>>> {
    let tx = state.db().tenant(ctx.client).await?;
    let found = integrations::list(&tx).await?;
    tx.commit().await?;
    Ok(axum::Json(found.into_iter().map(Into::into).collect()))
}

/// A new integration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegrationRequest {
    /// Connector kind; one of the installed connectors.
    pub kind: String,
    /// Display name, unique within the client.
    pub name: String,
    /// The upstream's base URL (http or https, no user information).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Credentials (a token), stored encrypted and never returned.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub credentials: Option<Secret>,
    /// Scopes to sync.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// When it syncs on its own.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schedule: Option<Schedule>,
    /// Connector-specific rules.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub rules: Option<Value>,
}

/// Creates an integration.
#[utoipa::path(post, path = "/etl/integrations", tag = "etl", request_body = CreateIntegrationRequest,
    responses((status = 201, body = IntegrationView), (status = 403, body = pulse_core::ErrorBody),
        (status = 409, body = pulse_core::ErrorBody), (status = 422, body = pulse_core::ErrorBody)))]
async fn create_integration(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Json(req): Json<CreateIntegrationRequest>,
) -> Result<(StatusCode, axum::Json<IntegrationView>)> {
    check_name(&req.name)?;
    if state.registry().get(&req.kind).is_none() {
        return Err(Error::invalid(
            "kind",
            format!("no connector is installed for kind '{}'", req.kind),
        ));
    }
    let base_url = req
        .base_url
        .as_deref()
        .map(|u| check_base_url(u, &state.config().etl.allowed_hosts))
        .transpose()?;
    if let Some(c) = &req.credentials {
        check_credentials(c)?;
    }
    if let Some(s) = &req.schedule {
        check_schedule(s)?;
    }
    let scopes = check_scopes(&req.scopes)?;
    let tx = state.db().tenant(ctx.client).await?;
    let created = integrations::create(
        &tx,
        cipher(&state)?,
        NewIntegration {
            kind: req.kind,
            name: req.name,
            base_url,
            credentials: req.credentials,
            scopes,
            schedule: req.schedule,
            rules: req.rules,
        },
        state.engine().now(),
    )
    .await?;
    audit::record_in(
        &tx,
        audited(
            &ctx,
            "etl.integration.create",
            created.id,
            serde_json::json!({
                "kind": created.kind,
                "name": created.name,
                "base_url": created.base_url,
                "has_credentials": created.has_credentials,
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(created.into())))
}

/// One integration.
#[utoipa::path(get, path = "/etl/integrations/{id}", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Integration id")),
    responses((status = 200, body = IntegrationView), (status = 403, body = pulse_core::ErrorBody), (status = 404, body = pulse_core::ErrorBody)))]
async fn get_integration(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<IntegrationId>,
) -> Result<axum::Json<IntegrationView>> {
    let tx = state.db().tenant(ctx.client).await?;
    let found = integrations::get(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(found.into()))
}

/// Changes to an integration; absent fields stay as they are, `null` removes an optional value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegrationRequest {
    /// New display name.
    pub name: Option<String>,
    /// New base URL (`null` removes it).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub base_url: Option<Option<String>>,
    /// New credentials (`null` removes them); never returned.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub credentials: Option<Option<Secret>>,
    /// New scope list.
    pub scopes: Option<Vec<String>>,
    /// New rules (`null` removes them).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub rules: Option<Option<Value>>,
}

/// Updates an integration's name, base URL, credentials, scopes or rules.
#[utoipa::path(patch, path = "/etl/integrations/{id}", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Integration id")),
    request_body = UpdateIntegrationRequest,
    responses((status = 200, body = IntegrationView), (status = 403, body = pulse_core::ErrorBody),
        (status = 404, body = pulse_core::ErrorBody), (status = 409, body = pulse_core::ErrorBody),
        (status = 422, body = pulse_core::ErrorBody)))]
async fn update_integration(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<IntegrationId>,
    Json(req): Json<UpdateIntegrationRequest>,
) -> Result<axum::Json<IntegrationView>> {
    if let Some(name) = &req.name {
        check_name(name)?;
    }
    let base_url = match &req.base_url {
        Some(Some(u)) => Some(Some(check_base_url(u, &state.config().etl.allowed_hosts)?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(Some(c)) = &req.credentials {
        check_credentials(c)?;
    }
    let scopes = req.scopes.as_deref().map(check_scopes).transpose()?;
    let mut changed: Vec<&str> = Vec::new();
    for (field, set) in [
        ("name", req.name.is_some()),
        ("base_url", base_url.is_some()),
        ("credentials", req.credentials.is_some()),
        ("scopes", scopes.is_some()),
        ("rules", req.rules.is_some()),
    ] {
        if set {
            changed.push(field);
        }
    }
    let now = state.engine().now();
    let tx = state.db().tenant(ctx.client).await?;
    let mut updated = integrations::update(
        &tx,
        id,
        IntegrationUpdate {
            name: req.name,
            base_url,
            scopes,
            rules: req.rules,
        },
        now,
    )
    .await?;
    if let Some(credentials) = &req.credentials {
        updated =
            integrations::set_credentials(&tx, cipher(&state)?, id, credentials.as_ref(), now)
                .await?;
    }
    audit::record_in(
        &tx,
        audited(
            &ctx,
            "etl.integration.update",
            id,
            serde_json::json!({ "changed": changed }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(updated.into()))
}

/// Deletes an integration with its jobs, their history and logs, and its raw records.
#[utoipa::path(delete, path = "/etl/integrations/{id}", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Integration id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = pulse_core::ErrorBody), (status = 404, body = pulse_core::ErrorBody)))]
async fn delete_integration(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<IntegrationId>,
) -> Result<StatusCode> {
    let tx = state.db().tenant(ctx.client).await?;
    let found = integrations::get(&tx, id).await?;
    integrations::delete(&tx, id).await?;
    audit::record_in(
        &tx,
        audited(
            &ctx,
            "etl.integration.delete",
            id,
            serde_json::json!({ "kind": found.kind, "name": found.name }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_enabled(
    state: &AppState,
    ctx: &AuthContext,
    id: IntegrationId,
    enabled: bool,
) -> Result<IntegrationView> {
    let tx = state.db().tenant(ctx.client).await?;
    let current = integrations::get(&tx, id).await?;
    let updated =
        integrations::set_schedule(&tx, id, current.schedule, enabled, state.engine().now())
            .await?;
    let action = if enabled {
        "etl.integration.enable"
    } else {
        "etl.integration.disable"
    };
    audit::record_in(&tx, entry(ctx, action, Some(id.to_string()))).await?;
    tx.commit().await?;
    Ok(updated.into())
}

/// Lets the scheduler run the integration again.
#[utoipa::path(post, path = "/etl/integrations/{id}/enable", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Integration id")),
    responses((status = 200, body = IntegrationView), (status = 403, body = pulse_core::ErrorBody), (status = 404, body = pulse_core::ErrorBody)))]
async fn enable_integration(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<IntegrationId>,
) -> Result<axum::Json<IntegrationView>> {
    Ok(axum::Json(set_enabled(&state, &ctx, id, true).await?))
}

/// Stops the scheduler from running the integration (jobs can still be started by hand).
#[utoipa::path(post, path = "/etl/integrations/{id}/disable", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Integration id")),
    responses((status = 200, body = IntegrationView), (status = 403, body = pulse_core::ErrorBody), (status = 404, body = pulse_core::ErrorBody)))]
async fn disable_integration(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<IntegrationId>,
) -> Result<axum::Json<IntegrationView>> {
    Ok(axum::Json(set_enabled(&state, &ctx, id, false).await?))
}

/// The outcome of a connection test.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTest {
    /// Whether the base URL and credentials work.
    pub ok: bool,
    /// What to fix when they do not.
    pub message: Option<String>,
}

/// Checks that the integration's base URL and credentials work.
#[utoipa::path(post, path = "/etl/integrations/{id}/test", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Integration id")),
    responses((status = 200, body = ConnectionTest), (status = 403, body = pulse_core::ErrorBody),
        (status = 404, body = pulse_core::ErrorBody), (status = 422, body = pulse_core::ErrorBody)))]
async fn test_integration(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<IntegrationId>,
) -> Result<axum::Json<ConnectionTest>> {
    let tx = state.db().tenant(ctx.client).await?;
    let config = integrations::config(&tx, state.engine().cipher(), id).await?;
    tx.commit().await?;
    let connector = state
        .registry()
        .get(&config.integration.kind)
        .ok_or_else(|| {
            Error::invalid(
                "kind",
                format!(
                    "no connector is installed for kind '{}'",
                    config.integration.kind
                ),
            )
        })?;
    let outcome = connector.test_connection(&config).await;
    drop(config);
    let result = match outcome {
        Ok(()) => ConnectionTest {
            ok: true,
            message: None,
        },
        Err(e) => ConnectionTest {
            ok: false,
            message: Some(e.to_string()),
        },
    };
    let tx = state.db().tenant(ctx.client).await?;
    audit::record_in(
        &tx,
        audited(
            &ctx,
            "etl.integration.test",
            id,
            serde_json::json!({ "ok": result.ok }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(result))
}

/// An integration's schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// `{"interval_seconds": n}` or `{"cron": "0 6 * * MON-FRI", "time_zone": "Europe/Berlin"}`
    /// (five or six cron fields; the time zone is an IANA name, UTC when omitted).
    #[schema(value_type = Object)]
    pub schedule: Schedule,
}

/// Sets when the integration syncs on its own.
#[utoipa::path(put, path = "/etl/integrations/{id}/schedule", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Integration id")),
    request_body = ScheduleRequest,
    responses((status = 200, body = IntegrationView), (status = 403, body = pulse_core::ErrorBody),
        (status = 404, body = pulse_core::ErrorBody), (status = 422, body = pulse_core::ErrorBody)))]
async fn set_integration_schedule(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<IntegrationId>,
    Json(req): Json<ScheduleRequest>,
) -> Result<axum::Json<IntegrationView>> {
    check_schedule(&req.schedule)?;
    let tx = state.db().tenant(ctx.client).await?;
    let current = integrations::get(&tx, id).await?;
    let details = serde_json::json!({ "schedule": req.schedule });
    let updated = integrations::set_schedule(
        &tx,
        id,
        Some(req.schedule),
        current.enabled,
        state.engine().now(),
    )
    .await?;
    audit::record_in(&tx, audited(&ctx, "etl.schedule.set", id, details)).await?;
    tx.commit().await?;
    Ok(axum::Json(updated.into()))
}

/// Removes the schedule: the integration then syncs only when started by hand.
#[utoipa::path(delete, path = "/etl/integrations/{id}/schedule", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Integration id")),
    responses((status = 200, body = IntegrationView), (status = 403, body = pulse_core::ErrorBody), (status = 404, body = pulse_core::ErrorBody)))]
async fn clear_integration_schedule(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<IntegrationId>,
) -> Result<axum::Json<IntegrationView>> {
    let tx = state.db().tenant(ctx.client).await?;
    let current = integrations::get(&tx, id).await?;
    let updated =
        integrations::set_schedule(&tx, id, None, current.enabled, state.engine().now()).await?;
    audit::record_in(&tx, entry(&ctx, "etl.schedule.clear", Some(id.to_string()))).await?;
    tx.commit().await?;
    Ok(axum::Json(updated.into()))
}

// ---------------------------------------------------------------------------------------------
// Starting jobs

/// Which scope to run; every scope of the integration when the body is empty or has no scope.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// One of the integration's scopes.
    #[serde(default)]
    pub scope: Option<String>,
}

async fn scopes_to_run(
    state: &AppState,
    ctx: &AuthContext,
    id: IntegrationId,
    body: &Bytes,
) -> Result<Vec<String>> {
    let req: RunRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RunRequest::default()
    } else {
        crate::extract::parse_json(body)?
    };
    let tx = state.db().tenant(ctx.client).await?;
    let integration = integrations::get(&tx, id).await?;
    tx.commit().await?;
    match req.scope {
        Some(scope) if integration.scopes.contains(&scope) => Ok(vec![scope]),
        Some(_) => Err(Error::invalid(
            "scope",
            "is not one of the integration's scopes",
        )),
        None if integration.scopes.is_empty() => Err(Error::invalid(
            "scope",
            "the integration has no scopes to run; add some first",
        )),
        None => Ok(integration.scopes),
    }
}

async fn audit_start(
    state: &AppState,
    ctx: &AuthContext,
    action: &str,
    id: IntegrationId,
    jobs: &[Job],
) -> Result<()> {
    let tx = state.db().tenant(ctx.client).await?;
    let ids: Vec<String> = jobs.iter().map(|j| j.id.to_string()).collect();
    audit::record_in(
        &tx,
        audited(ctx, action, id, serde_json::json!({ "jobs": ids })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Runs the integration (one scope, or every scope) incrementally as soon as a worker is free:
/// a queued job moves to the front, an active one is returned as it is.
#[utoipa::path(post, path = "/etl/integrations/{id}/run", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Integration id")),
    request_body(content = Option<RunRequest>, description = "Optional: an empty body runs every scope"),
    responses((status = 200, body = Vec<JobView>), (status = 403, body = pulse_core::ErrorBody),
        (status = 404, body = pulse_core::ErrorBody), (status = 422, body = pulse_core::ErrorBody)))]
async fn run_integration_now(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<IntegrationId>,
    body: Bytes,
) -> Result<axum::Json<Vec<JobView>>> {
    let scopes = scopes_to_run(&state, &ctx, id, &body).await?;
    let mut jobs = Vec::new();
    for scope in scopes {
        jobs.push(state.engine().run_now(ctx.client, id, &scope).await?);
    }
    audit_start(&state, &ctx, "etl.job.run_now", id, &jobs).await?;
    Ok(axum::Json(jobs.into_iter().map(Into::into).collect()))
}

/// Queues a full re-sync (ignoring earlier watermarks) of one scope or every scope; refused (409)
/// while another job for a scope is active.
#[utoipa::path(post, path = "/etl/integrations/{id}/full-resync", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Integration id")),
    request_body(content = Option<RunRequest>, description = "Optional: an empty body re-syncs every scope"),
    responses((status = 200, body = Vec<JobView>), (status = 403, body = pulse_core::ErrorBody),
        (status = 404, body = pulse_core::ErrorBody), (status = 409, body = pulse_core::ErrorBody),
        (status = 422, body = pulse_core::ErrorBody)))]
async fn full_resync_integration(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<IntegrationId>,
    body: Bytes,
) -> Result<axum::Json<Vec<JobView>>> {
    queue_scopes(&state, &ctx, id, &body, JobMode::Full).await
}

/// Queues a job of `mode` for each scope the body names (every scope when empty), auditing what
/// was queued, also when a later scope is refused.
async fn queue_scopes(
    state: &AppState,
    ctx: &AuthContext,
    id: IntegrationId,
    body: &Bytes,
    mode: JobMode,
) -> Result<axum::Json<Vec<JobView>>> {
    let action = match mode {
        JobMode::Reconvert => "etl.job.reconvert",
        JobMode::Full | JobMode::Incremental => "etl.job.full_resync",
    };
    let scopes = scopes_to_run(state, ctx, id, body).await?;
    let mut jobs = Vec::new();
    for scope in scopes {
        match state.engine().queue(ctx.client, id, &scope, mode).await {
            Ok(job) => jobs.push(job),
            Err(e) => {
                if !jobs.is_empty() {
                    audit_start(state, ctx, action, id, &jobs).await?;
                }
                return Err(e);
            }
        }
    }
    audit_start(state, ctx, action, id, &jobs).await?;
    Ok(axum::Json(jobs.into_iter().map(Into::into).collect()))
}

/// Queues a re-convert of one scope or every scope: the raw records kept from earlier syncs go
/// through extract, convert and load again (after a transform or a rule changed), without calling
/// the source. Refused (409) while another job for a scope is active.
#[utoipa::path(post, path = "/etl/integrations/{id}/reconvert", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Integration id")),
    request_body(content = Option<RunRequest>, description = "Optional: an empty body re-converts every scope"),
    responses((status = 200, body = Vec<JobView>), (status = 403, body = pulse_core::ErrorBody),
        (status = 404, body = pulse_core::ErrorBody), (status = 409, body = pulse_core::ErrorBody),
        (status = 422, body = pulse_core::ErrorBody)))]
async fn reconvert_integration(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<IntegrationId>,
    body: Bytes,
) -> Result<axum::Json<Vec<JobView>>> {
    queue_scopes(&state, &ctx, id, &body, JobMode::Reconvert).await
}

// ---------------------------------------------------------------------------------------------
// Jobs

/// Filters and paging for the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListJobsQuery {
    /// Only these statuses, comma-separated (`queued,running`).
    pub status: Option<String>,
    /// Only this integration's jobs.
    pub integration: Option<uuid::Uuid>,
    /// Only this scope.
    pub scope: Option<String>,
    /// Page size (1 to 200, default 50).
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
}

fn parse_statuses(raw: &str) -> Result<Vec<JobStatus>> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            JobStatus::parse(s)
                .ok_or_else(|| Error::invalid("status", format!("unknown job status '{s}'")))
        })
        .collect()
}

/// The client's jobs, newest first.
#[utoipa::path(get, path = "/etl/jobs", tag = "etl", params(ListJobsQuery),
    responses((status = 200, body = PageOf<JobView>), (status = 403, body = pulse_core::ErrorBody), (status = 422, body = pulse_core::ErrorBody)))]
async fn list_jobs(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Query(q): Query<ListJobsQuery>,
) -> Result<axum::Json<PageOf<JobView>>> {
    let page = Page::new(q.limit, q.offset);
    let filter = JobFilter {
        statuses: q
            .status
            .as_deref()
            .map(parse_statuses)
            .transpose()?
            .unwrap_or_default(),
        integration: q.integration.map(IntegrationId::from_uuid),
        scope: q.scope,
    };
    let found = state.engine().list(ctx.client, &filter, page).await?;
    Ok(axum::Json(PageOf {
        items: found.items.into_iter().map(Into::into).collect(),
        total: found.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// A job with its history and first log lines.
#[utoipa::path(get, path = "/etl/jobs/{id}", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    responses((status = 200, body = JobDetail), (status = 403, body = pulse_core::ErrorBody), (status = 404, body = pulse_core::ErrorBody)))]
async fn get_job(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<JobId>,
) -> Result<axum::Json<JobDetail>> {
    let job = state.engine().get(ctx.client, id).await?;
    let history = state.engine().history(ctx.client, id).await?;
    let page = Page::new(None, None);
    let logs = query_logs(&state, &ctx, Some(id), None, page).await?;
    Ok(axum::Json(JobDetail {
        job: job.into(),
        history: history.into_iter().map(Into::into).collect(),
        logs,
    }))
}

async fn audit_control(state: &AppState, ctx: &AuthContext, action: &str, job: &Job) -> Result<()> {
    let tx = state.db().tenant(ctx.client).await?;
    audit::record_in(
        &tx,
        audited(
            ctx,
            action,
            job.id,
            serde_json::json!({ "status": job.status.as_str() }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Cancels a job: at once when not running, otherwise at the running worker's next page (the
/// data stays consistent as of the last committed page). A finished job answers 409.
#[utoipa::path(post, path = "/etl/jobs/{id}/cancel", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 403, body = pulse_core::ErrorBody),
        (status = 404, body = pulse_core::ErrorBody), (status = 409, body = pulse_core::ErrorBody)))]
async fn cancel_job(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<JobId>,
) -> Result<axum::Json<JobView>> {
    let job = state.engine().cancel(ctx.client, id).await?;
    audit_control(&state, &ctx, "etl.job.cancel", &job).await?;
    Ok(axum::Json(job.into()))
}

/// Pauses a job: at once when queued, otherwise at the running worker's next page; it keeps its
/// checkpoint.
#[utoipa::path(post, path = "/etl/jobs/{id}/pause", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 403, body = pulse_core::ErrorBody),
        (status = 404, body = pulse_core::ErrorBody), (status = 409, body = pulse_core::ErrorBody)))]
async fn pause_job(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<JobId>,
) -> Result<axum::Json<JobView>> {
    let job = state.engine().pause(ctx.client, id).await?;
    audit_control(&state, &ctx, "etl.job.pause", &job).await?;
    Ok(axum::Json(job.into()))
}

/// Resumes a paused job from its checkpoint.
#[utoipa::path(post, path = "/etl/jobs/{id}/resume", tag = "etl",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 403, body = pulse_core::ErrorBody),
        (status = 404, body = pulse_core::ErrorBody), (status = 409, body = pulse_core::ErrorBody)))]
async fn resume_job(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<JobId>,
) -> Result<axum::Json<JobView>> {
    let job = state.engine().resume(ctx.client, id).await?;
    audit_control(&state, &ctx, "etl.job.resume", &job).await?;
    Ok(axum::Json(job.into()))
}

// ---------------------------------------------------------------------------------------------
// Logs

/// Filters and paging for job logs.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// Only this job's lines (404 when the job does not exist).
    pub job: Option<uuid::Uuid>,
    /// Only this level: `debug`, `info`, `warn` or `error`.
    #[param(value_type = Option<String>)]
    pub level: Option<LogLevel>,
    /// Page size (1 to 200, default 50).
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
}

async fn query_logs(
    state: &AppState,
    ctx: &AuthContext,
    job: Option<JobId>,
    level: Option<LogLevel>,
    page: Page,
) -> Result<PageOf<JobLogView>> {
    if let Some(job) = job {
        state.engine().get(ctx.client, job).await?;
    }
    let tx = state.db().tenant(ctx.client).await?;
    let mut query =
        job_logs::Entity::find().filter(job_logs::Column::ClientId.eq(tx.client_uuid()));
    if let Some(job) = job {
        query = query.filter(job_logs::Column::JobId.eq(job.uuid()));
    }
    if let Some(level) = level {
        query = query.filter(job_logs::Column::Level.eq(level.as_str()));
    }
    let total = query.clone().count(tx.conn()).await?;
    let rows = query
        .order_by_asc(job_logs::Column::At)
        .order_by_asc(job_logs::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(PageOf {
        items: rows.into_iter().map(Into::into).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// Job log lines, oldest first, of one job or of every job of the client.
#[utoipa::path(get, path = "/etl/logs", tag = "etl", params(LogsQuery),
    responses((status = 200, body = PageOf<JobLogView>), (status = 403, body = pulse_core::ErrorBody), (status = 404, body = pulse_core::ErrorBody)))]
async fn list_job_logs(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Query(q): Query<LogsQuery>,
) -> Result<axum::Json<PageOf<JobLogView>>> {
    let page = Page::new(q.limit, q.offset);
    Ok(axum::Json(
        query_logs(&state, &ctx, q.job.map(JobId::from_uuid), q.level, page).await?,
    ))
}

/// Which log lines to delete.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteLogsQuery {
    /// Delete lines written before this time (RFC 3339).
    pub before: DateTime<Utc>,
}

/// How many log lines were deleted.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedLogs {
    /// Lines deleted.
    pub deleted: u64,
}

/// Deletes the client's job log lines older than `before`.
#[utoipa::path(delete, path = "/etl/logs", tag = "etl", params(DeleteLogsQuery),
    responses((status = 200, body = DeletedLogs), (status = 400, body = pulse_core::ErrorBody), (status = 403, body = pulse_core::ErrorBody)))]
async fn delete_job_logs(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Query(q): Query<DeleteLogsQuery>,
) -> Result<axum::Json<DeletedLogs>> {
    let tx = state.db().tenant(ctx.client).await?;
    let deleted = job_logs::Entity::delete_many()
        .filter(job_logs::Column::ClientId.eq(tx.client_uuid()))
        .filter(job_logs::Column::At.lt(q.before))
        .exec(tx.conn())
        .await?
        .rows_affected;
    let mut e = entry(&ctx, "etl.logs.delete", None);
    e.details = Some(serde_json::json!({ "before": q.before, "deleted": deleted }));
    audit::record_in(&tx, e).await?;
    tx.commit().await?;
    Ok(axum::Json(DeletedLogs { deleted }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        let none: Vec<String> = Vec::new();
        assert_eq!(
            check_base_url("https://github.example.com/api/v3/", &none).unwrap(),
            "https://github.example.com/api/v3"
        );
        for bad in [
            "ftp://example.com",
            "file:///etc/passwd",
            "https://user:pw@example.com",
            "https://token@example.com",
            "https://example.com/?token=x",
            "not a url",
        ] {
            assert!(check_base_url(bad, &none).is_err(), "{bad}");
        }
        let allowed = vec!["github.com".to_string(), "*.atlassian.net".to_string()];
        assert!(check_base_url("https://github.com", &allowed).is_ok());
        assert!(check_base_url("https://acme.atlassian.net", &allowed).is_ok());
        assert!(check_base_url("https://atlassian.net", &allowed).is_err());
        assert!(check_base_url("https://evilatlassian.net", &allowed).is_err());
        assert!(check_base_url("http://169.254.169.254", &allowed).is_err());
    }
}
