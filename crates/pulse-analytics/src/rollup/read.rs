//! Reading facts back from cells for a range.

use std::collections::HashMap;

use pulse_core::Result;
use pulse_db::repo::rollups::{self, Cell};
use pulse_db::TenantTx;
use pulse_metrics::time::BucketSpec;
use uuid::Uuid;

use super::dims::{kind, Dim};
use super::facts::*;
use super::report::{self, DoraFacts};

/// The UTC days `[from, to)` holding every instant of `[start, end)`.
fn days(start: i64, end: i64) -> (i64, i64) {
    (day_of(start), day_of(end - 1) + 1)
}

/// The instants `[start, end)` of a range.
fn bounds(spec: &BucketSpec) -> (i64, i64) {
    (spec.range_start().timestamp(), spec.range_end().timestamp())
}

fn unpack<F: Fact>(cells: &[Cell], out: &mut Vec<F>) -> Result<()> {
    for c in cells.iter().filter(|c| c.key.family == F::FAMILY) {
        decode(c.key.day, &c.data, out)?;
    }
    Ok(())
}

/// The delivery facts of a dimension covering the instants `[start, end)`.
pub async fn dora_facts(tx: &TenantTx, dim: Dim, start: i64, end: i64) -> Result<DoraFacts> {
    let (from, to) = days(start, end);
    let cells = rollups::cells_of(
        tx,
        &[
            family::DEPLOYMENT,
            family::FAILED,
            family::LEAD,
            family::UNDEPLOYED,
            family::INCIDENT,
        ],
        dim.kind,
        dim.id,
        from,
        to,
    )
    .await?;
    let mut f = DoraFacts::default();
    unpack(&cells, &mut f.deployments)?;
    unpack(&cells, &mut f.failed)?;
    unpack(&cells, &mut f.lead)?;
    unpack(&cells, &mut f.undeployed)?;
    unpack(&cells, &mut f.incidents)?;
    Ok(f)
}

/// Facts of one family of a dimension covering the instants `[start, end)`.
pub async fn facts<F: Fact>(tx: &TenantTx, dim: Dim, start: i64, end: i64) -> Result<Vec<F>> {
    let (from, to) = days(start, end);
    let cells = rollups::cells_of(tx, &[F::FAMILY], dim.kind, dim.id, from, to).await?;
    let mut out = Vec::new();
    unpack(&cells, &mut out)?;
    Ok(out)
}

/// The facts of a spec's range.
pub async fn facts_of<F: Fact>(tx: &TenantTx, dim: Dim, spec: &BucketSpec) -> Result<Vec<F>> {
    let (start, end) = bounds(spec);
    facts(tx, dim, start, end).await
}

/// What a team or project did in a range: deployments, merged pull requests, completed items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Successful production deployments.
    pub deployments: usize,
    /// Merged pull requests.
    pub merged: usize,
    /// Completed work items (created before the range's end).
    pub completed: usize,
}

