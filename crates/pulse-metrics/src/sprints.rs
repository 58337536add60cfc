//! Sprint metrics: commitment, scope change, completion, carry-over,
//! velocity and planning accuracy.
//!
//! Membership of an issue in a sprint is replayed from its
//! [`MembershipEvent`]s: the issue is in the sprint at `t` when its latest
//! event at or before `t` is [`MembershipChange::Added`].
//!
//! * **Committed**: issues in the sprint at its start instant (added at or
//!   before `start`).
//! * **Close instant**: `complete` (actual completion) if set, else `end`
//!   (planned end; used for active sprints).
//! * **Added after start**: issues not committed that were added in
//!   `(start, close]`.
//! * **Removed after start**: issues with a removal in `(start, close]` that
//!   are not in the sprint at close.
//! * **Completed**: issues in the sprint at close with `completed_at <= close`.
//! * **Carry-over**: issues in the sprint at close that are not completed.
//! * **Velocity**: points and issues completed.
//! * **Planning accuracy**: committed issues that were completed divided by
//!   committed issues (also by points); `None` when nothing was committed.
//!   Scope added after start does not raise planning accuracy.
//!
//! Unestimated issues count 0 points.

use crate::stats::{ratio, Distribution};
use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// Sprint state as reported by the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SprintState {
    /// Not started.
    Future,
    /// Running.
    Active,
    /// Completed.
    Closed,
}

/// A sprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sprint {
    /// Unique id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// When the sprint started.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    /// Planned end.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub end: Timestamp,
    /// When the sprint was actually completed, if it was.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub complete: Option<Timestamp>,
    /// State.
    pub state: SprintState,
}

impl Sprint {
    /// The close instant: `complete` if set, else the planned `end`.
    pub fn close(&self) -> Timestamp {
        self.complete.unwrap_or(self.end)
    }
}

/// Whether an issue entered or left the sprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MembershipChange {
    /// Added to the sprint.
    Added,
    /// Removed from the sprint.
    Removed,
}

/// One change of an issue's sprint membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MembershipEvent {
    /// When it happened.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    /// Added or removed.
    pub change: MembershipChange,
}

/// An issue that was in the sprint at some point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SprintIssue {
    /// Issue key.
    pub key: String,
    /// Story points (`None`: unestimated, counts 0).
    pub points: Option<f64>,
    /// When the issue was completed (reached Done), if it was.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub completed_at: Option<Timestamp>,
    /// Membership changes for this sprint, in any order.
    pub events: Vec<MembershipEvent>,
}

impl SprintIssue {
    /// Whether the issue is in the sprint at `t` (latest event at or before `t`
    /// is an addition; events at the same instant apply in input order).
    pub fn in_sprint_at(&self, t: Timestamp) -> bool {
        let mut events: Vec<&MembershipEvent> = self.events.iter().filter(|e| e.at <= t).collect();
        events.sort_by_key(|e| e.at);
        events
            .last()
            .is_some_and(|e| e.change == MembershipChange::Added)
    }

    fn changed_within(&self, change: MembershipChange, from: Timestamp, to: Timestamp) -> bool {
        self.events
            .iter()
            .any(|e| e.change == change && e.at > from && e.at <= to)
    }

    fn points(&self) -> f64 {
        self.points.unwrap_or(0.0)
    }
}

/// A number of issues and their points.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tally {
    /// Number of issues.
    pub issues: usize,
    /// Sum of their points.
    pub points: f64,
}

impl Tally {
    fn of<'a>(issues: impl Iterator<Item = &'a SprintIssue>) -> Self {
        issues.fold(Tally::default(), |t, i| Tally {
            issues: t.issues + 1,
            points: t.points + i.points(),
        })
    }
}

/// Metrics of one sprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SprintReport {
    /// Sprint id.
    pub sprint_id: String,
    /// In the sprint at start.
    pub committed: Tally,
    /// Added after start.
    pub added: Tally,
    /// Removed after start.
    pub removed: Tally,
    /// Completed by close (velocity: `completed.points`, `completed.issues`).
    pub completed: Tally,
    /// Committed issues completed by close.
    pub completed_committed: Tally,
    /// Incomplete at close (carried over).
    pub carry_over: Tally,
    /// `completed_committed.issues / committed.issues`.
    pub planning_accuracy_issues: Option<f64>,
    /// `completed_committed.points / committed.points`.
    pub planning_accuracy_points: Option<f64>,
}

/// Computes the metrics of one sprint (see the module docs for definitions).
pub fn analyze_sprint(sprint: &Sprint, issues: &[SprintIssue]) -> SprintReport {
    let (start, close) = (sprint.start, sprint.close());
    let is_done = |i: &SprintIssue| i.completed_at.is_some_and(|c| c <= close);
    let committed: Vec<&SprintIssue> = issues.iter().filter(|i| i.in_sprint_at(start)).collect();
    let at_close: Vec<&SprintIssue> = issues.iter().filter(|i| i.in_sprint_at(close)).collect();
    let committed_tally = Tally::of(committed.iter().copied());
    let completed_committed = Tally::of(
        committed
            .iter()
            .copied()
            .filter(|i| i.in_sprint_at(close) && is_done(i)),
    );
    SprintReport {
        sprint_id: sprint.id.clone(),
        committed: committed_tally,
        added: Tally::of(issues.iter().filter(|i| {
            !i.in_sprint_at(start) && i.changed_within(MembershipChange::Added, start, close)
        })),
        removed: Tally::of(issues.iter().filter(|i| {
            !i.in_sprint_at(close) && i.changed_within(MembershipChange::Removed, start, close)
        })),
        completed: Tally::of(at_close.iter().copied().filter(|i| is_done(i))),
        completed_committed,
        carry_over: Tally::of(at_close.iter().copied().filter(|i| !is_done(i))),
        planning_accuracy_issues: ratio(completed_committed.issues, committed_tally.issues),
        planning_accuracy_points: (committed_tally.points > 0.0)
            .then(|| completed_committed.points / committed_tally.points),
    }
}

/// Velocity over several sprints: distribution of completed points per sprint.
pub fn velocity(reports: &[SprintReport]) -> Option<Distribution> {
    Distribution::from_values(
        &reports
            .iter()
            .map(|r| r.completed.points)
            .collect::<Vec<_>>(),
    )
}
