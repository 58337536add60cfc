//! `deployments`.
use sea_orm::entity::prelude::*;

/// A deployment; it may span several repositories (`deployment_repositories`) and counts once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
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
    pub name: Option<String>,
    /// As the source named it.
    pub environment: String,
    /// Derived by the metric rules: counted as a deployment and in a production environment.
    pub is_production: bool,
    /// Derived by the metric rules: the rules count the row as a deployment at all.
    pub counted: bool,
    /// Whether the source said the deployment is production (`None`: it did not say).
    pub reported_production: Option<bool>,
    /// Branch (or ref) a workflow run deployed from, when known.
    pub branch: Option<String>,
    /// `success`, `failure`, `cancelled`, `in_progress` or `unknown`.
    pub status: String,
    /// How it was detected: `github_deployment`, `workflow_run`, `release`, `tag`, `webhook`,
    /// `manual`, or `merged_pr` (a merged pull request standing in for a deployment, created by the
    /// metric rules' fallback with source `rules`).
    pub origin: String,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// Deployed commit when it is one for every repository.
    pub commit_sha: Option<String>,
    pub url: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::repo::ingested::keyed!(Entity);
