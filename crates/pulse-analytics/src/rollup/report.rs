//! Reports from facts: the same aggregation the `pulse_metrics` report functions perform over
//! raw records, performed over the per-item facts read from cells. Every figure is built from the
//! facts whose instant lies in the range (`BucketSpec::contains`) with the same statistics
//! functions, so equal facts give equal reports. Pure: no IO.

use chrono::{DateTime, TimeZone, Utc};
use pulse_metrics::dora::{
    deployment_frequency, ChangeFailureRate, Deployment, DeploymentSource, DeploymentStatus,
    DoraReport, LeadTime, RecoveryTime, ReworkRate, TimeToRestore,
};
use pulse_metrics::pull_requests::{
    PullRequestReport, ReviewDepth, ReworkAfterReview, SizeBucket, SizeCounts, StageDistributions,
};
use pulse_metrics::stats::{median, ratio, Distribution};
use pulse_metrics::time::{BucketSpec, Placer};

use super::facts::*;

/// An instant from Unix seconds.
pub fn instant(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// The delivery facts read for a range (any superset of it; the range is applied here).
#[derive(Debug, Default, Clone)]
pub struct DoraFacts {
    /// Successful production deployments.
    pub deployments: Vec<DeploymentFact>,
    /// Failed production deployments.
    pub failed: Vec<FailedFact>,
    /// Deployed changes.
    pub lead: Vec<LeadFact>,
    /// Changes never deployed.
    pub undeployed: Vec<UndeployedFact>,
    /// Incidents.
    pub incidents: Vec<IncidentFact>,
}

fn clamp(span: i64) -> (f64, bool) {
    (span.max(0) as f64, span < 0)
}

/// The DORA report of `spec`'s range from facts, equal to `pulse_metrics::dora::dora_report`
/// over the records the facts were computed from.
pub fn dora(facts: &DoraFacts, spec: &BucketSpec) -> DoraReport {
    let placer = Placer::new(spec);
    let inside = |at: i64| placer.contains(at);
    let deployments: Vec<&DeploymentFact> =
        facts.deployments.iter().filter(|d| inside(d.at)).collect();

    // Deployment frequency only reads successful production deployments' finish times.
    let standing_in: Vec<Deployment> = deployments
        .iter()
        .map(|d| Deployment {
            id: d.id.to_string(),
            repos: Vec::new(),
            environment: String::new(),
            is_production: true,
            status: DeploymentStatus::Success,
            started_at: instant(d.at),
            finished_at: Some(instant(d.at)),
            source: DeploymentSource::Manual,
        })
        .collect();
    let deployment_frequency = deployment_frequency(&standing_in, spec);

    let mut samples = Vec::new();
    let mut negative = 0;
    for l in facts.lead.iter().filter(|l| inside(l.at)) {
        let (v, neg) = clamp(l.span);
        negative += usize::from(neg);
        samples.push((instant(l.at), v));
    }
    let values: Vec<f64> = samples.iter().map(|&(_, v)| v).collect();
    let mut not_deployed: Vec<uuid::Uuid> = facts
        .undeployed
        .iter()
        .filter(|u| inside(u.at))
        .map(|u| u.id)
        .collect();
    // The raw report lists them in the order it loads changes: by id.
    not_deployed.sort();
    let lead_time = LeadTime {
        distribution: Distribution::from_values(&values),
        changes: values.len(),
        negative_spans_clamped: negative,
        merged_not_deployed: not_deployed.len(),
        merged_not_deployed_ids: not_deployed.iter().map(|u| u.to_string()).collect(),
        // Changes are linked only to successful production deployments.
        unknown_deployment_links: 0,
        median_series: spec.series(samples, median),
    };

    let mut failed_ids: Vec<String> = deployments
        .iter()
        .filter(|d| d.incidents > 0)
        .map(|d| d.id.to_string())
        .collect();
    failed_ids.sort();
    let change_failure_rate = ChangeFailureRate {
        deployments: deployments.len(),
        failed_deployments: failed_ids.len(),
        rate: ratio(failed_ids.len(), deployments.len()),
        failed_deployment_ids: failed_ids.clone(),
        incidents_attributed: deployments.iter().map(|d| d.incidents as usize).sum(),
        incidents_unattributed: facts
            .incidents
            .iter()
            .filter(|i| inside(i.at) && i.unattributed)
            .count(),
    };

    let failed: Vec<&FailedFact> = facts.failed.iter().filter(|f| inside(f.at)).collect();
    let causing: Vec<&&DeploymentFact> = deployments.iter().filter(|d| d.incidents > 0).collect();
    let mut recovered = Vec::new();
    let mut negative = 0;
    for span in failed
        .iter()
        .filter_map(|f| f.recovered)
        .chain(causing.iter().filter_map(|d| d.recovered))
    {
        let (v, neg) = clamp(span);
        negative += usize::from(neg);
        recovered.push(v);
    }
    let failures = failed.len() + causing.len();
    let recovery_time = RecoveryTime {
        distribution: Distribution::from_values(&recovered),
        failures,
        failed_deployments: failed.len(),
        incident_causing_deployments: causing.len(),
        recovered: recovered.len(),
        unrecovered: failures - recovered.len(),
        negative_spans_clamped: negative,
    };

    let created: Vec<&IncidentFact> = facts.incidents.iter().filter(|i| inside(i.at)).collect();
    let mut restored = Vec::new();
    let mut negative = 0;
    for span in created.iter().filter_map(|i| i.restored) {
        let (v, neg) = clamp(span);
        negative += usize::from(neg);
        restored.push(v);
    }
    let time_to_restore = TimeToRestore {
        distribution: Distribution::from_values(&restored),
        incidents: created.len(),
        unresolved: created.len() - restored.len(),
        negative_spans_clamped: negative,
    };

    let mut rework_ids: Vec<String> = deployments
        .iter()
        .filter(|d| d.rework)
        .map(|d| d.id.to_string())
        .collect();
    rework_ids.sort();
    let rework_rate = ReworkRate {
        deployments: deployments.len(),
        rework_deployments: rework_ids.len(),
        rate: ratio(rework_ids.len(), deployments.len()),
        rework_deployment_ids: rework_ids,
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

/// The pull-request report of `spec`'s range from facts, equal to
/// `pulse_metrics::pull_requests::pull_request_report` over the pull requests they came from.
pub fn pull_requests(facts: &[PullRequestFact], spec: &BucketSpec) -> PullRequestReport {
    let placer = Placer::new(spec);
    let merged: Vec<&PullRequestFact> = facts.iter().filter(|p| placer.contains(p.at)).collect();
    let dist = |f: fn(&PullRequestFact) -> i64| {
        Distribution::from_secs(&merged.iter().map(|p| f(p)).collect::<Vec<_>>())
    };
    let reviewed: Vec<&&PullRequestFact> = merged.iter().filter(|p| p.reviewed).collect();
    let rework: Vec<f64> = reviewed
        .iter()
        .map(|p| f64::from(p.rework_commits))
        .collect();
    let prs_with_rework = rework.iter().filter(|&&c| c > 0.0).count();
    let mut size = SizeCounts::default();
    for p in &merged {
        match SizeBucket::of_lines(p.lines) {
            SizeBucket::Xs => size.xs += 1,
            SizeBucket::S => size.s += 1,
            SizeBucket::M => size.m += 1,
            SizeBucket::L => size.l += 1,
            SizeBucket::Xl => size.xl += 1,
        }
    }
    let per_pr = |f: &dyn Fn(&PullRequestFact) -> f64| {
        Distribution::from_values(&merged.iter().map(|p| f(p)).collect::<Vec<_>>())
    };
    let unreviewed = merged.len() - reviewed.len();
    PullRequestReport {
        merged: merged.len(),
        throughput: spec.count_series(merged.iter().map(|p| instant(p.at))),
        cycle_time: StageDistributions {
            coding: dist(|p| p.coding),
            pickup: dist(|p| p.pickup),
            review: dist(|p| p.review),
            deploy: dist(|p| p.deploy),
            total: dist(|p| p.total),
        },
        deployed: merged.iter().filter(|p| p.deployed).count(),
        merged_not_deployed: merged.iter().filter(|p| !p.deployed).count(),
        clamped: merged.iter().filter(|p| p.clamped).count(),
        size,
        size_distribution: per_pr(&|p| p.lines as f64),
        time_to_first_review: Distribution::from_secs(
            &reviewed.iter().map(|p| p.pickup).collect::<Vec<_>>(),
        ),
        review_depth: ReviewDepth {
            reviews_per_pr: per_pr(&|p| f64::from(p.reviews)),
            comments_per_pr: per_pr(&|p| f64::from(p.comments)),
        },
        merged_without_review: unreviewed,
        merged_without_review_share: ratio(unreviewed, merged.len()),
        rework_after_review: ReworkAfterReview {
            reviewed_prs: reviewed.len(),
            prs_with_rework,
            share: ratio(prs_with_rework, reviewed.len()),
            commits: rework.iter().sum::<f64>() as usize,
            commits_per_reviewed_pr: Distribution::from_values(&rework),
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
pub fn lead_median(facts: &[LeadFact], spec: &BucketSpec) -> Option<f64> {
    let placer = Placer::new(spec);
    let values: Vec<f64> = facts
        .iter()
        .filter(|l| placer.contains(l.at))
        .map(|l| l.span.max(0) as f64)
        .collect();
    Distribution::from_values(&values).map(|d| d.median)
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
