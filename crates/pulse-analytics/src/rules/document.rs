//! The rules document: its types, defaults, parsing with field-level errors, validation, and the
//! merge of a project's partial override over the client's document. Pure: no IO.
//!
//! Every field has a default and the defaults reproduce Pulse's behaviour before rules were
//! configurable: every loaded deployment counts, production is what the source said or else an
//! environment containing `prod`, incidents are only those loaded or pushed, and an incident is
//! charged to the latest earlier successful production deployment without a time limit.

use pulse_core::{Error, FieldError};
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Longest accepted regular expression, in characters.
pub const MAX_PATTERN_CHARS: usize = 500;
/// Most names in a list (`incidents.issue_types`, `incidents.labels`).
pub const MAX_LIST: usize = 100;
/// Longest name in a list, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest attribution window: one year, in hours.
pub const MAX_WINDOW_HOURS: i64 = 24 * 366;
/// Compiled size limit of one regular expression (bytes), so a pattern cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The metric rules of a client (or the effective rules of a project).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// What counts as a deployment.
    pub deployments: DeploymentRules,
    /// What is production.
    pub production: ProductionRules,
    /// What is an incident (besides incidents loaded, pushed or made by hand, which always are).
    pub incidents: IncidentRules,
    /// How an incident is charged to a deployment.
    pub attribution: AttributionRules,
}

/// Which deployment records count as deployments, by how they were detected (`origin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DeploymentRules {
    /// GitHub Deployments (`origin` `github_deployment`).
    pub github_deployments: GithubDeploymentRule,
    /// CI workflow runs (`origin` `workflow_run`).
    pub workflow_runs: WorkflowRunRule,
    /// Releases and tags (`origin` `release` or `tag`).
    pub releases: ReleaseRule,
    /// Deployments pushed through the deployment webhook (`origin` `webhook`) count.
    pub webhook: bool,
    /// Deployments recorded by hand (`origin` `manual`) count.
    pub manual: bool,
    /// Last resort: in a repository with no counted deployment of its own (any environment,
    /// any status), each pull request merged into the default branch stands in for a successful
    /// production deployment at its merge time. Such deployments have origin `merged_pr` and
    /// source `rules`.
    pub merged_pr_fallback: bool,
}

impl Default for DeploymentRules {
    fn default() -> Self {
        Self {
            github_deployments: GithubDeploymentRule::default(),
            workflow_runs: WorkflowRunRule::default(),
            releases: ReleaseRule::default(),
            webhook: true,
            manual: true,
            merged_pr_fallback: false,
        }
    }
}

/// GitHub Deployments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GithubDeploymentRule {
    /// Whether they count at all.
    pub enabled: bool,
    /// Only those whose environment matches this regular expression; `null`: any environment.
    pub environment: Option<String>,
}

impl Default for GithubDeploymentRule {
    fn default() -> Self {
        Self {
            enabled: true,
            environment: None,
        }
    }
}

/// CI workflow runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowRunRule {
    /// Whether they count at all.
    pub enabled: bool,
    /// Only runs whose workflow name (the deployment's `name`) matches; `null`: any name. A run
    /// without a name matches only `null`.
    pub name: Option<String>,
    /// Only runs whose branch matches; `null`: any branch. A run without a known branch matches
    /// only `null`.
    pub branch: Option<String>,
}

impl Default for WorkflowRunRule {
    fn default() -> Self {
        Self {
            enabled: true,
            name: None,
            branch: None,
        }
    }
}

/// Releases and tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReleaseRule {
    /// Whether they count at all.
    pub enabled: bool,
    /// Only those whose tag (the deployment's `name`) matches; `null`: any tag.
    pub tag: Option<String>,
}

impl Default for ReleaseRule {
    fn default() -> Self {
        Self {
            enabled: true,
            tag: None,
        }
    }
}

/// What is production. A deployment the rules do not count is never production.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProductionRules {
    /// A counted deployment whose environment matches this regular expression is production.
    pub environment: String,
    /// When the source said whether the deployment is production (`is_production` of an import
    /// or push, a connector's setting), believe it instead of the pattern.
    pub use_source_flag: bool,
}

impl Default for ProductionRules {
    fn default() -> Self {
        Self {
            environment: "(?i)prod".into(),
            use_source_flag: true,
        }
    }
}

