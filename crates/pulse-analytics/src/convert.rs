//! Pure conversions from stored rows to `pulse_metrics` input records. Ids in the metric inputs are
//! the rows' UUIDs (as strings), so every id a report names can be looked up in the data lists.

use std::collections::HashMap;

use pulse_db::entity::{
    deployments, incidents, issue_transitions, issues, pr_reviews, pull_requests, sprint_issues,
    sprints,
};
use pulse_metrics::dora::{Change, Deployment, DeploymentSource, DeploymentStatus, Incident};
use pulse_metrics::flow::{StatusCategory, Transition, WorkItem};
use pulse_metrics::pull_requests::{PullRequest, Review, ReviewState};
use pulse_metrics::sprints::{MembershipChange, MembershipEvent, Sprint, SprintIssue, SprintState};
use pulse_metrics::Timestamp;

/// A stored deployment status.
pub fn deployment_status(s: &str) -> DeploymentStatus {
    match s {
        "success" => DeploymentStatus::Success,
        "failure" => DeploymentStatus::Failure,
        "cancelled" => DeploymentStatus::Cancelled,
        "in_progress" => DeploymentStatus::InProgress,
        _ => DeploymentStatus::Unknown,
    }
}

/// A stored deployment origin.
pub fn deployment_source(origin: &str) -> DeploymentSource {
    match origin {
        "github_deployment" => DeploymentSource::GithubDeployment,
        "workflow_run" => DeploymentSource::WorkflowRun,
        "release" => DeploymentSource::Release,
        "tag" => DeploymentSource::Tag,
        "webhook" => DeploymentSource::Webhook,
        "merged_pr" => DeploymentSource::MergedPrFallback,
        _ => DeploymentSource::Manual,
    }
}

/// A deployment with the ids of the repositories it deployed.
pub fn deployment(d: &deployments::Model, repos: Vec<String>) -> Deployment {
    Deployment {
        id: d.id.to_string(),
        repos,
        environment: d.environment.clone(),
        is_production: d.is_production,
        status: deployment_status(&d.status),
        started_at: d.started_at,
        finished_at: d.finished_at,
        source: deployment_source(&d.origin),
    }
}

/// A merged pull request as a change (`None` when not merged). The shipping deployment is left
/// to `pulse_metrics::dora::link_changes_to_deployments`.
pub fn change(pr: &pull_requests::Model) -> Option<Change> {
    let merged = pr.merged_at?;
    Some(Change {
        id: pr.id.to_string(),
        repo: pr.repository_id.to_string(),
        first_commit_at: pr.first_commit_at.unwrap_or(pr.created_at),
        merged_at: Some(merged),
        deployed_by: None,
    })
}

/// An incident; an explicitly linked deployment (the incident's own, or the one a label of its
/// issue names under the metric rules' `attribution.issue_link`) is kept, any other cause is
/// inferred by `pulse_metrics::dora::attribute_incidents`.
pub fn incident(i: &incidents::Model) -> Incident {
    let linked = (i.attributed_by.as_deref() == Some("issue_link"))
        .then_some(i.caused_by_deployment_id)
        .flatten();
    Incident {
        id: i.id.to_string(),
        created_at: i.created_at,
        resolved_at: i.resolved_at,
        caused_by: None,
        explicit_deployment: i.deployment_id.or(linked).map(|d| d.to_string()),
    }
}

/// A stored review state.
pub fn review_state(s: &str) -> ReviewState {
    match s {
        "approved" => ReviewState::Approved,
        "changes_requested" => ReviewState::ChangesRequested,
        "dismissed" => ReviewState::Dismissed,
        _ => ReviewState::Commented,
    }
}

/// Who wrote a pull request, as the formulas compare it with reviewers.
fn author_key(pr: &pull_requests::Model) -> String {
    pr.author_person_id
        .map(|p| p.to_string())
        .or_else(|| pr.author_login.clone())
        .unwrap_or_default()
}

/// A review; a review by the author (same person, or same login) gets the author's key so the
/// formulas ignore it.
pub fn review(pr: &pull_requests::Model, r: &pr_reviews::Model) -> Review {
    let same_person = pr.author_person_id.is_some() && pr.author_person_id == r.reviewer_person_id;
    let same_login = pr.author_login.is_some() && pr.author_login == r.reviewer_login;
    let reviewer = if same_person || same_login {
        author_key(pr)
    } else {
        r.reviewer_person_id
            .map(|p| p.to_string())
            .or_else(|| r.reviewer_login.clone())
            .unwrap_or_else(|| format!("review:{}", r.id))
    };
    Review {
        reviewer,
        submitted_at: r.submitted_at,
        state: review_state(&r.state),
    }
}

