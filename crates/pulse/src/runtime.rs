//! Starting the server and running migrations.

use pulse_config::Config;
use pulse_core::ClientId;
use pulse_db::migration;
use pulse_db::Db;

use crate::Migrate;

pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.filter)
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn connect(config: &Config) -> anyhow::Result<Db> {
    Db::connect(config).await
}

pub async fn migrate(config: Config, action: Migrate) -> anyhow::Result<()> {
    let db = connect(&config).await?;
    match action {
        Migrate::Up => {
            let applied = migration::up(db.system()).await?;
            db.prepare().await?;
            if applied.is_empty() {
                println!("nothing to apply: the schema is up to date");
            }
            for name in applied {
                println!("applied {name}");
            }
        }
        Migrate::Status => {
            for m in migration::status(db.system()).await? {
                println!(
                    "{}  {}",
                    if m.applied { "applied" } else { "pending" },
                    m.name
                );
            }
        }
        Migrate::Down { to } => {
            let undone = migration::down_to(db.system(), &to).await?;
            if undone.is_empty() {
                println!("nothing to roll back");
            }
            for name in undone {
                println!("rolled back {name}");
            }
        }
    }
    Ok(())
}

/// Resolves `CLIENT_NAME`, creating the client if it does not exist yet.
async fn pinned_client(config: &Config, db: &Db) -> anyhow::Result<Option<ClientId>> {
    let Some(name) = &config.bootstrap.client_name else {
        return Ok(None);
    };
    let client = match pulse_db::repo::clients::find_by_name(db.system(), name).await? {
        Some(c) => c,
        None => pulse_db::repo::clients::create(db.system(), name).await?,
    };
    Ok(Some(ClientId::from_uuid(client.id)))
}

pub async fn serve(config: Config, auto_migrate: bool) -> anyhow::Result<()> {
    serve_with(config, auto_migrate, None).await
}

/// `pulse demo`: serve after creating the demo client and loading generated data into it.
pub async fn serve_demo(config: Config, demo: pulse_demo::Options) -> anyhow::Result<()> {
    serve_with(config, true, Some(demo)).await
}

async fn serve_with(
    config: Config,
    auto_migrate: bool,
    demo: Option<pulse_demo::Options>,
) -> anyhow::Result<()> {
    let db = connect(&config).await?;
    if auto_migrate && config.database.auto_migrate {
        for name in migration::up(db.system()).await? {
            tracing::info!(migration = %name, "applied migration");
        }
    } else {
        migration::ensure_current(db.system()).await?;
    }
    db.prepare().await?;
    let keys = pulse_auth::keys::load(&config)?;
    let pinned = pinned_client(&config, &db).await?;
    let hasher = pulse_auth::password::Hasher::new(config.auth.hash_concurrency);
    if let Some(options) = demo {
        crate::admin::create_demo(&db, &hasher, &options).await?;
    } else {
        crate::admin::bootstrap_admin(&config, &db, &hasher, pinned).await?;
    }
    let engine = crate::etl::engine(&config, &db, &keys);
    let registry = std::sync::Arc::new(crate::etl::connectors(&config));
    let state = pulse_api::AppState::with_etl(
        config.clone(),
        db,
        keys,
        pinned,
        engine.clone(),
        registry.clone(),
    )?;
    // A process pinned to one client (CLIENT_NAME) runs only that client's jobs.
    let background = crate::etl::Background::start(
        &engine,
        registry,
        config.etl.workers,
        pinned,
        crate::etl::RelayMode {
            database_url: config.database_url(),
            listen: true,
        },
    );
    let addr = format!("{}:{}", config.server.host, config.server.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(address = %listener.local_addr()?, "Pulse is serving");
    println!(
        "Pulse is serving on http://{} (API docs at /docs)",
        listener.local_addr()?
    );
    let served =
        pulse_api::serve::serve(listener, state, pulse_api::serve::shutdown_signal()).await;
    background.stop().await;
    served
}

/// `pulse worker`: job workers and the scheduler without the API, with `/health` and `/metrics`
/// on `etl.worker_port`.
/// `--client NAME` (or `CLIENT_NAME`) pins the workers to that existing client.
pub async fn worker(config: Config, client: Option<String>) -> anyhow::Result<()> {
    let db = connect(&config).await?;
    migration::ensure_current(db.system()).await?;
    db.prepare().await?;
    let pinned = match client.or_else(|| config.bootstrap.client_name.clone()) {
        Some(name) => Some(crate::etl::resolve_pinned_client(&db, &name).await?),
        None => None,
    };
    let keys = pulse_auth::keys::load(&config)?;
    let engine = crate::etl::engine(&config, &db, &keys);
    let workers = config.etl.workers.max(1);
    let background = crate::etl::Background::start(
        &engine,
        std::sync::Arc::new(crate::etl::connectors(&config)),
        workers,
        pinned,
        crate::etl::RelayMode {
            database_url: config.database_url(),
            listen: false,
        },
    );
    let addr = format!("{}:{}", config.server.host, config.etl.worker_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    println!(
        "Pulse worker running {workers} workers; health and metrics on http://{}",
        listener.local_addr()?
    );
    let app = worker_app(db, workers);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(pulse_api::serve::shutdown_signal())
        .await;
    background.stop().await;
    Ok(served?)
}

fn worker_app(db: Db, workers: usize) -> axum::Router {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    let health_db = db.clone();
    axum::Router::new()
        .route(
            "/health",
            get(move || {
                let db = health_db.clone();
                async move {
                    match db.ping().await {
                        Ok(()) => (StatusCode::OK, "ok").into_response(),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
                            .into_response(),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let db = db.clone();
                async move {
                    let mut out = String::from(
                        "# HELP pulse_etl_workers Job workers in this process.\n\
                         # TYPE pulse_etl_workers gauge\n",
                    );
                    out.push_str(&format!("pulse_etl_workers {workers}\n"));
                    out.push_str(
                        "# HELP pulse_etl_jobs Jobs by status, every client.\n\
                         # TYPE pulse_etl_jobs gauge\n",
                    );
                    match job_counts(&db).await {
                        Ok(counts) => {
                            for (status, n) in counts {
                                out.push_str(&format!(
                                    "pulse_etl_jobs{{status=\"{status}\"}} {n}\n"
                                ));
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "counting jobs for metrics failed"),
                    }
                    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
                }
            }),
        )
}

/// Jobs per status across clients (housekeeping read on the privileged connection).
async fn job_counts(db: &Db) -> anyhow::Result<Vec<(String, u64)>> {
    use pulse_db::entity::jobs;
    use pulse_db::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let mut out = Vec::new();
    for status in pulse_etl::JobStatus::ALL {
        let n = jobs::Entity::find()
            .filter(jobs::Column::Status.eq(status.as_str()))
            .count(db.system())
            .await?;
        out.push((status.as_str().to_string(), n));
    }
    Ok(out)
}
