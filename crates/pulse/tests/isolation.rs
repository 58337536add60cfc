//! The cross-tenant isolation matrix.
//!
//! Reads the OpenAPI spec the server publishes and, for every operation in it, sends requests as
//! each role of client B carrying client A's ids, bodies and filters. A route without a probe fails
//! the test, so a new route cannot escape it. Expected outcomes:
//! - a path naming one of A's objects answers 404 or 403;
//! - a request scoped to the caller's own client may succeed, but its body never contains any of
//!   A's ids or names;
//! - a body or query that tries to name A's client (an extra `client_id`) is rejected with a 4xx;
//! - nothing ever answers 5xx;
//! - afterwards, every row of A is unchanged and A's sessions still work.

mod common;

use std::collections::BTreeSet;

use common::{Backend, Session, TestApp, PASSWORD};
use pulse_core::{ClientId, Role};
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use reqwest::Method;
use serde_json::{json, Value};

/// What a probe must observe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The path names an object of client A: 404 or 403.
    Foreign,
    /// Scoped to the caller's own client: any non-5xx status, no trace of A in the body.
    OwnScope,
    /// The request tries to reach A (extra client_id, A's credentials): a 4xx.
    Rejected,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Bytes(Vec<u8>, &'static str),
}

#[derive(Debug, Clone)]
struct Probe {
    method: Method,
    /// The path template exactly as in the spec.
    template: &'static str,
    /// The concrete path (with A's ids) plus query string.
    path: String,
    body: Body,
    expect: Expect,
}

fn probe(
    method: Method,
    template: &'static str,
    path: String,
    body: Body,
    expect: Expect,
) -> Probe {
    Probe {
        method,
        template,
        path,
        body,
        expect,
    }
}

/// Client A's objects the probes aim at, and the strings that must never reach client B.
struct Victim {
    client: ClientId,
    client_name: String,
    admin: Session,
    user_id: String,
    token_id: String,
    /// A's `payments` team, `checkout` project and `api` repository (from the example import).
    team_id: String,
    project_id: String,
    repository_id: String,
    /// A's `ada` person and `pay-board` board.
    person_id: String,
    board_id: String,
    /// A's `deploy-101` deployment.
    deployment_id: String,
    integration_id: String,
    job_id: String,
    markers: Vec<String>,
}

const ETL_SECRET: &str = "zeta_canary_credential_secret";

const EXAMPLE: &str = include_str!("../../../docs/examples/import.jsonl");

/// Probes for a metric or data route: B's own scope (JSON and, for lists, CSV), A's team, project
/// and repository as filters (404), and a smuggled `client_id` (400).
fn analytics_probes(a: &Victim, template: &'static str, csv: bool) -> Vec<Probe> {
    use Expect::{Foreign, OwnScope, Rejected};
    let range = "from=2024-03-01&to=2024-03-17";
    let mut out = vec![
        probe(
            Method::GET,
            template,
            format!("{template}?{range}"),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::GET,
            template,
            format!("{template}?{range}&team={}", a.team_id),
            Body::None,
            Foreign,
        ),
        probe(
            Method::GET,
            template,
            format!("{template}?{range}&project={}", a.project_id),
            Body::None,
            Foreign,
        ),
        probe(
            Method::GET,
            template,
            format!("{template}?{range}&repository={}", a.repository_id),
            Body::None,
            Foreign,
        ),
        probe(
            Method::GET,
            template,
            format!("{template}?{range}&client_id={}", a.client),
            Body::None,
            Rejected,
        ),
    ];
    if csv {
        out.push(probe(
            Method::GET,
            template,
            format!("{template}?{range}&format=csv"),
            Body::None,
            OwnScope,
        ));
    }
    out
}

