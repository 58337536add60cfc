//! Deployments and incidents pushed by CI/CD and incident tools (Jenkins, Argo CD, PagerDuty,
//! ...) through `POST /api/v1/ingest/deployments` and `/ingest/incidents`.
//!
//! A push names repositories and teams the way such a tool knows them (Pulse id, `owner/name` or
//! team name, or an external id from any source), so it can describe work that another source
//! (GitHub, an import) loaded. Records are keyed by `(source, id)` like every ingested row: posting
//! the same record again changes nothing (the stored row is not even rewritten), and a record
//! with a known key but new values updates the row in place.
//!
//! Three steps, like an import: [`parse_batch`] (pure: types and values, every problem with its
//! field), [`resolve_deployments`]/[`resolve_incidents`] (references looked up in the database,
//! every unresolved one reported), then [`apply_deployments`]/[`apply_incidents`] in the caller's
//! tenant transaction. A batch with any problem is refused whole and nothing of it is written.

use pulse_analytics::rules::Changed;
use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use pulse_core::FieldError;
use pulse_db::entity::{
    commits, deployment_commits, deployment_pull_requests, deployment_repositories, deployments,
    incidents,
};
use pulse_db::repo::ingested;
use pulse_db::repo::{derive, links, org};
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use pulse_db::TenantTx;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::record::{
    self, DeployedRepository, DeploymentOrigin, DeploymentStatus, IncidentOrigin, Record, Timestamp,
};
use crate::validate::{parse_value, semantic};

/// The source of pushed records that name none.
pub const PUSH_SOURCE: &str = "push";

/// Most records accepted in one request.
pub const MAX_BATCH: usize = 500;

/// A repository a pushed deployment deployed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushedRepository {
    /// The repository: its Pulse id, its `owner/name` (ignoring case) or its external id in any
    /// source.
    pub repository: String,
    /// The commit deployed (links the pull request merged or squashed as that commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    /// Further commits shipped, by sha (linked when Pulse knows them, and their pull requests
    /// through their merge commits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
}

/// A deployment, as a CI/CD tool reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushedDeployment {
    /// Its id in the tool (e.g. the Jenkins build URL or Argo CD sync id).
    pub id: String,
    /// The tool (default `push`); `(source, id)` identifies the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Name (pipeline, application, release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Environment as the tool names it.
    pub environment: String,
    /// Production or not (default: the environment's name contains `prod`, ignoring case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_production: Option<bool>,
    /// Outcome.
    pub status: DeploymentStatus,
    /// How it was detected (default `webhook`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<DeploymentOrigin>,
    /// Started (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// Finished (RFC 3339; absent while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    /// Repositories deployed (at least one; a deployment of several counts once).
    pub repositories: Vec<PushedRepository>,
    /// Web address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// An incident, as an incident tool reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushedIncident {
    /// Its id in the tool (e.g. the PagerDuty incident id).
    pub id: String,
    /// The tool (default `push`); `(source, id)` identifies the incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Title.
    pub title: String,
    /// Where it came from (default `manual`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<IncidentOrigin>,
    /// Severity as the tool names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Opened (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Resolved (RFC 3339; absent while open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    /// Affected repository: Pulse id, `owner/name` or external id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Responsible team: Pulse id, name (ignoring case) or external id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The deployment that caused it: the `id` it was pushed with (same source) or its Pulse id.
    /// When absent, the latest successful production deployment before the incident (of the
    /// repository, when named) is charged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
}

/// The field name of record `index` in a request (`[3].status` for batches, `status` alone).
fn field(batch: bool, index: usize, name: &str) -> String {
    match (batch, name.is_empty()) {
        (true, true) => format!("[{index}]"),
        (true, false) => format!("[{index}].{name}"),
        (false, _) => name.to_string(),
    }
}

