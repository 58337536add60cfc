//! `pulse bench ingest`: how fast records go through the ETL path, next to the fastest raw load
//! of the same rows into the same database.
//!
//! - **Pipeline**: N synthetic git commits, as the git connector collects them (raw records),
//!   go through a real job: a worker claims it and runs a connector whose `sync` hands each page
//!   to the git connector's own [`load_page`](pulse_etl::connectors::git::load_page) (extract,
//!   convert, upsert by natural key) inside a fenced transaction committed with its checkpoint by
//!   `SyncContext::commit`. Only the collect stage is synthetic (the records are made before the
//!   clock starts, where the git connector would read a repository). A second run uses
//!   [`store_page`](pulse_etl::connectors::git::store_page), which also keeps the raw records, as
//!   the git connector does.
//! - **Raw**: the same commit rows, converted beforehand, written by `pulse_db::bulk::insert`
//!   (COPY on PostgreSQL, multi-row INSERTs in one transaction on SQLite).
//!
//! Each load goes to its own new client in the same database. A round runs the three loads in
//! turn (raw first) and then removes their clients, so every round starts from the same tables;
//! the figures are each load's median over the rounds (`--rounds`, default 3), which keeps one
//! disturbed run (a database checkpoint, another process) from deciding the ratio. The temporary
//! SQLite database is removed afterwards (point `--database` at a scratch database all the same).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use pulse_config::{Backend, Config, Secret};
use pulse_core::ClientId;
use pulse_db::entity::{commits, repositories};
use pulse_db::repo::ingested;
use pulse_db::repo::people::PersonResolver;
use pulse_db::Db;
use pulse_etl::connectors::git::{
    load_page, raw_commit, store_page, GitCommit, GitConvert, GitExtract,
};
use pulse_etl::integrations::{self, IntegrationConfig, NewIntegration};
use pulse_etl::{
    extract_convert, Connector, ConnectorInfo, Engine, EngineConfig, JobStatus, NewJob, Progress,
    RawRecord, Registry, ScopeInfo, SyncContext, SyncError, Worker,
};
use serde_json::json;
use uuid::Uuid;

const KIND: &str = "bench-git";
const SCOPE: &str = "bench";

#[derive(clap::Args)]
pub struct IngestArgs {
    /// How many records to load.
    #[arg(long, default_value_t = 200_000)]
    records: usize,
    /// The database to load into: a PostgreSQL URL (use a scratch database) or a SQLite URL.
    /// Default: a temporary SQLite file, removed afterwards.
    #[arg(long)]
    database: Option<String>,
    /// Records per page: one fenced transaction committed with its checkpoint.
    #[arg(long, default_value_t = 1000)]
    page: usize,
    /// Rounds of the three loads, interleaved; the figures are each load's median.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

pub async fn run(config: Config, args: IngestArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.records > 0, "--records must be at least 1");
    anyhow::ensure!(args.page > 0, "--page must be at least 1");
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    let scratch = std::env::temp_dir().join(format!("pulse-bench-ingest-{}", Uuid::new_v4()));
    let result = bench(config, &args, &scratch).await;
    if scratch.exists() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    result
}

