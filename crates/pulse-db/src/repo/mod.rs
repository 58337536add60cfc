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
pub mod update;
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

/// `rows` without repeated keys, each key at its first place holding its last row: one upsert
/// statement may not touch a row twice, and the later record of a page is the newer one.
pub(crate) fn last_per_key<T, K: std::hash::Hash + Eq>(
    rows: Vec<T>,
    key: impl Fn(&T) -> K,
) -> impl Iterator<Item = T> {
    let mut position: std::collections::HashMap<K, usize> =
        std::collections::HashMap::with_capacity(rows.len());
    let mut unique: Vec<Option<T>> = Vec::with_capacity(rows.len());
    for row in rows {
        match position.entry(key(&row)) {
            std::collections::hash_map::Entry::Occupied(at) => unique[*at.get()] = Some(row),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(unique.len());
                unique.push(Some(row));
            }
        }
    }
    unique.into_iter().flatten()
}

pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

#[cfg(test)]
mod tests {
    use super::last_per_key;

    #[test]
    fn repeated_keys_keep_their_first_place_and_their_last_row() {
        let rows = vec![("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        let kept: Vec<(&str, i32)> = last_per_key(rows, |r| r.0).collect();
        assert_eq!(kept, vec![("a", 3), ("b", 5), ("c", 4)]);
        assert_eq!(last_per_key(Vec::<(u8, u8)>::new(), |r| r.0).count(), 0);
    }
}
