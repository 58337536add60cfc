//! Re-deriving what depends on the rules, for a client, one project, or the rows an import just
//! wrote. One entry point, [`recompute`], runs in the caller's transaction so the derived rows
//! change atomically with whatever caused them (a rules change, an import):
//!
//! 1. **deployments**: `counted` and `is_production` of every deployment in scope;
//! 2. **merged-PR fallback**: in each repository in scope whose rules enable the fallback and that
//!    has no counted deployment of its own, one deployment (origin `merged_pr`, source `rules`)
//!    per pull request merged into the default branch; fallback deployments no longer wanted are
//!    removed (or, if an incident names one explicitly, kept but no longer counted);
//! 3. **incidents by rule**: incidents (source `rules`) made from the issues and pull requests in
//!    scope that match an incident rule are created or updated; those whose rule no longer matches
//!    are removed. Incidents loaded, pushed or made by hand are never removed, and an issue or pull
//!    request one of them names gets no second incident;
//! 4. **attribution**: `caused_by_deployment_id` and `attributed_by` of every incident whose charge
//!    may have moved: those in scope, those just made, and those created after the earliest
//!    deployment whose classification changed.
//!
//! The per-day aggregates that will back the reports hook in here: [`Recomputed`] carries the ids
//! of the deployments and incidents whose derived values changed.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use pulse_core::Result;
use pulse_db::entity::{
    deployment_pull_requests, deployment_repositories, deployments, incidents, issues,
    pull_requests,
};
use pulse_db::repo::classified::{self, labels_of};
use pulse_db::repo::rules::DERIVED_SOURCE;
use pulse_db::repo::{ingested, links, scope as org};
use pulse_db::sea_orm::Condition;
use pulse_db::TenantTx;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::classify::{origin, Compiled, DeploymentFacts, IssueFacts, PullRequestFacts, RuleBook};
use super::service::rule_book;

/// Rows per page when a whole client is recomputed.
const PAGE: u64 = 1000;

/// What to recompute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every row of the client (after its rules changed).
    Client,
    /// The rows of one project (after its override changed): deployments of its repositories,
    /// their pull requests, the issues of its Jira projects and the incidents tied to them.
    Project(Uuid),
    /// Rows just written by an import or a sync.
    Changed(Changed),
}

/// Rows an import or sync wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// Deployments written.
    pub deployments: Vec<Uuid>,
    /// Pull requests written.
    pub pull_requests: Vec<Uuid>,
    /// Issues written.
    pub issues: Vec<Uuid>,
    /// Incidents written.
    pub incidents: Vec<Uuid>,
    /// Projects (or what they cover) were written: with project overrides in place, rows may
    /// now follow other rules, so the whole client is recomputed.
    pub projects: bool,
}

/// What a recomputation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Recomputed {
    /// Deployments whose `counted` or `is_production` changed.
    pub deployments_reclassified: u64,
    /// Merged-PR fallback deployments created.
    pub fallback_deployments_added: u64,
    /// Merged-PR fallback deployments updated (their pull request changed).
    pub fallback_deployments_updated: u64,
    /// Merged-PR fallback deployments removed (or, when an incident names one, no longer counted).
    pub fallback_deployments_removed: u64,
    /// Incidents created by the incident rules.
    pub incidents_created: u64,
    /// Incidents of the rules updated (their issue or pull request changed).
    pub incidents_updated: u64,
    /// Incidents of the rules removed (the rule no longer matches).
    pub incidents_removed: u64,
    /// Incidents whose charged deployment changed.
    pub incidents_reattributed: u64,
    /// Ids of the deployments whose derived values changed (added, updated, reclassified; removed
    /// ones too).
    #[serde(skip)]
    pub deployment_ids: BTreeSet<Uuid>,
    /// Ids of the incidents created, updated, removed or re-charged.
    #[serde(skip)]
    pub incident_ids: BTreeSet<Uuid>,
}

