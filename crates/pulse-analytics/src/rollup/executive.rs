//! The executive view's parts that come from cells besides the DORA keys: delivery
//! predictability and the teams and projects that moved most.

use std::collections::BTreeMap;

use pulse_core::{Error, Result};
use pulse_db::repo::scope;
use pulse_db::TenantTx;
use pulse_metrics::rollup::rollup;
use pulse_metrics::time::{BucketSpec, Granularity};
use uuid::Uuid;

use super::dims::{kind, Dim};
use super::facts::{LeadFact, OwnedLeadFact, SprintFact};
use super::read::{self, Counts, Part};
use super::report;
use super::summary::{LeadSummary, OwnedLeadSummary};
use crate::filters::Filters;
use crate::reports::{movers as rank, Comparison, Mover, MoverScope, PortfolioRow};

/// The specs of the executive view's two periods. The view shows totals only, so its buckets are
/// half-years: their edges cut few days, which lets long ranges read fewer, larger summary blocks.
pub(crate) fn totals_specs(f: &Filters, prev: &Filters) -> (BucketSpec, BucketSpec) {
    (
        f.spec().with_granularity(Granularity::HalfYear),
        prev.spec().with_granularity(Granularity::HalfYear),
    )
}

/// Committed sprint issues completed ÷ committed, now and in the previous period. Sprints are not
/// filtered by repository, so a repository filter reads the client's sprints.
pub async fn predictability(
    tx: &TenantTx,
    dim: Dim,
    f: &Filters,
    prev: &Filters,
) -> Result<Comparison> {
    let dim = if dim.kind == kind::REPOSITORY {
        Dim::CLIENT
    } else {
        dim
    };
    let (spec, prev_spec) = (f.spec(), prev.spec());
    let facts: Vec<SprintFact> = read::facts(
        tx,
        dim,
        prev_spec.range_start().timestamp(),
        spec.range_end().timestamp(),
    )
    .await?;
    Ok(Comparison::of(
        report::predictability(&facts, &spec),
        report::predictability(&facts, &prev_spec),
    ))
}

fn row(id: Uuid, name: &str, parent_id: Option<Uuid>, c: Counts) -> PortfolioRow {
    PortfolioRow {
        id,
        name: name.to_string(),
        parent_id,
        deployments: c.deployments,
        change_failure_rate: None,
        changes: 0,
        lead_time_median_secs: None,
        merged_pull_requests: c.merged,
        cycle_time_median_secs: None,
        completed_items: c.completed,
        flow_lead_time_median_secs: None,
        planning_accuracy: None,
    }
}

/// The teams and projects of `within` that moved most between the previous period and this one,
/// each with its own numbers: ranked by the counters summed per dimension, then the lead-time
/// medians of the listed ones read from their facts.
pub(crate) async fn movers(
    tx: &TenantTx,
    f: &Filters,
    prev: &Filters,
    within: &MoverScope,
) -> Result<(Vec<Mover>, Vec<Mover>)> {
    let teams = scope::all_teams(tx).await?;
    let projects = scope::all_projects(tx).await?;
    // The raw roll-up refuses a broken hierarchy; so does this.
    let parents: BTreeMap<String, Option<String>> = teams
        .iter()
        .map(|t| (t.id.to_string(), t.parent_id.map(|p| p.to_string())))
        .collect();
    rollup(&parents, &[]).map_err(Error::internal)?;

    let (spec, prev_spec) = totals_specs(f, prev);
    // The candidates, each with its name and parent: listed once, for the counts and the rows.
    let team_list: Vec<(Uuid, &str, Option<Uuid>)> = teams
        .iter()
        .filter(|t| within.has_team(t.id))
        .map(|t| (t.id, t.name.as_str(), t.parent_id))
        .collect();
    let project_list: Vec<(Uuid, &str, Option<Uuid>)> = projects
        .iter()
        .filter(|p| within.has_project(p.id))
        .map(|p| (p.id, p.name.as_str(), None))
        .collect();
    let listed: Vec<Dim> = team_list
        .iter()
        .map(|&(id, ..)| Dim {
            kind: kind::TEAM,
            id,
        })
        .chain(project_list.iter().map(|&(id, ..)| Dim {
            kind: kind::PROJECT,
            id,
        }))
        .collect();
    let started = std::time::Instant::now();
    let mut both = read::counts(tx, &[&spec, &prev_spec], &listed).await?;
    let before = both.pop().unwrap_or_default();
    let now = both.pop().unwrap_or_default();
    let counted = started.elapsed();
    let rows = |k: i16,
                list: &[(Uuid, &str, Option<Uuid>)],
                counts: &std::collections::HashMap<Dim, Counts>| {
        let mut out: Vec<PortfolioRow> = list
            .iter()
            .map(|&(id, name, parent)| {
                let c = counts
                    .get(&Dim { kind: k, id })
                    .copied()
                    .unwrap_or_default();
                row(id, name, parent, c)
            })
            .collect();
        out.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        out
    };
    let mut team_movers = rank(
        &rows(kind::TEAM, &team_list, &now),
        &rows(kind::TEAM, &team_list, &before),
    );
    let mut project_movers = rank(
        &rows(kind::PROJECT, &project_list, &now),
        &rows(kind::PROJECT, &project_list, &before),
    );
    let (start, end) = (
        prev_spec.range_start().timestamp(),
        spec.range_end().timestamp(),
    );
    let specs = &[&spec, &prev_spec];
    // The lead medians of the listed movers: one read per kind for all of them.
    let teams: Vec<Dim> = team_movers
        .iter()
        .map(|m| Dim {
            kind: kind::TEAM,
            id: m.id,
        })
        .collect();
    let owned: Vec<Part<OwnedLeadFact, OwnedLeadSummary>> =
        read::parts(tx, &teams, start, end, specs, read::EXACT_LIMIT).await?;
    for (m, owned) in team_movers.iter_mut().zip(owned) {
        let facts = Part {
            facts: owned.facts.into_iter().map(|o| o.0).collect(),
            blocks: owned
                .blocks
                .into_iter()
                .map(|b| read::Block {
                    start: b.start,
                    len: b.len,
                    summary: b.summary.0,
                })
                .collect(),
        };
        m.lead_time_median_secs = Comparison::of(
            report::lead_median(&facts, &spec),
            report::lead_median(&facts, &prev_spec),
        );
    }
    let projects: Vec<Dim> = project_movers
        .iter()
        .map(|m| Dim {
            kind: kind::PROJECT,
            id: m.id,
        })
        .collect();
    let leads: Vec<Part<LeadFact, LeadSummary>> =
        read::parts(tx, &projects, start, end, specs, read::EXACT_LIMIT).await?;
    for (m, facts) in project_movers.iter_mut().zip(leads) {
        m.lead_time_median_secs = Comparison::of(
            report::lead_median(&facts, &spec),
            report::lead_median(&facts, &prev_spec),
        );
    }
    tracing::debug!(
        dims = listed.len(),
        counts_us = counted.as_micros() as u64,
        medians_us = (started.elapsed() - counted).as_micros() as u64,
        "executive movers"
    );
    Ok((team_movers, project_movers))
}
