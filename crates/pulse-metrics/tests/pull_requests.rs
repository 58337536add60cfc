//! Pull-request cycle time and aggregates, hand-computed.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use pulse_metrics::pull_requests::*;
use pulse_metrics::time::Granularity;

/// Hours after a fixed base instant (Monday 2024-03-04 09:00 UTC).
fn h(hours: f64) -> DateTime<Utc> {
    ts("2024-03-04 09:00") + Duration::seconds((hours * 3600.0) as i64)
}

fn review(by: &str, at: f64) -> Review {
    Review {
        reviewer: by.into(),
        submitted_at: h(at),
        state: ReviewState::Approved,
    }
}

fn pr(id: &str, commits: &[f64], created: f64, draft: bool, ready: Option<f64>) -> PullRequest {
    PullRequest {
        id: id.into(),
        repo: "api".into(),
        author: "ann".into(),
        created_at: h(created),
        opened_as_draft: draft,
        ready_for_review_at: ready.map(h),
        merged_at: None,
        deployed_at: None,
        commit_times: commits.iter().map(|&c| h(c)).collect(),
        reviews: vec![],
        comment_count: 0,
        additions: 0,
        deletions: 0,
    }
}

type Row = (
    &'static str,
    f64,
    f64,
    bool,
    Option<f64>,
    Option<f64>,
    f64,
    Option<f64>,
    [i64; 5],
    bool,
);

/// Times in hours after the base. Columns: name, first commit, created, draft,
/// ready (drafts only), first review by someone else, merged, deployed ->
/// expected [coding, pickup, review, deploy, total] in hours, clamped?
const CASES: &[Row] = &[
    // commit 0 -> created 2 -> review 5 -> merged 8 -> deployed 10
    (
        "plain",
        0.0,
        2.0,
        false,
        None,
        Some(5.0),
        8.0,
        Some(10.0),
        [2, 3, 3, 2, 10],
        false,
    ),
    // draft opened at 1, ready at 4: pickup starts at 4, not 1; undeployed: total ends at merge
    (
        "draft",
        0.0,
        1.0,
        true,
        Some(4.0),
        Some(6.0),
        7.0,
        None,
        [4, 2, 1, 0, 7],
        false,
    ),
    // no review: pickup is 0 and ready -> merged is the review stage
    (
        "no review",
        0.0,
        2.0,
        false,
        None,
        None,
        6.0,
        Some(7.0),
        [2, 0, 4, 1, 7],
        false,
    ),
    // first commit (3) after PR creation (1): ready = max(3, 1) = 3, coding 0; total = 6 - 3
    (
        "commit after open",
        3.0,
        1.0,
        false,
        None,
        Some(4.0),
        5.0,
        Some(6.0),
        [0, 1, 1, 1, 3],
        true,
    ),
    // reviewed at 2 while still a draft, ready at 3: first review boundary = max(3, 2) = 3
    (
        "review during draft",
        0.0,
        1.0,
        true,
        Some(3.0),
        Some(2.0),
        5.0,
        None,
        [3, 0, 2, 0, 5],
        true,
    ),
    // deployment (3) recorded before the merge (4): deploy 0, total = merge - first commit
    (
        "deployed before merge",
        0.0,
        1.0,
        false,
        None,
        Some(2.0),
        4.0,
        Some(3.0),
        [1, 1, 2, 0, 4],
        true,
    ),
    // draft never marked ready: ready falls back to the first review (3)
    (
        "draft never ready",
        0.0,
        1.0,
        true,
        None,
        Some(3.0),
        4.0,
        None,
        [3, 0, 1, 0, 4],
        false,
    ),
    // squash-merged: the PR's own first commit (day before) still starts the clock
    (
        "squash merged",
        -24.0,
        0.0,
        false,
        None,
        Some(1.0),
        2.0,
        Some(3.0),
        [24, 1, 1, 1, 27],
        false,
    ),
];

#[test]
fn cycle_time_table() {
    for &(name, commit, created, draft, ready, first_review, merged, deployed, expected, clamped) in
        CASES
    {
        let mut p = pr(name, &[commit], created, draft, ready);
        p.reviews = first_review.map(|r| review("bob", r)).into_iter().collect();
        p.merged_at = Some(h(merged));
        p.deployed_at = deployed.map(h);
        let c = cycle_time(&p).expect("merged");
        let got = [
            c.coding_secs,
            c.pickup_secs,
            c.review_secs,
            c.deploy_secs,
            c.total_secs,
        ]
        .map(|s| s / 3600);
        assert_eq!(got, expected, "{name}");
        assert_eq!(
            c.coding_secs + c.pickup_secs + c.review_secs + c.deploy_secs,
            c.total_secs,
            "{name}"
        );
        assert_eq!(c.clamped, clamped, "{name} clamped");
        assert_eq!(c.deployed, deployed.is_some(), "{name} deployed");
    }
}

