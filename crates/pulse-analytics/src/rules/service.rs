//! Reading and changing the stored rules. The HTTP API and the command line call these; each
//! change is validated first (nothing is stored when it is invalid) and recomputes what depends on
//! it in the same transaction.

use chrono::{DateTime, Utc};
use pulse_core::{Error, Result};
use pulse_db::entity::projects;
use pulse_db::repo::{ingested, rules as stored, scope as org};
use pulse_db::TenantTx;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::classify::{Compiled, Covered, RuleBook};
use super::document::{apply_partial, diff_paths, leaf_paths, parse, prune, Rules};
use super::recompute::{recompute, Recomputed, Scope};

/// A stored document that no longer reads (written by another version): an internal error, not
/// the caller's fault.
fn stored_invalid(what: &str, e: Error) -> Error {
    Error::internal(anyhow::anyhow!("the stored {what} are invalid: {e}"))
}

/// The client's rules (Pulse's defaults when none were saved) and when they were saved.
pub async fn client_rules(tx: &TenantTx) -> Result<(Rules, Option<DateTime<Utc>>)> {
    match stored::client(tx).await? {
        Some(s) => Ok((
            parse(s.document).map_err(|e| stored_invalid("client rules", e))?,
            Some(s.updated_at),
        )),
        None => Ok((Rules::default(), None)),
    }
}

fn project_rules(client: &Rules, doc: &Value) -> Result<Rules> {
    apply_partial(client, doc).map_err(|e| stored_invalid("project rules", e))
}

/// Every rules set in force: the client's and each project override merged over it, with what
/// each of those projects covers.
pub async fn rule_book(tx: &TenantTx) -> Result<RuleBook> {
    let (client, _) = client_rules(tx).await?;
    let mut projects = Vec::new();
    for (project, doc) in stored::overrides(tx).await? {
        let rules = project_rules(&client, &doc.document)?;
        let cov = org::coverage(tx, &[project]).await?;
        projects.push((
            project,
            Compiled::new(rules)?,
            Covered {
                repositories: cov.repositories,
                jira_keys: cov.jira_keys,
            },
        ));
    }
    Ok(RuleBook::new(Compiled::new(client)?, projects))
}

/// The rules a report applies: the project's effective rules when the report is filtered to a
/// project, the client's otherwise.
pub async fn effective(tx: &TenantTx, project: Option<Uuid>) -> Result<Compiled> {
    let (client, _) = client_rules(tx).await?;
    let rules = match project {
        Some(p) => match stored::project(tx, p).await? {
            Some(doc) => project_rules(&client, &doc.document)?,
            None => client,
        },
        None => client,
    };
    Compiled::new(rules)
}

/// The client's rules as the API shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientRulesView {
    /// The client's rules (every field, defaults included).
    pub rules: Rules,
    /// Whether the client saved rules (false: Pulse's defaults).
    pub customized: bool,
    /// Fields that differ from Pulse's defaults, as dotted paths (`production.environment`).
    pub changed_from_defaults: Vec<String>,
    /// When the rules were last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// Projects that override some of these rules.
    pub project_overrides: Vec<Uuid>,
}

/// A project's rules as the API shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProjectRulesView {
    /// The project.
    pub project_id: Uuid,
    /// The rules in force for the project: the client's with the override merged over them.
    pub rules: Rules,
    /// The client's rules.
    pub client_rules: Rules,
    /// The project's override as stored (a partial rules document), or null.
    #[serde(rename = "override")]
    #[schema(value_type = Option<Object>)]
    pub override_document: Option<Value>,
    /// Fields the override sets, as dotted paths.
    pub overridden: Vec<String>,
    /// When the override was last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// Projects created earlier whose overrides apply instead of this one's to some of this
    /// project's repositories or Jira projects (shared with them).
    pub preceded_by: Vec<Uuid>,
}

/// The client's rules after a change, and what the change recomputed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientRulesChange {
    /// The rules now.
    pub rules: ClientRulesView,
    /// Fields the change modified, as dotted paths (empty when it changed nothing).
    pub changed: Vec<String>,
    /// What was recomputed.
    pub recomputed: Recomputed,
}

/// A project's rules after a change, and what the change recomputed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProjectRulesChange {
    /// The rules now.
    pub rules: ProjectRulesView,
    /// Fields of the project's effective rules the change modified, as dotted paths.
    pub changed: Vec<String>,
    /// What was recomputed.
    pub recomputed: Recomputed,
}

