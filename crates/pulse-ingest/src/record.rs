//! The JSON Lines record types: one JSON object per line, tagged by `type`. Every record has an
//! `id` (its external id) and an optional `source` (default `import`); `(type, source, id)`
//! identifies it, so loading it again updates the stored row. References to other records use
//! their `id` and resolve within the same `source`. Unknown fields are refused.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The source of records that name none.
pub const DEFAULT_SOURCE: &str = "import";

/// A UTC instant written as an RFC 3339 timestamp (`2024-03-04T10:00:00Z`, any offset accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Timestamp(t.with_timezone(&Utc)))
            .map_err(|e| {
                serde::de::Error::custom(format!("`{text}` is not an RFC 3339 timestamp ({e})"))
            })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }
        impl $name {
            /// The stored (and written) name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
    };
}

text_enum!(
    /// A tool a person has an account in.
    Provider { /// GitHub (login).
        Github = "github", /// Jira (account id).
        Jira = "jira" }
);
text_enum!(
    /// State of a pull request.
    PrState { /// Open.
        Open = "open", /// Closed without merging.
        Closed = "closed", /// Merged.
        Merged = "merged" }
);
text_enum!(
    /// State of a submitted review.
    ReviewState { /// Approved.
        Approved = "approved", /// Changes requested.
        ChangesRequested = "changes_requested", /// Commented.
        Commented = "commented", /// Dismissed after submission.
        Dismissed = "dismissed" }
);
text_enum!(
    /// Outcome of a deployment.
    DeploymentStatus { /// Succeeded.
        Success = "success", /// Failed.
        Failure = "failure", /// Cancelled.
        Cancelled = "cancelled", /// Still running.
        InProgress = "in_progress", /// Not reported.
        Unknown = "unknown" }
);
text_enum!(
    /// How a deployment was detected.
    DeploymentOrigin { /// A GitHub Deployment.
        GithubDeployment = "github_deployment", /// A CI workflow run.
        WorkflowRun = "workflow_run", /// A published release.
        Release = "release", /// A pushed tag.
        Tag = "tag", /// Pulse's deployment webhook.
        Webhook = "webhook", /// Recorded by hand.
        Manual = "manual" }
);
text_enum!(
    /// Kind of board.
    BoardKind { /// Scrum (sprints).
        Scrum = "scrum", /// Kanban.
        Kanban = "kanban" }
);
text_enum!(
    /// Sprint state.
    SprintState { /// Not started.
        Future = "future", /// Running.
        Active = "active", /// Completed.
        Closed = "closed" }
);
text_enum!(
    /// Pulse's standard issue type, whatever the tracker calls it.
    StandardType { /// Story or requirement.
        Story = "story", /// Bug.
        Bug = "bug", /// Task.
        Task = "task", /// Sub-task.
        Subtask = "subtask", /// Epic.
        Epic = "epic", /// Production incident.
        Incident = "incident", /// Anything else.
        Other = "other" }
);
text_enum!(
    /// Category of a workflow status.
    StatusCategory { /// Not started.
        ToDo = "to_do", /// Being worked on.
        InProgress = "in_progress", /// Finished.
        Done = "done" }
);
text_enum!(
    /// Where an incident came from.
    IncidentOrigin { /// A tracker issue matched by the incident rules (type, label).
        IssueRule = "issue_rule", /// A GitHub issue or pull request label matched by the rules.
        LabelRule = "label_rule", /// A revert pull request.
        RevertPr = "revert_pr", /// Recorded by hand.
        Manual = "manual" }
);

/// A team. `parent` nests it under another team; `members` lists people (by id) and replaces the
/// team's membership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Name.
    pub name: String,
    /// Parent team id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Member person ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

/// An account of a person in a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// `github` or `jira`.
    pub provider: Provider,
    /// GitHub login or Jira account id.
    pub login: String,
}

/// A person. Accounts of tools are matched to the person by e-mail first, then by `accounts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Display name.
    pub name: String,
    /// E-mail (stored lower-cased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Accounts (replace the person's stored accounts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<Account>,
}

/// A portfolio project: what it covers and which teams own it (each list replaces the stored one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Name.
    pub name: String,
    /// Owning team ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    /// Repository ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    /// Jira project keys (e.g. `PAY`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jira_projects: Vec<String>,
    /// Board ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boards: Vec<String>,
}

