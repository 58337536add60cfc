//! Organisation administration: teams and their hierarchy, membership, projects and what they
//! cover, people, their accounts and merges.
//!
//! **Every change to the organisation made by an administrator goes through [`apply`]** (one
//! [`Change`] in, one [`Effect`] out). The effect names the teams, projects and people whose
//! scope changed, so anything derived from the organisation (roll-ups, per-team aggregates) has
//! exactly one place to be invalidated. Imports write organisation records through
//! `pulse_ingest` (upserts by external id) and are not routed here.
//!
//! Rows created here get the source [`MANUAL_SOURCE`] and their own id as external id, so no
//! import can collide with them.
//!
//! Rules:
//! - a team's parent must be another team of the client and must not be one of its descendants
//!   (no cycles);
//! - deleting a team moves its sub-teams up to its parent (top level when it had none), removes
//!   its memberships and project ownership links, and clears it from incidents charged to it;
//!   people and projects stay;
//! - deleting a project removes its links (repositories, Jira keys, boards, teams) only;
//! - merging person `from` into `into` moves `from`'s memberships, accounts and every reference
//!   (pull-request and commit authors, reviewers, comment authors, issue assignees) to `into`,
//!   and marks `from` as merged: its row stays so that re-imports of its source record update it
//!   rather than create a duplicate, and everything that resolves to it resolves to `into`;
//! - mapping an account explicitly attaches it to the person (moving it from another person if
//!   needed), marks it explicit so imports leave it alone and it wins over e-mail matches, and
//!   re-points the rows by that login; unmapping removes the explicit mapping and re-resolves
//!   those rows by the remaining rules (e-mail where the row keeps one, imported accounts).

use std::collections::{BTreeSet, HashMap, HashSet};

use pulse_core::{Error, FieldError, Result};
use sea_orm::sea_query::{Alias, Expr, Func, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use uuid::Uuid;

use super::people::{follow, merged_map, PersonResolver};
use super::{now, Page, Paged};
use crate::entity::{
    boards, incidents, people, person_accounts, project_boards, project_jira_projects,
    project_repositories, project_teams, projects, repositories, team_members, teams,
};
use crate::TenantTx;

/// The source of rows created by an administrator.
pub const MANUAL_SOURCE: &str = "manual";

/// Account providers.
pub const PROVIDERS: [&str; 2] = ["github", "jira"];

// ---------------------------------------------------------------------------------------------
// Pure validation.

/// A display name: 1 to 200 characters after trimming.
pub fn check_name(field: &str, name: &str) -> Result<String> {
    let trimmed = name.trim();
    let len = trimmed.chars().count();
    if (1..=200).contains(&len) {
        Ok(trimmed.to_string())
    } else {
        Err(Error::invalid(field, "must be 1 to 200 characters"))
    }
}

/// A Jira project key, upper-cased: a letter, then letters, digits or `_` (at most 50).
pub fn check_jira_key(key: &str) -> Result<String> {
    let key = key.trim().to_uppercase();
    let ok = key.len() <= 50
        && key.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(key)
    } else {
        Err(Error::invalid(
            "jira_key",
            "must be a Jira project key: a letter, then letters, digits or _ (e.g. PAY)",
        ))
    }
}

/// An account: provider `github` or `jira`, and a login (GitHub) or account id (Jira), stored
/// trimmed and lower-cased.
pub fn check_account(provider: &str, login: &str) -> Result<(String, String)> {
    let mut problems = Vec::new();
    let provider = provider.trim().to_lowercase();
    if !PROVIDERS.contains(&provider.as_str()) {
        problems.push(FieldError::new("provider", "must be github or jira"));
    }
    let login = login.trim().to_lowercase();
    if login.is_empty() || login.chars().count() > 200 {
        problems.push(FieldError::new("login", "must be 1 to 200 characters"));
    }
    if problems.is_empty() {
        Ok((provider, login))
    } else {
        Err(Error::Validation(problems))
    }
}

/// An e-mail address for a person (lower-cased).
pub fn check_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    pulse_core::validate::check_email(&email)?;
    Ok(email)
}

/// Whether giving `team` the parent `parent` would close a cycle, given every team's current
/// parent. True when `parent` is `team` itself or one of its descendants.
pub fn would_cycle(parents: &HashMap<Uuid, Option<Uuid>>, team: Uuid, parent: Uuid) -> bool {
    let mut current = Some(parent);
    let mut seen = HashSet::new();
    while let Some(id) = current {
        if id == team {
            return true;
        }
        if !seen.insert(id) {
            // An existing cycle not through `team`: linking to it cannot reach `team`.
            return false;
        }
        current = parents.get(&id).copied().flatten();
    }
    false
}

/// `team` and its ancestors, nearest first (cycle-safe).
pub fn with_ancestors(parents: &HashMap<Uuid, Option<Uuid>>, team: Uuid) -> Vec<Uuid> {
    let mut out = Vec::new();
    let mut current = Some(team);
    while let Some(id) = current {
        if out.contains(&id) {
            break;
        }
        out.push(id);
        current = parents.get(&id).copied().flatten();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Changes.

/// Something a project covers or is owned by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// A repository (by id).
    Repository(Uuid),
    /// A Jira project key.
    JiraKey(String),
    /// A board (by id).
    Board(Uuid),
    /// An owning team (by id).
    Team(Uuid),
}

impl Link {
    /// The kind's name, for audit entries.
    pub fn kind(&self) -> &'static str {
        match self {
            Link::Repository(_) => "repository",
            Link::JiraKey(_) => "jira_key",
            Link::Board(_) => "board",
            Link::Team(_) => "team",
        }
    }

    /// The linked value as text.
    pub fn value(&self) -> String {
        match self {
            Link::Repository(id) | Link::Board(id) | Link::Team(id) => id.to_string(),
            Link::JiraKey(k) => k.clone(),
        }
    }
}

