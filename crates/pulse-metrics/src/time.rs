//! Date ranges and time-zone aware bucketing.
//!
//! A [`BucketSpec`] is an inclusive range of *local* calendar dates in an IANA
//! time zone plus a [`Granularity`]. The range covers the instants from local
//! midnight at the start of `start` up to (excluding) local midnight at the
//! start of the day after `end`.
//!
//! Buckets are calendar periods in the local zone: days, ISO weeks (Monday to
//! Sunday), months or half-years (January–June, July–December). Every period
//! that overlaps the range produces a bucket, including periods without any
//! event, so series are continuous. The first and last buckets are clipped to
//! the range (a range starting on a Wednesday has a first weekly bucket from
//! Wednesday to Sunday); each bucket is labelled by the first day of its
//! calendar period (`period_start`, e.g. the Monday of the week).
//!
//! Events are assigned to buckets by their local calendar date, so an event at
//! Sunday 23:30 local time belongs to the week that ends that Sunday, while an
//! event at Monday 00:30 local time belongs to the next week, whatever their
//! UTC dates. Daylight-saving transitions are handled by chrono-tz: a local day
//! may last 23 or 25 hours. When local midnight does not exist (a DST gap at
//! midnight), the day starts at the first valid local time after it.

use crate::{MetricsError, Timestamp};
use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The size of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One local calendar day.
    Day,
    /// One ISO week, Monday 00:00 to the next Monday 00:00 local time.
    Week,
    /// One calendar month.
    Month,
    /// One half-year (January–June or July–December); used by the 2021 DORA
    /// deployment-frequency benchmark ("deployment-days per six months").
    HalfYear,
}

impl Granularity {
    /// The first day of the calendar period containing `date`.
    pub fn period_start(self, date: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => date,
            Granularity::Week => {
                date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
            }
            Granularity::Month => first_of_month(date.year(), date.month()),
            Granularity::HalfYear => {
                first_of_month(date.year(), if date.month() <= 6 { 1 } else { 7 })
            }
        }
    }

    /// The first day of the calendar period after the one containing `date`.
    pub fn next_period_start(self, date: NaiveDate) -> NaiveDate {
        let start = self.period_start(date);
        match self {
            Granularity::Day => start + Duration::days(1),
            Granularity::Week => start + Duration::days(7),
            Granularity::Month => add_months(start, 1),
            Granularity::HalfYear => add_months(start, 6),
        }
    }

    /// A sortable ordinal of the period containing `date` (consecutive periods
    /// have consecutive ordinals).
    fn ordinal(self, date: NaiveDate) -> i64 {
        let month_index = i64::from(date.year()) * 12 + i64::from(date.month0());
        match self {
            Granularity::Day => i64::from(date.num_days_from_ce()),
            Granularity::Week => {
                i64::from(self.period_start(date).num_days_from_ce()).div_euclid(7)
            }
            Granularity::Month => month_index,
            Granularity::HalfYear => month_index.div_euclid(6),
        }
    }
}

/// An inclusive range of local dates in a time zone, split into buckets.
///
/// Fields are public so the struct can be (de)serialised; a spec whose `start`
/// is after its `end` is treated as empty (no buckets, contains nothing).
/// Use [`BucketSpec::new`] to get validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BucketSpec {
    /// First local date of the range (inclusive).
    pub start: NaiveDate,
    /// Last local date of the range (inclusive).
    pub end: NaiveDate,
    /// Bucket size.
    pub granularity: Granularity,
    /// IANA time zone used for calendar boundaries, serialised by name
    /// (e.g. `"Europe/Berlin"`).
    #[serde(with = "tz_name")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tz: Tz,
}

/// One bucket of a [`BucketSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bucket {
    /// First day of the calendar period (e.g. the Monday of an ISO week); used
    /// as the bucket's label. May be before the range start for the first bucket.
    pub period_start: NaiveDate,
    /// First local date covered by the bucket (clipped to the range).
    pub first_day: NaiveDate,
    /// Last local date covered by the bucket (clipped to the range).
    pub last_day: NaiveDate,
    /// Instant at which the bucket starts (inclusive).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    /// Instant at which the bucket ends (exclusive).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub end: Timestamp,
}

impl Bucket {
    /// Number of local calendar days covered by the bucket.
    pub fn days(&self) -> i64 {
        (self.last_day - self.first_day).num_days() + 1
    }
}

