//! # pulse-analytics
//!
//! The service layer between storage and the metric formulas. Given a tenant transaction
//! ([`pulse_db::TenantTx`]) and validated [`Filters`], each service function loads the rows it
//! needs through `pulse_db::repo` (always tenant-scoped), converts them into `pulse_metrics`
//! input records with the pure functions of [`convert`], runs the formulas and returns a
//! serialisable report.
//!
//! The service functions are the seam for a later aggregate-backed implementation: their
//! signatures take only the transaction and the filters, so a version that reads per-day
//! aggregates instead of raw rows can replace the bodies without touching the API.
#![forbid(unsafe_code)]

pub mod convert;
pub mod csv;
pub mod data;
pub mod filters;
mod load;
pub mod reports;
pub mod rules;

pub use filters::{AppliedFilters, Filters, Granularity, MetricsParams};
pub use reports::{
    dora, executive, flow, portfolio, pull_requests, sprints, DoraMetrics, ExecutiveReport,
    FlowMetrics, PortfolioReport, PullRequestMetrics, SprintMetrics,
};