/// One administrative change to the organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Creates a team, optionally under a parent.
    CreateTeam {
        /// Name.
        name: String,
        /// Parent team.
        parent: Option<Uuid>,
    },
    /// Renames a team and/or sets (`Some(Some(p))`) or clears (`Some(None)`) its parent.
    UpdateTeam {
        /// The team.
        team: Uuid,
        /// New name.
        name: Option<String>,
        /// New parent.
        parent: Option<Option<Uuid>>,
    },
    /// Deletes a team (see the module rules).
    DeleteTeam {
        /// The team.
        team: Uuid,
    },
    /// Adds people to a team (existing members keep their row; `role` updates it when given).
    AddMembers {
        /// The team.
        team: Uuid,
        /// The people.
        people: Vec<Uuid>,
        /// Free-text role in the team (e.g. `lead`).
        role: Option<String>,
    },
    /// Removes a person from a team.
    RemoveMember {
        /// The team.
        team: Uuid,
        /// The person.
        person: Uuid,
    },
    /// Creates a project.
    CreateProject {
        /// Name.
        name: String,
    },
    /// Renames a project.
    RenameProject {
        /// The project.
        project: Uuid,
        /// New name.
        name: String,
    },
    /// Deletes a project and its links.
    DeleteProject {
        /// The project.
        project: Uuid,
    },
    /// Links a repository, Jira key, board or owning team to a project.
    LinkProject {
        /// The project.
        project: Uuid,
        /// What to link.
        link: Link,
    },
    /// Removes such a link.
    UnlinkProject {
        /// The project.
        project: Uuid,
        /// What to unlink.
        link: Link,
    },
    /// Creates a person.
    CreatePerson {
        /// Display name.
        name: String,
        /// E-mail (unique among the client's people).
        email: Option<String>,
    },
    /// Merges `from` into `into`.
    MergePeople {
        /// The person who stays.
        into: Uuid,
        /// The person merged away.
        from: Uuid,
    },
    /// Maps an account to a person explicitly.
    MapAccount {
        /// The person.
        person: Uuid,
        /// `github` or `jira`.
        provider: String,
        /// Login or account id.
        login: String,
    },
    /// Removes an explicit mapping.
    UnmapAccount {
        /// The person.
        person: Uuid,
        /// `github` or `jira`.
        provider: String,
        /// Login or account id.
        login: String,
    },
}

/// What a [`Change`] did, and whose scope it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Effect {
    /// The object created or changed (team, project or person).
    pub id: Option<Uuid>,
    /// False when the change was already in place (adding an existing link, ...).
    pub changed: bool,
    /// Teams whose scope changed (members, projects or sub-teams), with their ancestors.
    pub teams: BTreeSet<Uuid>,
    /// Projects whose coverage or owners changed.
    pub projects: BTreeSet<Uuid>,
    /// People whose identity changed (merged, accounts mapped).
    pub people: BTreeSet<Uuid>,
    /// Sub-teams moved up by a team deletion.
    pub moved_teams: Vec<Uuid>,
    /// Rows (pull requests, commits, reviews, comments, issues) whose person changed.
    pub reassigned_rows: u64,
}

/// Applies one change in `tx` (which the caller commits). The single door for administrative
/// organisation changes; see the module documentation for the rules.
pub async fn apply(tx: &TenantTx, change: Change) -> Result<Effect> {
    let mut effect = Effect::default();
    match change {
        Change::CreateTeam { name, parent } => create_team(tx, name, parent, &mut effect).await?,
        Change::UpdateTeam { team, name, parent } => {
            update_team(tx, team, name, parent, &mut effect).await?
        }
        Change::DeleteTeam { team } => delete_team(tx, team, &mut effect).await?,
        Change::AddMembers { team, people, role } => {
            add_members(tx, team, people, role, &mut effect).await?
        }
        Change::RemoveMember { team, person } => {
            remove_member(tx, team, person, &mut effect).await?
        }
        Change::CreateProject { name } => create_project(tx, name, &mut effect).await?,
        Change::RenameProject { project, name } => {
            let name = check_name("name", &name)?;
            let row = get_project_row(tx, project).await?;
            effect.id = Some(project);
            if row.name != name {
                let mut am: projects::ActiveModel = row.into();
                am.name = Set(name);
                am.synced_at = Set(now());
                am.update(tx.conn()).await?;
                effect.changed = true;
            }
        }
        Change::DeleteProject { project } => {
            get_project_row(tx, project).await?;
            let owners = owners_of(tx, project).await?;
            add_team_scopes(tx, &owners, &mut effect).await?;
            projects::Entity::delete_many()
                .filter(projects::Column::ClientId.eq(tx.client_uuid()))
                .filter(projects::Column::Id.eq(project))
                .exec(tx.conn())
                .await?;
            effect.id = Some(project);
            effect.changed = true;
            effect.projects.insert(project);
        }
        Change::LinkProject { project, link } => {
            link_project(tx, project, link, true, &mut effect).await?
        }
        Change::UnlinkProject { project, link } => {
            link_project(tx, project, link, false, &mut effect).await?
        }
        Change::CreatePerson { name, email } => create_person(tx, name, email, &mut effect).await?,
        Change::MergePeople { into, from } => merge_people(tx, into, from, &mut effect).await?,
        Change::MapAccount {
            person,
            provider,
            login,
        } => map_account(tx, person, &provider, &login, &mut effect).await?,
        Change::UnmapAccount {
            person,
            provider,
            login,
        } => unmap_account(tx, person, &provider, &login, &mut effect).await?,
    }
    Ok(effect)
}

async fn team_parents(tx: &TenantTx) -> Result<HashMap<Uuid, Option<Uuid>>> {
    let rows: Vec<(Uuid, Option<Uuid>)> = teams::Entity::find()
        .select_only()
        .column(teams::Column::Id)
        .column(teams::Column::ParentId)
        .filter(teams::Column::ClientId.eq(tx.client_uuid()))
        .into_tuple()
        .all(tx.conn())
        .await?;
    Ok(rows.into_iter().collect())
}

/// Adds these teams and their ancestors to the effect.
async fn add_team_scopes(tx: &TenantTx, teams: &[Uuid], effect: &mut Effect) -> Result<()> {
    if teams.is_empty() {
        return Ok(());
    }
    let parents = team_parents(tx).await?;
    for t in teams {
        effect.teams.extend(with_ancestors(&parents, *t));
    }
    Ok(())
}

async fn get_team_row(tx: &TenantTx, id: Uuid) -> Result<teams::Model> {
    teams::Entity::find()
        .filter(teams::Column::ClientId.eq(tx.client_uuid()))
        .filter(teams::Column::Id.eq(id))
        .one(tx.conn())
        .await?
        .ok_or(Error::NotFound)
}

async fn get_project_row(tx: &TenantTx, id: Uuid) -> Result<projects::Model> {
    projects::Entity::find()
        .filter(projects::Column::ClientId.eq(tx.client_uuid()))
        .filter(projects::Column::Id.eq(id))
        .one(tx.conn())
        .await?
        .ok_or(Error::NotFound)
}

async fn get_person_row(tx: &TenantTx, id: Uuid) -> Result<people::Model> {
    people::Entity::find()
        .filter(people::Column::ClientId.eq(tx.client_uuid()))
        .filter(people::Column::Id.eq(id))
        .one(tx.conn())
        .await?
        .ok_or(Error::NotFound)
}

