//! `pulse team`, `pulse project`, `pulse person`: the organisation from the command line. Every
//! change goes through `pulse_db::repo::org::apply` (like the API) and is audited as `org.*`
//! with `"via": "cli"`. Teams, projects, people, repositories and boards are named by id, by name
//! (ignoring case; people by e-mail) or by external id.

use clap::{Args, Subcommand};
use pulse_config::Config;
use pulse_core::ClientId;
use pulse_db::repo::org::{self, Change, Effect, Link};
use pulse_db::repo::{audit, Page};
use pulse_db::{Db, TenantTx};
use uuid::Uuid;

use crate::admin::{open, resolve_client};

/// The client option shared by every subcommand.
#[derive(Args, Clone)]
pub struct ClientArg {
    /// Client name (defaults to CLIENT_NAME).
    #[arg(long)]
    client: Option<String>,
}

#[derive(Subcommand)]
pub enum TeamAction {
    /// List teams with their parent and member count.
    List(ClientArg),
    /// Create a team.
    Create {
        #[command(flatten)]
        client: ClientArg,
        /// Name.
        name: String,
        /// Parent team.
        #[arg(long)]
        parent: Option<String>,
    },
    /// Rename a team.
    Rename {
        #[command(flatten)]
        client: ClientArg,
        /// The team.
        team: String,
        /// New name.
        name: String,
    },
    /// Put a team under another one (refused if that would make a cycle).
    SetParent {
        #[command(flatten)]
        client: ClientArg,
        /// The team.
        team: String,
        /// Its new parent.
        parent: String,
    },
    /// Make a team top-level.
    ClearParent {
        #[command(flatten)]
        client: ClientArg,
        /// The team.
        team: String,
    },
    /// Delete a team: sub-teams move up to its parent, memberships and project ownership go.
    Delete {
        #[command(flatten)]
        client: ClientArg,
        /// The team.
        team: String,
    },
    /// List a team's members.
    Members {
        #[command(flatten)]
        client: ClientArg,
        /// The team.
        team: String,
    },
    /// Add people to a team.
    AddMember {
        #[command(flatten)]
        client: ClientArg,
        /// The team.
        team: String,
        /// The people (id, e-mail or external id).
        #[arg(required = true)]
        people: Vec<String>,
        /// Role in the team (e.g. lead).
        #[arg(long)]
        role: Option<String>,
    },
    /// Remove a person from a team.
    RemoveMember {
        #[command(flatten)]
        client: ClientArg,
        /// The team.
        team: String,
        /// The person.
        person: String,
    },
}

/// What to link to or unlink from a project.
#[derive(Args, Clone, Default)]
pub struct LinkArgs {
    /// Repository (id, owner/name or external id); repeatable.
    #[arg(long = "repository")]
    repositories: Vec<String>,
    /// Jira project key; repeatable.
    #[arg(long = "jira-key")]
    jira_keys: Vec<String>,
    /// Board (id, name or external id); repeatable.
    #[arg(long = "board")]
    boards: Vec<String>,
    /// Owning team (id, name or external id); repeatable.
    #[arg(long = "team")]
    teams: Vec<String>,
}

#[derive(Subcommand)]
pub enum ProjectAction {
    /// List projects with what they cover.
    List(ClientArg),
    /// Show one project.
    Show {
        #[command(flatten)]
        client: ClientArg,
        /// The project.
        project: String,
    },
    /// Create a project, optionally with links.
    Create {
        #[command(flatten)]
        client: ClientArg,
        /// Name.
        name: String,
        #[command(flatten)]
        links: LinkArgs,
    },
    /// Rename a project.
    Rename {
        #[command(flatten)]
        client: ClientArg,
        /// The project.
        project: String,
        /// New name.
        name: String,
    },
    /// Delete a project and its links.
    Delete {
        #[command(flatten)]
        client: ClientArg,
        /// The project.
        project: String,
    },
    /// Link repositories, Jira keys, boards or owning teams.
    Link {
        #[command(flatten)]
        client: ClientArg,
        /// The project.
        project: String,
        #[command(flatten)]
        links: LinkArgs,
    },
    /// Unlink repositories, Jira keys, boards or owning teams.
    Unlink {
        #[command(flatten)]
        client: ClientArg,
        /// The project.
        project: String,
        #[command(flatten)]
        links: LinkArgs,
    },
}

