//! The apply step: writes validated records in dependency order inside the caller's tenant
//! transaction, reading the file again once per record type so memory stays bounded by a chunk
//! (plus the ids of the pull requests, deployments and incidents whose derived values must be
//! recomputed at the end).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;

use chrono::{DateTime, Utc};
use pulse_db::entity::*;
use pulse_db::repo::ingested::{self, Keyed, Upserted};
use pulse_db::repo::people::PersonResolver;
use pulse_db::repo::{derive, links, update};
use pulse_db::sea_orm::sea_query::Expr;
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use pulse_db::TenantTx;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::record::*;
use crate::validate::parse_line;
use crate::ImportError;

/// Records written per batch.
const CHUNK: usize = 200;

/// What an import did to one record type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCount {
    /// Records that were new.
    pub inserted: u64,
    /// Records that replaced a stored row with the same source and id.
    pub updated: u64,
}

/// Counts per record type (`team`, `pull_request`, ...); types absent from the file are left out.
pub type Counts = BTreeMap<String, TypeCount>;

#[derive(Deserialize)]
struct Tag<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// Reads the records of one type, a chunk at a time.
struct OfKind<R> {
    reader: R,
    kind: Kind,
    buf: Vec<u8>,
}

impl<R: BufRead> OfKind<R> {
    fn new(reader: R, kind: Kind) -> Self {
        Self {
            reader,
            kind,
            buf: Vec::new(),
        }
    }

    fn next_chunk<T>(&mut self, pick: fn(Record) -> Option<T>) -> Result<Vec<T>, ImportError> {
        let mut out = Vec::new();
        while out.len() < CHUNK {
            self.buf.clear();
            if self.reader.read_until(b'\n', &mut self.buf)? == 0 {
                break;
            }
            let text = std::str::from_utf8(&self.buf)
                .map_err(|_| ImportError::Changed("a line is no longer UTF-8".into()))?;
            if text.trim().is_empty() {
                continue;
            }
            let tag: Tag = serde_json::from_str(text)
                .map_err(|e| ImportError::Changed(format!("a line no longer parses: {e}")))?;
            if tag.kind.as_deref() != Some(self.kind.as_str()) {
                continue;
            }
            let record = parse_line(text)
                .map_err(|(_, m)| ImportError::Changed(format!("a line no longer parses: {m}")))?;
            if let Some(t) = pick(record) {
                out.push(t);
            }
        }
        Ok(out)
    }
}

fn src(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| DEFAULT_SOURCE.to_string())
}

fn ts(t: Timestamp) -> DateTime<Utc> {
    t.0
}

fn opt_ts(t: Option<Timestamp>) -> Option<DateTime<Utc>> {
    t.map(|t| t.0)
}

fn lower(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|e| e.trim().to_lowercase())
}

fn labels(l: &[String]) -> Option<serde_json::Value> {
    (!l.is_empty()).then(|| serde_json::json!(l))
}

type Ids = HashMap<(String, String), Uuid>;

/// Looks up the ids of `(source, external id)` pairs of one type. The pairs are collected before
/// the lookup starts, so the returned future holds no borrowing iterator (and stays `Send`).
fn resolve<'a, E: Keyed>(
    tx: &'a TenantTx,
    wanted: impl IntoIterator<Item = (String, String)>,
) -> impl std::future::Future<Output = Result<Ids, ImportError>> + Send + 'a {
    let mut by_source: HashMap<String, Vec<String>> = HashMap::new();
    for (s, id) in wanted {
        by_source.entry(s).or_default().push(id);
    }
    async move {
        let mut out = HashMap::new();
        for (s, ids) in by_source {
            for (id, uuid) in ingested::ids_by_external::<E>(tx, &s, &ids).await? {
                out.insert((s.clone(), id), uuid);
            }
        }
        Ok(out)
    }
}

fn need(ids: &Ids, source: &str, id: &str, what: &str) -> Result<Uuid, ImportError> {
    ids.get(&(source.to_string(), id.to_string()))
        .copied()
        .ok_or_else(|| ImportError::Changed(format!("{what} `{id}` disappeared during the import")))
}

fn maybe(ids: &Ids, source: &str, id: &Option<String>) -> Option<Uuid> {
    id.as_ref()
        .and_then(|id| ids.get(&(source.to_string(), id.clone())).copied())
}

fn add(counts: &mut Counts, kind: Kind, u: &Upserted) {
    let c = counts.entry(kind.as_str().to_string()).or_default();
    c.inserted += u.inserted;
    c.updated += u.updated;
}

