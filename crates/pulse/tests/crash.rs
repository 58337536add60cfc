//! Crash safety of real `pulse worker` processes, on SQLite and (when `PULSE_TEST_DATABASE_URL` is
//! set) a fresh PostgreSQL database, through the production git connector over a repository built
//! here (hundreds of commits, merges, release tags; small pages, so one sync is ~150
//! transactions):
//!
//! - `sigkill`: at least 20 SIGKILLs at seeded random points of one sync, a new process after
//!   each; the final data equals an uninterrupted run's into another database.
//! - `failpoints`: every failpoint (`PULSE_FAILPOINTS`, `pulse_etl::failpoint`) aborts a worker
//!   at the point it names, again and again; the same invariant.
//! - `zombie`: worker A is stopped (SIGSTOP) past its lease, worker B takes the job over, A is
//!   continued (SIGCONT) while B is frozen: A writes nothing, and the final data is exact.
//! - `two_workers`: two worker processes with two workers each never run the same job at once.
//! - `pinned`: `pulse worker --client` / `CLIENT_NAME` workers run only their client's jobs.
//!
//! Every wait polls observable state (the job row, a process's exit or log lines) with a deadline
//! of tens of seconds. The tests of this file take a lock so they run one at a time: their leases
//! are short, and processes of two tests competing for two cores would only add noise.
//! `PULSE_CRASH_SEED` replays a run's random choices (the seed is printed).

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Backend;
use pulse_config::{load_from, Sources};
use pulse_core::ClientId;
use pulse_db::entity::{
    commits, deployment_commits, deployment_repositories, deployments, job_events, job_logs, jobs,
    raw_records, repositories,
};
use pulse_db::sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IdenStatic, Iterable,
    QueryFilter, QueryOrder, TransactionTrait,
};
use pulse_db::Db;
use pulse_etl::integrations::{self, NewIntegration};
use pulse_etl::{Engine, EngineConfig, IntegrationId, JobId, NewJob};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Running one test at a time, and seeded randomness
// ---------------------------------------------------------------------------------------------

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// splitmix64: small, seeded, good enough to spread kill points.
struct Rng(u64);

