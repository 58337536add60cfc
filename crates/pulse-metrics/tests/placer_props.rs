//! The placer answers exactly as the spec does, in every zone, including those whose clocks were
//! set back across midnight (Brazil's DST ended at 00:00 -> 23:00) or that skipped a whole day
//! (Samoa, 2011-12-30).

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use pulse_metrics::time::{BucketSpec, Granularity, Placer};

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "America/Havana",
    "America/Santiago",
    "Pacific/Apia",
    "Pacific/Chatham",
    "Africa/Casablanca",
    "Asia/Tehran",
];

const GRANULARITIES: [Granularity; 4] = [
    Granularity::Day,
    Granularity::Week,
    Granularity::Month,
    Granularity::HalfYear,
];

fn spec(zone: usize, start: i64, days: i64, granularity: usize) -> BucketSpec {
    let base = NaiveDate::from_ymd_opt(2011, 1, 1).expect("valid");
    let start = base + Duration::days(start);
    BucketSpec::with_zone_name(
        start,
        start + Duration::days(days),
        GRANULARITIES[granularity],
        ZONES[zone],
    )
    .expect("valid spec")
}

fn agrees(spec: &BucketSpec, placer: &Placer, at: i64) -> Result<(), TestCaseError> {
    let instant = Utc.timestamp_opt(at, 0).single().expect("valid");
    prop_assert_eq!(
        placer.contains(at),
        spec.contains(instant),
        "{:?} at {}",
        spec,
        instant
    );
    prop_assert_eq!(
        placer.bucket(at),
        spec.bucket_index(instant),
        "{:?} at {}",
        spec,
        instant
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn placer_agrees_with_the_spec(
        zone in 0..ZONES.len(),
        start in 0..3650i64,
        days in 0..400i64,
        granularity in 0..4usize,
        offsets in prop::collection::vec(-200_000..200_000i64, 1..40),
        fractions in prop::collection::vec(0.0..1.0f64, 1..40),
    ) {
        let spec = spec(zone, start, days, granularity);
        let placer = Placer::new(&spec);
        let (first, last) = (spec.range_start().timestamp(), spec.range_end().timestamp());
        // Around every bucket edge, and anywhere in the range.
        let mut edges: Vec<i64> = spec.buckets().iter().map(|b| b.start.timestamp()).collect();
        edges.push(last);
        for &edge in &edges {
            for delta in [-3601, -1, 0, 1, 3600] {
                agrees(&spec, &placer, edge + delta)?;
            }
        }
        for (i, offset) in offsets.iter().enumerate() {
            agrees(&spec, &placer, edges[i % edges.len()] + offset)?;
        }
        for f in fractions {
            agrees(&spec, &placer, first + ((last - first) as f64 * f) as i64)?;
        }
    }
}

#[test]
fn compares_seconds_except_where_local_dates_go_back() {
    let spec = |from: &str, to: &str, granularity: Granularity, zone: &str| {
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        BucketSpec::with_zone_name(d(from), d(to), granularity, zone).unwrap()
    };
    let berlin = spec(
        "2024-01-01",
        "2024-12-31",
        Granularity::Day,
        "Europe/Berlin",
    );
    assert!(Placer::new(&berlin).compares_seconds());
    // 2018-02-18 00:00 in Sao Paulo became 2018-02-17 23:00: the 18th's midnight is an edge.
    let brazil = spec(
        "2018-02-01",
        "2018-02-28",
        Granularity::Day,
        "America/Sao_Paulo",
    );
    assert!(!Placer::new(&brazil).compares_seconds());
    // The same change inside one weekly bucket is no edge.
    let week = spec(
        "2018-02-12",
        "2018-02-25",
        Granularity::Week,
        "America/Sao_Paulo",
    );
    assert!(Placer::new(&week).compares_seconds());
    // Samoa had no 2011-12-30.
    let apia = spec("2011-12-28", "2012-01-03", Granularity::Day, "Pacific/Apia");
    assert!(!Placer::new(&apia).compares_seconds());
}

/// Deployment frequency as defined: each deployment's local date, grouped by the spec.
fn reference_frequency(
    times: &[chrono::DateTime<Utc>],
    spec: &BucketSpec,
) -> (usize, usize, Vec<(u64, u64)>) {
    use std::collections::BTreeSet;
    let inside: Vec<_> = times
        .iter()
        .copied()
        .filter(|&t| spec.contains(t))
        .collect();
    let days: BTreeSet<NaiveDate> = inside.iter().map(|&t| spec.local_date(t)).collect();
    let series = spec
        .series(inside.iter().map(|&t| (t, spec.local_date(t))), |dates| {
            let distinct: BTreeSet<&NaiveDate> = dates.iter().collect();
            (dates.len() as u64, distinct.len() as u64)
        })
        .into_iter()
        .map(|p| p.value)
        .collect();
    (inside.len(), days.len(), series)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn deployment_frequency_counts_local_days(
        zone in 0..ZONES.len(),
        start in 0..3650i64,
        days in 0..120i64,
        granularity in 0..4usize,
        hours in prop::collection::vec(-48..3000i64, 0..60),
    ) {
        use pulse_metrics::dora::{deployment_frequency, Deployment, DeploymentSource, DeploymentStatus};
        let spec = spec(zone, start, days, granularity);
        let times: Vec<_> = hours
            .iter()
            .map(|h| spec.range_start() + Duration::minutes(h * 47))
            .collect();
        let deployments: Vec<Deployment> = times
            .iter()
            .enumerate()
            .map(|(i, &t)| Deployment {
                id: format!("d{i}"),
                repos: vec!["api".into()],
                environment: "production".into(),
                is_production: true,
                status: DeploymentStatus::Success,
                started_at: t,
                finished_at: Some(t),
                source: DeploymentSource::Manual,
            })
            .collect();
        let f = deployment_frequency(&deployments, &spec);
        let (n, distinct, series) = reference_frequency(&times, &spec);
        prop_assert_eq!(f.deployments, n);
        prop_assert_eq!(f.deployment_days, distinct);
        let got: Vec<(u64, u64)> = f.series.iter().map(|p| (p.value.deployments, p.value.deployment_days)).collect();
        prop_assert_eq!(got, series);
    }
}