/// A person who has not been merged away (a merged one answers 409, naming where it went).
async fn live_person(tx: &TenantTx, id: Uuid) -> Result<people::Model> {
    let p = get_person_row(tx, id).await?;
    if let Some(into) = p.merged_into_id {
        return Err(Error::Conflict(format!(
            "person {id} was merged into {into}; use that person"
        )));
    }
    Ok(p)
}

async fn create_team(
    tx: &TenantTx,
    name: String,
    parent: Option<Uuid>,
    effect: &mut Effect,
) -> Result<()> {
    let name = check_name("name", &name)?;
    if let Some(p) = parent {
        get_team_row(tx, p)
            .await
            .map_err(|_| Error::invalid("parent_id", "no such team in this client"))?;
    }
    let id = Uuid::now_v7();
    teams::ActiveModel {
        id: Set(id),
        client_id: Set(tx.client_uuid()),
        source: Set(MANUAL_SOURCE.into()),
        external_id: Set(id.to_string()),
        synced_at: Set(now()),
        name: Set(name),
        parent_id: Set(parent),
    }
    .insert(tx.conn())
    .await?;
    effect.id = Some(id);
    effect.changed = true;
    add_team_scopes(tx, &[id], effect).await
}

async fn update_team(
    tx: &TenantTx,
    team: Uuid,
    name: Option<String>,
    parent: Option<Option<Uuid>>,
    effect: &mut Effect,
) -> Result<()> {
    let row = get_team_row(tx, team).await?;
    effect.id = Some(team);
    let name = name.map(|n| check_name("name", &n)).transpose()?;
    let parents = team_parents(tx).await?;
    if let Some(Some(p)) = parent {
        if !parents.contains_key(&p) {
            return Err(Error::invalid("parent_id", "no such team in this client"));
        }
        if would_cycle(&parents, team, p) {
            return Err(Error::invalid(
                "parent_id",
                "a team cannot be placed under itself or one of its sub-teams",
            ));
        }
    }
    let old_parent = row.parent_id;
    let mut am: teams::ActiveModel = row.clone().into();
    if let Some(n) = name.filter(|n| *n != row.name) {
        am.name = Set(n);
    }
    if let Some(p) = parent.filter(|p| *p != old_parent) {
        am.parent_id = Set(p);
        // The old and the new ancestors both see their sub-tree change.
        effect.teams.extend(with_ancestors(&parents, team));
        if let Some(p) = p {
            effect.teams.extend(with_ancestors(&parents, p));
        }
    }
    if am.is_changed() {
        am.synced_at = Set(now());
        am.update(tx.conn()).await?;
        effect.changed = true;
    }
    Ok(())
}

async fn delete_team(tx: &TenantTx, team: Uuid, effect: &mut Effect) -> Result<()> {
    let c = tx.client_uuid();
    let row = get_team_row(tx, team).await?;
    let parents = team_parents(tx).await?;
    effect.teams.extend(with_ancestors(&parents, team));
    effect.id = Some(team);
    effect.changed = true;
    effect
        .projects
        .extend(super::scope::projects_of_teams(tx, &[team]).await?);
    let mut children: Vec<Uuid> = parents
        .iter()
        .filter(|(_, p)| **p == Some(team))
        .map(|(id, _)| *id)
        .collect();
    children.sort();
    teams::Entity::update_many()
        .col_expr(teams::Column::ParentId, Expr::value(row.parent_id))
        .filter(teams::Column::ClientId.eq(c))
        .filter(teams::Column::ParentId.eq(team))
        .exec(tx.conn())
        .await?;
    incidents::Entity::update_many()
        .col_expr(incidents::Column::TeamId, Expr::value(Option::<Uuid>::None))
        .filter(incidents::Column::ClientId.eq(c))
        .filter(incidents::Column::TeamId.eq(team))
        .exec(tx.conn())
        .await?;
    // Memberships and project ownership go with the team (ON DELETE CASCADE).
    teams::Entity::delete_many()
        .filter(teams::Column::ClientId.eq(c))
        .filter(teams::Column::Id.eq(team))
        .exec(tx.conn())
        .await?;
    effect.teams.extend(children.iter().copied());
    effect.moved_teams = children;
    Ok(())
}

async fn add_members(
    tx: &TenantTx,
    team: Uuid,
    people_ids: Vec<Uuid>,
    role: Option<String>,
    effect: &mut Effect,
) -> Result<()> {
    get_team_row(tx, team).await?;
    effect.id = Some(team);
    if people_ids.is_empty() {
        return Err(Error::invalid(
            "person_ids",
            "must list at least one person",
        ));
    }
    if people_ids.len() > 500 {
        return Err(Error::invalid("person_ids", "at most 500 people at once"));
    }
    let role = match role.map(|r| r.trim().to_string()) {
        Some(r) if r.is_empty() || r.chars().count() > 100 => {
            return Err(Error::invalid("role", "must be 1 to 100 characters"))
        }
        other => other,
    };
    let c = tx.client_uuid();
    let wanted: BTreeSet<Uuid> = people_ids.into_iter().collect();
    let found: Vec<(Uuid, Option<Uuid>)> = people::Entity::find()
        .select_only()
        .column(people::Column::Id)
        .column(people::Column::MergedIntoId)
        .filter(people::Column::ClientId.eq(c))
        .filter(people::Column::Id.is_in(wanted.iter().copied()))
        .into_tuple()
        .all(tx.conn())
        .await?;
    if found.len() != wanted.len() {
        return Err(Error::NotFound);
    }
    if let Some((id, Some(into))) = found.iter().find(|(_, m)| m.is_some()) {
        return Err(Error::Conflict(format!(
            "person {id} was merged into {into}; add that person instead"
        )));
    }
    let existing: HashMap<Uuid, team_members::Model> = team_members::Entity::find()
        .filter(team_members::Column::ClientId.eq(c))
        .filter(team_members::Column::TeamId.eq(team))
        .filter(team_members::Column::PersonId.is_in(wanted.iter().copied()))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|m| (m.person_id, m))
        .collect();
    for person in &wanted {
        match existing.get(person) {
            Some(m) => {
                if role.is_some() && m.role != role {
                    let mut am: team_members::ActiveModel = m.clone().into();
                    am.role = Set(role.clone());
                    am.update(tx.conn()).await?;
                    effect.changed = true;
                }
            }
            None => {
                team_members::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    client_id: Set(c),
                    team_id: Set(team),
                    person_id: Set(*person),
                    role: Set(role.clone()),
                }
                .insert(tx.conn())
                .await?;
                effect.changed = true;
                effect.people.insert(*person);
            }
        }
    }
    if effect.changed {
        add_team_scopes(tx, &[team], effect).await?;
    }
    Ok(())
}