/// Everything the final derivation step needs.
#[derive(Default)]
struct Touched {
    pull_requests: HashSet<Uuid>,
    merged_prs: HashSet<Uuid>,
    deployments: HashSet<Uuid>,
    incidents: HashSet<Uuid>,
    issues: HashSet<Uuid>,
    /// Pull requests a stored incident named before the import rewrote it.
    named_prs: HashSet<Uuid>,
}

/// Writes every record of the (already validated) file that `open` reads, in dependency order, in
/// `tx`. `open` is called once per pass and must return the same content every time.
pub async fn apply<R, F>(tx: &TenantTx, mut open: F) -> Result<Counts, ImportError>
where
    R: BufRead + Send,
    F: FnMut() -> std::io::Result<R> + Send,
{
    let mut counts = Counts::new();
    let mut touched = Touched::default();
    let mut steps = Steps::start();
    // Rule changes and imports of one client take turns (see `recompute`).
    pulse_db::dialect::lock_client_rules(tx)
        .await
        .map_err(pulse_core::Error::from)?;
    teams(tx, &mut open, &mut counts).await?;
    steps.done("teams");
    people(tx, &mut open, &mut counts).await?;
    steps.done("people");
    repositories(tx, &mut open, &mut counts).await?;
    steps.done("repositories");
    boards(tx, &mut open, &mut counts).await?;
    steps.done("boards");
    projects(tx, &mut open, &mut counts).await?;
    steps.done("projects");
    team_links(tx, &mut open).await?;
    steps.done("team_links");
    let resolver = PersonResolver::load(tx).await?;
    pull_requests(tx, &mut open, &mut counts, &resolver, &mut touched).await?;
    steps.done("pull_requests");
    commits(tx, &mut open, &mut counts, &resolver, &mut touched).await?;
    steps.done("commits");
    reviews(tx, &mut open, &mut counts, &resolver, &mut touched).await?;
    steps.done("reviews");
    deployments(tx, &mut open, &mut counts, &mut touched).await?;
    steps.done("deployments");
    sprints(tx, &mut open, &mut counts).await?;
    steps.done("sprints");
    issues(tx, &mut open, &mut counts, &resolver, &mut touched).await?;
    steps.done("issues");
    transitions(tx, &mut open, &mut counts).await?;
    steps.done("transitions");
    incidents(tx, &mut open, &mut counts, &mut touched).await?;
    steps.done("incidents");

    let prs: Vec<Uuid> = touched.pull_requests.into_iter().collect();
    derive::refresh_pull_requests(tx, &prs).await?;
    steps.done("refresh_pull_requests");
    let merged: Vec<Uuid> = touched.merged_prs.into_iter().collect();
    let mut deploys = touched.deployments;
    deploys.extend(derive::deployments_deploying(tx, &merged).await?);
    steps.done("deployments_deploying");
    let deploys: Vec<Uuid> = deploys.into_iter().collect();
    derive::link_merge_commits(tx, &deploys).await?;
    steps.done("link_merge_commits");
    // What the metric rules derive (deployment classes, fallback deployments, incidents by rule,
    // incident attribution), for the rows written.
    let changed = pulse_analytics::rules::Changed {
        deployments: deploys,
        pull_requests: prs.into_iter().chain(touched.named_prs).collect(),
        issues: touched.issues.into_iter().collect(),
        incidents: touched.incidents.into_iter().collect(),
        projects: counts.contains_key(Kind::Project.as_str()),
    };
    pulse_analytics::rules::recompute(tx, &pulse_analytics::rules::Scope::Changed(changed)).await?;
    steps.done("rules");
    Ok(counts)
}

/// Debug-level timings of the import's passes, to tell which one a slow load spends its time in.
struct Steps(std::time::Instant);

impl Steps {
    fn start() -> Self {
        Self(std::time::Instant::now())
    }

    fn done(&mut self, step: &str) {
        tracing::debug!(
            step,
            ms = self.0.elapsed().as_millis() as u64,
            "import step"
        );
        self.0 = std::time::Instant::now();
    }
}

macro_rules! pick {
    ($variant:ident) => {
        |r| match r {
            Record::$variant(x) => Some(x),
            _ => None,
        }
    };
}

async fn teams<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Team);
    loop {
        let chunk: Vec<Team> = it.next_chunk(pick!(Team))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let rows = chunk
            .iter()
            .map(|r| teams::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                source: src(&r.source),
                external_id: r.id.clone(),
                synced_at: Utc::now(),
                name: r.name.trim().to_string(),
                parent_id: None,
            })
            .collect();
        add(
            counts,
            Kind::Team,
            &ingested::upsert::<teams::Entity>(tx, rows).await?,
        );
    }
}

