//! Reading facts back from cells for a range.

use std::collections::HashMap;

use pulse_core::Result;
use pulse_db::repo::rollups::{self, Cell, CellKey};
use pulse_db::TenantTx;
use pulse_metrics::time::{BucketSpec, Granularity, Placer};
use uuid::Uuid;

use super::dims::{kind, Dim};
use super::facts::*;
use super::report::{self, DoraFacts};
use super::summary::{
    self, DeploymentSummary, FailedSummary, IncidentSummary, LeadSummary, PullRequestSummary,
    Summary,
};

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

/// Items a range may hold for its reports to be computed from every item's facts (exact); above
/// it, the days a range covers whole in each of its buckets come from their summaries.
pub const EXACT_LIMIT: u64 = 5_000;

/// Days cut by a range's or bucket's edge beyond which a range is read from facts alone (a
/// bucket size and time zone whose edges cut most days gains nothing from summaries).
const MAX_CUT_DAYS: usize = 64;

/// A summary of the `len` days from UTC day `start`.
#[derive(Debug, Clone)]
pub struct Block<S> {
    /// First UTC day.
    pub start: i64,
    /// Days covered.
    pub len: i64,
    /// The summary.
    pub summary: S,
}

/// The facts of one family over a range: every item's facts, except on the days whose summaries
/// stand for them (each block lies wholly inside one bucket, or wholly outside the range, of every
/// spec the part was read for).
#[derive(Debug, Clone)]
pub struct Part<F, S> {
    /// Facts of the days not summarised.
    pub facts: Vec<F>,
    /// The summarised days.
    pub blocks: Vec<Block<S>>,
}

impl<F, S> Default for Part<F, S> {
    fn default() -> Self {
        Self {
            facts: Vec::new(),
            blocks: Vec::new(),
        }
    }
}

impl<F, S> Part<F, S> {
    /// Every item's facts, no summary.
    pub fn exact(facts: Vec<F>) -> Self {
        Self {
            facts,
            blocks: Vec::new(),
        }
    }

    /// The facts inside `placer`'s range.
    pub fn inside<'a>(&'a self, placer: &'a Placer) -> impl Iterator<Item = &'a F> + 'a
    where
        F: Fact,
    {
        self.facts.iter().filter(|f| placer.contains(f.at()))
    }

    /// The merged summaries inside `placer`'s range.
    pub fn total(&self, placer: &Placer) -> S
    where
        S: Summary,
    {
        let mut out = S::default();
        for (_, s) in self.placed(placer) {
            out.merge(s);
        }
        out
    }

    /// The summaries inside `placer`'s range, with their bucket.
    pub fn placed<'a>(&'a self, placer: &'a Placer) -> impl Iterator<Item = (usize, &'a S)> + 'a {
        self.blocks.iter().filter_map(move |b| {
            match placer.span(b.start * DAY, (b.start + b.len) * DAY) {
                Some(at) => at.map(|bucket| (bucket, &b.summary)),
                None => {
                    debug_assert!(
                        false,
                        "summarised days from {} are cut by the spec",
                        b.start
                    );
                    None
                }
            }
        })
    }
}

/// The facts of family `F` of a dimension covering `[start, end)`, summarised where a large range
/// allows ([`parts`]).
pub async fn part<F: Fact, S: Summary<Of = F>>(
    tx: &TenantTx,
    dim: Dim,
    start: i64,
    end: i64,
    specs: &[&BucketSpec],
    limit: u64,
) -> Result<Part<F, S>> {
    Ok(parts(tx, &[dim], start, end, specs, limit)
        .await?
        .pop()
        .unwrap_or_default())
}

/// The facts of family `F` of each of `dims` (in their order) covering `[start, end)`,
/// summarised where a large range allows (see [`EXACT_LIMIT`] and the [`super::summary`] module),
/// in a few statements whatever the number of dimensions ([`read_cells`]).
pub async fn parts<F: Fact, S: Summary<Of = F>>(
    tx: &TenantTx,
    dims: &[Dim],
    start: i64,
    end: i64,
    specs: &[&BucketSpec],
    limit: u64,
) -> Result<Vec<Part<F, S>>> {
    let mut read = read_cells(tx, &[Want::of::<S>()], dims, start, end, specs, limit).await?;
    read.pop()
        .unwrap_or_default()
        .into_iter()
        .map(typed)
        .collect()
}