async fn remove_member(tx: &TenantTx, team: Uuid, person: Uuid, effect: &mut Effect) -> Result<()> {
    get_team_row(tx, team).await?;
    get_person_row(tx, person).await?;
    effect.id = Some(team);
    let done = team_members::Entity::delete_many()
        .filter(team_members::Column::ClientId.eq(tx.client_uuid()))
        .filter(team_members::Column::TeamId.eq(team))
        .filter(team_members::Column::PersonId.eq(person))
        .exec(tx.conn())
        .await?;
    if done.rows_affected > 0 {
        effect.changed = true;
        effect.people.insert(person);
        add_team_scopes(tx, &[team], effect).await?;
    }
    Ok(())
}

async fn create_project(tx: &TenantTx, name: String, effect: &mut Effect) -> Result<()> {
    let name = check_name("name", &name)?;
    let id = Uuid::now_v7();
    projects::ActiveModel {
        id: Set(id),
        client_id: Set(tx.client_uuid()),
        source: Set(MANUAL_SOURCE.into()),
        external_id: Set(id.to_string()),
        synced_at: Set(now()),
        name: Set(name),
    }
    .insert(tx.conn())
    .await?;
    effect.id = Some(id);
    effect.changed = true;
    effect.projects.insert(id);
    Ok(())
}

async fn owners_of(tx: &TenantTx, project: Uuid) -> Result<Vec<Uuid>> {
    Ok(project_teams::Entity::find()
        .select_only()
        .column(project_teams::Column::TeamId)
        .filter(project_teams::Column::ClientId.eq(tx.client_uuid()))
        .filter(project_teams::Column::ProjectId.eq(project))
        .into_tuple()
        .all(tx.conn())
        .await?)
}

async fn exists<E: super::ingested::Keyed>(tx: &TenantTx, id: Uuid) -> Result<()> {
    super::ingested::get::<E>(tx, id).await.map(|_| ())
}

async fn link_project(
    tx: &TenantTx,
    project: Uuid,
    link: Link,
    add: bool,
    effect: &mut Effect,
) -> Result<()> {
    get_project_row(tx, project).await?;
    effect.id = Some(project);
    let c = tx.client_uuid();
    let mut owners = owners_of(tx, project).await?;
    let rows = match &link {
        Link::Repository(r) => {
            exists::<repositories::Entity>(tx, *r).await?;
            if add {
                super::links::add::<project_repositories::Entity>(
                    tx,
                    vec![project_repositories::Model {
                        id: Uuid::nil(),
                        client_id: c,
                        project_id: project,
                        repository_id: *r,
                    }],
                    &["project_id", "repository_id"],
                )
                .await?
            } else {
                project_repositories::Entity::delete_many()
                    .filter(project_repositories::Column::ClientId.eq(c))
                    .filter(project_repositories::Column::ProjectId.eq(project))
                    .filter(project_repositories::Column::RepositoryId.eq(*r))
                    .exec(tx.conn())
                    .await?
                    .rows_affected
            }
        }
        Link::Board(b) => {
            exists::<boards::Entity>(tx, *b).await?;
            if add {
                super::links::add::<project_boards::Entity>(
                    tx,
                    vec![project_boards::Model {
                        id: Uuid::nil(),
                        client_id: c,
                        project_id: project,
                        board_id: *b,
                    }],
                    &["project_id", "board_id"],
                )
                .await?
            } else {
                project_boards::Entity::delete_many()
                    .filter(project_boards::Column::ClientId.eq(c))
                    .filter(project_boards::Column::ProjectId.eq(project))
                    .filter(project_boards::Column::BoardId.eq(*b))
                    .exec(tx.conn())
                    .await?
                    .rows_affected
            }
        }
        Link::Team(t) => {
            get_team_row(tx, *t).await?;
            owners.push(*t);
            if add {
                super::links::add::<project_teams::Entity>(
                    tx,
                    vec![project_teams::Model {
                        id: Uuid::nil(),
                        client_id: c,
                        project_id: project,
                        team_id: *t,
                    }],
                    &["project_id", "team_id"],
                )
                .await?
            } else {
                project_teams::Entity::delete_many()
                    .filter(project_teams::Column::ClientId.eq(c))
                    .filter(project_teams::Column::ProjectId.eq(project))
                    .filter(project_teams::Column::TeamId.eq(*t))
                    .exec(tx.conn())
                    .await?
                    .rows_affected
            }
        }
        Link::JiraKey(k) => {
            let key = check_jira_key(k)?;
            if add {
                super::links::add::<project_jira_projects::Entity>(
                    tx,
                    vec![project_jira_projects::Model {
                        id: Uuid::nil(),
                        client_id: c,
                        project_id: project,
                        jira_key: key,
                    }],
                    &["project_id", "jira_key"],
                )
                .await?
            } else {
                project_jira_projects::Entity::delete_many()
                    .filter(project_jira_projects::Column::ClientId.eq(c))
                    .filter(project_jira_projects::Column::ProjectId.eq(project))
                    .filter(project_jira_projects::Column::JiraKey.eq(key))
                    .exec(tx.conn())
                    .await?
                    .rows_affected
            }
        }
    };
    if rows > 0 {
        effect.changed = true;
        effect.projects.insert(project);
        add_team_scopes(tx, &owners, effect).await?;
    }
    Ok(())
}

async fn person_with_email(tx: &TenantTx, email: &str) -> Result<Option<people::Model>> {
    Ok(people::Entity::find()
        .filter(people::Column::ClientId.eq(tx.client_uuid()))
        .filter(people::Column::Email.eq(email))
        .filter(people::Column::MergedIntoId.is_null())
        .one(tx.conn())
        .await?)
}

async fn create_person(
    tx: &TenantTx,
    name: String,
    email: Option<String>,
    effect: &mut Effect,
) -> Result<()> {
    let name = check_name("name", &name)?;
    let email = email.map(|e| check_email(&e)).transpose()?;
    if let Some(e) = &email {
        if let Some(other) = person_with_email(tx, e).await? {
            return Err(Error::Conflict(format!(
                "person {} already has this e-mail",
                other.id
            )));
        }
    }
    let id = Uuid::now_v7();
    people::ActiveModel {
        id: Set(id),
        client_id: Set(tx.client_uuid()),
        source: Set(MANUAL_SOURCE.into()),
        external_id: Set(id.to_string()),
        synced_at: Set(now()),
        name: Set(name),
        email: Set(email.clone()),
        merged_into_id: Set(None),
    }
    .insert(tx.conn())
    .await?;
    effect.id = Some(id);
    effect.changed = true;
    effect.people.insert(id);
    if let Some(e) = email {
        // Commits keep their author's e-mail: those no one was found for are this person's now
        // (a row with an explicitly mapped login already has its person).
        let stmt = Query::update()
            .table(Alias::new("commits"))
            .value(Alias::new("author_person_id"), Expr::value(id))
            .and_where(Expr::col(Alias::new("client_id")).eq(tx.client_uuid()))
            .and_where(Expr::col(Alias::new("author_person_id")).is_null())
            .and_where(lower(Alias::new("author_email")).eq(e.clone()))
            .to_owned();
        effect.reassigned_rows += execute(tx, stmt).await?;
    }
    Ok(())
}

