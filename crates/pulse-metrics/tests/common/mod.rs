//! Helpers shared by the integration tests: readable whitespace-separated
//! tables (one record per line, ` #` starts a comment, `-` means "none") and
//! builders for the crate's input records.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use pulse_metrics::dora::{Change, Deployment, DeploymentSource, DeploymentStatus, Incident};
use pulse_metrics::time::{BucketSpec, Granularity};

/// Parses `"2024-03-04 10:00"` (UTC).
pub fn ts(s: &str) -> DateTime<Utc> {
    let naive =
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap_or_else(|e| panic!("{s}: {e}"));
    Utc.from_utc_datetime(&naive)
}

/// Parses an optional timestamp written as two cells `date time`, or `-`.
pub fn opt_ts(cells: &[&str]) -> Option<DateTime<Utc>> {
    (cells[0] != "-").then(|| ts(&format!("{} {}", cells[0], cells[1])))
}

/// Parses `"2024-03-04"`.
pub fn date(s: &str) -> NaiveDate {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// `-` → None, anything else → Some(owned string).
pub fn opt(s: &str) -> Option<String> {
    (s != "-").then(|| s.to_owned())
}

/// Splits a table into rows of cells, skipping blank lines and comments: a
/// `#` at the start of a line or after whitespace (so ids like `api#1` work).
pub fn rows(table: &str) -> Vec<Vec<&str>> {
    table
        .lines()
        .map(|l| {
            let l = l.trim();
            let end = if l.starts_with('#') {
                0
            } else {
                l.find(" #").unwrap_or(l.len())
            };
            l[..end].trim()
        })
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect()
}

/// A UTC (or other zone) range of local dates.
pub fn spec(start: &str, end: &str, g: Granularity, tz: &str) -> BucketSpec {
    BucketSpec::with_zone_name(date(start), date(end), g, tz).expect("valid spec")
}

/// Deployments table columns:
/// `id repos(comma-separated) prod(yes/no) status started(date time) finished(date time | -)`.
pub fn deployments(table: &str) -> Vec<Deployment> {
    rows(table)
        .into_iter()
        .map(|r| {
            assert!(r.len() >= 7, "deployment row needs 7+ cells: {r:?}");
            Deployment {
                id: r[0].into(),
                repos: r[1].split(',').map(String::from).collect(),
                environment: if r[2] == "yes" {
                    "production".into()
                } else {
                    "staging".into()
                },
                is_production: r[2] == "yes",
                status: match r[3] {
                    "success" => DeploymentStatus::Success,
                    "failure" => DeploymentStatus::Failure,
                    "cancelled" => DeploymentStatus::Cancelled,
                    "running" => DeploymentStatus::InProgress,
                    other => panic!("status {other}"),
                },
                started_at: ts(&format!("{} {}", r[4], r[5])),
                finished_at: opt_ts(&r[6..]),
                source: DeploymentSource::GithubDeployment,
            }
        })
        .collect()
}

/// Changes table columns: `id repo first_commit(date time) merged(date time | -) deployed_by(id | -)`.
pub fn changes(table: &str) -> Vec<Change> {
    rows(table)
        .into_iter()
        .map(|r| {
            let merged = opt_ts(&r[4..]);
            let link = if merged.is_some() { r[6] } else { r[5] };
            Change {
                id: r[0].into(),
                repo: r[1].into(),
                first_commit_at: ts(&format!("{} {}", r[2], r[3])),
                merged_at: merged,
                deployed_by: opt(link),
            }
        })
        .collect()
}

/// Incidents table columns: `id created(date time) resolved(date time | -) explicit(id | -)`.
pub fn incidents(table: &str) -> Vec<Incident> {
    rows(table)
        .into_iter()
        .map(|r| {
            let resolved = opt_ts(&r[3..]);
            let explicit = if resolved.is_some() { r[5] } else { r[4] };
            Incident {
                id: r[0].into(),
                created_at: ts(&format!("{} {}", r[1], r[2])),
                resolved_at: resolved,
                caused_by: None,
                explicit_deployment: opt(explicit),
            }
        })
        .collect()
}

/// Asserts two floats are equal within 1e-9.
pub fn approx(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: expected {expected}, got {actual}"
    );
}

pub const HOUR: f64 = 3600.0;
