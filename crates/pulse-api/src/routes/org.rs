//! `/org/...`: the organisation behind the metrics. Teams and their hierarchy, membership,
//! projects and what they cover, people and their accounts. Every member reads; admins write.
//! Every write goes through `pulse_db::repo::org::apply` and is audited as `org.*` in the same
//! transaction. Ids of another client answer 404.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use pulse_core::{Error, ErrorBody, Result};
use pulse_db::repo::org::{self, Change, Effect, Link};
use pulse_db::repo::{audit, Page};
use pulse_db::TenantTx;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::entry;
use super::dto::PageOf;
use crate::auth::{Admin, AuthContext, Viewer};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

/// The `/org` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(list_members, add_members))
        .routes(routes!(remove_member))
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(link_repository, unlink_repository))
        .routes(routes!(link_board, unlink_board))
        .routes(routes!(link_team, unlink_team))
        .routes(routes!(link_jira_key, unlink_jira_key))
        .routes(routes!(list_people, create_person))
        .routes(routes!(get_person))
        .routes(routes!(merge_person))
        .routes(routes!(map_account))
        .routes(routes!(unmap_account))
        .routes(routes!(list_repositories))
        .routes(routes!(list_boards))
}

/// Applies one change in a new transaction and audits it there; returns the open transaction so
/// the handler can read the answer before committing.
async fn change(
    state: &AppState,
    ctx: &AuthContext,
    action: &str,
    change: Change,
) -> Result<(TenantTx, Effect)> {
    let tx = state.db().tenant(ctx.client).await?;
    let effect = org::apply(&tx, change).await?;
    if effect.changed {
        let mut e = entry(ctx, action, effect.id.map(|i| i.to_string()));
        e.details = Some(serde_json::to_value(&effect).map_err(Error::internal)?);
        audit::record_in(&tx, e).await?;
    }
    Ok((tx, effect))
}

/// Search text.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Name contains (ignoring case).
    pub search: Option<String>,
}

// ------------------------------------------------------------------------------------ teams

/// A team.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Parent team.
    pub parent_id: Option<Uuid>,
    /// Direct sub-teams.
    pub children: Vec<Uuid>,
    /// Direct members.
    pub member_count: u64,
    /// Projects the team owns.
    pub project_ids: Vec<Uuid>,
    /// Where the team came from (`manual` when created here).
    pub source: String,
    /// Its id there.
    pub external_id: String,
}

impl From<org::TeamInfo> for TeamView {
    fn from(t: org::TeamInfo) -> Self {
        Self {
            id: t.team.id,
            name: t.team.name,
            parent_id: t.team.parent_id,
            children: t.children,
            member_count: t.members,
            project_ids: t.projects,
            source: t.team.source,
            external_id: t.team.external_id,
        }
    }
}

/// Every team of the client, by name.
#[utoipa::path(get, path = "/org/teams", tag = "org", params(SearchQuery),
    responses((status = 200, body = Vec<TeamView>), (status = 400, body = ErrorBody)))]
async fn list_teams(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Query(q): Query<SearchQuery>,
) -> Result<axum::Json<Vec<TeamView>>> {
    let tx = state.db().tenant_read(ctx.client).await?;
    let teams = org::list_teams(&tx, q.search.as_deref()).await?;
    tx.commit().await?;
    Ok(axum::Json(teams.into_iter().map(Into::into).collect()))
}

/// A team to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeamRequest {
    /// Name (1 to 200 characters).
    pub name: String,
    /// Parent team.
    #[serde(default)]
    pub parent_id: Option<Uuid>,
}

/// Creates a team (admin).
#[utoipa::path(post, path = "/org/teams", tag = "org", request_body = CreateTeamRequest,
    responses((status = 201, body = TeamView), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_team(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Json(req): Json<CreateTeamRequest>,
) -> Result<(StatusCode, axum::Json<TeamView>)> {
    let (tx, effect) = change(
        &state,
        &ctx,
        "org.team_created",
        Change::CreateTeam {
            name: req.name,
            parent: req.parent_id,
        },
    )
    .await?;
    let team = org::get_team(&tx, effect.id.ok_or(Error::NotFound)?).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(team.into())))
}

/// One team.
#[utoipa::path(get, path = "/org/teams/{id}", tag = "org",
    params(("id" = Uuid, Path, description = "Team id")),
    responses((status = 200, body = TeamView), (status = 404, body = ErrorBody)))]