/// Second pass over teams, once people exist: parents and members.
async fn team_links<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Team);
    loop {
        let chunk: Vec<Team> = it.next_chunk(pick!(Team))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let team_ids = resolve::<teams::Entity>(
            tx,
            chunk.iter().flat_map(|r| {
                let s = src(&r.source);
                std::iter::once((s.clone(), r.id.clone()))
                    .chain(r.parent.iter().map(move |p| (s.clone(), p.clone())))
            }),
        )
        .await?;
        let person_ids = resolve::<people::Entity>(
            tx,
            chunk.iter().flat_map(|r| {
                let s = src(&r.source);
                r.members.iter().map(move |m| (s.clone(), m.clone()))
            }),
        )
        .await?;
        // A member merged into another person is the person it was merged into.
        let merged = pulse_db::repo::people::merged_map(tx).await?;
        let mut members = Vec::new();
        let mut parents = Vec::new();
        for r in &chunk {
            let s = src(&r.source);
            let id = need(&team_ids, &s, &r.id, "team")?;
            parents.push(id);
            teams::Entity::update_many()
                .col_expr(
                    teams::Column::ParentId,
                    Expr::value(maybe(&team_ids, &s, &r.parent)),
                )
                .filter(teams::Column::ClientId.eq(tx.client_uuid()))
                .filter(teams::Column::Id.eq(id))
                .exec(tx.conn())
                .await
                .map_err(pulse_core::Error::from)?;
            for m in &r.members {
                members.push(team_members::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    team_id: id,
                    person_id: pulse_db::repo::people::follow(
                        &merged,
                        need(&person_ids, &s, m, "person")?,
                    ),
                    role: None,
                });
            }
        }
        links::replace::<team_members::Entity>(
            tx,
            "team_id",
            &parents,
            members,
            &["team_id", "person_id"],
        )
        .await?;
    }
}

async fn people<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Person);
    loop {
        let chunk: Vec<Person> = it.next_chunk(pick!(Person))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let rows = chunk
            .iter()
            .map(|r| people::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                source: src(&r.source),
                external_id: r.id.clone(),
                synced_at: Utc::now(),
                name: r.name.trim().to_string(),
                email: lower(&r.email),
                merged_into_id: None,
            })
            .collect();
        let done = ingested::upsert::<people::Entity>(tx, rows).await?;
        add(counts, Kind::Person, &done);
        let mut accounts = Vec::new();
        for (r, id) in chunk.iter().zip(&done.ids) {
            for a in &r.accounts {
                accounts.push(person_accounts::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    person_id: *id,
                    provider: a.provider.as_str().to_string(),
                    login: a.login.trim().to_lowercase(),
                    explicit: false,
                });
            }
        }
        // Accounts an administrator mapped explicitly stay as they are.
        pulse_db::repo::people::replace_imported_accounts(tx, &done.ids, accounts).await?;
    }
}

async fn repositories<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Repository);
    loop {
        let chunk: Vec<Repository> = it.next_chunk(pick!(Repository))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let rows = chunk
            .iter()
            .map(|r| repositories::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                source: src(&r.source),
                external_id: r.id.clone(),
                synced_at: Utc::now(),
                full_name: r.full_name.trim().to_string(),
                default_branch: r.default_branch.clone(),
                url: r.url.clone(),
            })
            .collect();
        add(
            counts,
            Kind::Repository,
            &ingested::upsert::<repositories::Entity>(tx, rows).await?,
        );
    }
}

async fn boards<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Board);
    loop {
        let chunk: Vec<Board> = it.next_chunk(pick!(Board))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let rows = chunk
            .iter()
            .map(|r| boards::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                source: src(&r.source),
                external_id: r.id.clone(),
                synced_at: Utc::now(),
                name: r.name.trim().to_string(),
                kind: r.kind.map(|k| k.as_str().to_string()),
                project_key: r.project_key.clone(),
            })
            .collect();
        add(
            counts,
            Kind::Board,
            &ingested::upsert::<boards::Entity>(tx, rows).await?,
        );
    }
}

