//! Work-item flow metrics (issue trackers such as Jira): lead time, cycle
//! time, WIP, ageing WIP, throughput and cumulative flow.
//!
//! Each item's history is read from its status-category [`Transition`]s
//! ([`StatusCategory`]: To Do, In Progress, Done). An item's state "as of" an
//! instant `t` reflects every transition strictly before `t`, and the item
//! exists as of `t` when it was created strictly before `t`.

mod model;
mod report;
mod state;

pub use model::{StatusCategory, Transition, WorkItem};
pub use report::{
    aging_wip, flow_report, wip_at, AgingItem, CategoryCounts, FlowReport, ThroughputBucket,
};
pub use state::{category_as_of, done_at, started_at, was_reopened};