/// What is an incident. Incidents found by these rules are kept up to date by the rules (created,
/// updated, removed when the rule no longer matches); incidents loaded, pushed or made by hand are
/// never removed, and an issue or pull request one of them already names does not get a second.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentRules {
    /// Tracker (Jira) issue types, compared ignoring case with the issue's type and with its
    /// standard type (`incident`, `bug`, ...).
    pub issue_types: Vec<String>,
    /// Tracker issue labels, compared ignoring case.
    pub labels: Vec<String>,
    /// A regular expression over GitHub labels: of pull requests, and of issues whose source is
    /// `github`. `null`: labels make no incidents.
    pub github_labels: Option<String>,
    /// Merged pull requests that revert another (`revert_of`, or a title starting with
    /// `Revert "`) are incidents, opened when the revert was opened and resolved when it merged.
    pub revert_prs: bool,
}

/// How an incident is charged to a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AttributionRules {
    /// Charge the latest successful production deployment before the incident only when it
    /// finished at most this many hours before (1 to 8784); `null`: however long before.
    pub window_hours: Option<i64>,
    /// A regular expression with one capture group over the labels of the incident's issue; the
    /// captured text names the deployment (its external id) that caused it, for example
    /// `^deployment:(.+)$`. An incident's own explicit deployment still wins. `null`: off.
    pub issue_link: Option<String>,
}

fn compile(field: &str, pattern: &str, problems: &mut Vec<FieldError>) -> Option<Regex> {
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        problems.push(FieldError::new(
            field,
            format!("must be at most {MAX_PATTERN_CHARS} characters"),
        ));
        return None;
    }
    match RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
    {
        Ok(re) => Some(re),
        Err(e) => {
            let reason = e.to_string();
            // The regex error spans several lines with a caret under the problem; keep its last
            // line, which names the problem.
            let last = reason
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid")
                .trim()
                .trim_start_matches("error: ");
            problems.push(FieldError::new(
                field,
                format!("is not a valid regular expression: {last}"),
            ));
            None
        }
    }
}

fn compile_opt(
    field: &str,
    pattern: &Option<String>,
    problems: &mut Vec<FieldError>,
) -> Option<Regex> {
    pattern.as_deref().and_then(|p| compile(field, p, problems))
}

fn check_names(field: &str, names: &[String], problems: &mut Vec<FieldError>) {
    if names.len() > MAX_LIST {
        problems.push(FieldError::new(
            field,
            format!("must list at most {MAX_LIST} names"),
        ));
    }
    for (i, n) in names.iter().enumerate() {
        let len = n.trim().chars().count();
        if len == 0 || len > MAX_NAME_CHARS {
            problems.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
    }
}

/// The regular expressions of a valid document, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Patterns {
    pub github_environment: Option<Regex>,
    pub workflow_name: Option<Regex>,
    pub workflow_branch: Option<Regex>,
    pub release_tag: Option<Regex>,
    pub production: Regex,
    pub github_labels: Option<Regex>,
    pub issue_link: Option<Regex>,
}

impl Rules {
    /// Checks every field and returns every problem at once (field paths like
    /// `production.environment` or `incidents.labels[2]`).
    pub fn validate(&self) -> Result<(), Error> {
        self.patterns().map(|_| ())
    }

    pub(crate) fn patterns(&self) -> Result<Patterns, Error> {
        let mut p = Vec::new();
        let d = &self.deployments;
        let github_environment = compile_opt(
            "deployments.github_deployments.environment",
            &d.github_deployments.environment,
            &mut p,
        );
        let workflow_name = compile_opt(
            "deployments.workflow_runs.name",
            &d.workflow_runs.name,
            &mut p,
        );
        let workflow_branch = compile_opt(
            "deployments.workflow_runs.branch",
            &d.workflow_runs.branch,
            &mut p,
        );
        let release_tag = compile_opt("deployments.releases.tag", &d.releases.tag, &mut p);
        let production = compile(
            "production.environment",
            &self.production.environment,
            &mut p,
        );
        check_names("incidents.issue_types", &self.incidents.issue_types, &mut p);
        check_names("incidents.labels", &self.incidents.labels, &mut p);
        let github_labels = compile_opt(
            "incidents.github_labels",
            &self.incidents.github_labels,
            &mut p,
        );
        if let Some(w) = self.attribution.window_hours {
            if !(1..=MAX_WINDOW_HOURS).contains(&w) {
                p.push(FieldError::new(
                    "attribution.window_hours",
                    format!("must be 1 to {MAX_WINDOW_HOURS} hours, or null for no limit"),
                ));
            }
        }
        let issue_link = compile_opt(
            "attribution.issue_link",
            &self.attribution.issue_link,
            &mut p,
        );
        if let Some(re) = &issue_link {
            if re.captures_len() < 2 {
                p.push(FieldError::new(
                    "attribution.issue_link",
                    "must have a capture group for the deployment's id, e.g. ^deployment:(.+)$",
                ));
            }
        }
        match production {
            Some(production) if p.is_empty() => Ok(Patterns {
                github_environment,
                workflow_name,
                workflow_branch,
                release_tag,
                production,
                github_labels,
                issue_link,
            }),
            _ => Err(Error::Validation(p)),
        }
    }