async fn projects<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Project);
    loop {
        let chunk: Vec<Project> = it.next_chunk(pick!(Project))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let rows = chunk
            .iter()
            .map(|r| projects::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                source: src(&r.source),
                external_id: r.id.clone(),
                synced_at: Utc::now(),
                name: r.name.trim().to_string(),
            })
            .collect();
        let done = ingested::upsert::<projects::Entity>(tx, rows).await?;
        add(counts, Kind::Project, &done);
        let refs = |f: fn(&Project) -> &Vec<String>| {
            chunk
                .iter()
                .flat_map(move |r| {
                    let s = src(&r.source);
                    f(r).iter().map(move |x| (s.clone(), x.clone()))
                })
                .collect::<Vec<_>>()
        };
        let team_ids = resolve::<teams::Entity>(tx, refs(|r| &r.teams)).await?;
        let repo_ids = resolve::<repositories::Entity>(tx, refs(|r| &r.repositories)).await?;
        let board_ids = resolve::<boards::Entity>(tx, refs(|r| &r.boards)).await?;
        let (mut pt, mut pr, mut pb, mut pj) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (r, id) in chunk.iter().zip(&done.ids) {
            let s = src(&r.source);
            for t in &r.teams {
                pt.push(project_teams::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    project_id: *id,
                    team_id: need(&team_ids, &s, t, "team")?,
                });
            }
            for x in &r.repositories {
                pr.push(project_repositories::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    project_id: *id,
                    repository_id: need(&repo_ids, &s, x, "repository")?,
                });
            }
            for b in &r.boards {
                pb.push(project_boards::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    project_id: *id,
                    board_id: need(&board_ids, &s, b, "board")?,
                });
            }
            for k in &r.jira_projects {
                pj.push(project_jira_projects::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    project_id: *id,
                    jira_key: k.trim().to_string(),
                });
            }
        }
        let ids = &done.ids;
        links::replace::<project_teams::Entity>(
            tx,
            "project_id",
            ids,
            pt,
            &["project_id", "team_id"],
        )
        .await?;
        links::replace::<project_repositories::Entity>(
            tx,
            "project_id",
            ids,
            pr,
            &["project_id", "repository_id"],
        )
        .await?;
        links::replace::<project_boards::Entity>(
            tx,
            "project_id",
            ids,
            pb,
            &["project_id", "board_id"],
        )
        .await?;
        links::replace::<project_jira_projects::Entity>(
            tx,
            "project_id",
            ids,
            pj,
            &["project_id", "jira_key"],
        )
        .await?;
    }
}

async fn pull_requests<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
    people: &PersonResolver,
    touched: &mut Touched,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::PullRequest);
    loop {
        let chunk: Vec<PullRequest> = it.next_chunk(pick!(PullRequest))?;
        if chunk.is_empty() {
            break;
        }
        let repo_ids = resolve::<repositories::Entity>(
            tx,
            chunk.iter().map(|r| (src(&r.source), r.repository.clone())),
        )
        .await?;
        let mut rows = Vec::with_capacity(chunk.len());
        for r in &chunk {
            let s = src(&r.source);
            rows.push(pull_requests::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                synced_at: Utc::now(),
                repository_id: need(&repo_ids, &s, &r.repository, "repository")?,
                source: s,
                external_id: r.id.clone(),
                number: r.number.map(|n| n as i64),
                title: r.title.clone(),
                author_login: r.author.clone(),
                author_person_id: people.resolve(
                    "github",
                    r.author.as_deref(),
                    r.author_email.as_deref(),
                ),
                state: r.state.as_str().to_string(),
                draft: r.draft,
                created_at: ts(r.created_at),
                updated_at: opt_ts(r.updated_at),
                ready_for_review_at: opt_ts(r.ready_for_review_at),
                first_commit_at: opt_ts(r.first_commit_at),
                first_review_at: opt_ts(r.first_review_at),
                approved_at: opt_ts(r.approved_at),
                merged_at: opt_ts(r.merged_at),
                closed_at: opt_ts(r.closed_at),
                additions: r.additions as i64,
                deletions: r.deletions as i64,
                review_count: 0,
                comment_count: r.comment_count as i64,
                commit_count: 0,
                base_branch: r.base_branch.clone(),
                head_branch: r.head_branch.clone(),
                merge_commit_sha: r.merge_commit_sha.clone(),
                revert_of_id: None,
                labels: labels(&r.labels),
            });
        }
        let done = ingested::upsert::<pull_requests::Entity>(tx, rows).await?;
        add(counts, Kind::PullRequest, &done);
        for (r, id) in chunk.iter().zip(&done.ids) {
            touched.pull_requests.insert(*id);
            if r.merge_commit_sha.is_some() {
                touched.merged_prs.insert(*id);
            }
        }
    }
    // Second pass: reverts may point at pull requests later in the file.
    let mut it = OfKind::new(open()?, Kind::PullRequest);
    loop {
        let chunk: Vec<PullRequest> = it.next_chunk(pick!(PullRequest))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let reverting: Vec<&PullRequest> = chunk.iter().filter(|r| r.revert_of.is_some()).collect();
        let ids = resolve::<pull_requests::Entity>(
            tx,
            reverting.iter().flat_map(|r| {
                let s = src(&r.source);
                [
                    (s.clone(), r.id.clone()),
                    (s, r.revert_of.clone().unwrap_or_default()),
                ]
            }),
        )
        .await?;
        let mut updates = Vec::with_capacity(reverting.len());
        for r in reverting {
            let s = src(&r.source);
            updates.push((
                need(&ids, &s, &r.id, "pull request")?,
                vec![maybe(&ids, &s, &r.revert_of).into()],
            ));
        }
        update::each::<pull_requests::Entity>(tx, &[pull_requests::Column::RevertOfId], updates)
            .await?;
    }
}