/// The rows a recomputation visits.
#[derive(Debug, Default)]
struct Target {
    /// Every row of the client.
    all: bool,
    /// The rows were just written (an import), so their deployments may have moved.
    written: bool,
    deployments: Vec<Uuid>,
    pull_requests: Vec<Uuid>,
    issues: Vec<Uuid>,
    incidents: Vec<Uuid>,
    /// Repositories whose fallback deployments are reconsidered.
    repositories: Vec<Uuid>,
}

/// State carried between the steps.
#[derive(Default)]
struct Work {
    done: Recomputed,
    /// The earliest instant at which a deployment appeared, disappeared or changed class:
    /// incidents created after it may be charged differently.
    earliest: Option<DateTime<Utc>>,
    /// Incidents that must be charged again whatever their date.
    reattribute: HashSet<Uuid>,
}

impl Work {
    fn moved_at(&mut self, at: DateTime<Utc>) {
        self.earliest = Some(self.earliest.map_or(at, |e| e.min(at)));
    }
}

fn finish(d: &deployments::Model) -> DateTime<Utc> {
    d.finished_at.unwrap_or(d.started_at)
}

fn sorted(set: impl IntoIterator<Item = Uuid>) -> Vec<Uuid> {
    let mut v: Vec<Uuid> = set
        .into_iter()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    v.sort();
    v
}

/// Re-derives what depends on the rules for `scope`, in `tx` (see the module documentation), and
/// returns what changed. Takes the client's rules lock first, so rule changes and imports of one
/// client never interleave.
pub async fn recompute(tx: &TenantTx, scope: &Scope) -> Result<Recomputed> {
    let started = std::time::Instant::now();
    pulse_db::dialect::lock_client_rules(tx).await?;
    let book = rule_book(tx).await?;
    let target = resolve(tx, &book, scope).await?;
    let mut work = Work::default();
    let step = |name: &str, since: std::time::Instant| {
        tracing::debug!(
            step = name,
            ms = since.elapsed().as_millis() as u64,
            "recompute step"
        );
        std::time::Instant::now()
    };
    let t = step("rules", started);
    classify_deployments(tx, &book, &target, &mut work).await?;
    let t = step("deployments", t);
    fallback(tx, &book, &target, &mut work).await?;
    let t = step("fallback", t);
    let mut finder = Finder::default();
    rule_incidents(tx, &book, &target, &mut work, &mut finder).await?;
    let t = step("incidents", t);
    attribute(tx, &book, &target, &mut work, &mut finder).await?;
    step("attribution", t);
    // Row changes mark their own days (triggers). A rules change can also move facts without
    // touching a row (the attribution window), so it recomputes the metric aggregates whole.
    if !matches!(scope, Scope::Changed(_)) {
        pulse_db::repo::rollups::mark_all(tx).await?;
    }
    let d = &work.done;
    tracing::info!(
        client = %tx.client(),
        scope = match scope { Scope::Client => "client", Scope::Project(_) => "project", Scope::Changed(_) => "changed" },
        ms = started.elapsed().as_millis() as u64,
        deployments_reclassified = d.deployments_reclassified,
        fallback_added = d.fallback_deployments_added,
        fallback_removed = d.fallback_deployments_removed,
        incidents_created = d.incidents_created,
        incidents_removed = d.incidents_removed,
        incidents_reattributed = d.incidents_reattributed,
        "metric rules recomputed"
    );
    Ok(work.done)
}

