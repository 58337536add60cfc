//! The OpenAPI document, pinned: any change to the API's published shape shows up as a diff of
//! `tests/snapshots/openapi.json` in review. Regenerate it after an intended change with
//!
//! ```sh
//! UPDATE_SNAPSHOTS=1 cargo test -p pulse-api --test openapi_snapshot
//! ```
//!
//! Besides the snapshot, the document's invariants are checked: OpenAPI 3.1, a tag and a response
//! on every operation, unique operation ids, resolvable `$ref`s, and a declared 401 on every
//! authenticated operation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Operations anyone may call without a credential (method, path relative to `/api/v1`). They need
/// not declare 401. `POST /auth/validate` is deliberately not here: it requires a credential (its
/// handler takes `Viewer`) and declares 401.
const PUBLIC_OPERATIONS: &[(&str, &str)] = &[
    ("post", "/auth/login"),
    ("post", "/auth/refresh"),
    ("get", "/health"),
];

/// Operations that take a credential but may omit 401 from their description. Empty: the spec
/// generator marks every non-public operation with the security schemes and a 401 answer.
const MISSING_401: &[(&str, &str)] = &[];

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json")
}

fn spec_json() -> Value {
    serde_json::to_value(pulse_api::app::openapi()).expect("the spec serializes")
}

/// Every operation as (method, path, operation object).
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let paths = spec["paths"].as_object().expect("paths is an object");
    let mut ops = Vec::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for (method, op) in item {
            if METHODS.contains(&method.as_str()) {
                ops.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

/// A compact report of where two texts differ: the first differing region after removing the
/// common leading and trailing lines, at most `max` lines of each side.
fn line_diff(expected: &str, actual: &str, max: usize) -> String {
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let removed = &old[prefix..old.len() - suffix];
    let added = &new[prefix..new.len() - suffix];
    let mut out = format!(
        "@@ line {} (committed: {} lines, generated: {} lines) @@\n",
        prefix + 1,
        old.len(),
        new.len()
    );
    for line in removed.iter().take(max) {
        out.push_str(&format!("- {line}\n"));
    }
    if removed.len() > max {
        out.push_str(&format!("- ... {} more\n", removed.len() - max));
    }
    for line in added.iter().take(max) {
        out.push_str(&format!("+ {line}\n"));
    }
    if added.len() > max {
        out.push_str(&format!("+ ... {} more\n", added.len() - max));
    }
    out
}

#[test]
fn openapi_matches_the_committed_snapshot() {
    let generated =
        serde_json::to_string_pretty(&pulse_api::app::openapi()).expect("serialize") + "\n";
    let path = snapshot_path();
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the snapshot {} ({e}); create it with \
             `UPDATE_SNAPSHOTS=1 cargo test -p pulse-api --test openapi_snapshot`",
            path.display()
        )
    });
    // Tolerate a checkout that turned the file's line endings into CRLF.
    let committed = committed.replace("\r\n", "\n");
    if committed != generated {
        panic!(
            "the OpenAPI document differs from {}.\n\
             If the API change is intended, review and commit the new snapshot:\n    \
             UPDATE_SNAPSHOTS=1 cargo test -p pulse-api --test openapi_snapshot\n\
             First difference (- committed, + generated):\n{}",
            path.display(),
            line_diff(&committed, &generated, 15)
        );
    }
}

