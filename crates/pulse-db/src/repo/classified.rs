//! Reads and writes of what the metric rules derive: deployments' `counted` and `is_production`
//! flags, merged-PR fallback deployments, incidents found by rule (source
//! [`DERIVED_SOURCE`](super::rules::DERIVED_SOURCE)) and incident attribution. The decisions are
//! made by `pulse_analytics::rules`; these functions only load rows and store answers, always
//! within the transaction's client.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use pulse_core::Result;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::deployments::touching;
use super::ingested::{Keyed, CHUNK};
use super::rules::DERIVED_SOURCE;
use crate::entity::{
    deployment_repositories, deployments, incidents, issues, pull_requests, repositories,
};
use crate::TenantTx;

/// Ids per `IN (...)` list: well under both backends' bind-parameter limits.
const IDS: usize = CHUNK * 4;

/// The next page of rows of `E` (by ascending id, after `after`) that match `extra`.
pub async fn page<E: Keyed>(
    tx: &TenantTx,
    extra: Condition,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<E::Model>> {
    let mut q = E::find()
        .filter(E::client_col().eq(tx.client_uuid()))
        .filter(extra);
    if let Some(after) = after {
        q = q.filter(E::id_col().gt(after));
    }
    Ok(q.order_by_asc(E::id_col())
        .limit(limit)
        .all(tx.conn())
        .await?)
}

/// The rows of `E` with these ids.
pub async fn by_ids<E: Keyed>(tx: &TenantTx, ids: &[Uuid]) -> Result<Vec<E::Model>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS) {
        out.extend(
            E::find()
                .filter(E::client_col().eq(tx.client_uuid()))
                .filter(E::id_col().is_in(chunk.iter().copied()))
                .all(tx.conn())
                .await?,
        );
    }
    Ok(out)
}

/// What the incident rules read of an issue.
#[derive(Debug, Clone)]
pub struct IssueScan {
    /// Id.
    pub id: Uuid,
    /// Source system.
    pub source: String,
    /// Jira project key.
    pub project_key: Option<String>,
    /// Type as the tracker names it.
    pub issue_type: String,
    /// Standard type.
    pub standard_type: String,
    /// Labels.
    pub labels: Vec<String>,
}

/// What the incident rules read of a pull request.
#[derive(Debug, Clone)]
pub struct PullRequestScan {
    /// Id.
    pub id: Uuid,
    /// Repository.
    pub repository_id: Uuid,
    /// Title.
    pub title: String,
    /// Merged.
    pub merged: bool,
    /// It names a pull request it reverts.
    pub reverts: bool,
    /// Labels.
    pub labels: Vec<String>,
    /// Target branch.
    pub base_branch: Option<String>,
}

/// Which rows a scan reads: a page of every row after an id, or rows by id.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// Up to `limit` rows with an id greater than `after`, by id.
    After(Option<Uuid>, u64),
    /// These rows.
    Ids(&'a [Uuid]),
}

/// The incident rules' view of some issues (only the columns they read, so a client-wide scan
/// stays cheap), by id.
pub async fn scan_issues(tx: &TenantTx, rows: Rows<'_>) -> Result<Vec<IssueScan>> {
    type Row = (
        Uuid,
        String,
        Option<String>,
        String,
        String,
        Option<serde_json::Value>,
    );
    let q = issues::Entity::find()
        .select_only()
        .column(issues::Column::Id)
        .column(issues::Column::Source)
        .column(issues::Column::ProjectKey)
        .column(issues::Column::IssueType)
        .column(issues::Column::StandardType)
        .column(issues::Column::Labels)
        .filter(issues::Column::ClientId.eq(tx.client_uuid()));
    let found: Vec<Row> = match rows {
        Rows::After(after, limit) => {
            let q = match after {
                Some(a) => q.filter(issues::Column::Id.gt(a)),
                None => q,
            };
            q.order_by_asc(issues::Column::Id)
                .limit(limit)
                .into_tuple()
                .all(tx.conn())
                .await?
        }
        Rows::Ids(ids) => {
            let mut out = Vec::new();
            for chunk in ids.chunks(IDS) {
                out.extend(
                    q.clone()
                        .filter(issues::Column::Id.is_in(chunk.iter().copied()))
                        .order_by_asc(issues::Column::Id)
                        .into_tuple::<Row>()
                        .all(tx.conn())
                        .await?,
                );
            }
            out
        }
    };
    Ok(found
        .into_iter()
        .map(
            |(id, source, project_key, issue_type, standard_type, labels)| IssueScan {
                id,
                source,
                project_key,
                issue_type,
                standard_type,
                labels: labels_of(labels.as_ref()),
            },
        )
        .collect())
}