async fn resolve(tx: &TenantTx, book: &RuleBook, scope: &Scope) -> Result<Target> {
    match scope {
        Scope::Client => Ok(Target {
            all: true,
            ..Default::default()
        }),
        Scope::Changed(c) if c.projects && book.has_overrides() => Ok(Target {
            all: true,
            ..Default::default()
        }),
        Scope::Project(p) => {
            let cov = org::coverage(tx, &[*p]).await?;
            let repositories = sorted(cov.repositories.iter().copied());
            Ok(Target {
                all: false,
                written: false,
                deployments: classified::deployments_of_repositories(tx, &repositories).await?,
                pull_requests: classified::pull_requests_of_repositories(tx, &repositories).await?,
                issues: classified::issues_of_keys(tx, &cov.jira_keys).await?,
                incidents: Vec::new(),
                repositories,
            })
        }
        Scope::Changed(c) => {
            let deployments = sorted(c.deployments.iter().copied());
            // A loaded incident naming an issue or pull request replaces the rules' incident of
            // it: reconsider those too.
            let mut issues = c.issues.clone();
            let mut pull_requests = c.pull_requests.clone();
            for chunk in c.incidents.chunks(PAGE as usize) {
                for i in classified::by_ids::<incidents::Entity>(tx, chunk).await? {
                    issues.extend(i.issue_id);
                    pull_requests.extend(i.pull_request_id);
                }
            }
            let pull_requests = sorted(pull_requests);
            let mut repositories: Vec<Uuid> =
                pulse_db::repo::deployments::repositories_of(tx, &deployments)
                    .await?
                    .into_iter()
                    .map(|(_, r)| r)
                    .collect();
            for chunk in pull_requests.chunks(PAGE as usize) {
                repositories.extend(
                    classified::by_ids::<pull_requests::Entity>(tx, chunk)
                        .await?
                        .into_iter()
                        .map(|p| p.repository_id),
                );
            }
            Ok(Target {
                all: false,
                written: true,
                deployments,
                pull_requests,
                issues: sorted(issues),
                incidents: sorted(c.incidents.iter().copied()),
                repositories: sorted(repositories),
            })
        }
    }
}

/// The pages of a scan: every row by id when `all`, else the given ids a chunk at a time.
struct Pager<'a> {
    all: bool,
    after: Option<Uuid>,
    done: bool,
    chunks: std::slice::Chunks<'a, Uuid>,
}

impl<'a> Pager<'a> {
    fn new(all: bool, ids: &'a [Uuid]) -> Self {
        Self {
            all,
            after: None,
            done: false,
            chunks: ids.chunks(PAGE as usize),
        }
    }

    fn next(&mut self) -> Option<classified::Rows<'a>> {
        if self.done {
            return None;
        }
        if self.all {
            Some(classified::Rows::After(self.after, PAGE))
        } else {
            self.chunks.next().map(classified::Rows::Ids)
        }
    }

    /// Records the last id of the page just read (`None`: it was empty, the scan is over).
    fn seen(&mut self, last: Option<Uuid>) {
        if self.all {
            match last {
                Some(l) => self.after = Some(l),
                None => self.done = true,
            }
        }
    }
}

/// Calls `visit` with the rows of `E` in scope, a page at a time: every row when `all`, else the
/// rows with these ids.
macro_rules! for_pages {
    ($tx:expr, $entity:ty, $all:expr, $ids:expr, |$page:ident| $body:block) => {{
        if $all {
            let mut after: Option<Uuid> = None;
            loop {
                let $page = classified::page::<$entity>($tx, Condition::all(), after, PAGE).await?;
                let Some(last) = $page.last() else { break };
                after = Some(last.id);
                $body
            }
        } else {
            for chunk in $ids.chunks(PAGE as usize) {
                let $page = classified::by_ids::<$entity>($tx, chunk).await?;
                $body
            }
        }
    }};
}

async fn classify_deployments(
    tx: &TenantTx,
    book: &RuleBook,
    target: &Target,
    work: &mut Work,
) -> Result<()> {
    for_pages!(
        tx,
        deployments::Entity,
        target.all,
        target.deployments,
        |page| {
            let ids: Vec<Uuid> = page.iter().map(|d| d.id).collect();
            let mut repos: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
            if book.has_overrides() {
                for (d, r) in pulse_db::repo::deployments::repositories_of(tx, &ids).await? {
                    repos.entry(d).or_default().push(r);
                }
            }
            let mut groups: HashMap<(bool, bool), Vec<Uuid>> = HashMap::new();
            for d in &page {
                if d.origin == origin::MERGED_PR {
                    continue; // the fallback step owns these
                }
                if target.written {
                    // Written by an import: incidents after it may now be charged to it.
                    work.moved_at(finish(d));
                }
                let rules = book.for_repositories(repos.get(&d.id).map_or(&[][..], |v| v));
                let class = rules.deployment(&DeploymentFacts {
                    origin: &d.origin,
                    environment: &d.environment,
                    name: d.name.as_deref(),
                    branch: d.branch.as_deref(),
                    reported_production: d.reported_production,
                });
                if (class.counted, class.production) != (d.counted, d.is_production) {
                    groups
                        .entry((class.counted, class.production))
                        .or_default()
                        .push(d.id);
                    work.moved_at(finish(d));
                    work.done.deployments_reclassified += 1;
                    work.done.deployment_ids.insert(d.id);
                }
            }
            for ((counted, production), ids) in groups {
                classified::set_deployment_class(tx, &ids, counted, production).await?;
            }
        }
    );
    Ok(())
}