#[test]
fn unmerged_and_self_reviewed() {
    assert_eq!(cycle_time(&pr("open", &[0.0], 1.0, false, None)), None);
    // The author's own review is not a review: pickup 0, review = 1 -> 5.
    let mut p = pr("self", &[0.0], 1.0, false, None);
    p.reviews = vec![review("ann", 2.0)];
    p.merged_at = Some(h(5.0));
    let c = cycle_time(&p).expect("merged");
    assert!(!c.reviewed);
    assert_eq!((c.pickup_secs, c.review_secs), (0, 4 * 3600));
}

#[test]
fn aggregates_over_a_week() {
    // (id, changed lines, reviewers, comments, commit hours, merged hour) over one week.
    // First reviews are 1h after creation (created at 1h).
    type PrRow = (
        &'static str,
        u64,
        &'static [&'static str],
        u32,
        &'static [f64],
        Option<f64>,
    );
    const PRS: &[PrRow] = &[
        ("p1", 9, &["bob"], 2, &[0.0], Some(5.0)), // XS
        ("p2", 10, &["bob", "cy"], 4, &[0.0, 3.0, 4.0], Some(6.0)), // S, 2 commits after review (2h)
        ("p3", 49, &[], 0, &[0.0], Some(30.0)),                     // S, merged without review
        ("p4", 50, &["cy"], 0, &[0.0, 2.5], Some(50.0)),            // M, 1 commit after review
        ("p5", 999, &[], 1, &[0.0], Some(80.0)),                    // L, without review
        ("p6", 1000, &["bob"], 3, &[0.0], None),                    // XL but not merged: excluded
    ];
    let prs: Vec<PullRequest> = PRS
        .iter()
        .map(|&(id, lines, reviewers, comments, commits, merged)| {
            let mut p = pr(id, commits, 1.0, false, None);
            p.additions = lines;
            p.reviews = reviewers.iter().map(|r| review(r, 2.0)).collect();
            p.comment_count = comments;
            p.merged_at = merged.map(h);
            p
        })
        .collect();
    let s = spec("2024-03-04", "2024-03-10", Granularity::Day, "UTC");
    let r = pull_request_report(&prs, &s);
    assert_eq!(r.merged, 5);
    // merges at Mon 14:00, Mon 15:00, Tue 15:00, Wed 11:00, Thu 17:00
    let per_day: Vec<u64> = r.throughput.iter().map(|p| p.value).collect();
    assert_eq!(per_day, vec![2, 1, 1, 1, 0, 0, 0]);
    assert_eq!(
        r.size,
        SizeCounts {
            xs: 1,
            s: 2,
            m: 1,
            l: 1,
            xl: 0
        }
    );
    assert_eq!(
        (r.merged_without_review, r.merged_without_review_share),
        (2, Some(0.4))
    );
    // three reviewed PRs, each first reviewed 1h after becoming ready
    let first_review = r.time_to_first_review.expect("reviewed");
    assert_eq!((first_review.count, first_review.median), (3, 3600.0));
    // reviews per PR: 1, 2, 0, 1, 0 -> median 1, mean 0.8; comments 2, 4, 0, 0, 1 -> mean 1.4
    let depth = r.review_depth;
    approx(
        depth.reviews_per_pr.expect("depth").mean,
        0.8,
        "reviews mean",
    );
    approx(
        depth.comments_per_pr.expect("depth").mean,
        1.4,
        "comments mean",
    );
    // rework: p2 has 2 commits after its review (3h, 4h > 2h), p4 has 1 (2.5h)
    let rw = r.rework_after_review;
    assert_eq!((rw.reviewed_prs, rw.prs_with_rework, rw.commits), (3, 2, 3));
    assert_eq!(r.merged_not_deployed, 5);
    // totals (first commit 0 -> merge): 5, 6, 30, 50, 80 -> median 30h
    approx(
        r.cycle_time.total.expect("total").median,
        30.0 * HOUR,
        "total median",
    );
    // means of the stages add up to the mean total
    let c = r.cycle_time;
    let sum = [c.coding, c.pickup, c.review, c.deploy]
        .map(|d| d.expect("stage").mean)
        .iter()
        .sum::<f64>();
    approx(sum, c.total.expect("total").mean, "means add up");
}

#[test]
fn size_bucket_edges() {
    // (changed lines, bucket): XS < 10, S < 50, M < 250, L < 1000, XL >= 1000
    const CASES: &[(u64, SizeBucket)] = &[
        (0, SizeBucket::Xs),
        (9, SizeBucket::Xs),
        (10, SizeBucket::S),
        (49, SizeBucket::S),
        (50, SizeBucket::M),
        (249, SizeBucket::M),
        (250, SizeBucket::L),
        (999, SizeBucket::L),
        (1000, SizeBucket::Xl),
    ];
    for &(lines, bucket) in CASES {
        assert_eq!(SizeBucket::of_lines(lines), bucket, "{lines}");
    }
}
