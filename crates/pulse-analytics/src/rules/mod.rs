//! Metric rules as configuration: what counts as a deployment, what is production, what is an
//! incident and how an incident is charged to a deployment, per client and overridable per
//! project (`docs/METRICS.md#rules`).
//!
//! - [`document`]: the rules document (types, defaults, validation, partial overrides); pure.
//! - [`classify`]: applying a document to a row's facts; pure.
//! - [`recompute()`]: re-deriving the stored columns and rows that depend on the rules, for a
//!   client, a project or the rows an import wrote. Every rules change and every import ends with
//!   it, in the same transaction.
//! - [`service`]: reading and changing the stored rules (API and CLI).

pub mod classify;
pub mod document;
pub mod recompute;
pub mod service;

pub use classify::{Compiled, RuleBook};
pub use document::Rules;
pub use recompute::{recompute, Changed, Recomputed, Scope};
pub use service::effective;
