//! `pulse bench metrics`: server-side latency of the DORA, pull-request and executive endpoints
//! over a large generated dataset, with the time it took to generate and load it.
//!
//! - **Generate**: the deterministic demo generator (`pulse_demo`) at the chosen counts (default
//!   1,000,000 pull requests, 200,000 deployments, 1,000,000 Jira issues), streamed into chunk
//!   files of `--chunk` records.
//! - **Load**: each chunk goes through the import (`pulse_ingest::import`: validation, upserts
//!   by external id, links, metric rules) in its own transaction, and the aggregates are brought
//!   up to date after it (`rollup::refresh_pending`, the same call a metric read makes), so they
//!   are maintained as the data arrives; with `--aggregates at-end` they are computed once, for
//!   every day, after the last chunk (`rollup::refresh_all`). The chunks committed are recorded in the client's
//!   benchmark state, so an interrupted load resumes at the next chunk; a finished dataset is
//!   reused by the next run.
//! - **Measure**: the real HTTP server on a loopback port, a real login, and a mix of filters
//!   (ranges of 30 days to a year, time zones, granularities, a team with its sub-teams, a
//!   project, a repository). The latency of each request is the server's own
//!   (`Server-Timing: app;dur=`), measured around the whole request inside the server: routing,
//!   authentication, the aggregate freshness check, the report and the JSON encoding. Nothing
//!   caches results between requests; the first request of each endpoint is reported apart.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use pulse_config::{Backend, Config, Secret};
use pulse_core::{ClientId, Role};
use pulse_db::repo::{classified, clients, scope, users};
use pulse_db::Db;
use pulse_demo::{Counts, Options, Size};
use serde_json::{json, Value};

/// The anchor date of the generated data (fixed, so a dataset can be reused across runs).
const ANCHOR: (i32, u32, u32) = (2026, 6, 1);

#[derive(clap::Args)]
pub struct MetricsArgs {
    /// Pull requests to generate.
    #[arg(long, default_value_t = 1_000_000)]
    prs: u64,
    /// Deployments to generate (default: a fifth of the pull requests).
    #[arg(long)]
    deployments: Option<u64>,
    /// Jira issues to generate (default: as many as pull requests).
    #[arg(long)]
    issues: Option<u64>,
    /// Seed of the generator.
    #[arg(long, default_value_t = pulse_demo::DEFAULT_SEED)]
    seed: u64,
    /// The database: a PostgreSQL URL (a scratch database) or a SQLite URL. Default: a SQLite
    /// database in `--dir`.
    #[arg(long)]
    database: Option<String>,
    /// Working directory: the default SQLite database and the chunk files being loaded.
    /// Default: `pulse-bench-metrics` in the system's temporary directory. Kept afterwards, so
    /// the next run reuses the dataset.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Records per import transaction.
    #[arg(long, default_value_t = 200_000)]
    chunk: usize,
    /// Requests per filter and endpoint.
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// When the metric aggregates are computed during the load: after each chunk, as a
    /// connector's sync does, or once after the last chunk.
    #[arg(long, value_enum, default_value_t = Aggregates::PerChunk)]
    aggregates: Aggregates,
}

/// When a load computes the metric aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Aggregates {
    /// After each chunk's import (incrementally, from the markers the chunk left).
    PerChunk,
    /// Once, for every day, after the last chunk.
    AtEnd,
}

pub async fn run(mut config: Config, args: MetricsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.prs > 0, "--prs must be at least 1");
    anyhow::ensure!(args.chunk >= 1000, "--chunk must be at least 1000");
    anyhow::ensure!(args.iterations > 0, "--iterations must be at least 1");
    let counts = Counts {
        prs: args.prs,
        deployments: args.deployments.unwrap_or(args.prs / 5),
        issues: args.issues.unwrap_or(args.prs),
    };
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("pulse-bench-metrics"));
    std::fs::create_dir_all(&dir)?;
    config.data_dir = dir.clone();
    config.database.url = Secret::new(args.database.clone().unwrap_or_default());
    config.database.replica_url = Secret::default();
    // Metric reads go to the primary here: the bench measures the reports, not replication.
    let backend_name = match config.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let db = Db::connect(&config).await?;
    pulse_db::migration::up(db.system()).await?;
    db.prepare().await?;
    println!(
        "pulse bench metrics on {backend_name}: {} pull requests, {} deployments, {} issues (seed {})",
        counts.prs, counts.deployments, counts.issues, args.seed
    );
    let options = Options {
        size: Size::Custom(counts),
        seed: args.seed,
        anchor: NaiveDate::from_ymd_opt(ANCHOR.0, ANCHOR.1, ANCHOR.2).expect("a valid date"),
    };
    let name = format!(
        "Bench {}/{}/{} seed {}",
        counts.prs, counts.deployments, counts.issues, args.seed
    );
    let state = LoadState::new(&dir, &config.database_url(), &name);
    let client = match clients::find_by_name(db.system(), &name).await? {
        Some(c) => ClientId::from_uuid(c.id),
        None => {
            state.clear();
            ClientId::from_uuid(clients::create(db.system(), &name).await?.id)
        }
    };
    load(
        &db,
        client,
        &options,
        &dir,
        (args.chunk, args.aggregates),
        &state,
    )
    .await?;
    measure(config, db, client, &options, args.iterations).await
}