async fn commits<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
    people: &PersonResolver,
    touched: &mut Touched,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Commit);
    loop {
        let chunk: Vec<Commit> = it.next_chunk(pick!(Commit))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let repo_ids = resolve::<repositories::Entity>(
            tx,
            chunk.iter().map(|r| (src(&r.source), r.repository.clone())),
        )
        .await?;
        let pr_ids = resolve::<pull_requests::Entity>(
            tx,
            chunk.iter().flat_map(|r| {
                let s = src(&r.source);
                r.pull_requests.iter().map(move |p| (s.clone(), p.clone()))
            }),
        )
        .await?;
        let mut rows = Vec::with_capacity(chunk.len());
        for r in &chunk {
            let s = src(&r.source);
            rows.push(commits::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                synced_at: Utc::now(),
                repository_id: need(&repo_ids, &s, &r.repository, "repository")?,
                source: s,
                external_id: r.id.clone(),
                sha: r.sha.trim().to_string(),
                message: r.message.clone(),
                author_name: r.author_name.clone(),
                author_email: lower(&r.author_email),
                author_login: r.author_login.clone(),
                author_person_id: people.resolve(
                    "github",
                    r.author_login.as_deref(),
                    r.author_email.as_deref(),
                ),
                authored_at: ts(r.authored_at),
                committed_at: ts(r.committed_at.unwrap_or(r.authored_at)),
                additions: r.additions as i64,
                deletions: r.deletions as i64,
                parent_count: None,
            });
        }
        let done = ingested::upsert::<commits::Entity>(tx, rows).await?;
        add(counts, Kind::Commit, &done);
        let mut pr_links = Vec::new();
        for (r, id) in chunk.iter().zip(&done.ids) {
            let s = src(&r.source);
            for p in &r.pull_requests {
                let pr = need(&pr_ids, &s, p, "pull request")?;
                touched.pull_requests.insert(pr);
                pr_links.push(pr_commits::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    pull_request_id: pr,
                    commit_id: *id,
                });
            }
        }
        links::add::<pr_commits::Entity>(tx, pr_links, &["pull_request_id", "commit_id"]).await?;
    }
}

async fn reviews<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
    people: &PersonResolver,
    touched: &mut Touched,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Review);
    loop {
        let chunk: Vec<Review> = it.next_chunk(pick!(Review))?;
        if chunk.is_empty() {
            break;
        }
        let pr_ids = resolve::<pull_requests::Entity>(
            tx,
            chunk
                .iter()
                .map(|r| (src(&r.source), r.pull_request.clone())),
        )
        .await?;
        let mut rows = Vec::with_capacity(chunk.len());
        for r in &chunk {
            let s = src(&r.source);
            let pr = need(&pr_ids, &s, &r.pull_request, "pull request")?;
            touched.pull_requests.insert(pr);
            rows.push(pr_reviews::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                synced_at: Utc::now(),
                source: s,
                external_id: r.id.clone(),
                pull_request_id: pr,
                reviewer_login: r.reviewer.clone(),
                reviewer_person_id: people.resolve("github", r.reviewer.as_deref(), None),
                state: r.state.as_str().to_string(),
                submitted_at: ts(r.submitted_at),
            });
        }
        add(
            counts,
            Kind::Review,
            &ingested::upsert::<pr_reviews::Entity>(tx, rows).await?,
        );
    }
    let mut it = OfKind::new(open()?, Kind::ReviewComment);
    loop {
        let chunk: Vec<ReviewComment> = it.next_chunk(pick!(ReviewComment))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let pr_ids = resolve::<pull_requests::Entity>(
            tx,
            chunk
                .iter()
                .map(|r| (src(&r.source), r.pull_request.clone())),
        )
        .await?;
        let review_ids = resolve::<pr_reviews::Entity>(
            tx,
            chunk
                .iter()
                .filter_map(|r| r.review.clone().map(|v| (src(&r.source), v))),
        )
        .await?;
        let mut rows = Vec::with_capacity(chunk.len());
        for r in &chunk {
            let s = src(&r.source);
            let pr = need(&pr_ids, &s, &r.pull_request, "pull request")?;
            touched.pull_requests.insert(pr);
            rows.push(pr_review_comments::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                synced_at: Utc::now(),
                review_id: maybe(&review_ids, &s, &r.review),
                source: s,
                external_id: r.id.clone(),
                pull_request_id: pr,
                author_login: r.author.clone(),
                author_person_id: people.resolve("github", r.author.as_deref(), None),
                created_at: ts(r.created_at),
            });
        }
        add(
            counts,
            Kind::ReviewComment,
            &ingested::upsert::<pr_review_comments::Entity>(tx, rows).await?,
        );
    }
}