/// A pull request with its own commit times, its reviews and when it reached production.
/// Without stored commits the derived `first_commit_at` stands in for them.
pub fn pull_request(
    pr: &pull_requests::Model,
    commit_times: &[Timestamp],
    reviews: &[pr_reviews::Model],
    deployed_at: Option<Timestamp>,
) -> PullRequest {
    let mut commits = commit_times.to_vec();
    if commits.is_empty() {
        commits.extend(pr.first_commit_at);
    }
    commits.sort();
    let mut reviews: Vec<Review> = reviews.iter().map(|r| review(pr, r)).collect();
    reviews.sort_by(|a, b| (a.submitted_at, &a.reviewer).cmp(&(b.submitted_at, &b.reviewer)));
    PullRequest {
        id: pr.id.to_string(),
        repo: pr.repository_id.to_string(),
        author: author_key(pr),
        created_at: pr.created_at,
        opened_as_draft: pr.draft,
        ready_for_review_at: pr.ready_for_review_at,
        merged_at: pr.merged_at,
        deployed_at,
        commit_times: commits,
        reviews,
        comment_count: u32::try_from(pr.comment_count.max(0)).unwrap_or(u32::MAX),
        additions: u64::try_from(pr.additions.max(0)).unwrap_or(0),
        deletions: u64::try_from(pr.deletions.max(0)).unwrap_or(0),
    }
}

/// A stored status category (`to_do`, `in_progress`, `done`); anything else is To Do.
pub fn status_category(s: &str) -> StatusCategory {
    match s {
        "in_progress" => StatusCategory::InProgress,
        "done" => StatusCategory::Done,
        _ => StatusCategory::ToDo,
    }
}

/// An issue with its transitions as a work item. Key is the row id so reports link to the data
/// lists; the tracker key is in the issue list.
pub fn work_item(issue: &issues::Model, transitions: &[&issue_transitions::Model]) -> WorkItem {
    let mut t: Vec<Transition> = transitions
        .iter()
        .map(|t| Transition {
            at: t.at,
            from_category: status_category(t.from_category.as_deref().unwrap_or("to_do")),
            to_category: status_category(&t.to_category),
            from_status: t.from_status.clone().unwrap_or_default(),
            to_status: t.to_status.clone(),
        })
        .collect();
    t.sort_by(|a, b| (a.at, &a.to_status).cmp(&(b.at, &b.to_status)));
    WorkItem {
        key: issue.id.to_string(),
        issue_type: issue.issue_type.clone(),
        standard_type: issue.standard_type.clone(),
        created_at: issue.created_at,
        resolved_at: issue.resolved_at,
        transitions: t,
        story_points: issue.story_points,
    }
}

/// A sprint; `None` when it has no start (never started). A sprint without planned end uses its
/// completion, else its start.
pub fn sprint(s: &sprints::Model) -> Option<Sprint> {
    let start = s.start_at?;
    Some(Sprint {
        id: s.id.to_string(),
        name: s.name.clone(),
        start,
        end: s.end_at.or(s.complete_at).unwrap_or(start),
        complete: s.complete_at,
        state: match s.state.as_str() {
            "active" => SprintState::Active,
            "closed" => SprintState::Closed,
            _ => SprintState::Future,
        },
    })
}

