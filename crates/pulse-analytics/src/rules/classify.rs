//! Applying the rules to rows: pure functions from a row's facts to what the rules make of it.
//! The recomputation (`super::recompute`) loads the facts, calls these and stores the answers.

use std::collections::{HashMap, HashSet};

use pulse_metrics::dora::AttributionRule;
use regex::Regex;
use uuid::Uuid;

use super::document::{Patterns, Rules};

/// Deployment origins as stored.
pub mod origin {
    /// A GitHub Deployment.
    pub const GITHUB_DEPLOYMENT: &str = "github_deployment";
    /// A CI workflow run.
    pub const WORKFLOW_RUN: &str = "workflow_run";
    /// A release.
    pub const RELEASE: &str = "release";
    /// A tag.
    pub const TAG: &str = "tag";
    /// The deployment webhook.
    pub const WEBHOOK: &str = "webhook";
    /// Recorded by hand.
    pub const MANUAL: &str = "manual";
    /// A merged pull request standing in for a deployment (the fallback).
    pub const MERGED_PR: &str = "merged_pr";
}

/// How an incident found by the rules was found (stored as the incident's `origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentOrigin {
    /// A tracker issue matched by type or label.
    IssueRule,
    /// A GitHub label matched the label pattern.
    LabelRule,
    /// A revert pull request.
    RevertPr,
}

impl IncidentOrigin {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentOrigin::IssueRule => "issue_rule",
            IncidentOrigin::LabelRule => "label_rule",
            IncidentOrigin::RevertPr => "revert_pr",
        }
    }
}

/// What the rules need to know about a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentFacts<'a> {
    /// How it was detected (see [`origin`]).
    pub origin: &'a str,
    /// Environment.
    pub environment: &'a str,
    /// Name: the workflow's for a run, the tag for a release or tag.
    pub name: Option<&'a str>,
    /// Branch of a workflow run.
    pub branch: Option<&'a str>,
    /// What the source said about production.
    pub reported_production: Option<bool>,
}

/// What the rules make of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentClass {
    /// It counts as a deployment.
    pub counted: bool,
    /// It counts and is production.
    pub production: bool,
}

/// What the rules need to know about a tracker issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueFacts<'a> {
    /// The system it came from (`github` for GitHub issues).
    pub source: &'a str,
    /// Type as the tracker names it.
    pub issue_type: &'a str,
    /// Pulse's standard type.
    pub standard_type: &'a str,
    /// Labels.
    pub labels: &'a [String],
}

/// What the rules need to know about a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullRequestFacts<'a> {
    /// Title.
    pub title: &'a str,
    /// It was merged.
    pub merged: bool,
    /// It names a pull request it reverts.
    pub reverts: bool,
    /// Labels.
    pub labels: &'a [String],
    /// Target branch, when known.
    pub base_branch: Option<&'a str>,
}

/// The source of GitHub issues, whose labels the GitHub label pattern reads.
pub const GITHUB_SOURCE: &str = "github";

/// A valid rules document, compiled for classification.
#[derive(Debug, Clone)]
pub struct Compiled {
    rules: Rules,
    patterns: Patterns,
    issue_types: HashSet<String>,
    labels: HashSet<String>,
}

fn matches(re: &Option<Regex>, value: Option<&str>) -> bool {
    match re {
        None => true,
        Some(re) => value.is_some_and(|v| re.is_match(v)),
    }
}

impl Compiled {
    /// Compiles a document (validating it).
    pub fn new(rules: Rules) -> pulse_core::Result<Self> {
        let patterns = rules.patterns()?;
        let lower = |l: &[String]| l.iter().map(|s| s.trim().to_lowercase()).collect();
        Ok(Self {
            issue_types: lower(&rules.incidents.issue_types),
            labels: lower(&rules.incidents.labels),
            rules,
            patterns,
        })
    }

