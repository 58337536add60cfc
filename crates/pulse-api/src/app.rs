//! Assembles the HTTP application: the API under `/api/v1`, health and metrics, docs, the web app.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, Method};
use axum::routing::get;
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::middleware;
use crate::routes;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Pulse API", description = "Engineering analytics: DORA metrics, pull requests, flow, sprints."),
    modifiers(&SecuritySchemes),
    tags((name = "auth"), (name = "me"), (name = "users"), (name = "settings"), (name = "audit"), (name = "import"), (name = "ingest"), (name = "org"), (name = "metrics"), (name = "data"), (name = "rules"), (name = "etl"), (name = "health"))
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("__Host-pulse_access"))),
        );
    }
}

/// The API routes with their OpenAPI description (paths relative to `/api/v1`).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::auth::router())
        .merge(routes::tokens::router())
        .merge(routes::me::router())
        .merge(routes::users::router())
        .merge(routes::settings::router())
        .merge(routes::audit::router())
        .merge(routes::import::router())
        .merge(routes::ingest::router())
        .merge(routes::org::router())
        .merge(routes::metrics::router())
        .merge(routes::data::router())
        .merge(routes::rules::router())
        .merge(routes::etl::router())
        .merge(routes::health::router())
}

/// Operations that need no credential; every other one is marked as requiring one.
pub const PUBLIC_OPERATIONS: [(&str, &str); 3] = [
    ("post", "/auth/login"),
    ("post", "/auth/refresh"),
    ("get", "/health"),
];

/// The OpenAPI document served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut spec) = api().split_for_parts();
    spec.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    require_credentials(&mut spec);
    spec
}

/// Marks every non-public operation with the bearer and cookie schemes and a 401 answer, so
/// generated clients and the interactive docs know a credential is needed.
fn require_credentials(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let unauthorized = ResponseBuilder::new()
        .description("Missing, invalid, expired or revoked credentials")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for (path, item) in spec.paths.paths.iter_mut() {
        let ops = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, op) in ops {
            let Some(op) = op.as_mut() else { continue };
            if PUBLIC_OPERATIONS.contains(&(method, path.as_str())) {
                continue;
            }
            op.security = Some(vec![
                SecurityRequirement::new("bearer", Vec::<String>::new()),
                SecurityRequirement::new("cookie", Vec::<String>::new()),
            ]);
            op.responses
                .responses
                .entry("401".into())
                .or_insert_with(|| unauthorized.clone().into());
        }
    }
}

async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    middleware::text(state.metrics().render(), "text/plain; version=0.0.4")
}

/// Builds the whole application.
pub fn router(state: AppState) -> Router {
    let config = state.config().clone();
    let (api_router, _) = api().split_for_parts();
    let spec = openapi();
    let api_router = api_router
        .fallback(middleware::api_not_found)
        .layer(axum::middleware::from_fn(middleware::mark_route));

    let mut app = Router::new()
        .nest("/api/v1", api_router)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let s = spec.clone();
                async move { axum::Json(s) }
            }),
        )
        .route("/health", get(routes::health::liveness))
        .route("/metrics", get(metrics))
        .merge(SwaggerUi::new("/docs").url("/api/v1/openapi-ui.json", openapi()));

    let index = config.server.web_dir.join("index.html");
    app = if index.exists() {
        app.fallback_service(ServeDir::new(&config.server.web_dir).fallback(ServeFile::new(index)))
    } else {
        app.fallback(|uri: axum::http::Uri| async move {
            if uri.path().starts_with("/api/") {
                middleware::api_not_found().await
            } else {
                pulse_core::ErrorBody::response(
                    axum::http::StatusCode::NOT_FOUND,
                    "not_found",
                    "no such page (the web app is not built)",
                )
            }
        })
    };

    // json_errors sits outside the limits and the timeout so their rejections get the JSON shape.
    let mut app = app
        .layer(axum::extract::DefaultBodyLimit::max(
            config.server.body_limit_bytes,
        ))
        .layer(RequestBodyLimitLayer::new(config.server.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.server.request_timeout_seconds),
        ))
        .layer(axum::middleware::from_fn(middleware::json_errors));
    if !config.server.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .server
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_credentials(true)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::HeaderName::from_static("x-csrf-token"),
                ]),
        );
    }
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        middleware::security_headers,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        middleware::observe,
    ))
    .with_state(state)
}
