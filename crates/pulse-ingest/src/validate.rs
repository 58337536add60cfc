//! The pure validation pass: reads every line and reports every problem with its line number,
//! without touching the database. References that the file itself does not define are returned
//! for the caller to look up in the database.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;

use pulse_core::FieldError;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::record::*;

/// Problems reported before the rest are summarised in one last entry.
pub const MAX_PROBLEMS: usize = 500;

/// A reference from a record to another record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// Line of the referring record.
    pub line: usize,
    /// Field holding the reference (e.g. `repositories[1].repository`).
    pub field: String,
    /// Type of the referenced record.
    pub kind: Kind,
    /// Source of the referenced record (the referring record's).
    pub source: String,
    /// External id referenced.
    pub id: String,
}

/// The outcome of [`check`].
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Records per type.
    pub counts: BTreeMap<&'static str, u64>,
    /// References the file does not define: they must exist in the database.
    pub external_refs: Vec<Ref>,
    /// Every problem found, in line order (at most [`MAX_PROBLEMS`] plus a summary).
    pub problems: Vec<FieldError>,
}

/// A problem's field: `line N` or `line N: field`.
pub fn at(line: usize, field: &str) -> String {
    if field.is_empty() {
        format!("line {line}")
    } else {
        format!("line {line}: {field}")
    }
}

fn de<T: DeserializeOwned>(value: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
            .map(str::to_string);
        let field = match (path.as_str(), missing) {
            (".", Some(m)) => m,
            (".", None) => String::new(),
            (p, Some(m)) => format!("{p}.{m}"),
            (p, None) => p.to_string(),
        };
        (field, message)
    })
}

/// Deserialises a JSON value into `T`. The error names the field at fault (dotted path, empty
/// for the whole value) and what is wrong with it.
pub fn parse_value<T: DeserializeOwned>(value: Value) -> Result<T, (String, String)> {
    de(value)
}

/// Parses one line into a record. The error names the field at fault (empty for the whole line).
pub fn parse_line(line: &str) -> Result<Record, (String, String)> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| (String::new(), format!("invalid JSON: {e}")))?;
    let Value::Object(mut map) = value else {
        return Err((String::new(), "a record must be a JSON object".into()));
    };
    let kind = match map.remove("type") {
        Some(Value::String(t)) => Kind::parse(&t).ok_or_else(|| {
            let known: Vec<&str> = TYPES.iter().map(|k| k.as_str()).collect();
            (
                "type".to_string(),
                format!("unknown type `{t}` (expected one of {})", known.join(", ")),
            )
        })?,
        Some(_) => return Err(("type".into(), "must be a string".into())),
        None => return Err(("type".into(), "missing: every record needs a `type`".into())),
    };
    let rest = Value::Object(map);
    Ok(match kind {
        Kind::Team => Record::Team(de(rest)?),
        Kind::Person => Record::Person(de(rest)?),
        Kind::Project => Record::Project(de(rest)?),
        Kind::Repository => Record::Repository(de(rest)?),
        Kind::PullRequest => Record::PullRequest(de(rest)?),
        Kind::Commit => Record::Commit(de(rest)?),
        Kind::Review => Record::Review(de(rest)?),
        Kind::ReviewComment => Record::ReviewComment(de(rest)?),
        Kind::Deployment => Record::Deployment(de(rest)?),
        Kind::Board => Record::Board(de(rest)?),
        Kind::Sprint => Record::Sprint(de(rest)?),
        Kind::Issue => Record::Issue(de(rest)?),
        Kind::Transition => Record::Transition(de(rest)?),
        Kind::Incident => Record::Incident(de(rest)?),
    })
}