/// The client's rules.
pub async fn view_client(tx: &TenantTx) -> Result<ClientRulesView> {
    let (rules, updated_at) = client_rules(tx).await?;
    let project_overrides = stored::overrides(tx)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    Ok(ClientRulesView {
        changed_from_defaults: diff_paths(&Rules::default().to_value(), &rules.to_value()),
        customized: updated_at.is_some(),
        rules,
        updated_at,
        project_overrides,
    })
}

async fn check_project(tx: &TenantTx, project: Uuid) -> Result<()> {
    ingested::get::<projects::Entity>(tx, project)
        .await
        .map(|_| ())
}

/// A project's rules (404 for a project that is not the client's).
pub async fn view_project(tx: &TenantTx, project: Uuid) -> Result<ProjectRulesView> {
    check_project(tx, project).await?;
    let (client, _) = client_rules(tx).await?;
    let doc = stored::project(tx, project).await?;
    let rules = match &doc {
        Some(d) => project_rules(&client, &d.document)?,
        None => client.clone(),
    };
    let book = rule_book(tx).await?;
    let cov = org::coverage(tx, &[project]).await?;
    let mut preceded_by: Vec<Uuid> = cov
        .repositories
        .iter()
        .filter_map(|r| book.project_of_repository(*r))
        .chain(cov.jira_keys.iter().filter_map(|k| book.project_of_key(k)))
        .filter(|p| *p != project && (doc.is_none() || *p < project))
        .collect();
    preceded_by.sort();
    preceded_by.dedup();
    Ok(ProjectRulesView {
        project_id: project,
        rules,
        client_rules: client,
        overridden: doc
            .as_ref()
            .map(|d| leaf_paths(&d.document))
            .unwrap_or_default(),
        updated_at: doc.as_ref().map(|d| d.updated_at),
        override_document: doc.map(|d| d.document),
        preceded_by,
    })
}

/// Replaces the client's rules with `document` (fields left out take Pulse's defaults) and
/// recomputes the client.
pub async fn replace_client(tx: &TenantTx, document: Value) -> Result<ClientRulesChange> {
    pulse_db::dialect::lock_client_rules(tx).await?;
    let rules = parse(document)?;
    let (before, _) = client_rules(tx).await?;
    stored::save(tx, None, rules.to_value()).await?;
    let recomputed = recompute(tx, &Scope::Client).await?;
    Ok(ClientRulesChange {
        changed: diff_paths(&before.to_value(), &rules.to_value()),
        rules: view_client(tx).await?,
        recomputed,
    })
}

/// Changes the fields `patch` names (a partial document merged over the client's rules) and
/// recomputes the client.
pub async fn patch_client(tx: &TenantTx, patch: Value) -> Result<ClientRulesChange> {
    pulse_db::dialect::lock_client_rules(tx).await?;
    let (current, _) = client_rules(tx).await?;
    let rules = apply_partial(&current, &patch)?;
    stored::save(tx, None, rules.to_value()).await?;
    let recomputed = recompute(tx, &Scope::Client).await?;
    Ok(ClientRulesChange {
        changed: diff_paths(&current.to_value(), &rules.to_value()),
        rules: view_client(tx).await?,
        recomputed,
    })
}

/// Sets a project's override (a partial document; it replaces any previous override) and
/// recomputes the project's rows.
pub async fn set_project(
    tx: &TenantTx,
    project: Uuid,
    document: Value,
) -> Result<ProjectRulesChange> {
    check_project(tx, project).await?;
    pulse_db::dialect::lock_client_rules(tx).await?;
    let (client, _) = client_rules(tx).await?;
    let after = apply_partial(&client, &document)?;
    let before = view_project(tx, project).await?.rules;
    stored::save(tx, Some(project), prune(&document)).await?;
    let recomputed = recompute(tx, &Scope::Project(project)).await?;
    Ok(ProjectRulesChange {
        changed: diff_paths(&before.to_value(), &after.to_value()),
        rules: view_project(tx, project).await?,
        recomputed,
    })
}

/// Removes a project's override (the client's rules apply again) and recomputes the project's
/// rows.
pub async fn clear_project(tx: &TenantTx, project: Uuid) -> Result<ProjectRulesChange> {
    check_project(tx, project).await?;
    pulse_db::dialect::lock_client_rules(tx).await?;
    let before = view_project(tx, project).await?.rules;
    stored::clear(tx, project).await?;
    let recomputed = recompute(tx, &Scope::Project(project)).await?;
    let rules = view_project(tx, project).await?;
    Ok(ProjectRulesChange {
        changed: diff_paths(&before.to_value(), &rules.rules.to_value()),
        rules,
        recomputed,
    })
}