#[derive(Subcommand)]
pub enum PersonAction {
    /// List people (name, e-mail or login contains --search).
    List {
        #[command(flatten)]
        client: ClientArg,
        /// Search text.
        #[arg(long)]
        search: Option<String>,
    },
    /// Show a person with accounts and teams.
    Show {
        #[command(flatten)]
        client: ClientArg,
        /// The person (id, e-mail or external id).
        person: String,
    },
    /// Create a person.
    Create {
        #[command(flatten)]
        client: ClientArg,
        /// Display name.
        name: String,
        /// E-mail.
        #[arg(long)]
        email: Option<String>,
    },
    /// Merge FROM into INTO: memberships, accounts and attributed work move to INTO.
    Merge {
        #[command(flatten)]
        client: ClientArg,
        /// The person who stays.
        into: String,
        /// The person merged away.
        from: String,
    },
    /// Map a GitHub login or Jira account id to a person explicitly (survives re-imports).
    Map {
        #[command(flatten)]
        client: ClientArg,
        /// The person.
        person: String,
        /// github or jira.
        provider: String,
        /// Login or account id.
        login: String,
    },
    /// Remove an account from a person.
    Unmap {
        #[command(flatten)]
        client: ClientArg,
        /// The person.
        person: String,
        /// github or jira.
        provider: String,
        /// Login or account id.
        login: String,
    },
}

struct Ctx {
    db: Db,
    client: ClientId,
}

async fn ctx(config: &Config, client: &ClientArg) -> anyhow::Result<Ctx> {
    let db = open(config).await?;
    let client = resolve_client(config, &db, client.client.clone()).await?;
    Ok(Ctx { db, client })
}

/// What a reference names.
#[derive(Clone, Copy)]
enum Kind {
    Team,
    Project,
    Person,
    Repository,
    Board,
}

async fn find(tx: &TenantTx, kind: Kind, reference: &str) -> anyhow::Result<Uuid> {
    let (what, found) = match kind {
        Kind::Team => ("team", org::find_team(tx, reference).await),
        Kind::Project => ("project", org::find_project(tx, reference).await),
        Kind::Person => ("person", org::find_person(tx, reference).await),
        Kind::Repository => ("repository", org::find_repository(tx, reference).await),
        Kind::Board => ("board", org::find_board(tx, reference).await),
    };
    found
        .map_err(describe)?
        .ok_or_else(|| anyhow::anyhow!("no {what} `{reference}` in this client"))
}

/// A `pulse_core::Error` as a message a person can act on.
fn describe(e: pulse_core::Error) -> anyhow::Error {
    match e {
        pulse_core::Error::Validation(fields) => anyhow::anyhow!(
            "{}",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        pulse_core::Error::NotFound => anyhow::anyhow!("not found in this client"),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Applies changes in one transaction, audits each, commits.
async fn run(tx: TenantTx, action: &str, changes: Vec<Change>) -> anyhow::Result<Vec<Effect>> {
    let mut effects = Vec::new();
    for change in changes {
        let effect = org::apply(&tx, change).await.map_err(describe)?;
        if effect.changed {
            audit::record_in(
                &tx,
                audit::Entry {
                    action: action.to_string(),
                    target: effect.id.map(|i| i.to_string()),
                    details: Some(serde_json::json!({ "via": "cli", "effect": effect })),
                    ..Default::default()
                },
            )
            .await?;
        }
        effects.push(effect);
    }
    tx.commit().await?;
    Ok(effects)
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".into(), |v| v.to_string())
}

fn ids(v: &[Uuid]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",")
    }
}

pub async fn team(config: Config, action: TeamAction) -> anyhow::Result<()> {
    match action {
        TeamAction::List(client) => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            for t in org::list_teams(&tx, None).await? {
                println!(
                    "{}\t{}\tparent={}\tmembers={}\tprojects={}",
                    t.team.id,
                    t.team.name,
                    opt(&t.team.parent_id),
                    t.members,
                    t.projects.len()
                );
            }
            tx.commit().await?;
        }
        TeamAction::Create {
            client,
            name,
            parent,
        } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let parent = match parent {
                Some(p) => Some(find(&tx, Kind::Team, &p).await?),
                None => None,
            };
            let e = run(
                tx,
                "org.team_created",
                vec![Change::CreateTeam { name, parent }],
            )
            .await?;
            println!("created team {}", opt(&e[0].id));
        }
        TeamAction::Rename { client, team, name } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let team = find(&tx, Kind::Team, &team).await?;
            let change = Change::UpdateTeam {
                team,
                name: Some(name),
                parent: None,
            };
            run(tx, "org.team_updated", vec![change]).await?;
            println!("renamed team {team}");
        }
        TeamAction::SetParent {
            client,
            team,
            parent,
        } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let team = find(&tx, Kind::Team, &team).await?;
            let parent = find(&tx, Kind::Team, &parent).await?;
            let change = Change::UpdateTeam {
                team,
                name: None,
                parent: Some(Some(parent)),
            };
            run(tx, "org.team_updated", vec![change]).await?;
            println!("team {team} is now under {parent}");
        }
        TeamAction::ClearParent { client, team } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let team = find(&tx, Kind::Team, &team).await?;
            let change = Change::UpdateTeam {
                team,
                name: None,
                parent: Some(None),
            };
            run(tx, "org.team_updated", vec![change]).await?;
            println!("team {team} is now top-level");
        }
        TeamAction::Delete { client, team } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let team = find(&tx, Kind::Team, &team).await?;
            let e = run(tx, "org.team_deleted", vec![Change::DeleteTeam { team }]).await?;
            println!(
                "deleted team {team}; sub-teams moved up: {}",
                ids(&e[0].moved_teams)
            );
        }
        TeamAction::Members { client, team } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let team = find(&tx, Kind::Team, &team).await?;
            for m in org::team_members(&tx, team).await.map_err(describe)? {
                println!(
                    "{}\t{}\t{}\trole={}",
                    m.person.id,
                    m.person.name,
                    opt(&m.person.email),
                    opt(&m.role)
                );
            }
            tx.commit().await?;
        }
        TeamAction::AddMember {
            client,
            team,
            people,
            role,
        } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let team = find(&tx, Kind::Team, &team).await?;
            let mut ids_ = Vec::new();
            for p in &people {
                ids_.push(find(&tx, Kind::Person, p).await?);
            }
            let change = Change::AddMembers {
                team,
                people: ids_,
                role,
            };
            let e = run(tx, "org.team_members_added", vec![change]).await?;
            println!(
                "team {team}: {} added",
                if e[0].changed { "members" } else { "nothing" }
            );
        }
        TeamAction::RemoveMember {
            client,
            team,
            person,
        } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let team = find(&tx, Kind::Team, &team).await?;
            let person = find(&tx, Kind::Person, &person).await?;
            let e = run(
                tx,
                "org.team_member_removed",
                vec![Change::RemoveMember { team, person }],
            )
            .await?;
            if e[0].changed {
                println!("removed {person} from team {team}");
            } else {
                println!("{person} was not a member of team {team}");
            }
        }
    }
    Ok(())
}

