//! Organisation: teams (a hierarchy), people and their accounts, membership, projects.

use sea_orm_migration::prelude::*;

use super::helpers::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = tenant_table("teams");
        ingested(&mut t)
            .col(text("name"))
            .col(uuid_null("parent_id"))
            .foreign_key(&mut tenant_fk("teams", "parent_id", "teams", false));
        create_tenant(
            m,
            "teams",
            &t,
            vec![
                ingested_key("teams"),
                index("teams", "parent", &["client_id", "parent_id"], false),
            ],
        )
        .await?;

        let mut t = tenant_table("people");
        ingested(&mut t).col(text("name")).col(text_null("email"));
        create_tenant(
            m,
            "people",
            &t,
            vec![
                ingested_key("people"),
                index("people", "email", &["client_id", "email"], false),
            ],
        )
        .await?;

        let mut t = tenant_table("person_accounts");
        t.col(uuid("person_id"))
            .col(text("provider"))
            .col(text("login"))
            .foreign_key(&mut tenant_fk(
                "person_accounts",
                "person_id",
                "people",
                true,
            ));
        create_tenant(
            m,
            "person_accounts",
            &t,
            vec![
                index(
                    "person_accounts",
                    "login",
                    &["client_id", "provider", "login"],
                    true,
                ),
                index(
                    "person_accounts",
                    "person",
                    &["client_id", "person_id"],
                    false,
                ),
            ],
        )
        .await?;

        let mut t = tenant_table("team_members");
        t.col(uuid("team_id"))
            .col(uuid("person_id"))
            .col(text_null("role"))
            .foreign_key(&mut tenant_fk("team_members", "team_id", "teams", true))
            .foreign_key(&mut tenant_fk("team_members", "person_id", "people", true));
        create_tenant(
            m,
            "team_members",
            &t,
            vec![
                index(
                    "team_members",
                    "team_person",
                    &["client_id", "team_id", "person_id"],
                    true,
                ),
                index("team_members", "person", &["client_id", "person_id"], false),
            ],
        )
        .await?;

        let mut t = tenant_table("projects");
        ingested(&mut t).col(text("name"));
        create_tenant(m, "projects", &t, vec![ingested_key("projects")]).await?;

        let mut t = tenant_table("project_teams");
        t.col(uuid("project_id"))
            .col(uuid("team_id"))
            .foreign_key(&mut tenant_fk(
                "project_teams",
                "project_id",
                "projects",
                true,
            ))
            .foreign_key(&mut tenant_fk("project_teams", "team_id", "teams", true));
        create_tenant(
            m,
            "project_teams",
            &t,
            vec![
                index(
                    "project_teams",
                    "project_team",
                    &["client_id", "project_id", "team_id"],
                    true,
                ),
                index("project_teams", "team", &["client_id", "team_id"], false),
            ],
        )
        .await?;

        let mut t = tenant_table("project_jira_projects");
        t.col(uuid("project_id"))
            .col(text("jira_key"))
            .foreign_key(&mut tenant_fk(
                "project_jira_projects",
                "project_id",
                "projects",
                true,
            ));
        create_tenant(
            m,
            "project_jira_projects",
            &t,
            vec![
                index(
                    "project_jira_projects",
                    "project_key",
                    &["client_id", "project_id", "jira_key"],
                    true,
                ),
                index(
                    "project_jira_projects",
                    "key",
                    &["client_id", "jira_key"],
                    false,
                ),
            ],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tenant(
            m,
            &[
                "project_jira_projects",
                "project_teams",
                "projects",
                "team_members",
                "person_accounts",
                "people",
                "teams",
            ],
        )
        .await
    }
}
