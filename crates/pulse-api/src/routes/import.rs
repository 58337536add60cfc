//! `/import`: loads records of the engineering model from a JSON Lines body (admin). The format is
//! documented in `docs/IMPORT.md`. A file with any problem is refused whole (422, every problem
//! with its line number) and nothing of it is applied.
//!
//! The body is limited by the server-wide `server.body_limit_bytes` (2 MiB by default); larger
//! files are loaded with `pulse import FILE`, which streams from disk.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use pulse_core::{Error, Result};
use pulse_db::repo::audit;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::entry;
use crate::auth::Admin;
use crate::state::AppState;

/// The `/import` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import_records))
}

/// What an import did to one record type.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportCount {
    /// Records that were new.
    pub inserted: u64,
    /// Records that replaced a stored row with the same source and id.
    pub updated: u64,
}

/// The outcome of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// Records in the file.
    pub records: u64,
    /// Per record type (`team`, `pull_request`, ...), the types present in the file.
    pub counts: BTreeMap<String, ImportCount>,
}

fn accepted(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        mime.as_str(),
        "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" | "text/plain"
    )
}

/// Loads records from a JSON Lines body (admin): one JSON object per line, each with a `type`.
/// Idempotent: records are matched by `(type, source, id)`, so loading a file again updates.
#[utoipa::path(post, path = "/import", tag = "import",
    request_body(content = String, content_type = "application/x-ndjson",
        description = "JSON Lines, one record per line (docs/IMPORT.md); text/plain is accepted too"),
    responses((status = 200, body = ImportResult),
        (status = 403, body = pulse_core::ErrorBody),
        (status = 413, body = pulse_core::ErrorBody),
        (status = 415, body = pulse_core::ErrorBody),
        (status = 422, description = "The file has problems; `details` lists each as `line N: field`",
            body = pulse_core::ErrorBody)))]
async fn import_records(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<ImportResult>> {
    if !accepted(&headers) {
        return Err(Error::UnsupportedMediaType(
            "send the file as application/x-ndjson (or text/plain)".into(),
        ));
    }
    let tx = state.db().tenant(ctx.client).await?;
    let outcome = pulse_ingest::import(&tx, || Ok(&body[..])).await;
    let summary = match outcome {
        Ok(summary) => summary,
        Err(e) => {
            drop(tx);
            let err: Error = e.into();
            if let Error::Validation(problems) = &err {
                let tx = state.db().tenant(ctx.client).await?;
                let mut rejected = entry(&ctx, "data.import_rejected", None);
                rejected.details = Some(serde_json::json!({
                    "bytes": body.len(),
                    "problems": problems.len(),
                }));
                audit::record_in(&tx, rejected).await?;
                tx.commit().await?;
            }
            return Err(err);
        }
    };
    let mut done = entry(&ctx, "data.import", None);
    done.details = Some(serde_json::json!({
        "bytes": body.len(),
        "records": summary.records,
        "counts": summary.counts,
    }));
    audit::record_in(&tx, done).await?;
    tx.commit().await?;
    // A large load changes the tables' shape: refresh the planner's statistics, off the request
    // (the import is committed; a failure only costs speed).
    let (db, records) = (state.db().clone(), summary.records);
    tokio::spawn(async move {
        if let Err(e) = db.refresh_statistics_after(records).await {
            tracing::warn!(error = %e, "refreshing statistics after an import failed");
        }
    });
    Ok(axum::Json(ImportResult {
        records: summary.records,
        counts: summary
            .counts
            .into_iter()
            .map(|(k, c)| {
                (
                    k,
                    ImportCount {
                        inserted: c.inserted,
                        updated: c.updated,
                    },
                )
            })
            .collect(),
    }))
}