    /// The document as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("rules serialise")
    }
}

/// Reads a whole rules document from JSON: fields left out take their defaults, unknown fields and
/// wrong types are refused, then the values are validated. Every failure is a field-level
/// [`Error::Validation`].
pub fn parse(value: Value) -> Result<Rules, Error> {
    if !value.is_object() {
        return Err(Error::invalid("rules", "must be a JSON object"));
    }
    let rules: Rules = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "rules".to_string()
        } else {
            path
        };
        Error::invalid(field, shape_message(&e.into_inner().to_string()))
    })?;
    rules.validate()?;
    Ok(rules)
}

/// serde's message without its trailing position ("at line 1 column 9"), which means nothing for
/// a JSON value.
fn shape_message(m: &str) -> String {
    match m.rfind(" at line ") {
        Some(i) => m[..i].to_string(),
        None => m.to_string(),
    }
}

/// Merges `patch` over `base`: objects merge key by key, recursively; any other value in the patch
/// (a string, number, list or `null`) replaces the base's. A key the patch leaves out keeps the
/// base's value, so `null` means "none" (for example no window), not "inherit".
pub fn merge(base: &Value, patch: &Value) -> Value {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            let mut out = b.clone();
            for (k, v) in p {
                let merged = match b.get(k) {
                    Some(existing) => merge(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, p) => p.clone(),
    }
}

/// The dotted paths of the values a partial document sets (its leaves: anything but an object),
/// sorted. `{"production": {"environment": "^prod$"}}` gives `["production.environment"]`.
pub fn leaf_paths(patch: &Value) -> Vec<String> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            _ if !prefix.is_empty() => out.push(prefix.to_string()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", patch, &mut out);
    out.sort();
    out
}

/// Checks a partial document (a project's override, or a patch of the client's rules) against
/// the document it applies to, and returns the merged result. The partial must be an object; its
/// unknown fields, wrong types and invalid values are refused with their field paths.
pub fn apply_partial(base: &Rules, partial: &Value) -> Result<Rules, Error> {
    if !partial.is_object() {
        return Err(Error::invalid("rules", "must be a JSON object"));
    }
    parse(merge(&base.to_value(), partial))
}

/// The dotted paths where two documents differ (objects compared key by key, anything else as a
/// whole), sorted.
pub fn diff_paths(a: &Value, b: &Value) -> Vec<String> {
    fn walk(prefix: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(
                        &path,
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        out,
                    );
                }
            }
            (a, b) if a != b => out.push(prefix.to_string()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", a, b, &mut out);
    out.sort();
    out
}

/// Removes from a partial document the objects left empty (`{"production": {}}` sets nothing), so
/// the stored override lists exactly the fields it sets.
pub fn prune(partial: &Value) -> Value {
    match partial {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let pruned = prune(v);
                if !matches!(&pruned, Value::Object(m) if m.is_empty()) {
                    out.insert(k.clone(), pruned);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::Validation(p) => p.into_iter().map(|f| f.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn an_empty_document_is_the_defaults() {
        assert_eq!(parse(json!({})).unwrap(), Rules::default());
        let d = Rules::default();
        assert!(d.deployments.webhook && d.deployments.manual);
        assert!(!d.deployments.merged_pr_fallback);
        assert_eq!(d.production.environment, "(?i)prod");
        assert!(d.production.use_source_flag);
        assert!(d.incidents.issue_types.is_empty() && !d.incidents.revert_prs);
        assert_eq!(d.attribution.window_hours, None);
        // the defaults round-trip through JSON
        assert_eq!(parse(d.to_value()).unwrap(), d);
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = json!({
            "deployments": {"workflow_runs": {"branch": "(main"}, "releases": {"tag": "v[0-9"}},
            "production": {"environment": "*prod"},
            "incidents": {"github_labels": "(?P<x", "labels": ["ok", "  "]},
            "attribution": {"window_hours": 0, "issue_link": "^deployment:.+$"}
        });
        let got = fields(parse(bad).unwrap_err());
        assert_eq!(
            got,
            [
                "deployments.workflow_runs.branch",
                "deployments.releases.tag",
                "production.environment",
                "incidents.labels[1]",
                "incidents.github_labels",
                "attribution.window_hours",
                "attribution.issue_link",
            ]
        );
    }

    #[test]
    fn shape_errors_name_their_path() {
        for (doc, field) in [
            (
                json!({"production": {"environment": 5}}),
                "production.environment",
            ),
            (json!({"attribution": {"window": 3}}), "attribution.window"),
            (json!({"client_id": "x"}), "client_id"),
            (
                json!({"deployments": {"webhook": "yes"}}),
                "deployments.webhook",
            ),
            (json!([1]), "rules"),
            (
                json!({"attribution": {"window_hours": 1e40}}),
                "attribution.window_hours",
            ),
        ] {
            let got = fields(parse(doc.clone()).unwrap_err());
            assert_eq!(got, [field], "{doc}");
        }
        // windows beyond a year and negative ones are refused too
        for w in [-1, 0, MAX_WINDOW_HOURS + 1] {
            let got = fields(parse(json!({"attribution": {"window_hours": w}})).unwrap_err());
            assert_eq!(got, ["attribution.window_hours"]);
        }
        assert!(parse(json!({"attribution": {"window_hours": MAX_WINDOW_HOURS}})).is_ok());
    }

    #[test]
    fn oversized_patterns_are_refused() {
        let long = "a".repeat(MAX_PATTERN_CHARS + 1);
        let got = fields(parse(json!({"production": {"environment": long}})).unwrap_err());
        assert_eq!(got, ["production.environment"]);
        // a short pattern that compiles to something huge hits the size limit
        let huge = r"\w{1000}\w{1000}\w{1000}";
        assert!(parse(json!({"production": {"environment": huge}})).is_err());
    }

    #[test]
    fn a_partial_merges_field_by_field_and_null_means_none() {
        let client = parse(json!({
            "production": {"environment": "^production$"},
            "attribution": {"window_hours": 24},
            "incidents": {"labels": ["incident"], "revert_prs": true}
        }))
        .unwrap();
        let patch =
            json!({"attribution": {"window_hours": null}, "incidents": {"labels": ["outage"]}});
        let merged = apply_partial(&client, &patch).unwrap();
        assert_eq!(merged.attribution.window_hours, None);
        assert_eq!(merged.incidents.labels, ["outage"]);
        assert!(
            merged.incidents.revert_prs,
            "untouched fields are the client's"
        );
        assert_eq!(merged.production.environment, "^production$");
        assert_eq!(
            leaf_paths(&patch),
            ["attribution.window_hours", "incidents.labels"]
        );
        let bad = apply_partial(&client, &json!({"production": {"environment": "("}}));
        assert_eq!(fields(bad.unwrap_err()), ["production.environment"]);
        let unknown = apply_partial(&client, &json!({"production": {"env": "x"}}));
        assert_eq!(fields(unknown.unwrap_err()), ["production.env"]);
        assert!(apply_partial(&client, &json!("x")).is_err());
    }

    #[test]
    fn differences_are_listed_by_path() {
        let changed = parse(
            json!({"production": {"environment": "^prod$"}, "deployments": {"webhook": false}}),
        )
        .unwrap();
        assert_eq!(
            diff_paths(&Rules::default().to_value(), &changed.to_value()),
            ["deployments.webhook", "production.environment"]
        );
        assert!(diff_paths(&changed.to_value(), &changed.to_value()).is_empty());
    }

    #[test]
    fn pruning_drops_empty_objects_only() {
        let p = prune(
            &json!({"production": {}, "incidents": {"labels": []}, "attribution": {"window_hours": null}}),
        );
        assert_eq!(
            p,
            json!({"incidents": {"labels": []}, "attribution": {"window_hours": null}})
        );
        assert_eq!(
            leaf_paths(&p),
            ["attribution.window_hours", "incidents.labels"]
        );
    }
}