async fn get_team(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<TeamView>> {
    let tx = state.db().tenant_read(ctx.client).await?;
    let team = org::get_team(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(team.into()))
}

fn present<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Option<Uuid>>, D::Error> {
    Option::<Uuid>::deserialize(d).map(Some)
}

/// Changes to a team: a new name, and/or a new parent (`null` makes it a top-level team; absent
/// leaves it as it is).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeamRequest {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New parent team, or `null` for none. It must not be the team or one of its sub-teams.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
}

/// Renames a team or moves it in the hierarchy (admin).
#[utoipa::path(patch, path = "/org/teams/{id}", tag = "org",
    params(("id" = Uuid, Path, description = "Team id")), request_body = UpdateTeamRequest,
    responses((status = 200, body = TeamView), (status = 404, body = ErrorBody),
        (status = 422, description = "Invalid name, or the parent would make a cycle", body = ErrorBody)))]
async fn update_team(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateTeamRequest>,
) -> Result<axum::Json<TeamView>> {
    let (tx, _) = change(
        &state,
        &ctx,
        "org.team_updated",
        Change::UpdateTeam {
            team: id,
            name: req.name,
            parent: req.parent_id,
        },
    )
    .await?;
    let team = org::get_team(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(team.into()))
}

/// Deletes a team (admin). Its sub-teams move up to its parent (or to the top level), its
/// memberships and project ownership links are removed, and incidents charged to it lose their
/// team; people and projects stay.
#[utoipa::path(delete, path = "/org/teams/{id}", tag = "org",
    params(("id" = Uuid, Path, description = "Team id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_team(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    let (tx, _) = change(
        &state,
        &ctx,
        "org.team_deleted",
        Change::DeleteTeam { team: id },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member of a team.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// The person.
    pub person: PersonView,
    /// Role in the team, if any.
    pub role: Option<String>,
}

/// The members of a team (not of its sub-teams), by name.
#[utoipa::path(get, path = "/org/teams/{id}/members", tag = "org",
    params(("id" = Uuid, Path, description = "Team id")),
    responses((status = 200, body = Vec<MemberView>), (status = 404, body = ErrorBody)))]
async fn list_members(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<MemberView>>> {
    let tx = state.db().tenant_read(ctx.client).await?;
    let members = org::team_members(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(members.into_iter().map(member_view).collect()))
}

fn member_view(m: org::Member) -> MemberView {
    MemberView {
        person: m.person.into(),
        role: m.role,
    }
}

/// People to add to a team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMembersRequest {
    /// The people (1 to 500).
    pub person_ids: Vec<Uuid>,
    /// Their role in the team (e.g. `lead`); when given it also updates existing members.
    #[serde(default)]
    pub role: Option<String>,
}

