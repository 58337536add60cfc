//! Reports from facts: the same aggregation the `pulse_metrics` report functions perform over
//! raw records, performed over the per-item facts read from cells. Every figure is built from the
//! facts whose instant lies in the range (`BucketSpec::contains`) with the same statistics
//! functions, so equal facts give equal reports. Pure: no IO.

use chrono::{DateTime, TimeZone, Utc};
use pulse_metrics::dora::{
    frequency_of_days, ChangeFailureRate, DoraReport, LeadTime, RecoveryTime, ReworkRate,
    TimeToRestore,
};
use pulse_metrics::pull_requests::{
    PullRequestReport, ReviewDepth, ReworkAfterReview, SizeCounts, StageDistributions,
};
use pulse_metrics::stats::{median, ratio, Distribution};
use pulse_metrics::time::{BucketSpec, Granularity, Placer, SeriesPoint};

use super::facts::*;
use super::read::Part;
use super::summary::{
    size_slot, DeploymentSummary, FailedSummary, Histogram, IncidentSummary, LeadSummary,
    PullRequestSummary, Summary,
};

/// The values of one distribution: those of the facts read, and the histograms of the summarised
/// days (if any). Without summaries the statistics are the exact ones of `pulse_metrics::stats`;
/// with them, the quantiles carry the summaries' stated error and the rest stays exact.
#[derive(Default)]
struct Mixed {
    exact: Vec<i64>,
    summarised: Option<Histogram>,
}

impl Mixed {
    fn add(&mut self, h: &Histogram) {
        if h.is_empty() {
            return;
        }
        self.summarised
            .get_or_insert_with(Histogram::default)
            .merge(h);
    }

    fn merged(&self) -> Option<Histogram> {
        self.summarised.as_ref().map(|h| {
            let mut h = h.clone();
            h.merge(&Histogram::of(self.exact.iter().copied()));
            h
        })
    }

    fn distribution(&self) -> Option<Distribution> {
        match self.merged() {
            Some(h) => h.distribution(),
            None => Distribution::from_secs(&self.exact),
        }
    }

    fn median(&self) -> Option<f64> {
        match self.merged() {
            Some(h) => h.median(),
            None => median(&self.exact.iter().map(|&v| v as f64).collect::<Vec<_>>()),
        }
    }
}

