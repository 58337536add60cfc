//! Recomputing cells: the pending markers of a client are widened to the days whose facts they
//! may change, the facts of those days are recomputed from the rows with the formulas, and the
//! days' cells replaced, in the caller's transaction.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pulse_core::Result;
use pulse_db::entity::{incidents, issue_transitions, pr_reviews, pull_requests};
use pulse_db::repo::deployments as deployment_repo;
use pulse_db::repo::rollups::{self, inputs, Cell, CellKey};
use pulse_db::TenantTx;
use pulse_metrics::dora::{AttributionRule, Change, Deployment, Incident, CONTEXT_DAYS};
use pulse_metrics::Timestamp;
use uuid::Uuid;

use super::compute::{self, PullRequestInput};
use super::dims::{kind, DimIx, Dims};
use super::facts::*;
use super::report::instant;
use super::summary::{
    DeploymentSummary, FailedSummary, IncidentSummary, LeadSummary, OwnedLeadSummary,
    PullRequestSummary, Summary,
};
use crate::convert;

/// What a refresh did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshStats {
    /// Markers processed.
    pub markers: usize,
    /// Whether every cell of the client was recomputed.
    pub full: bool,
    /// Days recomputed (summed over the fact groups).
    pub days: i64,
    /// Cells written.
    pub cells: usize,
}

/// Groups of fact families recomputed together (they come from the same rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Group {
    /// Deployments, failures, lead times, incidents.
    Delivery,
    /// Pull requests and changes never deployed.
    PullRequests,
    /// Work items.
    Work,
    /// Sprints.
    Sprints,
}

impl Group {
    const ALL: [Group; 4] = [
        Group::Delivery,
        Group::PullRequests,
        Group::Work,
        Group::Sprints,
    ];

    /// The families recomputed per day: the facts and their day summaries.
    fn families(self) -> &'static [i16] {
        match self {
            Group::Delivery => &[
                family::DEPLOYMENT,
                family::FAILED,
                family::LEAD,
                family::LEAD_OWNED,
                family::INCIDENT,
                family::LEAD_SUMMARY,
                family::LEAD_OWNED_SUMMARY,
                family::DEPLOYMENT_SUMMARY,
                family::FAILED_SUMMARY,
                family::INCIDENT_SUMMARY,
            ],
            Group::PullRequests => &[
                family::PULL_REQUEST,
                family::UNDEPLOYED,
                family::PULL_REQUEST_SUMMARY,
            ],
            Group::Work => &[family::WORK],
            Group::Sprints => &[family::SPRINT],
        }
    }

    /// The fact families, whose cells keep running totals.
    fn totalled(self) -> Vec<i16> {
        self.families()
            .iter()
            .copied()
            .filter(|f| !family::SUMMARIES.contains(f))
            .collect()
    }

    /// The day summary families, from which the blocks of higher levels are built.
    fn summaries(self) -> Vec<i16> {
        self.families()
            .iter()
            .copied()
            .filter(|f| family::SUMMARIES.contains(f))
            .collect()
    }

    /// Every family of the group: facts and summaries of every level.
    fn all_families(self) -> Vec<i16> {
        let mut all = self.totalled();
        all.extend(family::all_levels(&self.summaries()));
        all
    }

    /// Days recomputed per pass (bounds memory: each pass also loads its context).
    fn chunk_days(self) -> i64 {
        match self {
            Group::Delivery => 120,
            Group::PullRequests => 60,
            Group::Work => 60,
            Group::Sprints => 120,
        }
    }
}