/// The incident rules' view of some pull requests, by id.
pub async fn scan_pull_requests(tx: &TenantTx, rows: Rows<'_>) -> Result<Vec<PullRequestScan>> {
    type Row = (
        Uuid,
        Uuid,
        String,
        Option<DateTime<Utc>>,
        Option<Uuid>,
        Option<serde_json::Value>,
        Option<String>,
    );
    let q = pull_requests::Entity::find()
        .select_only()
        .column(pull_requests::Column::Id)
        .column(pull_requests::Column::RepositoryId)
        .column(pull_requests::Column::Title)
        .column(pull_requests::Column::MergedAt)
        .column(pull_requests::Column::RevertOfId)
        .column(pull_requests::Column::Labels)
        .column(pull_requests::Column::BaseBranch)
        .filter(pull_requests::Column::ClientId.eq(tx.client_uuid()));
    let found: Vec<Row> = match rows {
        Rows::After(after, limit) => {
            let q = match after {
                Some(a) => q.filter(pull_requests::Column::Id.gt(a)),
                None => q,
            };
            q.order_by_asc(pull_requests::Column::Id)
                .limit(limit)
                .into_tuple()
                .all(tx.conn())
                .await?
        }
        Rows::Ids(ids) => {
            let mut out = Vec::new();
            for chunk in ids.chunks(IDS) {
                out.extend(
                    q.clone()
                        .filter(pull_requests::Column::Id.is_in(chunk.iter().copied()))
                        .order_by_asc(pull_requests::Column::Id)
                        .into_tuple::<Row>()
                        .all(tx.conn())
                        .await?,
                );
            }
            out
        }
    };
    Ok(found
        .into_iter()
        .map(
            |(id, repository_id, title, merged_at, revert_of, labels, base_branch)| {
                PullRequestScan {
                    id,
                    repository_id,
                    title,
                    merged: merged_at.is_some(),
                    reverts: revert_of.is_some(),
                    labels: labels_of(labels.as_ref()),
                    base_branch,
                }
            },
        )
        .collect())
}

