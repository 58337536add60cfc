//! The local git connector: reads a repository on disk (a mirror or a working clone) with `gix`
//! (pure Rust, no `git` binary) and stores its commits, and tags matching a pattern as
//! deployments, so DORA numbers can come from git alone.
//!
//! # Configuration
//!
//! The integration's `rules` (see [`GitRules`]): `path` of the repository; `tag_pattern`, a
//! regular expression a tag name must match to count as a deployment (default
//! [`DEFAULT_TAG_PATTERN`]); `environment` of those deployments (default `production`);
//! `is_production` (default: the environment name contains `prod`); `branch` to follow (default
//! the repository's `HEAD`); `page_size`, commits per transaction (default 500), and
//! `tag_page_size`, deployment tags per transaction (default 50), each 1 to
//! [`MAX_PAGE_SIZE`]. The operator may confine paths to a directory
//! ([`GitSettings::allowed_root`]); a tenant cannot widen it.
//!
//! # Stages
//!
//! - **collect** (IO): walks the branch from its tip back to the last synced tip (the checkpoint)
//!   and reads commits and tags into [`RawRecord`]s (`commits` keyed by sha, `tags` keyed by
//!   name), oldest commit first, in pages.
//! - **extract** ([`GitExtract`], pure): raw records to [`GitRow`]s.
//! - **convert** ([`GitConvert`], pure): rows to the normalized model ([`GitModel`]).
//!
//! Each page's raw records, normalized rows and checkpoint commit in one fenced transaction.
//!
//! # Identity
//!
//! Rows use source `git`. The repository's external id is `<integration id>/<scope>` (the scope
//! is the repository's directory name), a commit's `<repository key>@<sha>`, a tag deployment's
//! `<repository key>#<tag>`.
//!
//! # What a tag deployment shipped
//!
//! Matching tags are ordered by their time (the tagger's time for an annotated tag, else the
//! commit time), then name. A deployment ships the commits reachable from its tag and not from the
//! previous matching tag (`git log prev..tag`); the first one ships its whole history.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, Utc};
use gix::ObjectId;
use pulse_db::entity::repositories;
use pulse_db::entity::{commits, deployment_commits, deployment_repositories, deployments};
use pulse_db::repo::people::PersonResolver;
use pulse_db::repo::{ingested, links};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::connector::{
    extract_convert, Connector, ConnectorInfo, Convert, Extract, ScopeInfo, SyncContext,
};
use crate::error::SyncError;
use crate::integrations::IntegrationConfig;
use crate::lease::{JobTx, RawRecord};
use crate::model::{LogLevel, Progress};

/// The integration kind this connector handles.
pub const GIT_KIND: &str = "git";
/// The `source` of every row it writes.
pub const SOURCE: &str = "git";
/// Tags counting as deployments when the integration sets no pattern: release versions such as
/// `v1.2.3` or `1.2.3`.
pub const DEFAULT_TAG_PATTERN: &str = r"^v?\d+\.\d+\.\d+$";
/// The environment of tag deployments when the integration names none.
pub const DEFAULT_ENVIRONMENT: &str = "production";
/// Raw record endpoint of commits.
pub const COMMITS: &str = "commits";
/// Raw record endpoint of tags.
pub const TAGS: &str = "tags";
/// The largest `page_size` / `tag_page_size` an integration may ask for.
pub const MAX_PAGE_SIZE: usize = 10_000;

/// What the operator decides for every git integration.
#[derive(Debug, Clone, Default)]
pub struct GitSettings {
    /// When set, repositories are read only from under this directory (after resolving symbolic
    /// links and `..`), so an integration cannot point the worker at arbitrary files.
    pub allowed_root: Option<PathBuf>,
}

/// An integration's `rules`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GitRules {
    /// Absolute path of the repository: a working clone's top directory, its `.git`, or a bare
    /// repository (mirror).
    pub path: String,
    /// Tags whose name matches count as deployments.
    #[serde(default)]
    pub tag_pattern: Option<String>,
    /// Environment of tag deployments.
    #[serde(default)]
    pub environment: Option<String>,
    /// Whether tag deployments are production deployments (default: the environment name
    /// contains `prod`, ignoring case).
    #[serde(default)]
    pub is_production: Option<bool>,
    /// The branch whose history is synced (default: `HEAD`).
    #[serde(default)]
    pub branch: Option<String>,
    /// Commits written per transaction (default: the connector's, 500).
    #[serde(default)]
    pub page_size: Option<usize>,
    /// Deployment tags written per transaction (default: the connector's, 50).
    #[serde(default)]
    pub tag_page_size: Option<usize>,
}

/// Reads a local git repository; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct GitConnector {
    settings: GitSettings,
    page_size: usize,
    tag_page_size: usize,
}

/// An integration's configuration, checked.
#[derive(Debug, Clone)]
struct Resolved {
    path: PathBuf,
    scope: String,
    pattern: Regex,
    environment: String,
    is_production: bool,
    branch: Option<String>,
    page_size: usize,
    tag_page_size: usize,
}

impl GitConnector {
    /// A connector with the operator's settings; commits are written 500 per page.
    pub fn new(settings: GitSettings) -> Self {
        Self {
            settings,
            page_size: 500,
            tag_page_size: 50,
        }
    }

    /// Writes `commits` commits and `tags` tags per page (at least one each).
    pub fn with_page_sizes(mut self, commits: usize, tags: usize) -> Self {
        self.page_size = commits.max(1);
        self.tag_page_size = tags.max(1);
        self
    }

    /// The integration's settings. With [`Disk::Read`] the repository must be readable where the
    /// rules say; a re-convert ([`Disk::Skip`]) reads only kept raw records, so the path is only
    /// checked to be absolute.
    fn resolve(&self, integration: &IntegrationConfig, disk: Disk) -> Result<Resolved, SyncError> {
        let rules = integration.integration.rules.clone().ok_or_else(|| {
            SyncError::Permanent(
                "the git integration has no rules: set rules.path to the repository's directory"
                    .into(),
            )
        })?;
        let rules: GitRules = serde_json::from_value(rules).map_err(|e| {
            SyncError::Permanent(format!(
                "the git integration's rules are invalid ({e}); expected path, and optionally \
                 tag_pattern, environment, is_production, branch, page_size, tag_page_size"
            ))
        })?;
        let path = match disk {
            Disk::Read => check_path(&rules.path, self.settings.allowed_root.as_deref())?,
            Disk::Skip => written_path(&rules.path)?,
        };
        let pattern_text = rules.tag_pattern.as_deref().unwrap_or(DEFAULT_TAG_PATTERN);
        let pattern = Regex::new(pattern_text).map_err(|e| {
            SyncError::Permanent(format!(
                "rules.tag_pattern '{pattern_text}' is not a valid regular expression: {e}"
            ))
        })?;
        let environment = rules
            .environment
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_string());
        let is_production = rules
            .is_production
            .unwrap_or_else(|| environment.to_lowercase().contains("prod"));
        let size = |field: &str, value: Option<usize>, default: usize| match value {
            None => Ok(default),
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            Some(n) => Err(SyncError::Permanent(format!(
                "rules.{field} {n} is out of range: give 1 to {MAX_PAGE_SIZE}, or leave it out \
                 for the default ({default})"
            ))),
        };
        let page_size = size("page_size", rules.page_size, self.page_size)?;
        let tag_page_size = size("tag_page_size", rules.tag_page_size, self.tag_page_size)?;
        Ok(Resolved {
            scope: scope_name(&path),
            path,
            pattern,
            environment,
            is_production,
            branch: rules
                .branch
                .map(|b| b.trim().to_string())
                .filter(|b| !b.is_empty()),
            page_size,
            tag_page_size,
        })
    }

    async fn open(&self, integration: &IntegrationConfig) -> Result<(Resolved, Repo), SyncError> {
        let resolved = self.resolve(integration, Disk::Read)?;
        let repo = Repo::open(&resolved.path, self.settings.allowed_root.as_deref()).await?;
        Ok((resolved, repo))
    }
}

