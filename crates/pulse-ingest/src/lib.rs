//! Loading the normalized engineering model from JSON Lines.
//!
//! An import file holds one JSON object per line, each with a `type` ([`record::Kind`]); the
//! format is documented in `docs/IMPORT.md`. Loading is in two steps:
//!
//! 1. [`validate::check`] reads every line (streaming) and reports every problem with its line
//!    number, without IO besides the reader; references the file does not define are then looked
//!    up in the database ([`check_references`]).
//! 2. [`apply::apply`] writes the records in dependency order in the caller's tenant transaction,
//!    upserting by `(source, id)`, so loading a file twice changes nothing the second time.
//!
//! [`import`] does both. Nothing is written unless the whole file is valid, and since everything
//! happens in one transaction that the caller commits, a failure part-way applies nothing.

pub mod apply;
pub mod push;
pub mod record;
pub mod validate;

use std::collections::HashMap;
use std::io::BufRead;

use pulse_core::FieldError;
use pulse_db::entity::*;
use pulse_db::repo::ingested::{self, Keyed};
use pulse_db::TenantTx;
use serde::Serialize;

pub use apply::{Counts, TypeCount};
pub use record::{Kind, Record};

/// Why an import was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file has problems; nothing was applied. Each names `line N: field`.
    #[error("the file has {} problems", .0.len())]
    Invalid(Vec<FieldError>),
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Read(#[from] std::io::Error),
    /// The file changed between validation and apply (it is read more than once).
    #[error("the file changed while it was imported: {0}")]
    Changed(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] pulse_core::Error),
}

impl From<ImportError> for pulse_core::Error {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Invalid(problems) => pulse_core::Error::Validation(problems),
            ImportError::Read(e) => {
                pulse_core::Error::bad_request("unreadable_file", e.to_string())
            }
            ImportError::Changed(m) => pulse_core::Error::Conflict(m),
            ImportError::Storage(e) => e,
        }
    }
}

/// The outcome of a successful import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Inserted and updated records per type.
    pub counts: Counts,
    /// Records in the file.
    pub records: u64,
}

async fn known<E: Keyed>(
    tx: &TenantTx,
    source: &str,
    ids: &[String],
) -> Result<std::collections::HashSet<String>, pulse_core::Error> {
    Ok(ingested::ids_by_external::<E>(tx, source, ids)
        .await?
        .into_keys()
        .collect())
}

/// Looks up in the database the references the file does not define, and reports those that do
/// not exist either.
pub async fn check_references(
    tx: &TenantTx,
    refs: &[validate::Ref],
) -> Result<Vec<FieldError>, pulse_core::Error> {
    let mut wanted: HashMap<(Kind, &str), Vec<String>> = HashMap::new();
    for r in refs {
        wanted
            .entry((r.kind, r.source.as_str()))
            .or_default()
            .push(r.id.clone());
    }
    let mut found: HashMap<(Kind, &str), std::collections::HashSet<String>> = HashMap::new();
    for ((kind, source), ids) in wanted {
        let set = match kind {
            Kind::Team => known::<teams::Entity>(tx, source, &ids).await?,
            Kind::Person => known::<people::Entity>(tx, source, &ids).await?,
            Kind::Project => known::<projects::Entity>(tx, source, &ids).await?,
            Kind::Repository => known::<repositories::Entity>(tx, source, &ids).await?,
            Kind::PullRequest => known::<pull_requests::Entity>(tx, source, &ids).await?,
            Kind::Commit => known::<commits::Entity>(tx, source, &ids).await?,
            Kind::Review => known::<pr_reviews::Entity>(tx, source, &ids).await?,
            Kind::ReviewComment => known::<pr_review_comments::Entity>(tx, source, &ids).await?,
            Kind::Deployment => known::<deployments::Entity>(tx, source, &ids).await?,
            Kind::Board => known::<boards::Entity>(tx, source, &ids).await?,
            Kind::Sprint => known::<sprints::Entity>(tx, source, &ids).await?,
            Kind::Issue => known::<issues::Entity>(tx, source, &ids).await?,
            Kind::Transition => known::<issue_transitions::Entity>(tx, source, &ids).await?,
            Kind::Incident => known::<incidents::Entity>(tx, source, &ids).await?,
        };
        found.insert((kind, source), set);
    }
    Ok(refs
        .iter()
        .filter(|r| {
            !found
                .get(&(r.kind, r.source.as_str()))
                .is_some_and(|s| s.contains(&r.id))
        })
        .map(validate::unresolved)
        .collect())
}

/// Validates the file that `open` reads and, when it is valid, applies it in `tx` (which the
/// caller commits; dropping it applies nothing). `open` is called once per pass and must return
/// the same content each time (a file path reopened, or an in-memory buffer).
pub async fn import<R, F>(tx: &TenantTx, mut open: F) -> Result<Summary, ImportError>
where
    R: BufRead + Send,
    F: FnMut() -> std::io::Result<R> + Send,
{
    let checked = validate::check(open()?);
    let mut problems = checked.problems;
    if problems.len() < validate::MAX_PROBLEMS {
        problems.extend(check_references(tx, &checked.external_refs).await?);
        problems.sort_by_key(|p| validate::line_of(&p.field));
    }
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems));
    }
    let records = checked.counts.values().sum();
    if records == 0 {
        return Err(ImportError::Invalid(vec![FieldError::new(
            "file",
            "contains no records",
        )]));
    }
    let counts = apply::apply(tx, open).await?;
    Ok(Summary { counts, records })
}