/// How far the load of a dataset got: a small file in the working directory, named after the
/// client and the database. It is written after each chunk commits; should the process stop in
/// between, the chunk is imported again on resume, which changes nothing (the import upserts by
/// external id).
struct LoadState {
    path: PathBuf,
}

impl LoadState {
    fn new(dir: &Path, database: &str, client: &str) -> Self {
        // FNV-1a: a stable name for the database, without writing its URL anywhere.
        let hash = database.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let slug: String = client
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        Self {
            path: dir.join(format!("{slug}-{hash:016x}.state")),
        }
    }

    /// Chunks committed, and whether the load finished.
    fn read(&self) -> (usize, bool) {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let mut parts = text.split_whitespace();
        let done = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        (done, parts.next() == Some("complete"))
    }

    fn write(&self, done: usize, complete: bool) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(
            &tmp,
            format!("{done} {}\n", if complete { "complete" } else { "partial" }),
        )?;
        std::fs::rename(&tmp, &self.path)
    }

    fn clear(&self) {
        std::fs::remove_file(&self.path).ok();
    }
}

async fn load(
    db: &Db,
    client: ClientId,
    options: &Options,
    dir: &Path,
    (chunk, aggregates): (usize, Aggregates),
    state: &LoadState,
) -> anyhow::Result<()> {
    let (mut done, complete) = state.read();
    if complete {
        println!("dataset already loaded ({done} chunks): reusing it");
        // A newer version may have marked the aggregates for recomputation (a migration that
        // changes what cells hold); that is done here, not by the first measured request.
        let started = Instant::now();
        if let Some(s) = pulse_analytics::rollup::refresh_pending(db, client).await? {
            println!(
                "aggregates brought up to date in {:.1} s ({} days, {} cells)",
                started.elapsed().as_secs_f64(),
                s.days,
                s.cells
            );
        }
        return Ok(());
    }
    if done > 0 {
        println!("resuming the load after chunk {done}");
    }
    let mut generate_time = Duration::ZERO;
    let mut import_time = Duration::ZERO;
    let mut refresh_time = Duration::ZERO;
    let mut records = 0u64;
    let mut imported_records = 0u64;
    let mut stats: std::collections::BTreeMap<&'static str, u64> = Default::default();
    let mut generator = pulse_demo::generate(options).peekable();
    let path = dir.join("chunk.jsonl");
    let mut index = 0usize;
    let load_started = Instant::now();
    while generator.peek().is_some() {
        index += 1;
        // Generate the next chunk into a file (skipped chunks are generated too: the stream is
        // deterministic, so it is the only way to reach the next one).
        let started = Instant::now();
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        let mut n = 0usize;
        for record in generator.by_ref().take(chunk) {
            if index > done {
                serde_json::to_writer(&mut out, &record)?;
                out.write_all(b"\n")?;
            }
            *stats.entry(record.kind().as_str()).or_default() += 1;
            n += 1;
        }
        out.flush()?;
        drop(out);
        generate_time += started.elapsed();
        records += n as u64;
        if index <= done {
            continue;
        }
        let import_started = Instant::now();
        let tx = db.tenant(client).await?;
        let open =
            || std::fs::File::open(&path).map(|f| std::io::BufReader::with_capacity(1 << 20, f));
        pulse_ingest::import(&tx, open)
            .await
            .map_err(|e| anyhow::anyhow!("chunk {index} was refused: {e}"))?;
        let last = generator.peek().is_none();
        tx.commit().await?;
        state.write(index, false)?;
        db.refresh_statistics().await?;
        let imported = import_started.elapsed();
        import_time += imported;
        imported_records += n as u64;
        let refresh_started = Instant::now();
        let refreshed = match aggregates {
            Aggregates::PerChunk => pulse_analytics::rollup::refresh_pending(db, client).await?,
            Aggregates::AtEnd => None,
        };
        let refreshing = refresh_started.elapsed();
        refresh_time += refreshing;
        done = index;
        match refreshed {
            Some(stats) => println!(
                "  chunk {index}: {n} records imported in {:.1} s, aggregates refreshed in {:.1} s ({} days) — {:.0} s so far",
                imported.as_secs_f64(),
                refreshing.as_secs_f64(),
                stats.days,
                load_started.elapsed().as_secs_f64()
            ),
            None => println!(
                "  chunk {index}: {n} records imported in {:.1} s — {:.0} s so far",
                imported.as_secs_f64(),
                load_started.elapsed().as_secs_f64()
            ),
        }
        if last {
            break;
        }
    }
    std::fs::remove_file(&path).ok();
    if aggregates == Aggregates::AtEnd {
        let started = Instant::now();
        let stats = pulse_analytics::rollup::refresh_all(db, client).await?;
        let took = started.elapsed();
        refresh_time += took;
        println!(
            "  aggregates computed once after the import in {:.1} s ({} days, {} cells)",
            took.as_secs_f64(),
            stats.days,
            stats.cells
        );
    }
    state.write(done, true)?;
    let resumed = if imported_records < records {
        " (this run resumed: the times cover the chunks it loaded)"
    } else {
        ""
    };
    println!(
        "generated {records} records in {:.1} s ({} pull requests, {} deployments, {} issues){resumed}",
        generate_time.as_secs_f64(),
        stats.get("pull_request").copied().unwrap_or(0),
        stats.get("deployment").copied().unwrap_or(0),
        stats.get("issue").copied().unwrap_or(0),
    );
    println!(
        "loaded {imported_records} records in {:.1} s: import {:.1} s ({:.0} records/s), aggregates {:.1} s",
        (import_time + refresh_time).as_secs_f64(),
        import_time.as_secs_f64(),
        imported_records as f64 / import_time.as_secs_f64().max(1e-9),
        refresh_time.as_secs_f64()
    );
    Ok(())
}

