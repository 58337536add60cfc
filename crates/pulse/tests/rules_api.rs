//! `/api/v1/rules` over the example import plus a few rows of its own, on SQLite and PostgreSQL:
//! changing a rule changes the DORA numbers and the drill-down lists accordingly (production
//! narrowed, incident rules added and removed, issue links, attribution windows, the merged-PR
//! fallback), a project override applies to that project only, and bad rules give field errors
//! and change nothing.

mod common;

use std::collections::BTreeSet;

use common::{expect_error, expect_ok, Backend, Session, TestApp};
use pulse_core::Role;
use reqwest::Method;
use serde_json::{json, Value};

const EXAMPLE: &str = include_str!("../../../docs/examples/import.jsonl");
const RANGE: &str = "from=2024-03-01&to=2024-03-17&tz=UTC";

/// Rows the rules act on, besides the example's: a deployment to `production-eu`, a project of
/// its own with one deployment, a repository without deployments whose pull requests the
/// fallback can stand in for, and issues an incident rule can match.
const EXTRA: &str = r#"{"type":"repository","id":"mobile","full_name":"acme/mobile","default_branch":"main"}
{"type":"repository","id":"legacy","full_name":"acme/legacy","default_branch":"trunk"}
{"type":"project","id":"mobile-app","name":"Mobile app","repositories":["mobile"]}
{"type":"deployment","id":"deploy-eu-1","name":"deploy web","environment":"production-eu","status":"success","origin":"workflow_run","started_at":"2024-03-09T09:50:00Z","finished_at":"2024-03-09T10:00:00Z","repositories":[{"repository":"web"}]}
{"type":"deployment","id":"mobile-1","name":"ship mobile","environment":"production-eu","status":"success","origin":"workflow_run","started_at":"2024-03-10T09:50:00Z","finished_at":"2024-03-10T10:00:00Z","repositories":[{"repository":"mobile"}]}
{"type":"issue","id":"10004","key":"PAY-4","title":"Checkout down in the EU","issue_type":"Task","standard_type":"task","status":"Done","status_category":"done","created_at":"2024-03-09T12:00:00Z","resolved_at":"2024-03-09T14:00:00Z","labels":["outage"]}
{"type":"issue","id":"10005","key":"PAY-5","title":"Refunds stuck","issue_type":"Incident","standard_type":"incident","status":"Done","status_category":"done","created_at":"2024-03-12T08:00:00Z","resolved_at":"2024-03-12T09:00:00Z","labels":["deployment:deploy-101"]}
{"type":"pull_request","id":"legacy#1","repository":"legacy","number":1,"title":"Old fix","state":"merged","created_at":"2024-03-02T10:00:00Z","merged_at":"2024-03-05T10:00:00Z","base_branch":"trunk"}
{"type":"pull_request","id":"legacy#2","repository":"legacy","number":2,"title":"Older fix","state":"merged","created_at":"2024-03-03T10:00:00Z","merged_at":"2024-03-11T10:00:00Z"}
{"type":"pull_request","id":"legacy#3","repository":"legacy","number":3,"title":"Experiment","state":"merged","created_at":"2024-03-03T10:00:00Z","merged_at":"2024-03-06T10:00:00Z","base_branch":"develop"}
"#;

struct Fixture {
    app: TestApp,
    admin: Session,
    viewer: Session,
}