async fn deployments<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
    touched: &mut Touched,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Deployment);
    loop {
        let chunk: Vec<Deployment> = it.next_chunk(pick!(Deployment))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let repo_ids = resolve::<repositories::Entity>(
            tx,
            chunk.iter().flat_map(|r| {
                let s = src(&r.source);
                r.repositories
                    .iter()
                    .map(move |d| (s.clone(), d.repository.clone()))
            }),
        )
        .await?;
        let pr_ids = resolve::<pull_requests::Entity>(
            tx,
            chunk.iter().flat_map(|r| {
                let s = src(&r.source);
                r.pull_requests.iter().map(move |p| (s.clone(), p.clone()))
            }),
        )
        .await?;
        let commit_ids = resolve::<commits::Entity>(
            tx,
            chunk.iter().flat_map(|r| {
                let s = src(&r.source);
                r.commits.iter().map(move |c| (s.clone(), c.clone()))
            }),
        )
        .await?;
        let rows = chunk
            .iter()
            .map(|r| {
                let shas: HashSet<&str> = r
                    .repositories
                    .iter()
                    .filter_map(|d| d.commit_sha.as_deref())
                    .collect();
                let single = (shas.len() == 1
                    && r.repositories.iter().all(|d| d.commit_sha.is_some()))
                .then(|| shas.into_iter().next().unwrap_or_default().to_string());
                deployments::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    source: src(&r.source),
                    external_id: r.id.clone(),
                    synced_at: Utc::now(),
                    name: r.name.clone(),
                    environment: r.environment.trim().to_string(),
                    // Provisional until the rules are applied at the end of the import.
                    is_production: r
                        .is_production
                        .unwrap_or_else(|| r.environment.to_lowercase().contains("prod")),
                    counted: true,
                    reported_production: r.is_production,
                    branch: r.branch.as_ref().map(|b| b.trim().to_string()),
                    status: r.status.as_str().to_string(),
                    origin: r.origin.as_str().to_string(),
                    started_at: ts(r.started_at),
                    finished_at: opt_ts(r.finished_at),
                    commit_sha: single,
                    url: r.url.clone(),
                }
            })
            .collect();
        let done = ingested::upsert::<deployments::Entity>(tx, rows).await?;
        add(counts, Kind::Deployment, &done);
        let (mut dr, mut dp, mut dc) = (Vec::new(), Vec::new(), Vec::new());
        for (r, id) in chunk.iter().zip(&done.ids) {
            let s = src(&r.source);
            touched.deployments.insert(*id);
            let mut seen = HashSet::new();
            for d in &r.repositories {
                let repo = need(&repo_ids, &s, &d.repository, "repository")?;
                if seen.insert(repo) {
                    dr.push(deployment_repositories::Model {
                        id: Uuid::nil(),
                        client_id: Uuid::nil(),
                        deployment_id: *id,
                        repository_id: repo,
                        commit_sha: d.commit_sha.clone(),
                    });
                }
            }
            for p in &r.pull_requests {
                dp.push(deployment_pull_requests::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    deployment_id: *id,
                    pull_request_id: need(&pr_ids, &s, p, "pull request")?,
                });
            }
            for c in &r.commits {
                dc.push(deployment_commits::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    deployment_id: *id,
                    commit_id: need(&commit_ids, &s, c, "commit")?,
                });
            }
        }
        let ids = &done.ids;
        links::replace::<deployment_repositories::Entity>(
            tx,
            "deployment_id",
            ids,
            dr,
            &["deployment_id", "repository_id"],
        )
        .await?;
        links::replace::<deployment_pull_requests::Entity>(
            tx,
            "deployment_id",
            ids,
            dp,
            &["deployment_id", "pull_request_id"],
        )
        .await?;
        links::replace::<deployment_commits::Entity>(
            tx,
            "deployment_id",
            ids,
            dc,
            &["deployment_id", "commit_id"],
        )
        .await?;
    }
}

