//! The metric rules applied to rows, as tables: each line is a row's facts and what a rules
//! document makes of it. Pure: no database.

use pulse_analytics::rules::classify::{
    Compiled, Covered, DeploymentFacts, IncidentOrigin, IssueFacts, PullRequestFacts, RuleBook,
};
use pulse_analytics::rules::document::{apply_partial, parse};
use serde_json::{json, Value};
use uuid::Uuid;

fn rules(doc: Value) -> Compiled {
    Compiled::new(parse(doc).expect("valid rules")).unwrap()
}

/// `(origin, environment, name, branch, reported production)`.
type Dep = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<bool>,
);

fn classify(r: &Compiled, d: Dep) -> (bool, bool) {
    let c = r.deployment(&DeploymentFacts {
        origin: d.0,
        environment: d.1,
        name: d.2,
        branch: d.3,
        reported_production: d.4,
    });
    (c.counted, c.production)
}

#[test]
fn the_defaults_count_everything_loaded_and_keep_the_sources_word() {
    let r = rules(json!({}));
    // (facts) => (counted, production)
    let table: &[(Dep, (bool, bool))] = &[
        (
            ("workflow_run", "production", Some("deploy api"), None, None),
            (true, true),
        ),
        (("workflow_run", "Prod-EU", None, None, None), (true, true)),
        (
            ("github_deployment", "staging", None, None, None),
            (true, false),
        ),
        (
            ("release", "production", Some("v1.2.0"), None, None),
            (true, true),
        ),
        (("tag", "live", Some("v1.2.0"), None, None), (true, false)),
        (("webhook", "live", None, None, Some(true)), (true, true)),
        (
            ("manual", "production", None, None, Some(false)),
            (true, false),
        ),
        (("webhook", "preprod", None, None, None), (true, true)),
        // an origin Pulse does not know still counts
        (("argo", "production", None, None, None), (true, true)),
        // the fallback is off by default
        (
            ("merged_pr", "production", None, None, None),
            (false, false),
        ),
    ];
    for (facts, want) in table {
        assert_eq!(classify(&r, *facts), *want, "{facts:?}");
    }
}

#[test]
fn deployment_rules_select_by_origin_name_branch_and_tag() {
    let r = rules(json!({
        "deployments": {
            "github_deployments": {"environment": "^(production|staging)$"},
            "workflow_runs": {"name": "^deploy", "branch": "^(main|release/.+)$"},
            "releases": {"tag": "^v\\d+\\.\\d+\\.\\d+$"},
            "webhook": false,
            "manual": true,
            "merged_pr_fallback": true
        },
        "production": {"environment": "^production$", "use_source_flag": false}
    }));
    let table: &[(Dep, (bool, bool))] = &[
        (
            ("github_deployment", "production", None, None, None),
            (true, true),
        ),
        (
            ("github_deployment", "staging", None, None, None),
            (true, false),
        ),
        (
            ("github_deployment", "preview-42", None, None, None),
            (false, false),
        ),
        (
            (
                "workflow_run",
                "production",
                Some("deploy api"),
                Some("main"),
                None,
            ),
            (true, true),
        ),
        (
            (
                "workflow_run",
                "production",
                Some("deploy api"),
                Some("release/2024.3"),
                None,
            ),
            (true, true),
        ),
        (
            (
                "workflow_run",
                "production",
                Some("deploy api"),
                Some("feature/x"),
                None,
            ),
            (false, false),
        ),
        (
            (
                "workflow_run",
                "production",
                Some("lint"),
                Some("main"),
                None,
            ),
            (false, false),
        ),
        // a pattern is set: unknown names or branches do not match it
        (
            ("workflow_run", "production", None, Some("main"), None),
            (false, false),
        ),
        (
            ("workflow_run", "production", Some("deploy api"), None, None),
            (false, false),
        ),
        (
            ("release", "production", Some("v2.0.1"), None, None),
            (true, true),
        ),
        (
            ("tag", "production", Some("v2.0.1-rc1"), None, None),
            (false, false),
        ),
        (
            ("webhook", "production", None, None, Some(true)),
            (false, false),
        ),
        // the source's word is ignored: the pattern decides
        (
            ("manual", "production-eu", None, None, Some(true)),
            (true, false),
        ),
        (
            ("manual", "production", None, None, Some(false)),
            (true, true),
        ),
        // a fallback deployment is production whatever its environment
        (("merged_pr", "main", None, None, None), (true, true)),
    ];
    for (facts, want) in table {
        assert_eq!(classify(&r, *facts), *want, "{facts:?}");
    }
    let off = rules(json!({"deployments": {"workflow_runs": {"enabled": false}}}));
    assert_eq!(
        classify(
            &off,
            (
                "workflow_run",
                "production",
                Some("deploy"),
                Some("main"),
                None
            )
        ),
        (false, false)
    );
}