/// The fallback deployment standing for a merged pull request.
fn fallback_row(pr: &pull_requests::Model, merged: DateTime<Utc>) -> deployments::Model {
    let name = match pr.number {
        Some(n) => format!("#{n} {}", pr.title),
        None => pr.title.clone(),
    };
    deployments::Model {
        id: Uuid::nil(),
        client_id: Uuid::nil(),
        source: DERIVED_SOURCE.into(),
        external_id: format!("merged_pr:{}", pr.id),
        synced_at: merged,
        name: Some(name),
        environment: "production".into(),
        is_production: true,
        counted: true,
        reported_production: None,
        branch: pr.base_branch.clone(),
        status: "success".into(),
        origin: origin::MERGED_PR.into(),
        started_at: merged,
        finished_at: Some(merged),
        commit_sha: pr.merge_commit_sha.clone(),
        url: None,
    }
}

fn same_fallback(a: &deployments::Model, b: &deployments::Model) -> bool {
    (
        &a.name,
        &a.environment,
        a.is_production,
        a.counted,
        &a.branch,
        &a.status,
        a.started_at,
        a.finished_at,
        &a.commit_sha,
    ) == (
        &b.name,
        &b.environment,
        b.is_production,
        b.counted,
        &b.branch,
        &b.status,
        b.started_at,
        b.finished_at,
        &b.commit_sha,
    )
}

