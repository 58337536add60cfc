//! Repository functions. Tenant-owned tables take a [`TenantTx`](crate::TenantTx) and filter by its
//! client themselves; the few functions that must work across tenants take a plain connection and
//! say why in their documentation.

pub mod api_tokens;
pub mod audit;
pub mod classified;
pub mod clients;
pub mod deployments;
pub mod derive;
pub mod incidents;
pub mod ingested;
pub mod issues;
pub mod links;
pub mod login_failures;
pub mod org;
pub mod people;
pub mod pull_requests;
pub mod raw_records;
pub mod rollups;
pub mod rules;
pub mod scope;
pub mod sessions;
pub mod settings;
pub mod sprints;
pub mod users;

use serde::{Deserialize, Serialize};

/// Offset pagination, shared by every list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Rows to return (1 to 200).
    pub limit: u64,
    /// Rows to skip.
    pub offset: u64,
}

impl Page {
    /// Largest page a client may ask for.
    pub const MAX_LIMIT: u64 = 200;

    /// A page, clamped to the allowed size.
    pub fn new(limit: Option<u64>, offset: Option<u64>) -> Self {
        Self {
            limit: limit.unwrap_or(50).clamp(1, Self::MAX_LIMIT),
            offset: offset.unwrap_or(0),
        }
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new(None, None)
    }
}

/// A page of rows with the total count.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Rows matching the filter in all.
    pub total: u64,
}

pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
