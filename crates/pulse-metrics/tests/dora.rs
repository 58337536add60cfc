//! DORA metrics on hand-computed scenarios. The main scenario is the worked
//! example of docs/METRICS.md.

mod common;

use common::*;
use pulse_metrics::benchmarks::{classify_dora, Tier};
use pulse_metrics::dora::*;
use pulse_metrics::time::Granularity;
use std::time::Duration;

/// Two weeks, Monday 2024-03-04 to Sunday 2024-03-17, UTC.
const DEPLOYMENTS: &str = "
# id  repos    prod status   started           finished
d1    api      yes  success  2024-03-04 09:00  2024-03-04 10:00  # first deployment of api
d2    api,web  yes  success  2024-03-06 14:00  2024-03-06 15:00  # spans two repos: counted once
d3    api      yes  failure  2024-03-07 11:00  2024-03-07 11:30  # failed deployment
d4    api      yes  success  2024-03-07 12:00  2024-03-07 13:00  # fixes d3 and incident i1
d5    web      no   success  2024-03-08 09:00  2024-03-08 09:10  # staging: never counted
d6    web      yes  success  2024-03-12 16:00  2024-03-12 17:00
d7    api      yes  success  2024-03-14 09:00  2024-03-14 10:00
";

const CHANGES: &str = "
# id    repo first_commit      merged            deployed_by
api#1   api  2024-03-01 10:00  2024-03-04 08:00  -   # before the first deployment: credited to d1
api#2   api  2024-03-05 09:00  2024-03-06 12:00  -
web#1   web  2024-03-06 10:00  2024-03-06 14:30  -   # shipped by the multi-repo d2
api#3   api  2024-03-06 13:00  2024-03-07 11:15  -   # squash-merged: linked by the squash commit time; d3 failed
web#2   web  2024-03-12 17:30  2024-03-12 16:55  -   # first commit after the deployment (clock skew): negative
api#5   api  2024-03-13 10:00  2024-03-14 09:30  -
api#4   api  2024-03-15 09:00  2024-03-15 11:00  -   # merged, never deployed
";

const INCIDENTS: &str = "
# id  created           resolved          explicit
i1    2024-03-06 16:00  2024-03-07 13:30  -    # inferred: latest deployment before = d2
i2    2024-03-13 08:00  2024-03-13 09:00  d6   # explicit link
";

fn input() -> DoraInput {
    DoraInput {
        deployments: deployments(DEPLOYMENTS),
        changes: changes(CHANGES),
        incidents: incidents(INCIDENTS),
    }
}

fn two_weeks() -> pulse_metrics::time::BucketSpec {
    spec("2024-03-04", "2024-03-17", Granularity::Week, "UTC")
}

#[test]
fn linking_table() {
    // (change, expected deployment): the earliest successful production
    // deployment of the change's repo finishing at or after its merge.
    const CASES: &[(&str, Option<&str>)] = &[
        ("api#1", Some("d1")), // merged 03-04 08:00, d1 finished 10:00: first deployment IS credited
        ("api#2", Some("d2")), // merged 03-06 12:00, d2 (api,web) finished 15:00
        ("web#1", Some("d2")), // web is part of d2
        ("api#3", Some("d4")), // merged 11:15; d3 (11:30) failed, so d4 (13:00)
        ("web#2", Some("d6")), // merged 03-12 16:55, d6 finished 17:00 (d5 is staging)
        ("api#5", Some("d7")),
        ("api#4", None), // no api deployment after 03-15 11:00
    ];
    let linked = link_changes_to_deployments(&deployments(DEPLOYMENTS), &changes(CHANGES));
    for (id, expected) in CASES {
        let change = linked.iter().find(|c| c.id == *id).expect("change");
        assert_eq!(change.deployed_by.as_deref(), *expected, "{id}");
    }
}

#[test]
fn existing_links_are_kept() {
    let mut cs = changes(CHANGES);
    cs[0].deployed_by = Some("d2".into());
    let linked = link_changes_to_deployments(&deployments(DEPLOYMENTS), &cs);
    assert_eq!(linked[0].deployed_by.as_deref(), Some("d2"));
}