async fn fallback(tx: &TenantTx, book: &RuleBook, target: &Target, work: &mut Work) -> Result<()> {
    if !target.all && target.repositories.is_empty() {
        return Ok(());
    }
    let scope = (!target.all).then_some(&target.repositories[..]);
    let existing = classified::fallback_deployments(tx, scope).await?;
    let any_on = book.all().any(|r| r.rules().deployments.merged_pr_fallback);
    if !any_on && existing.is_empty() {
        return Ok(());
    }
    let mut wanted: HashMap<String, (deployments::Model, Uuid, Uuid)> = HashMap::new();
    if any_on {
        let repos = classified::repositories(tx, scope).await?;
        let sourced = classified::repositories_with_deployments(tx, scope).await?;
        let candidates: HashMap<Uuid, Option<String>> = repos
            .into_iter()
            .filter(|r| !sourced.contains(&r.id))
            .filter(|r| {
                book.for_repositories(&[r.id])
                    .rules()
                    .deployments
                    .merged_pr_fallback
            })
            .map(|r| (r.id, r.default_branch))
            .collect();
        let ids: Vec<Uuid> = sorted(candidates.keys().copied());
        for pr in classified::merged_pull_requests_of(tx, &ids).await? {
            let Some(merged) = pr.merged_at else { continue };
            let labels = labels_of(pr.labels.as_ref());
            let facts = PullRequestFacts {
                title: &pr.title,
                merged: true,
                reverts: pr.revert_of_id.is_some(),
                labels: &labels,
                base_branch: pr.base_branch.as_deref(),
            };
            let default = candidates.get(&pr.repository_id).cloned().flatten();
            if book
                .for_repositories(&[pr.repository_id])
                .fallback_pull_request(&facts, default.as_deref())
            {
                let row = fallback_row(&pr, merged);
                wanted.insert(row.external_id.clone(), (row, pr.repository_id, pr.id));
            }
        }
    }
    let existing: HashMap<String, (deployments::Model, Option<Uuid>)> = existing
        .into_iter()
        .map(|(d, r)| (d.external_id.clone(), (d, r)))
        .collect();

    // Create or update what is wanted.
    let mut write: Vec<(deployments::Model, Uuid, Uuid)> = Vec::new();
    let mut wanted_keys: Vec<&String> = wanted.keys().collect();
    wanted_keys.sort();
    for key in wanted_keys {
        let (row, repo, pr) = &wanted[key];
        match existing.get(key) {
            Some((old, old_repo)) if same_fallback(old, row) && *old_repo == Some(*repo) => {}
            Some((old, _)) => {
                work.done.fallback_deployments_updated += 1;
                work.moved_at(finish(old));
                work.moved_at(finish(row));
                write.push((row.clone(), *repo, *pr));
            }
            None => {
                work.done.fallback_deployments_added += 1;
                work.moved_at(finish(row));
                write.push((row.clone(), *repo, *pr));
            }
        }
    }
    for part in write.chunks(PAGE as usize) {
        let stored = ingested::upsert::<deployments::Entity>(
            tx,
            part.iter().map(|(row, _, _)| row.clone()).collect(),
        )
        .await?;
        let mut repo_links = Vec::new();
        let mut pr_links = Vec::new();
        for ((row, repo, pr), id) in part.iter().zip(&stored.ids) {
            work.done.deployment_ids.insert(*id);
            repo_links.push(deployment_repositories::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                deployment_id: *id,
                repository_id: *repo,
                commit_sha: row.commit_sha.clone(),
            });
            pr_links.push(deployment_pull_requests::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                deployment_id: *id,
                pull_request_id: *pr,
            });
        }
        links::replace::<deployment_repositories::Entity>(
            tx,
            "deployment_id",
            &stored.ids,
            repo_links,
            &["deployment_id", "repository_id"],
        )
        .await?;
        links::replace::<deployment_pull_requests::Entity>(
            tx,
            "deployment_id",
            &stored.ids,
            pr_links,
            &["deployment_id", "pull_request_id"],
        )
        .await?;
    }

    // Remove what is no longer wanted.
    let unwanted: Vec<&deployments::Model> = existing
        .iter()
        .filter(|(k, _)| !wanted.contains_key(*k))
        .map(|(_, (d, _))| d)
        .collect();
    if unwanted.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = sorted(unwanted.iter().map(|d| d.id));
    let named = classified::explicitly_named(tx, &ids).await?;
    let mut keep_uncounted = Vec::new();
    let mut remove = Vec::new();
    for d in &unwanted {
        work.moved_at(finish(d));
        work.done.deployment_ids.insert(d.id);
        if named.contains(&d.id) {
            if d.counted || d.is_production {
                keep_uncounted.push(d.id);
                work.done.fallback_deployments_removed += 1;
            }
        } else {
            remove.push(d.id);
            work.done.fallback_deployments_removed += 1;
        }
    }
    classified::set_deployment_class(tx, &keep_uncounted, false, false).await?;
    let uncharged = classified::remove_deployments(tx, &sorted(remove)).await?;
    work.reattribute.extend(uncharged);
    Ok(())
}

/// The incident a rule makes of an issue.
fn issue_incident(issue: &issues::Model, origin: &str) -> incidents::Model {
    incidents::Model {
        id: Uuid::nil(),
        client_id: Uuid::nil(),
        source: DERIVED_SOURCE.into(),
        external_id: format!("issue:{}", issue.id),
        synced_at: issue.created_at,
        title: format!("{} {}", issue.key, issue.title),
        origin: origin.into(),
        severity: issue.priority.clone(),
        created_at: issue.created_at,
        resolved_at: issue.resolved_at,
        issue_id: Some(issue.id),
        pull_request_id: None,
        repository_id: None,
        team_id: None,
        deployment_id: None,
        caused_by_deployment_id: None,
        attributed_by: None,
    }
}

