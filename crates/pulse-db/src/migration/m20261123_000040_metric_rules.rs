//! Metric rules as configuration: `metric_rules` holds a client's rules document (one row with no
//! project) and per-project overrides (a partial document per project). Deployments gain the
//! columns the rules decide or read (`counted`, `reported_production`, `branch`), and incidents
//! record how their cause was found (`attributed_by`).

use sea_orm_migration::prelude::*;

use super::helpers::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn add_column(m: &SchemaManager<'_>, table: &str, col: ColumnDef) -> Result<(), DbErr> {
    m.alter_table(
        Table::alter()
            .table(Alias::new(table))
            .add_column(col)
            .to_owned(),
    )
    .await
}

async fn drop_column(m: &SchemaManager<'_>, table: &str, col: &str) -> Result<(), DbErr> {
    m.alter_table(
        Table::alter()
            .table(Alias::new(table))
            .drop_column(Alias::new(col))
            .to_owned(),
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = tenant_table("metric_rules");
        t.col(uuid_null("project_id"))
            .col(
                ColumnDef::new(Alias::new("document"))
                    .json_binary()
                    .not_null()
                    .to_owned(),
            )
            .col(ts("updated_at"))
            .foreign_key(&mut tenant_fk(
                "metric_rules",
                "project_id",
                "projects",
                true,
            ));
        create_tenant(
            m,
            "metric_rules",
            &t,
            vec![index(
                "metric_rules",
                "project",
                &["client_id", "project_id"],
                true,
            )],
        )
        .await?;
        // One client-wide row per client: the same partial index on both backends (NULL project
        // ids are distinct in the index above).
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_metric_rules_client ON metric_rules (client_id) \
                 WHERE project_id IS NULL",
            )
            .await?;

        // Whether the rules count the row as a deployment at all (a row that is not counted is
        // never production).
        add_column(m, "deployments", boolean("counted", true)).await?;
        // What the source said about production, when it said anything; `is_production` is now
        // derived from it and the rules.
        add_column(
            m,
            "deployments",
            ColumnDef::new(Alias::new("reported_production"))
                .boolean()
                .null()
                .to_owned(),
        )
        .await?;
        add_column(m, "deployments", text_null("branch")).await?;
        // Rows loaded before the rules existed keep their production flag: it becomes the
        // source's word. (Migrations run as the table owner, whose policy sees every row.)
        m.get_connection()
            .execute_unprepared("UPDATE deployments SET reported_production = is_production")
            .await?;
        // `explicit`, `issue_link`, `inferred`, or null when no cause was found.
        add_column(m, "incidents", text_null("attributed_by")).await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE incidents SET attributed_by = CASE \
                   WHEN deployment_id IS NOT NULL THEN 'explicit' \
                   WHEN caused_by_deployment_id IS NOT NULL THEN 'inferred' END",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_column(m, "incidents", "attributed_by").await?;
        drop_column(m, "deployments", "branch").await?;
        drop_column(m, "deployments", "reported_production").await?;
        drop_column(m, "deployments", "counted").await?;
        m.get_connection()
            .execute_unprepared("DROP INDEX ux_metric_rules_client")
            .await?;
        drop_tenant(m, &["metric_rules"]).await
    }
}