/// Whether resolving an integration's settings needs its repository on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disk {
    Read,
    Skip,
}

/// `raw` as an absolute path, without touching the disk. Every refusal says what to change.
fn written_path(raw: &str) -> Result<PathBuf, SyncError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(SyncError::Permanent(
            "rules.path is empty: set it to the repository's directory".into(),
        ));
    }
    let given = Path::new(raw);
    if !given.is_absolute() {
        return Err(SyncError::Permanent(format!(
            "rules.path '{raw}' is relative: give the repository's absolute path"
        )));
    }
    Ok(given.to_path_buf())
}

/// Checks `raw` names an existing directory (under `root` when given) and returns its canonical
/// form. Every refusal says what to change.
pub fn check_path(raw: &str, root: Option<&Path>) -> Result<PathBuf, SyncError> {
    let raw = raw.trim();
    let given = written_path(raw)?;
    let path = std::fs::canonicalize(given).map_err(|e| {
        SyncError::Permanent(format!(
            "the repository path '{raw}' cannot be read on the worker ({e}); check that it exists \
             and the worker's user may read it"
        ))
    })?;
    if !path.is_dir() {
        return Err(SyncError::Permanent(format!(
            "the repository path '{raw}' is not a directory; point rules.path at a clone or a mirror"
        )));
    }
    if let Some(root) = root {
        let root_canonical = std::fs::canonicalize(root).map_err(|e| {
            SyncError::Permanent(format!(
                "the directory git repositories may be read from ('{}') cannot be read ({e}); \
                 the operator must fix the git connector's allowed root",
                root.display()
            ))
        })?;
        if !path.starts_with(&root_canonical) {
            return Err(SyncError::Permanent(format!(
                "the repository path '{raw}' is outside '{}', the only directory git repositories \
                 may be read from; clone or mirror the repository under it and update rules.path",
                root_canonical.display()
            )));
        }
    }
    Ok(path)
}

/// The scope (and repository name) of a repository directory: its name without `.git`, or the
/// name of the directory holding a `.git` given directly.
fn scope_name(path: &Path) -> String {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    let mut n = name(path);
    if n == ".git" {
        n = path.parent().map(name).unwrap_or_default();
    }
    let n = n.strip_suffix(".git").map(str::to_string).unwrap_or(n);
    if n.is_empty() {
        "repository".into()
    } else {
        n
    }
}

/// A repository read on blocking threads (gix reads synchronously). Each call opens it afresh:
/// cheap next to a page of object reads, and it keeps the handle off the async threads (gix's
/// handles are not `Send` without its `parallel` feature).
#[derive(Debug, Clone)]
struct Repo(PathBuf);

impl Repo {
    /// Checks the repository opens and, under an allowed root, that its git directories (which a
    /// `.git` file or a linked worktree may place elsewhere) are under the root too.
    async fn open(path: &Path, root: Option<&Path>) -> Result<Self, SyncError> {
        let repo = Self(path.to_path_buf());
        let root = root.map(Path::to_path_buf);
        repo.with(move |r| {
            let Some(root) = root else { return Ok(()) };
            let root = std::fs::canonicalize(&root).unwrap_or(root);
            for dir in [r.git_dir(), r.common_dir()] {
                let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
                if !dir.starts_with(&root) {
                    return Err(SyncError::Permanent(format!(
                        "the repository's git directory '{}' is outside '{}', the only directory \
                         git repositories may be read from; use a clone or mirror that lives \
                         entirely under it",
                        dir.display(),
                        root.display()
                    )));
                }
            }
            Ok(())
        })
        .await?;
        Ok(repo)
    }

    /// Runs `f` on a blocking thread with the repository opened there.
    async fn with<T, F>(&self, f: F) -> Result<T, SyncError>
    where
        T: Send + 'static,
        F: FnOnce(&gix::Repository) -> Result<T, SyncError> + Send + 'static,
    {
        let path = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut repo = gix::open_opts(&path, gix::open::Options::isolated()).map_err(|e| {
                SyncError::Permanent(format!(
                    "'{}' is not a git repository ({e}); point rules.path at a clone's top \
                     directory, its .git directory, or a bare mirror",
                    path.display()
                ))
            })?;
            repo.object_cache_size_if_unset(4 << 20);
            f(&repo)
        })
        .await
        .map_err(|e| SyncError::Transient(format!("the git reader stopped: {e}")))?
    }
}

/// A failed read of an object or reference: possibly a passing IO problem, so worth retrying.
fn read_err<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> SyncError {
    move |e| SyncError::Transient(format!("reading {what} from the repository failed: {e}"))
}

/// The commit at the tip of `branch` (or `HEAD`) and the branch's short name; `None` in a
/// repository without commits.
fn tip(
    repo: &gix::Repository,
    branch: Option<&str>,
) -> Result<Option<(ObjectId, Option<String>)>, SyncError> {
    match branch {
        Some(name) => {
            let found = repo
                .try_find_reference(name)
                .map_err(read_err(format!("branch '{name}'")))?;
            let Some(mut reference) = found else {
                return Err(SyncError::Permanent(format!(
                    "the branch '{name}' does not exist in the repository; fix rules.branch or \
                     leave it out to follow HEAD"
                )));
            };
            let commit = reference.peel_to_commit().map_err(|e| {
                SyncError::Permanent(format!(
                    "'{name}' does not point at a commit ({e}); fix rules.branch"
                ))
            })?;
            Ok(Some((commit.id, Some(name.to_string()))))
        }
        None => {
            let head = repo.head().map_err(read_err("HEAD"))?;
            let short = head.referent_name().map(|n| n.shorten().to_string());
            if head.is_unborn() {
                return Ok(None);
            }
            let id = repo.head_id().map_err(read_err("HEAD"))?;
            Ok(Some((id.detach(), short)))
        }
    }
}