/// An instant from Unix seconds.
pub fn instant(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// The delivery facts read for a range (any superset of it; the range is applied here).
#[derive(Debug, Default, Clone)]
pub struct DoraFacts {
    /// Successful production deployments.
    pub deployments: Part<DeploymentFact, DeploymentSummary>,
    /// Failed production deployments.
    pub failed: Part<FailedFact, FailedSummary>,
    /// Deployed changes.
    pub lead: Part<LeadFact, LeadSummary>,
    /// Changes never deployed.
    pub undeployed: Vec<UndeployedFact>,
    /// Incidents.
    pub incidents: Part<IncidentFact, IncidentSummary>,
}

/// Spans clamped at zero, with how many were negative, into `into`.
fn clamped(spans: impl Iterator<Item = i64>, into: &mut Mixed) -> usize {
    let mut negative = 0;
    for span in spans {
        negative += usize::from(span < 0);
        into.exact.push(span.max(0));
    }
    negative
}

/// The DORA report of `spec`'s range from facts, equal to `pulse_metrics::dora::dora_report`
/// over the records the facts were computed from (within the summaries' stated error for the
/// quantiles of summarised days).
pub fn dora(facts: &DoraFacts, spec: &BucketSpec) -> DoraReport {
    let placer = Placer::new(spec);
    let inside = |at: i64| placer.contains(at);
    let deployments: Vec<&DeploymentFact> = facts.deployments.inside(&placer).collect();
    let summarised: Vec<&DeploymentSummary> =
        facts.deployments.placed(&placer).map(|(_, s)| s).collect();

    // Deployment facts are the successful production deployments, each once; summarised days
    // give their local days (`read::part` reads the days it cannot split as facts).
    let daily = Placer::new(&spec.with_granularity(Granularity::Day));
    let mut days: Vec<(i64, u64)> = deployments
        .iter()
        .filter_map(|d| daily.bucket(d.at))
        .map(|day| (day as i64, 1))
        .collect();
    for d in summarised.iter().flat_map(|s| &s.days) {
        days.extend(d.local_days(&daily).unwrap_or_default());
    }
    days.sort_unstable();
    let days: Vec<(i64, u64)> = days
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| (run[0].0, run.iter().map(|d| d.1).sum()))
        .collect();
    let deployment_frequency = frequency_of_days(&days, spec);
    let deployed = deployments.len()
        + summarised
            .iter()
            .map(|s| s.deployments() as usize)
            .sum::<usize>();

    let buckets = spec.buckets().len();
    let mut all = Mixed::default();
    let mut per_bucket: Vec<Mixed> = (0..buckets).map(|_| Mixed::default()).collect();
    let mut negative = 0;
    for l in &facts.lead.facts {
        let Some(b) = placer.bucket(l.at) else {
            continue;
        };
        let v = l.span.max(0);
        negative += usize::from(l.span < 0);
        all.exact.push(v);
        per_bucket[b].exact.push(v);
    }
    for (b, s) in facts.lead.placed(&placer) {
        negative += s.negative as usize;
        all.add(&s.spans);
        per_bucket[b].add(&s.spans);
    }
    let distribution = all.distribution();
    let mut not_deployed: Vec<uuid::Uuid> = facts
        .undeployed
        .iter()
        .filter(|u| inside(u.at))
        .map(|u| u.id)
        .collect();
    // The raw report lists them in the order it loads changes: by id.
    not_deployed.sort();
    let lead_time = LeadTime {
        changes: distribution.map_or(0, |d| d.count),
        distribution,
        negative_spans_clamped: negative,
        merged_not_deployed: not_deployed.len(),
        merged_not_deployed_ids: not_deployed.iter().map(|u| u.to_string()).collect(),
        // Changes are linked only to successful production deployments.
        unknown_deployment_links: 0,
        median_series: spec
            .buckets()
            .iter()
            .zip(&per_bucket)
            .map(|(bucket, m)| SeriesPoint {
                period_start: bucket.period_start,
                value: m.median(),
            })
            .collect(),
    };

    let causing: Vec<&&DeploymentFact> = deployments.iter().filter(|d| d.incidents > 0).collect();
    let mut failed_ids: Vec<uuid::Uuid> = causing.iter().map(|d| d.id).collect();
    failed_ids.extend(summarised.iter().flat_map(|s| s.failed.iter().copied()));
    failed_ids.sort();
    let failed_ids: Vec<String> = failed_ids.iter().map(|u| u.to_string()).collect();
    let incidents_attributed = causing.iter().map(|d| d.incidents as usize).sum::<usize>()
        + summarised
            .iter()
            .map(|s| s.incidents as usize)
            .sum::<usize>();
    let incidents: Vec<&IncidentFact> = facts.incidents.inside(&placer).collect();
    let incident_summary = facts.incidents.total(&placer);
    let change_failure_rate = ChangeFailureRate {
        deployments: deployed,
        failed_deployments: failed_ids.len(),
        rate: ratio(failed_ids.len(), deployed),
        failed_deployment_ids: failed_ids.clone(),
        incidents_attributed,
        incidents_unattributed: incidents.iter().filter(|i| i.unattributed).count()
            + incident_summary.unattributed as usize,
    };

    let failed: Vec<&FailedFact> = facts.failed.inside(&placer).collect();
    let failed_summary = facts.failed.total(&placer);
    let mut recovered = Mixed::default();
    let mut negative = clamped(
        failed
            .iter()
            .filter_map(|f| f.recovered)
            .chain(causing.iter().filter_map(|d| d.recovered)),
        &mut recovered,
    );
    recovered.add(&failed_summary.recovered);
    negative += failed_summary.negative as usize;
    for s in &summarised {
        recovered.add(&s.recovered);
        negative += s.negative as usize;
    }
    let failed_deployments = failed.len() + failed_summary.failed as usize;
    let failures = failed_deployments + failed_ids.len();
    let recovery_distribution = recovered.distribution();
    let recovered_count = recovery_distribution.map_or(0, |d| d.count);
    let recovery_time = RecoveryTime {
        distribution: recovery_distribution,
        failures,
        failed_deployments,
        incident_causing_deployments: failed_ids.len(),
        recovered: recovered_count,
        unrecovered: failures - recovered_count,
        negative_spans_clamped: negative,
    };

    let mut restored = Mixed::default();
    let mut negative = clamped(incidents.iter().filter_map(|i| i.restored), &mut restored);
    restored.add(&incident_summary.restored);
    negative += incident_summary.negative as usize;
    let restore_distribution = restored.distribution();
    let created = incidents.len() + incident_summary.incidents as usize;
    let time_to_restore = TimeToRestore {
        distribution: restore_distribution,
        incidents: created,
        unresolved: created - restore_distribution.map_or(0, |d| d.count),
        negative_spans_clamped: negative,
    };

    let mut rework_ids: Vec<uuid::Uuid> = deployments
        .iter()
        .filter(|d| d.rework)
        .map(|d| d.id)
        .collect();
    rework_ids.extend(summarised.iter().flat_map(|s| s.rework.iter().copied()));
    rework_ids.sort();
    let rework_rate = ReworkRate {
        deployments: deployed,
        rework_deployments: rework_ids.len(),
        rate: ratio(rework_ids.len(), deployed),
        rework_deployment_ids: rework_ids.iter().map(|u| u.to_string()).collect(),
    };

    DoraReport {
        deployment_frequency,
        lead_time,
        change_failure_rate,
        recovery_time,
        time_to_restore,
        rework_rate,
    }
}

/// Of the successful production deployments in `spec`'s range, those that are merged pull
/// requests standing in for deployments (the rules' last resort).
pub fn fallback_deployments(facts: &DoraFacts, spec: &BucketSpec) -> usize {
    let placer = Placer::new(spec);
    facts
        .deployments
        .inside(&placer)
        .filter(|d| d.fallback)
        .count()
        + facts.deployments.total(&placer).fallback as usize
}

