//! `/api/v1/org/...` and `pulse team|project|person`: teams and their hierarchy, membership,
//! projects, people, explicit account mappings and merges, on SQLite and (when configured)
//! PostgreSQL. Explicit mappings and merges must survive re-imports that match by e-mail.

mod common;

use common::{expect_error, expect_ok, Backend, Session, TestApp};
use pulse_core::{ClientId, Role};
use pulse_db::entity::{incidents, pull_requests, team_members, teams};
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const EXAMPLE: &str = include_str!("../../../docs/examples/import.jsonl");

async fn import(app: &TestApp, s: &Session) {
    let res = app
        .bearer(Method::POST, "/api/v1/import", &s.token)
        .header("content-type", "application/x-ndjson")
        .body(EXAMPLE)
        .send()
        .await
        .unwrap();
    expect_ok(res, 200, "import").await;
}

async fn call(
    app: &TestApp,
    s: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.bearer(method, &format!("/api/v1{path}"), &s.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// The id of the client's row of `E` with this external id.
async fn id_of<E: pulse_db::repo::ingested::Keyed>(
    app: &TestApp,
    client: ClientId,
    external: &str,
) -> Uuid {
    let tx = app.db.tenant(client).await.unwrap();
    let id = pulse_db::repo::ingested::find_id::<E>(&tx, "import", external)
        .await
        .unwrap()
        .expect(external);
    tx.commit().await.unwrap();
    id
}

async fn pr_author(app: &TestApp, client: ClientId, external: &str) -> Option<Uuid> {
    pull_requests::Entity::find()
        .filter(pull_requests::Column::ClientId.eq(client.uuid()))
        .filter(pull_requests::Column::ExternalId.eq(external))
        .one(app.db.system())
        .await
        .unwrap()
        .expect(external)
        .author_person_id
}

fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

async fn org_admin(backend: Backend) {
    let app = common::boot(backend).await;
    let client = app.client("Acme").await;
    app.user(client, "admin@acme.example", Role::Admin).await;
    app.user(client, "viewer@acme.example", Role::Viewer).await;
    let admin = app.login("admin@acme.example", None).await;
    let viewer = app.login("viewer@acme.example", None).await;
    import(&app, &admin).await;

    use pulse_db::entity::{people, projects, repositories};
    let engineering = id_of::<teams::Entity>(&app, client, "engineering").await;
    let payments = id_of::<teams::Entity>(&app, client, "payments").await;
    let platform = id_of::<teams::Entity>(&app, client, "platform").await;
    let ada = id_of::<people::Entity>(&app, client, "ada").await;
    let grace = id_of::<people::Entity>(&app, client, "grace").await;
    let linus = id_of::<people::Entity>(&app, client, "linus").await;
    let web = id_of::<repositories::Entity>(&app, client, "web").await;
    let checkout = id_of::<projects::Entity>(&app, client, "checkout").await;

    // Reads for every role, writes for admins.
    let teams_list = expect_ok(
        call(&app, &viewer, Method::GET, "/org/teams", None).await,
        200,
        "viewer lists teams",
    )
    .await;
    assert_eq!(teams_list.as_array().unwrap().len(), 3);
    let eng = teams_list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Engineering")
        .unwrap();
    assert_eq!(ids(&eng["children"]), {
        let mut v = vec![payments.to_string(), platform.to_string()];
        v.sort();
        v
    });
    let res = call(
        &app,
        &viewer,
        Method::POST,
        "/org/teams",
        Some(json!({"name": "Nope"})),
    )
    .await;
    expect_error(res, 403, "forbidden", "viewer creates a team").await;
    let res = call(
        &app,
        &admin,
        Method::POST,
        "/org/teams",
        Some(json!({"name": "X", "client_id": client.to_string()})),
    )
    .await;
    expect_error(res, 400, "invalid_body", "unknown field").await;
    let res = call(
        &app,
        &admin,
        Method::POST,
        "/org/teams",
        Some(json!({"name": "  "})),
    )
    .await;
    expect_error(res, 422, "validation_failed", "blank name").await;
    let res = call(
        &app,
        &admin,
        Method::POST,
        "/org/teams",
        Some(json!({"name": "X", "parent_id": Uuid::now_v7()})),
    )
    .await;
    expect_error(res, 422, "validation_failed", "unknown parent").await;

    // Hierarchy: create, move, refuse cycles, clear.
    let mobile = expect_ok(
        call(
            &app,
            &admin,
            Method::POST,
            "/org/teams",
            Some(json!({"name": "Mobile", "parent_id": engineering})),
        )
        .await,
        201,
        "create team",
    )
    .await;
    assert_eq!(mobile["parent_id"], json!(engineering));
    assert_eq!(mobile["source"], "manual");
    let mobile_id: Uuid = mobile["id"].as_str().unwrap().parse().unwrap();
    let res = call(
        &app,
        &admin,
        Method::PATCH,
        &format!("/org/teams/{engineering}"),
        Some(json!({"parent_id": mobile_id})),
    )
    .await;
    let body = expect_error(res, 422, "validation_failed", "cycle through a child").await;
    assert_eq!(body["error"]["details"][0]["field"], "parent_id");
    let res = call(
        &app,
        &admin,
        Method::PATCH,
        &format!("/org/teams/{payments}"),
        Some(json!({"parent_id": payments})),
    )
    .await;
    expect_error(res, 422, "validation_failed", "own parent").await;
    let moved = expect_ok(
        call(
            &app,
            &admin,
            Method::PATCH,
            &format!("/org/teams/{payments}"),
            Some(json!({"parent_id": mobile_id, "name": "Payments & Billing"})),
        )
        .await,
        200,
        "move and rename",
    )
    .await;
    assert_eq!(moved["parent_id"], json!(mobile_id));
    assert_eq!(moved["name"], "Payments & Billing");
    // Omitting parent_id leaves it; null clears it.
    let same = expect_ok(
        call(
            &app,
            &admin,
            Method::PATCH,
            &format!("/org/teams/{payments}"),
            Some(json!({"name": "Payments"})),
        )
        .await,
        200,
        "rename only",
    )
    .await;
    assert_eq!(same["parent_id"], json!(mobile_id));
    let top = expect_ok(
        call(
            &app,
            &admin,
            Method::PATCH,
            &format!("/org/teams/{mobile_id}"),
            Some(json!({"parent_id": null})),
        )
        .await,
        200,
        "clear parent",
    )
    .await;
    assert_eq!(top["parent_id"], Value::Null);
    // The metric filters follow the hierarchy: Mobile now includes Payments' pull requests.
    let prs = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            &format!("/data/pull-requests?team={mobile_id}&from=2024-03-01&to=2024-03-31"),
            None,
        )
        .await,
        200,
        "team filter",
    )
    .await;
    assert!(prs["total"].as_u64().unwrap() >= 4, "{prs}");

    // Membership.
    let members = expect_ok(
        call(
            &app,
            &admin,
            Method::POST,
            &format!("/org/teams/{mobile_id}/members"),
            Some(json!({"person_ids": [linus], "role": "lead"})),
        )
        .await,
        200,
        "add member",
    )
    .await;
    assert_eq!(members[0]["person"]["id"], json!(linus));
    assert_eq!(members[0]["role"], "lead");
    let again = expect_ok(
        call(
            &app,
            &admin,
            Method::POST,
            &format!("/org/teams/{mobile_id}/members"),
            Some(json!({"person_ids": [linus, grace]})),
        )
        .await,
        200,
        "add again",
    )
    .await;
    assert_eq!(again.as_array().unwrap().len(), 2);
    let res = call(
        &app,
        &admin,
        Method::POST,
        &format!("/org/teams/{mobile_id}/members"),
        Some(json!({"person_ids": [Uuid::now_v7()]})),
    )
    .await;
    expect_error(res, 404, "not_found", "unknown person").await;
    let res = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/org/teams/{mobile_id}/members/{grace}"),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    let listed = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            &format!("/org/teams/{mobile_id}/members"),
            None,
        )
        .await,
        200,
        "members",
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Projects.
    let created = expect_ok(
        call(&app, &admin, Method::POST, "/org/projects", Some(json!({"name": "Mobile app", "jira_keys": ["mob"], "repository_ids": [web], "team_ids": [mobile_id]}))).await,
        201,
        "create project",
    )
    .await;
    assert_eq!(created["jira_keys"], json!(["MOB"]));
    assert_eq!(created["repository_ids"], json!([web]));
    let project: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let res = call(
        &app,
        &admin,
        Method::POST,
        "/org/projects",
        Some(json!({"name": "Ghost", "repository_ids": [Uuid::now_v7()]})),
    )
    .await;
    expect_error(res, 404, "not_found", "unknown repository").await;
    let ghosts = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            "/org/projects?search=ghost",
            None,
        )
        .await,
        200,
        "search",
    )
    .await;
    assert_eq!(ghosts, json!([]), "a refused create leaves nothing");
    let res = call(
        &app,
        &admin,
        Method::PUT,
        &format!("/org/projects/{project}/jira-keys/not-a-key"),
        None,
    )
    .await;
    expect_error(res, 422, "validation_failed", "bad key").await;
    let linked = expect_ok(
        call(
            &app,
            &admin,
            Method::PUT,
            &format!("/org/projects/{project}/jira-keys/PAY"),
            None,
        )
        .await,
        200,
        "link key",
    )
    .await;
    assert_eq!(linked["jira_keys"], json!(["MOB", "PAY"]));
    let unlinked = expect_ok(
        call(
            &app,
            &admin,
            Method::DELETE,
            &format!("/org/projects/{project}/repositories/{web}"),
            None,
        )
        .await,
        200,
        "unlink",
    )
    .await;
    assert_eq!(unlinked["repository_ids"], json!([]));
    let renamed = expect_ok(
        call(
            &app,
            &admin,
            Method::PATCH,
            &format!("/org/projects/{project}"),
            Some(json!({"name": "Mobile"})),
        )
        .await,
        200,
        "rename",
    )
    .await;
    assert_eq!(renamed["name"], "Mobile");
    let boards = expect_ok(
        call(&app, &viewer, Method::GET, "/org/boards", None).await,
        200,
        "boards",
    )
    .await;
    let board = boards[0]["id"].as_str().unwrap().to_string();
    let with_board = expect_ok(
        call(
            &app,
            &admin,
            Method::PUT,
            &format!("/org/projects/{project}/boards/{board}"),
            None,
        )
        .await,
        200,
        "link board",
    )
    .await;
    assert_eq!(with_board["board_ids"], json!([board]));
    let repos = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            "/org/repositories?search=API",
            None,
        )
        .await,
        200,
        "repos",
    )
    .await;
    assert_eq!(repos["total"], 1);
    assert_eq!(repos["items"][0]["full_name"], "acme/api");

    // Deleting a team: children move up, ownership links and incident charges go.
    let sub = expect_ok(
        call(
            &app,
            &admin,
            Method::POST,
            "/org/teams",
            Some(json!({"name": "Mobile iOS", "parent_id": mobile_id})),
        )
        .await,
        201,
        "sub",
    )
    .await;
    let res = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/org/teams/{mobile_id}"),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    let sub_after = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            &format!("/org/teams/{}", sub["id"].as_str().unwrap()),
            None,
        )
        .await,
        200,
        "sub",
    )
    .await;
    assert_eq!(
        sub_after["parent_id"],
        Value::Null,
        "moved up to the deleted team's parent (none)"
    );
    let payments_after = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            &format!("/org/teams/{payments}"),
            None,
        )
        .await,
        200,
        "payments",
    )
    .await;
    assert_eq!(
        payments_after["parent_id"],
        Value::Null,
        "Payments was under Mobile"
    );
    let proj = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            &format!("/org/projects/{project}"),
            None,
        )
        .await,
        200,
        "project",
    )
    .await;
    assert_eq!(proj["team_ids"], json!([]));
    let res = call(
        &app,
        &viewer,
        Method::GET,
        &format!("/org/teams/{mobile_id}"),
        None,
    )
    .await;
    expect_error(res, 404, "not_found", "deleted team").await;
    let res = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/org/teams/{payments}"),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    let inc = incidents::Entity::find()
        .filter(incidents::Column::ClientId.eq(client.uuid()))
        .filter(incidents::Column::ExternalId.eq("INC-1"))
        .one(app.db.system())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inc.team_id, None, "the incident lost its deleted team");
    let checkout_now = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            &format!("/org/projects/{checkout}"),
            None,
        )
        .await,
        200,
        "checkout",
    )
    .await;
    assert_eq!(checkout_now["team_ids"], json!([]));
    let res = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/org/projects/{project}"),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    // Re-import the example: it restores its own teams and links, and leaves the rest.
    import(&app, &admin).await;
    let payments = id_of::<teams::Entity>(&app, client, "payments").await;

    // People.
    let found = expect_ok(
        call(&app, &viewer, Method::GET, "/org/people?search=ADA-L", None).await,
        200,
        "search by login",
    )
    .await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["id"], json!(ada));
    let shown = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            &format!("/org/people/{ada}"),
            None,
        )
        .await,
        200,
        "show",
    )
    .await;
    assert_eq!(shown["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(shown["team_ids"], json!([payments]));
    let res = call(
        &app,
        &admin,
        Method::POST,
        "/org/people",
        Some(json!({"name": "Ada Again", "email": "ADA@acme.example"})),
    )
    .await;
    expect_error(res, 409, "conflict", "duplicate e-mail").await;
    let res = call(
        &app,
        &admin,
        Method::POST,
        "/org/people",
        Some(json!({"name": "No Mail", "email": "nope"})),
    )
    .await;
    expect_error(res, 422, "validation_failed", "bad e-mail").await;
    let dana = expect_ok(
        call(
            &app,
            &admin,
            Method::POST,
            "/org/people",
            Some(json!({"name": "Dana Scully", "email": "dana@acme.example"})),
        )
        .await,
        201,
        "create person",
    )
    .await;
    assert_eq!(dana["accounts"], json!([]));

    // Explicit mappings: an unknown login gains its person; an e-mail match is overridden.
    assert_eq!(
        pr_author(&app, client, "api#4").await,
        None,
        "linus-t is no one yet"
    );
    let mapped = expect_ok(
        call(
            &app,
            &admin,
            Method::POST,
            &format!("/org/people/{linus}/accounts"),
            Some(json!({"provider": "github", "login": "Linus-T"})),
        )
        .await,
        200,
        "map",
    )
    .await;
    assert_eq!(mapped["accounts"][0]["login"], "linus-t");
    assert_eq!(mapped["accounts"][0]["explicit"], true);
    assert_eq!(pr_author(&app, client, "api#4").await, Some(linus));
    assert_eq!(
        pr_author(&app, client, "web#1").await,
        Some(ada),
        "matched by e-mail"
    );
    expect_ok(
        call(
            &app,
            &admin,
            Method::POST,
            &format!("/org/people/{grace}/accounts"),
            Some(json!({"provider": "github", "login": "ada-l"})),
        )
        .await,
        200,
        "map over an e-mail match",
    )
    .await;
    assert_eq!(pr_author(&app, client, "web#1").await, Some(grace));
    let res = call(
        &app,
        &admin,
        Method::POST,
        &format!("/org/people/{grace}/accounts"),
        Some(json!({"provider": "gitlab", "login": ""})),
    )
    .await;
    let body = expect_error(res, 422, "validation_failed", "bad account").await;
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 2);
    import(&app, &admin).await;
    assert_eq!(
        pr_author(&app, client, "api#4").await,
        Some(linus),
        "survives a re-import"
    );
    assert_eq!(
        pr_author(&app, client, "web#1").await,
        Some(grace),
        "wins over the e-mail on re-import"
    );
    let ada_now = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            &format!("/org/people/{ada}"),
            None,
        )
        .await,
        200,
        "ada",
    )
    .await;
    assert!(
        !ada_now["accounts"].to_string().contains("ada-l"),
        "{ada_now}"
    );
    // Unmapping re-resolves; the next import gives the login back to the person that lists it.
    let unmapped = expect_ok(
        call(
            &app,
            &admin,
            Method::DELETE,
            &format!("/org/people/{grace}/accounts/github/ada-l"),
            None,
        )
        .await,
        200,
        "unmap",
    )
    .await;
    assert!(!unmapped["accounts"].to_string().contains("ada-l"));
    let res = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/org/people/{grace}/accounts/github/ada-l"),
        None,
    )
    .await;
    expect_error(res, 404, "not_found", "unmap twice").await;
    import(&app, &admin).await;
    assert_eq!(pr_author(&app, client, "web#1").await, Some(ada));

    // Merges: grace into ada; re-imports keep resolving to ada.
    let res = call(
        &app,
        &admin,
        Method::POST,
        &format!("/org/people/{ada}/merge"),
        Some(json!({"person_id": ada})),
    )
    .await;
    expect_error(res, 422, "validation_failed", "self merge").await;
    let merged = expect_ok(
        call(
            &app,
            &admin,
            Method::POST,
            &format!("/org/people/{ada}/merge"),
            Some(json!({"person_id": grace})),
        )
        .await,
        200,
        "merge",
    )
    .await;
    assert_eq!(merged["merged_ids"], json!([grace]));
    assert!(merged["accounts"].to_string().contains("gracehopper"));
    assert_eq!(pr_author(&app, client, "api#2").await, Some(ada));
    let res = call(
        &app,
        &admin,
        Method::POST,
        &format!("/org/people/{ada}/merge"),
        Some(json!({"person_id": grace})),
    )
    .await;
    expect_error(res, 409, "conflict", "merge twice").await;
    let res = call(
        &app,
        &admin,
        Method::POST,
        &format!("/org/teams/{payments}/members"),
        Some(json!({"person_ids": [grace]})),
    )
    .await;
    expect_error(res, 409, "conflict", "a merged person cannot join").await;
    import(&app, &admin).await;
    assert_eq!(
        pr_author(&app, client, "api#2").await,
        Some(ada),
        "merge survives a re-import"
    );
    let members: Vec<Uuid> = team_members::Entity::find()
        .filter(team_members::Column::ClientId.eq(client.uuid()))
        .filter(team_members::Column::TeamId.eq(payments))
        .all(app.db.system())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.person_id)
        .collect();
    assert_eq!(
        members,
        vec![ada],
        "the team's re-imported members resolve through the merge"
    );
    let people = expect_ok(
        call(&app, &viewer, Method::GET, "/org/people", None).await,
        200,
        "people",
    )
    .await;
    assert!(
        !people.to_string().contains("Grace"),
        "merged people are not listed: {people}"
    );
    let all = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            "/org/people?include_merged=true",
            None,
        )
        .await,
        200,
        "people",
    )
    .await;
    assert_eq!(
        all["total"].as_u64().unwrap(),
        people["total"].as_u64().unwrap() + 1
    );
    let g = expect_ok(
        call(
            &app,
            &viewer,
            Method::GET,
            &format!("/org/people/{grace}"),
            None,
        )
        .await,
        200,
        "grace",
    )
    .await;
    assert_eq!(g["merged_into_id"], json!(ada));

    // Every change was audited, and unchanged repeats were not.
    let audit = expect_ok(
        call(
            &app,
            &admin,
            Method::GET,
            "/audit?action=org.&limit=200",
            None,
        )
        .await,
        200,
        "audit",
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "org.team_created",
        "org.team_updated",
        "org.team_deleted",
        "org.team_members_added",
        "org.team_member_removed",
        "org.project_created",
        "org.project_linked",
        "org.project_unlinked",
        "org.project_updated",
        "org.project_deleted",
        "org.person_created",
        "org.account_mapped",
        "org.account_unmapped",
        "org.people_merged",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let _ = dana;
}

