//! Values derived from other rows, recomputed after a load so that per-day aggregates can be
//! maintained from the loaded rows alone: a pull request's first commit, first review, approval
//! and counts; which pull requests a deployment shipped through their merge commits; which
//! deployment an incident is charged to.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use pulse_core::Result;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::deployments::touching;
use super::ingested::CHUNK;
use super::links;
use crate::entity::{
    commits, deployment_commits, deployment_pull_requests, deployment_repositories, deployments,
    incidents, pr_commits, pr_review_comments, pr_reviews, pull_requests,
};
use crate::TenantTx;

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Recomputes the derived columns of these pull requests from their stored commits, reviews and
/// comments. A time is the earliest of the stored value and the one derived (so a value reported
/// by the source is kept when the history is incomplete); counts are the larger of the two.
/// Reviews by the author (same person, or same login when either person is unknown) are ignored.
pub async fn refresh_pull_requests(tx: &TenantTx, ids: &[Uuid]) -> Result<()> {
    let c = tx.client_uuid();
    for chunk in ids.chunks(CHUNK) {
        let prs = pull_requests::Entity::find()
            .filter(pull_requests::Column::ClientId.eq(c))
            .filter(pull_requests::Column::Id.is_in(chunk.iter().copied()))
            .all(tx.conn())
            .await?;
        let links: Vec<(Uuid, Uuid)> = pr_commits::Entity::find()
            .select_only()
            .column(pr_commits::Column::PullRequestId)
            .column(pr_commits::Column::CommitId)
            .filter(pr_commits::Column::ClientId.eq(c))
            .filter(pr_commits::Column::PullRequestId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        let commit_ids: HashSet<Uuid> = links.iter().map(|(_, id)| *id).collect();
        let mut commit_times: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
        let ids: Vec<Uuid> = commit_ids.into_iter().collect();
        for part in ids.chunks(CHUNK * 4) {
            let rows: Vec<(Uuid, DateTime<Utc>)> = commits::Entity::find()
                .select_only()
                .column(commits::Column::Id)
                .column(commits::Column::AuthoredAt)
                .filter(commits::Column::ClientId.eq(c))
                .filter(commits::Column::Id.is_in(part.iter().copied()))
                .into_tuple()
                .all(tx.conn())
                .await?;
            commit_times.extend(rows);
        }
        let mut by_pr: HashMap<Uuid, (Option<DateTime<Utc>>, i64)> = HashMap::new();
        for (pr, commit) in &links {
            let e = by_pr.entry(*pr).or_default();
            e.0 = earliest(e.0, commit_times.get(commit).copied());
            e.1 += 1;
        }
        let reviews = pr_reviews::Entity::find()
            .filter(pr_reviews::Column::ClientId.eq(c))
            .filter(pr_reviews::Column::PullRequestId.is_in(chunk.iter().copied()))
            .all(tx.conn())
            .await?;
        let comments: Vec<Uuid> = pr_review_comments::Entity::find()
            .select_only()
            .column(pr_review_comments::Column::PullRequestId)
            .filter(pr_review_comments::Column::ClientId.eq(c))
            .filter(pr_review_comments::Column::PullRequestId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        let mut comment_counts: HashMap<Uuid, i64> = HashMap::new();
        for pr in comments {
            *comment_counts.entry(pr).or_default() += 1;
        }
        let mut updates = Vec::new();
        for pr in prs {
            let by_author =
                |r: &pr_reviews::Model| match (r.reviewer_person_id, pr.author_person_id) {
                    (Some(a), Some(b)) => a == b,
                    _ => match (&r.reviewer_login, &pr.author_login) {
                        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                        _ => false,
                    },
                };
            let others: Vec<&pr_reviews::Model> = reviews
                .iter()
                .filter(|r| r.pull_request_id == pr.id && !by_author(r))
                .collect();
            let (first_commit, commit_count) = by_pr.get(&pr.id).copied().unwrap_or_default();
            let first_review = others.iter().map(|r| r.submitted_at).min();
            let approved = others
                .iter()
                .filter(|r| r.state == "approved")
                .map(|r| r.submitted_at)
                .min();
            let derived = (
                earliest(pr.first_commit_at, first_commit),
                earliest(pr.first_review_at, first_review),
                earliest(pr.approved_at, approved),
                pr.commit_count.max(commit_count),
                pr.review_count.max(others.len() as i64),
                pr.comment_count
                    .max(comment_counts.get(&pr.id).copied().unwrap_or(0)),
            );
            let stored = (
                pr.first_commit_at,
                pr.first_review_at,
                pr.approved_at,
                pr.commit_count,
                pr.review_count,
                pr.comment_count,
            );
            if derived == stored {
                continue;
            }
            let (first_commit_at, first_review_at, approved_at, commits, reviews, comments) =
                derived;
            updates.push((
                pr.id,
                vec![
                    first_commit_at.into(),
                    first_review_at.into(),
                    approved_at.into(),
                    commits.into(),
                    reviews.into(),
                    comments.into(),
                ],
            ));
        }
        // One statement for the chunk, without reading the rows back.
        super::update::each::<pull_requests::Entity>(
            tx,
            &[
                pull_requests::Column::FirstCommitAt,
                pull_requests::Column::FirstReviewAt,
                pull_requests::Column::ApprovedAt,
                pull_requests::Column::CommitCount,
                pull_requests::Column::ReviewCount,
                pull_requests::Column::CommentCount,
            ],
            updates,
        )
        .await?;
    }
    Ok(())
}

/// Links these deployments to the pull requests whose merge (or squash) commit they deployed: the
/// commit of each of their repositories, and the commits listed as shipped. Returns the links
/// added.
pub async fn link_merge_commits(tx: &TenantTx, ids: &[Uuid]) -> Result<u64> {
    let c = tx.client_uuid();
    let mut rows = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut shas: HashMap<Uuid, Vec<(Uuid, String)>> = HashMap::new();
        let repos = deployment_repositories::Entity::find()
            .filter(deployment_repositories::Column::ClientId.eq(c))
            .filter(deployment_repositories::Column::DeploymentId.is_in(chunk.iter().copied()))
            .all(tx.conn())
            .await?;
        for r in repos {
            if let Some(sha) = r.commit_sha {
                shas.entry(r.deployment_id)
                    .or_default()
                    .push((r.repository_id, sha));
            }
        }
        let shipped: Vec<(Uuid, Uuid)> = deployment_commits::Entity::find()
            .select_only()
            .column(deployment_commits::Column::DeploymentId)
            .column(deployment_commits::Column::CommitId)
            .filter(deployment_commits::Column::ClientId.eq(c))
            .filter(deployment_commits::Column::DeploymentId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        let commit_ids: Vec<Uuid> = shipped.iter().map(|(_, id)| *id).collect();
        let commit_rows: HashMap<Uuid, (Uuid, String)> = commits::Entity::find()
            .select_only()
            .column(commits::Column::Id)
            .column(commits::Column::RepositoryId)
            .column(commits::Column::Sha)
            .filter(commits::Column::ClientId.eq(c))
            .filter(commits::Column::Id.is_in(commit_ids))
            .into_tuple::<(Uuid, Uuid, String)>()
            .all(tx.conn())
            .await?
            .into_iter()
            .map(|(id, repo, sha)| (id, (repo, sha)))
            .collect();
        for (deployment, commit) in shipped {
            if let Some(pair) = commit_rows.get(&commit) {
                shas.entry(deployment).or_default().push(pair.clone());
            }
        }
        for (deployment, pairs) in shas {
            let mut by_repo: HashMap<Uuid, Vec<String>> = HashMap::new();
            for (repo, sha) in pairs {
                by_repo.entry(repo).or_default().push(sha);
            }
            for (repo, shas) in by_repo {
                let prs: Vec<Uuid> = pull_requests::Entity::find()
                    .select_only()
                    .column(pull_requests::Column::Id)
                    .filter(pull_requests::Column::ClientId.eq(c))
                    .filter(pull_requests::Column::RepositoryId.eq(repo))
                    .filter(pull_requests::Column::MergeCommitSha.is_in(shas))
                    .into_tuple()
                    .all(tx.conn())
                    .await?;
                rows.extend(prs.into_iter().map(|pr| deployment_pull_requests::Model {
                    id: Uuid::nil(),
                    client_id: c,
                    deployment_id: deployment,
                    pull_request_id: pr,
                }));
            }
        }
    }
    links::add::<deployment_pull_requests::Entity>(tx, rows, &["deployment_id", "pull_request_id"])
        .await
}

/// Charges these incidents to a deployment: the explicitly linked one, else the latest successful
/// production deployment (of the incident's repository, when it names one) that finished before
/// the incident was created; none when there is no such deployment. Metrics may re-attribute with
/// a time window; this stored link is the default.
pub async fn attribute_incidents(tx: &TenantTx, ids: &[Uuid]) -> Result<()> {
    let c = tx.client_uuid();
    for chunk in ids.chunks(CHUNK) {
        let found = incidents::Entity::find()
            .filter(incidents::Column::ClientId.eq(c))
            .filter(incidents::Column::Id.is_in(chunk.iter().copied()))
            .all(tx.conn())
            .await?;
        for incident in found {
            let cause = match incident.deployment_id {
                Some(d) => Some(d),
                None => {
                    let mut q = deployments::Entity::find()
                        .select_only()
                        .column(deployments::Column::Id)
                        .filter(deployments::Column::ClientId.eq(c))
                        .filter(deployments::Column::IsProduction.eq(true))
                        .filter(deployments::Column::Status.eq("success"))
                        .filter(deployments::Column::FinishedAt.lt(incident.created_at));
                    if let Some(repo) = incident.repository_id {
                        q = q.filter(deployments::Column::Id.in_subquery(touching(c, vec![repo])));
                    }
                    q.order_by_desc(deployments::Column::FinishedAt)
                        .order_by_desc(deployments::Column::Id)
                        .into_tuple::<Uuid>()
                        .one(tx.conn())
                        .await?
                }
            };
            if cause != incident.caused_by_deployment_id {
                let mut am = incident.into_active_model();
                am.caused_by_deployment_id = Set(cause);
                am.update(tx.conn()).await?;
            }
        }
    }
    Ok(())
}

/// Deployments that deployed the merge commit of any of these pull requests (as a repository's
/// deployed commit or as a shipped commit), so pull requests loaded after their deployment are
/// linked too.
pub async fn deployments_deploying(tx: &TenantTx, pull_requests: &[Uuid]) -> Result<Vec<Uuid>> {
    let c = tx.client_uuid();
    let mut out: HashSet<Uuid> = HashSet::new();
    // A few statements per chunk of pull requests, not per pull request.
    for chunk in pull_requests.chunks(CHUNK) {
        let merged: Vec<(Uuid, Option<String>)> = pull_requests::Entity::find()
            .select_only()
            .column(pull_requests::Column::RepositoryId)
            .column(pull_requests::Column::MergeCommitSha)
            .filter(pull_requests::Column::ClientId.eq(c))
            .filter(pull_requests::Column::Id.is_in(chunk.iter().copied()))
            .filter(pull_requests::Column::MergeCommitSha.is_not_null())
            .into_tuple()
            .all(tx.conn())
            .await?;
        let pairs: Vec<(Uuid, String)> = merged
            .into_iter()
            .filter_map(|(repo, sha)| Some((repo, sha?)))
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let direct: Vec<Uuid> = deployment_repositories::Entity::find()
            .select_only()
            .column(deployment_repositories::Column::DeploymentId)
            .filter(deployment_repositories::Column::ClientId.eq(c))
            .filter(
                Expr::tuple([
                    Expr::col(deployment_repositories::Column::RepositoryId).into(),
                    Expr::col(deployment_repositories::Column::CommitSha).into(),
                ])
                .in_tuples(pairs.iter().cloned()),
            )
            .into_tuple()
            .all(tx.conn())
            .await?;
        out.extend(direct);
        let commit_ids: Vec<Uuid> = commits::Entity::find()
            .select_only()
            .column(commits::Column::Id)
            .filter(commits::Column::ClientId.eq(c))
            .filter(
                Expr::tuple([
                    Expr::col(commits::Column::RepositoryId).into(),
                    Expr::col(commits::Column::Sha).into(),
                ])
                .in_tuples(pairs),
            )
            .into_tuple()
            .all(tx.conn())
            .await?;
        for part in commit_ids.chunks(CHUNK) {
            let shipped: Vec<Uuid> = deployment_commits::Entity::find()
                .select_only()
                .column(deployment_commits::Column::DeploymentId)
                .filter(deployment_commits::Column::ClientId.eq(c))
                .filter(deployment_commits::Column::CommitId.is_in(part.iter().copied()))
                .into_tuple()
                .all(tx.conn())
                .await?;
            out.extend(shipped);
        }
    }
    Ok(out.into_iter().collect())
}

/// Incidents without an explicit deployment created after `at` (whose inferred cause a
/// deployment finished at `at` may change).
pub async fn incidents_to_reattribute(tx: &TenantTx, at: DateTime<Utc>) -> Result<Vec<Uuid>> {
    Ok(incidents::Entity::find()
        .select_only()
        .column(incidents::Column::Id)
        .filter(incidents::Column::ClientId.eq(tx.client_uuid()))
        .filter(incidents::Column::DeploymentId.is_null())
        .filter(incidents::Column::CreatedAt.gt(at))
        .into_tuple()
        .all(tx.conn())
        .await?)
}
