//! `pulse`: one binary for every operator task.

mod admin;
mod bench_ingest;
mod bench_metrics;
mod etl;
mod keys;
mod org;
mod rules;
mod runtime;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Pulse: engineering analytics (DORA metrics, pull requests, flow) for many client organisations.
#[derive(Parser)]
#[command(name = "pulse", version)]
struct Cli {
    /// Configuration file (default: ./pulse.toml when present; also PULSE_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and web app (applies pending migrations first unless --no-migrate).
    Serve {
        /// Do not apply pending migrations at start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Run job workers and the scheduler without the API (`etl.workers` workers, at least one);
    /// `/health` and `/metrics` answer on `etl.worker_port`.
    Worker {
        /// Pin the workers to one existing client, by name (also CLIENT_NAME): they run only its
        /// jobs.
        #[arg(long)]
        client: Option<String>,
    },
    /// Create the "Acme Demo" client with an admin, a user and a viewer, load generated data into
    /// it (once), print the logins, and serve.
    Demo {
        /// How much data: `small` (six months, loads in seconds) or `large` (benchmark volume).
        #[arg(long, value_enum, default_value_t = admin::SizeArg::Small)]
        size: admin::SizeArg,
        /// Seed of the generator (the same seed and date give the same data).
        #[arg(long, default_value_t = pulse_demo::DEFAULT_SEED)]
        seed: u64,
    },
    /// Write generated demo data as JSON Lines (deterministic for a seed, size and anchor date).
    Generate(admin::GenerateArgs),
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Manage users of a client.
    User {
        #[command(subcommand)]
        action: admin::UserAction,
    },
    /// Manage clients (tenants).
    Client {
        #[command(subcommand)]
        action: admin::ClientAction,
    },
    /// Manage teams, their hierarchy and members.
    Team {
        #[command(subcommand)]
        action: org::TeamAction,
    },
    /// Manage projects and what they cover.
    Project {
        #[command(subcommand)]
        action: org::ProjectAction,
    },
    /// Manage people, their accounts and merges.
    Person {
        #[command(subcommand)]
        action: org::PersonAction,
    },
    /// Show or change a client's metric rules and project overrides (docs/METRICS.md#rules).
    Rules {
        #[command(subcommand)]
        action: rules::RulesAction,
    },
    /// Load records from a JSON Lines file (see docs/IMPORT.md); a bad file is refused whole.
    Import {
        /// The file to load.
        file: PathBuf,
        /// Client name (defaults to CLIENT_NAME).
        #[arg(long)]
        client: Option<String>,
    },
    /// Manage the key that encrypts integration credentials at rest.
    Keys {
        #[command(subcommand)]
        action: keys::KeysAction,
    },
    /// Benchmarks that print figures.
    Bench {
        #[command(subcommand)]
        action: BenchAction,
    },
}

#[derive(Subcommand)]
enum BenchAction {
    /// Load synthetic records through a connector's extract, convert and load path and compare
    /// the rate with a raw bulk load of the same rows.
    Ingest(bench_ingest::IngestArgs),
    /// Generate (or reuse) a large dataset, load it with its aggregates, and report p50/p95/p99
    /// server-side latency of the DORA, pull-request and executive endpoints.
    Metrics(bench_metrics::MetricsArgs),
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// List migrations, applied and pending.
    Status,
    /// Roll back every migration newer than the given one (`0` rolls back everything).
    Down {
        /// Migration id (full name or unique prefix) to keep as the newest applied.
        #[arg(long)]
        to: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut config = match pulse_config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // A testing hook (crash tests): PULSE_FAILPOINTS aborts the process at named points.
    let failpoints = match pulse_etl::failpoint::install_from_env() {
        Ok(armed) => armed,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // Benchmarks print their figures on stdout; a request log per measured call would drown them.
    if matches!(cli.command, Command::Bench { .. }) && std::env::var_os("PULSE_LOG").is_none() {
        config.log.filter = "warn".into();
    }
    runtime::init_logging(&config);
    if !failpoints.is_empty() {
        tracing::warn!(
            ?failpoints,
            "failpoints are armed: this process will abort on purpose"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve { no_migrate } => runtime::serve(config, !no_migrate).await,
            Command::Worker { client } => runtime::worker(config, client).await,
            Command::Demo { size, seed } => {
                let demo = admin::demo_options(size.size(None, None, None), seed, None)?;
                runtime::serve_demo(config, demo).await
            }
            Command::Generate(args) => admin::generate(args),
            Command::Migrate { action } => runtime::migrate(config, action).await,
            Command::User { action } => admin::user(config, action).await,
            Command::Client { action } => admin::client(config, action).await,
            Command::Team { action } => org::team(config, action).await,
            Command::Project { action } => org::project(config, action).await,
            Command::Person { action } => org::person(config, action).await,
            Command::Import { file, client } => admin::import(config, file, client).await,
            Command::Rules { action } => rules::run(config, action).await,
            Command::Keys { action } => keys::keys(config, action).await,
            Command::Bench { action } => match action {
                BenchAction::Ingest(args) => bench_ingest::run(config, args).await,
                BenchAction::Metrics(args) => bench_metrics::run(config, args).await,
            },
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub(crate) use MigrateAction as Migrate;
