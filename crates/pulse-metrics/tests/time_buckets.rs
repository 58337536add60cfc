//! Time-zone aware bucketing.

mod common;

use common::*;
use pulse_metrics::time::{local_midnight, BucketSpec, Granularity};

#[test]
fn week_boundary_depends_on_the_local_zone() {
    // (zone, event instant in UTC, local time of the event, expected ISO week (Monday))
    const CASES: &[(&str, &str, &str, &str)] = &[
        // Berlin is UTC+1 in early March.
        (
            "Europe/Berlin",
            "2024-03-10 22:30",
            "Sun 23:30",
            "2024-03-04",
        ),
        (
            "Europe/Berlin",
            "2024-03-10 23:30",
            "Mon 00:30",
            "2024-03-11",
        ), // still Sunday in UTC!
        // New York switched to UTC-4 at 2024-03-10 02:00 local.
        (
            "America/New_York",
            "2024-03-11 03:30",
            "Sun 23:30",
            "2024-03-04",
        ), // Monday in UTC!
        (
            "America/New_York",
            "2024-03-11 04:30",
            "Mon 00:30",
            "2024-03-11",
        ),
        // In UTC both Berlin instants are on Sunday.
        ("UTC", "2024-03-10 22:30", "Sun 22:30", "2024-03-04"),
        ("UTC", "2024-03-10 23:30", "Sun 23:30", "2024-03-04"),
    ];
    for (zone, instant, local, week) in CASES {
        let s = spec("2024-03-04", "2024-03-17", Granularity::Week, zone);
        let i = s.bucket_index(ts(instant)).expect("in range");
        assert_eq!(
            s.buckets()[i].period_start,
            date(week),
            "{zone} {instant} ({local})"
        );
    }
}

#[test]
fn counts_are_continuous_with_empty_buckets() {
    // Berlin, daily, 2024-03-09 (Sat) .. 2024-03-12 (Tue): four buckets.
    let s = spec(
        "2024-03-09",
        "2024-03-12",
        Granularity::Day,
        "Europe/Berlin",
    );
    let events = [
        ts("2024-03-08 23:30"), // 03-09 00:30 local -> Saturday
        ts("2024-03-10 22:30"), // 03-10 23:30 local -> Sunday
        ts("2024-03-10 23:30"), // 03-11 00:30 local -> Monday
        ts("2024-03-12 23:30"), // 03-13 00:30 local -> after the range
        ts("2024-03-08 22:59"), // 03-08 23:59 local -> before the range
    ];
    let counts: Vec<(String, u64)> = s
        .count_series(events)
        .into_iter()
        .map(|p| (p.period_start.to_string(), p.value))
        .collect();
    let expected = [
        ("2024-03-09", 1),
        ("2024-03-10", 1),
        ("2024-03-11", 1),
        ("2024-03-12", 0),
    ];
    assert_eq!(counts, expected.map(|(d, c)| (d.to_string(), c)).to_vec());
}

#[test]
fn dst_week_is_167_hours_and_ranges_are_clipped() {
    let s = spec(
        "2024-03-06",
        "2024-03-31",
        Granularity::Week,
        "America/New_York",
    );
    let buckets = s.buckets();
    // Wed 03-06 .. Sun 03-10 (clipped to the range), then three full weeks:
    // [03-11..03-17], [03-18..03-24], [03-25..03-31].
    let spans: Vec<(String, String, i64)> = buckets
        .iter()
        .map(|b| {
            (
                b.period_start.to_string(),
                b.first_day.to_string(),
                (b.end - b.start).num_hours(),
            )
        })
        .collect();
    assert_eq!(
        spans,
        vec![
            ("2024-03-04".into(), "2024-03-06".into(), 5 * 24 - 1), // the DST week loses an hour
            ("2024-03-11".into(), "2024-03-11".into(), 7 * 24),
            ("2024-03-18".into(), "2024-03-18".into(), 7 * 24),
            ("2024-03-25".into(), "2024-03-25".into(), 7 * 24),
        ]
    );
    assert_eq!(buckets[0].days(), 5);
    assert_eq!(s.range_start(), ts("2024-03-06 05:00")); // midnight EST = 05:00 UTC
    assert_eq!(s.range_end(), ts("2024-04-01 04:00")); // midnight EDT = 04:00 UTC
}

#[test]
fn monthly_buckets_and_midnight_dst_gap() {
    let s = spec("2024-01-15", "2024-04-10", Granularity::Month, "UTC");
    let labels: Vec<String> = s
        .buckets()
        .iter()
        .map(|b| b.period_start.to_string())
        .collect();
    assert_eq!(
        labels,
        ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
    );
    // Sao Paulo skipped 2018-11-04 00:00..01:00 local: the day starts at 01:00 (-02:00).
    let tz = pulse_metrics::time::parse_tz("America/Sao_Paulo").expect("zone");
    assert_eq!(
        local_midnight(date("2018-11-04"), tz),
        ts("2018-11-04 03:00")
    );
}

#[test]
fn empty_spec_has_no_buckets() {
    let s = BucketSpec {
        start: date("2024-03-05"),
        end: date("2024-03-04"),
        granularity: Granularity::Day,
        tz: chrono_tz::Tz::UTC,
    };
    assert!(s.buckets().is_empty());
    assert_eq!(s.days(), 0);
    assert!(!s.contains(ts("2024-03-04 12:00")));
}