impl Rng {
    fn for_test(test: &str) -> Self {
        let seed = match std::env::var("PULSE_CRASH_SEED") {
            Ok(s) => s.parse().expect("PULSE_CRASH_SEED is a whole number"),
            Err(_) => test
                .bytes()
                .fold(0x5EED_u64, |h, b| h.rotate_left(7) ^ u64::from(b)),
        };
        eprintln!("{test}: seed {seed} (set PULSE_CRASH_SEED={seed} to replay)");
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Polls `check` until it returns `Some`, or `None` after `deadline`.
async fn wait_for<T, F, Fut>(deadline: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Generous: a loaded two-core machine starts processes and commits pages slowly.
const DEADLINE: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------------
// The repository
// ---------------------------------------------------------------------------------------------

const SCOPE: &str = "crash-repo";
/// Commits on `main` besides merges.
const MAIN_COMMITS: usize = 240;
/// A release tag every this many main commits.
const TAG_EVERY: usize = 3;
/// A feature branch (of `SIDE_COMMITS` commits) merged every this many main commits.
const MERGE_EVERY: usize = 40;
const SIDE_COMMITS: usize = 3;
/// Commits of a branch never merged, released as `v9.0.0`.
const EXPERIMENT_COMMITS: usize = 4;
const COMMIT_PAGE: u64 = 4;
const TAG_PAGE: u64 = 1;

/// A bare repository written with `git fast-import` (fixed dates and authors, so its history is
/// the same on every run), removed on drop.
struct Fixture {
    dir: PathBuf,
    repo: PathBuf,
    commits: usize,
    tags: usize,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn git(dir: &Path, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const AUTHORS: &[(&str, &str, &str)] = &[
    ("Ada Lovelace", "Ada@Example.COM", "+0100"),
    ("Grace Hopper", "grace@example.com", "-0500"),
    ("Linus Torvalds", "linus@example.org", "+0000"),
    ("Margaret Hamilton", "mh@Example.com", "+0930"),
];

impl Fixture {
    fn build() -> Self {
        let dir = std::env::temp_dir().join(format!("pulse-crash-git-{}", uuid::Uuid::new_v4()));
        let repo = dir.join(format!("{SCOPE}.git"));
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "--bare", "-q"], None);

        let mut s = String::new();
        let mut mark = 0usize;
        let mut commits = 0usize;
        let mut tags = 0usize;
        let t0: i64 = 1_700_000_000;
        let mut commit = |s: &mut String,
                          branch: &str,
                          at: i64,
                          from: Option<usize>,
                          merge: Option<usize>,
                          what: &str| {
            mark += 1;
            commits += 1;
            let (name, email, tz) = AUTHORS[mark % AUTHORS.len()];
            let msg = format!("{what} #{mark}\n\nDetails of change {mark}.\n");
            let content = format!("change {mark}\n");
            s.push_str(&format!("commit refs/heads/{branch}\nmark :{mark}\n"));
            s.push_str(&format!("author {name} <{email}> {at} {tz}\n"));
            s.push_str(&format!(
                "committer Release Bot <bot@example.com> {at} +0000\n"
            ));
            s.push_str(&format!("data {}\n{msg}\n", msg.len()));
            if let Some(f) = from {
                s.push_str(&format!("from :{f}\n"));
            }
            if let Some(m) = merge {
                s.push_str(&format!("merge :{m}\n"));
            }
            s.push_str(&format!(
                "M 644 inline file-{}.txt\ndata {}\n{content}\n",
                mark % 7,
                content.len()
            ));
            mark
        };
        let mut tip = 0;
        let mut experiment_base = 0;
        for i in 1..=MAIN_COMMITS {
            let at = t0 + (i as i64) * 3600;
            tip = commit(&mut s, "main", at, (tip > 0).then_some(tip), None, "Change");
            if i == 100 {
                experiment_base = tip;
            }
            if i % MERGE_EVERY == 0 {
                let branch = format!("feature-{i}");
                let mut side = tip;
                for k in 0..SIDE_COMMITS {
                    side = commit(
                        &mut s,
                        &branch,
                        at + 60 * (k as i64 + 1),
                        Some(side),
                        None,
                        "Feature work",
                    );
                }
                tip = commit(
                    &mut s,
                    "main",
                    at + 600,
                    Some(tip),
                    Some(side),
                    "Merge feature",
                );
            }
            if i % TAG_EVERY == 0 {
                let name = format!("v1.{}.0", i / TAG_EVERY);
                tags += 1;
                if (i / TAG_EVERY).is_multiple_of(2) {
                    s.push_str(&format!("reset refs/tags/{name}\nfrom :{tip}\n\n"));
                } else {
                    let msg = format!("Release {name}\n");
                    s.push_str(&format!(
                        "tag {name}\nfrom :{tip}\ntagger Release Bot <bot@example.com> {} +0000\ndata {}\n{msg}\n",
                        at + 1800,
                        msg.len()
                    ));
                }
            }
        }
        // Tags that are not releases.
        s.push_str(&format!("reset refs/tags/nightly\nfrom :{tip}\n\n"));
        s.push_str(&format!("reset refs/tags/v2.0.0-rc1\nfrom :{tip}\n\n"));
        // A branch never merged, released last: its commits are stored with the tag.
        let mut side = experiment_base;
        let late = t0 + (MAIN_COMMITS as i64 + 10) * 3600;
        for k in 0..EXPERIMENT_COMMITS {
            side = commit(
                &mut s,
                "experiment",
                late + 60 * k as i64,
                Some(side),
                None,
                "Experiment",
            );
        }
        let msg = "Experimental release\n";
        s.push_str(&format!(
            "tag v9.0.0\nfrom :{side}\ntagger Release Bot <bot@example.com> {} +0000\ndata {}\n{msg}\n",
            late + 3600,
            msg.len()
        ));
        tags += 1;
        s.push_str("done\n");
        git(&repo, &["fast-import", "--quiet", "--done"], Some(&s));
        Self {
            dir,
            repo,
            commits,
            tags,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A database, and the data a sync left in it
// ---------------------------------------------------------------------------------------------

/// Engine settings of most tests: a dead worker's job is rescued a second after its last
/// heartbeat, and kills never exhaust a job's attempts.
const FAST: &[(&str, &str)] = &[
    ("PULSE_ETL_LEASE_SECONDS", "1"),
    ("PULSE_ETL_HEARTBEAT_SECONDS", "0.2"),
    ("PULSE_ETL_POLL_MILLIS", "50"),
    ("PULSE_ETL_MAX_ATTEMPTS", "1000"),
    ("PULSE_ETL_RETRY_BASE_SECONDS", "1"),
    ("PULSE_ETL_RETRY_MAX_SECONDS", "2"),
];

/// A database on `backend`'s server other than `backend`'s own (a fresh PostgreSQL database, or
/// a new SQLite file).
async fn another(backend: &Backend) -> Backend {
    match backend {
        Backend::Sqlite => Backend::Sqlite,
        Backend::Postgres(_) => Backend::Postgres(
            common::postgres_database()
                .await
                .expect("PULSE_TEST_DATABASE_URL is set"),
        ),
    }
}

/// One migrated database, the environment worker processes get to use it, and an engine without
/// workers to queue jobs and read their state.
struct Site {
    dir: PathBuf,
    env: Vec<(String, String)>,
    db: Db,
    engine: Engine,
    probe: Option<DatabaseConnection>,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One client's git integration and its job.
#[derive(Debug, Clone, Copy)]
struct Sync {
    client: ClientId,
    integration: IntegrationId,
    job: JobId,
}

impl Site {
    async fn new(backend: Backend, name: &str, etl: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("pulse-crash-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut env = common::test_env(&backend, &dir.join("data"), etl);
        for (k, v) in [
            ("PULSE_LOG", "warn"),
            ("PULSE_HOST", "127.0.0.1"),
            ("PULSE_WORKERS", "1"),
        ] {
            env.push((k.into(), v.into()));
        }
        let config = load_from(Sources {
            file: None,
            env: env.clone(),
        })
        .expect("the test configuration is valid");
        let db = Db::connect(&config).await.expect("connect");
        pulse_db::migration::up(db.system()).await.expect("migrate");
        db.prepare().await.expect("prepare");
        // On SQLite this generates the keys into the data directory the workers read them from.
        let keys = pulse_auth::keys::load(&config).expect("keys");
        // The engine that queues jobs stamps them with the configured attempts budget.
        let engine = Engine::new(db.clone(), EngineConfig::from_config(&config.etl))
            .with_cipher(pulse_auth::crypto::Cipher::new(&keys.encryption_key));
        let probe = match backend {
            Backend::Sqlite => {
                let mut opts = pulse_db::sea_orm::ConnectOptions::new(config.database_url());
                opts.max_connections(1)
                    .min_connections(1)
                    .sqlx_logging(false);
                let conn = pulse_db::sea_orm::Database::connect(opts).await.unwrap();
                conn.execute_unprepared("PRAGMA busy_timeout = 0")
                    .await
                    .unwrap();
                Some(conn)
            }
            Backend::Postgres(_) => None,
        };
        Self {
            dir,
            env,
            db,
            engine,
            probe,
        }
    }

    /// A client with a git integration over `repo` (small pages), and a queued sync of it.
    async fn git_sync(&self, client_name: &str, repo: &Path) -> Sync {
        let c = pulse_db::repo::clients::create(self.db.system(), client_name)
            .await
            .unwrap();
        let client = ClientId::from_uuid(c.id);
        let tx = self.db.tenant(client).await.unwrap();
        let integration = integrations::create(
            &tx,
            self.engine.cipher().unwrap(),
            NewIntegration {
                kind: "git".into(),
                name: "repository".into(),
                scopes: vec![SCOPE.into()],
                rules: Some(json!({
                    "path": repo.display().to_string(),
                    "page_size": COMMIT_PAGE,
                    "tag_page_size": TAG_PAGE,
                })),
                ..Default::default()
            },
            self.engine.now(),
        )
        .await
        .unwrap()
        .id;
        tx.commit().await.unwrap();
        Sync {
            client,
            integration,
            job: self.enqueue(client, integration).await,
        }
    }

    async fn enqueue(&self, client: ClientId, integration: IntegrationId) -> JobId {
        self.engine
            .enqueue(client, NewJob::sync(integration, SCOPE))
            .await
            .unwrap()
            .id
    }

    async fn job(&self, job: JobId) -> Option<jobs::Model> {
        jobs::Entity::find_by_id(job.uuid())
            .one(self.db.system())
            .await
            .ok()
            .flatten()
    }

    /// Waits until `job` satisfies `ok`, failing with `context()` after the deadline.
    async fn wait_job(
        &self,
        job: JobId,
        what: &str,
        ok: impl Fn(&jobs::Model) -> bool,
        context: impl Fn() -> String,
    ) -> jobs::Model {
        let ok = &ok;
        match wait_for(
            DEADLINE,
            || async move { self.job(job).await.filter(|j| ok(j)) },
        )
        .await
        {
            Some(j) => j,
            None => panic!(
                "timed out waiting for {what}; the job is {:?}\n{}",
                self.job(job).await,
                context()
            ),
        }
    }

    /// `(from, to, attempt, message)` of every status change of `job`, oldest first.
    async fn events(&self, job: JobId) -> Vec<(Option<String>, String, i32, String)> {
        job_events::Entity::find()
            .filter(job_events::Column::JobId.eq(job.uuid()))
            .order_by_asc(job_events::Column::At)
            .order_by_asc(job_events::Column::Id)
            .all(self.db.system())
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                (
                    e.from_status,
                    e.to_status,
                    e.attempt,
                    e.message.unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Whether a transaction that writes is open right now: on SQLite someone holds the write
    /// lock; on PostgreSQL the job row is locked (every fenced write transaction and heartbeat
    /// locks it first).
    async fn write_in_progress(&self, job: JobId) -> bool {
        match &self.probe {
            Some(conn) => match conn.execute_unprepared("BEGIN IMMEDIATE").await {
                Ok(_) => {
                    conn.execute_unprepared("ROLLBACK").await.unwrap();
                    false
                }
                Err(_) => true,
            },
            None => {
                let tx = self.db.system().begin().await.unwrap();
                let locked = tx
                    .query_one(pulse_db::sea_orm::Statement::from_sql_and_values(
                        pulse_db::sea_orm::DatabaseBackend::Postgres,
                        "SELECT id FROM jobs WHERE id = $1 FOR UPDATE NOWAIT",
                        [job.uuid().into()],
                    ))
                    .await
                    .is_err();
                tx.rollback().await.ok();
                locked
            }
        }
    }

    /// Every row of `E` the client owns, as text, sorted.
    async fn rows<E>(&self, client: ClientId) -> Vec<String>
    where
        E: EntityTrait,
        E::Model: std::fmt::Debug,
    {
        let column = E::Column::iter()
            .find(|c| c.as_str() == "client_id")
            .expect("a tenant table");
        let mut rows: Vec<String> = E::find()
            .filter(column.eq(client.uuid()))
            .all(self.db.system())
            .await
            .unwrap()
            .iter()
            .map(|m| format!("{m:?}"))
            .collect();
        rows.sort();
        rows
    }

    /// Everything the client has in the tables a sync writes to, byte for byte (ids, times and
    /// all): any write at all changes it.
    async fn everything(&self, client: ClientId) -> Vec<Vec<String>> {
        vec![
            self.rows::<jobs::Entity>(client).await,
            self.rows::<job_events::Entity>(client).await,
            self.rows::<job_logs::Entity>(client).await,
            self.rows::<raw_records::Entity>(client).await,
            self.rows::<repositories::Entity>(client).await,
            self.rows::<commits::Entity>(client).await,
            self.rows::<deployments::Entity>(client).await,
            self.rows::<deployment_repositories::Entity>(client).await,
            self.rows::<deployment_commits::Entity>(client).await,
        ]
    }

    /// The data a sync left, without what differs between two correct runs (row ids, sync
    /// times, the integration's id inside external ids). Rows are kept with their multiplicity,
    /// so a duplicate shows up.
    async fn data(&self, sync: Sync) -> Data {
        let conn = self.db.system();
        let c = sync.client.uuid();
        let integration = sync.integration.to_string();
        let norm = |s: &str| s.replace(&integration, "<integration>");
        let repos = repositories::Entity::find()
            .filter(repositories::Column::ClientId.eq(c))
            .all(conn)
            .await
            .unwrap();
        let repo_key: HashMap<_, _> = repos.iter().map(|r| (r.id, norm(&r.external_id))).collect();
        let commit_rows = commits::Entity::find()
            .filter(commits::Column::ClientId.eq(c))
            .all(conn)
            .await
            .unwrap();
        let commit_key: HashMap<_, _> = commit_rows
            .iter()
            .map(|r| (r.id, norm(&r.external_id)))
            .collect();
        let deploys = deployments::Entity::find()
            .filter(deployments::Column::ClientId.eq(c))
            .all(conn)
            .await
            .unwrap();
        let deploy_key: HashMap<_, _> = deploys
            .iter()
            .map(|r| (r.id, norm(&r.external_id)))
            .collect();
        let key = |map: &HashMap<uuid::Uuid, String>, id: &uuid::Uuid| {
            map.get(id)
                .cloned()
                .unwrap_or_else(|| format!("<dangling {id}>"))
        };
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let job = self.job(sync.job).await.expect("the job");
        Data {
            repositories: sorted(
                repos
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} {} {:?} {:?}",
                            norm(&r.external_id),
                            r.source,
                            r.full_name,
                            r.default_branch,
                            r.url
                        )
                    })
                    .collect(),
            ),
            commits: sorted(
                commit_rows
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} repo={} sha={} {:?} {:?} {:?} {:?} {} {} +{}-{} person={}",
                            norm(&r.external_id),
                            r.source,
                            key(&repo_key, &r.repository_id),
                            r.sha,
                            r.message,
                            r.author_name,
                            r.author_email,
                            r.author_login,
                            r.authored_at.to_rfc3339(),
                            r.committed_at.to_rfc3339(),
                            r.additions,
                            r.deletions,
                            r.author_person_id.is_some()
                        )
                    })
                    .collect(),
            ),
            deployments: sorted(
                deploys
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} {:?} {} prod={} {} {} {} {:?} {:?} {:?}",
                            norm(&r.external_id),
                            r.source,
                            r.name,
                            r.environment,
                            r.is_production,
                            r.status,
                            r.origin,
                            r.started_at.to_rfc3339(),
                            r.finished_at.map(|t| t.to_rfc3339()),
                            r.commit_sha,
                            r.url
                        )
                    })
                    .collect(),
            ),
            deployment_repositories: sorted(
                deployment_repositories::Entity::find()
                    .filter(deployment_repositories::Column::ClientId.eq(c))
                    .all(conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| {
                        format!(
                            "{} -> {} at {:?}",
                            key(&deploy_key, &r.deployment_id),
                            key(&repo_key, &r.repository_id),
                            r.commit_sha
                        )
                    })
                    .collect(),
            ),
            deployment_commits: sorted(
                deployment_commits::Entity::find()
                    .filter(deployment_commits::Column::ClientId.eq(c))
                    .all(conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| {
                        format!(
                            "{} -> {}",
                            key(&deploy_key, &r.deployment_id),
                            key(&commit_key, &r.commit_id)
                        )
                    })
                    .collect(),
            ),
            raw_records: sorted(
                raw_records::Entity::find()
                    .filter(raw_records::Column::ClientId.eq(c))
                    .all(conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} {} {}",
                            r.endpoint,
                            r.external_id,
                            r.scope,
                            r.payload.as_ref().map(Value::to_string).unwrap_or_default()
                        )
                    })
                    .collect(),
            ),
            status: job.status.clone(),
            checkpoint: job.checkpoint.clone(),
            progress: job.progress.clone(),
        }
    }
}