/// The incident a rule makes of a pull request: opened with the pull request, resolved when it
/// merged (or closed).
fn pull_request_incident(pr: &pull_requests::Model, origin: &str) -> incidents::Model {
    incidents::Model {
        id: Uuid::nil(),
        client_id: Uuid::nil(),
        source: DERIVED_SOURCE.into(),
        external_id: format!("pull_request:{}", pr.id),
        synced_at: pr.created_at,
        title: pr.title.clone(),
        origin: origin.into(),
        severity: None,
        created_at: pr.created_at,
        resolved_at: pr.merged_at.or(pr.closed_at),
        issue_id: None,
        pull_request_id: Some(pr.id),
        repository_id: Some(pr.repository_id),
        team_id: None,
        deployment_id: None,
        caused_by_deployment_id: None,
        attributed_by: None,
    }
}

fn same_incident(a: &incidents::Model, b: &incidents::Model) -> bool {
    (
        &a.title,
        &a.origin,
        &a.severity,
        a.created_at,
        a.resolved_at,
        a.issue_id,
        a.pull_request_id,
        a.repository_id,
    ) == (
        &b.title,
        &b.origin,
        &b.severity,
        b.created_at,
        b.resolved_at,
        b.issue_id,
        b.pull_request_id,
        b.repository_id,
    )
}

fn reads_issues(r: &Compiled) -> bool {
    let i = &r.rules().incidents;
    !i.issue_types.is_empty() || !i.labels.is_empty() || i.github_labels.is_some()
}

fn reads_pull_requests(r: &Compiled) -> bool {
    let i = &r.rules().incidents;
    i.revert_prs || i.github_labels.is_some()
}