fn exists(repo: &gix::Repository, id: &ObjectId) -> bool {
    repo.find_commit(*id).is_ok()
}

/// Commits reachable from `tip` and not from `hidden`, oldest first (reversed breadth-first
/// topological order, so a page's parents were written by an earlier page unless they were
/// already stored). Deterministic for the same graph, so a resumed run pages the same list.
fn reachable(
    repo: &gix::Repository,
    tip: ObjectId,
    hidden: Option<ObjectId>,
) -> Result<Vec<ObjectId>, SyncError> {
    let walk = repo
        .rev_walk([tip])
        .with_hidden(hidden.filter(|h| exists(repo, h)));
    let mut ids = Vec::new();
    for info in walk.all().map_err(read_err("history"))? {
        ids.push(info.map_err(read_err("history"))?.id);
    }
    ids.reverse();
    Ok(ids)
}

fn time_of(
    sig: gix::actor::SignatureRef<'_>,
    what: &str,
) -> Result<DateTime<FixedOffset>, SyncError> {
    let t = sig
        .time()
        .map_err(read_err(format!("the time of {what}")))?;
    let offset =
        FixedOffset::east_opt(t.offset).unwrap_or_else(|| FixedOffset::east_opt(0).unwrap());
    DateTime::from_timestamp(t.seconds, 0)
        .map(|d| d.with_timezone(&offset))
        .ok_or_else(|| {
            SyncError::Permanent(format!("{what} has an impossible time ({})", t.seconds))
        })
}

fn text(b: &gix::bstr::BStr) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

/// Reads one commit as its raw record's content.
fn read_commit(repo: &gix::Repository, id: ObjectId) -> Result<GitCommit, SyncError> {
    let what = format!("commit {id}");
    let commit = repo.find_commit(id).map_err(read_err(&what))?;
    let author = commit.author().map_err(read_err(&what))?;
    let committer = commit.committer().map_err(read_err(&what))?;
    let message = String::from_utf8_lossy(commit.message_raw_sloppy());
    let summary = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_string();
    let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
    let tree = commit.tree_id().map_err(read_err(&what))?.detach();
    let (additions, deletions) = line_changes(repo, tree, parents.first().copied(), &what)?;
    Ok(GitCommit {
        sha: id.to_string(),
        parents: parents.iter().map(ToString::to_string).collect(),
        additions,
        deletions,
        author_name: text(author.name),
        author_email: text(author.email),
        authored_at: time_of(author, &what)?,
        committer_name: text(committer.name),
        committer_email: text(committer.email),
        committed_at: time_of(committer, &what)?,
        summary,
    })
}

/// Lines added and deleted by a commit whose tree is `tree`, against its first parent (a merge
/// counts what it brought into the first parent's line; a root commit counts every line it adds).
/// Like `git diff --numstat`: a file is a sequence of lines (the last one may lack its newline),
/// binary files (a NUL byte in their first 8000 bytes) count no lines, renames are not detected
/// (a moved file counts as deleted and added), submodule pointers count nothing.
fn line_changes(
    repo: &gix::Repository,
    tree: ObjectId,
    first_parent: Option<ObjectId>,
    what: &str,
) -> Result<(u64, u64), SyncError> {
    let parent_tree = match first_parent {
        Some(p) => Some(
            repo.find_commit(p)
                .map_err(read_err(format!("the first parent of {what}")))?
                .tree_id()
                .map_err(read_err(format!("the first parent of {what}")))?
                .detach(),
        ),
        None => None,
    };
    if parent_tree == Some(tree) {
        return Ok((0, 0));
    }
    let new_data = repo.find_tree(tree).map_err(read_err(what))?.detach().data;
    let old_data = match parent_tree {
        Some(t) => repo.find_tree(t).map_err(read_err(what))?.detach().data,
        None => Vec::new(),
    };
    let mut recorder = gix::diff::tree::Recorder::default()
        .track_location(None::<gix::diff::tree::recorder::Location>);
    let mut state = gix::diff::tree::State::default();
    gix::diff::tree(
        gix::objs::TreeRefIter::from_bytes(&old_data, repo.object_hash()),
        gix::objs::TreeRefIter::from_bytes(&new_data, repo.object_hash()),
        &mut state,
        &repo.objects,
        &mut recorder,
    )
    .map_err(read_err(format!("the changes of {what}")))?;
    let blob = |oid: ObjectId| -> Result<Vec<u8>, SyncError> {
        Ok(repo.find_blob(oid).map_err(read_err(what))?.detach().data)
    };
    let is_file = |mode: &gix::objs::tree::EntryMode| mode.is_blob_or_symlink();
    let (mut added, mut deleted) = (0u64, 0u64);
    for change in recorder.records {
        use gix::diff::tree::recorder::Change;
        match change {
            Change::Addition {
                entry_mode, oid, ..
            } if is_file(&entry_mode) => {
                added += count_lines(&blob(oid)?);
            }
            Change::Deletion {
                entry_mode, oid, ..
            } if is_file(&entry_mode) => {
                deleted += count_lines(&blob(oid)?);
            }
            Change::Modification {
                previous_entry_mode,
                previous_oid,
                entry_mode,
                oid,
                ..
            } => {
                let before = if is_file(&previous_entry_mode) {
                    blob(previous_oid)?
                } else {
                    Vec::new()
                };
                let after = if is_file(&entry_mode) {
                    blob(oid)?
                } else {
                    Vec::new()
                };
                let (a, d) = diff_lines(&before, &after);
                added += a;
                deleted += d;
            }
            _ => {}
        }
    }
    Ok((added, deleted))
}

/// Whether git would treat the content as binary (a NUL byte among its first 8000 bytes).
fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(8000)].contains(&0)
}

/// Lines of a text file (a last line without newline counts); 0 for binary content.
pub fn count_lines(data: &[u8]) -> u64 {
    if is_binary(data) {
        return 0;
    }
    let newlines = data.iter().filter(|b| **b == b'\n').count() as u64;
    newlines + u64::from(data.last().is_some_and(|b| *b != b'\n'))
}

/// Lines added and deleted between two versions of a file (histogram diff, lines compared with
/// their terminators, so adding a missing final newline changes the last line). A binary side
/// counts no lines.
pub fn diff_lines(before: &[u8], after: &[u8]) -> (u64, u64) {
    if is_binary(before) || is_binary(after) {
        return (0, 0);
    }
    use imara_diff::intern::InternedInput;
    use imara_diff::sources::byte_lines_with_terminator;
    let input = InternedInput::new(
        byte_lines_with_terminator(before),
        byte_lines_with_terminator(after),
    );
    let counted = imara_diff::diff(
        imara_diff::Algorithm::Histogram,
        &input,
        imara_diff::sink::Counter::default(),
    );
    (u64::from(counted.insertions), u64::from(counted.removals))
}

/// A tag matching the pattern, as found in the repository.
#[derive(Debug, Clone)]
struct FoundTag {
    name: String,
    target: ObjectId,
    annotated: bool,
    tagged_at: DateTime<FixedOffset>,
}