/// Ids of the deployments of any of these repositories.
pub async fn deployments_of_repositories(tx: &TenantTx, repos: &[Uuid]) -> Result<Vec<Uuid>> {
    let mut out = HashSet::new();
    for chunk in repos.chunks(IDS) {
        let ids: Vec<Uuid> = deployment_repositories::Entity::find()
            .select_only()
            .column(deployment_repositories::Column::DeploymentId)
            .filter(deployment_repositories::Column::ClientId.eq(tx.client_uuid()))
            .filter(deployment_repositories::Column::RepositoryId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        out.extend(ids);
    }
    let mut out: Vec<Uuid> = out.into_iter().collect();
    out.sort();
    Ok(out)
}

/// Ids of the pull requests of any of these repositories.
pub async fn pull_requests_of_repositories(tx: &TenantTx, repos: &[Uuid]) -> Result<Vec<Uuid>> {
    let mut out = Vec::new();
    for chunk in repos.chunks(IDS) {
        let ids: Vec<Uuid> = pull_requests::Entity::find()
            .select_only()
            .column(pull_requests::Column::Id)
            .filter(pull_requests::Column::ClientId.eq(tx.client_uuid()))
            .filter(pull_requests::Column::RepositoryId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        out.extend(ids);
    }
    out.sort();
    Ok(out)
}

/// Ids of the issues of any of these Jira project keys.
pub async fn issues_of_keys(tx: &TenantTx, keys: &[String]) -> Result<Vec<Uuid>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(IDS) {
        let ids: Vec<Uuid> = issues::Entity::find()
            .select_only()
            .column(issues::Column::Id)
            .filter(issues::Column::ClientId.eq(tx.client_uuid()))
            .filter(issues::Column::ProjectKey.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        out.extend(ids);
    }
    out.sort();
    Ok(out)
}

/// Sets `counted` and `is_production` of these deployments.
pub async fn set_deployment_class(
    tx: &TenantTx,
    ids: &[Uuid],
    counted: bool,
    production: bool,
) -> Result<()> {
    for chunk in ids.chunks(IDS) {
        deployments::Entity::update_many()
            .col_expr(deployments::Column::Counted, Expr::value(counted))
            .col_expr(deployments::Column::IsProduction, Expr::value(production))
            .filter(deployments::Column::ClientId.eq(tx.client_uuid()))
            .filter(deployments::Column::Id.is_in(chunk.iter().copied()))
            .exec(tx.conn())
            .await?;
    }
    Ok(())
}

/// Of these repositories (every repository when `None`), those with a counted deployment that is
/// not a merged-PR fallback (any environment, any status).
pub async fn repositories_with_deployments(
    tx: &TenantTx,
    repos: Option<&[Uuid]>,
) -> Result<HashSet<Uuid>> {
    let c = tx.client_uuid();
    let own = Query::select()
        .column(deployments::Column::Id)
        .from(deployments::Entity)
        .and_where(deployments::Column::ClientId.eq(c))
        .and_where(deployments::Column::Counted.eq(true))
        .and_where(deployments::Column::Origin.ne("merged_pr"))
        .to_owned();
    let query = || {
        deployment_repositories::Entity::find()
            .select_only()
            .column(deployment_repositories::Column::RepositoryId)
            .filter(deployment_repositories::Column::ClientId.eq(c))
            .filter(deployment_repositories::Column::DeploymentId.in_subquery(own.clone()))
            .distinct()
    };
    let mut out = HashSet::new();
    match repos {
        None => {
            let ids: Vec<Uuid> = query().into_tuple().all(tx.conn()).await?;
            out.extend(ids);
        }
        Some(repos) => {
            for chunk in repos.chunks(IDS) {
                let ids: Vec<Uuid> = query()
                    .filter(
                        deployment_repositories::Column::RepositoryId.is_in(chunk.iter().copied()),
                    )
                    .into_tuple()
                    .all(tx.conn())
                    .await?;
                out.extend(ids);
            }
        }
    }
    Ok(out)
}

/// Repositories (every one when `None`).
pub async fn repositories(tx: &TenantTx, ids: Option<&[Uuid]>) -> Result<Vec<repositories::Model>> {
    match ids {
        Some(ids) => by_ids::<repositories::Entity>(tx, ids).await,
        None => Ok(repositories::Entity::find()
            .filter(repositories::Column::ClientId.eq(tx.client_uuid()))
            .order_by_asc(repositories::Column::Id)
            .all(tx.conn())
            .await?),
    }
}

/// The merged-PR fallback deployments of these repositories (all of them when `None`), each with
/// the repository it stands for.
pub async fn fallback_deployments(
    tx: &TenantTx,
    repos: Option<&[Uuid]>,
) -> Result<Vec<(deployments::Model, Option<Uuid>)>> {
    let c = tx.client_uuid();
    let base = || {
        deployments::Entity::find()
            .filter(deployments::Column::ClientId.eq(c))
            .filter(deployments::Column::Source.eq(DERIVED_SOURCE))
            .filter(deployments::Column::Origin.eq("merged_pr"))
    };
    let mut rows = Vec::new();
    match repos {
        None => rows.extend(base().all(tx.conn()).await?),
        Some(repos) => {
            for chunk in repos.chunks(IDS) {
                rows.extend(
                    base()
                        .filter(deployments::Column::Id.in_subquery(touching(c, chunk.to_vec())))
                        .all(tx.conn())
                        .await?,
                );
            }
        }
    }
    rows.sort_by_key(|d| d.id);
    rows.dedup_by_key(|d| d.id);
    let ids: Vec<Uuid> = rows.iter().map(|d| d.id).collect();
    let repo_of: HashMap<Uuid, Uuid> = super::deployments::repositories_of(tx, &ids)
        .await?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|d| {
            let r = repo_of.get(&d.id).copied();
            (d, r)
        })
        .collect())
}

