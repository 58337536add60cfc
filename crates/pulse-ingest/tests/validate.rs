//! The pure validation pass: every problem of a file, with its line number, and no IO.

use pulse_ingest::record::{Kind, Record};
use pulse_ingest::validate::{check, parse_line};

const EXAMPLE: &str = include_str!("../../../docs/examples/import.jsonl");

fn fields(text: &str) -> Vec<String> {
    check(text.as_bytes())
        .problems
        .into_iter()
        .map(|p| p.field)
        .collect()
}

#[test]
fn the_documented_example_is_valid_and_self_contained() {
    let checked = check(EXAMPLE.as_bytes());
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    assert!(
        checked.external_refs.is_empty(),
        "{:?}",
        checked.external_refs
    );
    assert_eq!(checked.counts["team"], 3);
    assert_eq!(checked.counts["pull_request"], 5);
    assert_eq!(checked.counts["deployment"], 5);
    assert_eq!(checked.counts.values().sum::<u64>(), 43);
}

#[test]
fn every_bad_line_is_reported_with_its_number_and_field() {
    let file = [
        r#"{"type":"repository","id":"api","full_name":"acme/api"}"#,
        r#"{"type":"repository","id":"api","full_name":"acme/api-again"}"#,
        r#"{"type":"pull_request","id":"p1","repository":"api","title":"x","state":"merged","created_at":"2024-03-01T10:00:00Z"}"#,
        r#"{"type":"pull_request","id":"p2","repository":"nope","title":"x","state":"open","created_at":"yesterday"}"#,
        r#"{"type":"commit","id":"c1","repository":"api","sha":"abc","authored_at":"2024-03-01T10:00:00Z","additions":-3}"#,
        r#"{"type":"deployment","id":"d1","environment":"prod","status":"exploded","origin":"manual","started_at":"2024-03-01T10:00:00Z","repositories":[]}"#,
        r#"{"type":"issue","id":"i1","key":"PAY-1","title":"t","issue_type":"Story","standard_type":"story","status":"Done","status_category":"done","created_at":"2024-03-01T10:00:00Z","story_points":-1}"#,
        r#"{"type":"sprint","id":"s1","name":"S1","state":"closed","colour":"red"}"#,
        r#"{"type":"widget","id":"w"}"#,
        r#"{"type":"team","id":"a","name":"A","parent":"b"}"#,
        r#"{"type":"team","id":"b","name":"B","parent":"a"}"#,
        r#"{"type":"review","id":"r1","state":"approved","submitted_at":"2024-03-01T10:00:00Z"}"#,
        r#"{"type":"deployment","id":"d2","environment":"prod","status":"success","origin":"manual","started_at":"2024-03-01T10:00:00Z","repositories":[{"commit_sha":"abc"}]}"#,
        "",
        "not json",
        r#"["a","list"]"#,
        r#"{"type":"commit","id":"c2","repository":"nope","sha":"abc","authored_at":"2024-03-01T10:00:00Z"}"#,
    ]
    .join("\n");
    let checked = check(file.as_bytes());
    let got: Vec<String> = checked.problems.iter().map(|p| p.field.clone()).collect();
    let expected = [
        "line 2: id",
        "line 3: merged_at",
        "line 4: created_at",
        "line 5: additions",
        "line 6: status",
        "line 7: story_points",
        "line 8: colour",
        "line 9: type",
        "line 10: parent",
        "line 11: parent",
        "line 12: pull_request",
        "line 13: repositories[0].repository",
        "line 15",
        "line 16",
    ];
    assert_eq!(got, expected, "{:#?}", checked.problems);
    let message = |line: &str| {
        checked
            .problems
            .iter()
            .find(|p| p.field == line)
            .map(|p| p.message.clone())
            .unwrap_or_default()
    };
    assert!(message("line 2: id").contains("line 1"));
    assert!(message("line 4: created_at").contains("RFC 3339"));
    assert!(message("line 6: status").contains("exploded"));
    assert!(message("line 9: type").contains("widget"));
    assert!(message("line 15").contains("invalid JSON"));
    // Line 17's repository is not in the file: the database must have it.
    let external: Vec<(usize, &str, Kind)> = checked
        .external_refs
        .iter()
        .map(|r| (r.line, r.id.as_str(), r.kind))
        .collect();
    assert_eq!(external, vec![(17, "nope", Kind::Repository)]);
}

#[test]
fn a_deployment_without_repositories_and_a_bad_email_are_refused() {
    let got = fields(concat!(
        r#"{"type":"deployment","id":"d1","environment":"prod","status":"success","origin":"manual","started_at":"2024-03-01T10:00:00Z","repositories":[]}"#,
        "\n",
        r#"{"type":"person","id":"p","name":"P","email":"not-an-email","accounts":[{"provider":"github","login":"x"},{"provider":"github","login":"X"}]}"#,
    ));
    assert_eq!(
        got,
        [
            "line 1: repositories",
            "line 2: email",
            "line 2: accounts[1]"
        ]
    );
}

#[test]
fn references_are_resolved_within_the_same_source() {
    let file = concat!(
        r#"{"type":"repository","id":"api","source":"github","full_name":"acme/api"}"#,
        "\n",
        r#"{"type":"pull_request","id":"p1","repository":"api","title":"x","state":"open","created_at":"2024-03-01T10:00:00+01:00"}"#,
        "\n",
        r#"{"type":"pull_request","id":"p1","source":"github","repository":"api","title":"x","state":"open","created_at":"2024-03-01T10:00:00Z"}"#,
    );
    let checked = check(file.as_bytes());
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    assert_eq!(checked.external_refs.len(), 1);
    assert_eq!(checked.external_refs[0].line, 2);
    assert_eq!(checked.external_refs[0].source, "import");
}

#[test]
fn records_round_trip_through_their_json_form() {
    for line in EXAMPLE.lines() {
        let record = parse_line(line).unwrap();
        let written = serde_json::to_string(&record).unwrap();
        assert_eq!(parse_line(&written).unwrap(), record, "{line}");
        let tagged: Record = serde_json::from_str(&written).unwrap();
        assert_eq!(tagged, record);
    }
}

#[test]
fn timestamps_with_offsets_are_stored_in_utc() {
    let Record::PullRequest(pr) = parse_line(
        r#"{"type":"pull_request","id":"p","repository":"r","title":"t","state":"open","created_at":"2024-03-01T10:00:00+02:00"}"#,
    )
    .unwrap() else {
        panic!("a pull request")
    };
    assert_eq!(pr.created_at.0.to_rfc3339(), "2024-03-01T08:00:00+00:00");
    let err = parse_line(
        r#"{"type":"pull_request","id":"p","repository":"r","title":"t","state":"open","created_at":"2024-03-01 10:00:00"}"#,
    )
    .unwrap_err();
    assert_eq!(err.0, "created_at");
}

#[test]
fn an_empty_file_has_no_records() {
    let checked = check("\n\n".as_bytes());
    assert!(checked.problems.is_empty());
    assert!(checked.counts.is_empty());
}
