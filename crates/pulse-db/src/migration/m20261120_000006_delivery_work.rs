//! Delivery and work: deployments and what they shipped, Jira boards, sprints, issues and their
//! status transitions, incidents.

use sea_orm_migration::prelude::*;

use super::helpers::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A link table `table(client_id, a_id, b_id)` with a unique pair and an index on the second id.
fn link(
    table: &str,
    a: (&str, &str),
    b: (&str, &str),
) -> (TableCreateStatement, Vec<IndexCreateStatement>) {
    let mut t = tenant_table(table);
    t.col(uuid(a.0))
        .col(uuid(b.0))
        .foreign_key(&mut tenant_fk(table, a.0, a.1, true))
        .foreign_key(&mut tenant_fk(table, b.0, b.1, true));
    let indexes = vec![
        index(table, "pair", &["client_id", a.0, b.0], true),
        index(table, b.0, &["client_id", b.0], false),
    ];
    (t, indexes)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = tenant_table("deployments");
        ingested(&mut t)
            .col(text_null("name"))
            .col(text("environment"))
            .col(boolean("is_production", false))
            .col(text("status"))
            .col(text("origin"))
            .col(ts("started_at"))
            .col(ts_null("finished_at"))
            .col(text_null("commit_sha"))
            .col(text_null("url"));
        create_tenant(
            m,
            "deployments",
            &t,
            vec![
                ingested_key("deployments"),
                index(
                    "deployments",
                    "finished",
                    &["client_id", "finished_at"],
                    false,
                ),
                index(
                    "deployments",
                    "started",
                    &["client_id", "started_at"],
                    false,
                ),
            ],
        )
        .await?;

        let mut t = tenant_table("deployment_repositories");
        t.col(uuid("deployment_id"))
            .col(uuid("repository_id"))
            .col(text_null("commit_sha"))
            .foreign_key(&mut tenant_fk(
                "deployment_repositories",
                "deployment_id",
                "deployments",
                true,
            ))
            .foreign_key(&mut tenant_fk(
                "deployment_repositories",
                "repository_id",
                "repositories",
                true,
            ));
        create_tenant(
            m,
            "deployment_repositories",
            &t,
            vec![
                index(
                    "deployment_repositories",
                    "pair",
                    &["client_id", "deployment_id", "repository_id"],
                    true,
                ),
                index(
                    "deployment_repositories",
                    "repository_id",
                    &["client_id", "repository_id"],
                    false,
                ),
            ],
        )
        .await?;

        let (t, ix) = link(
            "deployment_pull_requests",
            ("deployment_id", "deployments"),
            ("pull_request_id", "pull_requests"),
        );
        create_tenant(m, "deployment_pull_requests", &t, ix).await?;
        let (t, ix) = link(
            "deployment_commits",
            ("deployment_id", "deployments"),
            ("commit_id", "commits"),
        );
        create_tenant(m, "deployment_commits", &t, ix).await?;

        let mut t = tenant_table("boards");
        ingested(&mut t)
            .col(text("name"))
            .col(text_null("kind"))
            .col(text_null("project_key"));
        create_tenant(m, "boards", &t, vec![ingested_key("boards")]).await?;

        let (t, ix) = link(
            "project_boards",
            ("project_id", "projects"),
            ("board_id", "boards"),
        );
        create_tenant(m, "project_boards", &t, ix).await?;

        let mut t = tenant_table("sprints");
        ingested(&mut t)
            .col(uuid_null("board_id"))
            .col(text("name"))
            .col(text("state"))
            .col(ts_null("start_at"))
            .col(ts_null("end_at"))
            .col(ts_null("complete_at"))
            .foreign_key(&mut tenant_fk("sprints", "board_id", "boards", false));
        create_tenant(
            m,
            "sprints",
            &t,
            vec![
                ingested_key("sprints"),
                index("sprints", "start", &["client_id", "start_at"], false),
                index(
                    "sprints",
                    "board",
                    &["client_id", "board_id", "start_at"],
                    false,
                ),
            ],
        )
        .await?;

        let mut t = tenant_table("issues");
        ingested(&mut t)
            .col(text("key"))
            .col(text_null("project_key"))
            .col(text("title"))
            .col(text("issue_type"))
            .col(text("standard_type"))
            .col(text("status"))
            .col(text("status_category"))
            .col(text_null("priority"))
            .col(ts("created_at"))
            .col(ts_null("updated_at"))
            .col(ts_null("resolved_at"))
            .col(double_null("story_points"))
            .col(uuid_null("parent_id"))
            .col(uuid_null("epic_id"))
            .col(text_null("assignee_account"))
            .col(uuid_null("assignee_person_id"))
            .col(json_null("labels"))
            .foreign_key(&mut tenant_fk("issues", "parent_id", "issues", false))
            .foreign_key(&mut tenant_fk("issues", "epic_id", "issues", false))
            .foreign_key(&mut tenant_fk(
                "issues",
                "assignee_person_id",
                "people",
                false,
            ));
        create_tenant(
            m,
            "issues",
            &t,
            vec![
                ingested_key("issues"),
                index("issues", "key", &["client_id", "key"], false),
                index(
                    "issues",
                    "project",
                    &["client_id", "project_key", "created_at"],
                    false,
                ),
                index("issues", "created", &["client_id", "created_at"], false),
                index("issues", "resolved", &["client_id", "resolved_at"], false),
                index("issues", "updated", &["client_id", "updated_at"], false),
            ],
        )
        .await?;

        let mut t = tenant_table("issue_transitions");
        ingested(&mut t)
            .col(uuid("issue_id"))
            .col(ts("at"))
            .col(text_null("from_status"))
            .col(text_null("from_category"))
            .col(text("to_status"))
            .col(text("to_category"))
            .col(text_null("author_account"))
            .foreign_key(&mut tenant_fk(
                "issue_transitions",
                "issue_id",
                "issues",
                true,
            ));
        create_tenant(
            m,
            "issue_transitions",
            &t,
            vec![
                ingested_key("issue_transitions"),
                index(
                    "issue_transitions",
                    "issue_at",
                    &["client_id", "issue_id", "at"],
                    false,
                ),
                index("issue_transitions", "at", &["client_id", "at"], false),
            ],
        )
        .await?;

        let mut t = tenant_table("sprint_issues");
        t.col(uuid("sprint_id"))
            .col(uuid("issue_id"))
            .col(ts_null("added_at"))
            .col(ts_null("removed_at"))
            .foreign_key(&mut tenant_fk(
                "sprint_issues",
                "sprint_id",
                "sprints",
                true,
            ))
            .foreign_key(&mut tenant_fk("sprint_issues", "issue_id", "issues", true));
        create_tenant(
            m,
            "sprint_issues",
            &t,
            vec![
                index(
                    "sprint_issues",
                    "pair",
                    &["client_id", "sprint_id", "issue_id"],
                    true,
                ),
                index(
                    "sprint_issues",
                    "issue_id",
                    &["client_id", "issue_id"],
                    false,
                ),
            ],
        )
        .await?;

        let mut t = tenant_table("incidents");
        ingested(&mut t)
            .col(text("title"))
            .col(text("origin"))
            .col(text_null("severity"))
            .col(ts("created_at"))
            .col(ts_null("resolved_at"))
            .col(uuid_null("issue_id"))
            .col(uuid_null("pull_request_id"))
            .col(uuid_null("repository_id"))
            .col(uuid_null("team_id"))
            .col(uuid_null("deployment_id"))
            .col(uuid_null("caused_by_deployment_id"))
            .foreign_key(&mut tenant_fk("incidents", "issue_id", "issues", false))
            .foreign_key(&mut tenant_fk(
                "incidents",
                "pull_request_id",
                "pull_requests",
                false,
            ))
            .foreign_key(&mut tenant_fk(
                "incidents",
                "repository_id",
                "repositories",
                false,
            ))
            .foreign_key(&mut tenant_fk("incidents", "team_id", "teams", false))
            .foreign_key(&mut tenant_fk(
                "incidents",
                "deployment_id",
                "deployments",
                false,
            ))
            .foreign_key(&mut tenant_fk(
                "incidents",
                "caused_by_deployment_id",
                "deployments",
                false,
            ));
        create_tenant(
            m,
            "incidents",
            &t,
            vec![
                ingested_key("incidents"),
                index("incidents", "created", &["client_id", "created_at"], false),
                index(
                    "incidents",
                    "resolved",
                    &["client_id", "resolved_at"],
                    false,
                ),
                index(
                    "incidents",
                    "caused_by",
                    &["client_id", "caused_by_deployment_id"],
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
                "incidents",
                "sprint_issues",
                "issue_transitions",
                "issues",
                "sprints",
                "project_boards",
                "boards",
                "deployment_commits",
                "deployment_pull_requests",
                "deployment_repositories",
                "deployments",
            ],
        )
        .await
    }
}