/// The merged pull requests of these repositories.
pub async fn merged_pull_requests_of(
    tx: &TenantTx,
    repos: &[Uuid],
) -> Result<Vec<pull_requests::Model>> {
    let mut out = Vec::new();
    for chunk in repos.chunks(IDS) {
        out.extend(
            pull_requests::Entity::find()
                .filter(pull_requests::Column::ClientId.eq(tx.client_uuid()))
                .filter(pull_requests::Column::RepositoryId.is_in(chunk.iter().copied()))
                .filter(pull_requests::Column::MergedAt.is_not_null())
                .order_by_asc(pull_requests::Column::Id)
                .all(tx.conn())
                .await?,
        );
    }
    Ok(out)
}

/// Of these deployments, those an incident names explicitly (`incidents.deployment_id`).
pub async fn explicitly_named(tx: &TenantTx, ids: &[Uuid]) -> Result<HashSet<Uuid>> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(IDS) {
        let named: Vec<Option<Uuid>> = incidents::Entity::find()
            .select_only()
            .column(incidents::Column::DeploymentId)
            .filter(incidents::Column::ClientId.eq(tx.client_uuid()))
            .filter(incidents::Column::DeploymentId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        out.extend(named.into_iter().flatten());
    }
    Ok(out)
}

/// Deletes these deployments (their repository, pull-request and commit links go with them).
/// Incidents charged to them are uncharged first; their ids are returned so they can be charged
/// again. None of them may be named explicitly by an incident (see [`explicitly_named`]).
pub async fn remove_deployments(tx: &TenantTx, ids: &[Uuid]) -> Result<Vec<Uuid>> {
    let c = tx.client_uuid();
    let mut uncharged = Vec::new();
    for chunk in ids.chunks(IDS) {
        let charged: Vec<Uuid> = incidents::Entity::find()
            .select_only()
            .column(incidents::Column::Id)
            .filter(incidents::Column::ClientId.eq(c))
            .filter(incidents::Column::CausedByDeploymentId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        incidents::Entity::update_many()
            .col_expr(
                incidents::Column::CausedByDeploymentId,
                Expr::value(Option::<Uuid>::None),
            )
            .col_expr(
                incidents::Column::AttributedBy,
                Expr::value(Option::<String>::None),
            )
            .filter(incidents::Column::ClientId.eq(c))
            .filter(incidents::Column::CausedByDeploymentId.is_in(chunk.iter().copied()))
            .exec(tx.conn())
            .await?;
        uncharged.extend(charged);
        deployments::Entity::delete_many()
            .filter(deployments::Column::ClientId.eq(c))
            .filter(deployments::Column::Id.is_in(chunk.iter().copied()))
            .exec(tx.conn())
            .await?;
    }
    Ok(uncharged)
}

/// Issues and pull requests that an incident not derived by the rules (loaded, pushed or made by
/// hand) already names: the rules do not make a second incident of them.
pub async fn named_by_loaded_incidents(tx: &TenantTx) -> Result<(HashSet<Uuid>, HashSet<Uuid>)> {
    let rows: Vec<(Option<Uuid>, Option<Uuid>)> = incidents::Entity::find()
        .select_only()
        .column(incidents::Column::IssueId)
        .column(incidents::Column::PullRequestId)
        .filter(incidents::Column::ClientId.eq(tx.client_uuid()))
        .filter(incidents::Column::Source.ne(DERIVED_SOURCE))
        .filter(
            Condition::any()
                .add(incidents::Column::IssueId.is_not_null())
                .add(incidents::Column::PullRequestId.is_not_null()),
        )
        .into_tuple()
        .all(tx.conn())
        .await?;
    let issues = rows.iter().filter_map(|(i, _)| *i).collect();
    let prs = rows.iter().filter_map(|(_, p)| *p).collect();
    Ok((issues, prs))
}

/// Incidents derived by the rules: every one (`None`, `None`), or those made from these issues or
/// these pull requests.
pub async fn rule_incidents(
    tx: &TenantTx,
    issues: Option<&[Uuid]>,
    pull_requests: Option<&[Uuid]>,
) -> Result<Vec<incidents::Model>> {
    let base = || {
        incidents::Entity::find()
            .filter(incidents::Column::ClientId.eq(tx.client_uuid()))
            .filter(incidents::Column::Source.eq(DERIVED_SOURCE))
    };
    let mut out = Vec::new();
    if issues.is_none() && pull_requests.is_none() {
        out.extend(base().all(tx.conn()).await?);
    }
    for chunk in issues.unwrap_or_default().chunks(IDS) {
        out.extend(
            base()
                .filter(incidents::Column::IssueId.is_in(chunk.iter().copied()))
                .all(tx.conn())
                .await?,
        );
    }
    for chunk in pull_requests.unwrap_or_default().chunks(IDS) {
        out.extend(
            base()
                .filter(incidents::Column::PullRequestId.is_in(chunk.iter().copied()))
                .all(tx.conn())
                .await?,
        );
    }
    out.sort_by_key(|i| i.id);
    out.dedup_by_key(|i| i.id);
    Ok(out)
}

/// Deletes these incidents.
pub async fn remove_incidents(tx: &TenantTx, ids: &[Uuid]) -> Result<()> {
    for chunk in ids.chunks(IDS) {
        incidents::Entity::delete_many()
            .filter(incidents::Column::ClientId.eq(tx.client_uuid()))
            .filter(incidents::Column::Id.is_in(chunk.iter().copied()))
            .exec(tx.conn())
            .await?;
    }
    Ok(())
}

/// Ids of the incidents created after `at`, or tied to these repositories, issues or pull
/// requests (whose charge a change of deployments or rules may move).
pub async fn incidents_affected(
    tx: &TenantTx,
    after: Option<DateTime<Utc>>,
    repos: &[Uuid],
    issues: &[Uuid],
    pull_requests: &[Uuid],
) -> Result<HashSet<Uuid>> {
    let c = tx.client_uuid();
    let ids = || {
        incidents::Entity::find()
            .select_only()
            .column(incidents::Column::Id)
            .filter(incidents::Column::ClientId.eq(c))
    };
    let mut out = HashSet::new();
    if let Some(at) = after {
        let found: Vec<Uuid> = ids()
            .filter(incidents::Column::CreatedAt.gt(at))
            .into_tuple()
            .all(tx.conn())
            .await?;
        out.extend(found);
    }
    for (col, list) in [
        (incidents::Column::RepositoryId, repos),
        (incidents::Column::IssueId, issues),
        (incidents::Column::PullRequestId, pull_requests),
    ] {
        for chunk in list.chunks(IDS) {
            let found: Vec<Uuid> = ids()
                .filter(col.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(tx.conn())
                .await?;
            out.extend(found);
        }
    }
    Ok(out)
}

/// What the attribution of an incident needs of its issue: `(source, project key, labels)`.
pub async fn issue_facts(
    tx: &TenantTx,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, (String, Option<String>, Vec<String>)>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(IDS) {
        let rows: Vec<(Uuid, String, Option<String>, Option<serde_json::Value>)> =
            issues::Entity::find()
                .select_only()
                .column(issues::Column::Id)
                .column(issues::Column::Source)
                .column(issues::Column::ProjectKey)
                .column(issues::Column::Labels)
                .filter(issues::Column::ClientId.eq(tx.client_uuid()))
                .filter(issues::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(tx.conn())
                .await?;
        for (id, source, key, labels) in rows {
            out.insert(id, (source, key, labels_of(labels.as_ref())));
        }
    }
    Ok(out)
}

/// A stored label list (a JSON array of strings; anything else is no labels).
pub fn labels_of(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The deployment with this external id: in `prefer_source` if there is one, else the first (by
/// id) in any source.
pub async fn deployment_by_external(
    tx: &TenantTx,
    external_id: &str,
    prefer_source: &str,
) -> Result<Option<Uuid>> {
    let found: Vec<(Uuid, String)> = deployments::Entity::find()
        .select_only()
        .column(deployments::Column::Id)
        .column(deployments::Column::Source)
        .filter(deployments::Column::ClientId.eq(tx.client_uuid()))
        .filter(deployments::Column::ExternalId.eq(external_id))
        .order_by_asc(deployments::Column::Id)
        .into_tuple()
        .all(tx.conn())
        .await?;
    Ok(found
        .iter()
        .find(|(_, s)| s == prefer_source)
        .or(found.first())
        .map(|(id, _)| *id))
}

/// The latest successful production deployment (of `repository`, when given) that finished
/// before `before`, and not before `not_before` when given.
pub async fn latest_production_before(
    tx: &TenantTx,
    before: DateTime<Utc>,
    repository: Option<Uuid>,
    not_before: Option<DateTime<Utc>>,
) -> Result<Option<Uuid>> {
    let c = tx.client_uuid();
    let mut q = deployments::Entity::find()
        .select_only()
        .column(deployments::Column::Id)
        .filter(deployments::Column::ClientId.eq(c))
        .filter(deployments::Column::IsProduction.eq(true))
        .filter(deployments::Column::Status.eq("success"))
        .filter(deployments::Column::FinishedAt.lt(before));
    if let Some(at) = not_before {
        q = q.filter(deployments::Column::FinishedAt.gte(at));
    }
    if let Some(repo) = repository {
        q = q.filter(deployments::Column::Id.in_subquery(touching(c, vec![repo])));
    }
    Ok(q.order_by_desc(deployments::Column::FinishedAt)
        .order_by_desc(deployments::Column::Id)
        .into_tuple::<Uuid>()
        .one(tx.conn())
        .await?)
}

/// Every successful production deployment with a finish time, as `(id, finished_at)`, and the
/// `(deployment, repository)` pairs of those deployments: what [`latest_production_before`]
/// searches, for answering many incidents from memory.
pub async fn successful_production(
    tx: &TenantTx,
) -> Result<(Vec<(Uuid, DateTime<Utc>)>, Vec<(Uuid, Uuid)>)> {
    let c = tx.client_uuid();
    let finished: Vec<(Uuid, Option<DateTime<Utc>>)> = deployments::Entity::find()
        .select_only()
        .column(deployments::Column::Id)
        .column(deployments::Column::FinishedAt)
        .filter(deployments::Column::ClientId.eq(c))
        .filter(deployments::Column::IsProduction.eq(true))
        .filter(deployments::Column::Status.eq("success"))
        .filter(deployments::Column::FinishedAt.is_not_null())
        .into_tuple()
        .all(tx.conn())
        .await?;
    let ids = Query::select()
        .column(deployments::Column::Id)
        .from(deployments::Entity)
        .and_where(deployments::Column::ClientId.eq(c))
        .and_where(deployments::Column::IsProduction.eq(true))
        .and_where(deployments::Column::Status.eq("success"))
        .and_where(deployments::Column::FinishedAt.is_not_null())
        .to_owned();
    let repos: Vec<(Uuid, Uuid)> = deployment_repositories::Entity::find()
        .select_only()
        .column(deployment_repositories::Column::DeploymentId)
        .column(deployment_repositories::Column::RepositoryId)
        .filter(deployment_repositories::Column::ClientId.eq(c))
        .filter(deployment_repositories::Column::DeploymentId.in_subquery(ids))
        .into_tuple()
        .all(tx.conn())
        .await?;
    Ok((
        finished
            .into_iter()
            .filter_map(|(id, f)| f.map(|f| (id, f)))
            .collect(),
        repos,
    ))
}

/// Stores an incident's charge.
pub async fn set_attribution(
    tx: &TenantTx,
    incident: Uuid,
    caused_by: Option<Uuid>,
    attributed_by: Option<&str>,
) -> Result<()> {
    incidents::Entity::update_many()
        .col_expr(
            incidents::Column::CausedByDeploymentId,
            Expr::value(caused_by),
        )
        .col_expr(
            incidents::Column::AttributedBy,
            Expr::value(attributed_by.map(str::to_string)),
        )
        .filter(incidents::Column::ClientId.eq(tx.client_uuid()))
        .filter(incidents::Column::Id.eq(incident))
        .exec(tx.conn())
        .await?;
    Ok(())
}