async fn rule_incidents(
    tx: &TenantTx,
    book: &RuleBook,
    target: &Target,
    work: &mut Work,
    finder: &mut Finder,
) -> Result<()> {
    let existing = if target.all {
        classified::rule_incidents(tx, None, None).await?
    } else if target.issues.is_empty() && target.pull_requests.is_empty() {
        Vec::new()
    } else {
        classified::rule_incidents(tx, Some(&target.issues), Some(&target.pull_requests)).await?
    };
    let issues_on = book.all().any(reads_issues);
    let prs_on = book.all().any(reads_pull_requests);
    if !issues_on && !prs_on && existing.is_empty() {
        return Ok(());
    }
    let (named_issues, named_prs) = if issues_on || prs_on {
        classified::named_by_loaded_incidents(tx).await?
    } else {
        Default::default()
    };
    let mut wanted: HashMap<String, incidents::Model> = HashMap::new();
    // What attribution reads of the matched issues: source, project key, labels.
    let mut issue_info: HashMap<Uuid, IssueInfo> = HashMap::new();
    // Scan the few columns the rules read; fetch whole rows only for the matches.
    if issues_on {
        let mut matched: HashMap<Uuid, &'static str> = HashMap::new();
        let mut pager = Pager::new(target.all, &target.issues);
        while let Some(rows) = pager.next() {
            let page = classified::scan_issues(tx, rows).await?;
            pager.seen(page.last().map(|i| i.id));
            for issue in page.iter().filter(|i| !named_issues.contains(&i.id)) {
                let found =
                    book.for_key(issue.project_key.as_deref())
                        .issue_incident(&IssueFacts {
                            source: &issue.source,
                            issue_type: &issue.issue_type,
                            standard_type: &issue.standard_type,
                            labels: &issue.labels,
                        });
                if let Some(o) = found {
                    matched.insert(issue.id, o.as_str());
                }
            }
        }
        let ids = sorted(matched.keys().copied());
        for issue in classified::by_ids::<issues::Entity>(tx, &ids).await? {
            let row = issue_incident(&issue, matched[&issue.id]);
            wanted.insert(row.external_id.clone(), row);
            issue_info.insert(
                issue.id,
                (
                    issue.source.clone(),
                    issue.project_key.clone(),
                    labels_of(issue.labels.as_ref()),
                ),
            );
        }
    }
    if prs_on {
        let mut matched: HashMap<Uuid, &'static str> = HashMap::new();
        let mut pager = Pager::new(target.all, &target.pull_requests);
        while let Some(rows) = pager.next() {
            let page = classified::scan_pull_requests(tx, rows).await?;
            pager.seen(page.last().map(|p| p.id));
            for pr in page.iter().filter(|p| !named_prs.contains(&p.id)) {
                let found = book
                    .for_repositories(&[pr.repository_id])
                    .pull_request_incident(&PullRequestFacts {
                        title: &pr.title,
                        merged: pr.merged,
                        reverts: pr.reverts,
                        labels: &pr.labels,
                        base_branch: pr.base_branch.as_deref(),
                    });
                if let Some(o) = found {
                    matched.insert(pr.id, o.as_str());
                }
            }
        }
        let ids = sorted(matched.keys().copied());
        for pr in classified::by_ids::<pull_requests::Entity>(tx, &ids).await? {
            let row = pull_request_incident(&pr, matched[&pr.id]);
            wanted.insert(row.external_id.clone(), row);
        }
    }

    let existing: HashMap<String, incidents::Model> = existing
        .into_iter()
        .map(|i| (i.external_id.clone(), i))
        .collect();
    let mut write = Vec::new();
    let mut keys: Vec<&String> = wanted.keys().collect();
    keys.sort();
    for key in keys {
        let row = &wanted[key];
        match existing.get(key) {
            Some(old) if same_incident(old, row) => {}
            Some(_) => {
                work.done.incidents_updated += 1;
                write.push(row.clone());
            }
            None => {
                work.done.incidents_created += 1;
                write.push(row.clone());
            }
        }
    }
    // Charged before they are written, so the attribution step finds them done.
    finder.prepare(tx, write.len(), target.all).await?;
    for row in &mut write {
        let issue = row.issue_id.and_then(|i| issue_info.get(&i));
        let rules = book.for_incident(
            row.repository_id,
            issue.and_then(|(_, key, _)| key.as_deref()),
        );
        let (cause, by) = charge(tx, finder, rules, row, issue).await?;
        row.caused_by_deployment_id = cause;
        row.attributed_by = by.map(str::to_string);
    }
    for part in write.chunks(PAGE as usize) {
        let stored = ingested::upsert::<incidents::Entity>(tx, part.to_vec()).await?;
        for id in stored.ids {
            work.reattribute.insert(id);
            work.done.incident_ids.insert(id);
        }
    }
    let removed: Vec<Uuid> = sorted(
        existing
            .iter()
            .filter(|(k, _)| !wanted.contains_key(*k))
            .map(|(_, i)| i.id),
    );
    work.done.incidents_removed += removed.len() as u64;
    work.done.incident_ids.extend(removed.iter().copied());
    for id in &removed {
        work.reattribute.remove(id);
    }
    classified::remove_incidents(tx, &removed).await?;
    Ok(())
}

async fn attribute(
    tx: &TenantTx,
    book: &RuleBook,
    target: &Target,
    work: &mut Work,
    finder: &mut Finder,
) -> Result<()> {
    let ids: Vec<Uuid> = if target.all {
        Vec::new()
    } else {
        let mut set = classified::incidents_affected(
            tx,
            work.earliest,
            &target.repositories,
            &target.issues,
            &target.pull_requests,
        )
        .await?;
        set.extend(target.incidents.iter().copied());
        set.extend(work.reattribute.iter().copied());
        sorted(set)
    };
    finder.prepare(tx, ids.len(), target.all).await?;
    for_pages!(tx, incidents::Entity, target.all, ids, |page| {
        let issue_ids: Vec<Uuid> = sorted(page.iter().filter_map(|i| i.issue_id));
        let facts = classified::issue_facts(tx, &issue_ids).await?;
        for incident in &page {
            let issue = incident.issue_id.and_then(|i| facts.get(&i));
            let rules = book.for_incident(
                incident.repository_id,
                issue.and_then(|(_, key, _)| key.as_deref()),
            );
            let (cause, by) = charge(tx, finder, rules, incident, issue).await?;
            if (cause, by)
                != (
                    incident.caused_by_deployment_id,
                    incident.attributed_by.as_deref(),
                )
            {
                classified::set_attribution(tx, incident.id, cause, by).await?;
                work.done.incidents_reattributed += 1;
                work.done.incident_ids.insert(incident.id);
            }
        }
    });
    Ok(())
}