/// Splits a request body into records (one object, or an array of 1 to [`MAX_BATCH`]) and parses
/// each, reporting every problem with its field. Returns the records and whether it was a batch.
pub fn parse_batch<T: DeserializeOwned>(
    body: Value,
    check: fn(&T) -> Vec<(String, String)>,
) -> Result<(Vec<T>, bool), Vec<FieldError>> {
    let (values, batch) = match body {
        Value::Array(items) => (items, true),
        Value::Object(_) => (vec![body], false),
        _ => {
            return Err(vec![FieldError::new(
                "body",
                "must be a record (a JSON object) or an array of records",
            )])
        }
    };
    if batch && values.is_empty() {
        return Err(vec![FieldError::new("body", "the array is empty")]);
    }
    if values.len() > MAX_BATCH {
        return Err(vec![FieldError::new(
            "body",
            format!("at most {MAX_BATCH} records per request"),
        )]);
    }
    let mut out = Vec::with_capacity(values.len());
    let mut problems = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        match parse_value::<T>(v) {
            Ok(r) => {
                for (f, m) in check(&r) {
                    problems.push(FieldError::new(field(batch, i, &f), m));
                }
                out.push(r);
            }
            Err((f, m)) => problems.push(FieldError::new(field(batch, i, &f), m)),
        }
    }
    if problems.is_empty() {
        Ok((out, batch))
    } else {
        Err(problems)
    }
}

fn source_of(s: &Option<String>) -> String {
    s.as_deref()
        .map(str::trim)
        .unwrap_or(PUSH_SOURCE)
        .to_string()
}

/// Both databases keep microseconds: a repeated push compares equal to what was stored.
fn micros(t: Timestamp) -> DateTime<Utc> {
    t.0.trunc_subsecs(6)
}

fn sha(s: &str) -> String {
    s.trim().to_lowercase()
}

fn check_sha(p: &mut Vec<(String, String)>, f: String, s: &str) {
    let s = s.trim();
    if s.len() < 7 || s.len() > 64 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        p.push((f, "must be a commit sha (7 to 64 hex digits)".into()));
    }
}

/// Value checks of a deployment beyond its types (the import's rules plus shas).
pub fn check_deployment(d: &PushedDeployment) -> Vec<(String, String)> {
    let as_record = Record::Deployment(record::Deployment {
        id: d.id.clone(),
        source: Some(source_of(&d.source)),
        name: d.name.clone(),
        environment: d.environment.clone(),
        is_production: d.is_production,
        branch: None,
        status: d.status,
        origin: d.origin.unwrap_or(DeploymentOrigin::Webhook),
        started_at: d.started_at,
        finished_at: d.finished_at,
        repositories: d
            .repositories
            .iter()
            .map(|r| DeployedRepository {
                repository: r.repository.clone(),
                commit_sha: r.commit_sha.clone(),
            })
            .collect(),
        pull_requests: Vec::new(),
        commits: Vec::new(),
        url: d.url.clone(),
    });
    let mut p = semantic(&as_record);
    let mut seen = HashSet::new();
    for (i, r) in d.repositories.iter().enumerate() {
        if r.repository.trim().is_empty() {
            p.push((
                format!("repositories[{i}].repository"),
                "must not be empty".into(),
            ));
        } else if !seen.insert(r.repository.trim().to_lowercase()) {
            p.push((
                format!("repositories[{i}].repository"),
                "is listed twice".into(),
            ));
        }
        if let Some(s) = &r.commit_sha {
            check_sha(&mut p, format!("repositories[{i}].commit_sha"), s);
        }
        for (j, s) in r.commits.iter().enumerate() {
            check_sha(&mut p, format!("repositories[{i}].commits[{j}]"), s);
        }
    }
    if d.id.chars().count() > 500 {
        p.push(("id".into(), "must be at most 500 characters".into()));
    }
    p
}