/// What [`read_cells`] reads of one fact family.
#[derive(Debug, Clone, Copy)]
struct Want {
    /// The fact family.
    family: i16,
    /// Its day summary family, and whether its reports place items on local days
    /// ([`Summary::LOCAL_DAYS`]); `None` for a family read from its facts alone.
    summary: Option<(i16, bool)>,
}

impl Want {
    fn of<S: Summary>() -> Self
    where
        S::Of: Fact,
    {
        Want {
            family: <S::Of as Fact>::FAMILY,
            summary: Some((S::FAMILY, S::LOCAL_DAYS)),
        }
    }

    fn facts<F: Fact>() -> Self {
        Want {
            family: F::FAMILY,
            summary: None,
        }
    }
}

/// The cells read for one family of one dimension: facts (of every day, or of the days no block
/// covers) and summary blocks.
#[derive(Debug, Default)]
struct Cells {
    facts: Vec<Cell>,
    blocks: Vec<Cell>,
}

/// A family's cells as its typed part.
fn typed<F: Fact, S: Summary<Of = F>>(cells: Cells) -> Result<Part<F, S>> {
    let mut part = Part::default();
    unpack(&cells.facts, &mut part.facts)?;
    for c in &cells.blocks {
        part.blocks.push(Block {
            start: c.key.day,
            len: 1 << family::level_of(S::FAMILY, c.key.family),
            summary: summary::of_cell(c)?,
        });
    }
    Ok(part)
}

