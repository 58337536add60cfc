//! Portfolio roll-ups, hand-computed.

use pulse_metrics::rollup::{rollup, TeamItem};
use pulse_metrics::MetricsError;
use std::collections::BTreeMap;

/// org ─┬─ platform ─┬─ infra
///      │            └─ sre
///      └─ product
const TEAMS: &[(&str, Option<&str>)] = &[
    ("org", None),
    ("platform", Some("org")),
    ("product", Some("org")),
    ("infra", Some("platform")),
    ("sre", Some("platform")),
];

/// (team, item, value): pr1 belongs to two sub-teams of platform.
const ITEMS: &[(&str, &str, f64)] = &[
    ("infra", "pr1", 10.0),
    ("sre", "pr1", 10.0),
    ("sre", "pr2", 20.0),
    ("product", "pr3", 30.0),
    ("platform", "pr4", 40.0),
];

fn hierarchy(teams: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
    teams
        .iter()
        .map(|(t, p)| (t.to_string(), p.map(String::from)))
        .collect()
}

fn items(rows: &[(&str, &str, f64)]) -> Vec<TeamItem> {
    rows.iter()
        .map(|&(team, item, value)| TeamItem {
            team_id: team.into(),
            item_id: item.into(),
            value,
        })
        .collect()
}

#[test]
fn rolls_up_without_double_counting() {
    let r = rollup(&hierarchy(TEAMS), &items(ITEMS)).expect("valid");
    // (team, distinct items, sum)
    const EXPECTED: &[(&str, &[&str], f64)] = &[
        ("infra", &["pr1"], 10.0),
        ("sre", &["pr1", "pr2"], 30.0),
        ("platform", &["pr1", "pr2", "pr4"], 70.0), // pr1 once, not 80
        ("product", &["pr3"], 30.0),
        ("org", &["pr1", "pr2", "pr3", "pr4"], 100.0),
    ];
    for &(team, ids, sum) in EXPECTED {
        let t = &r[team];
        assert_eq!(t.item_ids, ids, "{team}");
        assert_eq!((t.count, t.sum), (ids.len(), sum), "{team}");
    }
    // org median over 10, 20, 30, 40 = 25
    assert_eq!(r["org"].distribution.expect("values").median, 25.0);
}

#[test]
fn rejects_unknown_teams_and_cycles() {
    let unknown = rollup(&hierarchy(TEAMS), &items(&[("nobody", "x", 1.0)]));
    assert_eq!(unknown, Err(MetricsError::UnknownTeam("nobody".into())));
    let cyclic = hierarchy(&[("a", Some("b")), ("b", Some("a"))]);
    assert!(matches!(
        rollup(&cyclic, &[]),
        Err(MetricsError::HierarchyCycle(_))
    ));
    let dangling = hierarchy(&[("a", Some("ghost"))]);
    assert_eq!(
        rollup(&dangling, &[]),
        Err(MetricsError::UnknownTeam("ghost".into()))
    );
}