/// The issues of one sprint. An issue's completion is its resolution when it is in a done
/// category now. A membership without `added_at` counts as added at the sprint start.
pub fn sprint_issues(
    sprint: &Sprint,
    memberships: &[&sprint_issues::Model],
    issues: &HashMap<uuid::Uuid, &issues::Model>,
) -> Vec<SprintIssue> {
    let mut by_issue: Vec<(uuid::Uuid, Vec<MembershipEvent>)> = Vec::new();
    for m in memberships {
        let mut events = vec![MembershipEvent {
            at: m.added_at.unwrap_or(sprint.start),
            change: MembershipChange::Added,
        }];
        if let Some(r) = m.removed_at {
            events.push(MembershipEvent {
                at: r,
                change: MembershipChange::Removed,
            });
        }
        match by_issue.iter_mut().find(|(id, _)| *id == m.issue_id) {
            Some((_, e)) => e.extend(events),
            None => by_issue.push((m.issue_id, events)),
        }
    }
    by_issue.sort_by_key(|(id, _)| *id);
    by_issue
        .into_iter()
        .filter_map(|(id, events)| {
            let issue = issues.get(&id)?;
            Some(SprintIssue {
                key: id.to_string(),
                points: issue.story_points,
                completed_at: (issue.status_category == "done")
                    .then_some(issue.resolved_at)
                    .flatten(),
                events,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    fn at(d: u32, h: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2024, 3, d, h, 0, 0).unwrap()
    }

    fn pr() -> pull_requests::Model {
        pull_requests::Model {
            id: Uuid::from_u128(1),
            client_id: Uuid::from_u128(9),
            source: "import".into(),
            external_id: "api#1".into(),
            synced_at: at(10, 0),
            repository_id: Uuid::from_u128(2),
            number: Some(1),
            title: "t".into(),
            author_login: Some("ada".into()),
            author_person_id: Some(Uuid::from_u128(3)),
            state: "merged".into(),
            draft: false,
            created_at: at(1, 11),
            updated_at: None,
            ready_for_review_at: None,
            first_commit_at: Some(at(1, 10)),
            first_review_at: None,
            approved_at: None,
            merged_at: Some(at(4, 8)),
            closed_at: None,
            additions: 120,
            deletions: 8,
            review_count: 0,
            comment_count: 1,
            commit_count: 2,
            base_branch: None,
            head_branch: None,
            merge_commit_sha: None,
            revert_of_id: None,
            labels: None,
        }
    }

    fn review_row(login: &str, person: Option<u128>, h: u32) -> pr_reviews::Model {
        pr_reviews::Model {
            id: Uuid::from_u128(100 + u128::from(h)),
            client_id: Uuid::from_u128(9),
            source: "import".into(),
            external_id: format!("r{h}"),
            synced_at: at(10, 0),
            pull_request_id: Uuid::from_u128(1),
            reviewer_login: Some(login.into()),
            reviewer_person_id: person.map(Uuid::from_u128),
            state: "approved".into(),
            submitted_at: at(2, h),
        }
    }

    #[test]
    fn merged_pull_request_becomes_a_change() {
        let c = change(&pr()).unwrap();
        assert_eq!(c.first_commit_at, at(1, 10));
        assert_eq!(c.merged_at, Some(at(4, 8)));
        assert_eq!(c.repo, Uuid::from_u128(2).to_string());
        assert!(c.deployed_by.is_none());
        let open = pull_requests::Model {
            merged_at: None,
            ..pr()
        };
        assert!(change(&open).is_none());
    }

    #[test]
    fn self_reviews_are_recognised_by_person_or_login() {
        let p = pr();
        let by_person = review(&p, &review_row("other-login", Some(3), 9));
        let by_login = review(&p, &review_row("ada", None, 10));
        let by_other = review(&p, &review_row("grace", Some(4), 11));
        let converted = pull_request(
            &p,
            &[],
            &[by_other_row(), review_row("ada", None, 10)],
            None,
        );
        assert_eq!(by_person.reviewer, converted.author);
        assert_eq!(by_login.reviewer, converted.author);
        assert_ne!(by_other.reviewer, converted.author);
        // one foreign review survives; the commit time falls back to first_commit_at
        assert_eq!(converted.review_count(), 1);
        assert_eq!(converted.commit_times, vec![at(1, 10)]);
        assert_eq!(converted.changed_lines(), 128);
    }

    fn by_other_row() -> pr_reviews::Model {
        review_row("grace", Some(4), 11)
    }

    #[test]
    fn statuses_map_with_safe_fallbacks() {
        assert_eq!(deployment_status("success"), DeploymentStatus::Success);
        assert_eq!(deployment_status("exploded"), DeploymentStatus::Unknown);
        assert_eq!(deployment_source("release"), DeploymentSource::Release);
        assert_eq!(status_category("done"), StatusCategory::Done);
        assert_eq!(status_category("weird"), StatusCategory::ToDo);
        assert_eq!(
            review_state("changes_requested"),
            ReviewState::ChangesRequested
        );
    }

    #[test]
    fn sprint_membership_defaults_to_the_start() {
        let s = sprints::Model {
            id: Uuid::from_u128(50),
            client_id: Uuid::from_u128(9),
            source: "import".into(),
            external_id: "s".into(),
            synced_at: at(10, 0),
            board_id: None,
            name: "S".into(),
            state: "closed".into(),
            start_at: Some(at(4, 8)),
            end_at: Some(at(15, 17)),
            complete_at: Some(at(15, 16)),
        };
        let sprint = sprint(&s).unwrap();
        assert_eq!(sprint.close(), at(15, 16));
        let issue = issues::Model {
            id: Uuid::from_u128(60),
            client_id: Uuid::from_u128(9),
            source: "import".into(),
            external_id: "10001".into(),
            synced_at: at(10, 0),
            key: "PAY-1".into(),
            project_key: Some("PAY".into()),
            title: "t".into(),
            issue_type: "Story".into(),
            standard_type: "story".into(),
            status: "Done".into(),
            status_category: "done".into(),
            priority: None,
            created_at: at(1, 9),
            updated_at: None,
            resolved_at: Some(at(4, 10)),
            story_points: Some(5.0),
            parent_id: None,
            epic_id: None,
            assignee_account: None,
            assignee_person_id: None,
            labels: None,
        };
        let m = sprint_issues::Model {
            id: Uuid::from_u128(70),
            client_id: Uuid::from_u128(9),
            sprint_id: s.id,
            issue_id: issue.id,
            added_at: None,
            removed_at: None,
        };
        let map = HashMap::from([(issue.id, &issue)]);
        let converted = sprint_issues(&sprint, &[&m], &map);
        assert_eq!(converted.len(), 1);
        assert!(converted[0].in_sprint_at(sprint.start));
        assert_eq!(converted[0].completed_at, Some(at(4, 10)));
        let report = pulse_metrics::sprints::analyze_sprint(&sprint, &converted);
        assert_eq!(report.planning_accuracy_issues, Some(1.0));
    }
}