impl Fixture {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        who: &Session,
    ) -> reqwest::Response {
        let mut req = self
            .app
            .bearer(method, &format!("/api/v1{path}"), &who.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let res = self.send(Method::GET, path, None, &self.viewer).await;
        expect_ok(res, 200, path).await
    }

    async fn patch(&self, body: Value) -> Value {
        let res = self
            .send(Method::PATCH, "/rules", Some(body.clone()), &self.admin)
            .await;
        expect_ok(res, 200, &format!("PATCH /rules {body}")).await
    }

    async fn import(&self, text: &str) {
        let res = self
            .app
            .bearer(Method::POST, "/api/v1/import", &self.admin.token)
            .header("content-type", "application/x-ndjson")
            .body(text.to_string())
            .send()
            .await
            .unwrap();
        expect_ok(res, 200, "import").await;
    }

    async fn dora(&self, extra: &str) -> Value {
        self.get(&format!("/metrics/dora?{RANGE}{extra}")).await
    }

    /// External ids of a list's items (the range and `query` applied).
    async fn list(&self, list: &str, query: &str) -> BTreeSet<String> {
        let body = self
            .get(&format!("/data/{list}?{RANGE}&limit=200{query}"))
            .await;
        assert_eq!(
            body["total"].as_u64().unwrap() as usize,
            body["items"].as_array().unwrap().len(),
            "one page holds the list"
        );
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["external_id"].as_str().unwrap().to_string())
            .collect()
    }

    /// The incidents of the range, by title.
    async fn incidents(&self) -> Vec<Value> {
        let body = self
            .get(&format!("/data/incidents?{RANGE}&limit=200"))
            .await;
        let mut items = body["items"].as_array().unwrap().clone();
        items.sort_by(|a, b| a["title"].as_str().cmp(&b["title"].as_str()));
        items
    }

    /// A deployment's row id by external id.
    async fn deployment_id(&self, external: &str) -> String {
        let body = self.get("/data/deployments?limit=200").await;
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["external_id"] == external)
            .unwrap_or_else(|| panic!("no deployment {external}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn project_id(&self, external: &str) -> String {
        use pulse_db::entity::projects;
        use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        projects::Entity::find()
            .filter(projects::Column::ExternalId.eq(external))
            .one(self.app.db.system())
            .await
            .unwrap()
            .expect("project")
            .id
            .to_string()
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn setup(backend: Backend) -> Fixture {
    let app = common::boot(backend).await;
    let client = app.client("Acme").await;
    app.user(client, "admin@acme.example", Role::Admin).await;
    app.user(client, "viewer@acme.example", Role::Viewer).await;
    let admin = app.login("admin@acme.example", None).await;
    let viewer = app.login("viewer@acme.example", None).await;
    let f = Fixture { app, admin, viewer };
    f.import(EXAMPLE).await;
    f.import(EXTRA).await;
    f
}

fn deployments(dora: &Value) -> u64 {
    dora["deployment_frequency"]["deployments"]
        .as_u64()
        .unwrap()
}

async fn rules_change_the_numbers(backend: Backend) {
    let f = setup(backend).await;

    // The defaults: every loaded deployment counts; production is an environment containing
    // "prod": deploy-101, the release, deploy-104, deploy-eu-1 and mobile-1.
    let rules = f.get("/rules").await;
    assert_eq!(rules["customized"], false);
    assert_eq!(rules["rules"]["production"]["environment"], "(?i)prod");
    assert_eq!(rules["changed_from_defaults"], json!([]));
    let dora = f.dora("").await;
    assert_eq!(deployments(&dora), 5);
    let production = "&production=true&status=success";
    assert_eq!(
        f.list("deployments", production).await,
        set(&[
            "deploy-101",
            "release-2024.03.06",
            "deploy-104",
            "deploy-eu-1",
            "mobile-1"
        ])
    );
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 1);
    assert_eq!(
        f.incidents().await.len(),
        2,
        "only the loaded incidents INC-1 and INC-2"
    );

    // Production narrowed: the two production-eu deployments drop out, of the metric and of the
    // drill-down list alike.
    let changed = f
        .patch(json!({"production": {"environment": "^production$"}}))
        .await;
    assert_eq!(changed["changed"], json!(["production.environment"]));
    assert_eq!(changed["recomputed"]["deployments_reclassified"], 2);
    assert_eq!(changed["rules"]["customized"], true);
    let dora = f.dora("").await;
    assert_eq!(deployments(&dora), 3);
    assert_eq!(
        f.list("deployments", production).await,
        set(&["deploy-101", "release-2024.03.06", "deploy-104"])
    );
    assert_eq!(
        f.list("deployments", "&production=false").await,
        set(&["staging-55", "deploy-eu-1", "mobile-1"])
    );
    // Workflow runs limited by name: the runs named "deploy api" stop counting at all.
    let changed = f
        .patch(json!({"deployments": {"workflow_runs": {"name": "^ship"}}}))
        .await;
    assert_eq!(changed["recomputed"]["deployments_reclassified"], 4);
    assert_eq!(deployments(&f.dora("").await), 1);
    assert_eq!(
        f.list("deployments", "&counted=false").await,
        set(&["deploy-101", "deploy-103", "deploy-104", "deploy-eu-1"])
    );
    let back = f
        .patch(json!({"production": {"environment": "(?i)prod"}, "deployments": {"workflow_runs": {"name": null}}}))
        .await;
    assert_eq!(back["rules"]["changed_from_defaults"], json!([]));
    assert_eq!(deployments(&f.dora("").await), 5);

    // An incident label rule: PAY-4 (labelled "outage", 03-09 12:00) becomes an incident,
    // charged to the latest production deployment before it, deploy-eu-1.
    let changed = f.patch(json!({"incidents": {"labels": ["Outage"]}})).await;
    assert_eq!(changed["recomputed"]["incidents_created"], 1);
    let incidents = f.incidents().await;
    assert_eq!(incidents.len(), 3);
    let pay4 = incidents
        .iter()
        .find(|i| i["title"] == "PAY-4 Checkout down in the EU")
        .expect("the incident made from PAY-4");
    assert_eq!(pay4["source"], "rules");
    assert_eq!(pay4["origin"], "issue_rule");
    assert_eq!(
        pay4["caused_by_deployment_id"].as_str().unwrap(),
        f.deployment_id("deploy-eu-1").await
    );
    assert_eq!(pay4["attributed_by"], "inferred");
    let dora = f.dora("").await;
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 2);
    let cfr = &dora["change_failure_rate"];
    assert_eq!(
        cfr["incidents_attributed"].as_u64().unwrap()
            + cfr["incidents_unattributed"].as_u64().unwrap(),
        3,
        "the metric counts the incidents the list shows"
    );

    // A loaded incident that names PAY-4 replaces the rules' incident of it (no duplicate).
    f.import(r#"{"type":"incident","id":"INC-3","title":"EU outage","origin":"manual","created_at":"2024-03-09T12:05:00Z","issue":"10004"}"#)
        .await;
    assert_eq!(
        f.list("incidents", "").await,
        set(&["INC-1", "INC-2", "INC-3"])
    );
    let res = f
        .app
        .bearer(Method::POST, "/api/v1/import", &f.admin.token)
        .header("content-type", "application/x-ndjson")
        .body(r#"{"type":"incident","id":"INC-3","title":"EU outage","origin":"manual","created_at":"2024-03-09T12:05:00Z"}"#)
        .send()
        .await
        .unwrap();
    expect_ok(res, 200, "INC-3 no longer names PAY-4").await;
    assert_eq!(
        f.list("incidents", "").await.len(),
        4,
        "PAY-4 is an incident of the rules again, next to INC-3"
    );

    // Swapping rules: the label rule goes (its incident with it); issue types and revert pull
    // requests come in. PAY-3 and the revert api#3 are already named by the loaded INC-1 and
    // INC-2, so only PAY-5 becomes a new incident.
    let changed = f
        .patch(
            json!({"incidents": {"labels": [], "issue_types": ["incident"], "revert_prs": true}}),
        )
        .await;
    assert_eq!(changed["recomputed"]["incidents_created"], 1);
    assert_eq!(changed["recomputed"]["incidents_removed"], 1);
    let titles: BTreeSet<String> = f
        .incidents()
        .await
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        titles,
        set(&[
            "Checkout errors after release 2024.03.06",
            "EU outage",
            "PAY-5 Refunds stuck",
            "Revert of retry captures"
        ])
    );

    // An explicit link in the issue: PAY-5's label names deploy-101, which is charged instead of
    // the latest earlier deployment (mobile-1).
    let mobile_1 = f.deployment_id("mobile-1").await;
    let deploy_101 = f.deployment_id("deploy-101").await;
    let pay5 = |list: &[Value]| {
        list.iter()
            .find(|i| i["title"] == "PAY-5 Refunds stuck")
            .cloned()
            .expect("PAY-5's incident")
    };
    assert_eq!(
        pay5(&f.incidents().await)["caused_by_deployment_id"],
        mobile_1
    );
    let changed = f
        .patch(json!({"attribution": {"issue_link": "^deployment:(.+)$"}}))
        .await;
    assert_eq!(changed["recomputed"]["incidents_reattributed"], 1);
    let linked = pay5(&f.incidents().await);
    assert_eq!(linked["caused_by_deployment_id"], deploy_101);
    assert_eq!(linked["attributed_by"], "issue_link");
    let failed: BTreeSet<String> = f.dora("").await["change_failure_rate"]["failed_deployment_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(failed.contains(&deploy_101), "the report honours the link");
    assert!(!failed.contains(&mobile_1));

    // An attribution window of one hour: INC-2 (03-07 11:40) is more than an hour after the
    // release (03-06 15:00), the latest successful production deployment before it, and INC-3
    // (03-09 12:05) two hours after deploy-eu-1.
    let before = f.dora("").await["change_failure_rate"]["incidents_unattributed"]
        .as_u64()
        .unwrap();
    f.patch(json!({"attribution": {"window_hours": 1}})).await;
    let after = f.dora("").await["change_failure_rate"]["incidents_unattributed"]
        .as_u64()
        .unwrap();
    assert_eq!(after, before + 2);
    let inc2 = f
        .incidents()
        .await
        .into_iter()
        .find(|i| i["external_id"] == "INC-2")
        .unwrap();
    assert_eq!(inc2["caused_by_deployment_id"], Value::Null);
    assert_eq!(inc2["attributed_by"], Value::Null);

    // The issue changes: its incident follows, still charged through the link.
    f.import(r#"{"type":"issue","id":"10005","key":"PAY-5","title":"Refunds stuck for hours","issue_type":"Incident","standard_type":"incident","status":"Done","status_category":"done","created_at":"2024-03-12T08:00:00Z","resolved_at":"2024-03-12T11:00:00Z","labels":["deployment:deploy-101"]}"#)
        .await;
    let updated = f
        .incidents()
        .await
        .into_iter()
        .find(|i| i["source"] == "rules")
        .expect("PAY-5's incident");
    assert_eq!(updated["title"], "PAY-5 Refunds stuck for hours");
    assert_eq!(updated["resolved_at"], "2024-03-12T11:00:00Z");
    assert_eq!(updated["caused_by_deployment_id"], deploy_101);

    // Everything off again: the rule incidents disappear, the loaded ones stay.
    let changed = f
        .send(Method::PUT, "/rules", Some(json!({})), &f.admin)
        .await;
    let changed = expect_ok(changed, 200, "PUT /rules {}").await;
    assert_eq!(changed["recomputed"]["incidents_removed"], 1);
    assert_eq!(
        f.list("incidents", "").await,
        set(&["INC-1", "INC-2", "INC-3"]),
        "loaded incidents are never removed"
    );
    // The release (INC-1, INC-2) and deploy-eu-1 (INC-3).
    assert_eq!(
        f.dora("").await["change_failure_rate"]["failed_deployments"],
        2
    );

    // Audited, with what changed.
    let audit = f
        .send(
            Method::GET,
            "/audit?action=rules.&limit=200",
            None,
            &f.admin,
        )
        .await;
    let audit = expect_ok(audit, 200, "audit").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 8, "{actions:?}");
    assert!(actions
        .iter()
        .all(|a| *a == "rules.update" || *a == "rules.replace"));
}
both_backends!(rules_change_the_numbers_and_lists, rules_change_the_numbers);

async fn overrides_and_fallback(backend: Backend) {
    let f = setup(backend).await;
    let mobile = f.project_id("mobile-app").await;
    let checkout = f.project_id("checkout").await;
    assert_eq!(deployments(&f.dora("").await), 5);
    assert_eq!(deployments(&f.dora(&format!("&project={mobile}")).await), 1);
    assert_eq!(
        deployments(&f.dora(&format!("&project={checkout}")).await),
        4
    );

    // A project override applies to that project only: mobile-1 stops being production,
    // deploy-eu-1 (Checkout's, same environment) stays.
    let res = f
        .send(
            Method::PUT,
            &format!("/rules/projects/{mobile}"),
            Some(json!({"production": {"environment": "^production$"}, "incidents": {}})),
            &f.admin,
        )
        .await;
    let changed = expect_ok(res, 200, "override").await;
    assert_eq!(changed["recomputed"]["deployments_reclassified"], 1);
    assert_eq!(changed["changed"], json!(["production.environment"]));
    let view = f.get(&format!("/rules/projects/{mobile}")).await;
    assert_eq!(view["overridden"], json!(["production.environment"]));
    assert_eq!(
        view["override"],
        json!({"production": {"environment": "^production$"}})
    );
    assert_eq!(view["rules"]["production"]["environment"], "^production$");
    assert_eq!(
        view["client_rules"]["production"]["environment"],
        "(?i)prod"
    );
    assert_eq!(view["preceded_by"], json!([]));
    assert_eq!(f.get("/rules").await["project_overrides"], json!([mobile]));
    assert_eq!(deployments(&f.dora(&format!("&project={mobile}")).await), 0);
    assert_eq!(
        deployments(&f.dora(&format!("&project={checkout}")).await),
        4
    );
    assert_eq!(deployments(&f.dora("").await), 4);
    assert!(f
        .list("deployments", "&production=false")
        .await
        .contains("mobile-1"));

    // A client change reaches the project only where the override does not speak.
    f.patch(json!({"production": {"environment": "(?i)^production$"}}))
        .await;
    assert_eq!(
        deployments(&f.dora("").await),
        3,
        "deploy-eu-1 drops, mobile-1 stays out"
    );
    f.patch(json!({"production": {"environment": "(?i)prod"}}))
        .await;

    // The report filtered to a project applies the project's attribution window; the client's
    // report keeps the client's (none).
    let res = f
        .send(
            Method::PUT,
            &format!("/rules/projects/{checkout}"),
            Some(json!({"attribution": {"window_hours": 1}})),
            &f.admin,
        )
        .await;
    expect_ok(res, 200, "checkout override").await;
    let unattributed = |d: &Value| {
        d["change_failure_rate"]["incidents_unattributed"]
            .as_u64()
            .unwrap()
    };
    let client_view = f.dora("").await;
    let checkout_view = f.dora(&format!("&project={checkout}")).await;
    assert_eq!(unattributed(&checkout_view), unattributed(&client_view) + 1);
    let res = f
        .send(
            Method::DELETE,
            &format!("/rules/projects/{checkout}"),
            None,
            &f.admin,
        )
        .await;
    let cleared = expect_ok(res, 200, "clear").await;
    assert_eq!(cleared["rules"]["override"], Value::Null);
    assert_eq!(cleared["changed"], json!(["attribution.window_hours"]));
    assert_eq!(
        unattributed(&f.dora(&format!("&project={checkout}")).await),
        unattributed(&client_view)
    );

    // Clearing the mobile override restores the client's rules there.
    let res = f
        .send(
            Method::DELETE,
            &format!("/rules/projects/{mobile}"),
            None,
            &f.admin,
        )
        .await;
    let cleared = expect_ok(res, 200, "clear").await;
    assert_eq!(cleared["recomputed"]["deployments_reclassified"], 1);
    assert_eq!(deployments(&f.dora("").await), 5);

    // The merged-PR fallback: legacy has no deployments, so its pull requests merged into the
    // default branch (trunk; legacy#2 names no branch) stand in for deployments; legacy#3 went
    // to develop. Repositories with deployments get none.
    let changed = f
        .patch(json!({"deployments": {"merged_pr_fallback": true}}))
        .await;
    assert_eq!(changed["recomputed"]["fallback_deployments_added"], 2);
    let dora = f.dora("").await;
    assert_eq!(deployments(&dora), 7);
    assert_eq!(dora["fallback_deployments"], 2);
    let legacy: Value = f
        .get(&format!("/data/deployments?{RANGE}&production=true"))
        .await;
    let fallbacks: Vec<&Value> = legacy["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["fallback"] == true)
        .collect();
    assert_eq!(fallbacks.len(), 2);
    for d in &fallbacks {
        assert_eq!(d["origin"], "merged_pr");
        assert_eq!(d["source"], "rules");
    }
    let names: BTreeSet<&str> = fallbacks
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["#1 Old fix", "#2 Older fix"]));
    // The fallback deployments carry their pull requests' lead time (merged = deployed).
    let again = f
        .patch(json!({"deployments": {"merged_pr_fallback": true}}))
        .await;
    assert_eq!(
        again["recomputed"]["fallback_deployments_added"], 0,
        "idempotent"
    );

    // Once legacy reports a deployment of its own (here a staging one), the import recomputes
    // and the fallback deployments go.
    f.import(r#"{"type":"deployment","id":"legacy-staging-1","environment":"staging","status":"success","origin":"github_deployment","started_at":"2024-03-13T09:00:00Z","finished_at":"2024-03-13T09:10:00Z","repositories":[{"repository":"legacy"}]}"#)
        .await;
    let dora = f.dora("").await;
    assert_eq!(dora["fallback_deployments"], 0);
    assert_eq!(deployments(&dora), 5);
    assert!(
        !f.get(&format!("/data/deployments?{RANGE}&limit=200")).await["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["fallback"] == true)
    );
    // An import that names the reserved source is refused.
    let res = f
        .app
        .bearer(Method::POST, "/api/v1/import", &f.admin.token)
        .header("content-type", "application/x-ndjson")
        .body(r#"{"type":"incident","id":"x","source":"rules","title":"t","origin":"manual","created_at":"2024-03-13T09:00:00Z"}"#)
        .send()
        .await
        .unwrap();
    let body = expect_error(res, 422, "validation_failed", "reserved source").await;
    assert!(body.to_string().contains("reserved"), "{body}");
}
both_backends!(project_overrides_and_the_fallback, overrides_and_fallback);

async fn bad_rules(backend: Backend) {
    let f = setup(backend).await;
    let mobile = f.project_id("mobile-app").await;
    let rules_before = f.get("/rules").await;
    let dora_before = f.dora("").await;
    let incidents_before = f.list("incidents", "").await;

    // Every bad field is reported; nothing is stored or recomputed.
    for (method, path, body, fields) in [
        (
            Method::PATCH,
            "/rules".to_string(),
            json!({"production": {"environment": "(prod"}, "attribution": {"window_hours": -3},
                   "incidents": {"labels": ["outage"]}}),
            vec!["production.environment", "attribution.window_hours"],
        ),
        (
            Method::PUT,
            "/rules".to_string(),
            json!({"deployments": {"releases": {"tag": "v["}}, "incidents": {"github_labels": "(?<x"}}),
            vec!["deployments.releases.tag", "incidents.github_labels"],
        ),
        (
            Method::PUT,
            "/rules".to_string(),
            json!({"attribution": {"window_hours": "a day"}}),
            vec!["attribution.window_hours"],
        ),
        (
            Method::PATCH,
            "/rules".to_string(),
            json!({"attribution": {"issue_link": "^deployment:.+$"}}),
            vec!["attribution.issue_link"],
        ),
        (
            Method::PATCH,
            "/rules".to_string(),
            json!({"client_id": "00000000-0000-0000-0000-000000000000"}),
            vec!["client_id"],
        ),
        (
            Method::PUT,
            format!("/rules/projects/{mobile}"),
            json!({"production": {"environment": "["}, "deployments": {"webhook": "yes"}}),
            vec!["deployments.webhook"],
        ),
        (
            Method::PUT,
            format!("/rules/projects/{mobile}"),
            json!({"incidents": {"labels": ["ok", ""]}, "attribution": {"window_hours": 100000}}),
            vec!["incidents.labels[1]", "attribution.window_hours"],
        ),
    ] {
        let res = f
            .send(method.clone(), &path, Some(body.clone()), &f.admin)
            .await;
        let err = expect_error(
            res,
            422,
            "validation_failed",
            &format!("{method} {path} {body}"),
        )
        .await;
        let got: Vec<&str> = err["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(got, fields, "{body}");
    }
    // Not JSON, not an object, another client's or an unknown project, a viewer.
    let res = f
        .app
        .bearer(Method::PATCH, "/api/v1/rules", &f.admin.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "malformed_json", "not JSON").await;
    let res = f
        .send(Method::PATCH, "/rules", Some(json!([1, 2])), &f.admin)
        .await;
    expect_error(res, 422, "validation_failed", "an array").await;
    let unknown = uuid::Uuid::new_v4();
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let res = f
            .send(
                method.clone(),
                &format!("/rules/projects/{unknown}"),
                Some(json!({})),
                &f.admin,
            )
            .await;
        expect_error(res, 404, "not_found", &format!("{method} unknown project")).await;
    }
    let res = f
        .send(
            Method::PATCH,
            "/rules",
            Some(json!({"deployments": {"webhook": false}})),
            &f.viewer,
        )
        .await;
    expect_error(res, 403, "forbidden", "viewer writes").await;
    let res = f
        .send(
            Method::DELETE,
            &format!("/rules/projects/{mobile}"),
            None,
            &f.viewer,
        )
        .await;
    expect_error(res, 403, "forbidden", "viewer clears").await;

    assert_eq!(f.get("/rules").await, rules_before);
    assert_eq!(
        f.get(&format!("/rules/projects/{mobile}")).await["override"],
        Value::Null
    );
    assert_eq!(f.dora("").await, dora_before);
    assert_eq!(f.list("incidents", "").await, incidents_before);
    let audit = f
        .send(Method::GET, "/audit?action=rules.", None, &f.admin)
        .await;
    assert_eq!(expect_ok(audit, 200, "audit").await["total"], 0);
}
both_backends!(bad_rules_change_nothing, bad_rules);

/// Expected charge: the latest successful deployment that finished before `created`, within
/// `window` hours when given.
fn expected_cause(
    deployments: &[(chrono::DateTime<chrono::Utc>, String)],
    created: chrono::DateTime<chrono::Utc>,
    window: Option<i64>,
) -> Option<String> {
    deployments
        .iter()
        .filter(|(f, _)| *f < created)
        .max_by_key(|(f, _)| *f)
        .filter(|(f, _)| window.is_none_or(|w| created - *f <= chrono::Duration::hours(w)))
        .map(|(_, e)| e.clone())
}

/// Stored charges of the rule incidents: issue key -> deployment external id.
async fn stored_causes(app: &TestApp) -> std::collections::BTreeMap<String, Option<String>> {
    use pulse_db::entity::{deployments, incidents, issues};
    use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let db = app.db.system();
    let deps: std::collections::HashMap<uuid::Uuid, String> = deployments::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.external_id))
        .collect();
    let keys: std::collections::HashMap<uuid::Uuid, String> = issues::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.id, i.key))
        .collect();
    incidents::Entity::find()
        .filter(incidents::Column::Source.eq("rules"))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|i| {
            (
                keys[&i.issue_id.unwrap()].clone(),
                i.caused_by_deployment_id.map(|d| deps[&d].clone()),
            )
        })
        .collect()
}

