//! Which rows a list filter covers: a date range plus optional repository, project and team.
//!
//! Ownership rules (the roll-up rules of `docs/METRICS.md`):
//! - a **team** stands for itself and all its sub-teams (following `parent_id` down);
//! - a team owns the **projects** linked to it (`project_teams`); a project covers its
//!   repositories, its Jira projects (by key) and its boards (and the keys of those boards);
//! - a pull request belongs to a team through its repository or through its author's membership;
//!   an issue through its Jira project or its assignee's membership; a deployment through any of
//!   its repositories; an incident through its team, its repository, or the repositories of the
//!   deployment charged with it.
//!
//! Sets are resolved per request (teams, projects and memberships are small); the item tables are
//! filtered in SQL.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use pulse_core::Result;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entity::{
    boards, project_boards, project_jira_projects, project_repositories, project_teams,
    team_members, teams,
};
use crate::TenantTx;

/// A filter shared by the list functions. Every set field narrows the result (they combine with
/// AND); the date range applies to the time column each list documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// At or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only this repository (by id).
    pub repository: Option<Uuid>,
    /// Only this team and its sub-teams (by id).
    pub team: Option<Uuid>,
    /// Only this project (by id).
    pub project: Option<Uuid>,
}

/// The team and all its descendants (the team itself first). Unknown teams give an empty set; a
/// cycle in the parent chain cannot loop.
pub async fn team_and_descendants(tx: &TenantTx, team: Uuid) -> Result<Vec<Uuid>> {
    let all: Vec<(Uuid, Option<Uuid>)> = teams::Entity::find()
        .select_only()
        .column(teams::Column::Id)
        .column(teams::Column::ParentId)
        .filter(teams::Column::ClientId.eq(tx.client_uuid()))
        .into_tuple()
        .all(tx.conn())
        .await?;
    if !all.iter().any(|(id, _)| *id == team) {
        return Ok(Vec::new());
    }
    let mut children: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (id, parent) in &all {
        if let Some(p) = parent {
            children.entry(*p).or_default().push(*id);
        }
    }
    let mut seen = HashSet::from([team]);
    let mut out = vec![team];
    let mut i = 0;
    while i < out.len() {
        for child in children.get(&out[i]).into_iter().flatten() {
            if seen.insert(*child) {
                out.push(*child);
            }
        }
        i += 1;
    }
    Ok(out)
}

/// What a project (or the projects of a team) covers.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// Repositories.
    pub repositories: Vec<Uuid>,
    /// Jira project keys, including those of the boards.
    pub jira_keys: Vec<String>,
    /// Boards, including every board of the Jira keys.
    pub boards: Vec<Uuid>,
}

/// The projects owned by these teams.
pub async fn projects_of_teams(tx: &TenantTx, teams: &[Uuid]) -> Result<Vec<Uuid>> {
    Ok(project_teams::Entity::find()
        .select_only()
        .column(project_teams::Column::ProjectId)
        .filter(project_teams::Column::ClientId.eq(tx.client_uuid()))
        .filter(project_teams::Column::TeamId.is_in(teams.iter().copied()))
        .distinct()
        .into_tuple()
        .all(tx.conn())
        .await?)
}

/// The teams that own these projects.
pub async fn teams_of_projects(tx: &TenantTx, projects: &[Uuid]) -> Result<Vec<Uuid>> {
    Ok(project_teams::Entity::find()
        .select_only()
        .column(project_teams::Column::TeamId)
        .filter(project_teams::Column::ClientId.eq(tx.client_uuid()))
        .filter(project_teams::Column::ProjectId.is_in(projects.iter().copied()))
        .distinct()
        .into_tuple()
        .all(tx.conn())
        .await?)
}

/// The projects that cover this repository.
pub async fn projects_with_repository(tx: &TenantTx, repository: Uuid) -> Result<Vec<Uuid>> {
    Ok(project_repositories::Entity::find()
        .select_only()
        .column(project_repositories::Column::ProjectId)
        .filter(project_repositories::Column::ClientId.eq(tx.client_uuid()))
        .filter(project_repositories::Column::RepositoryId.eq(repository))
        .distinct()
        .into_tuple()
        .all(tx.conn())
        .await?)
}

