//! A quick measurement of the aggregate-backed reports: generates demo data of a chosen size,
//! loads it through the import, builds the cells, and times the DORA, pull-request and executive
//! service functions (server-side, each call in a fresh read transaction, nothing cached).
//!
//! ```text
//! cargo run --release -p pulse-analytics --example rollup_bench -- --prs 300000
//! cargo run --release -p pulse-analytics --example rollup_bench -- --prs 300000 \
//!     --database-url postgres://postgres@127.0.0.1:5432/pulse_bench
//! ```
//!
//! Options: `--prs N` (deployments default to N/5, issues to N), `--deployments N`,
//! `--issues N`, `--iterations K` (per scenario, default 30), `--dir PATH` (SQLite data directory;
//! reused when it already holds the data), `--database-url URL` (PostgreSQL instead), `--raw`
//! (also time the raw computation once per scenario).

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use pulse_analytics::{
    dora_from, executive_from, pull_requests_from, Filters, MetricsParams, Source,
};
use pulse_config::{load_from, Sources};
use pulse_core::ClientId;
use pulse_db::repo::{clients, scope};
use pulse_db::Db;
use pulse_demo::{Counts, Options, Size};

struct Args {
    counts: Counts,
    iterations: usize,
    dir: std::path::PathBuf,
    url: Option<String>,
    raw: bool,
}