/// What a sync left, comparable across databases (see [`Site::data`]).
#[derive(Debug)]
struct Data {
    repositories: Vec<String>,
    commits: Vec<String>,
    deployments: Vec<String>,
    deployment_repositories: Vec<String>,
    deployment_commits: Vec<String>,
    raw_records: Vec<String>,
    status: String,
    checkpoint: Option<Value>,
    /// Shown, not compared: a job rescued after its last page reports only what its last
    /// attempt did.
    progress: Option<Value>,
}

impl Data {
    /// Items of the whole sync (new commits plus deployment tags), as its progress counts them.
    fn total(&self) -> u64 {
        self.progress.as_ref().unwrap()["total"].as_u64().unwrap()
    }
}

/// Fails with what is missing and what is extra in each table.
fn assert_same_data(expected: &Data, got: &Data, what: &str) {
    fn diff(name: &str, expected: &[String], got: &[String], out: &mut String) {
        if expected == got {
            return;
        }
        let mut missing: Vec<&String> = Vec::new();
        let mut extra: Vec<&String> = Vec::new();
        let mut counts: HashMap<&String, i64> = HashMap::new();
        for e in expected {
            *counts.entry(e).or_default() += 1;
        }
        for g in got {
            *counts.entry(g).or_default() -= 1;
        }
        for (row, n) in counts {
            if n > 0 {
                missing.push(row);
            } else if n < 0 {
                extra.push(row);
            }
        }
        out.push_str(&format!(
            "\n{name}: expected {} rows, got {}; missing {} (e.g. {:?}), extra or duplicated {} (e.g. {:?})",
            expected.len(),
            got.len(),
            missing.len(),
            missing.iter().take(3).collect::<Vec<_>>(),
            extra.len(),
            extra.iter().take(3).collect::<Vec<_>>()
        ));
    }
    let mut out = String::new();
    diff(
        "repositories",
        &expected.repositories,
        &got.repositories,
        &mut out,
    );
    diff("commits", &expected.commits, &got.commits, &mut out);
    diff(
        "deployments",
        &expected.deployments,
        &got.deployments,
        &mut out,
    );
    diff(
        "deployment_repositories",
        &expected.deployment_repositories,
        &got.deployment_repositories,
        &mut out,
    );
    diff(
        "deployment_commits",
        &expected.deployment_commits,
        &got.deployment_commits,
        &mut out,
    );
    diff(
        "raw_records",
        &expected.raw_records,
        &got.raw_records,
        &mut out,
    );
    if expected.status != got.status {
        out.push_str(&format!("\nstatus: {} vs {}", expected.status, got.status));
    }
    if expected.checkpoint != got.checkpoint {
        out.push_str(&format!(
            "\ncheckpoint: expected {:?}\n       got {:?}",
            expected.checkpoint, got.checkpoint
        ));
    }
    assert!(
        out.is_empty(),
        "{what}: the data differs from an uninterrupted run:{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// Worker processes
// ---------------------------------------------------------------------------------------------

/// A free TCP port for a worker's health endpoint.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `pulse worker`; its stdout and stderr are collected. Killed on drop.
struct WorkerProcess {
    name: String,
    child: Child,
    output: Arc<Mutex<String>>,
    status: Option<ExitStatus>,
}

impl WorkerProcess {
    fn start(site: &Site, name: &str, extra: &[(&str, &str)], args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pulse"));
        cmd.arg("worker")
            .args(args)
            .current_dir(&site.dir)
            .env_clear()
            .envs(site.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PULSE_WORKER_PORT", free_port().to_string())
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // An aborted worker (failpoints) must not write a core file.
        unsafe {
            cmd.pre_exec(|| {
                let none = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &none);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("start pulse worker");
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for pipe in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut out = output.lock().unwrap();
                    out.push_str(&line);
                    out.push('\n');
                }
            });
        }
        Self {
            name: name.into(),
            child,
            output,
            status: None,
        }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// Whether this process's workers hold the lease `owner` (worker ids start with the pid).
    fn owns(&self, owner: Option<&str>) -> bool {
        owner.is_some_and(|o| o.starts_with(&format!("{}-", self.pid())))
    }

    fn output(&self) -> String {
        format!(
            "--- output of worker {} (pid {})\n{}",
            self.name,
            self.pid(),
            self.output.lock().unwrap()
        )
    }

    fn signal(&self, signal: i32) {
        if self.status.is_none() {
            // SAFETY: kill(2) on our own child's pid.
            let done = unsafe { libc::kill(self.pid(), signal) };
            assert_eq!(done, 0, "kill({}, {signal})", self.pid());
        }
    }

    /// The exit status, once the process has ended.
    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap();
        }
        self.status
    }

    /// SIGKILL, and the status it died with.
    fn kill(&mut self) -> ExitStatus {
        self.signal(libc::SIGKILL);
        let status = self.child.wait().unwrap();
        self.status = Some(status);
        status
    }

    /// Waits until the kernel has stopped the process (after SIGSTOP).
    async fn wait_stopped(&self) {
        let stat = format!("/proc/{}/stat", self.pid());
        let stat = &stat;
        let stopped = wait_for(DEADLINE, || async move {
            let text = std::fs::read_to_string(stat).ok()?;
            // The state follows the command name in parentheses.
            let state = text.rsplit_once(") ")?.1.chars().next()?;
            matches!(state, 'T' | 't').then_some(())
        })
        .await;
        assert!(stopped.is_some(), "{} did not stop", self.name);
    }

    /// Stops the process at a moment it has no write transaction open, so others can claim and
    /// write while it is frozen (a frozen writer would hold the SQLite write lock or the job row).
    async fn freeze_outside_a_write(&mut self, site: &Site, job: JobId) {
        for _ in 0..500 {
            self.signal(libc::SIGSTOP);
            self.wait_stopped().await;
            if !site.write_in_progress(job).await {
                return;
            }
            self.signal(libc::SIGCONT);
            // Let it finish that transaction (the probe sees no writer), then try again.
            let _ = wait_for(Duration::from_secs(10), || async move {
                (!site.write_in_progress(job).await).then_some(())
            })
            .await;
        }
        panic!("{} was always inside a write transaction", self.name);
    }

    /// SIGTERM (a graceful stop), or SIGKILL when it does not end within the deadline.
    async fn stop(mut self) {
        if self.exited().is_some() {
            return;
        }
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGTERM);
        let ended = wait_for(Duration::from_secs(30), || {
            let done = self.child.try_wait().unwrap().is_some();
            async move { done.then_some(()) }
        })
        .await;
        if ended.is_none() {
            self.kill();
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.signal(libc::SIGCONT);
            self.kill();
        }
    }
}

