//! Incrementally maintained aggregates behind the DORA, pull-request and executive reports.
//!
//! **What is stored.** For every *dimension* a filter can select (the whole client, each
//! repository, each team with its sub-teams, each project; [`dims`]) and every UTC day with
//! activity, a cell per fact family holds counters (`items`, `extra`) and the packed per-item
//! [`facts`] of that day: each successful or failed production deployment, deployed change, change
//! never deployed, incident, merged pull request, completed work item and closed sprint, with its
//! exact instant (to the second) and the values the metrics need (spans in seconds, flags,
//! counts), and running totals of the counters up to that day, so counts over any range of whole
//! days cost two cell lookups per dimension. A report merges the facts of its range and runs the
//! same statistics as the raw computation, so every number is exact, for any time zone, range and
//! bucket size. Lead times and merged pull requests also have [`summary`] cells, per day and per
//! aligned block of days: a range holding more than [`read::EXACT_LIMIT`] items reads those for
//! the days it covers whole in each bucket, keeping counts exact and quantiles within 1/128.
//!
//! **How facts are computed.** [`compute`] runs the `pulse_metrics` formulas (deployment
//! normalisation, change→deployment linking, incident attribution, rework, recovery, cycle time,
//! completion, sprint analysis) over a dimension's rows, converted exactly as the raw reports
//! convert them. The formulas are context-bounded (`pulse_metrics::dora::CONTEXT_DAYS`): an item's
//! outcome depends only on rows within that distance, so the facts of a window need only the
//! window widened by the bound, and the raw reports load the same widened window around a range.
//! Both paths therefore see the same rows for every item and agree by construction; the
//! equivalence tests check it.
//!
//! **How they stay correct.** Every write to a metric input table fires a trigger that records a
//! marker (`rollup_dirty`: kind and UTC day of the changed instant, old and new values) in the
//! writing transaction, so a committed write always leaves a marker and a rolled-back one none.
//! A read serves cells only when the client has no pending marker (otherwise it computes from raw
//! rows); [`refresh_pending`] runs before metric reads: under the client's refresh lock it
//! recomputes the days the markers may affect (widened by the bound, [`refresh::refresh`]),
//! replaces their cells, brings the running totals of the later cells up to date and deletes
//! exactly the markers it read, in one transaction.
#![allow(clippy::module_name_repetitions)]

pub mod compute;
pub mod dims;
pub mod executive;
pub mod facts;
pub mod read;
pub mod refresh;
pub mod report;
pub mod summary;

use pulse_core::{ClientId, Result};
use pulse_db::dialect::Upkeep;
use pulse_db::repo::rollups;
use pulse_db::{Db, TenantTx};

pub use dims::{Dim, Dims};
pub use refresh::{refresh, RefreshStats};

use crate::filters::Filters;

/// Whether the client's cells are current in this transaction (no marker pending).
pub async fn fresh(tx: &TenantTx) -> Result<bool> {
    Ok(!rollups::pending(tx).await?)
}

/// The dimension whose cells answer these filters, when the cells are current; `None` when the
/// filters combine several dimensions or a marker is pending (the raw rows answer then).
pub async fn serving(tx: &TenantTx, f: &Filters) -> Result<Option<Dim>> {
    let Some(dim) = Dims::of_filter(f.team, f.project, f.repository) else {
        return Ok(None);
    };
    Ok(fresh(tx).await?.then_some(dim))
}

/// Refreshes the client's cells when a marker is pending: a cheap check on the read connection,
/// then [`refresh`] in its own write transaction. Returns what the refresh did, `None` when there
/// was nothing to do.
pub async fn refresh_pending(db: &Db, client: ClientId) -> Result<Option<RefreshStats>> {
    {
        let tx = db.tenant_read(client).await?;
        let pending = rollups::pending(&tx).await?;
        tx.rollback().await?;
        if !pending {
            return Ok(None);
        }
    }
    let tx = db.tenant(client).await?;
    let stats = refresh(&tx).await?;
    tx.commit().await?;
    after_refresh(db, &stats).await;
    Ok(Some(stats))
}

/// After a large refresh: reclaims the markers it deleted and refreshes the planner's statistics
/// of the cells it wrote ([`Db::upkeep_after`]). The refresh itself is committed, so a failure
/// here is only logged.
async fn after_refresh(db: &Db, stats: &RefreshStats) {
    let upkeep = [
        (stats.markers, Upkeep::Vacuum, "rollup_dirty"),
        (stats.cells, Upkeep::Analyze, "rollup_cells"),
    ];
    for (rows, what, table) in upkeep {
        if let Err(e) = db.upkeep_after(rows as u64, what, &[table]).await {
            tracing::warn!(error = %e, table, "upkeep after a refresh of the aggregates failed");
        }
    }
}

/// Recomputes every cell of the client (after a bulk load, or to repair): marks the client and
/// refreshes, in one transaction. Memory stays bounded: the days are processed a chunk at a time.
pub async fn refresh_all(db: &Db, client: ClientId) -> Result<RefreshStats> {
    let tx = db.tenant(client).await?;
    rollups::mark_all(&tx).await?;
    let stats = refresh(&tx).await?;
    tx.commit().await?;
    after_refresh(db, &stats).await;
    Ok(stats)
}