#[test]
fn worked_example_deployment_frequency() {
    let r = dora_report(&input(), &two_weeks(), &AttributionRule::default());
    let f = &r.deployment_frequency;
    // d1, d2, d4 in week 1; d6, d7 in week 2; d3 failed, d5 staging.
    assert_eq!(f.deployments, 5);
    // distinct days: 03-04, 03-06, 03-07, 03-12, 03-14
    assert_eq!(f.deployment_days, 5);
    assert_eq!(f.days_in_range, 14);
    approx(f.per_day, 5.0 / 14.0, "per day");
    approx(f.per_week, 2.5, "per week = 5 / 14 * 7");
    let weekly: Vec<(u64, u64)> = f
        .series
        .iter()
        .map(|p| (p.value.deployments, p.value.deployment_days))
        .collect();
    assert_eq!(weekly, vec![(3, 3), (2, 2)]);
    // median of deployment-days per week: (3 + 2) / 2
    approx(f.median_deployment_days.per_week, 2.5, "median days/week");
    // one (clipped) March bucket with 5 deployment days
    approx(f.median_deployment_days.per_month, 5.0, "median days/month");
}

#[test]
fn worked_example_lead_time() {
    let r = dora_report(&input(), &two_weeks(), &AttributionRule::default());
    let lt = &r.lead_time;
    // api#1 72h (03-01 10:00 -> d1 03-04 10:00), api#2 30h, web#1 5h,
    // api#3 24h (03-06 13:00 -> d4 03-07 13:00), web#2 -0.5h clamped to 0, api#5 24h
    // sorted: 0, 5, 24, 24, 30, 72
    assert_eq!(lt.changes, 6);
    assert_eq!(lt.negative_spans_clamped, 1);
    assert_eq!(lt.merged_not_deployed, 1);
    assert_eq!(lt.merged_not_deployed_ids, vec!["api#4".to_string()]);
    let d = lt.distribution.expect("lead times");
    approx(d.median, 24.0 * HOUR, "median: (24 + 24) / 2");
    approx(
        d.p75,
        28.5 * HOUR,
        "p75: rank 3.75 -> 24 + 0.75 * (30 - 24)",
    );
    approx(d.p90, 51.0 * HOUR, "p90: rank 4.5 -> 30 + 0.5 * (72 - 30)");
    approx(d.mean, 155.0 / 6.0 * HOUR, "mean");
    approx(d.min, 0.0, "min (clamped)");
    // week 1: 72, 30, 5, 24 -> median 27; week 2: 0, 24 -> median 12
    let weekly: Vec<Option<f64>> = lt.median_series.iter().map(|p| p.value).collect();
    assert_eq!(weekly, vec![Some(27.0 * HOUR), Some(12.0 * HOUR)]);
}

#[test]
fn worked_example_failures_recovery_rework() {
    let r = dora_report(&input(), &two_weeks(), &AttributionRule::default());
    // d2 (i1, inferred) and d6 (i2, explicit) failed: 2 / 5
    let cfr = &r.change_failure_rate;
    assert_eq!((cfr.deployments, cfr.failed_deployments), (5, 2));
    assert_eq!(cfr.rate, Some(0.4));
    assert_eq!(
        cfr.failed_deployment_ids,
        vec!["d2".to_string(), "d6".to_string()]
    );
    // Recovery: d3 failed 03-07 11:30 -> d4 13:00 = 1.5h;
    // d2 finished 03-06 15:00 -> i1 resolved 03-07 13:30 = 22.5h;
    // d6 finished 03-12 17:00 -> i2 resolved 03-13 09:00 = 16h. Median 16h.
    let rec = &r.recovery_time;
    assert_eq!(
        (
            rec.failures,
            rec.failed_deployments,
            rec.incident_causing_deployments
        ),
        (3, 1, 2)
    );
    assert_eq!((rec.recovered, rec.unrecovered), (3, 0));
    let d = rec.distribution.expect("recovery");
    approx(d.median, 16.0 * HOUR, "recovery median");
    approx(d.min, 1.5 * HOUR, "recovery min");
    approx(d.max, 22.5 * HOUR, "recovery max");
    // Time to restore: i1 21.5h, i2 1h -> median 11.25h
    approx(
        r.time_to_restore.distribution.expect("ttr").median,
        11.25 * HOUR,
        "ttr median",
    );
    // Rework: i1 (charged to d2: api, web) open 03-06 16:00..03-07 13:30; first api
    // deployment after creation is d4 (13:00, before resolution) -> rework. The next web
    // deployment d6 is after resolution. i2 (d6: web): no web deployment 08:00..09:00.
    assert_eq!(r.rework_rate.rework_deployment_ids, vec!["d4".to_string()]);
    assert_eq!(r.rework_rate.rate, Some(0.2));
}

