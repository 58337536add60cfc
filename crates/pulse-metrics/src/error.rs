//! The crate's error type.

/// Errors returned by the few fallible operations of this crate (building a
/// bucket specification, parsing benchmark data, walking a team hierarchy).
/// Metric computations themselves never fail: missing data yields `None` or
/// empty results instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// The date range ends before it starts.
    #[error("invalid date range: {start} is after {end}")]
    InvalidRange {
        /// First local date of the range.
        start: chrono::NaiveDate,
        /// Last local date of the range.
        end: chrono::NaiveDate,
    },
    /// The time-zone name is not a known IANA time zone.
    #[error("unknown time zone: {0}")]
    UnknownTimeZone(String),
    /// Benchmark data could not be parsed or is inconsistent.
    #[error("invalid benchmark data: {0}")]
    InvalidBenchmarkData(String),
    /// A team id is referenced but not present in the hierarchy.
    #[error("unknown team: {0}")]
    UnknownTeam(String),
    /// The team hierarchy contains a cycle through the given team.
    #[error("team hierarchy has a cycle through team {0}")]
    HierarchyCycle(String),
}
