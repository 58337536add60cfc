//! The apply step on SQLite and PostgreSQL: the documented example loads, loads again without
//! duplicates, a bad file changes nothing, and one client's rows never show up for another.

// One copy of the database test harness, shared with pulse-db's tests.
#[path = "../../pulse-db/tests/common/mod.rs"]
mod common;

use chrono::{DateTime, Utc};
use pulse_core::ClientId;
use pulse_db::entity::{deployments, incidents, pull_requests, teams};
use pulse_db::repo::ingested::{find_by_external, find_id};
use pulse_db::repo::scope::Scope;
use pulse_db::repo::{self, Page};
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use pulse_db::Db;
use pulse_ingest::{import, ImportError, Summary};

const EXAMPLE: &str = include_str!("../../../docs/examples/import.jsonl");

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn load(db: &Db, client: ClientId, text: &str) -> Result<Summary, ImportError> {
    let tx = db.tenant(client).await.unwrap();
    let result = import(&tx, || Ok(text.as_bytes())).await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

async fn count<E: EntityTrait>(db: &Db, client: ClientId) -> u64
where
    E::Column: ColumnTrait + std::str::FromStr,
    E::Model: Sync,
{
    use std::str::FromStr;
    let col = E::Column::from_str("client_id").ok().unwrap();
    E::find()
        .filter(col.eq(client.uuid()))
        .count(db.system())
        .await
        .unwrap()
}

async fn example_loads_idempotently(pg: Option<String>) {
    let db = common::migrated(pg).await;
    let acme = common::client(&db, "Acme").await;

    let first = load(&db, acme, EXAMPLE).await.unwrap();
    assert_eq!(first.records, 43);
    let inserted: u64 = first.counts.values().map(|c| c.inserted).sum();
    let updated: u64 = first.counts.values().map(|c| c.updated).sum();
    assert_eq!((inserted, updated), (43, 0), "{:?}", first.counts);
    assert_eq!(first.counts["pull_request"].inserted, 5);

    let second = load(&db, acme, EXAMPLE).await.unwrap();
    let inserted: u64 = second.counts.values().map(|c| c.inserted).sum();
    let updated: u64 = second.counts.values().map(|c| c.updated).sum();
    assert_eq!((inserted, updated), (0, 43), "{:?}", second.counts);
    assert_eq!(count::<pull_requests::Entity>(&db, acme).await, 5);
    assert_eq!(
        count::<pulse_db::entity::pr_commits::Entity>(&db, acme).await,
        5
    );
    assert_eq!(
        count::<pulse_db::entity::team_members::Entity>(&db, acme).await,
        3
    );
    assert_eq!(
        count::<pulse_db::entity::deployment_repositories::Entity>(&db, acme).await,
        6
    );

    let tx = db.tenant(acme).await.unwrap();
    // Derived from commits and reviews: the author's own reviews do not count.
    let pr = find_by_external::<pull_requests::Entity>(&tx, "import", "api#1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pr.first_commit_at, Some(at("2024-03-01T10:00:00Z")));
    assert_eq!(pr.first_review_at, Some(at("2024-03-01T14:00:00Z")));
    assert_eq!(pr.approved_at, Some(at("2024-03-03T09:00:00Z")));
    assert_eq!(
        (pr.review_count, pr.commit_count, pr.comment_count),
        (2, 2, 1)
    );
    let ada = find_id::<pulse_db::entity::people::Entity>(&tx, "import", "ada")
        .await
        .unwrap();
    assert_eq!(
        pr.author_person_id, ada,
        "matched through the GitHub account"
    );
    let revert = find_by_external::<pull_requests::Entity>(&tx, "import", "api#3")
        .await
        .unwrap()
        .unwrap();
    let api2 = find_id::<pull_requests::Entity>(&tx, "import", "api#2")
        .await
        .unwrap();
    assert_eq!(revert.revert_of_id, api2);

    // The multi-repository release shipped both pull requests merged as its commits.
    let release = find_by_external::<deployments::Entity>(&tx, "import", "release-2024.03.06")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(release.commit_sha, None, "two repositories, two commits");
    let (prs, _) = repo::deployments::changes(&tx, release.id).await.unwrap();
    let mut shipped = Vec::new();
    for id in prs {
        let pr = repo::ingested::get::<pull_requests::Entity>(&tx, id)
            .await
            .unwrap();
        shipped.push(pr.external_id);
    }
    shipped.sort();
    assert_eq!(shipped, ["api#2", "web#1"]);

    // The explicit link wins; otherwise the latest earlier successful production deployment of
    // the incident's repository is charged.
    for (incident, cause) in [
        ("INC-1", "release-2024.03.06"),
        ("INC-2", "release-2024.03.06"),
    ] {
        let i = find_by_external::<incidents::Entity>(&tx, "import", incident)
            .await
            .unwrap()
            .unwrap();
        let d = find_id::<deployments::Entity>(&tx, "import", cause)
            .await
            .unwrap();
        assert_eq!(i.caused_by_deployment_id, d, "{incident}");
    }

    // The hierarchy rolls up: Engineering covers Payments' project; Platform has no PRs.
    let engineering = find_id::<teams::Entity>(&tx, "import", "engineering")
        .await
        .unwrap()
        .unwrap();
    let platform = find_id::<teams::Entity>(&tx, "import", "platform")
        .await
        .unwrap()
        .unwrap();
    let by_team = |team| repo::pull_requests::PrFilter {
        scope: Scope {
            team: Some(team),
            ..Default::default()
        },
        ..Default::default()
    };
    let all = repo::pull_requests::list(&tx, &by_team(engineering), Page::default())
        .await
        .unwrap();
    assert_eq!(all.total, 5);
    let none = repo::pull_requests::list(&tx, &by_team(platform), Page::default())
        .await
        .unwrap();
    assert_eq!(none.total, 0);
    let merged_march_6 = repo::pull_requests::list(
        &tx,
        &repo::pull_requests::PrFilter {
            scope: Scope {
                from: Some(at("2024-03-06T00:00:00Z")),
                to: Some(at("2024-03-07T00:00:00Z")),
                ..Default::default()
            },
            date: repo::pull_requests::PrDate::Merged,
            ..Default::default()
        },
        Page::new(Some(1), None),
    )
    .await
    .unwrap();
    assert_eq!(merged_march_6.total, 2);
    assert_eq!(merged_march_6.items.len(), 1);
    assert_eq!(
        merged_march_6.items[0].external_id, "web#1",
        "latest merge first"
    );

    let api = find_id::<pulse_db::entity::repositories::Entity>(&tx, "import", "web")
        .await
        .unwrap();
    let prod = repo::deployments::list(
        &tx,
        &repo::deployments::DeploymentFilter {
            scope: Scope {
                repository: api,
                ..Default::default()
            },
            production: Some(true),
            ..Default::default()
        },
        Page::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        prod.total, 1,
        "the multi-repository release is the one web deployment"
    );
    let open_incidents = repo::incidents::list(
        &tx,
        &repo::incidents::IncidentFilter {
            scope: Scope {
                team: Some(engineering),
                ..Default::default()
            },
            ..Default::default()
        },
        Page::default(),
    )
    .await
    .unwrap();
    assert_eq!(open_incidents.total, 2);
    let project = find_id::<pulse_db::entity::projects::Entity>(&tx, "import", "checkout")
        .await
        .unwrap();
    let issues = repo::issues::list(
        &tx,
        &repo::issues::IssueFilter {
            scope: Scope {
                project,
                ..Default::default()
            },
            ..Default::default()
        },
        Page::default(),
    )
    .await
    .unwrap();
    assert_eq!(issues.total, 3);
    let bug = issues.items.iter().find(|i| i.key == "PAY-2").unwrap();
    let grace = find_id::<pulse_db::entity::people::Entity>(&tx, "import", "grace")
        .await
        .unwrap();
    assert_eq!(bug.assignee_person_id, grace, "matched by e-mail");
    assert_eq!(
        repo::issues::transitions(&tx, issues.items[0].id)
            .await
            .unwrap()
            .len(),
        1
    );
    let sprints = repo::sprints::list(
        &tx,
        &repo::sprints::SprintFilter {
            scope: Scope {
                team: Some(engineering),
                from: Some(at("2024-03-10T00:00:00Z")),
                ..Default::default()
            },
            ..Default::default()
        },
        Page::default(),
    )
    .await
    .unwrap();
    assert_eq!(sprints.total, 1);
    let members = repo::sprints::issues(&tx, sprints.items[0].id)
        .await
        .unwrap();
    assert_eq!(members.len(), 2);
    tx.commit().await.unwrap();
}
both_backends!(example_loads, example_loads_idempotently);

async fn one_bad_line_applies_nothing(pg: Option<String>) {
    let db = common::migrated(pg).await;
    let acme = common::client(&db, "Acme").await;
    let mut lines: Vec<&str> = EXAMPLE.lines().collect();
    lines.insert(
        20,
        r#"{"type":"review","id":"x","pull_request":"api#99","state":"approved","submitted_at":"2024-03-01T10:00:00Z"}"#,
    );
    let text = lines.join("\n");
    let err = load(&db, acme, &text).await.unwrap_err();
    let ImportError::Invalid(problems) = err else {
        panic!("expected problems, got {err:?}")
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, "line 21: pull_request");
    assert!(problems[0].message.contains("api#99"));
    assert_eq!(count::<teams::Entity>(&db, acme).await, 0);
    assert_eq!(count::<pull_requests::Entity>(&db, acme).await, 0);
}
both_backends!(bad_line, one_bad_line_applies_nothing);

async fn tenants_are_separate(pg: Option<String>) {
    let db = common::migrated(pg).await;
    let acme = common::client(&db, "Acme").await;
    let globex = common::client(&db, "Globex").await;
    load(&db, acme, EXAMPLE).await.unwrap();

    // A later file may refer to what is already loaded, but only in its own client.
    let follow_up = r#"{"type":"pull_request","id":"api#5","repository":"api","title":"More","state":"open","created_at":"2024-03-20T10:00:00Z"}"#;
    let done = load(&db, acme, follow_up).await.unwrap();
    assert_eq!(done.counts["pull_request"].inserted, 1);
    let err = load(&db, globex, follow_up).await.unwrap_err();
    assert!(matches!(err, ImportError::Invalid(ref p) if p[0].field == "line 1: repository"));

    let tx = db.tenant(globex).await.unwrap();
    let seen = repo::pull_requests::list(&tx, &Default::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(seen.total, 0);
    assert_eq!(
        find_id::<pull_requests::Entity>(&tx, "import", "api#1")
            .await
            .unwrap(),
        None
    );
    tx.commit().await.unwrap();

    // The same external ids in another client are other rows.
    let again = load(&db, globex, EXAMPLE).await.unwrap();
    assert_eq!(again.counts["pull_request"].inserted, 5);
    assert_eq!(count::<pull_requests::Entity>(&db, acme).await, 6);
    assert_eq!(count::<pull_requests::Entity>(&db, globex).await, 5);
}
both_backends!(tenancy, tenants_are_separate);
