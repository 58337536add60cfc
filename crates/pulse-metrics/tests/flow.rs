//! Work-item flow metrics, hand-computed.

mod common;

use common::*;
use pulse_metrics::flow::*;
use pulse_metrics::time::Granularity;

/// Columns: key created(date time) resolved(date time | -) points(| -)
const ITEMS: &str = "
A  2024-03-04 09:00  -                 3
B  2024-03-04 09:00  -                 5   # re-opened once, done again
C  2024-03-04 10:00  -                 -   # re-opened, still in progress
D  2024-03-05 09:00  -                 1   # To Do -> Done, never in progress
E  2024-03-06 09:00  -                 2   # Resolved -> Closed inside Done
F  2024-03-01 09:00  2024-03-09 09:00  -   # no transitions, resolution date only
G  2024-03-10 09:00  -                 -   # in progress since 03-14
H  2024-03-15 09:00  -                 -   # to do
I  2024-03-02 09:00  -                 8   # created directly in progress
";

/// Columns: key at(date time) from(category:status) to(category:status)
const TRANSITIONS: &str = "
A  2024-03-05 09:00  todo:Open         wip:Doing
A  2024-03-07 09:00  wip:Doing         done:Closed
B  2024-03-04 12:00  todo:Open         wip:Doing
B  2024-03-06 12:00  wip:Doing         done:Closed
B  2024-03-08 10:00  done:Closed       wip:Doing      # re-opened
B  2024-03-11 10:00  wip:Doing         done:Closed    # the done time
C  2024-03-05 10:00  todo:Open         wip:Doing
C  2024-03-06 10:00  wip:Doing         done:Closed
C  2024-03-12 10:00  done:Closed       wip:Review     # re-opened
D  2024-03-08 09:00  todo:Open         done:Closed
E  2024-03-06 10:00  todo:Open         wip:Doing
E  2024-03-13 10:00  wip:Doing         done:Resolved  # the done time
E  2024-03-14 10:00  done:Resolved     done:Closed    # stays done
G  2024-03-14 12:00  todo:Open         wip:Doing
I  2024-03-05 09:00  wip:Doing         done:Closed
";

fn category(cell: &str) -> (StatusCategory, String) {
    let (cat, status) = cell.split_once(':').expect("category:status");
    let c = match cat {
        "todo" => StatusCategory::ToDo,
        "wip" => StatusCategory::InProgress,
        "done" => StatusCategory::Done,
        other => panic!("category {other}"),
    };
    (c, status.to_owned())
}

