//! Code: repositories (and their projects), pull requests, commits, reviews, review comments.

use sea_orm_migration::prelude::*;

use super::helpers::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = tenant_table("repositories");
        ingested(&mut t)
            .col(text("full_name"))
            .col(text_null("default_branch"))
            .col(text_null("url"));
        create_tenant(
            m,
            "repositories",
            &t,
            vec![
                ingested_key("repositories"),
                index(
                    "repositories",
                    "full_name",
                    &["client_id", "full_name"],
                    false,
                ),
            ],
        )
        .await?;

        let mut t = tenant_table("project_repositories");
        t.col(uuid("project_id"))
            .col(uuid("repository_id"))
            .foreign_key(&mut tenant_fk(
                "project_repositories",
                "project_id",
                "projects",
                true,
            ))
            .foreign_key(&mut tenant_fk(
                "project_repositories",
                "repository_id",
                "repositories",
                true,
            ));
        create_tenant(
            m,
            "project_repositories",
            &t,
            vec![
                index(
                    "project_repositories",
                    "project_repo",
                    &["client_id", "project_id", "repository_id"],
                    true,
                ),
                index(
                    "project_repositories",
                    "repo",
                    &["client_id", "repository_id"],
                    false,
                ),
            ],
        )
        .await?;

        let mut t = tenant_table("pull_requests");
        ingested(&mut t)
            .col(uuid("repository_id"))
            .col(int_null("number"))
            .col(text("title"))
            .col(text_null("author_login"))
            .col(uuid_null("author_person_id"))
            .col(text("state"))
            .col(boolean("draft", false))
            .col(ts("created_at"))
            .col(ts_null("updated_at"))
            .col(ts_null("ready_for_review_at"))
            .col(ts_null("first_commit_at"))
            .col(ts_null("first_review_at"))
            .col(ts_null("approved_at"))
            .col(ts_null("merged_at"))
            .col(ts_null("closed_at"))
            .col(int("additions"))
            .col(int("deletions"))
            .col(int("review_count"))
            .col(int("comment_count"))
            .col(int("commit_count"))
            .col(text_null("base_branch"))
            .col(text_null("head_branch"))
            .col(text_null("merge_commit_sha"))
            .col(uuid_null("revert_of_id"))
            .col(json_null("labels"))
            .foreign_key(&mut tenant_fk(
                "pull_requests",
                "repository_id",
                "repositories",
                true,
            ))
            .foreign_key(&mut tenant_fk(
                "pull_requests",
                "author_person_id",
                "people",
                false,
            ))
            .foreign_key(&mut tenant_fk(
                "pull_requests",
                "revert_of_id",
                "pull_requests",
                false,
            ));
        create_tenant(
            m,
            "pull_requests",
            &t,
            vec![
                ingested_key("pull_requests"),
                index(
                    "pull_requests",
                    "created",
                    &["client_id", "created_at"],
                    false,
                ),
                index(
                    "pull_requests",
                    "merged",
                    &["client_id", "merged_at"],
                    false,
                ),
                index(
                    "pull_requests",
                    "repo_merged",
                    &["client_id", "repository_id", "merged_at"],
                    false,
                ),
                index(
                    "pull_requests",
                    "merge_sha",
                    &["client_id", "repository_id", "merge_commit_sha"],
                    false,
                ),
                index(
                    "pull_requests",
                    "author",
                    &["client_id", "author_person_id"],
                    false,
                ),
            ],
        )
        .await?;

        let mut t = tenant_table("commits");
        ingested(&mut t)
            .col(uuid("repository_id"))
            .col(text("sha"))
            .col(text_null("message"))
            .col(text_null("author_name"))
            .col(text_null("author_email"))
            .col(text_null("author_login"))
            .col(uuid_null("author_person_id"))
            .col(ts("authored_at"))
            .col(ts("committed_at"))
            .col(int("additions"))
            .col(int("deletions"))
            .foreign_key(&mut tenant_fk(
                "commits",
                "repository_id",
                "repositories",
                true,
            ))
            .foreign_key(&mut tenant_fk(
                "commits",
                "author_person_id",
                "people",
                false,
            ));
        create_tenant(
            m,
            "commits",
            &t,
            vec![
                ingested_key("commits"),
                index(
                    "commits",
                    "repo_sha",
                    &["client_id", "repository_id", "sha"],
                    false,
                ),
                index(
                    "commits",
                    "committed",
                    &["client_id", "committed_at"],
                    false,
                ),
            ],
        )
        .await?;

        let mut t = tenant_table("pr_commits");
        t.col(uuid("pull_request_id"))
            .col(uuid("commit_id"))
            .foreign_key(&mut tenant_fk(
                "pr_commits",
                "pull_request_id",
                "pull_requests",
                true,
            ))
            .foreign_key(&mut tenant_fk("pr_commits", "commit_id", "commits", true));
        create_tenant(
            m,
            "pr_commits",
            &t,
            vec![
                index(
                    "pr_commits",
                    "pr_commit",
                    &["client_id", "pull_request_id", "commit_id"],
                    true,
                ),
                index("pr_commits", "commit", &["client_id", "commit_id"], false),
            ],
        )
        .await?;

        let mut t = tenant_table("pr_reviews");
        ingested(&mut t)
            .col(uuid("pull_request_id"))
            .col(text_null("reviewer_login"))
            .col(uuid_null("reviewer_person_id"))
            .col(text("state"))
            .col(ts("submitted_at"))
            .foreign_key(&mut tenant_fk(
                "pr_reviews",
                "pull_request_id",
                "pull_requests",
                true,
            ))
            .foreign_key(&mut tenant_fk(
                "pr_reviews",
                "reviewer_person_id",
                "people",
                false,
            ));
        create_tenant(
            m,
            "pr_reviews",
            &t,
            vec![
                ingested_key("pr_reviews"),
                index(
                    "pr_reviews",
                    "pr",
                    &["client_id", "pull_request_id", "submitted_at"],
                    false,
                ),
                index(
                    "pr_reviews",
                    "submitted",
                    &["client_id", "submitted_at"],
                    false,
                ),
            ],
        )
        .await?;

        let mut t = tenant_table("pr_review_comments");
        ingested(&mut t)
            .col(uuid("pull_request_id"))
            .col(uuid_null("review_id"))
            .col(text_null("author_login"))
            .col(uuid_null("author_person_id"))
            .col(ts("created_at"))
            .foreign_key(&mut tenant_fk(
                "pr_review_comments",
                "pull_request_id",
                "pull_requests",
                true,
            ))
            .foreign_key(&mut tenant_fk(
                "pr_review_comments",
                "review_id",
                "pr_reviews",
                false,
            ))
            .foreign_key(&mut tenant_fk(
                "pr_review_comments",
                "author_person_id",
                "people",
                false,
            ));
        create_tenant(
            m,
            "pr_review_comments",
            &t,
            vec![
                ingested_key("pr_review_comments"),
                index(
                    "pr_review_comments",
                    "pr",
                    &["client_id", "pull_request_id", "created_at"],
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
                "pr_review_comments",
                "pr_reviews",
                "pr_commits",
                "commits",
                "pull_requests",
                "project_repositories",
                "repositories",
            ],
        )
        .await
    }
}