/// Probes for the metric rules: B reads and changes its own rules; A's project answers 404 for
/// every verb; a smuggled `client_id` is refused.
fn rules_probes(a: &Victim) -> Vec<Probe> {
    use Body::Json as J;
    use Expect::{Foreign, OwnScope, Rejected};
    let cid = a.client.to_string();
    let pid = &a.project_id;
    let project = "/rules/projects/{project_id}";
    vec![
        probe(Method::GET, "/rules", "/rules".into(), Body::None, OwnScope),
        probe(
            Method::GET,
            "/rules",
            format!("/rules?client_id={cid}"),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::PUT,
            "/rules",
            "/rules".into(),
            J(json!({"incidents": {"labels": ["b-probe"]}})),
            OwnScope,
        ),
        probe(
            Method::PUT,
            "/rules",
            "/rules".into(),
            J(json!({"client_id": cid})),
            Rejected,
        ),
        probe(
            Method::PATCH,
            "/rules",
            "/rules".into(),
            J(json!({"production": {"environment": "^prod$"}})),
            OwnScope,
        ),
        probe(
            Method::PATCH,
            "/rules",
            "/rules".into(),
            J(json!({"production": {"environment": "^prod$"}, "client_id": cid})),
            Rejected,
        ),
        probe(
            Method::GET,
            project,
            format!("/rules/projects/{pid}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::PUT,
            project,
            format!("/rules/projects/{pid}"),
            J(json!({"attribution": {"window_hours": 1}})),
            Foreign,
        ),
        probe(
            Method::DELETE,
            project,
            format!("/rules/projects/{pid}"),
            Body::None,
            Foreign,
        ),
    ]
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

fn probes(a: &Victim) -> Vec<Probe> {
    use Body::{Bytes, Json as J};
    use Expect::{Foreign, OwnScope, Rejected};
    let cid = a.client.to_string();
    let uid = &a.user_id;
    let sid = &a.admin.session_id;
    let tid = &a.token_id;
    let iid = &a.integration_id;
    let jid = &a.job_id;
    let mut analytics = Vec::new();
    for t in [
        "/metrics/dora",
        "/metrics/pull-requests",
        "/metrics/flow",
        "/metrics/sprints",
        "/metrics/portfolio",
        "/metrics/executive",
    ] {
        analytics.extend(analytics_probes(a, t, false));
    }
    for t in [
        "/data/pull-requests",
        "/data/deployments",
        "/data/incidents",
        "/data/issues",
        "/data/sprints",
    ] {
        analytics.extend(analytics_probes(a, t, true));
    }
    let mut all = vec![
        // auth
        probe(
            Method::POST,
            "/auth/login",
            "/auth/login".into(),
            J(json!({"email": "admin@b.example", "password": PASSWORD, "client": a.client_name})),
            Rejected,
        ),
        probe(
            Method::POST,
            "/auth/login",
            "/auth/login".into(),
            J(json!({"email": "admin@a.example", "password": "not the password"})),
            Rejected,
        ),
        probe(
            Method::POST,
            "/auth/login",
            "/auth/login".into(),
            J(json!({"email": "admin@b.example", "password": PASSWORD, "client_id": cid})),
            Rejected,
        ),
        probe(
            Method::POST,
            "/auth/refresh",
            "/auth/refresh".into(),
            J(json!({"refresh_token": format!("{sid}.not-the-secret")})),
            Rejected,
        ),
        probe(
            Method::POST,
            "/auth/logout",
            "/auth/logout".into(),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::POST,
            "/auth/logout-all",
            "/auth/logout-all".into(),
            Body::None,
            OwnScope,
        ),
        // Routes without query parameters ignore them; the answer must still be B's own.
        probe(
            Method::GET,
            "/auth/me",
            format!("/auth/me?client_id={cid}"),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::GET,
            "/auth/me",
            "/auth/me".into(),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::GET,
            "/auth/sessions",
            "/auth/sessions".into(),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::DELETE,
            "/auth/sessions/{id}",
            format!("/auth/sessions/{sid}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::POST,
            "/auth/validate",
            "/auth/validate".into(),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::PUT,
            "/auth/password",
            "/auth/password".into(),
            J(
                json!({"current_password": PASSWORD, "new_password": "another long password", "user_id": uid}),
            ),
            Rejected,
        ),
        probe(
            Method::PUT,
            "/auth/password",
            "/auth/password".into(),
            J(
                json!({"current_password": "not the password", "new_password": "another long password"}),
            ),
            Rejected,
        ),
        // personal API tokens
        probe(
            Method::GET,
            "/auth/tokens",
            "/auth/tokens".into(),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::POST,
            "/auth/tokens",
            "/auth/tokens".into(),
            J(json!({"name": "probe"})),
            OwnScope,
        ),
        probe(
            Method::POST,
            "/auth/tokens",
            "/auth/tokens".into(),
            J(json!({"name": "probe", "client_id": cid})),
            Rejected,
        ),
        probe(
            Method::DELETE,
            "/auth/tokens/{id}",
            format!("/auth/tokens/{tid}"),
            Body::None,
            Foreign,
        ),
        // self
        probe(Method::GET, "/me", "/me".into(), Body::None, OwnScope),
        probe(
            Method::PATCH,
            "/me",
            "/me".into(),
            J(json!({"name": "Probe"})),
            OwnScope,
        ),
        probe(
            Method::PATCH,
            "/me",
            "/me".into(),
            J(json!({"name": "Probe", "id": uid})),
            Rejected,
        ),
        probe(
            Method::GET,
            "/me/preferences",
            "/me/preferences".into(),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::PUT,
            "/me/preferences",
            "/me/preferences".into(),
            J(json!({"theme": "dark"})),
            OwnScope,
        ),
        probe(
            Method::PUT,
            "/me/preferences",
            "/me/preferences".into(),
            J(json!({"theme": "dark", "client_id": cid})),
            Rejected,
        ),
        // users
        probe(
            Method::GET,
            "/users",
            format!("/users?search={}", "Alice"),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::GET,
            "/users",
            format!("/users?client_id={cid}"),
            Body::None,
            Rejected,
        ),
        probe(
            Method::POST,
            "/users",
            "/users".into(),
            J(json!({"email": "new@b.example", "name": "New", "role": "viewer", "client_id": cid})),
            Rejected,
        ),
        probe(
            Method::POST,
            "/users",
            "/users".into(),
            J(json!({"email": "new@b.example", "name": "New", "role": "viewer"})),
            OwnScope,
        ),
        probe(
            Method::GET,
            "/users/{id}",
            format!("/users/{uid}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::PATCH,
            "/users/{id}",
            format!("/users/{uid}"),
            J(json!({"role": "viewer"})),
            Foreign,
        ),
        probe(
            Method::PATCH,
            "/users/{id}",
            format!("/users/{uid}"),
            J(json!({"active": false})),
            Foreign,
        ),
        probe(
            Method::POST,
            "/users/{id}/deactivate",
            format!("/users/{uid}/deactivate"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::POST,
            "/users/{id}/reset-password",
            format!("/users/{uid}/reset-password"),
            J(json!({})),
            Foreign,
        ),
        probe(
            Method::POST,
            "/users/{id}/reset-password",
            format!("/users/{uid}/reset-password"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::POST,
            "/users/{id}/reset-password",
            format!("/users/{uid}/reset-password"),
            J(json!({"password": "a brand new password"})),
            Foreign,
        ),
        // audit
        probe(
            Method::GET,
            "/audit",
            format!("/audit?actor={uid}"),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::GET,
            "/audit",
            "/audit?action=auth.login".into(),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::GET,
            "/audit",
            format!("/audit?client_id={cid}"),
            Body::None,
            Rejected,
        ),
        // settings
        probe(
            Method::GET,
            "/settings",
            "/settings".into(),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::PUT,
            "/settings",
            "/settings".into(),
            J(json!({"display_name": "B probe"})),
            OwnScope,
        ),
        probe(
            Method::PUT,
            "/settings",
            "/settings".into(),
            J(json!({"display_name": "B probe", "client_id": cid})),
            Rejected,
        ),
        probe(
            Method::GET,
            "/settings/logo",
            "/settings/logo".into(),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::PUT,
            "/settings/logo",
            "/settings/logo".into(),
            Bytes(PNG.to_vec(), "image/png"),
            OwnScope,
        ),
        probe(
            Method::DELETE,
            "/settings/logo",
            "/settings/logo".into(),
            Body::None,
            OwnScope,
        ),
        // import: B's records live in B, whatever ids they reuse; references to A's rows fail
        probe(
            Method::POST,
            "/import",
            "/import".into(),
            Bytes(
                b"{\"type\":\"team\",\"id\":\"zeta-team\",\"name\":\"B probe team\"}\n".to_vec(),
                "application/x-ndjson",
            ),
            OwnScope,
        ),
        probe(
            Method::POST,
            "/import",
            "/import".into(),
            Bytes(
                b"{\"type\":\"pull_request\",\"id\":\"pr-1\",\"repository\":\"zeta-repo\",\"number\":1,\"title\":\"t\",\"author\":\"x\",\"state\":\"open\",\"created_at\":\"2024-03-01T11:00:00Z\"}\n".to_vec(),
                "application/x-ndjson",
            ),
            Rejected,
        ),
        probe(
            Method::POST,
            "/import",
            "/import".into(),
            Bytes(
                format!("{{\"type\":\"team\",\"id\":\"t\",\"name\":\"t\",\"client_id\":\"{cid}\"}}\n").into_bytes(),
                "application/x-ndjson",
            ),
            Rejected,
        ),
        // etl: integrations
        probe(
            Method::GET,
            "/etl/integrations",
            format!("/etl/integrations?client_id={cid}"),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::POST,
            "/etl/integrations",
            "/etl/integrations".into(),
            J(json!({"kind": "counting", "name": "B probe", "scopes": ["main"]})),
            OwnScope,
        ),
        probe(
            Method::POST,
            "/etl/integrations",
            "/etl/integrations".into(),
            J(json!({"kind": "counting", "name": "B smuggled", "client_id": cid})),
            Rejected,
        ),
        probe(
            Method::GET,
            "/etl/integrations/{id}",
            format!("/etl/integrations/{iid}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::PATCH,
            "/etl/integrations/{id}",
            format!("/etl/integrations/{iid}"),
            J(json!({"name": "Hijacked", "credentials": "b-token"})),
            Foreign,
        ),
        probe(
            Method::DELETE,
            "/etl/integrations/{id}",
            format!("/etl/integrations/{iid}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::POST,
            "/etl/integrations/{id}/enable",
            format!("/etl/integrations/{iid}/enable"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::POST,
            "/etl/integrations/{id}/disable",
            format!("/etl/integrations/{iid}/disable"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::POST,
            "/etl/integrations/{id}/test",
            format!("/etl/integrations/{iid}/test"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::PUT,
            "/etl/integrations/{id}/schedule",
            format!("/etl/integrations/{iid}/schedule"),
            J(json!({"schedule": {"interval_seconds": 60}})),
            Foreign,
        ),
        probe(
            Method::DELETE,
            "/etl/integrations/{id}/schedule",
            format!("/etl/integrations/{iid}/schedule"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::POST,
            "/etl/integrations/{id}/run",
            format!("/etl/integrations/{iid}/run"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::POST,
            "/etl/integrations/{id}/full-resync",
            format!("/etl/integrations/{iid}/full-resync"),
            J(json!({"scope": "zeta-scope"})),
            Foreign,
        ),
        probe(
            Method::POST,
            "/etl/integrations/{id}/reconvert",
            format!("/etl/integrations/{iid}/reconvert"),
            J(json!({"scope": "zeta-scope"})),
            Foreign,
        ),
        // etl: jobs and logs
        probe(
            Method::GET,
            "/etl/jobs",
            format!("/etl/jobs?integration={iid}"),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::GET,
            "/etl/jobs",
            format!("/etl/jobs?client_id={cid}"),
            Body::None,
            Rejected,
        ),
        probe(
            Method::GET,
            "/etl/jobs/{id}",
            format!("/etl/jobs/{jid}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::POST,
            "/etl/jobs/{id}/cancel",
            format!("/etl/jobs/{jid}/cancel"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::POST,
            "/etl/jobs/{id}/pause",
            format!("/etl/jobs/{jid}/pause"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::POST,
            "/etl/jobs/{id}/resume",
            format!("/etl/jobs/{jid}/resume"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::GET,
            "/etl/logs",
            format!("/etl/logs?job={jid}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::GET,
            "/etl/logs",
            "/etl/logs?level=info".into(),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::DELETE,
            "/etl/logs",
            "/etl/logs?before=2100-01-01T00:00:00Z".into(),
            Body::None,
            OwnScope,
        ),
        probe(
            Method::DELETE,
            "/etl/logs",
            format!("/etl/logs?before=2100-01-01T00:00:00Z&client_id={cid}"),
            Body::None,
            Rejected,
        ),
        // etl: the progress socket (a plain GET is not a handshake; roles are checked first)
        probe(
            Method::GET,
            "/etl/ws",
            format!("/etl/ws?client_id={cid}"),
            Body::None,
            OwnScope,
        ),
        // health
        probe(
            Method::GET,
            "/health",
            "/health".into(),
            Body::None,
            OwnScope,
        ),
    ];
    all.extend(analytics);
    all.extend(org_probes(a));
    all.extend(ingest_probes(a));
    all.extend(rules_probes(a));
    all
}

/// The push endpoints: A's repositories, teams and deployments cannot be named (422, 403 for
/// viewers); a record reusing the key of one of A's incidents becomes B's own row.
fn ingest_probes(a: &Victim) -> Vec<Probe> {
    use Body::Json as J;
    use Expect::{OwnScope, Rejected};
    let cid = a.client.to_string();
    let deployment = |repo: &str| {
        json!({"id": "b-build-1", "environment": "production", "status": "success",
               "started_at": "2024-03-20T10:00:00Z", "repositories": [{"repository": repo}]})
    };
    let d = "/ingest/deployments";
    let i = "/ingest/incidents";
    let incident = json!({"id": "INC-2", "source": "import", "title": "B's own incident",
                          "created_at": "2024-03-07T11:40:00Z"});
    let mut smuggled = incident.clone();
    smuggled["client_id"] = json!(cid);
    vec![
        probe(
            Method::POST,
            d,
            d.into(),
            J(deployment(&a.repository_id)),
            Rejected,
        ),
        probe(
            Method::POST,
            d,
            d.into(),
            J(deployment("acme/api")),
            Rejected,
        ),
        probe(
            Method::POST,
            d,
            d.into(),
            J(json!([deployment("api")])),
            Rejected,
        ),
        probe(
            Method::POST,
            d,
            format!("{d}?client_id={cid}"),
            J(deployment("api")),
            Rejected,
        ),
        probe(Method::POST, i, i.into(), J(incident.clone()), OwnScope),
        probe(Method::POST, i, i.into(), J(smuggled), Rejected),
        probe(
            Method::POST,
            i,
            i.into(),
            J(
                json!({"id": "b-1", "title": "t", "created_at": "2024-03-07T11:40:00Z", "deployment": a.deployment_id}),
            ),
            Rejected,
        ),
        probe(
            Method::POST,
            i,
            i.into(),
            J(
                json!({"id": "b-2", "title": "t", "created_at": "2024-03-07T11:40:00Z", "team": a.team_id}),
            ),
            Rejected,
        ),
        probe(
            Method::POST,
            i,
            i.into(),
            J(
                json!({"id": "b-3", "title": "t", "created_at": "2024-03-07T11:40:00Z", "repository": "api"}),
            ),
            Rejected,
        ),
    ]
}

/// The organisation routes: A's teams, projects, people, repositories and boards in paths and
/// bodies answer 404 (403 for roles below admin on writes); B's own scope stays B's.
fn org_probes(a: &Victim) -> Vec<Probe> {
    use Body::Json as J;
    use Expect::{Foreign, OwnScope, Rejected};
    let cid = a.client.to_string();
    let (team, project, person) = (&a.team_id, &a.project_id, &a.person_id);
    let (repo, board) = (&a.repository_id, &a.board_id);
    let get = |t: &'static str, path: String, e: Expect| probe(Method::GET, t, path, Body::None, e);
    vec![
        get("/org/teams", "/org/teams?search=pay".into(), OwnScope),
        get(
            "/org/teams",
            format!("/org/teams?client_id={cid}"),
            Rejected,
        ),
        probe(
            Method::POST,
            "/org/teams",
            "/org/teams".into(),
            J(json!({"name": "B team"})),
            OwnScope,
        ),
        probe(
            Method::POST,
            "/org/teams",
            "/org/teams".into(),
            J(json!({"name": "B team", "parent_id": team})),
            Rejected,
        ),
        probe(
            Method::POST,
            "/org/teams",
            "/org/teams".into(),
            J(json!({"name": "B team", "client_id": cid})),
            Rejected,
        ),
        get("/org/teams/{id}", format!("/org/teams/{team}"), Foreign),
        probe(
            Method::PATCH,
            "/org/teams/{id}",
            format!("/org/teams/{team}"),
            J(json!({"name": "Hijacked"})),
            Foreign,
        ),
        probe(
            Method::PATCH,
            "/org/teams/{id}",
            format!("/org/teams/{team}"),
            J(json!({"parent_id": null})),
            Foreign,
        ),
        probe(
            Method::DELETE,
            "/org/teams/{id}",
            format!("/org/teams/{team}"),
            Body::None,
            Foreign,
        ),
        get(
            "/org/teams/{id}/members",
            format!("/org/teams/{team}/members"),
            Foreign,
        ),
        probe(
            Method::POST,
            "/org/teams/{id}/members",
            format!("/org/teams/{team}/members"),
            J(json!({"person_ids": [person]})),
            Foreign,
        ),
        probe(
            Method::DELETE,
            "/org/teams/{id}/members/{person_id}",
            format!("/org/teams/{team}/members/{person}"),
            Body::None,
            Foreign,
        ),
        get("/org/projects", "/org/projects".into(), OwnScope),
        get(
            "/org/projects",
            format!("/org/projects?client_id={cid}"),
            Rejected,
        ),
        probe(
            Method::POST,
            "/org/projects",
            "/org/projects".into(),
            J(json!({"name": "B project", "jira_keys": ["PAY"]})),
            OwnScope,
        ),
        probe(
            Method::POST,
            "/org/projects",
            "/org/projects".into(),
            J(json!({"name": "B project", "repository_ids": [repo]})),
            Foreign,
        ),
        probe(
            Method::POST,
            "/org/projects",
            "/org/projects".into(),
            J(json!({"name": "B project", "team_ids": [team], "board_ids": [board]})),
            Foreign,
        ),
        get(
            "/org/projects/{id}",
            format!("/org/projects/{project}"),
            Foreign,
        ),
        probe(
            Method::PATCH,
            "/org/projects/{id}",
            format!("/org/projects/{project}"),
            J(json!({"name": "Hijacked"})),
            Foreign,
        ),
        probe(
            Method::DELETE,
            "/org/projects/{id}",
            format!("/org/projects/{project}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::PUT,
            "/org/projects/{id}/repositories/{repository_id}",
            format!("/org/projects/{project}/repositories/{repo}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::DELETE,
            "/org/projects/{id}/repositories/{repository_id}",
            format!("/org/projects/{project}/repositories/{repo}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::PUT,
            "/org/projects/{id}/boards/{board_id}",
            format!("/org/projects/{project}/boards/{board}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::DELETE,
            "/org/projects/{id}/boards/{board_id}",
            format!("/org/projects/{project}/boards/{board}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::PUT,
            "/org/projects/{id}/teams/{team_id}",
            format!("/org/projects/{project}/teams/{team}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::DELETE,
            "/org/projects/{id}/teams/{team_id}",
            format!("/org/projects/{project}/teams/{team}"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::PUT,
            "/org/projects/{id}/jira-keys/{key}",
            format!("/org/projects/{project}/jira-keys/ZETA"),
            Body::None,
            Foreign,
        ),
        probe(
            Method::DELETE,
            "/org/projects/{id}/jira-keys/{key}",
            format!("/org/projects/{project}/jira-keys/PAY"),
            Body::None,
            Foreign,
        ),
        get("/org/people", "/org/people?search=ada".into(), OwnScope),
        get(
            "/org/people",
            format!("/org/people?client_id={cid}"),
            Rejected,
        ),
        probe(
            Method::POST,
            "/org/people",
            "/org/people".into(),
            J(json!({"name": "B person", "email": "ada@acme.example"})),
            OwnScope,
        ),
        probe(
            Method::POST,
            "/org/people",
            "/org/people".into(),
            J(json!({"name": "B person", "client_id": cid})),
            Rejected,
        ),
        get("/org/people/{id}", format!("/org/people/{person}"), Foreign),
        probe(
            Method::POST,
            "/org/people/{id}/merge",
            format!("/org/people/{person}/merge"),
            J(json!({"person_id": person})),
            Foreign,
        ),
        probe(
            Method::POST,
            "/org/people/{id}/accounts",
            format!("/org/people/{person}/accounts"),
            J(json!({"provider": "github", "login": "zeta-probe"})),
            Foreign,
        ),
        probe(
            Method::DELETE,
            "/org/people/{id}/accounts/{provider}/{login}",
            format!("/org/people/{person}/accounts/github/ada-l"),
            Body::None,
            Foreign,
        ),
        get(
            "/org/repositories",
            "/org/repositories?search=acme".into(),
            OwnScope,
        ),
        get(
            "/org/repositories",
            format!("/org/repositories?client_id={cid}"),
            Rejected,
        ),
        get("/org/boards", "/org/boards".into(), OwnScope),
    ]
}

/// The id of A's row with this external id.
async fn a_row<E: EntityTrait>(app: &TestApp, client: ClientId, external: &str) -> String {
    use pulse_db::sea_orm::sea_query::{Alias, Expr};
    use pulse_db::sea_orm::QuerySelect;
    let id: uuid::Uuid = E::find()
        .select_only()
        .column_as(Expr::col(Alias::new("id")), "id")
        .filter(Expr::col(Alias::new("client_id")).eq(client.uuid()))
        .filter(Expr::col(Alias::new("external_id")).eq(external))
        .into_tuple()
        .one(app.db.system())
        .await
        .unwrap()
        .expect("A's row");
    id.to_string()
}

/// Every (method, path) operation the published spec lists.
async fn spec_operations(app: &TestApp) -> BTreeSet<(String, String)> {
    let spec: Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// Client A's rows, as a comparable snapshot taken straight from the database.
async fn snapshot(app: &TestApp, client: ClientId) -> Vec<String> {
    use pulse_db::entity::{api_tokens, audit_log, client_settings, clients, sessions, users};
    let db = app.db.system();
    let c = client.uuid();
    let mut out = Vec::new();
    out.push(format!(
        "{:?}",
        clients::Entity::find_by_id(c).one(db).await.unwrap()
    ));
    for u in users::Entity::find()
        .filter(users::Column::ClientId.eq(c))
        .order_by_asc(users::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        out.push(format!("{u:?}"));
    }
    for s in sessions::Entity::find()
        .filter(sessions::Column::ClientId.eq(c))
        .order_by_asc(sessions::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        // last_seen_at moves with A's own use; everything else must hold still.
        out.push(format!(
            "session {} {:?} {:?}",
            s.id, s.revoked_at, s.refresh_hash
        ));
    }
    for t in api_tokens::Entity::find()
        .filter(api_tokens::Column::ClientId.eq(c))
        .order_by_asc(api_tokens::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        out.push(format!(
            "token {} {:?} {:?}",
            t.id, t.revoked_at, t.secret_hash
        ));
    }
    out.push(format!(
        "{:?}",
        client_settings::Entity::find_by_id(c)
            .one(db)
            .await
            .unwrap()
    ));
    let audit = audit_log::Entity::find()
        .filter(audit_log::Column::ClientId.eq(c))
        .all(db)
        .await
        .unwrap();
    use pulse_db::entity::{repositories, teams};
    for t in teams::Entity::find()
        .filter(teams::Column::ClientId.eq(c))
        .order_by_asc(teams::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        out.push(format!("{t:?}"));
    }
    for r in repositories::Entity::find()
        .filter(repositories::Column::ClientId.eq(c))
        .order_by_asc(repositories::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        out.push(format!("{r:?}"));
    }
    {
        use pulse_db::entity::{
            deployment_pull_requests, deployment_repositories, deployments, incidents,
            metric_rules, people, person_accounts, project_boards, project_jira_projects,
            project_repositories, project_teams, projects, pull_requests, team_members,
        };
        macro_rules! rows {
            ($($m:ident),*) => {$(
                for r in $m::Entity::find()
                    .filter($m::Column::ClientId.eq(c))
                    .order_by_asc($m::Column::Id)
                    .all(db)
                    .await
                    .unwrap()
                {
                    out.push(format!("{r:?}"));
                }
            )*};
        }
        rows!(
            metric_rules,
            people,
            person_accounts,
            team_members,
            projects,
            project_teams,
            project_repositories,
            project_boards,
            project_jira_projects,
            pull_requests,
            deployments,
            deployment_repositories,
            deployment_pull_requests,
            incidents
        );
    }
    use pulse_db::entity::{integrations, job_events, job_logs, jobs};
    for i in integrations::Entity::find()
        .filter(integrations::Column::ClientId.eq(c))
        .order_by_asc(integrations::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        out.push(format!("{i:?}"));
    }
    for j in jobs::Entity::find()
        .filter(jobs::Column::ClientId.eq(c))
        .order_by_asc(jobs::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        out.push(format!("{j:?}"));
    }
    for e in job_events::Entity::find()
        .filter(job_events::Column::ClientId.eq(c))
        .order_by_asc(job_events::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        out.push(format!("{e:?}"));
    }
    for l in job_logs::Entity::find()
        .filter(job_logs::Column::ClientId.eq(c))
        .order_by_asc(job_logs::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        out.push(format!("{l:?}"));
    }
    // Failed logins against A's accounts are A's to see: the audit log doing its job.
    let mut actions: Vec<String> = audit
        .into_iter()
        .filter(|e| e.action != "auth.login_failed")
        .map(|e| format!("audit {} {}", e.id, e.action))
        .collect();
    actions.sort();
    out.extend(actions);
    out
}

async fn send(app: &TestApp, p: &Probe, session: &Session) -> reqwest::Response {
    let mut req = app
        .http
        .request(p.method.clone(), app.url(&format!("/api/v1{}", p.path)))
        .bearer_auth(&session.token);
    req = match &p.body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Bytes(b, ct) => req.header("content-type", *ct).body(b.clone()),
    };
    req.send().await.unwrap()
}

async fn isolation_matrix(backend: Backend) {
    // No workers: A's job stays queued, so A's rows hold still while B probes.
    let mut registry = pulse_etl::Registry::new();
    registry.register(std::sync::Arc::new(
        pulse_etl::testing::CountingConnector::new(4, 2),
    ));
    let (app, _engine) = common::boot_with_registry(backend, &[], registry, 0).await;

    // Client A, with something behind every kind of id the API exposes.
    let a_client = app.client("Zeta Corp A").await;
    let a_admin = app.user(a_client, "admin@a.example", Role::Admin).await;
    app.user(a_client, "user@a.example", Role::User).await;
    let a_session = app.login("admin@a.example", None).await;
    let rename = app
        .bearer(Method::PATCH, "/api/v1/me", &a_session.token)
        .json(&json!({"name": "Alice Zeta-Secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rename.status(), 200);
    let settings = app
        .bearer(Method::PUT, "/api/v1/settings", &a_session.token)
        .json(
            &json!({"display_name": "Zeta Branding Secret", "color_schema": "custom",
                      "custom_colors": {"color1": "#ABCDEF"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), 200);
    let logo = app
        .bearer(Method::PUT, "/api/v1/settings/logo", &a_session.token)
        .header("content-type", "image/png")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(logo.status(), 200);
    let imported = app
        .bearer(Method::POST, "/api/v1/import", &a_session.token)
        .header("content-type", "application/x-ndjson")
        .body(
            "{\"type\":\"team\",\"id\":\"zeta-team\",\"name\":\"Zeta Team\"}\n\
             {\"type\":\"repository\",\"id\":\"zeta-repo\",\"full_name\":\"zeta/secret-repo\"}\n",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200, "{}", imported.text().await.unwrap());
    let example = app
        .bearer(Method::POST, "/api/v1/import", &a_session.token)
        .header("content-type", "application/x-ndjson")
        .body(EXAMPLE)
        .send()
        .await
        .unwrap();
    assert_eq!(example.status(), 200, "{}", example.text().await.unwrap());
    use pulse_db::entity::{projects, repositories, teams};
    let team_id = a_row::<teams::Entity>(&app, a_client, "payments").await;
    let project_id = a_row::<projects::Entity>(&app, a_client, "checkout").await;
    let repository_id = a_row::<repositories::Entity>(&app, a_client, "api").await;
    let person_id = a_row::<pulse_db::entity::people::Entity>(&app, a_client, "ada").await;
    let board_id = a_row::<pulse_db::entity::boards::Entity>(&app, a_client, "pay-board").await;
    let deployment_id =
        a_row::<pulse_db::entity::deployments::Entity>(&app, a_client, "deploy-101").await;
    // A's metric rules and an override of A's project, with markers that must not leak.
    let rules = app
        .bearer(Method::PATCH, "/api/v1/rules", &a_session.token)
        .json(
            &json!({"incidents": {"labels": ["zeta-incident-label"], "issue_types": ["incident"]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(rules.status(), 200, "{}", rules.text().await.unwrap());
    let over = app
        .bearer(
            Method::PUT,
            &format!("/api/v1/rules/projects/{project_id}"),
            &a_session.token,
        )
        .json(&json!({"production": {"environment": "^zeta-prod$"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 200, "{}", over.text().await.unwrap());
    let token: Value = app
        .bearer(Method::POST, "/api/v1/auth/tokens", &a_session.token)
        .json(&json!({"name": "zeta-automation-secret"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token_id = token["id"].as_str().expect("token id").to_string();
    let integration: Value = app
        .bearer(Method::POST, "/api/v1/etl/integrations", &a_session.token)
        .json(
            &json!({"kind": "counting", "name": "Zeta Integration", "scopes": ["zeta-scope"],
                      "base_url": "https://zeta-git.example.com", "credentials": ETL_SECRET,
                      "schedule": {"interval_seconds": 3600}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let integration_id = integration["id"]
        .as_str()
        .expect("integration id")
        .to_string();
    let run: Value = app
        .bearer(
            Method::POST,
            &format!("/api/v1/etl/integrations/{integration_id}/run"),
            &a_session.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_id = run[0]["id"].as_str().expect("job id").to_string();
    // A log line of A's job, old enough for B's "delete logs before" probe to reach if it leaked.
    {
        use pulse_db::sea_orm::{ActiveModelTrait, Set};
        pulse_db::entity::job_logs::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            client_id: Set(a_client.uuid()),
            job_id: Set(job_id.parse().unwrap()),
            at: Set(chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
                .unwrap()
                .to_utc()),
            level: Set("info".into()),
            message: Set("zeta log line".into()),
            fields: Set(None),
        }
        .insert(app.db.system())
        .await
        .unwrap();
    }
    let victim = Victim {
        client: a_client,
        client_name: "Zeta Corp A".into(),
        markers: vec![
            a_client.to_string(),
            a_admin.to_string(),
            a_session.session_id.clone(),
            token_id.clone(),
            "Zeta".into(),
            "Alice".into(),
            "ABCDEF".into(),
            "@a.example".into(),
            "secret-repo".into(),
            team_id.clone(),
            project_id.clone(),
            repository_id.clone(),
            person_id.clone(),
            board_id.clone(),
            deployment_id.clone(),
            "Lovelace".into(),
            "Payment intents".into(),
            "Checkout".into(),
            "Payments".into(),
            "PAY-1".into(),
            "deploy-101".into(),
            "INC-1".into(),
            "acme/".into(),
            integration_id.clone(),
            job_id.clone(),
            ETL_SECRET.into(),
            "zeta-scope".into(),
            "zeta-incident-label".into(),
            "zeta-prod".into(),
        ],
        user_id: a_admin.to_string(),
        admin: a_session.clone(),
        token_id,
        team_id,
        project_id,
        repository_id,
        person_id,
        board_id,
        deployment_id,
        integration_id,
        job_id,
    };

    // Client B, with one account per role.
    let b_client = app.client("Client B").await;
    for (email, role) in [
        ("admin@b.example", Role::Admin),
        ("user@b.example", Role::User),
        ("viewer@b.example", Role::Viewer),
    ] {
        app.user(b_client, email, role).await;
    }

    // Coverage: every operation in the spec has a probe, and every probe names a real operation.
    let ops = spec_operations(&app).await;
    let all = probes(&victim);
    let probed: BTreeSet<(String, String)> = all
        .iter()
        .map(|p| (p.method.to_string(), p.template.to_string()))
        .collect();
    let missing: Vec<_> = ops.difference(&probed).collect();
    assert!(
        missing.is_empty(),
        "routes in the OpenAPI spec without an isolation probe: {missing:?}"
    );
    let stale: Vec<_> = probed.difference(&ops).collect();
    assert!(
        stale.is_empty(),
        "probes for routes not in the spec: {stale:?}"
    );
    println!(
        "isolation matrix: {} of {} operations probed (100%), {} probes x 3 roles",
        probed.len(),
        ops.len(),
        all.len()
    );

    let before = snapshot(&app, a_client).await;
    let mut failures = Vec::new();
    for email in ["admin@b.example", "user@b.example", "viewer@b.example"] {
        for p in &all {
            // A fresh session per probe: some probes log the caller out.
            let session = app.login(email, None).await;
            let res = send(&app, p, &session).await;
            let status = res.status();
            let text = res.text().await.unwrap_or_default();
            let label = format!("{email} {} {} -> {status}", p.method, p.path);
            if status.is_server_error() {
                failures.push(format!("{label}: server error {text}"));
                continue;
            }
            match p.expect {
                Expect::Foreign if status != 404 && status != 403 => {
                    failures.push(format!("{label}: expected 404 or 403"));
                }
                Expect::Rejected if !status.is_client_error() => {
                    failures.push(format!("{label}: expected a 4xx"));
                }
                _ => {}
            }
            if let Some(m) = victim.markers.iter().find(|m| text.contains(m.as_str())) {
                failures.push(format!("{label}: response contains A's {m:?}: {text}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "isolation failures:\n{}",
        failures.join("\n")
    );

    let after = snapshot(&app, a_client).await;
    assert_eq!(before, after, "client A's rows changed");
    let me = app
        .bearer(Method::GET, "/api/v1/auth/me", &victim.admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "A's session survived B's probes");
}

both_backends!(isolation, isolation_matrix);