/// The days (inclusive) of each group whose facts a marker on `day` may change. With `C` the
/// context bound of the formulas (`CONTEXT_DAYS`):
///
/// - `pr` (a merged pull request's row): its own facts on its merge day, and lead times of the
///   deployments that may ship it, up to `C` after the merge;
/// - `prd` (its commits or reviews): its own facts only;
/// - `dep` (a deployment): deployments, failures and incidents from `C` before it (changes it may
///   now ship, failures it recovers, incidents it fixes) to `2C` after it (incidents charged to it
///   up to `C` later, and the fixes of those up to `C` after them); pull requests merged up to `C`
///   before it (their deploy stage);
/// - `inc` (an incident): deployments charged with it (up to `C` before it, or after it for an
///   explicit link), its fixes (up to `C` after it) and itself;
/// - `work`, `spr`: the item itself.
fn widen(kind: &str, day: i64) -> Vec<(Group, i64, i64)> {
    let c = CONTEXT_DAYS;
    match kind {
        "pr" => vec![
            (Group::PullRequests, day, day),
            (Group::Delivery, day, day + c),
        ],
        "prd" => vec![(Group::PullRequests, day, day)],
        "dep" => vec![
            (Group::Delivery, day - c, day + 2 * c),
            (Group::PullRequests, day - c, day),
        ],
        "inc" => vec![(Group::Delivery, day - c, day + c)],
        "work" => vec![(Group::Work, day, day)],
        "spr" => vec![(Group::Sprints, day, day)],
        _ => Vec::new(),
    }
}