/// The data of an uninterrupted run of the same sync into another database.
async fn reference(backend: &Backend, fixture: &Fixture, etl: &[(&str, &str)]) -> Data {
    let site = Site::new(another(backend).await, "reference", etl).await;
    let sync = site.git_sync("Reference", &fixture.repo).await;
    let started = std::time::Instant::now();
    let worker = WorkerProcess::start(&site, "reference", &[], &[]);
    let done = site
        .wait_job(
            sync.job,
            "the uninterrupted run to succeed",
            |j| j.status == "succeeded",
            || worker.output(),
        )
        .await;
    eprintln!(
        "uninterrupted run (process start included): {:?}",
        started.elapsed()
    );
    worker.stop().await;
    assert_eq!(done.attempt, 1, "the reference run was not interrupted");
    let data = site.data(sync).await;
    assert_eq!(data.commits.len(), fixture.commits, "every commit stored");
    assert_eq!(data.deployments.len(), fixture.tags, "every release tag");
    assert_eq!(data.deployment_repositories.len(), fixture.tags);
    assert_eq!(
        data.deployment_commits.len(),
        fixture.commits,
        "each commit shipped by exactly one release"
    );
    assert_eq!(data.raw_records.len(), fixture.commits + fixture.tags);
    assert_eq!(data.repositories.len(), 1);
    assert_eq!(
        data.total(),
        (fixture.commits - EXPERIMENT_COMMITS + fixture.tags) as u64
    );
    data
}

