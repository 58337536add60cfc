//! CSV exports of the drill-down lists: every row of the filtered result, in the order of the
//! JSON pages, with the same columns, streamed as it is read (memory stays bounded by one chunk,
//! whatever the number of rows).
//!
//! The export runs in one snapshot transaction ([`pulse_db::Db::tenant_snapshot`]): the count
//! sent as `X-Total-Count` and the rows come from the same snapshot. A background task reads one
//! database cursor and sends CSV chunks through a bounded channel, so a slow reader slows the
//! query instead of filling memory; when the reader goes away the task stops and the transaction
//! ends. A failure after the first bytes cannot change the status any more: the stream then ends
//! with an error, so the client sees a broken transfer rather than a short file.

use std::time::Duration;

use futures_util::TryStreamExt;
use pulse_core::Result;
use pulse_db::entity::{deployment_repositories, deployments};
use pulse_db::repo::{incidents, issues, pull_requests, sprints};
use pulse_db::sea_orm::sea_query::{Alias, Expr, Order};
use pulse_db::sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryResult, QueryTrait,
    Select, Statement, StreamTrait,
};
use pulse_db::TenantTx;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::csv::{field, CsvRow};
use crate::data::{DeploymentItem, IncidentItem, IssueItem, PullRequestItem, SprintItem};

/// Bytes per chunk sent to the client.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks buffered between the query and a slow client.
const CHANNEL_CHUNKS: usize = 4;
/// An export still running after this long is abandoned (it holds a connection).
const MAX_EXPORT: Duration = Duration::from_secs(30 * 60);

/// A streaming CSV export.
pub struct CsvExport {
    /// Rows the export will contain (for `X-Total-Count`).
    pub total: u64,
    /// The CSV, header first, in chunks; an `Err` ends a failed export.
    pub chunks: mpsc::Receiver<std::result::Result<Vec<u8>, std::io::Error>>,
}

fn line(cells: Vec<String>) -> String {
    let mut s = cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
    s.push_str("\r\n");
    s
}

/// Turns database rows into CSV lines; rows of one item may span several database rows.
trait Lines: Send + 'static {
    /// Consumes a row; returns the lines completed by it.
    fn push(&mut self, row: &QueryResult) -> std::result::Result<Option<String>, DbErr>;
    /// The last pending line.
    fn finish(&mut self) -> Option<String>;
}

struct Single<M, T> {
    convert: fn(M) -> T,
}

impl<M, T> Lines for Single<M, T>
where
    M: FromQueryResult + Send + 'static,
    T: CsvRow + Send + 'static,
{
    fn push(&mut self, row: &QueryResult) -> std::result::Result<Option<String>, DbErr> {
        let model = M::from_query_result(row, "")?;
        Ok(Some(line((self.convert)(model).fields())))
    }

    fn finish(&mut self) -> Option<String> {
        None
    }
}

/// Deployments joined with their repositories, one database row per (deployment, repository).
#[derive(Default)]
struct Deployments {
    current: Option<(deployments::Model, Vec<Uuid>)>,
}

const REPOSITORY_COLUMN: &str = "export_repository_id";

fn deployment_line(d: deployments::Model, mut repository_ids: Vec<Uuid>) -> String {
    repository_ids.sort();
    repository_ids.dedup();
    line(DeploymentItem::from_row(d, repository_ids).fields())
}

impl Lines for Deployments {
    fn push(&mut self, row: &QueryResult) -> std::result::Result<Option<String>, DbErr> {
        let model = deployments::Model::from_query_result(row, "")?;
        let repo: Option<Uuid> = row.try_get("", REPOSITORY_COLUMN)?;
        match &mut self.current {
            Some((d, repos)) if d.id == model.id => {
                repos.extend(repo);
                Ok(None)
            }
            _ => {
                let done = self.current.take().map(|(d, r)| deployment_line(d, r));
                self.current = Some((model, repo.into_iter().collect()));
                Ok(done)
            }
        }
    }

    fn finish(&mut self) -> Option<String> {
        self.current.take().map(|(d, r)| deployment_line(d, r))
    }
}