#[test]
fn worked_example_benchmarks() {
    let r = dora_report(&input(), &two_weeks(), &AttributionRule::default());
    // (year, frequency, lead time, change failure rate, recovery)
    const CASES: &[(u16, Tier, Tier, Tier, Tier)] = &[
        // 2.5 days/week < 5 but month median 5 >= 1: high; 24h < 7d: high;
        // 40% > 30%: low; time to restore median 11.25h < 1 day: high
        (2021, Tier::High, Tier::High, Tier::Low, Tier::High),
        // 2.5 days/week >= 1: high; 24h is not < 1 day: high; 40% > 15%: low; 16h: high
        (2023, Tier::High, Tier::High, Tier::Low, Tier::High),
        // same, and 40% is not < 40%: low
        (2024, Tier::High, Tier::High, Tier::Low, Tier::High),
    ];
    for &(year, df, lt, cfr, rec) in CASES {
        let t = classify_dora(&r, year).expect("known year");
        assert_eq!(t.deployment_frequency, Some(df), "{year} df");
        assert_eq!(t.lead_time, Some(lt), "{year} lead time");
        assert_eq!(t.change_failure_rate, Some(cfr), "{year} cfr");
        assert_eq!(t.recovery_time, Some(rec), "{year} recovery");
        assert_eq!(t.rework_rate, None, "{year}: no rework benchmark");
    }
    assert!(classify_dora(&r, 2019).is_none());
}

#[test]
fn attribution_table() {
    // (window in minutes, incident, expected deployment)
    const CASES: &[(Option<u64>, &str, Option<&str>)] = &[
        (None, "i1", Some("d2")), // latest deployment before 03-06 16:00 is d2 (15:00)
        (None, "i2", Some("d6")), // explicit link wins
        (Some(30), "i1", None),   // d2 finished 60 min before: outside a 30 min window
        (Some(60), "i1", Some("d2")), // exactly 60 min: inside (window is inclusive)
        (Some(1), "i2", Some("d6")), // explicit links ignore the window
    ];
    for &(window, id, expected) in CASES {
        let rule = AttributionRule {
            window: window.map(|m| Duration::from_secs(m * 60)),
        };
        let attributed =
            attribute_incidents(&deployments(DEPLOYMENTS), &incidents(INCIDENTS), &rule);
        let incident = attributed.iter().find(|i| i.id == id).expect("incident");
        assert_eq!(
            incident.caused_by.as_deref(),
            expected,
            "{id} window {window:?}"
        );
    }
}

#[test]
fn no_deployments_at_all() {
    let input = DoraInput {
        deployments: vec![],
        changes: changes("pr1 api 2024-03-04 09:00 2024-03-05 09:00 -"),
        incidents: incidents("i1 2024-03-06 10:00 2024-03-06 12:00 -"),
    };
    let r = dora_report(&input, &two_weeks(), &AttributionRule::default());
    // Counts are zero, the weekly series is still continuous (two zero buckets).
    assert_eq!(r.deployment_frequency.deployments, 0);
    assert_eq!(r.deployment_frequency.series.len(), 2);
    assert!(r
        .deployment_frequency
        .series
        .iter()
        .all(|p| p.value.deployments == 0));
    assert_eq!(r.deployment_frequency.per_day, 0.0);
    // Rates are None, never NaN.
    assert_eq!(r.change_failure_rate.rate, None);
    assert_eq!(r.rework_rate.rate, None);
    assert_eq!(r.lead_time.distribution, None);
    assert_eq!(r.lead_time.merged_not_deployed, 1);
    assert_eq!(r.recovery_time.distribution, None);
    // The incident has no deployment to blame but still has a time to restore (2h).
    assert_eq!(r.change_failure_rate.incidents_unattributed, 1);
    approx(
        r.time_to_restore.distribution.expect("ttr").median,
        2.0 * HOUR,
        "ttr",
    );
    let tiers = classify_dora(&r, 2023).expect("2023");
    assert_eq!(
        (tiers.deployment_frequency, tiers.change_failure_rate),
        (None, None)
    );
}