/// Adds people to a team (admin); people already in it stay. Answers the team's members.
#[utoipa::path(post, path = "/org/teams/{id}/members", tag = "org",
    params(("id" = Uuid, Path, description = "Team id")), request_body = AddMembersRequest,
    responses((status = 200, body = Vec<MemberView>), (status = 404, body = ErrorBody),
        (status = 409, description = "A person was merged into another", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn add_members(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<Uuid>,
    Json(req): Json<AddMembersRequest>,
) -> Result<axum::Json<Vec<MemberView>>> {
    let (tx, _) = change(
        &state,
        &ctx,
        "org.team_members_added",
        Change::AddMembers {
            team: id,
            people: req.person_ids,
            role: req.role,
        },
    )
    .await?;
    let members = org::team_members(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(members.into_iter().map(member_view).collect()))
}

/// Removes a person from a team (admin). Removing someone who is not a member changes nothing.
#[utoipa::path(delete, path = "/org/teams/{id}/members/{person_id}", tag = "org",
    params(("id" = Uuid, Path, description = "Team id"),
        ("person_id" = Uuid, Path, description = "Person id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path((id, person)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    let (tx, _) = change(
        &state,
        &ctx,
        "org.team_member_removed",
        Change::RemoveMember { team: id, person },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// --------------------------------------------------------------------------------- projects

/// A project: what it covers and who owns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Repositories.
    pub repository_ids: Vec<Uuid>,
    /// Jira project keys.
    pub jira_keys: Vec<String>,
    /// Boards.
    pub board_ids: Vec<Uuid>,
    /// Owning teams.
    pub team_ids: Vec<Uuid>,
    /// Where the project came from (`manual` when created here).
    pub source: String,
    /// Its id there.
    pub external_id: String,
}

impl From<org::ProjectInfo> for ProjectView {
    fn from(p: org::ProjectInfo) -> Self {
        Self {
            id: p.project.id,
            name: p.project.name,
            repository_ids: p.repositories,
            jira_keys: p.jira_keys,
            board_ids: p.boards,
            team_ids: p.teams,
            source: p.project.source,
            external_id: p.project.external_id,
        }
    }
}

/// Every project of the client, by name.
#[utoipa::path(get, path = "/org/projects", tag = "org", params(SearchQuery),
    responses((status = 200, body = Vec<ProjectView>), (status = 400, body = ErrorBody)))]
async fn list_projects(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Query(q): Query<SearchQuery>,
) -> Result<axum::Json<Vec<ProjectView>>> {
    let tx = state.db().tenant_read(ctx.client).await?;
    let found = org::list_projects(&tx, q.search.as_deref()).await?;
    tx.commit().await?;
    Ok(axum::Json(found.into_iter().map(Into::into).collect()))
}

/// A project to create, optionally with its links.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    /// Name (1 to 200 characters).
    pub name: String,
    /// Repositories it covers.
    #[serde(default)]
    pub repository_ids: Vec<Uuid>,
    /// Jira project keys it covers.
    #[serde(default)]
    pub jira_keys: Vec<String>,
    /// Boards it covers.
    #[serde(default)]
    pub board_ids: Vec<Uuid>,
    /// Teams that own it.
    #[serde(default)]
    pub team_ids: Vec<Uuid>,
}

/// Creates a project (admin). Every linked id must be the client's (404 otherwise, and nothing
/// is created).
#[utoipa::path(post, path = "/org/projects", tag = "org", request_body = CreateProjectRequest,
    responses((status = 201, body = ProjectView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_project(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Json(req): Json<CreateProjectRequest>,
) -> Result<(StatusCode, axum::Json<ProjectView>)> {
    let tx = state.db().tenant(ctx.client).await?;
    let created = org::apply(&tx, Change::CreateProject { name: req.name }).await?;
    let project = created.id.ok_or(Error::NotFound)?;
    let links = req
        .repository_ids
        .into_iter()
        .map(Link::Repository)
        .chain(req.jira_keys.into_iter().map(Link::JiraKey))
        .chain(req.board_ids.into_iter().map(Link::Board))
        .chain(req.team_ids.into_iter().map(Link::Team));
    let mut linked = Vec::new();
    for link in links {
        linked.push(org::apply(&tx, Change::LinkProject { project, link }).await?);
    }
    let mut e = entry(&ctx, "org.project_created", Some(project.to_string()));
    e.details = Some(serde_json::json!({ "created": created, "links": linked }));
    audit::record_in(&tx, e).await?;
    let view = org::get_project(&tx, project).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(view.into())))
}

/// One project.
#[utoipa::path(get, path = "/org/projects/{id}", tag = "org",
    params(("id" = Uuid, Path, description = "Project id")),
    responses((status = 200, body = ProjectView), (status = 404, body = ErrorBody)))]
async fn get_project(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<ProjectView>> {
    let tx = state.db().tenant_read(ctx.client).await?;
    let p = org::get_project(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(p.into()))
}

/// Changes to a project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    /// New name.
    pub name: String,
}