async fn run(
    tx: TenantTx,
    stmt: Statement,
    header: &'static [&'static str],
    mut lines: impl Lines,
    out: &mpsc::Sender<std::result::Result<Vec<u8>, std::io::Error>>,
) -> std::result::Result<(), DbErr> {
    let mut buf = line(header.iter().map(|h| h.to_string()).collect());
    {
        let mut rows = tx.conn().stream(stmt).await?;
        while let Some(row) = rows.try_next().await? {
            if let Some(l) = lines.push(&row)? {
                buf.push_str(&l);
            }
            let full = buf.len() >= CHUNK_BYTES;
            if full
                && out
                    .send(Ok(std::mem::take(&mut buf).into_bytes()))
                    .await
                    .is_err()
            {
                return Ok(()); // the client went away
            }
        }
    }
    if let Some(l) = lines.finish() {
        buf.push_str(&l);
    }
    tx.commit().await?;
    if !buf.is_empty() {
        let _ = out.send(Ok(buf.into_bytes())).await;
    }
    Ok(())
}

fn spawn(
    tx: TenantTx,
    stmt: Statement,
    header: &'static [&'static str],
    lines: impl Lines,
    total: u64,
) -> CsvExport {
    let (sender, chunks) = mpsc::channel(CHANNEL_CHUNKS);
    tokio::spawn(async move {
        let outcome = tokio::time::timeout(MAX_EXPORT, run(tx, stmt, header, lines, &sender)).await;
        let failure = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => format!("the export failed: {e}"),
            Err(_) => "the export took too long and was stopped".to_string(),
        };
        tracing::error!(target: "pulse::export", "{failure}");
        let _ = sender
            .send(Err(std::io::Error::other("the export failed")))
            .await;
    });
    CsvExport { total, chunks }
}

async fn single<E, T>(
    tx: TenantTx,
    query: Select<E>,
    convert: fn(E::Model) -> T,
) -> Result<CsvExport>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync + 'static,
    T: CsvRow + Send + 'static,
{
    let total = query.clone().count(tx.conn()).await?;
    let stmt = query.build(tx.conn().get_database_backend());
    Ok(spawn(tx, stmt, T::header(), Single { convert }, total))
}

/// Every pull request of the filter, as CSV. `tx` should be a snapshot transaction.
pub async fn pull_requests(tx: TenantTx, filter: pull_requests::PrFilter) -> Result<CsvExport> {
    let query = pull_requests::ordered(&tx, &filter).await?;
    single(tx, query, PullRequestItem::from).await
}

/// Every deployment of the filter, as CSV (with its repositories). `tx` should be a snapshot
/// transaction.
pub async fn deployments(
    tx: TenantTx,
    filter: pulse_db::repo::deployments::DeploymentFilter,
) -> Result<CsvExport> {
    let query = pulse_db::repo::deployments::ordered(&tx, &filter).await?;
    let total = query.clone().count(tx.conn()).await?;
    let mut q = query.into_query();
    q.left_join(
        deployment_repositories::Entity,
        Expr::col((
            deployment_repositories::Entity,
            deployment_repositories::Column::DeploymentId,
        ))
        .equals((deployments::Entity, deployments::Column::Id))
        .and(
            Expr::col((
                deployment_repositories::Entity,
                deployment_repositories::Column::ClientId,
            ))
            .equals((deployments::Entity, deployments::Column::ClientId)),
        ),
    )
    .expr_as(
        Expr::col((
            deployment_repositories::Entity,
            deployment_repositories::Column::RepositoryId,
        )),
        Alias::new(REPOSITORY_COLUMN),
    )
    .order_by(
        (
            deployment_repositories::Entity,
            deployment_repositories::Column::RepositoryId,
        ),
        Order::Asc,
    );
    let stmt = tx.conn().get_database_backend().build(&q);
    Ok(spawn(
        tx,
        stmt,
        DeploymentItem::header(),
        Deployments::default(),
        total,
    ))
}

/// Every incident of the filter, as CSV. `tx` should be a snapshot transaction.
pub async fn incidents(tx: TenantTx, filter: incidents::IncidentFilter) -> Result<CsvExport> {
    let query = incidents::ordered(&tx, &filter).await?;
    single(tx, query, IncidentItem::from).await
}

/// Every issue of the filter, as CSV. `tx` should be a snapshot transaction.
pub async fn issues(tx: TenantTx, filter: issues::IssueFilter) -> Result<CsvExport> {
    let query = issues::ordered(&tx, &filter).await?;
    single(tx, query, IssueItem::from).await
}

/// Every sprint of the filter, as CSV. `tx` should be a snapshot transaction.
pub async fn sprints(tx: TenantTx, filter: sprints::SprintFilter) -> Result<CsvExport> {
    let query = sprints::ordered(&tx, &filter).await?;
    single(tx, query, SprintItem::from).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_crlf_terminated_and_quoted() {
        assert_eq!(line(vec!["a,b".into(), "c".into()]), "\"a,b\",c\r\n");
    }
}