/// Merges inclusive day intervals.
fn merge(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spans.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The attribution rule the cells are computed with: the client's metric rules (a project's
/// override is served from raw rows, see [`crate::rollup::serving`]).
pub(crate) async fn rule(tx: &TenantTx) -> Result<AttributionRule> {
    Ok(crate::rules::effective(tx, None).await?.attribution())
}

/// Processes every pending marker of the transaction's client: takes the client's refresh lock,
/// recomputes the affected days (every day when a marker says so, or when the organisation the
/// cells were computed with changed), replaces their cells and deletes exactly the markers it
/// read. The caller commits; nothing is visible before.
pub async fn refresh(tx: &TenantTx) -> Result<RefreshStats> {
    let stored = rollups::lock_state(tx).await?;
    let markers = rollups::markers(tx).await?;
    let mut stats = RefreshStats {
        markers: markers.len(),
        ..Default::default()
    };
    if markers.is_empty() {
        return Ok(stats);
    }
    let dims = Dims::load(tx).await?;
    let fingerprint = dims.fingerprint();
    let org_changed = stored.as_deref() != Some(fingerprint.as_str());
    stats.full = markers
        .iter()
        .any(|m| m.kind == "all" || (m.kind == "org" && org_changed));
    let mut spans: BTreeMap<Group, Vec<(i64, i64)>> = BTreeMap::new();
    if stats.full {
        if let Some((lo, hi)) = rollups::data_span(tx).await? {
            for g in Group::ALL {
                spans.insert(g, vec![(lo, hi)]);
            }
        }
        for g in Group::ALL {
            rollups::delete_cells(tx, &g.all_families(), None).await?;
        }
    } else {
        for m in &markers {
            for (g, a, b) in widen(&m.kind, m.day) {
                spans.entry(g).or_default().push((a, b));
            }
        }
    }
    for (g, list) in spans {
        let merged = merge(list);
        let first = merged.first().map(|&(a, _)| a);
        // Time spent replacing cells (deleting and recomputing), writing them, bringing the
        // running totals up to date, and building the summary blocks; logged per group.
        let mut took = [Duration::ZERO; 4];
        let mut totals = Totals::default();
        for &(a, b) in &merged {
            let mut start = a;
            while start <= b {
                let end = (start + g.chunk_days()).min(b + 1);
                let t = Instant::now();
                if !stats.full {
                    rollups::delete_cells(tx, g.families(), Some((start, end))).await?;
                }
                let mut cells = compute_group(tx, &dims, g, start, end).await?;
                took[0] += t.elapsed();
                totals.assign(&mut cells);
                stats.cells += cells.len();
                stats.days += end - start;
                let t = Instant::now();
                rollups::insert_cells(tx, cells).await?;
                took[1] += t.elapsed();
                start = end;
            }
        }
        // A full refresh computed every cell of the group in day order, so the totals given on
        // insert are final; otherwise the cells before and after the recomputed days count too.
        if let Some(first) = first.filter(|_| !stats.full) {
            let t = Instant::now();
            rollups::update_running_totals(tx, &g.totalled(), first).await?;
            took[2] = t.elapsed();
        }
        let t = Instant::now();
        for &(a, b) in &merged {
            stats.cells += build_blocks(tx, g, a, b).await?;
        }
        took[3] = t.elapsed();
        tracing::debug!(
            group = ?g,
            recompute_ms = took[0].as_millis() as u64,
            write_ms = took[1].as_millis() as u64,
            totals_ms = took[2].as_millis() as u64,
            blocks_ms = took[3].as_millis() as u64,
            "aggregates refreshed"
        );
    }
    rollups::delete_markers(tx, &markers.iter().map(|m| m.id).collect::<Vec<_>>()).await?;
    rollups::save_state(tx, &fingerprint).await?;
    Ok(stats)
}

/// Running totals per family and dimension over the cells computed so far, in day order.
#[derive(Default)]
struct Totals(HashMap<(i16, i16, Uuid), (i64, i64)>);

impl Totals {
    /// Gives each fact cell the totals up to its day (the cells must follow those already given);
    /// summary cells keep none.
    fn assign(&mut self, cells: &mut [Cell]) {
        cells.sort_unstable_by_key(|c| c.key);
        for c in cells
            .iter_mut()
            .filter(|c| !family::SUMMARIES.contains(&c.key.family))
        {
            let run = self
                .0
                .entry((c.key.family, c.key.dim_kind, c.key.dim_id))
                .or_default();
            *run = (run.0 + c.items, run.1 + c.extra);
            (c.run_items, c.run_extra) = *run;
        }
    }
}

fn ts(secs: i64) -> DateTime<Utc> {
    instant(secs)
}

/// Facts of one dimension, by family, packed into cells by day.
#[derive(Default)]
struct Out {
    cells: Vec<Cell>,
}

impl Out {
    fn add<F: Fact>(&mut self, dims: &Dims, ix: DimIx, facts: Vec<F>) {
        if facts.is_empty() {
            return;
        }
        let dim = dims.list[ix as usize];
        let mut by_day: BTreeMap<i64, Vec<F>> = BTreeMap::new();
        for f in facts {
            by_day.entry(day_of(f.at())).or_default().push(f);
        }
        for (day, list) in by_day {
            if let Some((family, data)) = F::summary(&list) {
                self.cells.push(Cell {
                    key: CellKey {
                        family,
                        dim_kind: dim.kind,
                        dim_id: dim.id,
                        day,
                    },
                    items: list.len() as i64,
                    extra: 0,
                    data,
                    run_items: 0,
                    run_extra: 0,
                });
            }
            self.cells.push(Cell {
                key: CellKey {
                    family: F::FAMILY,
                    dim_kind: dim.kind,
                    dim_id: dim.id,
                    day,
                },
                items: list.len() as i64,
                extra: list.iter().map(Fact::extra).sum(),
                data: encode(day, &list),
                run_items: 0,
                run_extra: 0,
            });
        }
    }
}

/// Rebuilds the summary blocks above the day level (`family::level`) of the group over the days
/// `a..=b` (inclusive): each block of `2^LEVELS / 2` days holding one of them is rebuilt from its
/// day summaries, level by level. Returns the cells written.
async fn build_blocks(tx: &TenantTx, g: Group, a: i64, b: i64) -> Result<usize> {
    let size = 1i64 << (family::LEVELS - 1);
    let mut written = 0;
    let mut start = a.div_euclid(size) * size;
    while start <= b {
        for base in g.summaries() {
            written += match base {
                family::LEAD_SUMMARY => blocks::<LeadSummary>(tx, start, size).await?,
                family::LEAD_OWNED_SUMMARY => blocks::<OwnedLeadSummary>(tx, start, size).await?,
                family::PULL_REQUEST_SUMMARY => {
                    blocks::<PullRequestSummary>(tx, start, size).await?
                }
                family::DEPLOYMENT_SUMMARY => blocks::<DeploymentSummary>(tx, start, size).await?,
                family::FAILED_SUMMARY => blocks::<FailedSummary>(tx, start, size).await?,
                family::INCIDENT_SUMMARY => blocks::<IncidentSummary>(tx, start, size).await?,
                other => unreachable!("summary family {other} has no blocks"),
            };
        }
        start += size;
    }
    Ok(written)
}

/// Rebuilds the blocks of one summary family over the days `[start, start + size)`.
async fn blocks<S: Summary>(tx: &TenantTx, start: i64, size: i64) -> Result<usize> {
    let higher: Vec<i16> = (1..family::LEVELS)
        .map(|l| family::level(S::FAMILY, l))
        .collect();
    rollups::delete_cells(tx, &higher, Some((start, start + size))).await?;
    let mut current: BTreeMap<(i16, Uuid, i64), (i64, S)> = BTreeMap::new();
    for c in rollups::cells_in(tx, &[S::FAMILY], start, start + size).await? {
        let s = super::summary::of_cell::<S>(&c)?;
        current.insert((c.key.dim_kind, c.key.dim_id, c.key.day), (c.items, s));
    }
    let mut out = Vec::new();
    for level in 1..family::LEVELS {
        let len = 1i64 << level;
        let mut next: BTreeMap<(i16, Uuid, i64), (i64, S)> = BTreeMap::new();
        for ((kind, id, day), (items, s)) in current {
            let e = next
                .entry((kind, id, day.div_euclid(len) * len))
                .or_insert_with(|| (0, S::default()));
            e.0 += items;
            e.1.merge(&s);
        }
        for (&(dim_kind, dim_id, day), (items, s)) in &next {
            out.push(Cell {
                key: CellKey {
                    family: family::level(S::FAMILY, level),
                    dim_kind,
                    dim_id,
                    day,
                },
                items: *items,
                extra: 0,
                data: s.encode(),
                run_items: 0,
                run_extra: 0,
            });
        }
        current = next;
    }
    let written = out.len();
    rollups::insert_cells(tx, out).await?;
    Ok(written)
}

/// Row indices per dimension.
fn split(dims: &Dims, memberships: impl Iterator<Item = Vec<DimIx>>) -> HashMap<DimIx, Vec<usize>> {
    let mut out: HashMap<DimIx, Vec<usize>> = HashMap::new();
    for (row, of) in memberships.enumerate() {
        for ix in of {
            debug_assert!((ix as usize) < dims.list.len());
            out.entry(ix).or_default().push(row);
        }
    }
    out
}

fn pick<T: Clone>(all: &[T], rows: Option<&Vec<usize>>) -> Vec<T> {
    rows.map_or_else(Vec::new, |r| r.iter().map(|&i| all[i].clone()).collect())
}

async fn compute_group(tx: &TenantTx, dims: &Dims, g: Group, a: i64, b: i64) -> Result<Vec<Cell>> {
    let (from, to) = (a * DAY, b * DAY);
    let c = CONTEXT_DAYS * DAY;
    let mut out = Out::default();
    match g {
        Group::Delivery => {
            let deployments = inputs::deployments(tx, ts(from - 2 * c), ts(to + c)).await?;
            let prs = inputs::merged(tx, ts(from - c), ts(to)).await?;
            let incident_rows = inputs::incidents(tx, ts(from - c), ts(to + c)).await?;
            let (deps, dep_dims) = converted_deployments(dims, &deployments);
            let mut changes: Vec<Change> = Vec::new();
            let mut change_dims = Vec::new();
            let mut change_owners: HashMap<String, Vec<DimIx>> = HashMap::new();
            for p in &prs {
                if let Some(ch) = convert::change(p) {
                    let of = dims.of_pull_request(p.repository_id, p.author_person_id);
                    let teams: Vec<DimIx> = of
                        .iter()
                        .copied()
                        .filter(|&ix| dims.list[ix as usize].kind == kind::TEAM)
                        .collect();
                    change_owners.insert(ch.id.clone(), teams);
                    change_dims.push(of);
                    changes.push(ch);
                }
            }
            let (incs, inc_dims) = converted_incidents(tx, dims, &incident_rows).await?;
            let by_dep = split(dims, dep_dims.into_iter());
            let by_change = split(dims, change_dims.into_iter());
            let by_inc = split(dims, inc_dims.into_iter());
            let mut ixs: Vec<DimIx> = by_dep
                .keys()
                .chain(by_change.keys())
                .chain(by_inc.keys())
                .copied()
                .collect();
            ixs.sort_unstable();
            ixs.dedup();
            let rule = rule(tx).await?;
            let mut owned: HashMap<DimIx, Vec<OwnedLeadFact>> = HashMap::new();
            for ix in ixs {
                let facts = compute::delivery(
                    &pick(&deps, by_dep.get(&ix)),
                    &pick(&changes, by_change.get(&ix)),
                    &pick(&incs, by_inc.get(&ix)),
                    &rule,
                    from,
                    to,
                );
                if ix == 0 {
                    for (id, lead) in &facts.lead {
                        for team in change_owners.get(id).into_iter().flatten() {
                            owned
                                .entry(*team)
                                .or_default()
                                .push(OwnedLeadFact(lead.clone()));
                        }
                    }
                }
                out.add(dims, ix, facts.deployments);
                out.add(dims, ix, facts.failed);
                out.add(dims, ix, facts.lead.into_iter().map(|(_, l)| l).collect());
                out.add(dims, ix, facts.incidents);
            }
            for (ix, facts) in owned {
                out.add(dims, ix, facts);
            }
        }
        Group::PullRequests => {
            let prs = inputs::merged(tx, ts(from), ts(to)).await?;
            let deployments = inputs::deployments(tx, ts(from), ts(to + c)).await?;
            let mut commits: HashMap<Uuid, Vec<Timestamp>> = HashMap::new();
            for (pr, t) in inputs::commit_times(tx, ts(from), ts(to)).await? {
                commits.entry(pr).or_default().push(t);
            }
            let mut reviews: HashMap<Uuid, Vec<pr_reviews::Model>> = HashMap::new();
            for r in inputs::reviews(tx, ts(from), ts(to)).await? {
                reviews.entry(r.pull_request_id).or_default().push(r);
            }
            let (deps, dep_dims) = converted_deployments(dims, &deployments);
            let by_dep = split(dims, dep_dims.into_iter());
            let by_pr = split(
                dims,
                prs.iter()
                    .map(|p| dims.of_pull_request(p.repository_id, p.author_person_id)),
            );
            for (ix, rows) in &by_pr {
                let mine: Vec<PullRequestInput<'_>> = rows
                    .iter()
                    .map(|&i| {
                        let p: &pull_requests::Model = &prs[i];
                        PullRequestInput {
                            row: p,
                            commits: commits.get(&p.id).map_or(&[][..], |v| v),
                            reviews: reviews.get(&p.id).map_or(&[][..], |v| v),
                        }
                    })
                    .collect();
                let (facts, undeployed) =
                    compute::pull_requests(&mine, &pick(&deps, by_dep.get(ix)), from, to);
                out.add(dims, *ix, facts);
                out.add(dims, *ix, undeployed);
            }
        }
        Group::Work => {
            let (rows, transitions) = inputs::issues(tx, ts(from), ts(to)).await?;
            let mut by_issue: HashMap<Uuid, Vec<&issue_transitions::Model>> = HashMap::new();
            for t in &transitions {
                by_issue.entry(t.issue_id).or_default().push(t);
            }
            let items: Vec<_> = rows
                .iter()
                .map(|i| convert::work_item(i, by_issue.get(&i.id).map_or(&[][..], |v| v)))
                .collect();
            let by_dim = split(
                dims,
                rows.iter()
                    .map(|i| dims.of_issue(i.project_key.as_deref(), i.assignee_person_id)),
            );
            for (ix, idx) in &by_dim {
                out.add(dims, *ix, compute::work(&pick(&items, Some(idx)), from, to));
            }
        }
        Group::Sprints => {
            let (rows, memberships, issue_rows) = inputs::sprints(tx, ts(from), ts(to)).await?;
            let issue_map: HashMap<Uuid, &pulse_db::entity::issues::Model> =
                issue_rows.iter().map(|i| (i.id, i)).collect();
            let mut of_sprint: HashMap<Uuid, Vec<_>> = HashMap::new();
            for m in &memberships {
                of_sprint.entry(m.sprint_id).or_default().push(m);
            }
            let mut by_dim: HashMap<DimIx, Vec<SprintFact>> = HashMap::new();
            for row in &rows {
                let Some(sprint) = convert::sprint(row) else {
                    continue;
                };
                let mine = of_sprint.get(&row.id).map_or(&[][..], |v| v);
                let issues = convert::sprint_issues(&sprint, mine, &issue_map);
                if let Some(fact) = compute::sprint(row, &sprint, &issues, from, to) {
                    for ix in dims.of_sprint(row.board_id) {
                        by_dim.entry(ix).or_default().push(fact.clone());
                    }
                }
            }
            for (ix, facts) in by_dim {
                out.add(dims, ix, facts);
            }
        }
    }
    Ok(out.cells)
}

/// Deployments as the reports convert them (repositories sorted), with their dimensions.
fn converted_deployments(
    dims: &Dims,
    rows: &[(pulse_db::entity::deployments::Model, Vec<Uuid>)],
) -> (Vec<Deployment>, Vec<Vec<DimIx>>) {
    rows.iter()
        .map(|(d, repos)| {
            let mut names: Vec<String> = repos.iter().map(|r| r.to_string()).collect();
            names.sort();
            (convert::deployment(d, names), dims.of_deployment(repos))
        })
        .unzip()
}

/// Incidents as the reports convert them, with their dimensions (the repositories of the
/// deployment charged with each, as stored, place it too).
async fn converted_incidents(
    tx: &TenantTx,
    dims: &Dims,
    rows: &[incidents::Model],
) -> Result<(Vec<Incident>, Vec<Vec<DimIx>>)> {
    let mut causes: Vec<Uuid> = rows
        .iter()
        .filter_map(|i| i.caused_by_deployment_id)
        .collect();
    causes.sort_unstable();
    causes.dedup();
    let mut repos: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (d, r) in deployment_repo::repositories_of(tx, &causes).await? {
        repos.entry(d).or_default().push(r);
    }
    Ok(rows
        .iter()
        .map(|i| {
            let cause = i
                .caused_by_deployment_id
                .and_then(|d| repos.get(&d))
                .map_or(&[][..], |v| v);
            (
                convert::incident(i),
                dims.of_incident(i.repository_id, cause, i.team_id),
            )
        })
        .unzip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_widen_by_the_context_bound() {
        let c = CONTEXT_DAYS;
        assert_eq!(
            widen("dep", 1000),
            vec![
                (Group::Delivery, 1000 - c, 1000 + 2 * c),
                (Group::PullRequests, 1000 - c, 1000)
            ]
        );
        assert_eq!(widen("work", 5), vec![(Group::Work, 5, 5)]);
        assert!(widen("org", 5).is_empty());
    }

    #[test]
    fn intervals_merge_when_they_touch() {
        assert_eq!(
            merge(vec![(5, 9), (1, 3), (4, 4), (20, 30)]),
            vec![(1, 9), (20, 30)]
        );
        assert_eq!(merge(vec![(1, 10), (2, 3)]), vec![(1, 10)]);
    }
}