/// Value checks of an incident beyond its types.
pub fn check_incident(r: &PushedIncident) -> Vec<(String, String)> {
    let as_record = Record::Incident(record::Incident {
        id: r.id.clone(),
        source: Some(source_of(&r.source)),
        title: r.title.clone(),
        origin: r.origin.unwrap_or(IncidentOrigin::Manual),
        severity: r.severity.clone(),
        created_at: r.created_at,
        resolved_at: r.resolved_at,
        issue: None,
        pull_request: None,
        repository: r.repository.clone(),
        team: r.team.clone(),
        deployment: r.deployment.clone(),
    });
    let mut p = semantic(&as_record);
    if r.id.chars().count() > 500 {
        p.push(("id".into(), "must be at most 500 characters".into()));
    }
    for (f, v) in [
        ("repository", &r.repository),
        ("team", &r.team),
        ("deployment", &r.deployment),
    ] {
        if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
            p.push((f.into(), "must not be empty".into()));
        }
    }
    p
}

/// Why a push was refused.
#[derive(Debug)]
pub enum PushError {
    /// Records have problems (each names its field); nothing was written.
    Invalid(Vec<FieldError>),
    /// The database failed.
    Storage(pulse_core::Error),
}

impl From<pulse_core::Error> for PushError {
    fn from(e: pulse_core::Error) -> Self {
        PushError::Storage(e)
    }
}

impl From<PushError> for pulse_core::Error {
    fn from(e: PushError) -> Self {
        match e {
            PushError::Invalid(p) => pulse_core::Error::Validation(p),
            PushError::Storage(e) => e,
        }
    }
}