/// A column that holds a person, and the login it was resolved from.
struct PersonColumn {
    table: &'static str,
    person: &'static str,
    login: &'static str,
    provider: &'static str,
    email: Option<&'static str>,
}

const PERSON_COLUMNS: [PersonColumn; 5] = [
    PersonColumn {
        table: "pull_requests",
        person: "author_person_id",
        login: "author_login",
        provider: "github",
        email: None,
    },
    PersonColumn {
        table: "commits",
        person: "author_person_id",
        login: "author_login",
        provider: "github",
        email: Some("author_email"),
    },
    PersonColumn {
        table: "pr_reviews",
        person: "reviewer_person_id",
        login: "reviewer_login",
        provider: "github",
        email: None,
    },
    PersonColumn {
        table: "pr_review_comments",
        person: "author_person_id",
        login: "author_login",
        provider: "github",
        email: None,
    },
    PersonColumn {
        table: "issues",
        person: "assignee_person_id",
        login: "assignee_account",
        provider: "jira",
        email: None,
    },
];

fn lower(col: Alias) -> SimpleExpr {
    SimpleExpr::FunctionCall(Func::lower(Expr::col(col)))
}

async fn execute(tx: &TenantTx, stmt: sea_orm::sea_query::UpdateStatement) -> Result<u64> {
    let backend = tx.conn().get_database_backend();
    Ok(tx
        .conn()
        .execute(backend.build(&stmt))
        .await?
        .rows_affected())
}

async fn merge_people(tx: &TenantTx, into: Uuid, from: Uuid, effect: &mut Effect) -> Result<()> {
    live_person(tx, into).await?;
    if into == from {
        return Err(Error::invalid(
            "person_id",
            "a person cannot be merged into themselves",
        ));
    }
    live_person(tx, from).await?;
    let c = tx.client_uuid();
    effect.id = Some(into);
    effect.changed = true;
    effect.people.extend([into, from]);
    // Everyone already merged into `from` now stands for `into` directly.
    let mut gone: Vec<Uuid> = people::Entity::find()
        .select_only()
        .column(people::Column::Id)
        .filter(people::Column::ClientId.eq(c))
        .filter(people::Column::MergedIntoId.eq(from))
        .into_tuple()
        .all(tx.conn())
        .await?;
    gone.push(from);
    people::Entity::update_many()
        .col_expr(people::Column::MergedIntoId, Expr::value(Some(into)))
        .col_expr(people::Column::SyncedAt, Expr::value(now()))
        .filter(people::Column::ClientId.eq(c))
        .filter(people::Column::Id.is_in(gone.iter().copied()))
        .exec(tx.conn())
        .await?;
    // Memberships: `into` joins every team `from` was in (keeping its own role where it has one).
    let from_teams: Vec<team_members::Model> = team_members::Entity::find()
        .filter(team_members::Column::ClientId.eq(c))
        .filter(team_members::Column::PersonId.is_in(gone.iter().copied()))
        .all(tx.conn())
        .await?;
    let teams_touched: Vec<Uuid> = from_teams.iter().map(|m| m.team_id).collect();
    super::links::add::<team_members::Entity>(
        tx,
        from_teams
            .iter()
            .map(|m| team_members::Model {
                person_id: into,
                ..m.clone()
            })
            .collect(),
        &["team_id", "person_id"],
    )
    .await?;
    team_members::Entity::delete_many()
        .filter(team_members::Column::ClientId.eq(c))
        .filter(team_members::Column::PersonId.is_in(gone.iter().copied()))
        .exec(tx.conn())
        .await?;
    // Accounts follow (explicit ones stay explicit).
    person_accounts::Entity::update_many()
        .col_expr(person_accounts::Column::PersonId, Expr::value(into))
        .filter(person_accounts::Column::ClientId.eq(c))
        .filter(person_accounts::Column::PersonId.is_in(gone.iter().copied()))
        .exec(tx.conn())
        .await?;
    // Every reference.
    for col in &PERSON_COLUMNS {
        let stmt = Query::update()
            .table(Alias::new(col.table))
            .value(Alias::new(col.person), Expr::value(into))
            .and_where(Expr::col(Alias::new("client_id")).eq(c))
            .and_where(Expr::col(Alias::new(col.person)).is_in(gone.iter().copied()))
            .to_owned();
        effect.reassigned_rows += execute(tx, stmt).await?;
    }
    let mut teams_touched = teams_touched;
    teams_touched.extend(
        team_members::Entity::find()
            .select_only()
            .column(team_members::Column::TeamId)
            .filter(team_members::Column::ClientId.eq(c))
            .filter(team_members::Column::PersonId.eq(into))
            .into_tuple::<Uuid>()
            .all(tx.conn())
            .await?,
    );
    add_team_scopes(tx, &teams_touched, effect).await
}

async fn teams_of_person(tx: &TenantTx, person: Uuid) -> Result<Vec<Uuid>> {
    Ok(team_members::Entity::find()
        .select_only()
        .column(team_members::Column::TeamId)
        .filter(team_members::Column::ClientId.eq(tx.client_uuid()))
        .filter(team_members::Column::PersonId.eq(person))
        .into_tuple()
        .all(tx.conn())
        .await?)
}

/// Re-resolves the person of every row whose login is `login` (for `provider`) with `resolver`.
async fn reresolve_login(
    tx: &TenantTx,
    resolver: &PersonResolver,
    provider: &str,
    login: &str,
    effect: &mut Effect,
) -> Result<()> {
    let c = tx.client_uuid();
    for col in PERSON_COLUMNS.iter().filter(|p| p.provider == provider) {
        let by_login = || lower(Alias::new(col.login)).eq(login.to_string());
        match col.email {
            None => {
                let person = resolver.resolve(provider, Some(login), None);
                let stmt = Query::update()
                    .table(Alias::new(col.table))
                    .value(Alias::new(col.person), Expr::value(person))
                    .and_where(Expr::col(Alias::new("client_id")).eq(c))
                    .and_where(by_login())
                    .to_owned();
                effect.reassigned_rows += execute(tx, stmt).await?;
            }
            Some(email_col) => {
                let q = Query::select()
                    .distinct()
                    .expr(lower(Alias::new(email_col)))
                    .from(Alias::new(col.table))
                    .and_where(Expr::col(Alias::new("client_id")).eq(c))
                    .and_where(by_login())
                    .to_owned();
                let backend = tx.conn().get_database_backend();
                let emails: Vec<Option<String>> = tx
                    .conn()
                    .query_all(backend.build(&q))
                    .await?
                    .iter()
                    .map(|r| r.try_get_by_index::<Option<String>>(0))
                    .collect::<std::result::Result<_, _>>()?;
                for email in emails {
                    let person = resolver.resolve(provider, Some(login), email.as_deref());
                    let mut stmt = Query::update()
                        .table(Alias::new(col.table))
                        .value(Alias::new(col.person), Expr::value(person))
                        .and_where(Expr::col(Alias::new("client_id")).eq(c))
                        .and_where(by_login())
                        .to_owned();
                    stmt = match &email {
                        Some(e) => stmt
                            .and_where(lower(Alias::new(email_col)).eq(e.clone()))
                            .to_owned(),
                        None => stmt
                            .and_where(Expr::col(Alias::new(email_col)).is_null())
                            .to_owned(),
                    };
                    effect.reassigned_rows += execute(tx, stmt).await?;
                }
            }
        }
    }
    Ok(())
}