/// `(source, issue type, standard type, labels)`.
type Iss = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

fn issue(r: &Compiled, i: Iss) -> Option<IncidentOrigin> {
    let labels: Vec<String> = i.3.iter().map(|s| s.to_string()).collect();
    r.issue_incident(&IssueFacts {
        source: i.0,
        issue_type: i.1,
        standard_type: i.2,
        labels: &labels,
    })
}

#[test]
fn incident_rules_over_issues() {
    use IncidentOrigin::{IssueRule, LabelRule};
    let none = rules(json!({}));
    assert_eq!(
        issue(&none, ("jira", "Incident", "incident", &["outage"])),
        None
    );
    let r = rules(json!({"incidents": {
        "issue_types": ["Incident", "Production bug"],
        "labels": ["SEV1", "outage"],
        "github_labels": "^(incident|failure)$"
    }}));
    let table: &[(Iss, Option<IncidentOrigin>)] = &[
        (("jira", "Incident", "other", &[]), Some(IssueRule)),
        (("jira", "INCIDENT", "other", &[]), Some(IssueRule)),
        (("jira", "Problem", "incident", &[]), Some(IssueRule)),
        (("jira", "Production Bug", "bug", &[]), Some(IssueRule)),
        (("jira", "Bug", "bug", &[]), None),
        (("jira", "Task", "task", &["sev1"]), Some(IssueRule)),
        (("jira", "Task", "task", &["sev2"]), None),
        // the GitHub label pattern reads GitHub issues only
        (("github", "Issue", "other", &["incident"]), Some(LabelRule)),
        (("github", "Issue", "other", &["incidents"]), None),
        (("jira", "Task", "task", &["incident"]), None),
    ];
    for (facts, want) in table {
        assert_eq!(issue(&r, *facts), *want, "{facts:?}");
    }
}

