//! The filters every metric takes, their validation and their translation to storage scopes.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use pulse_core::{Error, Result};
use pulse_db::entity::{projects, repositories, teams};
use pulse_db::repo::{ingested, scope::Scope};
use pulse_db::TenantTx;
use pulse_metrics::time::{self, BucketSpec};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Benchmark report years with published tiers.
pub const BENCHMARK_YEARS: [u16; 3] = [2021, 2023, 2024];
/// Benchmark year used when none is given.
pub const DEFAULT_YEAR: u16 = 2024;
/// Longest range a metric may cover, in days.
pub const MAX_RANGE_DAYS: i64 = 3 * 366;
/// Default range length (days) when `from` is not given.
pub const DEFAULT_RANGE_DAYS: i64 = 30;
/// How far before the range changes and incidents are loaded, so that a change merged shortly
/// before the range still finds its deployment and an incident its cause: the formulas' context
/// bound ([`pulse_metrics::dora::CONTEXT_DAYS`]).
pub const LOOKBACK_DAYS: i64 = pulse_metrics::dora::CONTEXT_DAYS;
/// How far before the range deployments are loaded: an incident created up to the context bound
/// before a deployment of the range (the deployment may be its fix) is charged to a deployment
/// up to the bound before it.
pub const DEPLOYMENT_LOOKBACK_DAYS: i64 = 2 * pulse_metrics::dora::CONTEXT_DAYS;
/// How far after the range deployments and incidents are loaded, so that a change merged in the
/// range but deployed after it is not reported as never deployed, and a deployment of the range
/// is charged with the incidents that follow it.
pub const LOOKAHEAD_DAYS: i64 = pulse_metrics::dora::CONTEXT_DAYS;

/// Bucket size of the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One local calendar day.
    Day,
    /// One ISO week (Monday to Sunday).
    #[default]
    Week,
    /// One calendar month.
    Month,
}

impl From<Granularity> for time::Granularity {
    fn from(g: Granularity) -> Self {
        match g {
            Granularity::Day => time::Granularity::Day,
            Granularity::Week => time::Granularity::Week,
            Granularity::Month => time::Granularity::Month,
        }
    }
}

/// The filters as the caller gave them (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsParams {
    /// First local date (inclusive); default: 29 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last local date (inclusive); default: today in `tz`.
    pub to: Option<NaiveDate>,
    /// Only this team and its sub-teams.
    pub team: Option<Uuid>,
    /// Only this project.
    pub project: Option<Uuid>,
    /// Only this repository.
    pub repository: Option<Uuid>,
    /// Bucket size (default week).
    pub granularity: Option<Granularity>,
    /// IANA time zone (default UTC).
    pub tz: Option<String>,
    /// DORA benchmark report year (default 2024).
    pub year: Option<u16>,
}

/// Validated filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Filters {
    /// First local date (inclusive).
    pub from: NaiveDate,
    /// Last local date (inclusive).
    pub to: NaiveDate,
    /// Only this team and its sub-teams.
    pub team: Option<Uuid>,
    /// Only this project.
    pub project: Option<Uuid>,
    /// Only this repository.
    pub repository: Option<Uuid>,
    /// Bucket size.
    pub granularity: Granularity,
    /// Time zone of the calendar.
    pub tz: Tz,
    /// DORA benchmark report year.
    pub year: u16,
}

/// The filters a report was computed with (echoed in every answer).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AppliedFilters {
    /// First local date (inclusive).
    pub from: NaiveDate,
    /// Last local date (inclusive).
    pub to: NaiveDate,
    /// Team (with its sub-teams).
    pub team: Option<Uuid>,
    /// Project.
    pub project: Option<Uuid>,
    /// Repository.
    pub repository: Option<Uuid>,
    /// Bucket size.
    pub granularity: Granularity,
    /// IANA time zone.
    pub tz: String,
    /// DORA benchmark report year.
    pub year: u16,
}

/// Parses an IANA time zone, answering a validation error naming `field`.
pub fn parse_tz(field: &str, name: Option<&str>) -> Result<Tz> {
    match name {
        None => Ok(Tz::UTC),
        Some(n) => time::parse_tz(n).map_err(|_| Error::invalid(field, "unknown IANA time zone")),
    }
}

/// Answers 404 unless each given team, project and repository is a row of the transaction's
/// client.
pub async fn check_ids(
    tx: &TenantTx,
    team: Option<Uuid>,
    project: Option<Uuid>,
    repository: Option<Uuid>,
) -> Result<()> {
    if let Some(t) = team {
        ingested::get::<teams::Entity>(tx, t).await?;
    }
    if let Some(p) = project {
        ingested::get::<projects::Entity>(tx, p).await?;
    }
    if let Some(r) = repository {
        ingested::get::<repositories::Entity>(tx, r).await?;
    }
    Ok(())
}