/// The cells of each wanted family (outer, in `wants`' order) of each of `dims` (inner, in their
/// order) covering `[start, end)`, in three statements whatever the number of families and
/// dimensions: the running totals, the summary blocks and cut days by key, and the facts of the
/// families and dimensions that stay exact. The days are split into runs that lie wholly inside
/// one bucket (or wholly outside the range) of every spec in `specs`, and days an edge cuts; each
/// run is read as the few aligned blocks that cover it (`family::level`), each cut day as its
/// facts. A family of a dimension is read as facts alone when it has no summaries, when its range
/// holds at most `limit` items, when a summary is missing (cells written before summaries
/// existed), or when edges cut many days.
async fn read_cells(
    tx: &TenantTx,
    wants: &[Want],
    dims: &[Dim],
    start: i64,
    end: i64,
    specs: &[&BucketSpec],
    limit: u64,
) -> Result<Vec<Vec<Cells>>> {
    let started = std::time::Instant::now();
    let (from, to) = days(start, end);
    let pairs: Vec<(i16, Uuid)> = dims.iter().map(|d| (d.kind, d.id)).collect();
    let summarised: Vec<i16> = wants
        .iter()
        .filter(|w| w.summary.is_some())
        .map(|w| w.family)
        .collect();
    let totals: HashMap<(i16, i16, Uuid, i64), i64> = if summarised.is_empty() {
        HashMap::new()
    } else {
        rollups::totals_before(tx, &summarised, &pairs, &[from, to])
            .await?
            .into_iter()
            .map(|t| ((t.family, t.dim_kind, t.dim_id, t.day), t.run_items))
            .collect()
    };
    let stored = |family: i16, (k, id): (i16, Uuid)| {
        let at = |day| totals.get(&(family, k, id, day)).copied().unwrap_or(0);
        at(to) - at(from)
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut out: Vec<Vec<Option<Cells>>> = wants
        .iter()
        .map(|_| (0..dims.len()).map(|_| None).collect())
        .collect();
    let mut how: Vec<&str> = vec!["exact: few items"; wants.len()];
    // The keys of every large family and dimension; a found cell's family tells its want (the
    // fact family for a cut day, a level of the summary family for a block).
    let mut wanted: Vec<CellKey> = Vec::new();
    let mut owner: HashMap<i16, usize> = HashMap::new();
    let mut large: Vec<(usize, usize)> = Vec::new();
    for (w, want) in wants.iter().enumerate() {
        let Some((summary_family, local_days)) = want.summary else {
            how[w] = "exact: no summaries";
            continue;
        };
        let big: Vec<usize> = (0..dims.len())
            .filter(|&i| stored(want.family, pairs[i]) > limit)
            .collect();
        if big.is_empty() {
            continue;
        }
        let Some(Plan { blocks: keys, cut }) = plan((from, to), specs, summary_family, local_days)
        else {
            how[w] = "exact: too many cut days";
            continue;
        };
        owner.insert(want.family, w);
        for level in 0..family::LEVELS {
            owner.insert(family::level(summary_family, level), w);
        }
        for i in big {
            let key = |family: i16, day: i64| CellKey {
                family,
                dim_kind: dims[i].kind,
                dim_id: dims[i].id,
                day,
            };
            wanted.extend(keys.iter().map(|&(family, day)| key(family, day)));
            wanted.extend(cut.iter().map(|&day| key(want.family, day)));
            large.push((w, i));
        }
    }
    if !wanted.is_empty() {
        let mut found: HashMap<(usize, i16, Uuid), (i64, Cells)> = HashMap::new();
        for c in rollups::cells_at(tx, &wanted).await? {
            let Some(&w) = owner.get(&c.key.family) else {
                continue;
            };
            let (items, cells) = found.entry((w, c.key.dim_kind, c.key.dim_id)).or_default();
            *items += c.items;
            if c.key.family == wants[w].family {
                cells.facts.push(c);
            } else {
                cells.blocks.push(c);
            }
        }
        for (w, i) in large {
            let (items, cells) = found
                .remove(&(w, pairs[i].0, pairs[i].1))
                .unwrap_or_default();
            // Every day with facts is summarised when the counts agree.
            if items == stored(wants[w].family, pairs[i]) {
                out[w][i] = Some(cells);
                how[w] = "summaries";
            } else {
                how[w] = "exact: summaries missing";
            }
        }
    }
    // The rest is read as facts: one statement for the families that stay exact for the same
    // dimensions.
    let mut exact: HashMap<Vec<usize>, Vec<usize>> = HashMap::new();
    for (w, slots) in out.iter().enumerate() {
        let rest: Vec<usize> = (0..dims.len()).filter(|&i| slots[i].is_none()).collect();
        if !rest.is_empty() {
            exact.entry(rest).or_default().push(w);
        }
    }
    for (rest, ws) in exact {
        let families: Vec<i16> = ws.iter().map(|&w| wants[w].family).collect();
        let listed: Vec<(i16, Uuid)> = rest.iter().map(|&i| pairs[i]).collect();
        let mut read: HashMap<(i16, i16, Uuid), Vec<Cell>> = HashMap::new();
        for c in rollups::cells_of(tx, &families, &listed, from, to).await? {
            read.entry((c.key.family, c.key.dim_kind, c.key.dim_id))
                .or_default()
                .push(c);
        }
        for &w in &ws {
            for &i in &rest {
                let facts = read
                    .remove(&(wants[w].family, pairs[i].0, pairs[i].1))
                    .unwrap_or_default();
                out[w][i] = Some(Cells {
                    facts,
                    blocks: Vec::new(),
                });
            }
        }
    }
    let out: Vec<Vec<Cells>> = out
        .into_iter()
        .map(|slots| slots.into_iter().flatten().collect())
        .collect();
    for (w, cells) in out.iter().enumerate() {
        tracing::debug!(
            family = wants[w].family,
            dims = dims.len(),
            days = to - from,
            blocks = cells.iter().map(|c| c.blocks.len()).sum::<usize>(),
            facts_cells = cells.iter().map(|c| c.facts.len()).sum::<usize>(),
            how = how[w],
            "rollup read"
        );
    }
    tracing::debug!(
        families = wants.len(),
        dims = dims.len(),
        us = started.elapsed().as_micros() as u64,
        "rollup cells read"
    );
    Ok(out)
}

/// The aligned blocks covering the days `[a, b)`: `(level, first day)`, largest first where they
/// fit.
fn cover(a: i64, b: i64) -> Vec<(u32, i64)> {
    let mut out = Vec::new();
    let mut p = a;
    while p < b {
        let mut level = family::LEVELS - 1;
        while level > 0 && (p.rem_euclid(1 << level) != 0 || p + (1 << level) > b) {
            level -= 1;
        }
        out.push((level, p));
        p += 1 << level;
    }
    out
}

/// What [`parts`] reads of a range's days.
struct Plan {
    /// Summary blocks: family (level) and first day.
    blocks: Vec<(i16, i64)>,
    /// Days an edge cuts, read as facts.
    cut: Vec<i64>,
}

/// What [`read_cells`] reads of days `[from, to)` for the day summaries of family
/// `summary_family` (placing items on local days when `local_days`, [`Summary::LOCAL_DAYS`]);
/// `None` when edges cut too many days.
fn plan(
    (from, to): (i64, i64),
    specs: &[&BucketSpec],
    summary_family: i16,
    local_days: bool,
) -> Option<Plan> {
    // Where each day falls in every spec (`None` when an edge cuts it, or when a summary placing
    // items on local days cannot split it at its local midnight).
    let placers: Vec<Placer> = specs.iter().map(|s| Placer::new(s)).collect();
    let daily: Vec<Placer> = if local_days {
        specs
            .iter()
            .map(|s| Placer::new(&s.with_granularity(Granularity::Day)))
            .collect()
    } else {
        Vec::new()
    };
    let splits = |day: i64| {
        daily.iter().all(|p| {
            p.edges()
                .and_then(|m| summary::quarter_split(m, day))
                .is_some()
        })
    };
    let classes: Vec<Option<Vec<Option<usize>>>> = (from..to)
        .map(|day| {
            let class: Option<Vec<Option<usize>>> = placers
                .iter()
                .map(|p| p.span(day * DAY, (day + 1) * DAY))
                .collect();
            class.filter(|c| c.iter().all(Option::is_none) || splits(day))
        })
        .collect();
    let mut keys: Vec<(i16, i64)> = Vec::new();
    let mut cut: Vec<i64> = Vec::new();
    // Runs of days with the same class; a cut day is a run of its own.
    let mut first = from;
    for run in classes.chunk_by(|a, b| a.is_some() && a == b) {
        let end = first + run.len() as i64;
        if run[0].is_some() {
            for (level, day) in cover(first, end) {
                keys.push((family::level(summary_family, level), day));
            }
        } else {
            cut.push(first);
        }
        first = end;
    }
    (cut.len() <= MAX_CUT_DAYS).then_some(Plan { blocks: keys, cut })
}

/// The delivery facts of a dimension covering the instants `[start, end)`, for the reports of
/// `specs` (summarised on long ranges, [`part`]).
pub async fn dora_facts(
    tx: &TenantTx,
    dim: Dim,
    start: i64,
    end: i64,
    specs: &[&BucketSpec],
    limit: u64,
) -> Result<DoraFacts> {
    let wants = [
        Want::of::<DeploymentSummary>(),
        Want::of::<FailedSummary>(),
        Want::of::<LeadSummary>(),
        Want::of::<IncidentSummary>(),
        Want::facts::<UndeployedFact>(),
    ];
    let read: Vec<Cells> = read_cells(tx, &wants, &[dim], start, end, specs, limit)
        .await?
        .into_iter()
        .map(|mut cells| cells.pop().unwrap_or_default())
        .collect();
    let Ok([deployments, failed, lead, incidents, undeployed]) = <[Cells; 5]>::try_from(read)
    else {
        unreachable!("read_cells answers every wanted family");
    };
    let mut undeployed_facts = Vec::new();
    unpack(&undeployed.facts, &mut undeployed_facts)?;
    Ok(DoraFacts {
        deployments: typed(deployments)?,
        failed: typed(failed)?,
        lead: typed(lead)?,
        incidents: typed(incidents)?,
        undeployed: undeployed_facts,
    })
}

/// Facts of one family of a dimension covering the instants `[start, end)`.
pub async fn facts<F: Fact>(tx: &TenantTx, dim: Dim, start: i64, end: i64) -> Result<Vec<F>> {
    let (from, to) = days(start, end);
    let cells = rollups::cells_of(tx, &[F::FAMILY], &[(dim.kind, dim.id)], from, to).await?;
    let mut out = Vec::new();
    unpack(&cells, &mut out)?;
    Ok(out)
}

/// The pull-request facts of a spec's range ([`part`]).
pub async fn pull_requests_of(
    tx: &TenantTx,
    dim: Dim,
    spec: &BucketSpec,
    limit: u64,
) -> Result<Part<PullRequestFact, PullRequestSummary>> {
    let (start, end) = bounds(spec);
    part(tx, dim, start, end, &[spec], limit).await
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