/// Renames a project (admin).
#[utoipa::path(patch, path = "/org/projects/{id}", tag = "org",
    params(("id" = Uuid, Path, description = "Project id")), request_body = UpdateProjectRequest,
    responses((status = 200, body = ProjectView), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn update_project(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateProjectRequest>,
) -> Result<axum::Json<ProjectView>> {
    let (tx, _) = change(
        &state,
        &ctx,
        "org.project_updated",
        Change::RenameProject {
            project: id,
            name: req.name,
        },
    )
    .await?;
    let p = org::get_project(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(p.into()))
}

/// Deletes a project and its links (admin); repositories, boards and teams stay.
#[utoipa::path(delete, path = "/org/projects/{id}", tag = "org",
    params(("id" = Uuid, Path, description = "Project id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_project(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    let (tx, _) = change(
        &state,
        &ctx,
        "org.project_deleted",
        Change::DeleteProject { project: id },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn relink(
    state: &AppState,
    ctx: &AuthContext,
    project: Uuid,
    link: Link,
    add: bool,
) -> Result<axum::Json<ProjectView>> {
    let (action, change_) = if add {
        ("org.project_linked", Change::LinkProject { project, link })
    } else {
        (
            "org.project_unlinked",
            Change::UnlinkProject { project, link },
        )
    };
    let (tx, _) = change(state, ctx, action, change_).await?;
    let p = org::get_project(&tx, project).await?;
    tx.commit().await?;
    Ok(axum::Json(p.into()))
}

macro_rules! link_routes {
    ($link:ident, $unlink:ident, $path:literal, $param:literal, $ty:ty, $variant:expr, $what:literal) => {
        #[doc = concat!("Adds ", $what, " to a project (admin); adding it again changes nothing.")]
        #[utoipa::path(put, path = $path, tag = "org",
            params(("id" = Uuid, Path, description = "Project id"),
                ($param = $ty, Path, description = $what)),
            responses((status = 200, body = ProjectView), (status = 404, body = ErrorBody),
                (status = 422, body = ErrorBody)))]
        async fn $link(
            State(state): State<AppState>,
            Admin(ctx): Admin,
            Path((id, value)): Path<(Uuid, $ty)>,
        ) -> Result<axum::Json<ProjectView>> {
            relink(&state, &ctx, id, $variant(value), true).await
        }

        #[doc = concat!("Removes ", $what, " from a project (admin); removing a link that is not there changes nothing.")]
        #[utoipa::path(delete, path = $path, tag = "org",
            params(("id" = Uuid, Path, description = "Project id"),
                ($param = $ty, Path, description = $what)),
            responses((status = 200, body = ProjectView), (status = 404, body = ErrorBody),
                (status = 422, body = ErrorBody)))]
        async fn $unlink(
            State(state): State<AppState>,
            Admin(ctx): Admin,
            Path((id, value)): Path<(Uuid, $ty)>,
        ) -> Result<axum::Json<ProjectView>> {
            relink(&state, &ctx, id, $variant(value), false).await
        }
    };
}

link_routes!(
    link_repository,
    unlink_repository,
    "/org/projects/{id}/repositories/{repository_id}",
    "repository_id",
    Uuid,
    Link::Repository,
    "a repository"
);
link_routes!(
    link_board,
    unlink_board,
    "/org/projects/{id}/boards/{board_id}",
    "board_id",
    Uuid,
    Link::Board,
    "a board"
);
link_routes!(
    link_team,
    unlink_team,
    "/org/projects/{id}/teams/{team_id}",
    "team_id",
    Uuid,
    Link::Team,
    "an owning team"
);
link_routes!(
    link_jira_key,
    unlink_jira_key,
    "/org/projects/{id}/jira-keys/{key}",
    "key",
    String,
    Link::JiraKey,
    "a Jira project key"
);

// ----------------------------------------------------------------------------------- people

/// A person.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// E-mail (lower-case).
    pub email: Option<String>,
    /// Set when the person was merged into another.
    pub merged_into_id: Option<Uuid>,
    /// Where the person came from (`manual` when created here).
    pub source: String,
    /// Their id there.
    pub external_id: String,
    /// Last written.
    pub updated_at: DateTime<Utc>,
}

impl From<pulse_db::entity::people::Model> for PersonView {
    fn from(p: pulse_db::entity::people::Model) -> Self {
        Self {
            id: p.id,
            name: p.name,
            email: p.email,
            merged_into_id: p.merged_into_id,
            source: p.source,
            external_id: p.external_id,
            updated_at: p.synced_at,
        }
    }
}

/// An account of a person in a tool.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// `github` or `jira`.
    pub provider: String,
    /// GitHub login or Jira account id (lower-case).
    pub login: String,
    /// Mapped by an administrator (imports leave it alone; it wins over e-mail matches).
    pub explicit: bool,
    /// The person the account row is attached to (this one, or one merged into it).
    pub person_id: Uuid,
}

/// A person with accounts, teams and the people merged into them.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonDetail {
    /// The person.
    #[serde(flatten)]
    pub person: PersonView,
    /// Accounts.
    pub accounts: Vec<AccountView>,
    /// Teams the person is a direct member of.
    pub team_ids: Vec<Uuid>,
    /// People merged into this one.
    pub merged_ids: Vec<Uuid>,
}

