//! `pulse rules`: show and change a client's metric rules and per-project overrides from the
//! command line (the same validation, recomputation and audit as `/api/v1/rules`).

use std::path::PathBuf;

use clap::Subcommand;
use pulse_analytics::rules::service;
use pulse_config::Config;
use pulse_db::entity::projects;
use pulse_db::repo::audit;
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use pulse_db::TenantTx;
use serde_json::json;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum RulesAction {
    /// Print the client's rules, or a project's effective rules and override, as JSON.
    Show {
        /// Client name (defaults to CLIENT_NAME).
        #[arg(long)]
        client: Option<String>,
        /// Project id (or the project's external id).
        #[arg(long)]
        project: Option<String>,
    },
    /// Replace the client's rules with a JSON document (fields left out take the defaults), or,
    /// with --project, set the project's override (a partial document). Recomputes what depends
    /// on them; a bad document prints every problem and changes nothing.
    Set {
        /// Client name (defaults to CLIENT_NAME).
        #[arg(long)]
        client: Option<String>,
        /// Project id (or the project's external id).
        #[arg(long)]
        project: Option<String>,
        /// The JSON document (`-` reads standard input).
        #[arg(long)]
        file: PathBuf,
    },
    /// Remove a project's override: the client's rules apply to it again.
    Clear {
        /// Client name (defaults to CLIENT_NAME).
        #[arg(long)]
        client: Option<String>,
        /// Project id (or the project's external id).
        #[arg(long)]
        project: String,
    },
}

/// A project named by its id, or by its external id when that is unambiguous.
async fn project_id(tx: &TenantTx, name: &str) -> anyhow::Result<Uuid> {
    if let Ok(id) = name.parse::<Uuid>() {
        return Ok(id);
    }
    let found: Vec<Uuid> = projects::Entity::find()
        .select_only()
        .column(projects::Column::Id)
        .filter(projects::Column::ClientId.eq(tx.client_uuid()))
        .filter(projects::Column::ExternalId.eq(name))
        .into_tuple()
        .all(tx.conn())
        .await?;
    match found.as_slice() {
        [id] => Ok(*id),
        [] => anyhow::bail!("no project '{name}' in this client"),
        _ => anyhow::bail!("several projects have the external id '{name}': give its id"),
    }
}

fn read_document(file: &PathBuf) -> anyhow::Result<serde_json::Value> {
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
    };
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", file.display()))
}

/// Prints a failure's field errors, one a line, and returns it.
fn explain(e: pulse_core::Error) -> anyhow::Error {
    if let pulse_core::Error::Validation(problems) = &e {
        for p in problems {
            eprintln!("{}: {}", p.field, p.message);
        }
        return anyhow::anyhow!("the rules were not changed: {} problems", problems.len());
    }
    e.into()
}

fn print(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub async fn run(config: Config, action: RulesAction) -> anyhow::Result<()> {
    let db = crate::admin::open(&config).await?;
    match action {
        RulesAction::Show { client, project } => {
            let client = crate::admin::resolve_client(&config, &db, client).await?;
            let tx = db.tenant(client).await?;
            match project {
                Some(p) => {
                    let id = project_id(&tx, &p).await?;
                    print(&service::view_project(&tx, id).await.map_err(explain)?)?;
                }
                None => print(&service::view_client(&tx).await?)?,
            }
            tx.commit().await?;
        }
        RulesAction::Set {
            client,
            project,
            file,
        } => {
            let document = read_document(&file)?;
            let client = crate::admin::resolve_client(&config, &db, client).await?;
            let tx = db.tenant(client).await?;
            let (action, target, changed, recomputed) = match project {
                Some(p) => {
                    let id = project_id(&tx, &p).await?;
                    let change = service::set_project(&tx, id, document)
                        .await
                        .map_err(explain)?;
                    print(&change)?;
                    (
                        "rules.project_override",
                        Some(id.to_string()),
                        change.changed,
                        change.recomputed,
                    )
                }
                None => {
                    let change = service::replace_client(&tx, document)
                        .await
                        .map_err(explain)?;
                    print(&change)?;
                    ("rules.replace", None, change.changed, change.recomputed)
                }
            };
            audit_cli(&tx, action, target, &changed, &recomputed).await?;
            tx.commit().await?;
        }
        RulesAction::Clear { client, project } => {
            let client = crate::admin::resolve_client(&config, &db, client).await?;
            let tx = db.tenant(client).await?;
            let id = project_id(&tx, &project).await?;
            let change = service::clear_project(&tx, id).await.map_err(explain)?;
            print(&change)?;
            audit_cli(
                &tx,
                "rules.project_override_clear",
                Some(id.to_string()),
                &change.changed,
                &change.recomputed,
            )
            .await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

async fn audit_cli(
    tx: &TenantTx,
    action: &str,
    target: Option<String>,
    changed: &[String],
    recomputed: &pulse_analytics::rules::Recomputed,
) -> anyhow::Result<()> {
    audit::record_in(
        tx,
        audit::Entry {
            action: action.into(),
            target,
            details: Some(json!({"changed": changed, "recomputed": recomputed, "via": "cli"})),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}