/// Tags matching `pattern` that point (possibly through annotated tags) at commits, ordered by
/// time, then name. Tags of trees or blobs are left out.
fn read_tags(repo: &gix::Repository, pattern: &Regex) -> Result<Vec<FoundTag>, SyncError> {
    let platform = repo.references().map_err(read_err("tags"))?;
    let mut out = Vec::new();
    for reference in platform.tags().map_err(read_err("tags"))? {
        let mut reference = reference.map_err(read_err("tags"))?;
        let name = reference.name().shorten().to_string();
        if !pattern.is_match(&name) {
            continue;
        }
        let Some(direct) = reference.target().try_id().map(ToOwned::to_owned) else {
            continue;
        };
        let Ok(commit) = reference.peel_to_commit() else {
            continue;
        };
        let what = format!("tag {name}");
        let object = repo.find_object(direct).map_err(read_err(&what))?;
        let tagger_time = if object.kind == gix::object::Kind::Tag {
            let tag = object.into_tag();
            let tagger = tag.tagger().map_err(read_err(&what))?;
            Some(match tagger {
                Some(sig) => Some(time_of(sig, &what)?),
                None => None,
            })
        } else {
            None
        };
        let committed_at = {
            let committer = commit.committer().map_err(read_err(&what))?;
            time_of(committer, &what)?
        };
        out.push(FoundTag {
            name,
            target: commit.id,
            annotated: tagger_time.is_some(),
            tagged_at: tagger_time.flatten().unwrap_or(committed_at),
        });
    }
    out.sort_by(|a, b| {
        a.tagged_at
            .cmp(&b.tagged_at)
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Rows and the pure stages.

/// A commit as collected (the `commits` raw record's payload) and extracted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCommit {
    /// Full hex id.
    pub sha: String,
    /// Parent ids (none for a root commit, several for a merge).
    pub parents: Vec<String>,
    /// Lines added against the first parent (see [`line_changes`]; absent in records collected
    /// before line counts were read, which count 0).
    #[serde(default)]
    pub additions: u64,
    /// Lines deleted against the first parent.
    #[serde(default)]
    pub deletions: u64,
    /// Author's name.
    pub author_name: String,
    /// Author's e-mail as written.
    pub author_email: String,
    /// When authored, in the author's offset.
    pub authored_at: DateTime<FixedOffset>,
    /// Committer's name.
    pub committer_name: String,
    /// Committer's e-mail.
    pub committer_email: String,
    /// When committed, in the committer's offset.
    pub committed_at: DateTime<FixedOffset>,
    /// First non-empty line of the message.
    pub summary: String,
}

/// A deployment tag as collected (the `tags` raw record's payload) and extracted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitTag {
    /// Short name (`v1.2.0`).
    pub name: String,
    /// The commit it points at.
    pub target: String,
    /// Annotated (a tag object) or lightweight.
    pub annotated: bool,
    /// The tagger's time for an annotated tag, else the commit time.
    pub tagged_at: DateTime<FixedOffset>,
    /// The previous matching tag, by time.
    pub previous: Option<String>,
    /// Commits reachable from this tag and not from the previous one.
    pub commits: Vec<String>,
}

/// The git connector's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRow {
    /// A commit.
    Commit(GitCommit),
    /// A tag counting as a deployment.
    Tag(GitTag),
}

fn is_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Extract stage: `commits` and `tags` raw records to [`GitRow`]s.
#[derive(Debug, Default, Clone, Copy)]
pub struct GitExtract;

impl Extract for GitExtract {
    type Row = GitRow;

    fn extract(&self, raw: &RawRecord) -> Result<Vec<GitRow>, SyncError> {
        let broken = |why: String| {
            SyncError::Permanent(format!(
                "raw git record {}/{} is unusable: {why}",
                raw.endpoint, raw.external_id
            ))
        };
        match raw.endpoint.as_str() {
            COMMITS => {
                let c = GitCommit::deserialize(&raw.payload).map_err(|e| broken(e.to_string()))?;
                if !is_sha(&c.sha) || !c.parents.iter().all(|p| is_sha(p)) {
                    return Err(broken("a commit id is not a hex object id".into()));
                }
                Ok(vec![GitRow::Commit(c)])
            }
            TAGS => {
                let t = GitTag::deserialize(&raw.payload).map_err(|e| broken(e.to_string()))?;
                if t.name.is_empty() {
                    return Err(broken("the tag has no name".into()));
                }
                if !is_sha(&t.target) || !t.commits.iter().all(|c| is_sha(c)) {
                    return Err(broken("a commit id is not a hex object id".into()));
                }
                Ok(vec![GitRow::Tag(t)])
            }
            other => Err(broken(format!("unknown endpoint '{other}'"))),
        }
    }
}

/// A tag deployment in the normalized model: the row, and what it links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitDeployment {
    /// The `deployments` row (`id`, `client_id` and `synced_at` are set when stored).
    pub deployment: deployments::Model,
    /// The commit deployed to the repository.
    pub commit_sha: String,
    /// External ids of the commits it shipped.
    pub shipped: Vec<String>,
}

/// The git connector's normalized model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitModel {
    /// A `commits` row (`id`, `client_id`, `synced_at` and `author_person_id` are set when
    /// stored).
    Commit(commits::Model),
    /// A deployment from a tag.
    Deployment(GitDeployment),
}

/// Convert stage: rows to the normalized model of one repository.
#[derive(Debug, Clone)]
pub struct GitConvert {
    /// The stored repository's id.
    pub repository_id: Uuid,
    /// The repository's external id (prefix of its commits' and deployments' ids).
    pub repo_key: String,
    /// Environment of tag deployments.
    pub environment: String,
    /// Whether they are production deployments.
    pub is_production: bool,
}

impl GitConvert {
    /// A commit's external id.
    pub fn commit_key(&self, sha: &str) -> String {
        format!("{}@{sha}", self.repo_key)
    }

    /// A tag deployment's external id.
    pub fn deployment_key(&self, tag: &str) -> String {
        format!("{}#{tag}", self.repo_key)
    }
}

impl Convert for GitConvert {
    type Row = GitRow;
    type Model = GitModel;

