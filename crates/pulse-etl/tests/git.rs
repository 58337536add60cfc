//! The local git connector end to end through the engine (enqueue, then a worker runs the job):
//! a repository built here with the `git` CLI at fixed dates, incremental runs after new commits
//! and tags, Pulse's own history, and refused paths.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use pulse_core::ClientId;
use pulse_db::entity::{
    commits, deployment_commits, deployment_repositories, deployments, raw_records, repositories,
};
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use pulse_etl::connectors::git::{GitConnector, GitSettings, GIT_KIND};
use pulse_etl::integrations::{self, NewIntegration};
use pulse_etl::{Engine, IntegrationId, Job, JobStatus, NewJob, Registry, Worker};
use serde_json::{json, Value};

/// A scratch directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        let p = std::env::temp_dir().join(format!("pulse-git-{what}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// Runs `git` in `dir` at `date` (author and committer), isolated from the user's configuration.
fn git(dir: &Path, date: &str, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "Ada@Example.COM")
        .env("GIT_COMMITTER_NAME", "Release Bot")
        .env("GIT_COMMITTER_EMAIL", "bot@example.com")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Commits every change of the working tree (or nothing, an empty commit).
fn commit(dir: &Path, date: &str, message: &str) -> String {
    git(dir, date, &["add", "-A"]);
    git(dir, date, &["commit", "--allow-empty", "-q", "-m", message]);
    git(dir, date, &["rev-parse", "HEAD"])
}

/// Writes a file of the working tree (creating its directory).
fn write(dir: &Path, path: &str, content: &[u8]) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The commits of the first history, by name.
struct History {
    c1: String,
    c2: String,
    c3: String,
    f1: String,
    merge: String,
    c5: String,
}

/// main: c1 ← c2 (v0.1.0, lightweight) ← c3 ← merge of feature f1 (v0.2.0, annotated, tagged a
/// day later) ← c5 (`nightly`, not a release). Lines each commit adds and deletes against its
/// first parent are in [`lines`].
fn build_history(dir: &Path) -> History {
    git(dir, "2024-01-01T09:00:00Z", &["init", "-q"]);
    write(dir, "README.md", b"# Shop\n\nA shop.\n");
    write(dir, "src/main.rs", b"fn main() {\n}\n");
    let c1 = commit(
        dir,
        "2024-01-01T10:00:00Z",
        "Initial commit\n\nWith a body.",
    );
    write(dir, "README.md", b"# Shop\n\nA shop with an API.\n");
    write(
        dir,
        "src/api.rs",
        b"pub fn list() {}\npub fn get() {}\npub fn put() {}\npub fn delete() {}\n",
    );
    let c2 = commit(dir, "2024-01-02T10:00:00+02:00", "Add the API");
    git(dir, "2024-01-02T11:00:00Z", &["tag", "v0.1.0"]);
    git(
        dir,
        "2024-01-02T12:00:00Z",
        &["checkout", "-q", "-b", "feature"],
    );
    write(dir, "docs/feature.txt", b"one\ntwo\nthree");
    std::fs::remove_file(dir.join("src/main.rs")).unwrap();
    let f1 = commit(dir, "2024-01-03T12:00:00Z", "Feature work");
    git(dir, "2024-01-03T12:00:00Z", &["checkout", "-q", "main"]);
    write(dir, "src/api.rs", b"pub fn list() {}\npub fn get() -> u8 { 1 }\npub fn put() {}\npub fn delete() {}\npub fn head() {}\n");
    let c3 = commit(dir, "2024-01-03T10:00:00Z", "Fix a bug");
    git(
        dir,
        "2024-01-04T10:00:00Z",
        &["merge", "-q", "--no-ff", "-m", "Merge feature", "feature"],
    );
    let merge = git(dir, "2024-01-04T10:00:00Z", &["rev-parse", "HEAD"]);
    git(
        dir,
        "2024-01-05T09:00:00Z",
        &["tag", "-a", "v0.2.0", "-m", "Release 0.2.0"],
    );
    write(dir, "logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    write(
        dir,
        "README.md",
        b"# Shop\n\nA shop with an API.\n\nReleased.",
    );
    let c5 = commit(dir, "2024-01-06T10:00:00Z", "After the release");
    git(dir, "2024-01-06T11:00:00Z", &["tag", "nightly"]);
    History {
        c1,
        c2,
        c3,
        f1,
        merge,
        c5,
    }
}