async fn map_account(
    tx: &TenantTx,
    person: Uuid,
    provider: &str,
    login: &str,
    effect: &mut Effect,
) -> Result<()> {
    let (provider, login) = check_account(provider, login)?;
    live_person(tx, person).await?;
    let c = tx.client_uuid();
    effect.id = Some(person);
    let existing = person_accounts::Entity::find()
        .filter(person_accounts::Column::ClientId.eq(c))
        .filter(person_accounts::Column::Provider.eq(provider.as_str()))
        .filter(person_accounts::Column::Login.eq(login.as_str()))
        .one(tx.conn())
        .await?;
    let mut touched_people = vec![person];
    match existing {
        Some(row) if row.person_id == person && row.explicit => return Ok(()),
        Some(row) => {
            touched_people.push(row.person_id);
            let mut am: person_accounts::ActiveModel = row.into();
            am.person_id = Set(person);
            am.explicit = Set(true);
            am.update(tx.conn()).await?;
        }
        None => {
            person_accounts::ActiveModel {
                id: Set(Uuid::now_v7()),
                client_id: Set(c),
                person_id: Set(person),
                provider: Set(provider.clone()),
                login: Set(login.clone()),
                explicit: Set(true),
            }
            .insert(tx.conn())
            .await?;
        }
    }
    effect.changed = true;
    let resolver = PersonResolver::load(tx).await?;
    reresolve_login(tx, &resolver, &provider, &login, effect).await?;
    let mut teams = Vec::new();
    for p in &touched_people {
        effect.people.insert(*p);
        teams.extend(teams_of_person(tx, *p).await?);
    }
    add_team_scopes(tx, &teams, effect).await
}

async fn unmap_account(
    tx: &TenantTx,
    person: Uuid,
    provider: &str,
    login: &str,
    effect: &mut Effect,
) -> Result<()> {
    let (provider, login) = check_account(provider, login)?;
    get_person_row(tx, person).await?;
    effect.id = Some(person);
    let done = person_accounts::Entity::delete_many()
        .filter(person_accounts::Column::ClientId.eq(tx.client_uuid()))
        .filter(person_accounts::Column::PersonId.eq(person))
        .filter(person_accounts::Column::Provider.eq(provider.as_str()))
        .filter(person_accounts::Column::Login.eq(login.as_str()))
        .exec(tx.conn())
        .await?;
    if done.rows_affected == 0 {
        return Err(Error::NotFound);
    }
    effect.changed = true;
    effect.people.insert(person);
    let resolver = PersonResolver::load(tx).await?;
    reresolve_login(tx, &resolver, &provider, &login, effect).await?;
    let teams = teams_of_person(tx, person).await?;
    add_team_scopes(tx, &teams, effect).await
}

// ---------------------------------------------------------------------------------------------
// Reads.

/// A team with its direct sub-teams and member count.
#[derive(Debug, Clone)]
pub struct TeamInfo {
    /// The row.
    pub team: teams::Model,
    /// Direct sub-teams.
    pub children: Vec<Uuid>,
    /// Members (direct, not of sub-teams).
    pub members: u64,
    /// Projects owned.
    pub projects: Vec<Uuid>,
}

/// Every team of the client, by name, with its sub-teams, member counts and projects.
pub async fn list_teams(tx: &TenantTx, search: Option<&str>) -> Result<Vec<TeamInfo>> {
    let c = tx.client_uuid();
    let all = teams::Entity::find()
        .filter(teams::Column::ClientId.eq(c))
        .order_by_asc(teams::Column::Name)
        .order_by_asc(teams::Column::Id)
        .all(tx.conn())
        .await?;
    let members: Vec<Uuid> = team_members::Entity::find()
        .select_only()
        .column(team_members::Column::TeamId)
        .filter(team_members::Column::ClientId.eq(c))
        .into_tuple()
        .all(tx.conn())
        .await?;
    let owned: Vec<(Uuid, Uuid)> = project_teams::Entity::find()
        .select_only()
        .column(project_teams::Column::TeamId)
        .column(project_teams::Column::ProjectId)
        .filter(project_teams::Column::ClientId.eq(c))
        .into_tuple()
        .all(tx.conn())
        .await?;
    let mut counts: HashMap<Uuid, u64> = HashMap::new();
    for t in members {
        *counts.entry(t).or_default() += 1;
    }
    let needle = search
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    Ok(all
        .iter()
        .filter(|t| {
            needle
                .as_ref()
                .is_none_or(|n| t.name.to_lowercase().contains(n.as_str()))
        })
        .map(|t| {
            let mut projects: Vec<Uuid> = owned
                .iter()
                .filter(|(team, _)| *team == t.id)
                .map(|(_, p)| *p)
                .collect();
            projects.sort();
            TeamInfo {
                children: all
                    .iter()
                    .filter(|x| x.parent_id == Some(t.id))
                    .map(|x| x.id)
                    .collect(),
                members: counts.get(&t.id).copied().unwrap_or(0),
                projects,
                team: t.clone(),
            }
        })
        .collect())
}

/// One team.
pub async fn get_team(tx: &TenantTx, id: Uuid) -> Result<TeamInfo> {
    get_team_row(tx, id).await?;
    list_teams(tx, None)
        .await?
        .into_iter()
        .find(|t| t.team.id == id)
        .ok_or(Error::NotFound)
}

/// A member of a team.
#[derive(Debug, Clone)]
pub struct Member {
    /// The person.
    pub person: people::Model,
    /// Role in the team.
    pub role: Option<String>,
}