/// The pull-request report of `spec`'s range from facts, equal to
/// `pulse_metrics::pull_requests::pull_request_report` over the pull requests they came from
/// (within the summaries' stated error for the quantiles of summarised days).
pub fn pull_requests(
    part: &Part<PullRequestFact, PullRequestSummary>,
    spec: &BucketSpec,
) -> PullRequestReport {
    let placer = Placer::new(spec);
    let merged: Vec<&PullRequestFact> = part.inside(&placer).collect();
    let mut total = PullRequestSummary::default();
    let mut throughput = spec.count_series(merged.iter().map(|p| instant(p.at)));
    for (b, s) in part.placed(&placer) {
        total.merge(s);
        throughput[b].value += s.merged;
    }
    let mixed = |h: &Histogram, f: &dyn Fn(&PullRequestFact) -> Option<i64>| {
        let mut m = Mixed {
            exact: merged.iter().filter_map(|p| f(p)).collect(),
            summarised: None,
        };
        m.add(h);
        m.distribution()
    };
    let stage = |i: usize, f: fn(&PullRequestFact) -> i64| mixed(&total.stages[i], &|p| Some(f(p)));
    let count = |f: fn(&PullRequestFact) -> bool| merged.iter().filter(|p| f(p)).count();
    let n = merged.len() + total.merged as usize;
    let reviewed = count(|p| p.reviewed) + total.reviewed as usize;
    let with_rework = count(|p| p.reviewed && p.rework_commits > 0) + total.with_rework as usize;
    let rework_commits: u64 = merged
        .iter()
        .filter(|p| p.reviewed)
        .map(|p| u64::from(p.rework_commits))
        .sum::<u64>()
        + u64::try_from(total.rework.sum()).unwrap_or(0);
    let mut slots = total.size;
    for p in &merged {
        slots[size_slot(p.lines)] += 1;
    }
    let [xs, s, m, l, xl] = slots.map(|c| c as usize);
    let unreviewed = n - reviewed;
    PullRequestReport {
        merged: n,
        throughput,
        cycle_time: StageDistributions {
            coding: stage(0, |p| p.coding),
            pickup: stage(1, |p| p.pickup),
            review: stage(2, |p| p.review),
            deploy: stage(3, |p| p.deploy),
            total: stage(4, |p| p.total),
        },
        deployed: count(|p| p.deployed) + total.deployed as usize,
        merged_not_deployed: count(|p| !p.deployed) + (total.merged - total.deployed) as usize,
        clamped: count(|p| p.clamped) + total.clamped as usize,
        size: SizeCounts { xs, s, m, l, xl },
        size_distribution: mixed(&total.lines, &|p| {
            Some(i64::try_from(p.lines).unwrap_or(i64::MAX))
        }),
        time_to_first_review: mixed(&total.first_review, &|p| p.reviewed.then_some(p.pickup)),
        review_depth: ReviewDepth {
            reviews_per_pr: mixed(&total.reviews, &|p| Some(i64::from(p.reviews))),
            comments_per_pr: mixed(&total.comments, &|p| Some(i64::from(p.comments))),
        },
        merged_without_review: unreviewed,
        merged_without_review_share: ratio(unreviewed, n),
        rework_after_review: ReworkAfterReview {
            reviewed_prs: reviewed,
            prs_with_rework: with_rework,
            share: ratio(with_rework, reviewed),
            commits: rework_commits as usize,
            commits_per_reviewed_pr: mixed(&total.rework, &|p| {
                p.reviewed.then_some(i64::from(p.rework_commits))
            }),
        },
    }
}

/// Committed sprint issues completed ÷ committed, over the sprints that closed in the range and
/// started before its end (the sprint report's `planning_accuracy_issues`).
pub fn predictability(facts: &[SprintFact], spec: &BucketSpec) -> Option<f64> {
    let end = spec.range_end().timestamp();
    let placer = Placer::new(spec);
    let (mut committed, mut done) = (0usize, 0usize);
    for s in facts
        .iter()
        .filter(|s| placer.contains(s.at) && s.start < end)
    {
        committed += s.committed as usize;
        done += s.completed as usize;
    }
    ratio(done, committed)
}

/// Median of the clamped lead times in the range (a portfolio row's `lead_time_median_secs`).
pub fn lead_median(part: &Part<LeadFact, LeadSummary>, spec: &BucketSpec) -> Option<f64> {
    let placer = Placer::new(spec);
    let mut m = Mixed {
        exact: part.inside(&placer).map(|l| l.span.max(0)).collect(),
        summarised: None,
    };
    for (_, s) in part.placed(&placer) {
        m.add(&s.spans);
    }
    m.median()
}

/// Work items completed in the range and created before its end.
pub fn completed(facts: &[WorkFact], spec: &BucketSpec) -> usize {
    let end = spec.range_end().timestamp();
    let placer = Placer::new(spec);
    facts
        .iter()
        .filter(|w| placer.contains(w.at) && w.created < end)
        .count()
}