async fn bench(mut config: Config, args: &IngestArgs, scratch: &Path) -> anyhow::Result<()> {
    config.data_dir = scratch.to_path_buf();
    config.database.url = Secret::new(args.database.clone().unwrap_or_default());
    config.database.replica_url = Secret::default();
    let target = match (&args.database, config.backend()) {
        (None, _) => "SQLite (temporary file)".to_string(),
        (Some(_), Backend::Sqlite) => "SQLite".to_string(),
        (Some(_), Backend::Postgres) => "PostgreSQL".to_string(),
    };
    let db = Db::connect(&config).await?;
    pulse_db::migration::up(db.system()).await?;
    db.prepare().await?;

    let n = args.records;
    println!("pulse bench ingest: {n} synthetic commits into {target}");
    let records = Arc::new(synthetic(n));
    let raw_how = match db.backend() {
        Backend::Postgres => "COPY FROM STDIN",
        Backend::Sqlite => "multi-row INSERTs, one transaction",
    };
    // Each round loads the same records three times, each into its own new client: raw first,
    // then the pipeline, then the pipeline keeping raw records; the clients are removed after
    // the round, so every round starts from the same tables.
    let mut times: [Vec<f64>; 3] = Default::default();
    for round in 1..=args.rounds {
        let suffix = &Uuid::new_v4().simple().to_string()[..8];
        let mut clients = Vec::new();
        let outcome = async {
            let client = new_client(&db, &format!("bench-raw-{suffix}")).await?;
            clients.push(client);
            let raw = raw_load(&db, client, &records).await?;
            let mut pipelines = Vec::new();
            for keep_raw in [false, true] {
                let client =
                    new_client(&db, &format!("bench-pipeline-{suffix}-{keep_raw}")).await?;
                clients.push(client);
                pipelines.push(pipeline(&db, client, &records, args.page, keep_raw).await?);
            }
            anyhow::Ok([raw, pipelines[0], pipelines[1]])
        }
        .await;
        for client in clients {
            if let Err(e) = remove_client(&db, client).await {
                eprintln!("warning: could not remove the bench client {client}: {e}");
            }
        }
        let round_times = outcome?;
        println!(
            "round {round}: raw {:.2} s, pipeline {:.2} s, pipeline + raw records {:.2} s",
            round_times[0].as_secs_f64(),
            round_times[1].as_secs_f64(),
            round_times[2].as_secs_f64()
        );
        for (all, t) in times.iter_mut().zip(round_times) {
            all.push(t.as_secs_f64());
        }
    }

    let rate = |all: &mut Vec<f64>| n as f64 / median(all);
    let raw_rate = rate(&mut times[0]);
    println!(
        "raw bulk load ({raw_how}): {n} rows in {:.2} s = {raw_rate:.0} rows/s (median of {})",
        median(&mut times[0]),
        args.rounds
    );
    for (i, what) in [
        (1, "pipeline (extract, convert, load, checkpoint, fencing)"),
        (
            2,
            "pipeline + raw records kept (the git connector's whole page)",
        ),
    ] {
        let r = rate(&mut times[i]);
        println!(
            "{what}, pages of {}: {n} records in {:.2} s = {r:.0} records/s = {:.2} x raw",
            args.page,
            median(&mut times[i]),
            r / raw_rate
        );
    }
    println!("target: the pipeline at least 0.50 x raw");
    db.close().await;
    Ok(())
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// The raw load: the same commit rows, converted before the clock starts, written by
/// `pulse_db::bulk::insert`; the time of that write.
async fn raw_load(
    db: &Db,
    client: ClientId,
    records: &[RawRecord],
) -> anyhow::Result<std::time::Duration> {
    let n = records.len();
    let repository = repository(db, client, "raw").await?;
    let convert = GitConvert {
        repository_id: repository,
        repo_key: "raw/bench".into(),
        environment: "production".into(),
        is_production: true,
    };
    let now = Utc::now();
    let rows: Vec<commits::Model> = extract_convert(&GitExtract, &convert, records)?
        .into_iter()
        .filter_map(|m| match m {
            pulse_etl::connectors::git::GitModel::Commit(mut c) => {
                c.id = Uuid::now_v7();
                c.client_id = client.uuid();
                c.synced_at = now;
                Some(c)
            }
            _ => None,
        })
        .collect();
    let started = Instant::now();
    let written = pulse_db::bulk::insert::<commits::Entity>(db.system(), &rows).await?;
    let time = started.elapsed();
    anyhow::ensure!(
        written as usize == n,
        "the raw load wrote {written} of {n} rows"
    );
    Ok(time)
}

/// Runs one job of the benchmark connector for `client` to its end; the time from enqueue to
/// the job's success.
async fn pipeline(
    db: &Db,
    client: ClientId,
    records: &Arc<Vec<RawRecord>>,
    page: usize,
    keep_raw: bool,
) -> anyhow::Result<std::time::Duration> {
    let n = records.len();
    let mut registry = Registry::new();
    registry.register(Arc::new(BenchConnector {
        records: records.clone(),
        page,
        keep_raw,
    }));
    let engine = Engine::new(
        db.clone(),
        EngineConfig {
            max_attempts: 1,
            ..EngineConfig::default()
        },
    );
    let integration = {
        let tx = db.tenant(client).await?;
        let created = integrations::create(
            &tx,
            &pulse_auth::crypto::Cipher::new(&[0u8; 32]),
            NewIntegration {
                kind: KIND.into(),
                name: "bench".into(),
                scopes: vec![SCOPE.into()],
                ..Default::default()
            },
            engine.now(),
        )
        .await?;
        tx.commit().await?;
        created.id
    };
    let worker = Worker::new(engine.clone(), Arc::new(registry), "bench-worker");
    let started = Instant::now();
    let job = engine
        .enqueue(client, NewJob::sync(integration, SCOPE))
        .await?;
    let outcome = worker.run_next().await?;
    let time = started.elapsed();
    anyhow::ensure!(outcome.is_some(), "the worker found no job to run");
    let job = engine.get(client, job.id).await?;
    anyhow::ensure!(
        job.status == JobStatus::Succeeded,
        "the pipeline job ended {}: {}",
        job.status,
        job.last_error.unwrap_or_default()
    );
    let stored = count_commits(db, client).await?;
    anyhow::ensure!(
        stored == n as u64,
        "the pipeline stored {stored} of {n} commits"
    );
    Ok(time)
}

/// `n` commits of a linear history, as the git connector collects them: 40 authors, a commit
/// every ten minutes, realistic summaries and line counts.
fn synthetic(n: usize) -> Vec<RawRecord> {
    let start: DateTime<FixedOffset> =
        DateTime::parse_from_rfc3339("2024-01-01T09:00:00+01:00").expect("a valid start time");
    let mut parent: Option<String> = None;
    (0..n)
        .map(|i| {
            let sha = format!(
                "{:040x}",
                (i as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            );
            let author = i % 40;
            let at = start + TimeDelta::minutes(10 * i as i64);
            let commit = GitCommit {
                sha: sha.clone(),
                parents: parent.iter().cloned().collect(),
                additions: (i * 7 % 120) as u64,
                deletions: (i * 3 % 40) as u64,
                author_name: format!("Developer {author}"),
                author_email: format!("dev{author}@example.com"),
                authored_at: at,
                committer_name: format!("Developer {author}"),
                committer_email: format!("dev{author}@example.com"),
                committed_at: at + TimeDelta::minutes(1),
                summary: format!("Change {i}: adjust the payment service's retry handling"),
            };
            parent = Some(sha);
            raw_commit(&commit)
        })
        .collect()
}

async fn new_client(db: &Db, name: &str) -> anyhow::Result<ClientId> {
    let c = pulse_db::repo::clients::create(db.system(), name).await?;
    Ok(ClientId::from_uuid(c.id))
}

fn repository_row(key: &str) -> repositories::Model {
    repositories::Model {
        id: Uuid::nil(),
        client_id: Uuid::nil(),
        source: "git".into(),
        external_id: key.into(),
        synced_at: DateTime::<Utc>::UNIX_EPOCH,
        full_name: SCOPE.into(),
        default_branch: Some("main".into()),
        url: None,
    }
}

async fn repository(db: &Db, client: ClientId, key: &str) -> anyhow::Result<Uuid> {
    let tx = db.tenant(client).await?;
    let stored = ingested::upsert::<repositories::Entity>(&tx, vec![repository_row(key)]).await?;
    tx.commit().await?;
    Ok(stored.ids[0])
}

async fn count_commits(db: &Db, client: ClientId) -> anyhow::Result<u64> {
    use pulse_db::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    Ok(commits::Entity::find()
        .filter(commits::Column::ClientId.eq(client.uuid()))
        .count(db.system())
        .await?)
}

/// Deletes what the bench wrote for `client` (children first), then the client.
async fn remove_client(db: &Db, client: ClientId) -> anyhow::Result<()> {
    use pulse_db::sea_orm::{ConnectionTrait, Statement};
    let backend = db.system().get_database_backend();
    let marker = match db.backend() {
        Backend::Postgres => "$1",
        Backend::Sqlite => "?",
    };
    for (table, column) in [
        ("raw_records", "client_id"),
        ("job_logs", "client_id"),
        ("job_events", "client_id"),
        ("jobs", "client_id"),
        ("integrations", "client_id"),
        ("commits", "client_id"),
        ("repositories", "client_id"),
        ("audit_log", "client_id"),
        ("clients", "id"),
    ] {
        db.system()
            .execute(Statement::from_sql_and_values(
                backend,
                format!("DELETE FROM {table} WHERE {column} = {marker}"),
                [client.uuid().into()],
            ))
            .await?;
    }
    Ok(())
}

/// Hands out the pre-made records a page at a time, through the git connector's stages.
struct BenchConnector {
    records: Arc<Vec<RawRecord>>,
    page: usize,
    /// Keep the raw records too, as the git connector's full page does.
    keep_raw: bool,
}

#[async_trait]
impl Connector for BenchConnector {
    fn describe(&self) -> ConnectorInfo {
        ConnectorInfo {
            kind: KIND.into(),
            name: "Synthetic git commits (benchmark)".into(),
            rules_schema: json!({"type": "object"}),
            scope_label: "repository".into(),
        }
    }

    async fn test_connection(&self, _: &IntegrationConfig) -> Result<(), SyncError> {
        Ok(())
    }

    async fn discover_scopes(&self, _: &IntegrationConfig) -> Result<Vec<ScopeInfo>, SyncError> {
        Ok(vec![ScopeInfo {
            id: SCOPE.into(),
            name: SCOPE.into(),
        }])
    }

    async fn sync(&self, ctx: &mut SyncContext) -> Result<(), SyncError> {
        let integration = ctx.job().integration;
        let total = self.records.len();
        let mut next = ctx
            .checkpoint()
            .and_then(|c| c["written"].as_u64())
            .unwrap_or(0) as usize;
        let progress = |done: usize| Progress {
            phase: "commits".into(),
            done: done as u64,
            total: Some(total as u64),
            current: None,
        };
        let tx = ctx.begin().await?;
        let repo_key = format!("{integration}/{SCOPE}");
        let stored =
            ingested::upsert::<repositories::Entity>(tx.tenant(), vec![repository_row(&repo_key)])
                .await?;
        let people = PersonResolver::load(tx.tenant()).await?;
        ctx.commit(tx, json!({"written": next}), progress(next))
            .await?;
        let convert = GitConvert {
            repository_id: stored.ids[0],
            repo_key,
            environment: "production".into(),
            is_production: true,
        };
        while next < total {
            ctx.check()?;
            let end = (next + self.page).min(total);
            let tx = ctx.begin().await?;
            let page = &self.records[next..end];
            if self.keep_raw {
                store_page(&tx, integration, SCOPE, &convert, &people, page).await?;
            } else {
                load_page(&tx, &convert, &people, page).await?;
            }
            ctx.commit(tx, json!({"written": end}), progress(end))
                .await?;
            next = end;
        }
        Ok(())
    }
}