/// Looks a reference up with `find`, turning "not found" and "ambiguous" into field problems.
async fn lookup<'a, F, Fut>(
    problems: &mut Vec<FieldError>,
    at: String,
    what: &str,
    reference: &'a str,
    find: F,
) -> Result<Option<Uuid>, PushError>
where
    F: FnOnce(&'a str) -> Fut,
    Fut: std::future::Future<Output = pulse_core::Result<Option<Uuid>>>,
{
    match find(reference).await {
        Ok(Some(id)) => Ok(Some(id)),
        Ok(None) => {
            let _ = reference;
            problems.push(FieldError::new(
                at,
                format!("names no {what} of this client (by Pulse id, name or external id)"),
            ));
            Ok(None)
        }
        Err(pulse_core::Error::Conflict(m)) => {
            problems.push(FieldError::new(at, m));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// A deployment with its references resolved.
#[derive(Debug, Clone)]
pub struct ResolvedDeployment {
    record: PushedDeployment,
    /// `(repository, deployed sha, shipped commit ids)` per repository.
    repositories: Vec<(Uuid, Option<String>, Vec<Uuid>)>,
}

/// Resolves the repositories (and shipped commits, by sha, where Pulse knows them) of every
/// deployment; every reference that names nothing is a problem.
pub async fn resolve_deployments(
    tx: &TenantTx,
    records: Vec<PushedDeployment>,
    batch: bool,
) -> Result<Vec<ResolvedDeployment>, PushError> {
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(records.len());
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (i, d) in records.into_iter().enumerate() {
        let key = (source_of(&d.source), d.id.clone());
        if let Some(first) = seen.insert(key, i) {
            problems.push(FieldError::new(
                field(batch, i, "id"),
                format!("is already in this request at [{first}]"),
            ));
        }
        let mut repos = Vec::new();
        for (j, r) in d.repositories.iter().enumerate() {
            let at = field(batch, i, &format!("repositories[{j}].repository"));
            let found = lookup(&mut problems, at, "repository", r.repository.trim(), |x| {
                org::find_repository(tx, x)
            })
            .await?;
            let Some(repo) = found else { continue };
            let mut shas: Vec<String> = r.commits.iter().map(|s| sha(s)).collect();
            shas.extend(r.commit_sha.as_deref().map(sha));
            let commit_ids: BTreeSet<Uuid> = commits::Entity::find()
                .select_only()
                .column(commits::Column::Id)
                .filter(commits::Column::ClientId.eq(tx.client_uuid()))
                .filter(commits::Column::RepositoryId.eq(repo))
                .filter(commits::Column::Sha.is_in(shas))
                .into_tuple::<Uuid>()
                .all(tx.conn())
                .await
                .map_err(pulse_core::Error::from)?
                .into_iter()
                .collect();
            repos.push((
                repo,
                r.commit_sha.as_deref().map(sha),
                commit_ids.into_iter().collect(),
            ));
        }
        out.push(ResolvedDeployment {
            record: d,
            repositories: repos,
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(PushError::Invalid(problems))
    }
}

/// What happened to one pushed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// New.
    Created,
    /// Existed with other values; changed in place.
    Updated,
    /// Existed with the same values; not written.
    Unchanged,
}

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Stored {
    /// The stored row's id.
    pub id: Uuid,
    /// The source it is keyed by.
    pub source: String,
    /// Its id there.
    pub external_id: String,
    /// What happened.
    pub result: Outcome,
    /// Deployments: how many pull requests it shipped (linked through deployed commits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_requests: Option<u64>,
    /// Incidents: the deployment charged with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by_deployment_id: Option<Uuid>,
}

/// The state of a stored deployment that a push describes (everything but `synced_at`).
#[derive(Debug, PartialEq, Eq)]
struct DeploymentState {
    row: deployments::Model,
    repositories: BTreeSet<(Uuid, Option<String>)>,
    commits: BTreeSet<Uuid>,
}

fn deployment_row(
    d: &PushedDeployment,
    repos: &[(Uuid, Option<String>, Vec<Uuid>)],
) -> deployments::Model {
    let shas: HashSet<&str> = repos.iter().filter_map(|(_, s, _)| s.as_deref()).collect();
    let single = (shas.len() == 1 && repos.iter().all(|(_, s, _)| s.is_some()))
        .then(|| shas.into_iter().next().unwrap_or_default().to_string());
    deployments::Model {
        id: Uuid::nil(),
        client_id: Uuid::nil(),
        source: source_of(&d.source),
        external_id: d.id.clone(),
        synced_at: Utc::now(),
        name: d.name.clone(),
        environment: d.environment.trim().to_string(),
        // Provisional until the metric rules classify the row (`rules::recompute` below).
        is_production: d
            .is_production
            .unwrap_or_else(|| d.environment.to_lowercase().contains("prod")),
        counted: true,
        reported_production: d.is_production,
        branch: None,
        status: d.status.as_str().to_string(),
        origin: d
            .origin
            .unwrap_or(DeploymentOrigin::Webhook)
            .as_str()
            .to_string(),
        started_at: micros(d.started_at),
        finished_at: d.finished_at.map(micros),
        commit_sha: single,
        url: d.url.clone(),
    }
}

/// The parts of a stored deployment the pushed record decides (what the metric rules derive,
/// `counted` and `is_production`, is left out; the source's word is `reported_production`).
fn comparable(mut row: deployments::Model, id: Uuid, client: Uuid) -> deployments::Model {
    row.id = id;
    row.client_id = client;
    row.synced_at = DateTime::<Utc>::UNIX_EPOCH;
    row.counted = false;
    row.is_production = false;
    row
}

async fn stored_deployment(
    tx: &TenantTx,
    row: &deployments::Model,
) -> Result<Option<DeploymentState>, PushError> {
    let Some(found) =
        ingested::find_by_external::<deployments::Entity>(tx, &row.source, &row.external_id)
            .await?
    else {
        return Ok(None);
    };
    let repositories = pulse_db::repo::deployments::repositories(tx, found.id)
        .await?
        .into_iter()
        .map(|r| (r.repository_id, r.commit_sha))
        .collect();
    let (_, commit_ids) = pulse_db::repo::deployments::changes(tx, found.id).await?;
    let id = found.id;
    Ok(Some(DeploymentState {
        row: comparable(found, id, tx.client_uuid()),
        repositories,
        commits: commit_ids.into_iter().collect(),
    }))
}

/// Writes resolved deployments in `tx`: new and changed ones are upserted with their repositories
/// and shipped commits (replacing the stored lists), their pull requests are re-linked through
/// merge commits, and incidents whose cause they may change are re-attributed. Unchanged ones
/// are left exactly as they are.
pub async fn apply_deployments(
    tx: &TenantTx,
    records: Vec<ResolvedDeployment>,
) -> Result<Vec<Stored>, PushError> {
    let c = tx.client_uuid();
    let mut out = Vec::with_capacity(records.len());
    let mut changed: Vec<(usize, deployments::Model)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let row = deployment_row(&r.record, &r.repositories);
        let existing = stored_deployment(tx, &row).await?;
        let outcome = match &existing {
            None => Outcome::Created,
            Some(state) => {
                let wanted = DeploymentState {
                    row: comparable(row.clone(), state.row.id, c),
                    repositories: r
                        .repositories
                        .iter()
                        .map(|(id, s, _)| (*id, s.clone()))
                        .collect(),
                    commits: r
                        .repositories
                        .iter()
                        .flat_map(|(_, _, cs)| cs.iter().copied())
                        .collect(),
                };
                if wanted == *state {
                    Outcome::Unchanged
                } else {
                    Outcome::Updated
                }
            }
        };
        out.push(Stored {
            id: existing.as_ref().map(|s| s.row.id).unwrap_or_default(),
            source: row.source.clone(),
            external_id: row.external_id.clone(),
            result: outcome,
            pull_requests: None,
            caused_by_deployment_id: None,
        });
        if outcome != Outcome::Unchanged {
            changed.push((i, row));
        }
    }
    if !changed.is_empty() {
        let rows: Vec<deployments::Model> = changed.iter().map(|(_, r)| r.clone()).collect();
        let done = ingested::upsert::<deployments::Entity>(tx, rows).await?;
        let ids = done.ids.clone();
        let (mut dr, mut dc) = (Vec::new(), Vec::new());
        for ((i, _), id) in changed.iter().zip(&ids) {
            out[*i].id = *id;
            let r = &records[*i];
            for (repo, s, commit_ids) in &r.repositories {
                dr.push(deployment_repositories::Model {
                    id: Uuid::nil(),
                    client_id: c,
                    deployment_id: *id,
                    repository_id: *repo,
                    commit_sha: s.clone(),
                });
                dc.extend(commit_ids.iter().map(|commit| deployment_commits::Model {
                    id: Uuid::nil(),
                    client_id: c,
                    deployment_id: *id,
                    commit_id: *commit,
                }));
            }
        }
        links::replace::<deployment_repositories::Entity>(
            tx,
            "deployment_id",
            &ids,
            dr,
            &["deployment_id", "repository_id"],
        )
        .await?;
        links::replace::<deployment_commits::Entity>(
            tx,
            "deployment_id",
            &ids,
            dc,
            &["deployment_id", "commit_id"],
        )
        .await?;
        // A push lists no pull requests: they all come from the deployed commits.
        links::replace::<deployment_pull_requests::Entity>(
            tx,
            "deployment_id",
            &ids,
            Vec::new(),
            &["deployment_id", "pull_request_id"],
        )
        .await?;
        derive::link_merge_commits(tx, &ids).await?;
        // The metric rules classify the deployments and re-charge the incidents they may cause.
        recompute(
            tx,
            Changed {
                deployments: ids.clone(),
                ..Default::default()
            },
        )
        .await?;
    }
    for s in &mut out {
        let (prs, _) = pulse_db::repo::deployments::changes(tx, s.id).await?;
        s.pull_requests = Some(prs.len() as u64);
    }
    Ok(out)
}

/// Applies the metric rules to the rows a push wrote.
async fn recompute(tx: &TenantTx, changed: Changed) -> pulse_core::Result<()> {
    pulse_analytics::rules::recompute(tx, &pulse_analytics::rules::Scope::Changed(changed)).await?;
    Ok(())
}

/// An incident with its references resolved.
#[derive(Debug, Clone)]
pub struct ResolvedIncident {
    row: incidents::Model,
}

/// Resolves the repository, team and deployment of every incident; every reference that names
/// nothing is a problem.
pub async fn resolve_incidents(
    tx: &TenantTx,
    records: Vec<PushedIncident>,
    batch: bool,
) -> Result<Vec<ResolvedIncident>, PushError> {
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(records.len());
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (i, r) in records.into_iter().enumerate() {
        let source = source_of(&r.source);
        if let Some(first) = seen.insert((source.clone(), r.id.clone()), i) {
            problems.push(FieldError::new(
                field(batch, i, "id"),
                format!("is already in this request at [{first}]"),
            ));
        }
        let repository = match r.repository.as_deref().map(str::trim) {
            Some(x) => {
                lookup(
                    &mut problems,
                    field(batch, i, "repository"),
                    "repository",
                    x,
                    |x| org::find_repository(tx, x),
                )
                .await?
            }
            None => None,
        };
        let team = match r.team.as_deref().map(str::trim) {
            Some(x) => {
                lookup(&mut problems, field(batch, i, "team"), "team", x, |x| {
                    org::find_team(tx, x)
                })
                .await?
            }
            None => None,
        };
        let deployment = match r.deployment.as_deref().map(str::trim) {
            Some(x) => {
                let by_key = ingested::find_id::<deployments::Entity>(tx, &source, x).await?;
                let by_id = match (by_key, x.parse::<Uuid>()) {
                    (None, Ok(id)) => ingested::get::<deployments::Entity>(tx, id)
                        .await
                        .ok()
                        .map(|d| d.id),
                    _ => None,
                };
                let found = by_key.or(by_id);
                if found.is_none() {
                    problems.push(FieldError::new(
                        field(batch, i, "deployment"),
                        format!(
                            "names no deployment of this client in source `{source}` (nor a Pulse id)"
                        ),
                    ));
                }
                found
            }
            None => None,
        };
        out.push(ResolvedIncident {
            row: incidents::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                source,
                external_id: r.id.clone(),
                synced_at: Utc::now(),
                title: r.title.clone(),
                origin: r
                    .origin
                    .unwrap_or(IncidentOrigin::Manual)
                    .as_str()
                    .to_string(),
                severity: r.severity.clone(),
                created_at: micros(r.created_at),
                resolved_at: r.resolved_at.map(micros),
                issue_id: None,
                pull_request_id: None,
                repository_id: repository,
                team_id: team,
                deployment_id: deployment,
                caused_by_deployment_id: None,
                attributed_by: None,
            },
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(PushError::Invalid(problems))
    }
}

fn incident_comparable(mut row: incidents::Model) -> incidents::Model {
    row.id = Uuid::nil();
    row.client_id = Uuid::nil();
    row.synced_at = DateTime::<Utc>::UNIX_EPOCH;
    row.caused_by_deployment_id = None;
    row.attributed_by = None;
    row
}

/// Writes resolved incidents in `tx`: new and changed ones are upserted and charged to their
/// deployment; unchanged ones are left exactly as they are. An incident pushed again keeps the
/// issue and pull request another source linked it to.
pub async fn apply_incidents(
    tx: &TenantTx,
    records: Vec<ResolvedIncident>,
) -> Result<Vec<Stored>, PushError> {
    let mut out = Vec::with_capacity(records.len());
    let mut changed: Vec<(usize, incidents::Model)> = Vec::new();
    for (i, r) in records.into_iter().enumerate() {
        let existing =
            ingested::find_by_external::<incidents::Entity>(tx, &r.row.source, &r.row.external_id)
                .await?;
        let mut row = r.row;
        let outcome = match &existing {
            None => Outcome::Created,
            Some(e) => {
                row.issue_id = e.issue_id;
                row.pull_request_id = e.pull_request_id;
                if incident_comparable(e.clone()) == incident_comparable(row.clone()) {
                    Outcome::Unchanged
                } else {
                    Outcome::Updated
                }
            }
        };
        out.push(Stored {
            id: existing.as_ref().map(|e| e.id).unwrap_or_default(),
            source: row.source.clone(),
            external_id: row.external_id.clone(),
            result: outcome,
            pull_requests: None,
            caused_by_deployment_id: existing.and_then(|e| e.caused_by_deployment_id),
        });
        if outcome != Outcome::Unchanged {
            changed.push((i, row));
        }
    }
    if !changed.is_empty() {
        let rows = changed.iter().map(|(_, r)| r.clone()).collect();
        let done = ingested::upsert::<incidents::Entity>(tx, rows).await?;
        recompute(
            tx,
            Changed {
                incidents: done.ids.clone(),
                ..Default::default()
            },
        )
        .await?;
        for ((i, _), id) in changed.iter().zip(&done.ids) {
            out[*i].id = *id;
            out[*i].caused_by_deployment_id = ingested::get::<incidents::Entity>(tx, *id)
                .await?
                .caused_by_deployment_id;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"id": "build-1", "environment": "production", "status": "success",
               "started_at": "2024-03-04T09:40:00Z", "finished_at": "2024-03-04T10:00:00Z",
               "repositories": [{"repository": "acme/api", "commit_sha": "a1b2c3d4e5f6"}]})
    }

    #[test]
    fn one_record_or_a_batch() {
        let (one, batch) = parse_batch::<PushedDeployment>(deployment(), check_deployment).unwrap();
        assert_eq!((one.len(), batch), (1, false));
        let (two, batch) =
            parse_batch::<PushedDeployment>(json!([deployment(), deployment()]), check_deployment)
                .unwrap();
        assert_eq!((two.len(), batch), (2, true));
        assert!(parse_batch::<PushedDeployment>(json!([]), check_deployment).is_err());
        assert!(parse_batch::<PushedDeployment>(json!("x"), check_deployment).is_err());
        let many = Value::Array(vec![deployment(); MAX_BATCH + 1]);
        assert!(parse_batch::<PushedDeployment>(many, check_deployment).is_err());
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let mut bad = deployment();
        bad["status"] = json!("exploded");
        let mut worse = deployment();
        worse["environment"] = json!(" ");
        worse["repositories"] = json!([{"repository": "acme/api", "commit_sha": "not-a-sha"},
                                        {"repository": "ACME/API"}]);
        worse["client_id"] = json!("x");
        let mut blank = deployment();
        blank["repositories"] = json!([]);
        let problems = parse_batch::<PushedDeployment>(
            json!([deployment(), bad, worse, blank]),
            check_deployment,
        )
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["[1].status", "[2].client_id", "[3].repositories"],
            "{problems:?}"
        );
        let mut worse = deployment();
        worse["environment"] = json!(" ");
        worse["repositories"] = json!([{"repository": "acme/api", "commit_sha": "not-a-sha"},
                                        {"repository": "ACME/API", "commits": ["abc"]}]);
        let problems = parse_batch::<PushedDeployment>(worse, check_deployment).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "environment",
                "repositories[0].commit_sha",
                "repositories[1].repository",
                "repositories[1].commits[0]"
            ],
            "{problems:?}"
        );
    }

    #[test]
    fn incidents_are_checked_too() {
        let ok =
            json!({"id": "PD-1", "title": "Checkout down", "created_at": "2024-03-06T16:00:00Z"});
        let (r, _) = parse_batch::<PushedIncident>(ok, check_incident).unwrap();
        assert_eq!(r[0].origin, None);
        let bad = json!({"id": "", "title": "", "created_at": "yesterday", "team": " "});
        let problems = parse_batch::<PushedIncident>(bad, check_incident).unwrap_err();
        assert_eq!(problems[0].field, "created_at");
        let bad = json!({"id": "", "title": "", "created_at": "2024-03-06T16:00:00Z", "team": " "});
        let problems = parse_batch::<PushedIncident>(bad, check_incident).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["id", "title", "team"]);
    }
}