/// What these projects cover.
pub async fn coverage(tx: &TenantTx, projects: &[Uuid]) -> Result<Coverage> {
    let c = tx.client_uuid();
    let repositories = project_repositories::Entity::find()
        .select_only()
        .column(project_repositories::Column::RepositoryId)
        .filter(project_repositories::Column::ClientId.eq(c))
        .filter(project_repositories::Column::ProjectId.is_in(projects.iter().copied()))
        .distinct()
        .into_tuple()
        .all(tx.conn())
        .await?;
    let mut keys: HashSet<String> = project_jira_projects::Entity::find()
        .select_only()
        .column(project_jira_projects::Column::JiraKey)
        .filter(project_jira_projects::Column::ClientId.eq(c))
        .filter(project_jira_projects::Column::ProjectId.is_in(projects.iter().copied()))
        .into_tuple::<String>()
        .all(tx.conn())
        .await?
        .into_iter()
        .collect();
    let linked: Vec<Uuid> = project_boards::Entity::find()
        .select_only()
        .column(project_boards::Column::BoardId)
        .filter(project_boards::Column::ClientId.eq(c))
        .filter(project_boards::Column::ProjectId.is_in(projects.iter().copied()))
        .into_tuple()
        .all(tx.conn())
        .await?;
    let linked_keys: Vec<Option<String>> = boards::Entity::find()
        .select_only()
        .column(boards::Column::ProjectKey)
        .filter(boards::Column::ClientId.eq(c))
        .filter(boards::Column::Id.is_in(linked.iter().copied()))
        .into_tuple()
        .all(tx.conn())
        .await?;
    keys.extend(linked_keys.into_iter().flatten());
    let mut board_set: HashSet<Uuid> = linked.into_iter().collect();
    let keyed: Vec<Uuid> = boards::Entity::find()
        .select_only()
        .column(boards::Column::Id)
        .filter(boards::Column::ClientId.eq(c))
        .filter(boards::Column::ProjectKey.is_in(keys.iter().cloned()))
        .into_tuple()
        .all(tx.conn())
        .await?;
    board_set.extend(keyed);
    let mut jira_keys: Vec<String> = keys.into_iter().collect();
    jira_keys.sort();
    Ok(Coverage {
        repositories,
        jira_keys,
        boards: board_set.into_iter().collect(),
    })
}

/// The people who are members of any of these teams.
pub async fn members_of(tx: &TenantTx, teams: &[Uuid]) -> Result<Vec<Uuid>> {
    Ok(team_members::Entity::find()
        .select_only()
        .column(team_members::Column::PersonId)
        .filter(team_members::Column::ClientId.eq(tx.client_uuid()))
        .filter(team_members::Column::TeamId.is_in(teams.iter().copied()))
        .distinct()
        .into_tuple()
        .all(tx.conn())
        .await?)
}

/// A team filter resolved to sets.
#[derive(Debug, Clone, Default)]
pub struct TeamScope {
    /// The team and its sub-teams.
    pub teams: Vec<Uuid>,
    /// What their projects cover.
    pub coverage: Coverage,
    /// Their members.
    pub members: Vec<Uuid>,
}

/// Resolves a team filter.
pub async fn team_scope(tx: &TenantTx, team: Uuid) -> Result<TeamScope> {
    let teams = team_and_descendants(tx, team).await?;
    let projects = projects_of_teams(tx, &teams).await?;
    Ok(TeamScope {
        coverage: coverage(tx, &projects).await?,
        members: members_of(tx, &teams).await?,
        teams,
    })
}

/// Every team of the client (teams are few): `(id, parent, name)`.
pub async fn all_teams(tx: &TenantTx) -> Result<Vec<teams::Model>> {
    Ok(teams::Entity::find()
        .filter(teams::Column::ClientId.eq(tx.client_uuid()))
        .all(tx.conn())
        .await?)
}

/// Every project of the client (projects are few).
pub async fn all_projects(tx: &TenantTx) -> Result<Vec<crate::entity::projects::Model>> {
    use crate::entity::projects;
    Ok(projects::Entity::find()
        .filter(projects::Column::ClientId.eq(tx.client_uuid()))
        .all(tx.conn())
        .await?)
}

/// What one team owns directly (without its sub-teams): its projects' coverage and its members.
pub async fn own_team_scope(tx: &TenantTx, team: Uuid) -> Result<TeamScope> {
    let projects = projects_of_teams(tx, &[team]).await?;
    Ok(TeamScope {
        coverage: coverage(tx, &projects).await?,
        members: members_of(tx, &[team]).await?,
        teams: vec![team],
    })
}