async fn links(tx: &TenantTx, args: &LinkArgs) -> anyhow::Result<Vec<Link>> {
    let mut out = Vec::new();
    for r in &args.repositories {
        out.push(Link::Repository(find(tx, Kind::Repository, r).await?));
    }
    for k in &args.jira_keys {
        out.push(Link::JiraKey(k.clone()));
    }
    for b in &args.boards {
        out.push(Link::Board(find(tx, Kind::Board, b).await?));
    }
    for t in &args.teams {
        out.push(Link::Team(find(tx, Kind::Team, t).await?));
    }
    Ok(out)
}

fn print_project(p: &org::ProjectInfo) {
    println!(
        "{}\t{}\trepositories={}\tjira_keys={}\tboards={}\tteams={}",
        p.project.id,
        p.project.name,
        ids(&p.repositories),
        if p.jira_keys.is_empty() {
            "-".into()
        } else {
            p.jira_keys.join(",")
        },
        ids(&p.boards),
        ids(&p.teams)
    );
}

pub async fn project(config: Config, action: ProjectAction) -> anyhow::Result<()> {
    match action {
        ProjectAction::List(client) => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            for p in org::list_projects(&tx, None).await? {
                print_project(&p);
            }
            tx.commit().await?;
        }
        ProjectAction::Show { client, project } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let id = find(&tx, Kind::Project, &project).await?;
            print_project(&org::get_project(&tx, id).await.map_err(describe)?);
            tx.commit().await?;
        }
        ProjectAction::Create {
            client,
            name,
            links: args,
        } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let wanted = links(&tx, &args).await?;
            let created = org::apply(&tx, Change::CreateProject { name })
                .await
                .map_err(describe)?;
            let project = created.id.expect("a created project has an id");
            let mut changes = Vec::new();
            for link in wanted {
                changes.push(
                    org::apply(&tx, Change::LinkProject { project, link })
                        .await
                        .map_err(describe)?,
                );
            }
            audit::record_in(
                &tx,
                audit::Entry {
                    action: "org.project_created".into(),
                    target: Some(project.to_string()),
                    details: Some(
                        serde_json::json!({"via": "cli", "created": created, "links": changes}),
                    ),
                    ..Default::default()
                },
            )
            .await?;
            print_project(&org::get_project(&tx, project).await.map_err(describe)?);
            tx.commit().await?;
        }
        ProjectAction::Rename {
            client,
            project,
            name,
        } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let project = find(&tx, Kind::Project, &project).await?;
            run(
                tx,
                "org.project_updated",
                vec![Change::RenameProject { project, name }],
            )
            .await?;
            println!("renamed project {project}");
        }
        ProjectAction::Delete { client, project } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let project = find(&tx, Kind::Project, &project).await?;
            run(
                tx,
                "org.project_deleted",
                vec![Change::DeleteProject { project }],
            )
            .await?;
            println!("deleted project {project}");
        }
        ProjectAction::Link {
            client,
            project,
            links: args,
        } => relink(&config, &client, &project, &args, true).await?,
        ProjectAction::Unlink {
            client,
            project,
            links: args,
        } => relink(&config, &client, &project, &args, false).await?,
    }
    Ok(())
}