/// The references a record makes: `(field, type, id)`.
pub fn references(record: &Record) -> Vec<(String, Kind, &str)> {
    let mut out: Vec<(String, Kind, &str)> = Vec::new();
    fn opt<'a>(out: &mut Vec<(String, Kind, &'a str)>, f: &str, k: Kind, v: &'a Option<String>) {
        if let Some(v) = v {
            out.push((f.to_string(), k, v.as_str()));
        }
    }
    fn list<'a>(out: &mut Vec<(String, Kind, &'a str)>, f: &str, k: Kind, v: &'a [String]) {
        for (i, v) in v.iter().enumerate() {
            out.push((format!("{f}[{i}]"), k, v.as_str()));
        }
    }
    match record {
        Record::Team(r) => {
            opt(&mut out, "parent", Kind::Team, &r.parent);
            list(&mut out, "members", Kind::Person, &r.members);
        }
        Record::Person(_) | Record::Repository(_) | Record::Board(_) => {}
        Record::Project(r) => {
            list(&mut out, "teams", Kind::Team, &r.teams);
            list(&mut out, "repositories", Kind::Repository, &r.repositories);
            list(&mut out, "boards", Kind::Board, &r.boards);
        }
        Record::PullRequest(r) => {
            out.push(("repository".into(), Kind::Repository, &r.repository));
            opt(&mut out, "revert_of", Kind::PullRequest, &r.revert_of);
        }
        Record::Commit(r) => {
            out.push(("repository".into(), Kind::Repository, &r.repository));
            list(
                &mut out,
                "pull_requests",
                Kind::PullRequest,
                &r.pull_requests,
            );
        }
        Record::Review(r) => out.push(("pull_request".into(), Kind::PullRequest, &r.pull_request)),
        Record::ReviewComment(r) => {
            out.push(("pull_request".into(), Kind::PullRequest, &r.pull_request));
            opt(&mut out, "review", Kind::Review, &r.review);
        }
        Record::Deployment(r) => {
            for (i, d) in r.repositories.iter().enumerate() {
                out.push((
                    format!("repositories[{i}].repository"),
                    Kind::Repository,
                    &d.repository,
                ));
            }
            list(
                &mut out,
                "pull_requests",
                Kind::PullRequest,
                &r.pull_requests,
            );
            list(&mut out, "commits", Kind::Commit, &r.commits);
        }
        Record::Sprint(r) => opt(&mut out, "board", Kind::Board, &r.board),
        Record::Issue(r) => {
            opt(&mut out, "parent", Kind::Issue, &r.parent);
            opt(&mut out, "epic", Kind::Issue, &r.epic);
            for (i, s) in r.sprints.iter().enumerate() {
                out.push((format!("sprints[{i}].sprint"), Kind::Sprint, &s.sprint));
            }
        }
        Record::Transition(r) => out.push(("issue".into(), Kind::Issue, &r.issue)),
        Record::Incident(r) => {
            opt(&mut out, "issue", Kind::Issue, &r.issue);
            opt(&mut out, "pull_request", Kind::PullRequest, &r.pull_request);
            opt(&mut out, "repository", Kind::Repository, &r.repository);
            opt(&mut out, "team", Kind::Team, &r.team);
            opt(&mut out, "deployment", Kind::Deployment, &r.deployment);
        }
    }
    out
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// Checks one record's values beyond their types. Returns `(field, message)` pairs.
pub fn semantic(record: &Record) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut need = |field: &str, value: &str| {
        if blank(value) {
            p.push((field.into(), "must not be empty".into()));
        }
    };
    let (id, source) = record.key();
    need("id", id);
    need("source", source);
    match record {
        Record::Team(r) => need("name", &r.name),
        Record::Person(r) => {
            need("name", &r.name);
            for (i, a) in r.accounts.iter().enumerate() {
                need(&format!("accounts[{i}].login"), &a.login);
            }
        }
        Record::Project(r) => need("name", &r.name),
        Record::Repository(r) => need("full_name", &r.full_name),
        Record::Board(r) => need("name", &r.name),
        Record::Sprint(r) => need("name", &r.name),
        Record::Commit(r) => need("sha", &r.sha),
        Record::Issue(r) => {
            need("key", &r.key);
            need("issue_type", &r.issue_type);
            need("status", &r.status);
        }
        Record::Transition(r) => need("to_status", &r.to_status),
        Record::Incident(r) => need("title", &r.title),
        Record::Deployment(r) => need("environment", &r.environment),
        Record::PullRequest(_) | Record::Review(_) | Record::ReviewComment(_) => {}
    }
    if source == pulse_db::repo::rules::DERIVED_SOURCE
        && matches!(record, Record::Deployment(_) | Record::Incident(_))
    {
        p.push((
            "source".into(),
            format!("`{source}` is reserved for rows the metric rules derive"),
        ));
    }
    let email = |p: &mut Vec<(String, String)>, f: &str, v: &Option<String>| {
        if v.as_ref()
            .is_some_and(|e| !e.contains('@') || e.trim().len() < 3)
        {
            p.push((f.into(), "must be an e-mail address".into()));
        }
    };
    match record {
        Record::Person(r) => {
            email(&mut p, "email", &r.email);
            let mut seen = HashSet::new();
            for (i, a) in r.accounts.iter().enumerate() {
                if !seen.insert((a.provider, a.login.to_lowercase())) {
                    p.push((format!("accounts[{i}]"), "is listed twice".into()));
                }
            }
        }
        Record::PullRequest(r) => {
            email(&mut p, "author_email", &r.author_email);
            match (r.state, r.merged_at) {
                (PrState::Merged, None) => p.push((
                    "merged_at".into(),
                    "is required when state is merged".into(),
                )),
                (PrState::Open | PrState::Closed, Some(_)) => p.push((
                    "state".into(),
                    "must be merged when merged_at is set".into(),
                )),
                _ => {}
            }
        }
        Record::Commit(r) => email(&mut p, "author_email", &r.author_email),
        Record::Issue(r) => {
            email(&mut p, "assignee_email", &r.assignee_email);
            if let Some(points) = r.story_points {
                if !points.is_finite() || points < 0.0 {
                    p.push((
                        "story_points".into(),
                        "must be a number of zero or more".into(),
                    ));
                }
            }
        }
        Record::Deployment(r) if r.repositories.is_empty() => p.push((
            "repositories".into(),
            "must list at least one repository".into(),
        )),
        Record::Team(r) if r.parent.as_deref() == Some(r.id.as_str()) => {
            p.push(("parent".into(), "a team cannot be its own parent".into()))
        }
        _ => {}
    }
    p
}