    /// The document.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Whether the deployment counts, and whether it is production:
    ///
    /// - counted by its origin's rule (GitHub Deployments by environment, workflow runs by name
    ///   and branch, releases and tags by tag, webhook and manual pushes by switch, merged-PR
    ///   fallbacks when the fallback is on); an origin Pulse does not know counts;
    /// - production when counted and either a merged-PR fallback, or (with `use_source_flag`)
    ///   what the source said, or else when the environment matches `production.environment`.
    pub fn deployment(&self, d: &DeploymentFacts) -> DeploymentClass {
        let r = &self.rules.deployments;
        let p = &self.patterns;
        let counted = match d.origin {
            origin::GITHUB_DEPLOYMENT => {
                r.github_deployments.enabled && matches(&p.github_environment, Some(d.environment))
            }
            origin::WORKFLOW_RUN => {
                r.workflow_runs.enabled
                    && matches(&p.workflow_name, d.name)
                    && matches(&p.workflow_branch, d.branch)
            }
            origin::RELEASE | origin::TAG => r.releases.enabled && matches(&p.release_tag, d.name),
            origin::WEBHOOK => r.webhook,
            origin::MANUAL => r.manual,
            origin::MERGED_PR => r.merged_pr_fallback,
            _ => true,
        };
        let production = counted
            && (d.origin == origin::MERGED_PR
                || match d.reported_production {
                    Some(said) if self.rules.production.use_source_flag => said,
                    _ => p.production.is_match(d.environment),
                });
        DeploymentClass {
            counted,
            production,
        }
    }

    /// Whether a tracker issue is an incident, and by which rule: its type or standard type is one
    /// of `issue_types`, or it has one of `labels` (both ignoring case): `issue_rule`; a GitHub
    /// issue with a label matching `github_labels`: `label_rule`.
    pub fn issue_incident(&self, i: &IssueFacts) -> Option<IncidentOrigin> {
        let typed = self
            .issue_types
            .contains(&i.issue_type.trim().to_lowercase())
            || self
                .issue_types
                .contains(&i.standard_type.trim().to_lowercase());
        let labelled = i
            .labels
            .iter()
            .any(|l| self.labels.contains(&l.trim().to_lowercase()));
        if typed || labelled {
            return Some(IncidentOrigin::IssueRule);
        }
        let github = i.source == GITHUB_SOURCE && self.github_label(i.labels);
        github.then_some(IncidentOrigin::LabelRule)
    }

    /// Whether a pull request is an incident: a merged revert when `revert_prs` is on
    /// (`revert_pr`), else any pull request with a label matching `github_labels` (`label_rule`).
    pub fn pull_request_incident(&self, p: &PullRequestFacts) -> Option<IncidentOrigin> {
        let revert = p.reverts || p.title.starts_with("Revert \"");
        if self.rules.incidents.revert_prs && p.merged && revert {
            return Some(IncidentOrigin::RevertPr);
        }
        self.github_label(p.labels)
            .then_some(IncidentOrigin::LabelRule)
    }

    fn github_label(&self, labels: &[String]) -> bool {
        self.patterns
            .github_labels
            .as_ref()
            .is_some_and(|re| labels.iter().any(|l| re.is_match(l)))
    }

    /// Whether any incident rule is on (otherwise no issue or pull request needs reading).
    pub fn finds_incidents(&self) -> bool {
        let i = &self.rules.incidents;
        !i.issue_types.is_empty()
            || !i.labels.is_empty()
            || i.github_labels.is_some()
            || i.revert_prs
    }

    /// Whether a merged pull request stands in for a deployment of a repository without one
    /// (when the fallback is on): it was merged into the default branch. The default branch is
    /// the repository's, or `main` or `master` when the repository does not say; a pull request
    /// that does not name its target branch is taken to target the default branch.
    pub fn fallback_pull_request(
        &self,
        p: &PullRequestFacts,
        default_branch: Option<&str>,
    ) -> bool {
        if !self.rules.deployments.merged_pr_fallback || !p.merged {
            return false;
        }
        match (p.base_branch, default_branch) {
            (None, _) => true,
            (Some(base), Some(default)) => base == default,
            (Some(base), None) => base == "main" || base == "master",
        }
    }

    /// The deployment an issue's labels name under `attribution.issue_link`: the first label that
    /// matches gives its first capture group (or the group named `deployment`), trimmed.
    pub fn issue_link(&self, labels: &[String]) -> Option<String> {
        let re = self.patterns.issue_link.as_ref()?;
        labels.iter().find_map(|l| {
            let caps = re.captures(l)?;
            let m = caps.name("deployment").or_else(|| caps.get(1))?;
            let id = m.as_str().trim();
            (!id.is_empty()).then(|| id.to_string())
        })
    }