async fn sprints<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Sprint);
    loop {
        let chunk: Vec<Sprint> = it.next_chunk(pick!(Sprint))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let board_ids = resolve::<boards::Entity>(
            tx,
            chunk
                .iter()
                .filter_map(|r| r.board.clone().map(|b| (src(&r.source), b))),
        )
        .await?;
        let rows = chunk
            .iter()
            .map(|r| {
                let s = src(&r.source);
                sprints::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    synced_at: Utc::now(),
                    board_id: maybe(&board_ids, &s, &r.board),
                    source: s,
                    external_id: r.id.clone(),
                    name: r.name.trim().to_string(),
                    state: r.state.as_str().to_string(),
                    start_at: opt_ts(r.start_at),
                    end_at: opt_ts(r.end_at),
                    complete_at: opt_ts(r.complete_at),
                }
            })
            .collect();
        add(
            counts,
            Kind::Sprint,
            &ingested::upsert::<sprints::Entity>(tx, rows).await?,
        );
    }
}

fn project_key(r: &Issue) -> Option<String> {
    r.project_key
        .clone()
        .or_else(|| r.key.rsplit_once('-').map(|(p, _)| p.to_string()))
}

async fn issues<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
    people: &PersonResolver,
    touched: &mut Touched,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Issue);
    loop {
        let chunk: Vec<Issue> = it.next_chunk(pick!(Issue))?;
        if chunk.is_empty() {
            break;
        }
        let sprint_ids = resolve::<sprints::Entity>(
            tx,
            chunk.iter().flat_map(|r| {
                let s = src(&r.source);
                r.sprints.iter().map(move |m| (s.clone(), m.sprint.clone()))
            }),
        )
        .await?;
        let rows = chunk
            .iter()
            .map(|r| issues::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                source: src(&r.source),
                external_id: r.id.clone(),
                synced_at: Utc::now(),
                key: r.key.trim().to_string(),
                project_key: project_key(r),
                title: r.title.clone(),
                issue_type: r.issue_type.clone(),
                standard_type: r.standard_type.as_str().to_string(),
                status: r.status.clone(),
                status_category: r.status_category.as_str().to_string(),
                priority: r.priority.clone(),
                created_at: ts(r.created_at),
                updated_at: opt_ts(r.updated_at),
                resolved_at: opt_ts(r.resolved_at),
                story_points: r.story_points,
                parent_id: None,
                epic_id: None,
                assignee_account: r.assignee.clone(),
                assignee_person_id: people.resolve(
                    "jira",
                    r.assignee.as_deref(),
                    r.assignee_email.as_deref(),
                ),
                labels: labels(&r.labels),
            })
            .collect();
        let done = ingested::upsert::<issues::Entity>(tx, rows).await?;
        add(counts, Kind::Issue, &done);
        touched.issues.extend(done.ids.iter().copied());
        let mut members = Vec::new();
        for (r, id) in chunk.iter().zip(&done.ids) {
            let s = src(&r.source);
            let mut seen = HashSet::new();
            for m in &r.sprints {
                let sprint = need(&sprint_ids, &s, &m.sprint, "sprint")?;
                if seen.insert(sprint) {
                    members.push(sprint_issues::Model {
                        id: Uuid::nil(),
                        client_id: Uuid::nil(),
                        sprint_id: sprint,
                        issue_id: *id,
                        added_at: opt_ts(m.added_at),
                        removed_at: opt_ts(m.removed_at),
                    });
                }
            }
        }
        links::replace::<sprint_issues::Entity>(
            tx,
            "issue_id",
            &done.ids,
            members,
            &["sprint_id", "issue_id"],
        )
        .await?;
    }
    // Second pass: parents and epics may come later in the file.
    let mut it = OfKind::new(open()?, Kind::Issue);
    loop {
        let chunk: Vec<Issue> = it.next_chunk(pick!(Issue))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let linked: Vec<&Issue> = chunk
            .iter()
            .filter(|r| r.parent.is_some() || r.epic.is_some())
            .collect();
        let ids = resolve::<issues::Entity>(
            tx,
            linked.iter().flat_map(|r| {
                let s = src(&r.source);
                std::iter::once(r.id.clone())
                    .chain(r.parent.clone())
                    .chain(r.epic.clone())
                    .map(move |x| (s.clone(), x))
            }),
        )
        .await?;
        let mut updates = Vec::with_capacity(linked.len());
        for r in linked {
            let s = src(&r.source);
            updates.push((
                need(&ids, &s, &r.id, "issue")?,
                vec![
                    maybe(&ids, &s, &r.parent).into(),
                    maybe(&ids, &s, &r.epic).into(),
                ],
            ));
        }
        update::each::<issues::Entity>(
            tx,
            &[issues::Column::ParentId, issues::Column::EpicId],
            updates,
        )
        .await?;
    }
}