fn items() -> Vec<WorkItem> {
    let transitions = rows(TRANSITIONS);
    rows(ITEMS)
        .into_iter()
        .map(|r| {
            let resolved = opt_ts(&r[3..]);
            let points = if resolved.is_some() { r[5] } else { r[4] };
            WorkItem {
                key: r[0].into(),
                issue_type: "Story".into(),
                standard_type: "REQUIREMENT".into(),
                created_at: ts(&format!("{} {}", r[1], r[2])),
                resolved_at: resolved,
                story_points: opt(points).map(|p| p.parse().expect("points")),
                transitions: transitions
                    .iter()
                    .filter(|t| t[0] == r[0])
                    .map(|t| {
                        let (from_category, from_status) = category(t[3]);
                        let (to_category, to_status) = category(t[4]);
                        Transition {
                            at: ts(&format!("{} {}", t[1], t[2])),
                            from_category,
                            to_category,
                            from_status,
                            to_status,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

fn item(key: &str) -> WorkItem {
    items().into_iter().find(|i| i.key == key).expect("item")
}

#[test]
fn done_and_start_times() {
    // (key, done at, started at)
    const CASES: &[(&str, Option<&str>, Option<&str>)] = &[
        ("A", Some("2024-03-07 09:00"), Some("2024-03-05 09:00")),
        ("B", Some("2024-03-11 10:00"), Some("2024-03-04 12:00")), // last entry into Done
        ("C", None, Some("2024-03-05 10:00")),                     // re-opened: not done
        ("D", Some("2024-03-08 09:00"), None),                     // never in progress
        ("E", Some("2024-03-13 10:00"), Some("2024-03-06 10:00")), // Resolved -> Closed keeps 03-13
        ("F", Some("2024-03-09 09:00"), None),                     // resolution date
        ("I", Some("2024-03-05 09:00"), Some("2024-03-02 09:00")), // created in progress
    ];
    for &(key, done, started) in CASES {
        let i = item(key);
        assert_eq!(done_at(&i), done.map(ts), "{key} done");
        assert_eq!(started_at(&i), started.map(ts), "{key} started");
    }
    assert!(was_reopened(&item("B")));
    assert!(!was_reopened(&item("E")));
}

#[test]
fn flow_report_two_weeks() {
    let s = spec("2024-03-04", "2024-03-17", Granularity::Week, "UTC");
    let r = flow_report(&items(), &s);
    // Completed in range: I (03-05), A (03-07), D (03-08), F (03-09), B (03-11), E (03-13).
    assert_eq!(r.completed, 6);
    // Lead times (h): I 72, A 72, D 72, F 192, B 169, E 169 -> median (72 + 169) / 2
    approx(
        r.lead_time.expect("lead").median,
        120.5 * HOUR,
        "lead median",
    );
    // Cycle times (h): I 72, A 48, B 166 (from the FIRST start 03-04 12:00), E 168;
    // D and F were never in progress. Median (72 + 166) / 2 = 119.
    let cycle = r.cycle_time.expect("cycle");
    assert_eq!(cycle.count, 4);
    approx(cycle.median, 119.0 * HOUR, "cycle median");
    assert_eq!((r.completed_without_start, r.reopened), (2, 1));
    // Throughput: week 1 I, A, D, F (8 + 3 + 1 + 0 points); week 2 B, E (5 + 2).
    let tp: Vec<(u64, f64)> = r
        .throughput
        .iter()
        .map(|p| (p.value.items, p.value.points))
        .collect();
    assert_eq!(tp, vec![(4, 12.0), (2, 7.0)]);
    // CFD at 03-11 00:00: G to do; B (re-opened 03-08) and E in progress; A, C, D, F, I done.
    // CFD at 03-18 00:00: H to do; C and G in progress; A, B, D, E, F, I done.
    let cfd: Vec<CategoryCounts> = r.cumulative_flow.iter().map(|p| p.value).collect();
    assert_eq!(
        cfd,
        vec![
            CategoryCounts {
                to_do: 1,
                in_progress: 2,
                done: 5
            },
            CategoryCounts {
                to_do: 1,
                in_progress: 2,
                done: 6
            },
        ]
    );
    // Ageing at 03-18 00:00: C since 03-05 10:00 = 302h; G since 03-14 12:00 = 84h.
    assert_eq!(r.wip_at_end, 2);
    let aging: Vec<(&str, Option<&str>, i64)> = r
        .aging_wip
        .iter()
        .map(|a| (a.key.as_str(), a.status.as_deref(), a.age_secs / 3600))
        .collect();
    assert_eq!(
        aging,
        vec![("C", Some("Review"), 302), ("G", Some("Doing"), 84)]
    );
}

#[test]
fn wip_at_a_point() {
    // As of 03-07 00:00: A and E in progress; B, C, I done; D, F to do; G, H not created.
    assert_eq!(wip_at(&items(), ts("2024-03-07 00:00")), 2);
    // A transition exactly at t is not yet applied: A moves to Done at 03-07 09:00.
    assert_eq!(
        category_as_of(&item("A"), ts("2024-03-07 09:00")),
        Some(StatusCategory::InProgress)
    );
    assert_eq!(category_as_of(&item("H"), ts("2024-03-07 09:00")), None);
}