#[test]
fn incident_before_any_deployment() {
    let deps = deployments("d1 api yes success 2024-03-05 09:00 2024-03-05 10:00");
    // i0 is created before d1 exists: nothing to charge. i1 comes after d1.
    let incs = incidents(
        "
        i0  2024-03-04 08:00  2024-03-04 09:00  -
        i1  2024-03-06 08:00  -                 -   # still open
        ",
    );
    let attributed = attribute_incidents(&deps, &incs, &AttributionRule::default());
    assert_eq!(attributed[0].caused_by, None);
    assert_eq!(attributed[1].caused_by.as_deref(), Some("d1"));
    let cfr = change_failure_rate(&deps, &attributed, &two_weeks());
    assert_eq!(
        (cfr.incidents_attributed, cfr.incidents_unattributed),
        (1, 1)
    );
    assert_eq!(cfr.rate, Some(1.0));
    // d1's incident is still open: a failure, not recovered.
    let rec = failed_deployment_recovery_time(&deps, &attributed, &two_weeks());
    assert_eq!((rec.failures, rec.recovered, rec.unrecovered), (1, 0, 1));
    let ttr = time_to_restore(&attributed, &two_weeks());
    assert_eq!((ttr.incidents, ttr.unresolved), (2, 1));
}

#[test]
fn deployment_spanning_repositories_counted_once() {
    // The same deployment reported once per repository (two records with id m1)
    // and once as a single record with two repos (m2): each counts once.
    let deps = deployments(
        "
        m1  api      yes success 2024-03-05 09:00 2024-03-05 09:40
        m1  web      yes success 2024-03-05 09:00 2024-03-05 10:00  # latest finish wins
        m2  api,web  yes success 2024-03-06 09:00 2024-03-06 10:00
        ",
    );
    let merged = normalize_deployments(&deps);
    assert_eq!(merged.len(), 2);
    assert_eq!(merged[0].repos, vec!["api".to_string(), "web".to_string()]);
    assert_eq!(merged[0].finished_at, Some(ts("2024-03-05 10:00")));
    let f = deployment_frequency(&deps, &two_weeks());
    assert_eq!((f.deployments, f.deployment_days), (2, 2));
    // A change in either repo links to the multi-repo deployment.
    let linked = link_changes_to_deployments(
        &deps,
        &changes(
            "
            web#9  web  2024-03-05 08:00  2024-03-05 08:30  -   # -> m1 (web part)
            api#9  api  2024-03-05 09:50  2024-03-05 09:55  -   # -> m1: merged finish is 10:00
            ",
        ),
    );
    assert_eq!(linked[0].deployed_by.as_deref(), Some("m1"));
    assert_eq!(linked[1].deployed_by.as_deref(), Some("m1"));
}

#[test]
fn partially_failed_multi_repo_deployment_is_not_successful() {
    let deps = deployments(
        "
        m1  api  yes success 2024-03-05 09:00 2024-03-05 09:40
        m1  web  yes failure 2024-03-05 09:00 2024-03-05 10:00
        ",
    );
    assert_eq!(deployment_frequency(&deps, &two_weeks()).deployments, 0);
}

#[test]
fn rework_with_open_incident_and_deployments_outside_range() {
    let deps = deployments(
        "
        a1  api  yes success 2024-03-05 09:00 2024-03-05 10:00
        a2  api  yes success 2024-03-20 09:00 2024-03-20 10:00  # after the range
        ",
    );
    let incs = incidents("i1 2024-03-06 08:00 - -"); // open: any later deployment is the fix
    let attributed = attribute_incidents(&deps, &incs, &AttributionRule::default());
    // a2 is rework but outside the range: rate over a1 only.
    let rework = deployment_rework_rate(&deps, &attributed, &two_weeks());
    assert_eq!(
        (rework.deployments, rework.rework_deployments, rework.rate),
        (1, 0, Some(0.0))
    );
    let later = spec("2024-03-18", "2024-03-24", Granularity::Week, "UTC");
    let rework = deployment_rework_rate(&deps, &attributed, &later);
    assert_eq!(
        (rework.deployments, rework.rework_deployments, rework.rate),
        (1, 1, Some(1.0))
    );
}

#[test]
fn failed_deployment_never_recovered() {
    let deps = deployments("f1 api yes failure 2024-03-05 09:00 2024-03-05 09:30");
    let rec = failed_deployment_recovery_time(&deps, &[], &two_weeks());
    assert_eq!((rec.failures, rec.recovered, rec.unrecovered), (1, 0, 1));
    assert_eq!(rec.distribution, None);
}

#[test]
fn report_serialises_to_json() {
    let r = dora_report(&input(), &two_weeks(), &AttributionRule::default());
    let json = serde_json::to_value(&r).expect("serialise");
    assert_eq!(json["change_failure_rate"]["rate"], serde_json::json!(0.4));
    let back: DoraReport = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, r);
}
