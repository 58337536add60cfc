//! Reading an item's category history.

use super::model::{StatusCategory, Transition, WorkItem};
use crate::Timestamp;

/// Transitions sorted by time (stable for equal times).
fn sorted(item: &WorkItem) -> Vec<&Transition> {
    let mut t: Vec<&Transition> = item.transitions.iter().collect();
    t.sort_by_key(|t| t.at);
    t
}

/// Category at creation: the `from_category` of the first transition, else To Do.
fn initial(transitions: &[&Transition]) -> StatusCategory {
    transitions
        .first()
        .map_or(StatusCategory::ToDo, |t| t.from_category)
}

/// The item's category as of `t` (transitions strictly before `t`), or `None`
/// when the item did not exist yet. An item without transitions is To Do
/// until its `resolved_at`, then Done.
pub fn category_as_of(item: &WorkItem, t: Timestamp) -> Option<StatusCategory> {
    if item.created_at >= t {
        return None;
    }
    let transitions = sorted(item);
    if transitions.is_empty() {
        return Some(match item.resolved_at {
            Some(r) if r < t => StatusCategory::Done,
            _ => StatusCategory::ToDo,
        });
    }
    Some(
        transitions
            .iter()
            .take_while(|tr| tr.at < t)
            .last()
            .map_or(initial(&transitions), |tr| tr.to_category),
    )
}

/// When the item was done, or `None` if it is not done now.
///
/// The done time is the start of the item's **final** stay in the Done
/// category: the last entry into Done that is not followed by leaving Done.
/// An item that went Done → In Progress (re-opened) → Done is done at the
/// second entry; an item re-opened and not done again is not done. Moves
/// between two Done statuses (e.g. Resolved → Closed) do not change the done
/// time. Without transitions, `resolved_at` is used; an item created directly
/// in Done and never moved is done at `created_at`.
pub fn done_at(item: &WorkItem) -> Option<Timestamp> {
    let transitions = sorted(item);
    if transitions.is_empty() {
        return item.resolved_at;
    }
    let mut category = initial(&transitions);
    let mut entered_done = (category == StatusCategory::Done).then_some(item.created_at);
    for tr in &transitions {
        if tr.to_category == StatusCategory::Done && category != StatusCategory::Done {
            entered_done = Some(tr.at);
        }
        category = tr.to_category;
    }
    entered_done.filter(|_| category == StatusCategory::Done)
}

/// When work started: the first entry into In Progress (`created_at` if the
/// item was created in progress), or `None` if it never was in progress.
pub fn started_at(item: &WorkItem) -> Option<Timestamp> {
    let transitions = sorted(item);
    if initial(&transitions) == StatusCategory::InProgress {
        return Some(item.created_at);
    }
    transitions
        .iter()
        .find(|tr| tr.to_category == StatusCategory::InProgress)
        .map(|tr| tr.at)
}

/// Whether the item ever left Done after reaching it.
pub fn was_reopened(item: &WorkItem) -> bool {
    let transitions = sorted(item);
    let mut category = initial(&transitions);
    for tr in &transitions {
        if category == StatusCategory::Done && tr.to_category != StatusCategory::Done {
            return true;
        }
        category = tr.to_category;
    }
    false
}
