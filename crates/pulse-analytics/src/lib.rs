//! # pulse-analytics
//!
//! The service layer between storage and the metric formulas. Given a tenant transaction
//! ([`pulse_db::TenantTx`]) and validated [`Filters`], each service function loads the rows it
//! needs through `pulse_db::repo` (always tenant-scoped), converts them into `pulse_metrics`
//! input records with the pure functions of [`convert`], runs the formulas and returns a
//! serialisable report.
//!
//! The DORA, pull-request and executive reports are answered from incrementally maintained
//! aggregates ([`rollup`]) when they are current and the filters select one dimension; the raw
//! computation stays as the reference ([`Source::Raw`]) and the fallback.
#![forbid(unsafe_code)]

pub mod convert;
pub mod csv;
pub mod data;
pub mod export;
pub mod filters;
mod load;
pub mod reports;
pub mod rollup;
pub mod rules;

pub use filters::{AppliedFilters, Filters, Granularity, MetricsParams};
pub use reports::{
    dora, dora_from, executive, executive_from, flow, portfolio, pull_requests, pull_requests_from,
    sprints, DoraMetrics, ExecutiveReport, FlowMetrics, PortfolioReport, PullRequestMetrics,
    Source, SprintMetrics,
};