/// A repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `owner/name`.
    pub full_name: String,
    /// Default branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
    /// Web address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Repository id.
    pub repository: String,
    /// Number in the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    /// Title.
    pub title: String,
    /// Author's login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Author's e-mail, when known (matches a person first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_email: Option<String>,
    /// `open`, `closed` or `merged`.
    pub state: PrState,
    /// Opened as a draft.
    #[serde(default)]
    pub draft: bool,
    /// Opened.
    pub created_at: Timestamp,
    /// Last changed at the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    /// A draft marked ready for review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_for_review_at: Option<Timestamp>,
    /// First commit (otherwise derived from its commits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_commit_at: Option<Timestamp>,
    /// First review by someone else (otherwise derived from its reviews).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_review_at: Option<Timestamp>,
    /// First approval by someone else (otherwise derived from its reviews).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<Timestamp>,
    /// Merged (required when `state` is `merged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_at: Option<Timestamp>,
    /// Closed (merged or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    /// Lines added.
    #[serde(default)]
    pub additions: u64,
    /// Lines deleted.
    #[serde(default)]
    pub deletions: u64,
    /// Review and discussion comments (at least the `review_comment` records loaded).
    #[serde(default)]
    pub comment_count: u64,
    /// Target branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_branch: Option<String>,
    /// Source branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_branch: Option<String>,
    /// The merge or squash commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_commit_sha: Option<String>,
    /// Id of the pull request this one reverts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_of: Option<String>,
    /// Label names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// A commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    /// External id (e.g. `api@<sha>`).
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Repository id.
    pub repository: String,
    /// Commit hash.
    pub sha: String,
    /// First line of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Author's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Author's e-mail (matches a person first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_email: Option<String>,
    /// Author's GitHub login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_login: Option<String>,
    /// Authored.
    pub authored_at: Timestamp,
    /// Committed (default: `authored_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<Timestamp>,
    /// Lines added.
    #[serde(default)]
    pub additions: u64,
    /// Lines deleted.
    #[serde(default)]
    pub deletions: u64,
    /// Pull requests whose own history contains the commit (added to their commits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_requests: Vec<String>,
}

/// A submitted pull-request review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Pull request id.
    pub pull_request: String,
    /// Reviewer's login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<String>,
    /// `approved`, `changes_requested`, `commented` or `dismissed`.
    pub state: ReviewState,
    /// Submitted.
    pub submitted_at: Timestamp,
}

/// A review or discussion comment on a pull request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewComment {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Pull request id.
    pub pull_request: String,
    /// Review id, when the comment belongs to a review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// Author's login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Written.
    pub created_at: Timestamp,
}

/// A repository a deployment deployed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployedRepository {
    /// Repository id.
    pub repository: String,
    /// The commit deployed there (links the pull request merged as that commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
}

/// A deployment, possibly of several repositories (it counts once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Name (workflow, release, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Environment as the source names it.
    pub environment: String,
    /// Production or not, as the source says (default: decided by the client's metric rules,
    /// out of the box an environment containing `prod`, ignoring case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_production: Option<bool>,
    /// Branch (or ref) a workflow run deployed from (read by the metric rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Outcome.
    pub status: DeploymentStatus,
    /// How it was detected.
    pub origin: DeploymentOrigin,
    /// Started.
    pub started_at: Timestamp,
    /// Finished (absent while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Repositories deployed (at least one; replaces the stored list).
    pub repositories: Vec<DeployedRepository>,
    /// Pull requests shipped (replaces the stored list; merge-commit links are added).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_requests: Vec<String>,
    /// Commit ids shipped (replaces the stored list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
    /// Web address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A Jira board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Name.
    pub name: String,
    /// `scrum` or `kanban`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<BoardKind>,
    /// Jira project key of the board.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_key: Option<String>,
}

/// A sprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sprint {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Board id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<String>,
    /// Name.
    pub name: String,
    /// `future`, `active` or `closed`.
    pub state: SprintState,
    /// Started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<Timestamp>,
    /// Planned end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<Timestamp>,
    /// Completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_at: Option<Timestamp>,
}

/// An issue's membership of a sprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SprintMembership {
    /// Sprint id.
    pub sprint: String,
    /// Added (absent: before the sprint started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_at: Option<Timestamp>,
    /// Removed (absent: still in the sprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<Timestamp>,
}

/// A Jira issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issue {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Key, e.g. `PAY-12`.
    pub key: String,
    /// Jira project key (default: the key up to its last `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_key: Option<String>,
    /// Summary.
    pub title: String,
    /// Issue type as the tracker names it.
    pub issue_type: String,
    /// Pulse's standard type.
    pub standard_type: StandardType,
    /// Status name.
    pub status: String,
    /// Status category.
    pub status_category: StatusCategory,
    /// Priority name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    /// Resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    /// Story points (zero or more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story_points: Option<f64>,
    /// Parent issue id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Epic issue id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epic: Option<String>,
    /// Assignee's Jira account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Assignee's e-mail (matches a person first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_email: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Sprints it was in (replaces the stored memberships).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sprints: Vec<SprintMembership>,
}