impl From<org::PersonInfo> for PersonDetail {
    fn from(p: org::PersonInfo) -> Self {
        Self {
            person: p.person.into(),
            accounts: p
                .accounts
                .into_iter()
                .map(|a| AccountView {
                    provider: a.provider,
                    login: a.login,
                    explicit: a.explicit,
                    person_id: a.person_id,
                })
                .collect(),
            team_ids: p.teams,
            merged_ids: p.merged,
        }
    }
}

/// Filters and paging for the people list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeopleQuery {
    /// Name, e-mail or account login contains (ignoring case).
    pub search: Option<String>,
    /// Also list people merged into others (default false).
    pub include_merged: Option<bool>,
    /// Page size (1 to 200, default 50).
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
}

/// The client's people, by name.
#[utoipa::path(get, path = "/org/people", tag = "org", params(PeopleQuery),
    responses((status = 200, body = PageOf<PersonView>), (status = 400, body = ErrorBody)))]
async fn list_people(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Query(q): Query<PeopleQuery>,
) -> Result<axum::Json<PageOf<PersonView>>> {
    let page = Page::new(q.limit, q.offset);
    let tx = state.db().tenant_read(ctx.client).await?;
    let found = org::list_people(
        &tx,
        &org::PeopleFilter {
            search: q.search,
            include_merged: q.include_merged.unwrap_or(false),
        },
        page,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(PageOf {
        items: found.items.into_iter().map(Into::into).collect(),
        total: found.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// A person to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePersonRequest {
    /// Display name.
    pub name: String,
    /// E-mail (unique among the client's people); commits with this author e-mail and no person
    /// yet are attributed to the new person.
    #[serde(default)]
    pub email: Option<String>,
}

/// Creates a person (admin).
#[utoipa::path(post, path = "/org/people", tag = "org", request_body = CreatePersonRequest,
    responses((status = 201, body = PersonDetail), (status = 403, body = ErrorBody),
        (status = 409, description = "Another person has this e-mail", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_person(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Json(req): Json<CreatePersonRequest>,
) -> Result<(StatusCode, axum::Json<PersonDetail>)> {
    let (tx, effect) = change(
        &state,
        &ctx,
        "org.person_created",
        Change::CreatePerson {
            name: req.name,
            email: req.email,
        },
    )
    .await?;
    let p = org::get_person(&tx, effect.id.ok_or(Error::NotFound)?).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(p.into())))
}

/// One person with accounts and teams (a merged person too: `merged_into_id` says where).
#[utoipa::path(get, path = "/org/people/{id}", tag = "org",
    params(("id" = Uuid, Path, description = "Person id")),
    responses((status = 200, body = PersonDetail), (status = 404, body = ErrorBody)))]
async fn get_person(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<PersonDetail>> {
    let tx = state.db().tenant_read(ctx.client).await?;
    let p = org::get_person(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(p.into()))
}

/// The person to merge into the one in the path.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergePersonRequest {
    /// The person merged away: their memberships, accounts and attributed work move to the
    /// person in the path.
    pub person_id: Uuid,
}

/// Merges another person into this one (admin). The merged person's row stays, marked as
/// merged, so re-imports of it keep resolving to this person.
#[utoipa::path(post, path = "/org/people/{id}/merge", tag = "org",
    params(("id" = Uuid, Path, description = "The person who stays")),
    request_body = MergePersonRequest,
    responses((status = 200, body = PersonDetail), (status = 404, body = ErrorBody),
        (status = 409, description = "One of them was already merged", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn merge_person(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<Uuid>,
    Json(req): Json<MergePersonRequest>,
) -> Result<axum::Json<PersonDetail>> {
    let (tx, _) = change(
        &state,
        &ctx,
        "org.people_merged",
        Change::MergePeople {
            into: id,
            from: req.person_id,
        },
    )
    .await?;
    let p = org::get_person(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(p.into()))
}

/// An account to map to a person.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MapAccountRequest {
    /// `github` or `jira`.
    pub provider: String,
    /// GitHub login or Jira account id (compared ignoring case).
    pub login: String,
}

/// Maps an account to this person explicitly (admin). The mapping survives re-imports, wins over
/// e-mail matches, moves the account from another person if it had one, and re-attributes the
/// pull requests, commits, reviews, comments and issues of that login.
#[utoipa::path(post, path = "/org/people/{id}/accounts", tag = "org",
    params(("id" = Uuid, Path, description = "Person id")), request_body = MapAccountRequest,
    responses((status = 200, body = PersonDetail), (status = 404, body = ErrorBody),
        (status = 409, description = "The person was merged into another", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn map_account(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<Uuid>,
    Json(req): Json<MapAccountRequest>,
) -> Result<axum::Json<PersonDetail>> {
    let (tx, _) = change(
        &state,
        &ctx,
        "org.account_mapped",
        Change::MapAccount {
            person: id,
            provider: req.provider,
            login: req.login,
        },
    )
    .await?;
    let p = org::get_person(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(p.into()))
}

/// Removes an account of this person (admin) and re-attributes its rows by the remaining rules
/// (e-mail where the row has one, accounts listed by imports). An imported account comes back
/// with the next import of its person; map it explicitly elsewhere to move it for good.
#[utoipa::path(delete, path = "/org/people/{id}/accounts/{provider}/{login}", tag = "org",
    params(("id" = Uuid, Path, description = "Person id"),
        ("provider" = String, Path, description = "`github` or `jira`"),
        ("login" = String, Path, description = "Login or account id")),
    responses((status = 200, body = PersonDetail), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn unmap_account(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path((id, provider, login)): Path<(Uuid, String, String)>,
) -> Result<axum::Json<PersonDetail>> {
    let (tx, _) = change(
        &state,
        &ctx,
        "org.account_unmapped",
        Change::UnmapAccount {
            person: id,
            provider,
            login,
        },
    )
    .await?;
    let p = org::get_person(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(p.into()))
}

// ------------------------------------------------------------------- repositories and boards

/// A repository.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepositoryView {
    /// Id.
    pub id: Uuid,
    /// `owner/name`.
    pub full_name: String,
    /// Default branch.
    pub default_branch: Option<String>,
    /// Web address.
    pub url: Option<String>,
    /// Source system.
    pub source: String,
    /// Id there.
    pub external_id: String,
}

/// Filters and paging for the repository list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RepositoryQuery {
    /// `owner/name` contains (ignoring case).
    pub search: Option<String>,
    /// Page size (1 to 200, default 50).
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
}

/// The client's repositories, by name (to link to projects).
#[utoipa::path(get, path = "/org/repositories", tag = "org", params(RepositoryQuery),
    responses((status = 200, body = PageOf<RepositoryView>), (status = 400, body = ErrorBody)))]
async fn list_repositories(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
    Query(q): Query<RepositoryQuery>,
) -> Result<axum::Json<PageOf<RepositoryView>>> {
    let page = Page::new(q.limit, q.offset);
    let tx = state.db().tenant_read(ctx.client).await?;
    let found = org::list_repositories(&tx, q.search.as_deref(), page).await?;
    tx.commit().await?;
    Ok(axum::Json(PageOf {
        items: found
            .items
            .into_iter()
            .map(|r| RepositoryView {
                id: r.id,
                full_name: r.full_name,
                default_branch: r.default_branch,
                url: r.url,
                source: r.source,
                external_id: r.external_id,
            })
            .collect(),
        total: found.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// A board.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoardView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// `scrum` or `kanban`.
    pub kind: Option<String>,
    /// Jira project key of the board.
    pub project_key: Option<String>,
    /// Source system.
    pub source: String,
    /// Id there.
    pub external_id: String,
}

/// The client's boards, by name (to link to projects).
#[utoipa::path(get, path = "/org/boards", tag = "org",
    responses((status = 200, body = Vec<BoardView>)))]
async fn list_boards(
    State(state): State<AppState>,
    Viewer(ctx): Viewer,
) -> Result<axum::Json<Vec<BoardView>>> {
    let tx = state.db().tenant_read(ctx.client).await?;
    let found = org::list_boards(&tx).await?;
    tx.commit().await?;
    Ok(axum::Json(
        found
            .into_iter()
            .map(|b| BoardView {
                id: b.id,
                name: b.name,
                kind: b.kind,
                project_key: b.project_key,
                source: b.source,
                external_id: b.external_id,
            })
            .collect(),
    ))
}