    /// The attribution rule the DORA formulas apply.
    pub fn attribution(&self) -> AttributionRule {
        AttributionRule {
            window: self
                .rules
                .attribution
                .window_hours
                .map(|h| std::time::Duration::from_secs(h.max(0) as u64 * 3600)),
        }
    }
}

/// Which rules apply to which rows: the client's, and the overrides of projects, each covering the
/// project's repositories and Jira project keys. When several projects with an override cover the
/// same repository or key, the project created first (lowest id) wins there.
#[derive(Debug, Clone)]
pub struct RuleBook {
    client: Compiled,
    projects: Vec<(Uuid, Compiled)>,
    by_repository: HashMap<Uuid, usize>,
    by_key: HashMap<String, usize>,
}

/// What one project with an override covers.
#[derive(Debug, Clone, Default)]
pub struct Covered {
    /// Repositories.
    pub repositories: Vec<Uuid>,
    /// Jira project keys.
    pub jira_keys: Vec<String>,
}

impl RuleBook {
    /// The client's rules alone.
    pub fn client_only(client: Compiled) -> Self {
        Self {
            client,
            projects: Vec::new(),
            by_repository: HashMap::new(),
            by_key: HashMap::new(),
        }
    }

    /// The client's rules and the effective rules of the projects with an override, with what
    /// each project covers.
    pub fn new(client: Compiled, mut projects: Vec<(Uuid, Compiled, Covered)>) -> Self {
        projects.sort_by_key(|(id, _, _)| *id);
        let mut by_repository = HashMap::new();
        let mut by_key = HashMap::new();
        let mut compiled = Vec::with_capacity(projects.len());
        for (i, (id, rules, covered)) in projects.into_iter().enumerate() {
            for r in covered.repositories {
                by_repository.entry(r).or_insert(i);
            }
            for k in covered.jira_keys {
                by_key.entry(k).or_insert(i);
            }
            compiled.push((id, rules));
        }
        Self {
            client,
            projects: compiled,
            by_repository,
            by_key,
        }
    }

    /// The client's rules.
    pub fn client(&self) -> &Compiled {
        &self.client
    }

    /// Whether any project has an override.
    pub fn has_overrides(&self) -> bool {
        !self.projects.is_empty()
    }

    /// Every distinct set of rules in use (the client's first).
    pub fn all(&self) -> impl Iterator<Item = &Compiled> {
        std::iter::once(&self.client).chain(self.projects.iter().map(|(_, c)| c))
    }

    /// The project whose override applies to this repository, if any.
    pub fn project_of_repository(&self, repository: Uuid) -> Option<Uuid> {
        self.by_repository
            .get(&repository)
            .map(|&i| self.projects[i].0)
    }

    /// The project whose override applies to this Jira project key, if any.
    pub fn project_of_key(&self, key: &str) -> Option<Uuid> {
        self.by_key.get(key).map(|&i| self.projects[i].0)
    }

    /// Rules of a row in these repositories (a deployment may span several): the first project,
    /// by id, with an override covering any of them; else the client's.
    pub fn for_repositories(&self, repositories: &[Uuid]) -> &Compiled {
        repositories
            .iter()
            .filter_map(|r| self.by_repository.get(r).copied())
            .min()
            .map_or(&self.client, |i| &self.projects[i].1)
    }

    /// Rules of an issue with this Jira project key.
    pub fn for_key(&self, key: Option<&str>) -> &Compiled {
        key.and_then(|k| self.by_key.get(k))
            .map_or(&self.client, |&i| &self.projects[i].1)
    }

    /// Rules of an incident: by its repository when it names one, else by its issue's key.
    pub fn for_incident(&self, repository: Option<Uuid>, issue_key: Option<&str>) -> &Compiled {
        match repository {
            Some(r) if self.by_repository.contains_key(&r) => self.for_repositories(&[r]),
            Some(_) => &self.client,
            None => self.for_key(issue_key),
        }
    }
}
