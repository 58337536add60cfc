//! Portfolio roll-ups: aggregate per-team items up a team hierarchy.
//!
//! Every team's roll-up contains the items of the team itself and of all its
//! descendants (sub-teams, sub-sub-teams, ...). An item is identified by its
//! id and counted at most once per team, so an item that belongs to two
//! sub-teams of the same parent is counted once in the parent (and in every
//! further ancestor). When the same item id carries different values, the
//! first occurrence in input order is used.

use crate::stats::Distribution;
use crate::MetricsError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A raw value (a duration in seconds, or a count/weight) of one item owned by one team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamItem {
    /// Team that owns the item.
    pub team_id: String,
    /// Item id used for de-duplication (e.g. a pull-request or deployment id).
    pub item_id: String,
    /// The item's value.
    pub value: f64,
}

/// The rolled-up values of one team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rollup {
    /// Team id.
    pub team_id: String,
    /// Distinct items of the team and its descendants, sorted.
    pub item_ids: Vec<String>,
    /// Number of distinct items.
    pub count: usize,
    /// Sum of their values.
    pub sum: f64,
    /// Distribution of their values; `None` when the team has no item.
    pub distribution: Option<Distribution>,
}

/// Rolls `items` up the hierarchy `parents` (team id → parent id, `None` for
/// a root). Returns one [`Rollup`] per team of the hierarchy, keyed by team id.
///
/// Fails when an item's team or a parent is not in the hierarchy, or when the
/// hierarchy has a cycle.
pub fn rollup(
    parents: &BTreeMap<String, Option<String>>,
    items: &[TeamItem],
) -> Result<BTreeMap<String, Rollup>, MetricsError> {
    let mut values: BTreeMap<&str, BTreeMap<&str, f64>> = parents
        .keys()
        .map(|t| (t.as_str(), BTreeMap::new()))
        .collect();
    for item in items {
        for team in lineage(parents, &item.team_id)? {
            if let Some(team_values) = values.get_mut(team) {
                team_values
                    .entry(item.item_id.as_str())
                    .or_insert(item.value);
            }
        }
    }
    for team in parents.keys() {
        lineage(parents, team)?; // reject cycles and unknown parents even for teams without items
    }
    Ok(values
        .into_iter()
        .map(|(team, items)| {
            let vals: Vec<f64> = items.values().copied().collect();
            let rollup = Rollup {
                team_id: team.to_owned(),
                item_ids: items.keys().map(|k| k.to_string()).collect(),
                count: vals.len(),
                sum: vals.iter().sum(),
                distribution: Distribution::from_values(&vals),
            };
            (team.to_owned(), rollup)
        })
        .collect())
}

/// The team and all its ancestors, nearest first.
fn lineage<'a>(
    parents: &'a BTreeMap<String, Option<String>>,
    team: &'a str,
) -> Result<Vec<&'a str>, MetricsError> {
    let mut chain = Vec::new();
    let mut seen = BTreeSet::new();
    let mut current = Some(team);
    while let Some(t) = current {
        let (key, parent) = parents
            .get_key_value(t)
            .ok_or_else(|| MetricsError::UnknownTeam(t.to_owned()))?;
        if !seen.insert(key.as_str()) {
            return Err(MetricsError::HierarchyCycle(t.to_owned()));
        }
        chain.push(key.as_str());
        current = parent.as_deref();
    }
    Ok(chain)
}