/// The members of a team, by name.
pub async fn team_members(tx: &TenantTx, team: Uuid) -> Result<Vec<Member>> {
    get_team_row(tx, team).await?;
    let c = tx.client_uuid();
    let rows = team_members::Entity::find()
        .filter(team_members::Column::ClientId.eq(c))
        .filter(team_members::Column::TeamId.eq(team))
        .all(tx.conn())
        .await?;
    let roles: HashMap<Uuid, Option<String>> =
        rows.into_iter().map(|m| (m.person_id, m.role)).collect();
    let found = people::Entity::find()
        .filter(people::Column::ClientId.eq(c))
        .filter(people::Column::Id.is_in(roles.keys().copied()))
        .order_by_asc(people::Column::Name)
        .order_by_asc(people::Column::Id)
        .all(tx.conn())
        .await?;
    Ok(found
        .into_iter()
        .map(|p| Member {
            role: roles.get(&p.id).cloned().flatten(),
            person: p,
        })
        .collect())
}

/// A project with what it covers and who owns it.
#[derive(Debug, Clone)]
pub struct ProjectInfo {
    /// The row.
    pub project: projects::Model,
    /// Repositories.
    pub repositories: Vec<Uuid>,
    /// Jira project keys.
    pub jira_keys: Vec<String>,
    /// Boards.
    pub boards: Vec<Uuid>,
    /// Owning teams.
    pub teams: Vec<Uuid>,
}

/// Every project of the client, by name, with its links.
pub async fn list_projects(tx: &TenantTx, search: Option<&str>) -> Result<Vec<ProjectInfo>> {
    let c = tx.client_uuid();
    let all = projects::Entity::find()
        .filter(projects::Column::ClientId.eq(c))
        .order_by_asc(projects::Column::Name)
        .order_by_asc(projects::Column::Id)
        .all(tx.conn())
        .await?;
    let needle = search
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let all: Vec<projects::Model> = all
        .into_iter()
        .filter(|p| {
            needle
                .as_ref()
                .is_none_or(|n| p.name.to_lowercase().contains(n.as_str()))
        })
        .collect();
    let repos: Vec<(Uuid, Uuid)> = project_repositories::Entity::find()
        .select_only()
        .column(project_repositories::Column::ProjectId)
        .column(project_repositories::Column::RepositoryId)
        .filter(project_repositories::Column::ClientId.eq(c))
        .into_tuple()
        .all(tx.conn())
        .await?;
    let keys: Vec<(Uuid, String)> = project_jira_projects::Entity::find()
        .select_only()
        .column(project_jira_projects::Column::ProjectId)
        .column(project_jira_projects::Column::JiraKey)
        .filter(project_jira_projects::Column::ClientId.eq(c))
        .into_tuple()
        .all(tx.conn())
        .await?;
    let boards_: Vec<(Uuid, Uuid)> = project_boards::Entity::find()
        .select_only()
        .column(project_boards::Column::ProjectId)
        .column(project_boards::Column::BoardId)
        .filter(project_boards::Column::ClientId.eq(c))
        .into_tuple()
        .all(tx.conn())
        .await?;
    let owners: Vec<(Uuid, Uuid)> = project_teams::Entity::find()
        .select_only()
        .column(project_teams::Column::ProjectId)
        .column(project_teams::Column::TeamId)
        .filter(project_teams::Column::ClientId.eq(c))
        .into_tuple()
        .all(tx.conn())
        .await?;
    fn of<T: Clone + Ord>(pairs: &[(Uuid, T)], id: Uuid) -> Vec<T> {
        let mut v: Vec<T> = pairs
            .iter()
            .filter(|(p, _)| *p == id)
            .map(|(_, x)| x.clone())
            .collect();
        v.sort();
        v
    }
    Ok(all
        .into_iter()
        .map(|p| ProjectInfo {
            repositories: of(&repos, p.id),
            jira_keys: of(&keys, p.id),
            boards: of(&boards_, p.id),
            teams: of(&owners, p.id),
            project: p,
        })
        .collect())
}

/// One project.
pub async fn get_project(tx: &TenantTx, id: Uuid) -> Result<ProjectInfo> {
    get_project_row(tx, id).await?;
    list_projects(tx, None)
        .await?
        .into_iter()
        .find(|p| p.project.id == id)
        .ok_or(Error::NotFound)
}