fn args() -> Args {
    let mut a = Args {
        counts: Counts {
            prs: 300_000,
            deployments: 0,
            issues: 0,
        },
        iterations: 30,
        dir: std::env::temp_dir().join("pulse-rollup-bench"),
        url: None,
        raw: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--prs" => a.counts.prs = value().parse().expect("--prs"),
            "--deployments" => a.counts.deployments = value().parse().expect("--deployments"),
            "--issues" => a.counts.issues = value().parse().expect("--issues"),
            "--iterations" => a.iterations = value().parse().expect("--iterations"),
            "--dir" => a.dir = value().into(),
            "--database-url" => a.url = Some(value()),
            "--raw" => a.raw = true,
            other => panic!("unknown option {other}"),
        }
    }
    if a.counts.deployments == 0 {
        a.counts.deployments = a.counts.prs / 5;
    }
    if a.counts.issues == 0 {
        a.counts.issues = a.counts.prs;
    }
    a
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = args();
    let mut env = vec![("PULSE_DATA_DIR".to_string(), a.dir.display().to_string())];
    if let Some(url) = &a.url {
        env.push(("DATABASE_URL".into(), url.clone()));
        env.push((
            "JWT_SECRET_KEY".into(),
            "bench-secret-bench-secret-bench-secret".into(),
        ));
        env.push((
            "PULSE_ENCRYPTION_KEY".into(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        ));
    }
    let config = load_from(Sources { file: None, env })?;
    let db = Db::connect(&config).await?;
    pulse_db::migration::up(db.system()).await?;
    db.prepare().await?;
    let anchor = NaiveDate::from_ymd_opt(2025, 6, 2).expect("date");
    let name = format!("Bench {}", a.counts.prs);
    let client = match clients::find_by_name(db.system(), &name).await? {
        Some(c) => ClientId::from_uuid(c.id),
        None => {
            let client = ClientId::from_uuid(clients::create(db.system(), &name).await?.id);
            let options = Options {
                size: Size::Custom(a.counts),
                seed: 42,
                anchor,
            };
            let path = a.dir.join(format!("bench-{}.jsonl", a.counts.prs));
            std::fs::create_dir_all(&a.dir)?;
            let started = Instant::now();
            let stats = pulse_demo::write_jsonl(
                &options,
                std::io::BufWriter::new(std::fs::File::create(&path)?),
            )?;
            println!(
                "generated {} records in {:.1} s ({} pull requests, {} deployments, {} issues)",
                stats.values().sum::<u64>(),
                started.elapsed().as_secs_f64(),
                stats["pull_request"],
                stats["deployment"],
                stats["issue"]
            );
            let started = Instant::now();
            let tx = db.tenant(client).await?;
            let open = || {
                std::fs::File::open(&path).map(|f| std::io::BufReader::with_capacity(1 << 20, f))
            };
            pulse_ingest::import(&tx, open)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            tx.commit().await?;
            println!(
                "imported in {:.1} s (triggers marking changed days included)",
                started.elapsed().as_secs_f64()
            );
            std::fs::remove_file(&path).ok();
            client
        }
    };
    let started = Instant::now();
    match pulse_analytics::rollup::refresh_pending(&db, client).await? {
        Some(s) => println!(
            "built the cells in {:.1} s: {} markers, full: {}, {} days, {} cells",
            started.elapsed().as_secs_f64(),
            s.markers,
            s.full,
            s.days,
            s.cells
        ),
        None => println!("cells already current"),
    }

    let tx = db.tenant_read(client).await?;
    let team = scope::all_teams(&tx)
        .await?
        .into_iter()
        .find(|t| t.parent_id.is_some())
        .map(|t| t.id);
    let project = scope::all_projects(&tx).await?.first().map(|p| p.id);
    tx.rollback().await?;
    let last = anchor - chrono::Duration::days(1);
    let scenario = |tz: &str, team, project, from: Option<NaiveDate>| {
        Filters::parse(
            MetricsParams {
                from,
                to: Some(last),
                team,
                project,
                tz: Some(tz.into()),
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .expect("filters")
    };
    let scenarios = [
        ("30 days, UTC", scenario("UTC", None, None, None)),
        (
            "30 days, Asia/Kolkata",
            scenario("Asia/Kolkata", None, None, None),
        ),
        ("30 days, one team", scenario("UTC", team, None, None)),
        ("30 days, one project", scenario("UTC", None, project, None)),
        (
            "90 days, Europe/Berlin",
            scenario(
                "Europe/Berlin",
                None,
                None,
                Some(last - chrono::Duration::days(89)),
            ),
        ),
    ];
    println!(
        "{:<24} {:<14} {:>8} {:>8} {:>8}   (ms, {} calls each)",
        "scenario", "endpoint", "p50", "p95", "max", a.iterations
    );
    for (label, f) in &scenarios {
        for endpoint in ["dora", "pull-requests", "executive"] {
            let mut times = Vec::with_capacity(a.iterations);
            for _ in 0..a.iterations {
                let started = Instant::now();
                let tx = db.tenant_read(client).await?;
                match endpoint {
                    "dora" => drop(dora_from(&tx, f, Source::Aggregates).await?),
                    "pull-requests" => drop(pull_requests_from(&tx, f, Source::Aggregates).await?),
                    _ => drop(executive_from(&tx, f, Source::Aggregates).await?),
                }
                tx.rollback().await?;
                times.push(started.elapsed());
            }
            times.sort();
            print!(
                "{label:<24} {endpoint:<14} {:>8.1} {:>8.1} {:>8.1}",
                percentile(&times, 0.5),
                percentile(&times, 0.95),
                percentile(&times, 1.0)
            );
            if a.raw {
                let started = Instant::now();
                let tx = db.tenant_read(client).await?;
                match endpoint {
                    "dora" => drop(dora_from(&tx, f, Source::Raw).await?),
                    "pull-requests" => drop(pull_requests_from(&tx, f, Source::Raw).await?),
                    _ => drop(executive_from(&tx, f, Source::Raw).await?),
                }
                tx.rollback().await?;
                print!("   raw: {:.1}", started.elapsed().as_secs_f64() * 1000.0);
            }
            println!();
        }
    }

    // An incremental change: one more deployment on the last day, then the refresh a read runs.
    let line = format!(
        r#"{{"type":"deployment","id":"bench-extra-{}","environment":"production","status":"success","origin":"webhook","started_at":"{last}T10:00:00Z","finished_at":"{last}T10:05:00Z","repositories":[]}}"#,
        chrono::Utc::now().timestamp_micros()
    );
    let tx = db.tenant(client).await?;
    pulse_ingest::import(&tx, || Ok(line.as_bytes()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    let started = Instant::now();
    let s = pulse_analytics::rollup::refresh_pending(&db, client)
        .await?
        .expect("a marker");
    println!(
        "refresh after one new deployment: {:.2} s ({} days, {} cells)",
        started.elapsed().as_secs_f64(),
        s.days,
        s.cells
    );
    Ok(())
}