/// One filter mix of the measurement.
struct Scenario {
    label: &'static str,
    query: String,
}

async fn scenarios(db: &Db, client: ClientId, options: &Options) -> anyhow::Result<Vec<Scenario>> {
    let tx = db.tenant_read(client).await?;
    let teams = scope::all_teams(&tx).await?;
    // A group: a team with sub-teams (the hierarchy rolls up), else any team.
    let team = teams
        .iter()
        .find(|t| t.parent_id.is_some() && teams.iter().any(|c| c.parent_id == Some(t.id)))
        .or_else(|| teams.first())
        .map(|t| t.id);
    let project = scope::all_projects(&tx).await?.first().map(|p| p.id);
    let repository = classified::repositories(&tx, None)
        .await?
        .first()
        .map(|r| r.id);
    tx.rollback().await?;
    let to = options.anchor - chrono::Duration::days(1);
    let from = |days: i64| to - chrono::Duration::days(days - 1);
    let mut out = vec![
        Scenario {
            label: "30 days, UTC, weeks",
            query: format!("from={}&to={to}", from(30)),
        },
        Scenario {
            label: "90 days, Europe/Berlin, weeks",
            query: format!("from={}&to={to}&tz=Europe/Berlin", from(90)),
        },
        Scenario {
            label: "365 days, America/New_York, months",
            query: format!(
                "from={}&to={to}&tz=America/New_York&granularity=month",
                from(365)
            ),
        },
        Scenario {
            label: "14 days, Asia/Kolkata, days",
            query: format!("from={}&to={to}&tz=Asia/Kolkata&granularity=day", from(14)),
        },
    ];
    if let Some(team) = team {
        out.push(Scenario {
            label: "90 days, a team and its sub-teams",
            query: format!("from={}&to={to}&team={team}", from(90)),
        });
    }
    if let Some(project) = project {
        out.push(Scenario {
            label: "90 days, a project",
            query: format!("from={}&to={to}&project={project}", from(90)),
        });
    }
    if let Some(repository) = repository {
        out.push(Scenario {
            label: "30 days, a repository",
            query: format!("from={}&to={to}&repository={repository}", from(30)),
        });
    }
    Ok(out)
}

const ENDPOINTS: [&str; 3] = ["dora", "pull-requests", "executive"];

