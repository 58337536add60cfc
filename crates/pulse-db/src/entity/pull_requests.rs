//! `pull_requests`.
use sea_orm::entity::prelude::*;

/// A pull request. Derived times (`first_commit_at`, `first_review_at`, `approved_at`) and counts are kept up to date from commits and reviews on import.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pull_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    /// The system the row came from (`github`, `jira`, `import`, ...).
    pub source: String,
    /// Its id in that system; unique per client and source.
    pub external_id: String,
    /// When the row was last written by an import or sync.
    pub synced_at: DateTimeUtc,
    pub repository_id: Uuid,
    pub number: Option<i64>,
    pub title: String,
    /// Login of the author as the source reported it.
    pub author_login: Option<String>,
    /// The author resolved to a person.
    pub author_person_id: Option<Uuid>,
    /// `open`, `closed` or `merged`.
    pub state: String,
    /// Opened as a draft.
    pub draft: bool,
    /// Opened.
    pub created_at: DateTimeUtc,
    /// Last change at the source.
    pub updated_at: Option<DateTimeUtc>,
    /// A draft marked ready for review.
    pub ready_for_review_at: Option<DateTimeUtc>,
    /// Earliest commit of the pull request's own history.
    pub first_commit_at: Option<DateTimeUtc>,
    /// First review by someone other than the author.
    pub first_review_at: Option<DateTimeUtc>,
    /// First approval by someone other than the author.
    pub approved_at: Option<DateTimeUtc>,
    pub merged_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub additions: i64,
    pub deletions: i64,
    /// Reviews by someone other than the author.
    pub review_count: i64,
    /// Review and discussion comments.
    pub comment_count: i64,
    pub commit_count: i64,
    pub base_branch: Option<String>,
    pub head_branch: Option<String>,
    /// The merge (or squash) commit; links the pull request to deployments.
    pub merge_commit_sha: Option<String>,
    /// The pull request this one reverts.
    pub revert_of_id: Option<Uuid>,
    /// Label names (JSON array).
    pub labels: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::repo::ingested::keyed!(Entity);