/// One value of a continuous series, labelled by its bucket's period start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeriesPoint<T> {
    /// First day of the bucket's calendar period.
    pub period_start: NaiveDate,
    /// The value for this bucket.
    pub value: T,
}

impl BucketSpec {
    /// Creates a validated spec. Fails when `start > end`.
    pub fn new(
        start: NaiveDate,
        end: NaiveDate,
        granularity: Granularity,
        tz: Tz,
    ) -> Result<Self, MetricsError> {
        if start > end {
            return Err(MetricsError::InvalidRange { start, end });
        }
        Ok(Self {
            start,
            end,
            granularity,
            tz,
        })
    }

    /// Like [`BucketSpec::new`] but takes the time zone by IANA name.
    pub fn with_zone_name(
        start: NaiveDate,
        end: NaiveDate,
        granularity: Granularity,
        tz_name: &str,
    ) -> Result<Self, MetricsError> {
        Self::new(start, end, granularity, parse_tz(tz_name)?)
    }

    /// The same range and zone with another granularity.
    pub fn with_granularity(&self, granularity: Granularity) -> Self {
        Self {
            granularity,
            ..self.clone()
        }
    }

    /// Instant at which the range starts (inclusive): local midnight of `start`.
    pub fn range_start(&self) -> Timestamp {
        local_midnight(self.start, self.tz)
    }

    /// Instant at which the range ends (exclusive): local midnight of the day after `end`.
    pub fn range_end(&self) -> Timestamp {
        local_midnight(self.end + Duration::days(1), self.tz)
    }

    /// Number of local calendar days in the range (0 for an empty spec).
    pub fn days(&self) -> i64 {
        ((self.end - self.start).num_days() + 1).max(0)
    }

    /// The local calendar date of an instant in this spec's zone.
    pub fn local_date(&self, at: Timestamp) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// Whether an instant falls inside the range.
    pub fn contains(&self, at: Timestamp) -> bool {
        let date = self.local_date(at);
        self.start <= date && date <= self.end
    }

    /// All buckets of the range, in order, including empty ones.
    pub fn buckets(&self) -> Vec<Bucket> {
        let mut buckets = Vec::new();
        let mut first_day = self.start;
        while first_day <= self.end {
            let next = self.granularity.next_period_start(first_day);
            let last_day = (next - Duration::days(1)).min(self.end);
            buckets.push(Bucket {
                period_start: self.granularity.period_start(first_day),
                first_day,
                last_day,
                start: local_midnight(first_day, self.tz),
                end: local_midnight(last_day + Duration::days(1), self.tz),
            });
            first_day = next;
        }
        buckets
    }

    /// Index into [`BucketSpec::buckets`] of the bucket containing `at`, or
    /// `None` when `at` is outside the range.
    pub fn bucket_index(&self, at: Timestamp) -> Option<usize> {
        self.bucket_of_date(self.local_date(at))
    }

    /// Index of the bucket holding the local date `date`, or `None` when it is outside the range.
    pub fn bucket_of_date(&self, date: NaiveDate) -> Option<usize> {
        if date < self.start || date > self.end {
            return None;
        }
        let offset = self.granularity.ordinal(date) - self.granularity.ordinal(self.start);
        usize::try_from(offset).ok()
    }

    /// Groups values by the bucket of their instant. The result has one entry
    /// per bucket (empty buckets included); values outside the range are dropped.
    pub fn group<V>(&self, items: impl IntoIterator<Item = (Timestamp, V)>) -> Vec<Vec<V>> {
        let placer = Placer::new(self);
        let mut groups: Vec<Vec<V>> = self.buckets().iter().map(|_| Vec::new()).collect();
        for (at, value) in items {
            if let Some(slot) = placer
                .bucket(at.timestamp())
                .and_then(|i| groups.get_mut(i))
            {
                slot.push(value);
            }
        }
        groups
    }

    /// Builds a continuous series: groups `items` by bucket and maps each
    /// bucket's values (possibly none) through `summarise`.
    pub fn series<V, T>(
        &self,
        items: impl IntoIterator<Item = (Timestamp, V)>,
        summarise: impl Fn(&[V]) -> T,
    ) -> Vec<SeriesPoint<T>> {
        self.buckets()
            .iter()
            .zip(self.group(items))
            .map(|(bucket, values)| SeriesPoint {
                period_start: bucket.period_start,
                value: summarise(&values),
            })
            .collect()
    }