/// The counts of each of `dims` (teams and projects) in the range of each of `specs`, in their
/// order: over the days a range covers whole, from the cells' running totals (one statement for
/// every range, two totals per dimension and range, whatever the ranges' length); the (at most
/// two) days a range covers in part, and the rare items completed before they were created, are
/// read from their facts.
pub async fn counts(
    tx: &TenantTx,
    specs: &[&BucketSpec],
    dims: &[Dim],
) -> Result<Vec<HashMap<Dim, Counts>>> {
    let families = [family::DEPLOYMENT, family::PULL_REQUEST, family::WORK];
    let kinds = [kind::TEAM, kind::PROJECT];
    let dim = |k: i16, id: Uuid| Dim { kind: k, id };
    // Days wholly inside each range.
    let wholes: Vec<(i64, i64)> = specs
        .iter()
        .map(|spec| {
            let (start, end) = bounds(spec);
            (
                start.div_euclid(DAY) + i64::from(start.rem_euclid(DAY) != 0),
                end.div_euclid(DAY),
            )
        })
        .collect();
    let mut boundaries: Vec<i64> = wholes
        .iter()
        .filter(|w| w.0 < w.1)
        .flat_map(|&(from, to)| [from, to])
        .collect();
    boundaries.sort_unstable();
    boundaries.dedup();
    let listed: Vec<(i16, Uuid)> = dims.iter().map(|d| (d.kind, d.id)).collect();
    let totals: HashMap<(i16, Dim, i64), (i64, i64)> = if listed.is_empty() {
        HashMap::new()
    } else {
        rollups::totals_before(tx, &families, &listed, &boundaries)
            .await?
            .into_iter()
            .map(|t| {
                (
                    (t.family, dim(t.dim_kind, t.dim_id), t.day),
                    (t.run_items, t.run_extra),
                )
            })
            .collect()
    };
    let mut all = Vec::with_capacity(specs.len());
    for (spec, &whole) in specs.iter().zip(&wholes) {
        let (start, end) = bounds(spec);
        let mut out: HashMap<Dim, Counts> = HashMap::new();
        if whole.0 < whole.1 && !dims.is_empty() {
            let mut odd_items = false;
            for &family in &families {
                for &d in dims {
                    let at = |day: i64| totals.get(&(family, d, day)).copied().unwrap_or_default();
                    let ((items_to, extra_to), (items_from, extra_from)) =
                        (at(whole.1), at(whole.0));
                    let (items, extra) = (items_to - items_from, extra_to - extra_from);
                    let e = out.entry(d).or_default();
                    let n = usize::try_from(items).unwrap_or(0);
                    match family {
                        family::DEPLOYMENT => e.deployments += n,
                        family::PULL_REQUEST => e.merged += n,
                        _ => {
                            odd_items |= extra > 0;
                            e.completed += usize::try_from(items - extra).unwrap_or(0);
                        }
                    }
                }
            }
            // Items completed before their creation count only when created before the range's
            // end.
            if odd_items {
                let odd =
                    rollups::cells_of_kinds(tx, &[family::WORK], &kinds, &[whole.0, whole.1], true)
                        .await?;
                for c in odd {
                    let key = dim(c.key.dim_kind, c.key.dim_id);
                    if !out.contains_key(&key) {
                        continue;
                    }
                    let mut list: Vec<WorkFact> = Vec::new();
                    decode(c.key.day, &c.data, &mut list)?;
                    out.entry(key).or_default().completed += list
                        .iter()
                        .filter(|w| w.created > w.at && w.created < end)
                        .count();
                }
            }
        }
        let (first, last) = days(start, end);
        let mut edges: Vec<i64> = [first, last - 1]
            .into_iter()
            .filter(|d| !(whole.0..whole.1).contains(d))
            .collect();
        edges.dedup();
        let placer = pulse_metrics::time::Placer::new(spec);
        for c in rollups::cells_of_kinds(tx, &families, &kinds, &edges, false).await? {
            let e = out.entry(dim(c.key.dim_kind, c.key.dim_id)).or_default();
            let inside = |at: i64| placer.contains(at);
            match c.key.family {
                family::DEPLOYMENT => {
                    let mut list: Vec<DeploymentFact> = Vec::new();
                    decode(c.key.day, &c.data, &mut list)?;
                    e.deployments += list.iter().filter(|d| inside(d.at)).count();
                }
                family::PULL_REQUEST => {
                    let mut list: Vec<PullRequestFact> = Vec::new();
                    decode(c.key.day, &c.data, &mut list)?;
                    e.merged += list.iter().filter(|p| inside(p.at)).count();
                }
                _ => {
                    let mut list: Vec<WorkFact> = Vec::new();
                    decode(c.key.day, &c.data, &mut list)?;
                    e.completed += report::completed(&list, spec);
                }
            }
        }
        all.push(out);
    }
    Ok(all)
}