/// A status change of an issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// External id (e.g. the changelog entry id).
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Issue id.
    pub issue: String,
    /// When.
    pub at: Timestamp,
    /// Status before (absent for the creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_status: Option<String>,
    /// Category before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_category: Option<StatusCategory>,
    /// Status after.
    pub to_status: String,
    /// Category after.
    pub to_category: StatusCategory,
    /// Account id of who changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// A production incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// External id.
    pub id: String,
    /// Source system (default `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Title.
    pub title: String,
    /// Where it came from.
    pub origin: IncidentOrigin,
    /// Severity as named by the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Opened.
    pub created_at: Timestamp,
    /// Resolved (absent while open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    /// Issue id it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    /// Revert pull request id it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<String>,
    /// Affected repository id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Responsible team id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Deployment id that caused it (explicit link; always wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
}

/// One line of an import file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Record {
    Team(Team),
    Person(Person),
    Project(Project),
    Repository(Repository),
    PullRequest(PullRequest),
    Commit(Commit),
    Review(Review),
    ReviewComment(ReviewComment),
    Deployment(Deployment),
    Board(Board),
    Sprint(Sprint),
    Issue(Issue),
    Transition(Transition),
    Incident(Incident),
}

/// The record types, in the order they are applied (referenced types first).
pub const TYPES: [Kind; 14] = [
    Kind::Team,
    Kind::Person,
    Kind::Repository,
    Kind::Board,
    Kind::Project,
    Kind::PullRequest,
    Kind::Commit,
    Kind::Review,
    Kind::ReviewComment,
    Kind::Deployment,
    Kind::Sprint,
    Kind::Issue,
    Kind::Transition,
    Kind::Incident,
];

text_enum!(
    /// The `type` of a record.
    Kind { /// [`Team`].
        Team = "team", /// [`Person`].
        Person = "person", /// [`Project`].
        Project = "project", /// [`Repository`].
        Repository = "repository", /// [`PullRequest`].
        PullRequest = "pull_request", /// [`Commit`].
        Commit = "commit", /// [`Review`].
        Review = "review", /// [`ReviewComment`].
        ReviewComment = "review_comment", /// [`Deployment`].
        Deployment = "deployment", /// [`Board`].
        Board = "board", /// [`Sprint`].
        Sprint = "sprint", /// [`Issue`].
        Issue = "issue", /// [`Transition`].
        Transition = "transition", /// [`Incident`].
        Incident = "incident" }
);

impl Kind {
    /// The kind named `text`.
    pub fn parse(text: &str) -> Option<Kind> {
        TYPES.into_iter().find(|k| k.as_str() == text)
    }
}

impl Record {
    /// The record's type.
    pub fn kind(&self) -> Kind {
        match self {
            Record::Team(_) => Kind::Team,
            Record::Person(_) => Kind::Person,
            Record::Project(_) => Kind::Project,
            Record::Repository(_) => Kind::Repository,
            Record::PullRequest(_) => Kind::PullRequest,
            Record::Commit(_) => Kind::Commit,
            Record::Review(_) => Kind::Review,
            Record::ReviewComment(_) => Kind::ReviewComment,
            Record::Deployment(_) => Kind::Deployment,
            Record::Board(_) => Kind::Board,
            Record::Sprint(_) => Kind::Sprint,
            Record::Issue(_) => Kind::Issue,
            Record::Transition(_) => Kind::Transition,
            Record::Incident(_) => Kind::Incident,
        }
    }

    /// `(id, source)` of the record, the source defaulted.
    pub fn key(&self) -> (&str, &str) {
        let (id, source) = match self {
            Record::Team(r) => (&r.id, &r.source),
            Record::Person(r) => (&r.id, &r.source),
            Record::Project(r) => (&r.id, &r.source),
            Record::Repository(r) => (&r.id, &r.source),
            Record::PullRequest(r) => (&r.id, &r.source),
            Record::Commit(r) => (&r.id, &r.source),
            Record::Review(r) => (&r.id, &r.source),
            Record::ReviewComment(r) => (&r.id, &r.source),
            Record::Deployment(r) => (&r.id, &r.source),
            Record::Board(r) => (&r.id, &r.source),
            Record::Sprint(r) => (&r.id, &r.source),
            Record::Issue(r) => (&r.id, &r.source),
            Record::Transition(r) => (&r.id, &r.source),
            Record::Incident(r) => (&r.id, &r.source),
        };
        (id.as_str(), source.as_deref().unwrap_or(DEFAULT_SOURCE))
    }
}
