//! Sprint metrics, hand-computed.

mod common;

use common::*;
use pulse_metrics::sprints::*;

/// Columns: key points(| -) completed(date time | -) then membership events
/// as `+date time` (added) / `-date time` (removed), written as `+2024-03-01 09:00`.
const ISSUES: &str = "
S1  3  2024-03-08 12:00  +2024-03-01 09:00                     # committed, completed
S2  5  -                 +2024-03-01 09:00                     # committed, carried over
S3  2  2024-03-12 12:00  +2024-03-06 09:00                     # added after start, completed
S4  8  -                 +2024-03-01 09:00  -2024-03-07 09:00  # committed, removed
S5  1  2024-03-15 17:30  +2024-03-04 09:00                     # added AT start: committed; done after planned end, before completion
S6  3  -                 +2024-03-10 09:00  -2024-03-11 09:00  # added and removed after start
S7  -  -                 +2024-03-05 09:00                     # added after start, unestimated, carried over
S8  2  2024-03-16 10:00  +2024-03-01 09:00                     # committed, completed after the sprint closed
";

fn issues() -> Vec<SprintIssue> {
    rows(ISSUES)
        .into_iter()
        .map(|r| {
            let completed = opt_ts(&r[2..]);
            let first_event = if completed.is_some() { 4 } else { 3 };
            let events = r[first_event..]
                .chunks(2)
                .map(|c| MembershipEvent {
                    at: ts(&format!("{} {}", &c[0][1..], c[1])),
                    change: if c[0].starts_with('+') {
                        MembershipChange::Added
                    } else {
                        MembershipChange::Removed
                    },
                })
                .collect();
            SprintIssue {
                key: r[0].into(),
                points: opt(r[1]).map(|p| p.parse().expect("points")),
                completed_at: completed,
                events,
            }
        })
        .collect()
}

fn sprint() -> Sprint {
    Sprint {
        id: "sp1".into(),
        name: "Sprint 1".into(),
        start: ts("2024-03-04 09:00"),
        end: ts("2024-03-15 17:00"),
        complete: Some(ts("2024-03-15 18:00")),
        state: SprintState::Closed,
    }
}

#[test]
fn sprint_with_scope_changes() {
    let r = analyze_sprint(&sprint(), &issues());
    // (name, tally, expected issues, expected points)
    let cases = [
        (
            "committed: S1 3, S2 5, S4 8, S5 1, S8 2",
            r.committed,
            5,
            19.0,
        ),
        ("added after start: S3 2, S6 3, S7 0", r.added, 3, 5.0),
        ("removed after start: S4 8, S6 3", r.removed, 2, 11.0),
        ("completed by close: S1 3, S3 2, S5 1", r.completed, 3, 6.0),
        (
            "committed and completed: S1 3, S5 1",
            r.completed_committed,
            2,
            4.0,
        ),
        ("carry-over: S2 5, S7 0, S8 2", r.carry_over, 3, 7.0),
    ];
    for (name, tally, issues, points) in cases {
        assert_eq!(tally.issues, issues, "{name}");
        approx(tally.points, points, name);
    }
    // Planning accuracy: 2 of 5 committed issues, 4 of 19 committed points.
    assert_eq!(r.planning_accuracy_issues, Some(0.4));
    approx(
        r.planning_accuracy_points.expect("points"),
        4.0 / 19.0,
        "accuracy by points",
    );
}

#[test]
fn active_sprint_uses_planned_end_and_empty_sprint_has_no_accuracy() {
    let mut active = sprint();
    active.complete = None;
    active.state = SprintState::Active;
    // Close = planned end 03-15 17:00: S5 (done 17:30) is not completed yet.
    let r = analyze_sprint(&active, &issues());
    assert_eq!(r.completed.issues, 2);
    let empty = analyze_sprint(&sprint(), &[]);
    assert_eq!(
        (
            empty.planning_accuracy_issues,
            empty.planning_accuracy_points
        ),
        (None, None)
    );
}

#[test]
fn velocity_over_sprints() {
    let r = analyze_sprint(&sprint(), &issues());
    let v = velocity(&[r.clone(), r]).expect("velocity");
    assert_eq!((v.count, v.median), (2, 6.0));
}
