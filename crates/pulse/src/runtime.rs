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
    let state = pulse_api::AppState::new(config.clone(), db, keys, pinned)?;
    let addr = format!("{}:{}", config.server.host, config.server.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(address = %listener.local_addr()?, "Pulse is serving");
    println!(
        "Pulse is serving on http://{} (API docs at /docs)",
        listener.local_addr()?
    );
    pulse_api::serve::serve(listener, state, pulse_api::serve::shutdown_signal()).await
}