    fn convert(&self, rows: &[GitRow]) -> Vec<GitModel> {
        rows.iter()
            .map(|row| match row {
                GitRow::Commit(c) => GitModel::Commit(commits::Model {
                    id: Uuid::nil(),
                    client_id: Uuid::nil(),
                    source: SOURCE.into(),
                    external_id: self.commit_key(&c.sha),
                    synced_at: DateTime::<Utc>::UNIX_EPOCH,
                    repository_id: self.repository_id,
                    sha: c.sha.clone(),
                    message: Some(c.summary.clone()).filter(|m| !m.is_empty()),
                    author_name: Some(c.author_name.clone()).filter(|n| !n.is_empty()),
                    author_email: Some(c.author_email.to_lowercase()).filter(|e| !e.is_empty()),
                    author_login: None,
                    author_person_id: None,
                    authored_at: c.authored_at.with_timezone(&Utc),
                    committed_at: c.committed_at.with_timezone(&Utc),
                    additions: i64::try_from(c.additions).unwrap_or(i64::MAX),
                    deletions: i64::try_from(c.deletions).unwrap_or(i64::MAX),
                    parent_count: Some(i32::try_from(c.parents.len()).unwrap_or(i32::MAX)),
                }),
                GitRow::Tag(t) => {
                    let at = t.tagged_at.with_timezone(&Utc);
                    GitModel::Deployment(GitDeployment {
                        deployment: deployments::Model {
                            id: Uuid::nil(),
                            client_id: Uuid::nil(),
                            source: SOURCE.into(),
                            external_id: self.deployment_key(&t.name),
                            synced_at: DateTime::<Utc>::UNIX_EPOCH,
                            name: Some(t.name.clone()),
                            environment: self.environment.clone(),
                            is_production: self.is_production,
                            counted: true,
                            reported_production: Some(self.is_production),
                            branch: None,
                            status: "success".into(),
                            origin: "tag".into(),
                            started_at: at,
                            finished_at: Some(at),
                            commit_sha: Some(t.target.clone()),
                            url: None,
                        },
                        commit_sha: t.target.clone(),
                        shipped: t.commits.iter().map(|c| self.commit_key(c)).collect(),
                    })
                }
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Checkpoint and the sync.

/// Where a sync stands. The final checkpoint of a successful job is the next incremental run's
/// watermark.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCheckpoint {
    /// The branch tip whose whole history is stored.
    #[serde(default)]
    pub head: Option<String>,
    /// The tip a run is syncing to (its new commits are those not reachable from `head`).
    #[serde(default)]
    pub target: Option<String>,
    /// How many of those new commits (oldest first) are stored.
    #[serde(default)]
    pub written: u64,
    /// How many deployment tags this run has stored so far (so a resumed run's progress counts
    /// them as done).
    #[serde(default)]
    pub tags_written: u64,
    /// Deployment tags stored: name → `"<commit sha> <previous tag>"`, so a tag is written again
    /// only when it moved or its predecessor changed.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn parse_checkpoint(v: Option<&Value>) -> Option<GitCheckpoint> {
    v.and_then(|v| serde_json::from_value(v.clone()).ok())
}

fn oid(s: &str) -> Option<ObjectId> {
    ObjectId::from_hex(s.as_bytes()).ok()
}

fn tag_entry(target: &ObjectId, previous: Option<&str>) -> String {
    format!("{target} {}", previous.unwrap_or_default())
}

/// The stages after collect, for one page, in the page's fenced transaction: keeps the raw
/// records, extracts and converts them, and stores the rows (commits first: tags link to them).
/// The caller commits the transaction with the checkpoint covering the page.
pub async fn store_page(
    tx: &JobTx,
    integration: crate::ids::IntegrationId,
    scope: &str,
    convert: &GitConvert,
    people: &PersonResolver,
    raw: &[RawRecord],
) -> Result<(), SyncError> {
    tx.upsert_raw(integration, scope, raw).await?;
    crate::failpoint::hit("git.after_raw_records");
    load_page(tx, convert, people, raw).await
}

/// Extract, convert and load for one page (what [`store_page`] does after keeping the raw
/// records), in the page's fenced transaction.
pub async fn load_page(
    tx: &JobTx,
    convert: &GitConvert,
    people: &PersonResolver,
    raw: &[RawRecord],
) -> Result<(), SyncError> {
    let models = extract_convert(&GitExtract, convert, raw)?;
    load(tx, convert.repository_id, people, models).await
}

/// Stores a page's normalized rows. Commits first (tags link to them).
async fn load(
    tx: &JobTx,
    repository_id: Uuid,
    people: &PersonResolver,
    models: Vec<GitModel>,
) -> Result<(), SyncError> {
    let mut commit_rows = Vec::new();
    let mut deploys = Vec::new();
    for m in models {
        match m {
            GitModel::Commit(mut c) => {
                c.author_person_id = people.resolve(SOURCE, None, c.author_email.as_deref());
                commit_rows.push(c);
            }
            GitModel::Deployment(d) => deploys.push(d),
        }
    }
    if !commit_rows.is_empty() {
        ingested::store::<commits::Entity>(tx.tenant(), commit_rows).await?;
    }
    if deploys.is_empty() {
        return Ok(());
    }
    let shipped: Vec<String> = deploys
        .iter()
        .flat_map(|d| d.shipped.iter().cloned())
        .collect();
    let commit_ids =
        ingested::ids_by_external::<commits::Entity>(tx.tenant(), SOURCE, &shipped).await?;
    let stored = ingested::upsert::<deployments::Entity>(
        tx.tenant(),
        deploys.iter().map(|d| d.deployment.clone()).collect(),
    )
    .await?;
    let mut repo_links = Vec::new();
    let mut commit_links = Vec::new();
    for (d, id) in deploys.iter().zip(&stored.ids) {
        repo_links.push(deployment_repositories::Model {
            id: Uuid::nil(),
            client_id: Uuid::nil(),
            deployment_id: *id,
            repository_id,
            commit_sha: Some(d.commit_sha.clone()),
        });
        for key in &d.shipped {
            let commit_id = commit_ids.get(key).ok_or_else(|| {
                SyncError::Transient(format!("commit {key} shipped by a tag is not stored yet"))
            })?;
            commit_links.push(deployment_commits::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                deployment_id: *id,
                commit_id: *commit_id,
            });
        }
    }
    links::replace::<deployment_repositories::Entity>(
        tx.tenant(),
        "deployment_id",
        &stored.ids,
        repo_links,
        &["deployment_id", "repository_id"],
    )
    .await?;
    links::replace::<deployment_commits::Entity>(
        tx.tenant(),
        "deployment_id",
        &stored.ids,
        commit_links,
        &["deployment_id", "commit_id"],
    )
    .await?;
    // The client's metric rules decide whether these tags count and are production, and which
    // incidents they are charged with; applied with the page, in its transaction.
    let changed = pulse_analytics::rules::Changed {
        deployments: stored.ids.clone(),
        ..Default::default()
    };
    pulse_analytics::rules::recompute(
        tx.tenant(),
        &pulse_analytics::rules::Scope::Changed(changed),
    )
    .await?;
    Ok(())
}

/// A re-convert's checkpoint: the endpoint being walked and the last external id loaded.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Reconverted {
    endpoint: Option<String>,
    after: Option<String>,
    done: u64,
}

/// A commit's raw record.
pub fn raw_commit(c: &GitCommit) -> RawRecord {
    RawRecord {
        endpoint: COMMITS.into(),
        external_id: c.sha.clone(),
        payload: serde_json::to_value(c).expect("a commit serializes"),
    }
}

#[async_trait]
impl Connector for GitConnector {
    fn describe(&self) -> ConnectorInfo {
        ConnectorInfo {
            kind: GIT_KIND.into(),
            name: "Git repository (local)".into(),
            rules_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["path"],
                "properties": {
                    "path": {"type": "string", "description": "Absolute path of a clone or mirror on the worker's machine"},
                    "tag_pattern": {"type": "string", "default": DEFAULT_TAG_PATTERN, "description": "Tags matching this regular expression count as deployments"},
                    "environment": {"type": "string", "default": DEFAULT_ENVIRONMENT, "description": "Environment of tag deployments"},
                    "is_production": {"type": "boolean", "description": "Default: the environment contains 'prod'"},
                    "branch": {"type": "string", "description": "Branch to follow; default HEAD"},
                    "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 500, "description": "Commits written per transaction"},
                    "tag_page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 50, "description": "Deployment tags written per transaction"}
                }
            }),
            scope_label: "repository".into(),
        }
    }

    async fn test_connection(&self, integration: &IntegrationConfig) -> Result<(), SyncError> {
        let (resolved, repo) = self.open(integration).await?;
        let branch = resolved.branch.clone();
        repo.with(move |r| tip(r, branch.as_deref()).map(|_| ()))
            .await
    }

    async fn discover_scopes(
        &self,
        integration: &IntegrationConfig,
    ) -> Result<Vec<ScopeInfo>, SyncError> {
        let (resolved, _repo) = self.open(integration).await?;
        Ok(vec![ScopeInfo {
            id: resolved.scope.clone(),
            name: resolved.scope,
        }])
    }

    async fn sync(&self, ctx: &mut SyncContext) -> Result<(), SyncError> {
        let (cfg, repo) = self.open(ctx.integration()).await?;
        if ctx.scope() != cfg.scope {
            return Err(SyncError::Permanent(format!(
                "the scope '{}' is not this integration's repository ('{}'); discover the scopes \
                 again and sync '{}'",
                ctx.scope(),
                cfg.scope,
                cfg.scope
            )));
        }
        let integration = ctx.job().integration;
        let scope = cfg.scope.clone();
        let repo_key = format!("{integration}/{scope}");

        // Where to start: this job's own checkpoint (a resumed run), else the watermark of the
        // last successful job, else the beginning.
        let branch = cfg.branch.clone();
        let current = repo.with(move |r| tip(r, branch.as_deref())).await?;
        let branch_name = current.as_ref().and_then(|(_, name)| name.clone());
        let own = parse_checkpoint(ctx.checkpoint()).filter(|c| c.target.is_some());
        let mut state = match own {
            Some(own) => own,
            None => {
                let mut s = parse_checkpoint(ctx.previous_checkpoint()).unwrap_or_default();
                s.target = current.as_ref().map(|(id, _)| id.to_string());
                s.written = 0;
                s.tags_written = 0;
                s
            }
        };
        let target = state.target.as_deref().and_then(oid);
        let base = state.head.as_deref().and_then(oid);
        let pattern = cfg.pattern.clone();
        let (target, new_commits, tags) = repo
            .with(move |r| {
                // A target that vanished (history rewritten and collected) restarts at the tip.
                let target = match target {
                    Some(t) if exists(r, &t) => Some(t),
                    _ => None,
                };
                let target = target.or_else(|| current.as_ref().map(|(id, _)| *id));
                let list = match target {
                    Some(t) => reachable(r, t, base)?,
                    None => Vec::new(),
                };
                Ok((target, list, read_tags(r, &pattern)?))
            })
            .await?;
        if state.target.as_deref().and_then(oid) != target {
            state.target = target.map(|t| t.to_string());
            state.written = 0;
            state.tags_written = 0;
        }
        let skip = usize::try_from(state.written)
            .unwrap_or(usize::MAX)
            .min(new_commits.len());

        // Tags to (re)write: new, moved, or whose predecessor changed.
        let mut todo: Vec<(FoundTag, Option<FoundTag>)> = Vec::new();
        for (i, tag) in tags.iter().enumerate() {
            let previous = i.checked_sub(1).map(|p| tags[p].clone());
            let entry = tag_entry(&tag.target, previous.as_ref().map(|p| p.name.as_str()));
            if state.tags.get(&tag.name) != Some(&entry) {
                todo.push((tag.clone(), previous));
            }
        }
        // Tags an earlier attempt of this job stored are done already (they are not in `todo`).
        let total = new_commits.len() as u64 + state.tags_written + todo.len() as u64;
        let mut done = skip as u64 + state.tags_written;
        let progress = |phase: &str, done: u64, current: Option<String>| Progress {
            phase: phase.into(),
            done,
            total: Some(total),
            current,
        };

        // The repository row; the people commits are attributed to.
        let tx = ctx.begin().await?;
        let stored = ingested::upsert::<repositories::Entity>(
            tx.tenant(),
            vec![repositories::Model {
                id: Uuid::nil(),
                client_id: Uuid::nil(),
                source: SOURCE.into(),
                external_id: repo_key.clone(),
                synced_at: DateTime::<Utc>::UNIX_EPOCH,
                full_name: scope.clone(),
                default_branch: branch_name,
                url: None,
            }],
        )
        .await?;
        let repository_id = stored.ids[0];
        let people = PersonResolver::load(tx.tenant()).await?;
        ctx.commit(
            tx,
            serde_json::to_value(&state).expect("checkpoint serializes"),
            progress("commits", done, None),
        )
        .await?;
        ctx.log(
            LogLevel::Info,
            &format!(
                "syncing {} new commits and {} deployment tags of {scope}",
                new_commits.len() - skip,
                todo.len()
            ),
            Some(json!({"commits": new_commits.len() - skip, "tags": todo.len()})),
        )
        .await?;

        let convert = GitConvert {
            repository_id,
            repo_key,
            environment: cfg.environment.clone(),
            is_production: cfg.is_production,
        };

        // Commits, oldest first, a page per transaction.
        let mut next = skip;
        while next < new_commits.len() {
            ctx.check()?;
            let end = (next + cfg.page_size).min(new_commits.len());
            let page = new_commits[next..end].to_vec();
            let raw: Vec<RawRecord> = repo
                .with(move |r| {
                    page.into_iter()
                        .map(|id| read_commit(r, id).map(|c| raw_commit(&c)))
                        .collect()
                })
                .await?;
            let tx = ctx.begin().await?;
            store_page(&tx, integration, &scope, &convert, &people, &raw).await?;
            state.written = end as u64;
            done = end as u64;
            ctx.commit(
                tx,
                serde_json::to_value(&state).expect("checkpoint serializes"),
                progress("commits", done, raw.last().map(|r| r.external_id.clone())),
            )
            .await?;
            next = end;
        }

        // Deployment tags, with the commits each shipped.
        for chunk in todo.chunks(cfg.tag_page_size) {
            ctx.check()?;
            let ranges_of = chunk.to_vec();
            let ranges: Vec<Vec<ObjectId>> = repo
                .with(move |r| {
                    ranges_of
                        .iter()
                        .map(|(tag, prev)| {
                            reachable(r, tag.target, prev.as_ref().map(|p| p.target))
                        })
                        .collect()
                })
                .await?;
            let tx = ctx.begin().await?;
            // Commits a tag shipped that the branch does not contain are stored with the tag.
            let mut wanted: Vec<ObjectId> = Vec::new();
            let mut seen = HashSet::new();
            for id in ranges.iter().flatten() {
                if seen.insert(*id) {
                    wanted.push(*id);
                }
            }
            let keys: Vec<String> = wanted
                .iter()
                .map(|id| convert.commit_key(&id.to_string()))
                .collect();
            let known: HashMap<String, Uuid> =
                ingested::ids_by_external::<commits::Entity>(tx.tenant(), SOURCE, &keys).await?;
            let missing: Vec<ObjectId> = wanted
                .into_iter()
                .zip(&keys)
                .filter(|(_, k)| !known.contains_key(*k))
                .map(|(id, _)| id)
                .collect();
            let mut raw: Vec<RawRecord> = repo
                .with(move |r| {
                    missing
                        .into_iter()
                        .map(|id| read_commit(r, id).map(|c| raw_commit(&c)))
                        .collect()
                })
                .await?;
            for ((tag, prev), range) in chunk.iter().zip(&ranges) {
                let row = GitTag {
                    name: tag.name.clone(),
                    target: tag.target.to_string(),
                    annotated: tag.annotated,
                    tagged_at: tag.tagged_at,
                    previous: prev.as_ref().map(|p| p.name.clone()),
                    commits: range.iter().map(ToString::to_string).collect(),
                };
                raw.push(RawRecord {
                    endpoint: TAGS.into(),
                    external_id: tag.name.clone(),
                    payload: serde_json::to_value(&row).expect("a tag serializes"),
                });
            }
            store_page(&tx, integration, &scope, &convert, &people, &raw).await?;
            for (tag, prev) in chunk {
                state.tags.insert(
                    tag.name.clone(),
                    tag_entry(&tag.target, prev.as_ref().map(|p| p.name.as_str())),
                );
            }
            state.tags_written += chunk.len() as u64;
            done += chunk.len() as u64;
            ctx.commit(
                tx,
                serde_json::to_value(&state).expect("checkpoint serializes"),
                progress("tags", done, chunk.last().map(|(t, _)| t.name.clone())),
            )
            .await?;
        }

        // Done: the target's history is stored; tags deleted upstream keep their deployments.
        let names: HashSet<&str> = tags.iter().map(|t| t.name.as_str()).collect();
        state.tags.retain(|name, _| names.contains(name.as_str()));
        state.head = state.target.clone();
        state.written = 0;
        state.tags_written = 0;
        let tx = ctx.begin().await?;
        ctx.commit(
            tx,
            serde_json::to_value(&state).expect("checkpoint serializes"),
            progress("done", total, None),
        )
        .await?;
        Ok(())
    }

    async fn reconvert(&self, ctx: &mut SyncContext) -> Result<(), SyncError> {
        // The kept raw records and the repository row are the job's scope's: a scope this
        // integration never collected finds none of either and is refused below.
        let cfg = self.resolve(ctx.integration(), Disk::Skip)?;
        let scope = ctx.scope().to_string();
        let integration = ctx.job().integration;
        let repo_key = format!("{integration}/{scope}");
        let total = ctx.raw_record_count().await?;
        let tx = ctx.begin().await?;
        let repository_id =
            ingested::find_id::<repositories::Entity>(tx.tenant(), SOURCE, &repo_key)
                .await?
                .ok_or_else(|| {
                    SyncError::Permanent(format!(
                        "nothing of '{}' has been collected yet: run a sync first",
                        scope
                    ))
                })?;
        let people = PersonResolver::load(tx.tenant()).await?;
        tx.commit().await?;
        let convert = GitConvert {
            repository_id,
            repo_key,
            environment: cfg.environment.clone(),
            is_production: cfg.is_production,
        };
        // Resume point: the endpoint being walked and the last external id done. Commits go
        // first (tags link to them).
        let mut at: Reconverted = ctx
            .checkpoint()
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default();
        ctx.log(
            LogLevel::Info,
            &format!("re-converting {total} kept raw records of {}", scope),
            Some(json!({"records": total})),
        )
        .await?;
        let first = [COMMITS, TAGS]
            .iter()
            .position(|e| at.endpoint.as_deref() == Some(*e))
            .unwrap_or(0);
        for endpoint in [COMMITS, TAGS].into_iter().skip(first) {
            if at.endpoint.as_deref() != Some(endpoint) {
                at.endpoint = Some(endpoint.to_string());
                at.after = None;
            }
            let page_size = if endpoint == TAGS {
                cfg.tag_page_size
            } else {
                cfg.page_size
            };
            loop {
                ctx.check()?;
                let raw = ctx
                    .raw_records(endpoint, at.after.as_deref(), page_size as u64)
                    .await?;
                let Some(last) = raw.last() else { break };
                let last = last.external_id.clone();
                let tx = ctx.begin().await?;
                load_page(&tx, &convert, &people, &raw).await?;
                at.after = Some(last.clone());
                at.done += raw.len() as u64;
                ctx.commit(
                    tx,
                    serde_json::to_value(&at).expect("checkpoint serializes"),
                    Progress {
                        phase: format!("re-convert {endpoint}"),
                        done: at.done,
                        total: Some(total.max(at.done)),
                        current: Some(last),
                    },
                )
                .await?;
            }
        }
        ctx.log(
            LogLevel::Info,
            &format!("re-converted {} raw records of {}", at.done, scope),
            Some(json!({"records": at.done})),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    fn convert() -> GitConvert {
        GitConvert {
            repository_id: Uuid::from_u128(7),
            repo_key: "int/pulse".into(),
            environment: "production".into(),
            is_production: true,
        }
    }

    fn recorded() -> Vec<RawRecord> {
        vec![
            RawRecord {
                endpoint: COMMITS.into(),
                external_id: B.into(),
                payload: json!({
                    "sha": B, "parents": [A], "additions": 12, "deletions": 3,
                    "author_name": "Ada Lovelace", "author_email": "Ada@Example.COM",
                    "authored_at": "2024-03-04T11:00:00+01:00",
                    "committer_name": "Bot", "committer_email": "bot@example.com",
                    "committed_at": "2024-03-04T12:30:00+01:00",
                    "summary": "Add payment intents"
                }),
            },
            RawRecord {
                endpoint: TAGS.into(),
                external_id: "v1.0.0".into(),
                payload: json!({
                    "name": "v1.0.0", "target": B, "annotated": true,
                    "tagged_at": "2024-03-05T09:00:00Z", "previous": null,
                    "commits": [A, B]
                }),
            },
        ]
    }

    #[test]
    fn stages_turn_recorded_records_into_commits_and_deployments() {
        let models = extract_convert(&GitExtract, &convert(), &recorded()).unwrap();
        assert_eq!(models.len(), 2);
        let GitModel::Commit(c) = &models[0] else {
            panic!("commit first")
        };
        assert_eq!(c.source, "git");
        assert_eq!(c.external_id, format!("int/pulse@{B}"));
        assert_eq!(c.repository_id, Uuid::from_u128(7));
        assert_eq!(c.sha, B);
        assert_eq!(c.message.as_deref(), Some("Add payment intents"));
        assert_eq!(c.author_name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(c.author_email.as_deref(), Some("ada@example.com"));
        assert_eq!(c.authored_at, at("2024-03-04T10:00:00Z"));
        assert_eq!(c.committed_at, at("2024-03-04T11:30:00Z"));
        assert_eq!((c.additions, c.deletions), (12, 3));
        assert_eq!(c.parent_count, Some(1));

        let GitModel::Deployment(d) = &models[1] else {
            panic!("deployment second")
        };
        assert_eq!(d.deployment.external_id, "int/pulse#v1.0.0");
        assert_eq!(d.deployment.name.as_deref(), Some("v1.0.0"));
        assert_eq!(d.deployment.environment, "production");
        assert!(d.deployment.is_production);
        assert_eq!(d.deployment.status, "success");
        assert_eq!(d.deployment.origin, "tag");
        assert_eq!(d.deployment.started_at, at("2024-03-05T09:00:00Z"));
        assert_eq!(
            d.deployment.finished_at,
            Some(at("2024-03-05T09:00:00Z").into())
        );
        assert_eq!(d.deployment.commit_sha.as_deref(), Some(B));
        assert_eq!(d.commit_sha, B);
        assert_eq!(
            d.shipped,
            vec![format!("int/pulse@{A}"), format!("int/pulse@{B}")]
        );
    }

    #[test]
    fn collected_commits_round_trip_through_raw_records() {
        let c = GitCommit {
            sha: A.into(),
            parents: vec![],
            additions: 4,
            deletions: 0,
            author_name: "A".into(),
            author_email: "a@x".into(),
            authored_at: at("2020-01-01T00:00:00-05:00"),
            committer_name: "A".into(),
            committer_email: "a@x".into(),
            committed_at: at("2020-01-01T00:00:00-05:00"),
            summary: String::new(),
        };
        let rows = GitExtract.extract(&raw_commit(&c)).unwrap();
        assert_eq!(rows, vec![GitRow::Commit(c.clone())]);
        let GitModel::Commit(m) = &convert().convert(&rows)[0] else {
            panic!()
        };
        assert_eq!(m.message, None, "an empty message is stored as none");
        assert_eq!(m.parent_count, Some(0), "a root commit has no parents");
        assert_eq!((m.additions, m.deletions), (4, 0));

        // Records collected before line counts were read still extract (counting 0).
        let mut old = raw_commit(&c);
        let payload = old.payload.as_object_mut().unwrap();
        payload.remove("additions");
        payload.remove("deletions");
        let GitRow::Commit(read) = &GitExtract.extract(&old).unwrap()[0] else {
            panic!()
        };
        assert_eq!((read.additions, read.deletions), (0, 0));
    }

    #[test]
    fn lines_are_counted_like_git_numstat() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a\nb\n"), 2);
        assert_eq!(
            count_lines(b"a\nb"),
            2,
            "a last line without newline counts"
        );
        assert_eq!(
            count_lines(b"\x89PNG\0\x01\n"),
            0,
            "binary content counts no lines"
        );
        assert_eq!(diff_lines(b"a\nb\nc\n", b"a\nB\nc\nd\n"), (2, 1));
        assert_eq!(diff_lines(b"a\nb\n", b"a\nb\n"), (0, 0));
        assert_eq!(diff_lines(b"", b"x\ny\n"), (2, 0));
        assert_eq!(
            diff_lines(b"a\nb", b"a\nb\n"),
            (1, 1),
            "adding the final newline changes the last line"
        );
        assert_eq!(diff_lines(b"a\n", b"\0binary"), (0, 0));
    }

    #[test]
    fn broken_records_are_permanent_errors_naming_the_record() {
        for (endpoint, payload) in [
            (COMMITS, json!({"sha": "nothex"})),
            (COMMITS, {
                let mut p = recorded()[0].payload.clone();
                p["sha"] = json!("zz");
                p
            }),
            (TAGS, {
                let mut p = recorded()[1].payload.clone();
                p["commits"] = json!(["x"]);
                p
            }),
            ("branches", json!({})),
        ] {
            let raw = RawRecord {
                endpoint: endpoint.into(),
                external_id: "rec-1".into(),
                payload,
            };
            let Err(SyncError::Permanent(m)) = GitExtract.extract(&raw) else {
                panic!("{endpoint} must fail permanently")
            };
            assert!(m.contains(&format!("{endpoint}/rec-1")), "{m}");
        }
    }

    #[test]
    fn default_pattern_matches_release_versions_only() {
        let re = Regex::new(DEFAULT_TAG_PATTERN).unwrap();
        for ok in ["v1.2.3", "1.2.3", "v10.0.12"] {
            assert!(re.is_match(ok), "{ok}");
        }
        for no in ["v1.2", "v1.2.3-rc1", "release-1.2.3", "nightly"] {
            assert!(!re.is_match(no), "{no}");
        }
    }

    #[test]
    fn scope_is_the_directory_name_without_git() {
        assert_eq!(scope_name(Path::new("/srv/git/pulse.git")), "pulse");
        assert_eq!(scope_name(Path::new("/home/ci/pulse/.git")), "pulse");
        assert_eq!(scope_name(Path::new("/home/ci/pulse")), "pulse");
    }

    #[test]
    fn paths_are_checked_with_actionable_messages() {
        let msg = |r: Result<PathBuf, SyncError>| match r {
            Err(SyncError::Permanent(m)) => m,
            other => panic!("expected a permanent error, got {other:?}"),
        };
        assert!(msg(check_path("", None)).contains("rules.path is empty"));
        assert!(msg(check_path("relative/repo", None)).contains("absolute path"));
        assert!(msg(check_path("/no/such/pulse-repo", None)).contains("check that it exists"));
        let root = std::env::temp_dir().join(format!("pulse-git-root-{}", Uuid::new_v4()));
        std::fs::create_dir_all(root.join("inside")).unwrap();
        let outside = std::env::temp_dir().join(format!("pulse-git-out-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&outside).unwrap();
        assert!(check_path(root.join("inside").to_str().unwrap(), Some(&root)).is_ok());
        let escape = format!(
            "{}/../{}",
            root.display(),
            outside.file_name().unwrap().to_string_lossy()
        );
        let m = msg(check_path(&escape, Some(&root)));
        assert!(
            m.contains("outside") && m.contains("update rules.path"),
            "{m}"
        );
        std::fs::remove_dir_all(&root).ok();
        std::fs::remove_dir_all(&outside).ok();
    }
}