    /// Counts instants per bucket (a continuous series, zeros included).
    pub fn count_series(
        &self,
        times: impl IntoIterator<Item = Timestamp>,
    ) -> Vec<SeriesPoint<u64>> {
        self.series(times.into_iter().map(|t| (t, ())), |v| v.len() as u64)
    }
}

/// Places many instants (Unix seconds) in a spec's range and buckets, with the answers of
/// [`BucketSpec::contains`] and [`BucketSpec::bucket_index`], without converting each instant to
/// a local date.
///
/// Wherever the local date only moves forward across the buckets' edges, an instant is in a
/// bucket exactly when it lies between the bucket's first instant and the next one's, so placing
/// it is a binary search over seconds. A clock set back across one of the edges' midnights (the
/// last second of the day before is then ambiguous), or an edge whose day does not exist, makes
/// that untrue; the placer then converts every instant as the spec does. Either way the answers
/// are the spec's own.
#[derive(Debug, Clone)]
pub struct Placer {
    spec: BucketSpec,
    /// Each bucket's first instant and the range's end, when comparing seconds is exact.
    edges: Option<Vec<i64>>,
}

impl Placer {
    /// A placer for `spec`'s range and buckets.
    pub fn new(spec: &BucketSpec) -> Self {
        let tz = spec.tz;
        let mut dates: Vec<NaiveDate> = spec.buckets().iter().map(|b| b.first_day).collect();
        dates.push(spec.end + Duration::days(1));
        let edge = |date: NaiveDate| -> Option<i64> {
            let last_second = (date - Duration::days(1)).and_hms_opt(23, 59, 59)?;
            if matches!(
                tz.from_local_datetime(&last_second),
                LocalResult::Ambiguous(..)
            ) {
                return None;
            }
            let at = local_midnight(date, tz);
            (at.with_timezone(&tz).date_naive() == date).then_some(at.timestamp())
        };
        let edges: Option<Vec<i64>> = dates.into_iter().map(edge).collect();
        Self {
            spec: spec.clone(),
            edges: edges.filter(|e| e.windows(2).all(|w| w[0] < w[1])),
        }
    }

    /// Whether the instant falls inside the range ([`BucketSpec::contains`]).
    pub fn contains(&self, at: i64) -> bool {
        match &self.edges {
            Some(edges) => edges[0] <= at && at < edges[edges.len() - 1],
            None => self.spec.contains(instant_of(at)),
        }
    }

    /// The bucket of the instant ([`BucketSpec::bucket_index`]).
    pub fn bucket(&self, at: i64) -> Option<usize> {
        match &self.edges {
            Some(edges) => {
                if at < edges[0] || at >= edges[edges.len() - 1] {
                    return None;
                }
                Some(edges.partition_point(|&e| e <= at) - 1)
            }
            None => self.spec.bucket_index(instant_of(at)),
        }
    }

    /// Where the instants `[from, to)` fall, when every one of them falls alike: `Some(None)` when
    /// none is in the range, `Some(Some(i))` when all are in bucket `i`. `None` when a bucket's or
    /// the range's edge cuts them (or when the placer converts instants, so cannot tell cheaply).
    pub fn span(&self, from: i64, to: i64) -> Option<Option<usize>> {
        let edges = self.edges.as_ref()?;
        if to <= edges[0] || from >= edges[edges.len() - 1] {
            return Some(None);
        }
        let first = self.bucket(from)?;
        (self.bucket(to - 1) == Some(first)).then_some(Some(first))
    }

    /// Each bucket's first instant and the range's end (Unix seconds, in order), when instants are
    /// placed by comparing seconds.
    pub fn edges(&self) -> Option<&[i64]> {
        self.edges.as_deref()
    }

    /// Whether instants are placed by comparing seconds (no local date is computed).
    pub fn compares_seconds(&self) -> bool {
        self.edges.is_some()
    }
}

fn instant_of(secs: i64) -> Timestamp {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// Parses an IANA time-zone name such as `"America/New_York"`.
pub fn parse_tz(name: &str) -> Result<Tz, MetricsError> {
    name.parse::<Tz>()
        .map_err(|_| MetricsError::UnknownTimeZone(name.to_owned()))
}

/// The instant at which the local calendar day `date` starts in `tz`.
///
/// When midnight is ambiguous (clocks set back over midnight) the earlier
/// instant is used; when it does not exist (clocks set forward over midnight)
/// the first valid local time after midnight is used.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> Timestamp {
    let mut local = date.and_time(NaiveTime::MIN);
    // DST gaps are at most a few hours; probe minute by minute for up to a day.
    for _ in 0..(24 * 60) {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                return t.with_timezone(&Utc);
            }
            LocalResult::None => local += Duration::minutes(1),
        }
    }
    // Unreachable for real zones; fall back to interpreting the date as UTC.
    Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))
}