both_backends!(org_admin_api, org_admin);

/// `pulse team|project|person` against the database a running server uses.
async fn org_cli(backend: Backend) {
    let app = common::boot(backend.clone()).await;
    let client = app.client("Acme").await;
    app.user(client, "admin@acme.example", Role::Admin).await;
    let admin = app.login("admin@acme.example", None).await;
    import(&app, &admin).await;
    let env = common::test_env(&backend, &app.dir, &[("PULSE_LOG", "warn")]);
    std::fs::create_dir_all(&app.dir).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&app.dir)
            .output()
            .expect("run pulse");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = run(&[
        "team",
        "create",
        "Mobile",
        "--parent",
        "Engineering",
        "--client",
        "Acme",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("created team "), "{out}");
    let (ok, out, _) = run(&["team", "list", "--client", "Acme"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.contains("Mobile"));
    let (ok, _, err) = run(&[
        "team",
        "set-parent",
        "engineering",
        "Mobile",
        "--client",
        "Acme",
    ]);
    assert!(!ok, "a cycle is refused");
    assert!(err.contains("parent_id"), "{err}");
    let (ok, out, err) = run(&[
        "team",
        "add-member",
        "Mobile",
        "linus@acme.example",
        "ada",
        "--role",
        "dev",
        "--client",
        "Acme",
    ]);
    assert!(ok, "{out}{err}");
    let (ok, out, _) = run(&["team", "members", "mobile", "--client", "Acme"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (ok, out, err) = run(&[
        "project",
        "create",
        "Mobile app",
        "--repository",
        "acme/web",
        "--jira-key",
        "mob",
        "--team",
        "Mobile",
        "--client",
        "Acme",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("jira_keys=MOB"), "{out}");
    let (ok, out, err) = run(&[
        "project",
        "link",
        "Mobile app",
        "--repository",
        "api",
        "--client",
        "Acme",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("1 of 1 links added"), "{out}");
    let (ok, _, err) = run(&[
        "project",
        "link",
        "Mobile app",
        "--repository",
        "acme/nothing",
        "--client",
        "Acme",
    ]);
    assert!(!ok);
    assert!(err.contains("no repository `acme/nothing`"), "{err}");
    let (ok, out, err) = run(&[
        "person",
        "map",
        "linus@acme.example",
        "github",
        "linus-t",
        "--client",
        "Acme",
    ]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("2 rows re-attributed"),
        "api#4 and a review: {out}"
    );
    let (ok, out, _) = run(&["person", "show", "linus", "--client", "Acme"]);
    assert!(ok);
    assert!(out.contains("account github:linus-t (explicit)"), "{out}");
    let (ok, out, err) = run(&["person", "merge", "ada", "grace", "--client", "Acme"]);
    assert!(ok, "{out}{err}");
    let (ok, out, _) = run(&["person", "list", "--client", "Acme"]);
    assert!(ok);
    assert!(!out.contains("Grace"), "{out}");
    let (ok, out, err) = run(&["team", "delete", "Mobile", "--client", "Acme"]);
    assert!(ok, "{out}{err}");
    let (ok, _, err) = run(&["team", "list", "--client", "Nobody"]);
    assert!(!ok);
    assert!(err.contains("no client named"), "{err}");
    let tx = app.db.tenant(client).await.unwrap();
    let audited = pulse_db::repo::audit::list(
        &tx,
        &pulse_db::repo::audit::AuditFilter {
            action: Some("org.".into()),
            ..Default::default()
        },
        pulse_db::repo::Page::new(Some(200), None),
    )
    .await
    .unwrap();
    assert!(audited
        .items
        .iter()
        .any(|e| e.details.as_ref().is_some_and(|d| d["via"] == "cli")));
}

both_backends!(org_admin_cli, org_cli);