#[test]
fn openapi_is_version_3_1() {
    let spec = spec_json();
    let version = spec["openapi"].as_str().expect("an `openapi` field");
    assert!(version.starts_with("3.1"), "OpenAPI version is {version}");
    assert_eq!(
        spec["servers"][0]["url"], "/api/v1",
        "paths are relative to /api/v1"
    );
    assert!(
        spec["info"]["title"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "the document has a title"
    );
}

#[test]
fn every_operation_has_a_tag_a_response_and_a_unique_id() {
    let spec = spec_json();
    let ops = operations(&spec);
    assert!(
        ops.len() >= 20,
        "expected the whole API to be documented, found {} operations",
        ops.len()
    );
    let declared_tags: BTreeSet<&str> = spec["tags"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();

    let mut untagged = Vec::new();
    let mut undeclared_tag = Vec::new();
    let mut no_response = Vec::new();
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (method, path, op) in &ops {
        let name = format!("{} {path}", method.to_uppercase());
        let tags: Vec<&str> = op["tags"]
            .as_array()
            .map(|t| t.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if tags.is_empty() {
            untagged.push(name.clone());
        }
        for tag in tags {
            if !declared_tags.contains(tag) {
                undeclared_tag.push(format!("{name} ({tag})"));
            }
        }
        if op["responses"].as_object().is_none_or(|r| r.is_empty()) {
            no_response.push(name.clone());
        }
        match op["operationId"].as_str() {
            Some(id) => ids.entry(id.to_string()).or_default().push(name),
            None => ids.entry(String::new()).or_default().push(name),
        }
    }
    assert!(
        untagged.is_empty(),
        "operations without a tag: {untagged:?}"
    );
    assert!(
        undeclared_tag.is_empty(),
        "operations whose tag is not declared in the document's `tags`: {undeclared_tag:?}"
    );
    assert!(
        no_response.is_empty(),
        "operations without a response: {no_response:?}"
    );
    let clashes: Vec<String> = ids
        .iter()
        .filter(|(id, ops)| id.is_empty() || ops.len() > 1)
        .map(|(id, ops)| format!("{id:?}: {ops:?}"))
        .collect();
    assert!(
        clashes.is_empty(),
        "operation ids must be present and unique (client generators need them): {clashes:?}"
    );
}

#[test]
fn every_reference_resolves() {
    let spec = spec_json();
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(&spec, &mut refs);
    assert!(!refs.is_empty(), "the document uses component schemas");
    let dangling: BTreeSet<&str> = refs
        .into_iter()
        .filter(|r| {
            let Some(pointer) = r.strip_prefix('#') else {
                return true;
            };
            spec.pointer(pointer).is_none()
        })
        .collect();
    assert!(dangling.is_empty(), "unresolvable $refs: {dangling:?}");
}

#[test]
fn authenticated_operations_declare_401() {
    let spec = spec_json();
    let ops = operations(&spec);
    let all: BTreeSet<(String, String)> =
        ops.iter().map(|(m, p, _)| (m.clone(), p.clone())).collect();
    let listed =
        |list: &[(&str, &str)], m: &str, p: &str| list.iter().any(|(lm, lp)| *lm == m && *lp == p);

    let mut missing = Vec::new();
    let mut stale = Vec::new();
    for (method, path, op) in &ops {
        let declares = op["responses"].get("401").is_some()
            && op["security"].as_array().is_some_and(|s| !s.is_empty());
        let name = format!("{} {path}", method.to_uppercase());
        if listed(PUBLIC_OPERATIONS, method, path) {
            assert!(
                op.get("security").is_none(),
                "{name} is public but declares a security requirement"
            );
            continue;
        }
        if listed(MISSING_401, method, path) {
            if declares {
                stale.push(name);
            }
            continue;
        }
        if !declares {
            missing.push(name);
        }
    }
    let unknown: Vec<String> = PUBLIC_OPERATIONS
        .iter()
        .chain(MISSING_401)
        .filter(|(m, p)| !all.contains(&(m.to_string(), p.to_string())))
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();

    assert!(
        missing.is_empty(),
        "authenticated operations that do not document their 401 response (add \
         `(status = 401, body = pulse_core::ErrorBody)`, or list the route in PUBLIC_OPERATIONS if \
         it really takes no credential): {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "these operations now declare 401: remove them from MISSING_401: {stale:?}"
    );
    assert!(
        unknown.is_empty(),
        "allow-list entries that match no operation (renamed or removed?): {unknown:?}"
    );
}

/// Whether a schema (not following `$ref`s) is an object whose shape is unknown.
fn untyped_object(node: &serde_json::Map<String, Value>) -> bool {
    node.get("type").and_then(Value::as_str) == Some("object")
        && ![
            "properties",
            "additionalProperties",
            "allOf",
            "oneOf",
            "anyOf",
            "$ref",
        ]
        .iter()
        .any(|k| node.contains_key(*k))
}

/// Collects every untyped object reachable from `node`, following `$ref`s once each.
fn untyped_reachable(
    spec: &Value,
    node: &Value,
    at: String,
    seen: &mut BTreeSet<String>,
    found: &mut Vec<String>,
) {
    match node {
        Value::Object(map) => {
            if untyped_object(map) {
                found.push(at.clone());
            }
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                let name = r.trim_start_matches("#/components/schemas/").to_string();
                if seen.insert(name.clone()) {
                    let target = &spec["components"]["schemas"][&name];
                    untyped_reachable(spec, target, name, seen, found);
                }
            }
            for (k, v) in map {
                untyped_reachable(spec, v, format!("{at}.{k}"), seen, found);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                untyped_reachable(spec, v, format!("{at}[{i}]"), seen, found);
            }
        }
        _ => {}
    }
}

#[test]
fn metric_and_data_answers_are_fully_typed() {
    let spec = spec_json();
    let mut checked = 0;
    for (method, path, op) in operations(&spec) {
        if !(path.starts_with("/metrics/")
            || path.starts_with("/data/")
            || path.starts_with("/org/")
            || path.starts_with("/ingest/"))
        {
            continue;
        }
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        untyped_reachable(
            &spec,
            &op["responses"]["200"],
            format!("{method} {path}"),
            &mut seen,
            &mut found,
        );
        assert!(
            found.is_empty(),
            "{method} {path}: untyped objects in the answer: {found:?}"
        );
        checked += 1;
    }
    assert!(
        checked >= 6 + 5,
        "metric and data operations found: {checked}"
    );
}