/// `(title, merged, reverts, labels)`.
type Pr = (&'static str, bool, bool, &'static [&'static str]);

fn pr(r: &Compiled, p: Pr) -> Option<IncidentOrigin> {
    let labels: Vec<String> = p.3.iter().map(|s| s.to_string()).collect();
    r.pull_request_incident(&PullRequestFacts {
        title: p.0,
        merged: p.1,
        reverts: p.2,
        labels: &labels,
        base_branch: None,
    })
}

#[test]
fn incident_rules_over_pull_requests() {
    use IncidentOrigin::{LabelRule, RevertPr};
    let r = rules(json!({"incidents": {"revert_prs": true, "github_labels": "(?i)hotfix"}}));
    let table: &[(Pr, Option<IncidentOrigin>)] = &[
        (("Undo captures", true, true, &[]), Some(RevertPr)),
        (
            ("Revert \"Retry card captures\"", true, false, &[]),
            Some(RevertPr),
        ),
        // not merged: the revert did not happen
        (("Revert \"Retry card captures\"", false, false, &[]), None),
        (("Reverting the world", true, false, &[]), None),
        (("Fix checkout", true, false, &["HOTFIX"]), Some(LabelRule)),
        (("Fix checkout", false, false, &["hotfix"]), Some(LabelRule)),
        (("Fix checkout", true, false, &["bug"]), None),
    ];
    for (facts, want) in table {
        assert_eq!(pr(&r, *facts), *want, "{facts:?}");
    }
    let off = rules(json!({}));
    assert_eq!(pr(&off, ("Revert \"x\"", true, true, &["hotfix"])), None);
}

#[test]
fn merged_pull_requests_fall_back_only_into_the_default_branch() {
    let on = rules(json!({"deployments": {"merged_pr_fallback": true}}));
    // (base branch, repository default branch, merged) => stands in for a deployment
    type Branches = (Option<&'static str>, Option<&'static str>, bool);
    let table: &[(Branches, bool)] = &[
        ((Some("main"), Some("main"), true), true),
        ((Some("develop"), Some("main"), true), false),
        ((Some("trunk"), Some("trunk"), true), true),
        ((Some("master"), None, true), true),
        ((Some("trunk"), None, true), false),
        ((None, Some("main"), true), true),
        ((Some("main"), Some("main"), false), false),
    ];
    for ((base, default, merged), want) in table {
        let facts = PullRequestFacts {
            title: "t",
            merged: *merged,
            reverts: false,
            labels: &[],
            base_branch: *base,
        };
        assert_eq!(
            on.fallback_pull_request(&facts, *default),
            *want,
            "{base:?} {default:?} {merged}"
        );
    }
    let off = rules(json!({}));
    let facts = PullRequestFacts {
        title: "t",
        merged: true,
        reverts: false,
        labels: &[],
        base_branch: Some("main"),
    };
    assert!(!off.fallback_pull_request(&facts, Some("main")));
}

#[test]
fn attribution_windows_and_issue_links() {
    let r = rules(
        json!({"attribution": {"window_hours": 48, "issue_link": "^deploy(?:ment)?:\\s*(.+)$"}}),
    );
    assert_eq!(
        r.attribution().window,
        Some(std::time::Duration::from_secs(48 * 3600))
    );
    let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let table: &[(&[&str], Option<&str>)] = &[
        (
            &["checkout", "deployment:release-2024.03.06"],
            Some("release-2024.03.06"),
        ),
        (&["deploy: deploy-104"], Some("deploy-104")),
        (&["deployment:"], None),
        (&["deployments"], None),
        (&[], None),
    ];
    for (l, want) in table {
        assert_eq!(r.issue_link(&labels(l)).as_deref(), *want, "{l:?}");
    }
    let named = rules(json!({"attribution": {"issue_link": "^(?:x)-(?P<deployment>\\w+)$"}}));
    assert_eq!(named.issue_link(&labels(&["x-d1"])).as_deref(), Some("d1"));
    let default = rules(json!({}));
    assert_eq!(default.attribution().window, None);
    assert_eq!(default.issue_link(&labels(&["deployment:x"])), None);
}

#[test]
fn project_overrides_apply_to_what_the_project_covers() {
    let client = parse(json!({"production": {"environment": "(?i)prod"}})).unwrap();
    let narrow = apply_partial(
        &client,
        &json!({"production": {"environment": "^prod-eu$"}}),
    )
    .unwrap();
    let wide = apply_partial(&client, &json!({"production": {"environment": ".*"}})).unwrap();
    let (repo_a, repo_b, repo_c, repo_shared) = (
        Uuid::from_u128(1),
        Uuid::from_u128(2),
        Uuid::from_u128(3),
        Uuid::from_u128(4),
    );
    let (first, second) = (Uuid::from_u128(100), Uuid::from_u128(200));
    let book = RuleBook::new(
        Compiled::new(client).unwrap(),
        vec![
            // given out of order: the lower id (created first) still wins on shared rows
            (
                second,
                Compiled::new(wide).unwrap(),
                Covered {
                    repositories: vec![repo_b, repo_shared],
                    jira_keys: vec!["OPS".into()],
                },
            ),
            (
                first,
                Compiled::new(narrow).unwrap(),
                Covered {
                    repositories: vec![repo_a, repo_shared],
                    jira_keys: vec!["PAY".into()],
                },
            ),
        ],
    );
    let prod = |repos: &[Uuid], env: &str| {
        book.for_repositories(repos)
            .deployment(&DeploymentFacts {
                origin: "workflow_run",
                environment: env,
                name: None,
                branch: None,
                reported_production: None,
            })
            .production
    };
    // (repositories, environment) => production
    let table: &[(&[Uuid], &str, bool)] = &[
        (&[repo_a], "prod-eu", true),
        (&[repo_a], "production", false),
        (&[repo_b], "staging", true),
        (&[repo_c], "production", true),
        (&[repo_c], "staging", false),
        (&[repo_shared], "production", false),
        (&[repo_c, repo_b], "staging", true),
        (&[repo_b, repo_a], "staging", false),
    ];
    for (repos, env, want) in table {
        assert_eq!(prod(repos, env), *want, "{repos:?} {env}");
    }
    assert_eq!(book.project_of_repository(repo_shared), Some(first));
    assert_eq!(book.project_of_key("OPS"), Some(second));
    assert_eq!(book.project_of_repository(repo_c), None);
    assert!(std::ptr::eq(
        book.for_key(Some("PAY")),
        book.for_repositories(&[repo_a])
    ));
    assert!(std::ptr::eq(book.for_key(Some("XYZ")), book.client()));
    assert!(std::ptr::eq(
        book.for_incident(Some(repo_c), Some("PAY")),
        book.client()
    ));
    assert!(std::ptr::eq(
        book.for_incident(None, Some("OPS")),
        book.for_repositories(&[repo_b])
    ));
}
