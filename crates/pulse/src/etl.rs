//! The job engine in this process: the production connector registry, and the background tasks
//! (`etl.workers` workers, the scheduler and log/raw-record retention) that `serve` and `worker`
//! start and stop.

use std::sync::Arc;
use std::time::Duration;

use pulse_config::Config;
use pulse_core::ClientId;
use pulse_db::Db;
use pulse_etl::{Engine, EngineConfig, Registry, Relay, Scheduler, Worker};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Every connector production runs, by integration kind. This is the one place connectors are
/// registered; tests build their own registry (with `pulse_etl::testing::CountingConnector`).
pub fn connectors(config: &pulse_config::Config) -> Registry {
    pulse_etl::connectors::builtin(&pulse_etl::connectors::BuiltinSettings::from_config(
        &config.etl,
    ))
}

/// The engine shared by this process's API, workers and scheduler, with the configured leases,
/// heartbeat, poll interval, retry policy and retention (`[etl]`, `PULSE_ETL_*`).
pub fn engine(config: &Config, db: &Db, keys: &pulse_auth::keys::Keys) -> Engine {
    Engine::new(db.clone(), EngineConfig::from_config(&config.etl))
        .with_cipher(pulse_auth::crypto::Cipher::new(&keys.encryption_key))
}

/// How often retention runs.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Running background tasks; [`Background::stop`] ends them.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    relay: Option<(Engine, Relay)>,
}

/// Whether this process takes part in relaying progress events across processes (PostgreSQL).
pub struct RelayMode {
    /// The database URL (the relay runs only on PostgreSQL).
    pub database_url: String,
    /// Deliver other processes' events to this process's subscribers (servers do).
    pub listen: bool,
}

fn stopped(rx: &watch::Receiver<bool>) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

impl Background {
    /// Starts `workers` workers (ids unique across processes; pinned to `client` when given, so
    /// they claim only its jobs), the scheduler (it acts only while it leads, and queues every
    /// client's schedules), the hourly retention purge and, on PostgreSQL, the progress-event
    /// relay.
    pub fn start(
        engine: &Engine,
        registry: Arc<Registry>,
        workers: usize,
        client: Option<ClientId>,
        relay: RelayMode,
    ) -> Self {
        let relay =
            Relay::start(engine, &relay.database_url, relay.listen).map(|r| (engine.clone(), r));
        let (stop, rx) = watch::channel(false);
        let process = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut tasks = JoinSet::new();
        for i in 0..workers {
            let worker = Worker::new(engine.clone(), registry.clone(), format!("{process}-w{i}"))
                .pinned(client);
            let shutdown = stopped(&rx);
            tasks.spawn(async move { worker.run(shutdown).await });
        }
        let scheduler = Scheduler::new(engine.clone(), format!("{process}-scheduler"));
        let shutdown = stopped(&rx);
        tasks.spawn(async move { scheduler.run(shutdown).await });
        let purger = engine.clone();
        let shutdown = stopped(&rx);
        tasks.spawn(async move {
            tokio::pin!(shutdown);
            loop {
                match purger.purge().await {
                    Ok((logs, raw)) if logs + raw > 0 => {
                        tracing::info!(logs, raw, "purged expired job logs and raw records")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention purge failed"),
                }
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(PURGE_EVERY) => {}
                }
            }
        });
        match client {
            Some(client) => {
                tracing::info!(workers, %client, "job workers (pinned to one client) and scheduler started")
            }
            None => tracing::info!(workers, "job workers and scheduler started"),
        }
        Self { stop, tasks, relay }
    }

    /// Stops every task: running jobs stop at their next page and go back to the queue, the
    /// scheduler resigns its leadership.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        if let Some((engine, relay)) = self.relay.take() {
            relay.stop(&engine).await;
        }
        tracing::info!("job workers and scheduler stopped");
    }
}

/// The client a `--client` / `CLIENT_NAME` name pins workers to. Unlike `serve`'s bootstrap, a
/// worker never creates the client: an unknown name is an error, so a typo cannot leave a worker
/// waiting for jobs that will never come.
pub async fn resolve_pinned_client(db: &Db, name: &str) -> anyhow::Result<ClientId> {
    let name = name.trim();
    if name.is_empty() {
        anyhow::bail!(
            "the client to pin workers to is empty: name it with --client or CLIENT_NAME"
        );
    }
    let client = pulse_db::repo::clients::find_by_name(db.system(), name)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no client named '{name}' to pin the workers to (see `pulse client list`; create \
                 it with `pulse client create`)"
            )
        })?;
    if !client.active {
        tracing::warn!(client = %name, "the pinned client is deactivated; its jobs still run");
    }
    Ok(ClientId::from_uuid(client.id))
}
