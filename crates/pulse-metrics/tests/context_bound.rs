//! The 90-day context bound (`dora::CONTEXT_DAYS`), by hand: every link reaches exactly 90 days
//! and no further.

mod common;

use common::*;
use pulse_metrics::dora::*;
use pulse_metrics::time::Granularity;

// api deploys on 1 Jan, 31 Mar (exactly 90 days later) and 1 Jul (92 days after that); web fails
// on 2 Jan and only succeeds again 91 days later.
const DEPLOYMENTS: &str = "
# id  repos  prod status   started           finished
a1    api    yes  success  2024-01-01 09:00  2024-01-01 10:00
a2    api    yes  success  2024-03-31 09:00  2024-03-31 10:00
a3    api    yes  success  2024-07-01 09:00  2024-07-01 10:00
w1    web    yes  failure  2024-01-02 09:00  2024-01-02 10:00
w2    web    yes  success  2024-04-02 10:00  2024-04-02 10:00
";

#[test]
fn a_change_links_to_a_deployment_at_most_90_days_after_its_merge() {
    let changes = changes(
        "
# id    repo first_commit      merged            deployed_by
c-in    api  2023-12-31 10:00  2024-01-01 10:00  -   # a1 finishes at the merge
c-edge  api  2024-01-01 11:00  2024-01-01 11:00  -   # a2 is 89 d 23 h later: linked
c-out   api  2024-04-01 09:00  2024-04-01 10:00  -   # a3 is 91 days later: never deployed
",
    );
    let linked = link_changes_to_deployments(&deployments(DEPLOYMENTS), &changes);
    let by: Vec<Option<&str>> = linked.iter().map(|c| c.deployed_by.as_deref()).collect();
    assert_eq!(by, [Some("a1"), Some("a2"), None]);
    // Exactly 90 days is inside (inclusive).
    let exact = changes_at("2024-01-01 10:00");
    let only_a2 = deployments("a2 api yes success 2024-03-31 09:00 2024-03-31 10:00");
    assert_eq!(
        link_changes_to_deployments(&only_a2, &exact)[0]
            .deployed_by
            .as_deref(),
        Some("a2")
    );
}

fn changes_at(merged: &str) -> Vec<Change> {
    changes(&format!("c api 2023-12-01 10:00 {merged} -"))
}

#[test]
fn incidents_are_charged_within_90_days_and_explicit_links_too() {
    let incidents = incidents(
        "
# id   created           resolved          explicit
i-in   2024-03-30 10:00  2024-03-30 12:00  -    # a1 finished 89 days before
i-out  2024-10-01 11:00  2024-10-01 12:00  -    # a3 finished 92 days before: none
i-exp  2024-04-01 10:00  2024-04-01 12:00  a1   # explicit, 91 days after a1: unattributed
i-ok   2024-03-31 10:00  2024-03-31 12:00  a1   # explicit, exactly 90 days after a1
i-pre  2024-01-01 10:00  2024-01-01 12:00  a2   # explicit, exactly 90 days before a2
",
    );
    let rule = AttributionRule::default();
    let charged = attribute_incidents(&deployments(DEPLOYMENTS), &incidents, &rule);
    let by: Vec<Option<&str>> = charged.iter().map(|i| i.caused_by.as_deref()).collect();
    assert_eq!(by, [Some("a1"), None, None, Some("a1"), Some("a2")]);
    // A longer configured window is capped to the bound.
    let long = AttributionRule {
        window: Some(std::time::Duration::from_secs(365 * 86_400)),
    };
    let charged = attribute_incidents(&deployments(DEPLOYMENTS), &incidents, &long);
    assert_eq!(charged[1].caused_by, None);
}

#[test]
fn recovery_and_rework_stop_at_90_days() {
    let d = deployments(DEPLOYMENTS);
    // w1 failed on 2 Jan; web's next success is 91 days later: unrecovered.
    let failures = failed_deployment_recoveries(&d);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, "w1");
    assert_eq!(failures[0].2, None);
    let q1 = spec("2024-01-01", "2024-03-31", Granularity::Month, "UTC");
    let r = failed_deployment_recovery_time(&d, &[], &q1);
    assert_eq!(
        (r.failed_deployments, r.recovered, r.unrecovered),
        (1, 0, 1)
    );

    // i1 (charged to a1) is fixed by a2, 89 d 23 h after it opened; i2 (charged to a2) would be
    // fixed by a3, but that comes 90 d 23 h after it opened.
    let open = incidents(
        "
i1  2024-01-01 11:00  2024-05-01 10:00  a1
i2  2024-04-01 11:00  2024-08-01 10:00  a2
",
    );
    let charged = attribute_incidents(&d, &open, &AttributionRule::default());
    let rework = rework_deployments(&d, &charged);
    assert_eq!(rework.into_iter().collect::<Vec<_>>(), ["a2"]);
}