fn first_of_month(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
}

fn add_months(first_day: NaiveDate, months: u32) -> NaiveDate {
    let index = first_day.year() * 12 + first_day.month0() as i32 + months as i32;
    first_of_month(index.div_euclid(12), index.rem_euclid(12) as u32 + 1)
}

/// Serde helpers serialising a [`Tz`] by its IANA name.
mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &Tz, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse::<Tz>().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn period_starts() {
        // (granularity, date, expected period start, expected next period start)
        let cases = [
            (Granularity::Day, "2024-03-10", "2024-03-10", "2024-03-11"),
            // 2024-03-10 is a Sunday: its ISO week starts Monday 2024-03-04
            (Granularity::Week, "2024-03-10", "2024-03-04", "2024-03-11"),
            (Granularity::Week, "2024-03-11", "2024-03-11", "2024-03-18"),
            (Granularity::Month, "2024-12-31", "2024-12-01", "2025-01-01"),
            (
                Granularity::HalfYear,
                "2024-07-01",
                "2024-07-01",
                "2025-01-01",
            ),
            (
                Granularity::HalfYear,
                "2024-06-30",
                "2024-01-01",
                "2024-07-01",
            ),
        ];
        for (g, date, start, next) in cases {
            assert_eq!(g.period_start(d(date)), d(start), "{g:?} {date}");
            assert_eq!(g.next_period_start(d(date)), d(next), "{g:?} {date}");
        }
    }

    #[test]
    fn spec_validation_and_zone_parsing() {
        assert!(
            BucketSpec::new(d("2024-02-02"), d("2024-02-01"), Granularity::Day, Tz::UTC).is_err()
        );
        assert_eq!(
            parse_tz("Mars/Olympus"),
            Err(MetricsError::UnknownTimeZone("Mars/Olympus".into()))
        );
        let spec = BucketSpec::with_zone_name(
            d("2024-01-01"),
            d("2024-01-31"),
            Granularity::Week,
            "Europe/Berlin",
        )
        .expect("valid");
        let json = serde_json::to_string(&spec).expect("serialise");
        assert!(json.contains("\"Europe/Berlin\""), "{json}");
        let back: BucketSpec = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, spec);
    }

    #[test]
    fn span_tells_whole_days_from_cut_ones() {
        let day = 86_400;
        // Weeks in Berlin (UTC+1 in January): Monday 2024-01-08 starts at 2024-01-07T23:00Z.
        let spec = BucketSpec::with_zone_name(
            d("2024-01-03"),
            d("2024-01-20"),
            Granularity::Week,
            "Europe/Berlin",
        )
        .expect("valid");
        let placer = Placer::new(&spec);
        let utc = |date: &str| local_midnight(d(date), Tz::UTC).timestamp();
        // Wholly outside, before and after.
        assert_eq!(
            placer.span(utc("2024-01-01"), utc("2024-01-01") + day),
            Some(None)
        );
        assert_eq!(
            placer.span(utc("2024-01-22"), utc("2024-01-22") + day),
            Some(None)
        );
        // Inside one week.
        assert_eq!(
            placer.span(utc("2024-01-04"), utc("2024-01-04") + day),
            Some(Some(0))
        );
        assert_eq!(
            placer.span(utc("2024-01-09"), utc("2024-01-09") + day),
            Some(Some(1))
        );
        // Cut by the week's edge (one hour before UTC midnight) and by the range's edges.
        assert_eq!(
            placer.span(utc("2024-01-07"), utc("2024-01-07") + day),
            None
        );
        assert_eq!(
            placer.span(utc("2024-01-02"), utc("2024-01-02") + day),
            None
        );
        assert_eq!(
            placer.span(utc("2024-01-20"), utc("2024-01-20") + day),
            None
        );
        // The same spec in UTC has no cut day inside the range.
        let placer = Placer::new(&BucketSpec {
            tz: Tz::UTC,
            ..spec
        });
        assert_eq!(
            placer.span(utc("2024-01-07"), utc("2024-01-07") + day),
            Some(Some(0))
        );
        assert_eq!(
            placer.span(utc("2024-01-08"), utc("2024-01-08") + day),
            Some(Some(1))
        );
    }
}