async fn relink(
    config: &Config,
    client: &ClientArg,
    project: &str,
    args: &LinkArgs,
    add: bool,
) -> anyhow::Result<()> {
    let c = ctx(config, client).await?;
    let tx = c.db.tenant(c.client).await?;
    let project = find(&tx, Kind::Project, project).await?;
    let wanted = links(&tx, args).await?;
    anyhow::ensure!(
        !wanted.is_empty(),
        "name something to {}: --repository, --jira-key, --board or --team",
        if add { "link" } else { "unlink" }
    );
    let (action, changes): (&str, Vec<Change>) = if add {
        (
            "org.project_linked",
            wanted
                .into_iter()
                .map(|link| Change::LinkProject { project, link })
                .collect(),
        )
    } else {
        (
            "org.project_unlinked",
            wanted
                .into_iter()
                .map(|link| Change::UnlinkProject { project, link })
                .collect(),
        )
    };
    let effects = run(tx, action, changes).await?;
    let changed = effects.iter().filter(|e| e.changed).count();
    println!(
        "project {project}: {changed} of {} links {}",
        effects.len(),
        if add { "added" } else { "removed" }
    );
    Ok(())
}

pub async fn person(config: Config, action: PersonAction) -> anyhow::Result<()> {
    match action {
        PersonAction::List { client, search } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let mut offset = 0;
            loop {
                let page = Page::new(Some(Page::MAX_LIMIT), Some(offset));
                let found = org::list_people(
                    &tx,
                    &org::PeopleFilter {
                        search: search.clone(),
                        include_merged: false,
                    },
                    page,
                )
                .await?;
                for p in &found.items {
                    println!("{}\t{}\t{}", p.id, p.name, opt(&p.email));
                }
                offset += found.items.len() as u64;
                if found.items.is_empty() || offset >= found.total {
                    break;
                }
            }
            tx.commit().await?;
        }
        PersonAction::Show { client, person } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let id = find(&tx, Kind::Person, &person).await?;
            let p = org::get_person(&tx, id).await.map_err(describe)?;
            println!(
                "{}\t{}\t{}",
                p.person.id,
                p.person.name,
                opt(&p.person.email)
            );
            for a in &p.accounts {
                println!(
                    "  account {}:{}{}",
                    a.provider,
                    a.login,
                    if a.explicit { " (explicit)" } else { "" }
                );
            }
            println!("  teams {}", ids(&p.teams));
            if !p.merged.is_empty() {
                println!("  merged {}", ids(&p.merged));
            }
            tx.commit().await?;
        }
        PersonAction::Create {
            client,
            name,
            email,
        } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let e = run(
                tx,
                "org.person_created",
                vec![Change::CreatePerson { name, email }],
            )
            .await?;
            println!("created person {}", opt(&e[0].id));
        }
        PersonAction::Merge { client, into, from } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let into = find(&tx, Kind::Person, &into).await?;
            let from = find(&tx, Kind::Person, &from).await?;
            let e = run(
                tx,
                "org.people_merged",
                vec![Change::MergePeople { into, from }],
            )
            .await?;
            println!(
                "merged {from} into {into}; {} rows re-attributed",
                e[0].reassigned_rows
            );
        }
        PersonAction::Map {
            client,
            person,
            provider,
            login,
        } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let person = find(&tx, Kind::Person, &person).await?;
            let e = run(
                tx,
                "org.account_mapped",
                vec![Change::MapAccount {
                    person,
                    provider: provider.clone(),
                    login: login.clone(),
                }],
            )
            .await?;
            println!(
                "mapped {provider}:{login} to {person}; {} rows re-attributed",
                e[0].reassigned_rows
            );
        }
        PersonAction::Unmap {
            client,
            person,
            provider,
            login,
        } => {
            let c = ctx(&config, &client).await?;
            let tx = c.db.tenant(c.client).await?;
            let person = find(&tx, Kind::Person, &person).await?;
            let e = run(
                tx,
                "org.account_unmapped",
                vec![Change::UnmapAccount {
                    person,
                    provider: provider.clone(),
                    login: login.clone(),
                }],
            )
            .await?;
            println!(
                "removed {provider}:{login} from {person}; {} rows re-attributed",
                e[0].reassigned_rows
            );
        }
    }
    Ok(())
}