/// The events of a job that ran `claims` times, each later claim rescuing the previous one's
/// expired lease, and succeeded.
fn assert_rescued_history(events: &[(Option<String>, String, i32, String)], claims: i32) {
    let steps: Vec<(Option<&str>, &str, i32)> = events
        .iter()
        .map(|(from, to, attempt, _)| (from.as_deref(), to.as_str(), *attempt))
        .collect();
    let mut expected = vec![(None, "queued", 0), (Some("queued"), "running", 1)];
    for attempt in 2..=claims {
        expected.push((Some("running"), "running", attempt));
    }
    expected.push((Some("running"), "succeeded", claims));
    assert_eq!(steps, expected, "{events:#?}");
}

// ---------------------------------------------------------------------------------------------
// SIGKILL at random points
// ---------------------------------------------------------------------------------------------

/// Kills planned; at least 20 must land before the sync ends.
const KILLS: usize = 24;

async fn sigkill_at_random_points_loses_and_duplicates_nothing(backend: Backend) {
    let _serial = serial().await;
    let fixture = Fixture::build();
    let expected = reference(&backend, &fixture, FAST).await;
    let site = Site::new(backend, "sigkill", FAST).await;
    let sync = site.git_sync("Crashing", &fixture.repo).await;

    // Kill points: progress counts (commits, then tags) spread over the whole sync; a point the
    // job has already passed kills the next process right after its claim (during start-up, the
    // repository row or the first log line).
    let mut rng = Rng::for_test("sigkill");
    let total = expected.total();
    let mut targets: Vec<u64> = (0..KILLS).map(|_| rng.below(total * 17 / 20)).collect();
    targets.sort_unstable();
    let mut attempt = 0;
    let mut kills = Vec::new();
    let mut finished = None;
    for (i, target) in targets.iter().enumerate() {
        let mut worker = WorkerProcess::start(&site, &format!("worker-{i}"), &[], &[]);
        let claimed = site
            .wait_job(
                sync.job,
                "the new worker to claim the job",
                |j| j.attempt > attempt && worker.owns(j.lease_owner.as_deref()),
                || worker.output(),
            )
            .await;
        assert_eq!(claimed.attempt, attempt + 1, "one claim per process");
        attempt = claimed.attempt;
        let reached = site
            .wait_job(
                sync.job,
                "the sync to reach the kill point",
                |j| done(j) >= *target || j.status != "running",
                || worker.output(),
            )
            .await;
        if reached.status == "running" {
            // A random delay of up to a few pages' time, so the kill lands anywhere (inside a
            // page's transaction, between reading and writing, just after a commit), not only
            // right after the progress we observed.
            tokio::time::sleep(Duration::from_micros(rng.below(15_000))).await;
            let status = worker.kill();
            assert_eq!(
                status.signal(),
                Some(libc::SIGKILL),
                "the worker ended otherwise: {status:?}\n{}",
                worker.output()
            );
        }
        let at = site.job(sync.job).await.unwrap();
        if at.status != "running" {
            // This process finished the sync before the kill landed (a slow test process near
            // the end): it was the last one.
            eprintln!("kill {i} came after the end of the sync");
            worker.stop().await;
            finished = Some(at);
            break;
        }
        kills.push(done(&at));
    }
    let finished = match finished {
        Some(job) => job,
        None => {
            let worker = WorkerProcess::start(&site, "finisher", &[], &[]);
            let job = site
                .wait_job(
                    sync.job,
                    "the job to succeed after the kills",
                    |j| j.status == "succeeded",
                    || worker.output(),
                )
                .await;
            worker.stop().await;
            job
        }
    };
    eprintln!(
        "{} kills at progress {kills:?} of {total}; finished on attempt {}",
        kills.len(),
        finished.attempt
    );
    assert!(
        kills.len() >= 20,
        "only {} kills landed mid-sync",
        kills.len()
    );
    let claims = kills.len() as i32 + 1;
    assert_eq!(finished.status, "succeeded");
    assert_eq!(finished.attempt, claims, "one claim per process");
    assert_eq!(
        finished.failures,
        claims - 1,
        "each rescue counts a failed run"
    );
    assert_rescued_history(&site.events(sync.job).await, claims);
    assert_same_data(&expected, &site.data(sync).await, "after SIGKILLs");
}
both_backends!(
    sigkill,
    sigkill_at_random_points_loses_and_duplicates_nothing
);