async fn transitions<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Transition);
    loop {
        let chunk: Vec<Transition> = it.next_chunk(pick!(Transition))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let issue_ids =
            resolve::<issues::Entity>(tx, chunk.iter().map(|r| (src(&r.source), r.issue.clone())))
                .await?;
        let mut rows = Vec::with_capacity(chunk.len());
        for r in &chunk {
            let s = src(&r.source);
            rows.push(issue_transitions::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                synced_at: Utc::now(),
                issue_id: need(&issue_ids, &s, &r.issue, "issue")?,
                source: s,
                external_id: r.id.clone(),
                at: ts(r.at),
                from_status: r.from_status.clone(),
                from_category: r.from_category.map(|c| c.as_str().to_string()),
                to_status: r.to_status.clone(),
                to_category: r.to_category.as_str().to_string(),
                author_account: r.author.clone(),
            });
        }
        add(
            counts,
            Kind::Transition,
            &ingested::upsert::<issue_transitions::Entity>(tx, rows).await?,
        );
    }
}

async fn incidents<R: BufRead + Send, F: FnMut() -> std::io::Result<R> + Send>(
    tx: &TenantTx,
    open: &mut F,
    counts: &mut Counts,
    touched: &mut Touched,
) -> Result<(), ImportError> {
    let mut it = OfKind::new(open()?, Kind::Incident);
    loop {
        let chunk: Vec<Incident> = it.next_chunk(pick!(Incident))?;
        if chunk.is_empty() {
            return Ok(());
        }
        let refs = |f: fn(&Incident) -> &Option<String>| {
            chunk
                .iter()
                .filter_map(|r| f(r).clone().map(|v| (src(&r.source), v)))
                .collect::<Vec<_>>()
        };
        let issue_ids = resolve::<issues::Entity>(tx, refs(|r| &r.issue)).await?;
        let pr_ids = resolve::<pull_requests::Entity>(tx, refs(|r| &r.pull_request)).await?;
        let repo_ids = resolve::<repositories::Entity>(tx, refs(|r| &r.repository)).await?;
        let team_ids = resolve::<teams::Entity>(tx, refs(|r| &r.team)).await?;
        let deploy_ids = resolve::<deployments::Entity>(tx, refs(|r| &r.deployment)).await?;
        // What the stored versions named: an issue or pull request no longer named by a loaded
        // incident may become an incident of the rules again.
        let stored =
            resolve::<incidents::Entity>(tx, chunk.iter().map(|r| (src(&r.source), r.id.clone())))
                .await?;
        let stored: Vec<Uuid> = stored.into_values().collect();
        for old in pulse_db::repo::classified::by_ids::<incidents::Entity>(tx, &stored).await? {
            touched.issues.extend(old.issue_id);
            touched.named_prs.extend(old.pull_request_id);
        }
        let rows = chunk
            .iter()
            .map(|r| {
                let s = src(&r.source);
                incidents::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    synced_at: Utc::now(),
                    external_id: r.id.clone(),
                    title: r.title.clone(),
                    origin: r.origin.as_str().to_string(),
                    severity: r.severity.clone(),
                    created_at: ts(r.created_at),
                    resolved_at: opt_ts(r.resolved_at),
                    issue_id: maybe(&issue_ids, &s, &r.issue),
                    pull_request_id: maybe(&pr_ids, &s, &r.pull_request),
                    repository_id: maybe(&repo_ids, &s, &r.repository),
                    team_id: maybe(&team_ids, &s, &r.team),
                    deployment_id: maybe(&deploy_ids, &s, &r.deployment),
                    caused_by_deployment_id: None,
                    attributed_by: None,
                    source: s,
                }
            })
            .collect();
        let done = ingested::upsert::<incidents::Entity>(tx, rows).await?;
        add(counts, Kind::Incident, &done);
        touched.incidents.extend(done.ids.iter().copied());
    }
}