struct Problems {
    list: Vec<FieldError>,
    dropped: usize,
}

impl Problems {
    fn push(&mut self, line: usize, field: &str, message: impl Into<String>) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(FieldError::new(at(line, field), message));
        } else {
            self.dropped += 1;
        }
    }
}

/// Checks every line of `reader`: JSON syntax, record type, required fields, enum values, RFC 3339
/// timestamps, non-negative numbers, duplicates, team cycles, and references (which must be
/// defined in the file or, as [`Checked::external_refs`], in the database). Blank lines are
/// skipped. Reads line by line; keeps only the ids defined and the references made.
pub fn check(mut reader: impl BufRead) -> Checked {
    let mut problems = Problems {
        list: Vec::new(),
        dropped: 0,
    };
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut defined: HashMap<(Kind, String, String), usize> = HashMap::new();
    let mut refs: Vec<Ref> = Vec::new();
    let mut parents: HashMap<(String, String), (String, usize)> = HashMap::new();
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                problems.push(line_no + 1, "", format!("cannot be read: {e}"));
                break;
            }
        }
        line_no += 1;
        let Ok(text) = std::str::from_utf8(&buf) else {
            problems.push(line_no, "", "is not UTF-8 text");
            continue;
        };
        if blank(text) {
            continue;
        }
        let record = match parse_line(text) {
            Ok(r) => r,
            Err((field, message)) => {
                problems.push(line_no, &field, message);
                continue;
            }
        };
        for (field, message) in semantic(&record) {
            problems.push(line_no, &field, message);
        }
        let kind = record.kind();
        let (id, source) = record.key();
        *counts.entry(kind.as_str()).or_default() += 1;
        if let Some(first) = defined.insert((kind, source.into(), id.into()), line_no) {
            defined.insert((kind, source.into(), id.into()), first);
            problems.push(
                line_no,
                "id",
                format!(
                    "{} `{id}` is already defined on line {first}",
                    kind.as_str()
                ),
            );
        }
        if let Record::Team(t) = &record {
            if let Some(parent) = &t.parent {
                parents.insert((source.into(), id.into()), (parent.clone(), line_no));
            }
        }
        for (field, target, value) in references(&record) {
            refs.push(Ref {
                line: line_no,
                field,
                kind: target,
                source: source.to_string(),
                id: value.to_string(),
            });
        }
    }
    for ((source, team), (first_parent, line)) in &parents {
        if first_parent == team {
            continue; // reported with the record
        }
        let mut current = first_parent.clone();
        let mut seen = HashSet::new();
        loop {
            if &current == team {
                problems.push(*line, "parent", "the team hierarchy has a cycle");
                break;
            }
            if !seen.insert(current.clone()) {
                break;
            }
            match parents.get(&(source.clone(), current.clone())) {
                Some((next, _)) => current = next.clone(),
                None => break,
            }
        }
    }
    let mut external_refs = Vec::new();
    for r in refs {
        if !defined.contains_key(&(r.kind, r.source.clone(), r.id.clone())) {
            external_refs.push(r);
        }
    }
    problems.list.sort_by_key(|p| line_of(&p.field));
    if problems.dropped > 0 {
        let n = problems.dropped;
        problems.list.push(FieldError::new(
            "file",
            format!("{n} more problems not listed"),
        ));
    }
    Checked {
        counts,
        external_refs,
        problems: problems.list,
    }
}

/// The line number in a problem's field (for sorting).
pub fn line_of(field: &str) -> usize {
    field
        .strip_prefix("line ")
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// The problem reported for a reference found neither in the file nor in the database.
pub fn unresolved(r: &Ref) -> FieldError {
    FieldError::new(
        at(r.line, &r.field),
        format!(
            "no {} with id `{}` (source `{}`) in this file or already loaded",
            r.kind.as_str(),
            r.id,
            r.source
        ),
    )
}