fn like(needle: &str) -> String {
    let escaped: String = needle
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

fn contains_ci(col: Alias, needle: &str) -> SimpleExpr {
    lower(col).like(sea_orm::sea_query::LikeExpr::new(like(needle)).escape('\\'))
}

/// Filters for [`list_people`].
#[derive(Debug, Clone, Default)]
pub struct PeopleFilter {
    /// Name, e-mail or account login contains this (ignoring case).
    pub search: Option<String>,
    /// Include people merged into others.
    pub include_merged: bool,
}

/// The client's people, by name.
pub async fn list_people(
    tx: &TenantTx,
    filter: &PeopleFilter,
    page: Page,
) -> Result<Paged<people::Model>> {
    let c = tx.client_uuid();
    let mut query = people::Entity::find().filter(people::Column::ClientId.eq(c));
    if !filter.include_merged {
        query = query.filter(people::Column::MergedIntoId.is_null());
    }
    if let Some(needle) = filter
        .search
        .as_deref()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
    {
        let by_account = Query::select()
            .column(person_accounts::Column::PersonId)
            .from(person_accounts::Entity)
            .and_where(person_accounts::Column::ClientId.eq(c))
            .and_where(contains_ci(Alias::new("login"), &needle))
            .to_owned();
        query = query.filter(
            sea_orm::Condition::any()
                .add(contains_ci(Alias::new("name"), &needle))
                .add(contains_ci(Alias::new("email"), &needle))
                .add(people::Column::Id.in_subquery(by_account)),
        );
    }
    let total = query.clone().count(tx.conn()).await?;
    let items = query
        .order_by_asc(people::Column::Name)
        .order_by_asc(people::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(tx.conn())
        .await?;
    Ok(Paged { items, total })
}

/// A person with accounts and teams.
#[derive(Debug, Clone)]
pub struct PersonInfo {
    /// The row.
    pub person: people::Model,
    /// Accounts of the person and of the people merged into them.
    pub accounts: Vec<person_accounts::Model>,
    /// Teams the person is a member of.
    pub teams: Vec<Uuid>,
    /// People merged into this one.
    pub merged: Vec<Uuid>,
}

/// One person (a merged one too: its `merged_into_id` says where it went).
pub async fn get_person(tx: &TenantTx, id: Uuid) -> Result<PersonInfo> {
    let person = get_person_row(tx, id).await?;
    let c = tx.client_uuid();
    let merged_all = merged_map(tx).await?;
    let mut merged: Vec<Uuid> = merged_all
        .keys()
        .filter(|m| follow(&merged_all, **m) == id)
        .copied()
        .collect();
    merged.sort();
    let mut owners = merged.clone();
    owners.push(id);
    let accounts = person_accounts::Entity::find()
        .filter(person_accounts::Column::ClientId.eq(c))
        .filter(person_accounts::Column::PersonId.is_in(owners))
        .order_by_asc(person_accounts::Column::Provider)
        .order_by_asc(person_accounts::Column::Login)
        .all(tx.conn())
        .await?;
    let mut teams = teams_of_person(tx, id).await?;
    teams.sort();
    Ok(PersonInfo {
        person,
        accounts,
        teams,
        merged,
    })
}

/// A repository, for pickers: the client's repositories by name (optionally filtered).
pub async fn list_repositories(
    tx: &TenantTx,
    search: Option<&str>,
    page: Page,
) -> Result<Paged<repositories::Model>> {
    let mut query =
        repositories::Entity::find().filter(repositories::Column::ClientId.eq(tx.client_uuid()));
    if let Some(needle) = search
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
    {
        query = query.filter(contains_ci(Alias::new("full_name"), &needle));
    }
    let total = query.clone().count(tx.conn()).await?;
    let items = query
        .order_by_asc(repositories::Column::FullName)
        .order_by_asc(repositories::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(tx.conn())
        .await?;
    Ok(Paged { items, total })
}

/// The client's boards by name.
pub async fn list_boards(tx: &TenantTx) -> Result<Vec<boards::Model>> {
    Ok(boards::Entity::find()
        .filter(boards::Column::ClientId.eq(tx.client_uuid()))
        .order_by_asc(boards::Column::Name)
        .order_by_asc(boards::Column::Id)
        .all(tx.conn())
        .await?)
}

/// Finds a repository by reference: its Pulse id, its `full_name` (ignoring case) or its
/// external id in any source. `None` when nothing matches; a conflict when several do.
pub async fn find_repository(tx: &TenantTx, reference: &str) -> Result<Option<Uuid>> {
    let found = match_ref::<repositories::Entity>(tx, reference, "full_name").await?;
    one_of(found, "repository", reference)
}

/// Finds a team by reference: its Pulse id, its name (ignoring case) or its external id.
pub async fn find_team(tx: &TenantTx, reference: &str) -> Result<Option<Uuid>> {
    let found = match_ref::<teams::Entity>(tx, reference, "name").await?;
    one_of(found, "team", reference)
}

/// Finds a person by reference: their Pulse id or their e-mail (merged people resolve to the
/// person they were merged into).
pub async fn find_person(tx: &TenantTx, reference: &str) -> Result<Option<Uuid>> {
    let found = match_ref::<people::Entity>(tx, reference, "email").await?;
    let merged = merged_map(tx).await?;
    let found: BTreeSet<Uuid> = found.into_iter().map(|p| follow(&merged, p)).collect();
    one_of(found.into_iter().collect(), "person", reference)
}

/// Finds a project by reference: its Pulse id or its name (ignoring case) or external id.
pub async fn find_project(tx: &TenantTx, reference: &str) -> Result<Option<Uuid>> {
    let found = match_ref::<projects::Entity>(tx, reference, "name").await?;
    one_of(found, "project", reference)
}

/// Finds a board by reference: its Pulse id, its name (ignoring case) or its external id.
pub async fn find_board(tx: &TenantTx, reference: &str) -> Result<Option<Uuid>> {
    let found = match_ref::<boards::Entity>(tx, reference, "name").await?;
    one_of(found, "board", reference)
}

fn one_of(found: Vec<Uuid>, what: &str, reference: &str) -> Result<Option<Uuid>> {
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(Error::Conflict(format!(
            "`{reference}` names {} {what}s; use the id",
            found.len()
        ))),
    }
}

async fn match_ref<E: super::ingested::Keyed>(
    tx: &TenantTx,
    reference: &str,
    name_col: &str,
) -> Result<Vec<Uuid>> {
    let reference = reference.trim();
    if let Ok(id) = reference.parse::<Uuid>() {
        let hit: Option<Uuid> = E::find()
            .select_only()
            .column(E::id_col())
            .filter(E::client_col().eq(tx.client_uuid()))
            .filter(E::id_col().eq(id))
            .into_tuple()
            .one(tx.conn())
            .await?;
        if let Some(id) = hit {
            return Ok(vec![id]);
        }
    }
    let by_name: Vec<Uuid> = E::find()
        .select_only()
        .column(E::id_col())
        .filter(E::client_col().eq(tx.client_uuid()))
        .filter(lower(Alias::new(name_col)).eq(reference.to_lowercase()))
        .into_tuple()
        .all(tx.conn())
        .await?;
    if !by_name.is_empty() {
        return Ok(by_name);
    }
    Ok(E::find()
        .select_only()
        .column(E::id_col())
        .filter(E::client_col().eq(tx.client_uuid()))
        .filter(E::external_col().eq(reference))
        .into_tuple()
        .all(tx.conn())
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_refused_and_siblings_are_not() {
        let (root, a, b, c) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        // root <- a <- b ; c alone
        let parents = HashMap::from([(root, None), (a, Some(root)), (b, Some(a)), (c, None)]);
        assert!(would_cycle(&parents, a, a), "its own parent");
        assert!(would_cycle(&parents, root, b), "under its grandchild");
        assert!(would_cycle(&parents, a, b), "under its child");
        assert!(!would_cycle(&parents, b, root), "up to the root");
        assert!(!would_cycle(&parents, c, b), "under an unrelated team");
        assert!(!would_cycle(&parents, root, c));
        assert_eq!(with_ancestors(&parents, b), vec![b, a, root]);
        // A cycle already stored elsewhere does not loop.
        let broken = HashMap::from([(a, Some(b)), (b, Some(a)), (c, None)]);
        assert!(!would_cycle(&broken, c, a));
        assert_eq!(with_ancestors(&broken, a), vec![a, b]);
    }

    #[test]
    fn inputs_are_normalised_or_refused() {
        assert_eq!(check_jira_key(" pay ").unwrap(), "PAY");
        assert_eq!(check_jira_key("CORE_2").unwrap(), "CORE_2");
        assert!(check_jira_key("2PAY").is_err());
        assert!(check_jira_key("PA-Y").is_err());
        assert!(check_jira_key("").is_err());
        assert_eq!(
            check_account("GitHub", " Ada ").unwrap(),
            ("github".into(), "ada".into())
        );
        match check_account("gitlab", "") {
            Err(Error::Validation(p)) => assert_eq!(p.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(check_name("name", "  Payments ").unwrap(), "Payments");
        assert!(check_name("name", "   ").is_err());
        assert_eq!(like("50%_a"), "%50\\%\\_a%");
    }
}
