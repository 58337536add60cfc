//! Properties of the DORA helpers and metrics on arbitrary histories.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use pulse_metrics::dora::*;
use pulse_metrics::time::{BucketSpec, Granularity};

/// Minutes after 2024-03-01 00:00 UTC, within about 40 days.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0)
        .single()
        .expect("valid")
        + chrono::Duration::minutes(minutes)
}

const REPOS: [&str; 3] = ["api", "web", "db"];

prop_compose! {
    fn deployment()(
        id in 0..12u8,
        repos in prop::sample::subsequence(REPOS.to_vec(), 1..=3),
        prod in any::<bool>(),
        ok in prop::bool::weighted(0.8),
        start in 0..57_600i64,
        len in 0..120i64,
    ) -> Deployment {
        Deployment {
            id: format!("d{id}"),
            repos: repos.into_iter().map(String::from).collect(),
            environment: "production".into(),
            is_production: prod,
            status: if ok { DeploymentStatus::Success } else { DeploymentStatus::Failure },
            started_at: at(start),
            finished_at: Some(at(start + len)),
            source: DeploymentSource::WorkflowRun,
        }
    }
}

prop_compose! {
    fn change()(id in 0..1000u32, repo in prop::sample::select(REPOS.to_vec()), first in 0..57_600i64, merged in prop::option::of(0..57_600i64)) -> Change {
        Change { id: format!("c{id}"), repo: repo.into(), first_commit_at: at(first), merged_at: merged.map(at), deployed_by: None }
    }
}

prop_compose! {
    fn incident()(id in 0..1000u32, created in 0..57_600i64, len in prop::option::of(0..3_000i64)) -> Incident {
        Incident { id: format!("i{id}"), created_at: at(created), resolved_at: len.map(|l| at(created + l)), caused_by: None, explicit_deployment: None }
    }
}

fn march() -> BucketSpec {
    let d = |day| NaiveDate::from_ymd_opt(2024, 3, day).expect("date");
    BucketSpec::new(d(1), d(31), Granularity::Week, chrono_tz::Tz::UTC).expect("spec")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn helpers_and_rates_are_consistent(
        deployments in prop::collection::vec(deployment(), 0..12),
        changes in prop::collection::vec(change(), 0..15),
        incidents in prop::collection::vec(incident(), 0..6),
    ) {
        let normalized = normalize_deployments(&deployments);
        let linked = link_changes_to_deployments(&deployments, &changes);
        for c in &linked {
            if let Some(id) = &c.deployed_by {
                let d = normalized.iter().find(|d| &d.id == id).expect("known");
                prop_assert!(d.is_successful_production() && d.touches(&c.repo));
                prop_assert!(d.finished_at >= c.merged_at);
            }
        }
        let attributed = attribute_incidents(&deployments, &incidents, &AttributionRule::default());
        for i in &attributed {
            if let Some(id) = &i.caused_by {
                let d = normalized.iter().find(|d| &d.id == id).expect("known");
                prop_assert!(d.finished_at.expect("finished") < i.created_at);
            }
        }
        let report = dora_report(&DoraInput { deployments, changes, incidents }, &march(), &AttributionRule::default());
        for rate in [report.change_failure_rate.rate, report.rework_rate.rate].into_iter().flatten() {
            prop_assert!((0.0..=1.0).contains(&rate), "rate {rate}");
        }
        prop_assert_eq!(report.change_failure_rate.rate.is_none(), report.deployment_frequency.deployments == 0);
        prop_assert!(report.change_failure_rate.failed_deployments <= report.deployment_frequency.deployments);
        let total: u64 = report.deployment_frequency.series.iter().map(|p| p.value.deployments).sum();
        prop_assert_eq!(total as usize, report.deployment_frequency.deployments);
        if let Some(d) = report.lead_time.distribution {
            prop_assert!(d.min >= 0.0 && d.median <= d.p75 && d.p75 <= d.p90 && d.p90 <= d.max);
        }
    }
}
