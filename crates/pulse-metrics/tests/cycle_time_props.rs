//! Property: for arbitrary timestamps the four cycle-time stages are never
//! negative and add up exactly to the total.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use pulse_metrics::pull_requests::{cycle_time, PullRequest, Review, ReviewState};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0)
        .single()
        .expect("valid")
}

/// Offsets within roughly ±3 years, at second resolution.
fn offset() -> impl Strategy<Value = i64> {
    -100_000_000i64..100_000_000
}

prop_compose! {
    fn pull_request()(
        commits in prop::collection::vec(offset(), 0..5),
        created in offset(),
        draft in any::<bool>(),
        ready in prop::option::of(offset()),
        reviews in prop::collection::vec((any::<bool>(), offset()), 0..4),
        merged in offset(),
        deployed in prop::option::of(offset()),
    ) -> PullRequest {
        PullRequest {
            id: "p".into(),
            repo: "r".into(),
            author: "ann".into(),
            created_at: at(created),
            opened_as_draft: draft,
            ready_for_review_at: ready.map(at),
            merged_at: Some(at(merged)),
            deployed_at: deployed.map(at),
            commit_times: commits.into_iter().map(at).collect(),
            reviews: reviews
                .into_iter()
                .map(|(own, t)| Review {
                    reviewer: if own { "ann".into() } else { "bob".into() },
                    submitted_at: at(t),
                    state: ReviewState::Commented,
                })
                .collect(),
            comment_count: 0,
            additions: 0,
            deletions: 0,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn stages_sum_to_total_and_are_non_negative(pr in pull_request()) {
        let c = cycle_time(&pr).expect("merged");
        for stage in [c.coding_secs, c.pickup_secs, c.review_secs, c.deploy_secs, c.total_secs] {
            prop_assert!(stage >= 0, "negative stage in {c:?}");
        }
        prop_assert_eq!(c.coding_secs + c.pickup_secs + c.review_secs + c.deploy_secs, c.total_secs);
    }

    #[test]
    fn total_is_first_commit_to_end_when_the_end_is_latest(pr in pull_request()) {
        let c = cycle_time(&pr).expect("merged");
        let start = pr.commit_times.iter().min().copied().unwrap_or(pr.created_at);
        let end = pr.deployed_at.unwrap_or(pr.merged_at.expect("merged"));
        let latest_other = [Some(start), Some(pr.created_at), pr.merged_at, pr.ready_for_review_at]
            .into_iter()
            .flatten()
            .chain(pr.reviews.iter().map(|r| r.submitted_at))
            .max()
            .expect("non-empty");
        if end >= latest_other {
            prop_assert_eq!(c.total_secs, (end - start).num_seconds());
        }
    }
}