fn done(job: &jobs::Model) -> u64 {
    job.progress
        .as_ref()
        .and_then(|p| p["done"].as_u64())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Failpoints
// ---------------------------------------------------------------------------------------------

/// Each failpoint, the largest N of its `abort@N` (a point reached once per run takes 1), and
/// how many processes in a row abort there before one without failpoints finishes the job.
const FAILPOINTS: &[(&str, u64, usize)] = &[
    ("worker.after_claim", 1, 2),
    ("lease.after_fence", 40, 2),
    ("git.after_raw_records", 30, 2),
    ("sync.before_checkpoint", 30, 2),
    ("sync.before_commit", 30, 2),
    ("sync.after_commit", 30, 2),
    ("worker.before_succeed", 1, 1),
    ("worker.succeed_before_commit", 1, 1),
];

async fn every_failpoint_loses_and_duplicates_nothing(backend: Backend) {
    let _serial = serial().await;
    let names: Vec<&str> = FAILPOINTS.iter().map(|f| f.0).collect();
    assert_eq!(
        names,
        pulse_etl::failpoint::NAMES,
        "every failpoint is exercised here"
    );
    let fixture = Fixture::build();
    let expected = reference(&backend, &fixture, FAST).await;
    let site = Site::new(backend, "failpoints", FAST).await;
    let mut rng = Rng::for_test("failpoints");
    for (point, max_hit, rounds) in FAILPOINTS {
        // A client of its own per failpoint: its data is compared on its own.
        let sync = site.git_sync(point, &fixture.repo).await;
        let mut aborts = Vec::new();
        let mut succeeded = false;
        for round in 0..*rounds {
            let n = 1 + rng.below(*max_hit);
            let spec = format!("{point}=abort@{n}");
            let mut worker = WorkerProcess::start(
                &site,
                &format!("{point}-{round}"),
                &[("PULSE_FAILPOINTS", &spec)],
                &[],
            );
            let site = &site;
            let outcome = wait_for(DEADLINE, || {
                let exited = worker.exited();
                async move {
                    if let Some(status) = exited {
                        return Some(Err(status));
                    }
                    let job = site.job(sync.job).await?;
                    (job.status == "succeeded").then_some(Ok(()))
                }
            })
            .await
            .unwrap_or_else(|| panic!("{spec}: neither aborted nor finished\n{}", worker.output()));
            match outcome {
                Err(status) => {
                    let output = worker.output();
                    assert_eq!(
                        status.signal(),
                        Some(libc::SIGABRT),
                        "{spec}: {status:?}\n{output}"
                    );
                    assert!(
                        output.contains(&format!("failpoint {point} reached (hit {n})")),
                        "{spec}: aborted elsewhere\n{output}"
                    );
                    aborts.push(n);
                }
                Ok(()) => {
                    worker.stop().await;
                    succeeded = true;
                    break;
                }
            }
        }
        assert!(!aborts.is_empty(), "{point} was never reached");
        if !succeeded {
            let worker = WorkerProcess::start(&site, &format!("{point}-finisher"), &[], &[]);
            site.wait_job(
                sync.job,
                &format!("the job to succeed after aborts at {point}"),
                |j| j.status == "succeeded",
                || worker.output(),
            )
            .await;
            worker.stop().await;
        }
        let job = site.job(sync.job).await.unwrap();
        eprintln!(
            "{point}: aborted at hits {aborts:?}; succeeded on attempt {}",
            job.attempt
        );
        assert_eq!(job.attempt, aborts.len() as i32 + 1, "{point}");
        assert_rescued_history(&site.events(sync.job).await, aborts.len() as i32 + 1);
        assert_same_data(&expected, &site.data(sync).await, point);
    }
}
both_backends!(failpoints, every_failpoint_loses_and_duplicates_nothing);

// ---------------------------------------------------------------------------------------------
// A paused worker (zombie)
// ---------------------------------------------------------------------------------------------

/// Leases long enough that a worker frozen for a moment on purpose keeps its own.
const ZOMBIE: &[(&str, &str)] = &[
    ("PULSE_ETL_LEASE_SECONDS", "4"),
    ("PULSE_ETL_HEARTBEAT_SECONDS", "0.5"),
    ("PULSE_ETL_POLL_MILLIS", "50"),
    ("PULSE_ETL_MAX_ATTEMPTS", "10"),
];

async fn a_stopped_worker_writes_nothing_after_the_takeover(backend: Backend) {
    let _serial = serial().await;
    let fixture = Fixture::build();
    let expected = reference(&backend, &fixture, ZOMBIE).await;
    let site = Site::new(backend, "zombie", ZOMBIE).await;
    let sync = site.git_sync("Zombie", &fixture.repo).await;

    // A claims the job and writes some pages, then freezes past its lease.
    let mut a = WorkerProcess::start(&site, "A", &[], &[]);
    site.wait_job(
        sync.job,
        "A to write a few pages",
        |j| a.owns(j.lease_owner.as_deref()) && done(j) >= 5 * COMMIT_PAGE,
        || a.output(),
    )
    .await;
    a.freeze_outside_a_write(&site, sync.job).await;
    let frozen_at = done(&site.job(sync.job).await.unwrap());

    // B starts, waits for A's lease to expire and takes the job over.
    let mut b = WorkerProcess::start(&site, "B", &[], &[]);
    let taken = site
        .wait_job(
            sync.job,
            "B to take the job over",
            |j| j.attempt == 2 && b.owns(j.lease_owner.as_deref()),
            || format!("{}\n{}", a.output(), b.output()),
        )
        .await;
    assert_eq!(taken.status, "running");
    // B is frozen as well (outside a write), so whatever changes from now on is A's doing.
    b.freeze_outside_a_write(&site, sync.job).await;
    let before = site.everything(sync.client).await;

    // A wakes up, carries on where it was, and finds out its lease is gone.
    a.signal(libc::SIGCONT);
    let noticed = wait_for(DEADLINE, || {
        let out = a.output();
        async move { out.contains("lease lost").then_some(()) }
    })
    .await;
    assert!(noticed.is_some(), "A never noticed\n{}", a.output());
    let job = site.job(sync.job).await.unwrap();
    assert_eq!(
        (job.attempt, b.owns(job.lease_owner.as_deref())),
        (2, true),
        "B's lease ran out while B was frozen (the machine is too slow for this test's lease)"
    );
    let after = site.everything(sync.client).await;
    assert!(
        before == after,
        "A wrote after B took the job over:\n{}",
        changes(&before, &after)
    );

    // B carries on and finishes: nothing lost, nothing duplicated.
    b.signal(libc::SIGCONT);
    let finished = site
        .wait_job(
            sync.job,
            "B to finish",
            |j| j.status == "succeeded",
            || format!("{}\n{}", a.output(), b.output()),
        )
        .await;
    assert!(b.owns(finished.lease_owner.as_deref()));
    let events = site.events(sync.job).await;
    assert_rescued_history(&events, 2);
    assert!(a.owns(Some(events[1].3.trim_start_matches("claimed by "))));
    assert!(events[2].3.contains(&format!("rescued by {}-", b.pid())));
    a.stop().await;
    b.stop().await;
    eprintln!("A was frozen at progress {frozen_at}; B took over and finished");
    assert_same_data(&expected, &site.data(sync).await, "after a zombie");
}
both_backends!(zombie, a_stopped_worker_writes_nothing_after_the_takeover);

fn changes(before: &[Vec<String>], after: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (b, a) in before.iter().zip(after) {
        for row in a.iter().filter(|r| !b.contains(r)) {
            out.push_str(&format!("+ {row}\n"));
        }
        for row in b.iter().filter(|r| !a.contains(r)) {
            out.push_str(&format!("- {row}\n"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Two worker processes
// ---------------------------------------------------------------------------------------------

const TWO: &[(&str, &str)] = &[
    ("PULSE_ETL_LEASE_SECONDS", "5"),
    ("PULSE_ETL_HEARTBEAT_SECONDS", "0.5"),
    ("PULSE_ETL_POLL_MILLIS", "50"),
];

async fn two_worker_processes_never_run_the_same_job(backend: Backend) {
    let _serial = serial().await;
    let fixture = Fixture::build();
    let expected = reference(&backend, &fixture, TWO).await;
    let site = Site::new(backend, "two", TWO).await;
    let mut p1 = WorkerProcess::start(&site, "P1", &[("PULSE_WORKERS", "2")], &[]);
    let mut p2 = WorkerProcess::start(&site, "P2", &[("PULSE_WORKERS", "2")], &[]);
    for p in [&mut p1, &mut p2] {
        let up = wait_for(DEADLINE, || {
            let out = p.output();
            let ended = p.exited().is_some();
            async move { (ended || out.contains("Pulse worker running 2 workers")).then_some(()) }
        })
        .await;
        assert!(
            up.is_some() && p.exited().is_none(),
            "the worker did not start\n{}",
            p.output()
        );
    }
    let mut syncs = Vec::new();
    for i in 0..6 {
        syncs.push(site.git_sync(&format!("Client {i}"), &fixture.repo).await);
    }
    for sync in &syncs {
        site.wait_job(
            sync.job,
            "every job to succeed",
            |j| j.status == "succeeded",
            || format!("{}\n{}", p1.output(), p2.output()),
        )
        .await;
    }
    let mut claimed_by = [0, 0];
    for sync in &syncs {
        let events = site.events(sync.job).await;
        let steps: Vec<_> = events
            .iter()
            .map(|(from, to, attempt, _)| (from.as_deref(), to.as_str(), *attempt))
            .collect();
        assert_eq!(
            steps,
            vec![
                (None, "queued", 0),
                (Some("queued"), "running", 1),
                (Some("running"), "succeeded", 1),
            ],
            "each job claimed once, never taken over: {events:#?}"
        );
        let owner = events[1].3.trim_start_matches("claimed by ");
        match (p1.owns(Some(owner)), p2.owns(Some(owner))) {
            (true, false) => claimed_by[0] += 1,
            (false, true) => claimed_by[1] += 1,
            _ => panic!("claimed by neither process: {owner}"),
        }
        assert_same_data(&expected, &site.data(*sync).await, "a job of two workers");
    }
    eprintln!("jobs run by each process: {claimed_by:?}");
    assert!(
        claimed_by.iter().all(|n| *n > 0),
        "both processes took jobs: {claimed_by:?}"
    );
    p1.stop().await;
    p2.stop().await;
}
both_backends!(two_workers, two_worker_processes_never_run_the_same_job);

// ---------------------------------------------------------------------------------------------
// Pinned workers
// ---------------------------------------------------------------------------------------------

async fn pinned_worker_processes_run_only_their_clients_jobs(backend: Backend) {
    let _serial = serial().await;
    let fixture = Fixture::build();
    let site = Site::new(backend, "pinned", FAST).await;
    // Beta's job is queued first: a worker claiming any client's job would take it first.
    let beta = site.git_sync("Beta", &fixture.repo).await;
    let alpha = site.git_sync("Alpha", &fixture.repo).await;

    let alpha_worker = WorkerProcess::start(&site, "alpha", &[], &["--client", "Alpha"]);
    site.wait_job(
        alpha.job,
        "Alpha's job to succeed",
        |j| j.status == "succeeded" && alpha_worker.owns(j.lease_owner.as_deref()),
        || alpha_worker.output(),
    )
    .await;
    let waiting = site.job(beta.job).await.unwrap();
    assert_eq!(
        (waiting.status.as_str(), waiting.attempt),
        ("queued", 0),
        "a worker pinned to Alpha never claims Beta's job"
    );

    // CLIENT_NAME pins too.
    let beta_worker = WorkerProcess::start(&site, "beta", &[("CLIENT_NAME", "Beta")], &[]);
    site.wait_job(
        beta.job,
        "Beta's job to succeed",
        |j| j.status == "succeeded" && beta_worker.owns(j.lease_owner.as_deref()),
        || beta_worker.output(),
    )
    .await;
    alpha_worker.stop().await;
    beta_worker.stop().await;
    for sync in [alpha, beta] {
        assert_eq!(site.data(sync).await.commits.len(), fixture.commits);
    }

    // An unpinned worker runs any client's jobs.
    let again = [
        site.enqueue(beta.client, beta.integration).await,
        site.enqueue(alpha.client, alpha.integration).await,
    ];
    let any = WorkerProcess::start(&site, "any", &[], &[]);
    for job in again {
        site.wait_job(
            job,
            "the unpinned worker to run both clients' jobs",
            |j| j.status == "succeeded" && any.owns(j.lease_owner.as_deref()),
            || any.output(),
        )
        .await;
    }
    any.stop().await;

    // An unknown client is an error, not a worker waiting forever.
    for (extra, args) in [
        (vec![], vec!["--client", "Gamma"]),
        (vec![("CLIENT_NAME", "Gamma")], vec![]),
    ] {
        let mut worker = WorkerProcess::start(&site, "unknown", &extra, &args);
        let status = wait_for(DEADLINE, || {
            let exited = worker.exited();
            async move { exited }
        })
        .await
        .expect("the worker exits");
        assert_eq!(status.code(), Some(1), "{}", worker.output());
        assert!(
            worker.output().contains("no client named 'Gamma'"),
            "{}",
            worker.output()
        );
    }
}
both_backends!(pinned, pinned_worker_processes_run_only_their_clients_jobs);