impl Filters {
    /// Validates the caller's filters; `now` decides the default range.
    pub fn parse(p: MetricsParams, now: DateTime<Utc>) -> Result<Self> {
        let tz = parse_tz("tz", p.tz.as_deref())?;
        let to = p.to.unwrap_or_else(|| now.with_timezone(&tz).date_naive());
        let from = p
            .from
            .unwrap_or(to - Duration::days(DEFAULT_RANGE_DAYS - 1));
        if to < from {
            return Err(Error::invalid("to", "must not be before from"));
        }
        if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
            return Err(Error::invalid(
                "from",
                format!("the range may cover at most {MAX_RANGE_DAYS} days"),
            ));
        }
        let year = p.year.unwrap_or(DEFAULT_YEAR);
        if !BENCHMARK_YEARS.contains(&year) {
            return Err(Error::invalid("year", "must be 2021, 2023 or 2024"));
        }
        Ok(Self {
            from,
            to,
            team: p.team,
            project: p.project,
            repository: p.repository,
            granularity: p.granularity.unwrap_or_default(),
            tz,
            year,
        })
    }

    /// Answers 404 when a team, project or repository filter names nothing of this client (an
    /// id of another client included).
    pub async fn check_scope(&self, tx: &TenantTx) -> Result<()> {
        check_ids(tx, self.team, self.project, self.repository).await
    }

    /// The bucket spec of the range.
    pub fn spec(&self) -> BucketSpec {
        BucketSpec {
            start: self.from,
            end: self.to,
            granularity: self.granularity.into(),
            tz: self.tz,
        }
    }

    /// The period of equal length just before this one (same scope).
    pub fn previous(&self) -> Self {
        let days = (self.to - self.from).num_days() + 1;
        Self {
            from: self.from - Duration::days(days),
            to: self.from - Duration::days(1),
            ..self.clone()
        }
    }

    /// The same range and calendar for the whole client (no team, project or repository).
    pub fn unscoped(&self) -> Self {
        Self {
            team: None,
            project: None,
            repository: None,
            ..self.clone()
        }
    }

    /// The storage scope covering the range widened by `before` and `after` days.
    pub fn scope(&self, before: i64, after: i64) -> Scope {
        let spec = self.spec();
        Scope {
            from: Some(spec.range_start() - Duration::days(before)),
            to: Some(spec.range_end() + Duration::days(after)),
            repository: self.repository,
            team: self.team,
            project: self.project,
        }
    }

    /// What the answer echoes.
    pub fn applied(&self) -> AppliedFilters {
        AppliedFilters {
            from: self.from,
            to: self.to,
            team: self.team,
            project: self.project,
            repository: self.repository,
            granularity: self.granularity,
            tz: self.tz.name().to_string(),
            year: self.year,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2024-03-20T23:30:00Z".parse().unwrap()
    }

    #[test]
    fn defaults_are_the_last_thirty_local_days() {
        let f = Filters::parse(
            MetricsParams {
                tz: Some("Europe/Berlin".into()),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
        // 23:30 UTC is already the 21st in Berlin.
        assert_eq!(f.to, d("2024-03-21"));
        assert_eq!(f.from, d("2024-02-21"));
        assert_eq!(f.granularity, Granularity::Week);
        assert_eq!(f.year, 2024);
    }

    #[test]
    fn bad_filters_are_refused() {
        let bad = [
            MetricsParams {
                from: Some(d("2024-03-10")),
                to: Some(d("2024-03-01")),
                ..Default::default()
            },
            MetricsParams {
                tz: Some("Mars/Olympus".into()),
                ..Default::default()
            },
            MetricsParams {
                year: Some(2022),
                ..Default::default()
            },
            MetricsParams {
                from: Some(d("2010-01-01")),
                to: Some(d("2024-01-01")),
                ..Default::default()
            },
        ];
        for p in bad {
            assert!(
                matches!(Filters::parse(p.clone(), now()), Err(Error::Validation(_))),
                "{p:?}"
            );
        }
    }

    #[test]
    fn previous_period_has_equal_length() {
        let f = Filters::parse(
            MetricsParams {
                from: Some(d("2024-03-04")),
                to: Some(d("2024-03-17")),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
        let p = f.previous();
        assert_eq!((p.from, p.to), (d("2024-02-19"), d("2024-03-03")));
        let scope = f.scope(0, 0);
        assert_eq!(scope.from, Some("2024-03-04T00:00:00Z".parse().unwrap()));
        assert_eq!(scope.to, Some("2024-03-18T00:00:00Z".parse().unwrap()));
    }
}