/// From how many incidents on attribution loads every successful production deployment once
/// instead of querying per incident.
const INDEX_FROM: usize = 256;

/// What attribution reads of an incident's issue: source, project key, labels.
type IssueInfo = (String, Option<String>, Vec<String>);

/// How the latest earlier successful production deployment is found: one indexed query per
/// incident, or, for many incidents, binary searches over every successful production deployment
/// loaded once (after the deployment steps, so it sees their changes).
#[derive(Default)]
struct Finder {
    index: Option<ProductionIndex>,
}

impl Finder {
    /// Loads the index when `incidents` (or a whole client's) will be charged.
    async fn prepare(&mut self, tx: &TenantTx, incidents: usize, all: bool) -> Result<()> {
        if self.index.is_none() && (all || incidents > INDEX_FROM) {
            self.index = Some(ProductionIndex::load(tx).await?);
        }
        Ok(())
    }

    async fn latest_before(
        &self,
        tx: &TenantTx,
        before: DateTime<Utc>,
        repository: Option<Uuid>,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<Option<Uuid>> {
        match &self.index {
            Some(index) => Ok(index.latest_before(before, repository, not_before)),
            None => classified::latest_production_before(tx, before, repository, not_before).await,
        }
    }
}

/// Successful production deployments by `(finished_at, id)`, overall and per repository.
struct ProductionIndex {
    all: Vec<(DateTime<Utc>, Uuid)>,
    by_repository: HashMap<Uuid, Vec<(DateTime<Utc>, Uuid)>>,
}

impl ProductionIndex {
    async fn load(tx: &TenantTx) -> Result<Self> {
        let (finished, repos) = classified::successful_production(tx).await?;
        let at: HashMap<Uuid, DateTime<Utc>> = finished.iter().copied().collect();
        let mut all: Vec<(DateTime<Utc>, Uuid)> =
            finished.iter().map(|(id, f)| (*f, *id)).collect();
        all.sort();
        let mut by_repository: HashMap<Uuid, Vec<(DateTime<Utc>, Uuid)>> = HashMap::new();
        for (d, r) in repos {
            if let Some(f) = at.get(&d) {
                by_repository.entry(r).or_default().push((*f, d));
            }
        }
        for list in by_repository.values_mut() {
            list.sort();
            list.dedup();
        }
        Ok(Self { all, by_repository })
    }

    /// The same answer as [`classified::latest_production_before`]: the greatest
    /// `(finished_at, id)` finished before `before` (and not before `not_before`).
    fn latest_before(
        &self,
        before: DateTime<Utc>,
        repository: Option<Uuid>,
        not_before: Option<DateTime<Utc>>,
    ) -> Option<Uuid> {
        let list = match repository {
            Some(r) => self.by_repository.get(&r)?,
            None => &self.all,
        };
        let pos = list.partition_point(|(f, _)| *f < before);
        let (f, id) = *list.get(pos.checked_sub(1)?)?;
        not_before.is_none_or(|nb| f >= nb).then_some(id)
    }
}

/// The deployment an incident is charged to, and how it was found.
async fn charge(
    tx: &TenantTx,
    finder: &Finder,
    rules: &Compiled,
    incident: &incidents::Model,
    issue: Option<&IssueInfo>,
) -> Result<(Option<Uuid>, Option<&'static str>)> {
    if let Some(d) = incident.deployment_id {
        return Ok((Some(d), Some("explicit")));
    }
    if let Some((source, _, labels)) = issue {
        if let Some(external) = rules.issue_link(labels) {
            if let Some(d) = classified::deployment_by_external(tx, &external, source).await? {
                return Ok((Some(d), Some("issue_link")));
            }
        }
    }
    let not_before = rules
        .rules()
        .attribution
        .window_hours
        .map(|h| incident.created_at - Duration::hours(h));
    let inferred = finder
        .latest_before(tx, incident.created_at, incident.repository_id, not_before)
        .await?;
    Ok((inferred, inferred.map(|_| "inferred")))
}