/// (additions, deletions, parents) of each commit of [`build_history`], as `git log --numstat
/// --first-parent` counts them: c1 adds README (3) and main.rs (2); c2 rewrites a README line and
/// adds api.rs (4); f1 adds feature.txt (3 lines, the last without newline) and deletes main.rs
/// (2); c3 changes one api.rs line and adds one; the merge brings f1's changes into main; c5 adds
/// a binary file (no lines) and two README lines.
/// Additions, deletions and parent count of a commit.
type Lines = (i64, i64, Option<i32>);

fn lines(h: &History) -> Vec<(&str, Lines)> {
    vec![
        (h.c1.as_str(), (5, 0, Some(0))),
        (h.c2.as_str(), (5, 1, Some(1))),
        (h.f1.as_str(), (3, 2, Some(1))),
        (h.c3.as_str(), (2, 1, Some(1))),
        (h.merge.as_str(), (3, 2, Some(2))),
        (h.c5.as_str(), (2, 0, Some(1))),
    ]
}

async fn git_integration(engine: &Engine, client: ClientId, rules: Value) -> IntegrationId {
    let tx = engine.db().tenant(client).await.unwrap();
    let created = integrations::create(
        &tx,
        &cipher(),
        NewIntegration {
            kind: GIT_KIND.into(),
            name: format!("git-{}", uuid::Uuid::new_v4().simple()),
            rules: Some(rules),
            ..Default::default()
        },
        engine.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    created.id
}

fn worker(engine: &Engine, connector: GitConnector) -> Worker {
    let mut r = Registry::new();
    r.register(Arc::new(connector));
    Worker::new(engine.clone(), Arc::new(r), "git-worker")
}

/// Enqueues a sync of `scope` and runs it to the end; returns the job afterwards.
async fn run(
    engine: &Engine,
    clock: &pulse_etl::ManualClock,
    worker: &Worker,
    client: ClientId,
    integ: IntegrationId,
    scope: &str,
) -> Job {
    // Successive jobs finish at distinct times, so the latest one's checkpoint is the watermark.
    clock.advance(Duration::from_secs(1));
    let job = engine
        .enqueue(client, NewJob::sync(integ, scope))
        .await
        .unwrap();
    let outcome = worker.run_next().await.unwrap().expect("a job to run");
    assert_eq!(outcome.job, job.id);
    engine.get(client, job.id).await.unwrap()
}

/// Queues a re-convert of `scope` and runs it to the end; returns the job afterwards.
async fn reconvert(
    engine: &Engine,
    worker: &Worker,
    client: ClientId,
    integ: IntegrationId,
    scope: &str,
) -> Job {
    let job = engine
        .queue(client, integ, scope, pulse_etl::JobMode::Reconvert)
        .await
        .unwrap();
    assert_eq!(job.mode, pulse_etl::JobMode::Reconvert);
    let outcome = worker
        .run_next()
        .await
        .unwrap()
        .expect("the re-convert runs");
    assert_eq!(outcome.job, job.id);
    engine.get(client, job.id).await.unwrap()
}

async fn all<E: EntityTrait>(engine: &Engine, client: ClientId) -> Vec<E::Model> {
    use pulse_db::sea_orm::Iterable;
    let tx = engine.db().tenant(client).await.unwrap();
    let client_col = E::Column::iter()
        .find(|c| pulse_db::sea_orm::IdenStatic::as_str(c) == "client_id")
        .unwrap();
    let rows = E::find()
        .filter(client_col.eq(client.uuid()))
        .all(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    rows
}

async fn commits_by_sha(engine: &Engine, client: ClientId) -> Vec<commits::Model> {
    let tx = engine.db().tenant(client).await.unwrap();
    let rows = commits::Entity::find()
        .filter(commits::Column::ClientId.eq(client.uuid()))
        .order_by_asc(commits::Column::AuthoredAt)
        .all(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    rows
}

/// Each deployment by tag name with the shas it shipped (sorted).
async fn shipped(engine: &Engine, client: ClientId) -> Vec<(String, Vec<String>)> {
    let deploys = all::<deployments::Entity>(engine, client).await;
    let links = all::<deployment_commits::Entity>(engine, client).await;
    let commits = all::<commits::Entity>(engine, client).await;
    let mut out: Vec<(String, Vec<String>)> = deploys
        .iter()
        .map(|d| {
            let mut shas: Vec<String> = links
                .iter()
                .filter(|l| l.deployment_id == d.id)
                .map(|l| {
                    commits
                        .iter()
                        .find(|c| c.id == l.commit_id)
                        .unwrap()
                        .sha
                        .clone()
                })
                .collect();
            shas.sort();
            (d.name.clone().unwrap(), shas)
        })
        .collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<&String>) -> Vec<String> {
    v.sort();
    v.into_iter().cloned().collect()
}

/// A client with the "shop" repository (built by [`build_history`] in a temporary directory, the
/// connector's allowed root) and a git integration of it, synced in pages of 2 commits and 1 tag.
struct Shop {
    engine: Engine,
    clock: Arc<pulse_etl::ManualClock>,
    client: ClientId,
    _dir: TempDir,
    repo: PathBuf,
    history: History,
    integration: IntegrationId,
    connector: GitConnector,
    worker: Worker,
}

async fn shop(backend: &Backend) -> Shop {
    let db = database(backend).await;
    let (engine, clock) = manual_engine(&db);
    let client = client(&db, "a").await;
    let dir = TempDir::new("repo");
    let repo = dir.0.join("shop");
    std::fs::create_dir_all(&repo).unwrap();
    let history = build_history(&repo);
    let integration =
        git_integration(&engine, client, json!({"path": repo.display().to_string()})).await;
    let connector = GitConnector::new(GitSettings {
        allowed_root: Some(dir.0.clone()),
    })
    .with_page_sizes(2, 1);
    let worker = worker(&engine, connector.clone());
    Shop {
        engine,
        clock,
        client,
        _dir: dir,
        repo,
        history,
        integration,
        connector,
        worker,
    }
}

/// A [`shop`] whose repository has been synced once, successfully.
async fn synced_shop(backend: &Backend) -> Shop {
    let shop = shop(backend).await;
    let first = run(
        &shop.engine,
        &shop.clock,
        &shop.worker,
        shop.client,
        shop.integration,
        "shop",
    )
    .await;
    assert_eq!(first.status, JobStatus::Succeeded, "{:?}", first.last_error);
    shop
}

async fn syncs_history_tags_and_increments(backend: Backend) {
    let Shop {
        engine,
        clock,
        client: a,
        _dir,
        repo,
        history: h,
        integration: integ,
        connector,
        worker,
    } = shop(&backend).await;

    use pulse_etl::Connector;
    let config = {
        let tx = engine.db().tenant(a).await.unwrap();
        let c = integrations::config(&tx, Some(&cipher()), integ)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        c
    };
    connector.test_connection(&config).await.unwrap();
    let scopes = connector.discover_scopes(&config).await.unwrap();
    assert_eq!(scopes.len(), 1);
    assert_eq!(scopes[0].id, "shop");

    // First run: the whole history and both release tags.
    let job = run(&engine, &clock, &worker, a, integ, "shop").await;
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    let progress = job.progress.clone().unwrap();
    assert_eq!(progress.total, Some(6 + 2));
    assert_eq!(progress.done, 8);
    assert_eq!(job.checkpoint.as_ref().unwrap()["head"], json!(h.c5));

    let repos = all::<repositories::Entity>(&engine, a).await;
    assert_eq!(repos.len(), 1);
    assert_eq!(repos[0].full_name, "shop");
    assert_eq!(repos[0].source, "git");
    assert_eq!(repos[0].default_branch.as_deref(), Some("main"));
    let stored = commits_by_sha(&engine, a).await;
    assert_eq!(stored.len(), 6);
    let first = &stored[0];
    assert_eq!(first.sha, h.c1);
    assert_eq!(first.message.as_deref(), Some("Initial commit"));
    assert_eq!(first.author_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(first.author_email.as_deref(), Some("ada@example.com"));
    assert_eq!(first.authored_at, ts("2024-01-01T10:00:00Z"));
    assert_eq!(first.repository_id, repos[0].id);
    let c2 = stored.iter().find(|c| c.sha == h.c2).unwrap();
    assert_eq!(
        c2.authored_at,
        ts("2024-01-02T08:00:00Z"),
        "offsets become UTC"
    );
    assert_eq!(c2.committed_at, ts("2024-01-02T08:00:00Z"));
    let merge = stored.iter().find(|c| c.sha == h.merge).unwrap();
    assert_eq!(merge.message.as_deref(), Some("Merge feature"));
    for (sha, (additions, deletions, parents)) in lines(&h) {
        let c = stored.iter().find(|c| c.sha == sha).unwrap();
        assert_eq!(
            (c.additions, c.deletions, c.parent_count),
            (additions, deletions, parents),
            "line changes and parents of {:?}",
            c.message
        );
    }

    let deploys = all::<deployments::Entity>(&engine, a).await;
    assert_eq!(deploys.len(), 2, "nightly is not a release");
    let v010 = deploys
        .iter()
        .find(|d| d.name.as_deref() == Some("v0.1.0"))
        .unwrap();
    assert_eq!(v010.origin, "tag");
    assert_eq!(v010.status, "success");
    assert_eq!(v010.environment, "production");
    assert!(v010.is_production);
    assert_eq!(
        v010.started_at,
        ts("2024-01-02T08:00:00Z"),
        "a lightweight tag takes its commit's time"
    );
    assert_eq!(v010.finished_at, Some(v010.started_at));
    assert_eq!(v010.commit_sha.as_deref(), Some(h.c2.as_str()));
    let v020 = deploys
        .iter()
        .find(|d| d.name.as_deref() == Some("v0.2.0"))
        .unwrap();
    assert_eq!(
        v020.started_at,
        ts("2024-01-05T09:00:00Z"),
        "an annotated tag takes the tagger's time"
    );
    assert_eq!(v020.commit_sha.as_deref(), Some(h.merge.as_str()));
    let repo_links = all::<deployment_repositories::Entity>(&engine, a).await;
    assert_eq!(repo_links.len(), 2);
    assert!(repo_links.iter().all(|l| l.repository_id == repos[0].id));
    assert!(repo_links
        .iter()
        .any(|l| l.deployment_id == v020.id && l.commit_sha.as_deref() == Some(h.merge.as_str())));
    assert_eq!(
        shipped(&engine, a).await,
        vec![
            ("v0.1.0".to_string(), sorted(vec![&h.c1, &h.c2])),
            ("v0.2.0".to_string(), sorted(vec![&h.c3, &h.f1, &h.merge])),
        ]
    );
    let raw = all::<raw_records::Entity>(&engine, a).await;
    assert_eq!(raw.iter().filter(|r| r.endpoint == "commits").count(), 6);
    assert_eq!(raw.iter().filter(|r| r.endpoint == "tags").count(), 2);

    // Nothing changed: a second run writes no rows.
    let again = run(&engine, &clock, &worker, a, integ, "shop").await;
    assert_eq!(again.status, JobStatus::Succeeded, "{:?}", again.last_error);
    assert_eq!(again.progress.unwrap().total, Some(0));
    assert_eq!(commits_by_sha(&engine, a).await, stored, "rows untouched");
    assert_eq!(all::<deployments::Entity>(&engine, a).await.len(), 2);
    let raw_again = all::<raw_records::Entity>(&engine, a).await;
    assert!(raw_again.iter().all(|r| r.job_id != Some(again.id.uuid())));

    // Two new commits and a release: only they are read and written.
    let c6 = commit(&repo, "2024-01-07T10:00:00Z", "Another change");
    let c7 = commit(&repo, "2024-01-08T10:00:00Z", "Prepare 0.3.0");
    git(&repo, "2024-01-08T11:00:00Z", &["tag", "v0.3.0"]);
    let third = run(&engine, &clock, &worker, a, integ, "shop").await;
    assert_eq!(third.status, JobStatus::Succeeded, "{:?}", third.last_error);
    assert_eq!(third.progress.unwrap().total, Some(2 + 1));
    let now_stored = commits_by_sha(&engine, a).await;
    assert_eq!(now_stored.len(), 8);
    for old in &stored {
        let same = now_stored.iter().find(|c| c.sha == old.sha).unwrap();
        assert_eq!(same.id, old.id, "ids are stable");
        assert_eq!(
            same.synced_at, old.synced_at,
            "old commits were not rewritten"
        );
    }
    let raw_now = all::<raw_records::Entity>(&engine, a).await;
    let mut written_ids: Vec<&str> = raw_now
        .iter()
        .filter(|r| r.job_id == Some(third.id.uuid()))
        .map(|r| r.external_id.as_str())
        .collect();
    written_ids.sort();
    let mut expected = vec![c6.as_str(), c7.as_str(), "v0.3.0"];
    expected.sort();
    assert_eq!(written_ids, expected);
    assert_eq!(
        shipped(&engine, a).await,
        vec![
            ("v0.1.0".to_string(), sorted(vec![&h.c1, &h.c2])),
            ("v0.2.0".to_string(), sorted(vec![&h.c3, &h.f1, &h.merge])),
            ("v0.3.0".to_string(), sorted(vec![&h.c5, &c6, &c7])),
        ]
    );
    assert_eq!(
        all::<deployment_repositories::Entity>(&engine, a)
            .await
            .len(),
        3
    );

    // A full re-sync rewrites in place: same rows, same ids, nothing duplicated.
    clock.advance(Duration::from_secs(1));
    let full = engine
        .enqueue(
            a,
            NewJob {
                mode: pulse_etl::JobMode::Full,
                ..NewJob::sync(integ, "shop")
            },
        )
        .await
        .unwrap();
    worker.run_next().await.unwrap().unwrap();
    let full = engine.get(a, full.id).await.unwrap();
    assert_eq!(full.status, JobStatus::Succeeded, "{:?}", full.last_error);
    let after_full = commits_by_sha(&engine, a).await;
    assert_eq!(after_full.len(), 8);
    assert_eq!(
        after_full.iter().map(|c| c.id).collect::<Vec<_>>(),
        now_stored.iter().map(|c| c.id).collect::<Vec<_>>()
    );
    assert_eq!(all::<deployments::Entity>(&engine, a).await.len(), 3);
    assert_eq!(all::<deployment_commits::Entity>(&engine, a).await.len(), 8);
    assert_eq!(
        all::<deployment_repositories::Entity>(&engine, a)
            .await
            .len(),
        3
    );
}
both_backends!(
    syncs_history_tags_and_increments,
    syncs_history_tags_and_increments
);

fn toplevel() -> PathBuf {
    let out = Command::new("git")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .expect("git runs");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn syncs_pulses_own_history(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let root = toplevel();
    let expected: usize = git_in(&root, &["rev-list", "--count", "HEAD"])
        .parse()
        .unwrap();
    let shallow = git_in(&root, &["rev-parse", "--is-shallow-repository"]) == "true";
    // No tag name is empty, so no tag counts as a deployment: the commits are exactly HEAD's
    // history.
    let integ = git_integration(
        &engine,
        a,
        json!({"path": root.display().to_string(), "tag_pattern": "^$"}),
    )
    .await;
    let scope = root.file_name().unwrap().to_string_lossy().to_string();
    let worker = worker(&engine, GitConnector::new(GitSettings::default()));
    let job = run(&engine, &clock, &worker, a, integ, &scope).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    let stored = all::<commits::Entity>(&engine, a).await;
    if !shallow {
        assert!(stored.len() >= 10, "only {} commits", stored.len());
    }
    assert_eq!(stored.len(), expected);
    let head = git_in(&root, &["rev-parse", "HEAD"]);
    let tip = stored
        .iter()
        .find(|c| c.sha == head)
        .expect("HEAD is stored");
    let subject = git_in(&root, &["log", "-1", "--format=%s", "HEAD"]);
    assert_eq!(tip.message.as_deref(), Some(subject.as_str()));
    let author = git_in(&root, &["log", "-1", "--format=%at", "HEAD"]);
    assert_eq!(tip.authored_at.timestamp().to_string(), author);
}
both_backends!(syncs_pulses_own_history, syncs_pulses_own_history);

async fn bad_paths_fail_permanently_saying_what_to_fix(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let allowed = TempDir::new("allowed");
    let outside = TempDir::new("outside");
    let plain = allowed.0.join("not-a-repo");
    std::fs::create_dir_all(&plain).unwrap();
    git(&outside.0, "2024-01-01T00:00:00Z", &["init", "-q"]);
    let repo = allowed.0.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, "2024-01-01T00:00:00Z", &["init", "-q"]);
    // A work tree inside the root whose `.git` file points at a git directory outside it.
    let linked = allowed.0.join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    std::fs::write(
        linked.join(".git"),
        format!("gitdir: {}\n", outside.0.join(".git").display()),
    )
    .unwrap();
    let worker = worker(
        &engine,
        GitConnector::new(GitSettings {
            allowed_root: Some(allowed.0.clone()),
        }),
    );
    let cases = [
        (
            json!({"path": allowed.0.join("missing").display().to_string()}),
            "missing",
            "check that it exists",
        ),
        (
            json!({"path": outside.0.display().to_string()}),
            "outside",
            "outside",
        ),
        (
            json!({"path": plain.display().to_string()}),
            "not-a-repo",
            "is not a git repository",
        ),
        (
            json!({"path": plain.display().to_string(), "tag_pattern": "("}),
            "not-a-repo",
            "not a valid regular expression",
        ),
        (
            json!({"path": linked.display().to_string()}),
            "linked",
            "repository's git directory",
        ),
        (
            json!({"path": repo.display().to_string(), "branch": "release"}),
            "repo",
            "the branch 'release' does not exist",
        ),
        (json!({"repo": "/x"}), "x", "rules are invalid"),
        (
            json!({"path": repo.display().to_string(), "page_size": 0}),
            "repo",
            "rules.page_size 0 is out of range",
        ),
        (
            json!({"path": repo.display().to_string(), "tag_page_size": 100_000}),
            "repo",
            "rules.tag_page_size 100000 is out of range",
        ),
        (
            json!({"path": repo.display().to_string(), "page_size": "ten"}),
            "repo",
            "rules are invalid",
        ),
    ];
    for (rules, scope, message) in cases {
        let integ = git_integration(&engine, a, rules.clone()).await;
        let job = run(&engine, &clock, &worker, a, integ, scope).await;
        assert_eq!(job.status, JobStatus::Failed, "{rules}");
        assert_eq!(job.attempt, 1, "a permanent error is not retried");
        let error = job.last_error.unwrap_or_default();
        assert!(error.contains(message), "{rules}: {error}");
    }
    assert!(all::<commits::Entity>(&engine, a).await.is_empty());

    // A repository without commits is not an error: nothing to store yet.
    let integ = git_integration(&engine, a, json!({"path": repo.display().to_string()})).await;
    let job = run(&engine, &clock, &worker, a, integ, "repo").await;
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    assert!(all::<commits::Entity>(&engine, a).await.is_empty());
    assert_eq!(all::<repositories::Entity>(&engine, a).await.len(), 1);
}
both_backends!(
    bad_paths_fail_permanently_saying_what_to_fix,
    bad_paths_fail_permanently_saying_what_to_fix
);

async fn a_rescued_job_resumes_after_its_last_page(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let dir = TempDir::new("resume");
    let h = build_history(&dir.0);
    // Commits only, so every stored commit row comes from a commit page.
    let integ = git_integration(
        &engine,
        a,
        json!({"path": dir.0.display().to_string(), "tag_pattern": "^$"}),
    )
    .await;
    let scope = dir.0.file_name().unwrap().to_string_lossy().to_string();
    let job = engine
        .enqueue(a, NewJob::sync(integ, &scope))
        .await
        .unwrap();

    // A first worker committed a page covering the three oldest commits (c1, c2, f1), then went
    // silent. (Its rows are left out here, so what the rescuer writes is visible on its own.)
    let first = engine
        .claim("dead-worker")
        .await
        .unwrap()
        .expect("claimable");
    let tx = first.lease.begin(&engine).await.unwrap();
    tx.save_checkpoint(&json!({"target": h.c5, "written": 3, "tags": {}}))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    clock.advance(Duration::from_secs(4));

    let worker = worker(
        &engine,
        GitConnector::new(GitSettings::default()).with_page_sizes(2, 1),
    );
    let outcome = worker.run_next().await.unwrap().expect("rescued");
    assert_eq!((outcome.job, outcome.attempt), (job.id, 2));
    let job = engine.get(a, job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    let progress = job.progress.unwrap();
    assert_eq!((progress.done, progress.total), (6, Some(6)));
    assert_eq!(job.checkpoint.unwrap()["head"], json!(h.c5));

    // The rescuer continued after the checkpoint: the newer half of the history, oldest first.
    let stored: Vec<String> = commits_by_sha(&engine, a)
        .await
        .into_iter()
        .map(|c| c.sha)
        .collect();
    assert_eq!(stored, vec![h.c3.clone(), h.merge.clone(), h.c5.clone()]);
}
both_backends!(
    a_rescued_job_resumes_after_its_last_page,
    a_rescued_job_resumes_after_its_last_page
);

/// A repository with `n` empty commits on `main`, made in one `git fast-import`.
fn long_history(dir: &Path, n: usize) {
    use std::io::Write;
    git(dir, "2024-01-01T00:00:00Z", &["init", "-q"]);
    let mut stream = String::new();
    for i in 0..n {
        let msg = format!("change {i}");
        stream.push_str(&format!(
            "commit refs/heads/main\ncommitter Bot <bot@example.com> {} +0000\ndata {}\n{msg}\n",
            1_704_067_200 + i * 60,
            msg.len()
        ));
    }
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("git fast-import runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

async fn cancel_stops_between_pages(backend: Backend) {
    let db = database(&backend).await;
    let engine = Engine::new(db.clone(), fast_config()).with_cipher(cipher());
    let a = client(&db, "a").await;
    let dir = TempDir::new("long");
    long_history(&dir.0, 3000);
    let integ = git_integration(&engine, a, json!({"path": dir.0.display().to_string()})).await;
    let scope = dir.0.file_name().unwrap().to_string_lossy().to_string();
    let job = engine
        .enqueue(a, NewJob::sync(integ, &scope))
        .await
        .unwrap();
    let w = worker(
        &engine,
        GitConnector::new(GitSettings::default()).with_page_sizes(1, 1),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        w.run(async {
            let _ = stopped.await;
        })
        .await
    });
    let written = |engine: Engine| async move {
        let j = engine.get(a, job.id).await.ok()?;
        j.checkpoint.as_ref()?["written"].as_u64()
    };
    eventually(Duration::from_secs(30), "a few pages", || {
        let engine = engine.clone();
        async move { written(engine).await.filter(|w| *w >= 5) }
    })
    .await;
    engine.cancel(a, job.id).await.unwrap();
    eventually(Duration::from_secs(5), "the job to be cancelled", || {
        let engine = engine.clone();
        async move {
            let j = engine.get(a, job.id).await.ok()?;
            (j.status == JobStatus::Cancelled).then_some(())
        }
    })
    .await;
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the worker stops")
        .unwrap();
    // The stored commits are exactly the pages the checkpoint covers.
    let at_cancel = written(engine.clone()).await.unwrap();
    assert!(at_cancel < 3000, "cancelled before the end");
    assert_eq!(
        all::<commits::Entity>(&engine, a).await.len() as u64,
        at_cancel
    );
}
both_backends!(cancel_stops_between_pages, cancel_stops_between_pages);

/// The client's metric rules apply to the tags a sync writes, in the page's transaction: only
/// tags matching the rules' release pattern count as deployments.
async fn tags_follow_the_metric_rules(backend: Backend) {
    let db = database(&backend).await;
    let (engine, clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    {
        let tx = engine.db().tenant(a).await.unwrap();
        pulse_analytics::rules::service::replace_client(
            &tx,
            json!({"deployments": {"releases": {"tag": "^v0\\.2\\."}}}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let dir = TempDir::new("rules");
    let repo = dir.0.join("shop");
    std::fs::create_dir_all(&repo).unwrap();
    build_history(&repo);
    let integ = git_integration(&engine, a, json!({"path": repo.display().to_string()})).await;
    let connector = GitConnector::new(GitSettings {
        allowed_root: Some(dir.0.clone()),
    });
    let worker = worker(&engine, connector);
    let job = run(&engine, &clock, &worker, a, integ, "shop").await;
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    let mut deploys: Vec<(String, bool, bool)> = all::<deployments::Entity>(&engine, a)
        .await
        .into_iter()
        .map(|d| (d.name.unwrap_or_default(), d.counted, d.is_production))
        .collect();
    deploys.sort();
    assert_eq!(
        deploys,
        [
            ("v0.1.0".to_string(), false, false),
            ("v0.2.0".to_string(), true, true)
        ]
    );
}
both_backends!(tags_follow_the_metric_rules, tags_follow_the_metric_rules);

/// A re-convert loads the kept raw records again under the integration's current settings: it
/// reads no repository (a commit made since is not picked up), rewrites rows in place, and leaves
/// the incremental watermark to the last sync.
async fn reconvert_reloads_raw_records_under_the_current_settings(backend: Backend) {
    let Shop {
        engine,
        clock,
        client: a,
        _dir,
        repo,
        integration: integ,
        worker,
        ..
    } = synced_shop(&backend).await;
    let commits_before = commits_by_sha(&engine, a).await;
    let deploys_before = all::<deployments::Entity>(&engine, a).await;
    let shipped_before = shipped(&engine, a).await;
    assert_eq!(commits_before.len(), 6);
    assert_eq!(deploys_before.len(), 2);
    assert!(deploys_before.iter().all(|d| d.environment == "production"));

    // The settings change, and the repository moves on.
    let tx = engine.db().tenant(a).await.unwrap();
    integrations::update(
        &tx,
        integ,
        integrations::IntegrationUpdate {
            rules: Some(Some(json!({
                "path": repo.display().to_string(),
                "environment": "staging",
                "is_production": false
            }))),
            ..Default::default()
        },
        engine.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let c6 = commit(&repo, "2024-03-01T10:00:00+00:00", "After the last sync");

    clock.advance(Duration::from_secs(1));
    let job = reconvert(&engine, &worker, a, integ, "shop").await;
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    let progress = job.progress.clone().unwrap();
    assert_eq!((progress.done, progress.total), (8, Some(8)));

    // Same rows, same ids, the new environment; nothing of the repository's new commit.
    let commits_after = commits_by_sha(&engine, a).await;
    assert_eq!(
        commits_after.iter().map(|c| c.id).collect::<Vec<_>>(),
        commits_before.iter().map(|c| c.id).collect::<Vec<_>>()
    );
    let mut deploys_after = all::<deployments::Entity>(&engine, a).await;
    deploys_after.sort_by_key(|d| d.name.clone());
    let mut ids_before: Vec<_> = deploys_before.iter().map(|d| d.id).collect();
    let mut ids_after: Vec<_> = deploys_after.iter().map(|d| d.id).collect();
    ids_before.sort();
    ids_after.sort();
    assert_eq!(ids_after, ids_before);
    for d in &deploys_after {
        assert_eq!(d.environment, "staging", "{:?}", d.name);
        assert_eq!(d.reported_production, Some(false), "{:?}", d.name);
    }
    assert_eq!(shipped(&engine, a).await, shipped_before);

    // The next incremental sync starts from the last sync's watermark, not the re-convert's.
    let next = run(&engine, &clock, &worker, a, integ, "shop").await;
    assert_eq!(next.status, JobStatus::Succeeded, "{:?}", next.last_error);
    let written: Vec<String> = all::<raw_records::Entity>(&engine, a)
        .await
        .into_iter()
        .filter(|r| r.job_id == Some(next.id.uuid()))
        .map(|r| r.external_id)
        .collect();
    assert_eq!(written, vec![c6.clone()]);
    assert_eq!(commits_by_sha(&engine, a).await.len(), 7);
}
both_backends!(
    reconvert_reloads_raw_records_under_the_current_settings,
    reconvert_reloads_raw_records_under_the_current_settings
);

/// A re-convert reads only what was kept: it works after the clone is gone, and finds nothing
/// for a scope never collected.
async fn reconvert_needs_no_repository_on_disk(backend: Backend) {
    let Shop {
        engine,
        clock,
        client: a,
        _dir,
        repo,
        integration: integ,
        worker,
        ..
    } = synced_shop(&backend).await;
    let ids = |rows: Vec<commits::Model>| -> Vec<(String, uuid::Uuid)> {
        rows.into_iter().map(|c| (c.sha, c.id)).collect()
    };
    let before = ids(commits_by_sha(&engine, a).await);
    assert_eq!(before.len(), 6);

    // The clone is gone from the worker; its kept raw records are enough.
    std::fs::rename(&repo, repo.with_file_name("moved-away")).unwrap();
    clock.advance(Duration::from_secs(1));
    let job = reconvert(&engine, &worker, a, integ, "shop").await;
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    assert_eq!(ids(commits_by_sha(&engine, a).await), before);

    // A scope the integration never collected has nothing to re-convert.
    let job = reconvert(&engine, &worker, a, integ, "other").await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.last_error.unwrap_or_default();
    assert!(error.contains("run a sync first"), "{error}");
}
both_backends!(
    reconvert_needs_no_repository_on_disk,
    reconvert_needs_no_repository_on_disk
);

/// A connector that keeps no raw records refuses a re-convert with a message, at once.
async fn reconvert_is_refused_by_connectors_without_it(backend: Backend) {
    let db = database(&backend).await;
    let (engine, _clock) = manual_engine(&db);
    let a = client(&db, "a").await;
    let connector = Arc::new(pulse_etl::testing::CountingConnector::new(3, 1));
    let mut registry = Registry::new();
    registry.register(connector.clone());
    let worker = Worker::new(engine.clone(), Arc::new(registry), "w");
    let integ = integration(&engine, a, &["s"], None).await;
    let job = reconvert(&engine, &worker, a, integ, "s").await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.attempt, 1, "a permanent failure is not retried");
    let error = job.last_error.unwrap_or_default();
    assert!(error.contains("re-convert"), "{error}");
}
both_backends!(
    reconvert_is_refused_by_connectors_without_it,
    reconvert_is_refused_by_connectors_without_it
);