/// Hundreds of incidents (charged from memory) and a few (charged by query) get the same answers
/// as a direct computation, with and without a window.
async fn many_and_few_incidents(backend: Backend) {
    use chrono::{Duration, TimeZone, Utc};
    let app = common::boot(backend).await;
    let client = app.client("Ops").await;
    app.user(client, "admin@ops.example", Role::Admin).await;
    let admin = app.login("admin@ops.example", None).await;
    let f = Fixture {
        app,
        viewer: admin.clone(),
        admin,
    };
    let start = Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
    let iso = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut lines = vec![r#"{"type":"repository","id":"svc","full_name":"ops/svc"}"#.to_string()];
    let mut successful = Vec::new();
    for d in 0..12 {
        let finished = start + Duration::hours(10 + 48 * d);
        let status = if d == 3 { "failure" } else { "success" };
        if status == "success" {
            successful.push((finished, format!("d{d}")));
        }
        lines.push(format!(
            r#"{{"type":"deployment","id":"d{d}","environment":"production","status":"{status}","origin":"webhook","started_at":"{}","finished_at":"{}","repositories":[{{"repository":"svc"}}]}}"#,
            iso(finished - Duration::minutes(5)),
            iso(finished)
        ));
    }
    let issue = |k: i64| {
        let created = start + Duration::minutes(70 * k);
        (
            created,
            format!(
                r#"{{"type":"issue","id":"i{k}","key":"OPS-{k}","title":"t","issue_type":"Task","standard_type":"task","status":"Open","status_category":"to_do","created_at":"{}","labels":["outage"]}}"#,
                iso(created)
            ),
        )
    };
    let mut created = std::collections::BTreeMap::new();
    for k in 0..300 {
        let (at, line) = issue(k);
        created.insert(format!("OPS-{k}"), at);
        lines.push(line);
    }
    f.import(&lines.join("\n")).await;

    let check = |stored: std::collections::BTreeMap<String, Option<String>>,
                 successful: &[(chrono::DateTime<Utc>, String)],
                 created: &std::collections::BTreeMap<String, chrono::DateTime<Utc>>,
                 window: Option<i64>| {
        assert_eq!(stored.len(), created.len());
        let mut charged = 0;
        for (key, at) in created {
            let want = expected_cause(successful, *at, window);
            charged += usize::from(want.is_some());
            assert_eq!(stored[key], want, "{key} at {at} (window {window:?})");
        }
        charged
    };

    // 300 incidents at once: charged from memory.
    let changed = f.patch(json!({"incidents": {"labels": ["outage"]}})).await;
    assert_eq!(changed["recomputed"]["incidents_created"], 300);
    let charged = check(stored_causes(&f.app).await, &successful, &created, None);
    assert!(
        charged > 250 && charged < 300,
        "{charged}: some before the first deployment"
    );
    f.patch(json!({"attribution": {"window_hours": 20}})).await;
    let charged = check(stored_causes(&f.app).await, &successful, &created, Some(20));
    assert!(
        charged > 100 && charged < 250,
        "{charged}: the window leaves some out"
    );

    // One more issue (charged by query), then a deployment in the middle, which re-charges the
    // incidents after it.
    let (at, line) = issue(300);
    created.insert("OPS-300".into(), at);
    f.import(&line).await;
    check(stored_causes(&f.app).await, &successful, &created, Some(20));
    let mid = start + Duration::hours(10 + 48 * 5 + 30);
    successful.push((mid, "d-mid".into()));
    f.import(&format!(
        r#"{{"type":"deployment","id":"d-mid","environment":"production","status":"success","origin":"webhook","started_at":"{}","finished_at":"{}","repositories":[{{"repository":"svc"}}]}}"#,
        iso(mid - Duration::minutes(5)),
        iso(mid)
    ))
    .await;
    check(stored_causes(&f.app).await, &successful, &created, Some(20));
    // Without the window again, from memory.
    f.patch(json!({"attribution": {"window_hours": null}}))
        .await;
    check(stored_causes(&f.app).await, &successful, &created, None);
}
both_backends!(
    many_and_few_incidents_are_charged_alike,
    many_and_few_incidents
);