async fn measure(
    config: Config,
    db: Db,
    client: ClientId,
    options: &Options,
    iterations: usize,
) -> anyhow::Result<()> {
    // A bench user with a random password, logged in through the API like anyone else.
    let password = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let hasher = pulse_auth::password::Hasher::new(1);
    let hash = hasher.hash(&password).await?;
    let email = "bench@pulse.invalid";
    {
        let tx = db.tenant(client).await?;
        match users::find_in_client(tx.conn(), client, email).await? {
            Some(u) => {
                let id = pulse_core::UserId::from_uuid(u.id);
                users::set_password_hash(&tx, id, hash).await?;
                users::set_active(&tx, id, true).await?;
            }
            None => {
                users::create(
                    &tx,
                    users::NewUser {
                        email: email.into(),
                        name: "Bench".into(),
                        password_hash: hash,
                        role: Role::Viewer,
                    },
                )
                .await?;
            }
        }
        tx.commit().await?;
    }
    let scenarios = scenarios(&db, client, options).await?;
    let client_name = clients::find(db.system(), client)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the bench client disappeared"))?
        .name;

    let keys = pulse_auth::keys::Keys {
        jwt_secret: random_bytes().to_vec(),
        encryption_key: random_bytes(),
    };
    let state = pulse_api::AppState::new(config, db.clone(), keys, None)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pulse_api::serve::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}/api/v1");
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": email, "password": password, "client": client_name}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the login answered no access token"))?
        .to_string();

    println!(
        "server-side latency (Server-Timing), {iterations} requests per filter and endpoint, {} filters:",
        scenarios.len()
    );
    let mut first: Vec<(String, f64)> = Vec::new();
    let mut all: Vec<Vec<f64>> = vec![Vec::new(); ENDPOINTS.len()];
    let mut per_scenario: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let mut times = vec![Vec::new(); ENDPOINTS.len()];
        for round in 0..iterations {
            for (e, endpoint) in ENDPOINTS.iter().enumerate() {
                let ms = timed(
                    &http,
                    &token,
                    &format!("{base}/metrics/{endpoint}?{}", s.query),
                )
                .await?;
                if i == 0 && round == 0 {
                    first.push((endpoint.to_string(), ms));
                    continue;
                }
                times[e].push(ms);
                all[e].push(ms);
            }
        }
        per_scenario.push((s.label.to_string(), times));
    }
    let _ = stop.send(());
    server.await??;

    for (endpoint, ms) in &first {
        println!("  first request of {endpoint:<14} {ms:>8.1} ms (not counted below)");
    }
    println!(
        "  {:<38} {:<14} {:>8} {:>8} {:>8}",
        "filters", "endpoint", "p50", "p95", "p99"
    );
    for (label, times) in &per_scenario {
        for (e, endpoint) in ENDPOINTS.iter().enumerate() {
            let (p50, p95, p99) = percentiles(&times[e]);
            println!("  {label:<38} {endpoint:<14} {p50:>8.1} {p95:>8.1} {p99:>8.1}");
        }
    }
    println!("  all filters (ms):");
    for (e, endpoint) in ENDPOINTS.iter().enumerate() {
        let (p50, p95, p99) = percentiles(&all[e]);
        let verdict = if p95 <= 50.0 { "meets" } else { "misses" };
        println!(
            "  {endpoint:<14} p50 {p50:>7.1}  p95 {p95:>7.1}  p99 {p99:>7.1}  ({} requests; {verdict} the p95 <= 50 ms target)",
            all[e].len()
        );
    }
    db.close().await;
    Ok(())
}

fn random_bytes() -> [u8; 32] {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// One request; the server's own duration in milliseconds.
async fn timed(http: &reqwest::Client, token: &str, url: &str) -> anyhow::Result<f64> {
    let res = http.get(url).bearer_auth(token).send().await?;
    let status = res.status();
    let timing = res
        .headers()
        .get(pulse_api::middleware::SERVER_TIMING)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("app;dur="))
        .and_then(|v| v.parse::<f64>().ok());
    let body = res.bytes().await?;
    anyhow::ensure!(
        status.is_success(),
        "{url} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    timing.ok_or_else(|| anyhow::anyhow!("{url} answered no Server-Timing header"))
}

/// p50, p95 and p99 (nearest rank) of `ms`.
fn percentiles(ms: &[f64]) -> (f64, f64, f64) {
    if ms.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[i]
    };
    (rank(0.50), rank(0.95), rank(0.99))
}

#[cfg(test)]
mod tests {
    use super::percentiles;

    #[test]
    fn nearest_rank_percentiles() {
        let ms: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentiles(&ms), (50.0, 95.0, 99.0));
        assert_eq!(percentiles(&[7.0]), (7.0, 7.0, 7.0));
        assert!(percentiles(&[]).0.is_nan());
    }
}
