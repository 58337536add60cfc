//! Storage of the incrementally maintained metric aggregates (`rollup_cells`), the markers of what
//! changed since they were computed (`rollup_dirty`, written by triggers in the writing
//! transaction) and the per-client refresh state (`rollup_state`). What the cells contain and how
//! they are kept correct is `pulse_analytics::rollup`'s business; these functions only move rows.

use pulse_core::Result;
use sea_orm::{ConnectionTrait, DatabaseBackend, QueryResult, Statement, Value};
use uuid::Uuid;

use crate::TenantTx;

/// Cells written per `INSERT` statement.
const INSERT_ROWS: usize = 100;

/// A dirty marker: something that feeds the metrics changed at `day` (UTC days since 1970-01-01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// Row id (markers are deleted by id once processed).
    pub id: i64,
    /// What changed: `pr`, `prd`, `dep`, `inc`, `work`, `spr`, `org` or `all`.
    pub kind: String,
    /// UTC day of the changed instant (0 for `org` and `all`).
    pub day: i64,
}

/// Where a cell belongs: a fact family, a dimension (`dim_kind`: 0 client, 1 repository, 2 team,
/// 3 project; `dim_id` the nil id for the client) and a UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    /// Fact family.
    pub family: i16,
    /// Dimension kind.
    pub dim_kind: i16,
    /// Dimension id.
    pub dim_id: Uuid,
    /// UTC day.
    pub day: i64,
}

/// A stored cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Where it belongs.
    pub key: CellKey,
    /// Items it covers.
    pub items: i64,
    /// A family-specific second counter.
    pub extra: i64,
    /// The packed per-item facts.
    pub data: Vec<u8>,
    /// Sum of `items` over the cells of this family and dimension up to this day.
    pub run_items: i64,
    /// Sum of `extra` over the cells of this family and dimension up to this day.
    pub run_extra: i64,
}

/// The running totals of one family and dimension before a day ([`totals_before`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotalsBefore {
    /// Fact family.
    pub family: i16,
    /// Dimension kind.
    pub dim_kind: i16,
    /// Dimension id.
    pub dim_id: Uuid,
    /// The day the totals stop before.
    pub day: i64,
    /// Sum of `items` over the days before `day`.
    pub run_items: i64,
    /// Sum of `extra` over the days before `day`.
    pub run_extra: i64,
}

fn backend(tx: &TenantTx) -> DatabaseBackend {
    tx.conn().get_database_backend()
}

use crate::dialect::numbered as sql;

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

async fn exec(tx: &TenantTx, text: &str, values: Vec<Value>) -> Result<u64> {
    let b = backend(tx);
    let r = tx
        .conn()
        .execute(Statement::from_sql_and_values(b, sql(b, text), values))
        .await?;
    Ok(r.rows_affected())
}

async fn query(tx: &TenantTx, text: &str, values: Vec<Value>) -> Result<Vec<QueryResult>> {
    let b = backend(tx);
    Ok(tx
        .conn()
        .query_all(Statement::from_sql_and_values(b, sql(b, text), values))
        .await?)
}

/// Whether any marker is pending for the transaction's client (the cells are stale).
pub async fn pending(tx: &TenantTx) -> Result<bool> {
    let rows = query(
        tx,
        "SELECT 1 AS one FROM rollup_dirty WHERE client_id = ? LIMIT 1",
        vec![tx.client_uuid().into()],
    )
    .await?;
    Ok(!rows.is_empty())
}

/// Every pending marker of the client, oldest first.
pub async fn markers(tx: &TenantTx) -> Result<Vec<Marker>> {
    let rows = query(
        tx,
        "SELECT id, kind, day FROM rollup_dirty WHERE client_id = ? ORDER BY id",
        vec![tx.client_uuid().into()],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Marker {
                id: r.try_get("", "id")?,
                kind: r.try_get("", "kind")?,
                day: r.try_get("", "day")?,
            })
        })
        .collect()
}

/// Deletes exactly these markers (those a refresh processed).
pub async fn delete_markers(tx: &TenantTx, ids: &[i64]) -> Result<()> {
    for chunk in ids.chunks(500) {
        let mut values: Vec<Value> = vec![tx.client_uuid().into()];
        values.extend(chunk.iter().map(|&i| Value::from(i)));
        exec(
            tx,
            &format!(
                "DELETE FROM rollup_dirty WHERE client_id = ? AND id IN ({})",
                marks(chunk.len())
            ),
            values,
        )
        .await?;
    }
    Ok(())
}

/// Records a marker in the transaction (for changes the triggers cannot see, such as metric
/// rules; `all` recomputes every cell of the client).
pub async fn mark(tx: &TenantTx, kind: &str, day: i64) -> Result<()> {
    let b = backend(tx);
    let text = match b {
        DatabaseBackend::Postgres => {
            "INSERT INTO rollup_dirty (client_id, kind, day) VALUES (?, ?, ?)"
        }
        _ => "INSERT OR IGNORE INTO rollup_dirty (client_id, kind, day) VALUES (?, ?, ?)",
    };
    exec(
        tx,
        text,
        vec![tx.client_uuid().into(), kind.into(), day.into()],
    )
    .await?;
    Ok(())
}

/// Marks every cell of the client stale (organisation or rule changes the triggers do not see).
pub async fn mark_all(tx: &TenantTx) -> Result<()> {
    mark(tx, "all", 0).await
}

/// Takes the client's refresh lock for the rest of the transaction and returns the stored
/// organisation fingerprint. PostgreSQL: the client's `rollup_state` row `FOR UPDATE`, so two
/// refreshes of one client run one after the other. SQLite: the write that creates or touches
/// the row takes the database's single write lock.
pub async fn lock_state(tx: &TenantTx) -> Result<Option<String>> {
    let c: Value = tx.client_uuid().into();
    match backend(tx) {
        DatabaseBackend::Postgres => {
            exec(
                tx,
                "INSERT INTO rollup_state (client_id) VALUES (?) ON CONFLICT (client_id) DO NOTHING",
                vec![c.clone()],
            )
            .await?;
            let rows = query(
                tx,
                "SELECT org_hash FROM rollup_state WHERE client_id = ? FOR UPDATE",
                vec![c],
            )
            .await?;
            Ok(rows
                .first()
                .map(|r| r.try_get::<Option<String>>("", "org_hash"))
                .transpose()?
                .flatten())
        }
        _ => {
            exec(
                tx,
                "INSERT OR IGNORE INTO rollup_state (client_id) VALUES (?)",
                vec![c.clone()],
            )
            .await?;
            exec(
                tx,
                "UPDATE rollup_state SET org_hash = org_hash WHERE client_id = ?",
                vec![c.clone()],
            )
            .await?;
            let rows = query(
                tx,
                "SELECT org_hash FROM rollup_state WHERE client_id = ?",
                vec![c],
            )
            .await?;
            Ok(rows
                .first()
                .map(|r| r.try_get::<Option<String>>("", "org_hash"))
                .transpose()?
                .flatten())
        }
    }
}

/// Stores the organisation fingerprint the cells were computed with.
pub async fn save_state(tx: &TenantTx, org_hash: &str) -> Result<()> {
    exec(
        tx,
        "UPDATE rollup_state SET org_hash = ?, refreshed_at = ? WHERE client_id = ?",
        vec![
            org_hash.into(),
            super::now().into(),
            tx.client_uuid().into(),
        ],
    )
    .await?;
    Ok(())
}

/// Deletes the client's cells of these families, on days `[from, to)` (every day when `None`).
pub async fn delete_cells(
    tx: &TenantTx,
    families: &[i16],
    days: Option<(i64, i64)>,
) -> Result<u64> {
    let mut values: Vec<Value> = vec![tx.client_uuid().into()];
    values.extend(families.iter().map(|&f| Value::from(f)));
    let mut text = format!(
        "DELETE FROM rollup_cells WHERE client_id = ? AND family IN ({})",
        marks(families.len())
    );
    if let Some((from, to)) = days {
        text.push_str(" AND day >= ? AND day < ?");
        values.push(from.into());
        values.push(to.into());
    }
    exec(tx, &text, values).await
}

/// Writes cells (whose keys must not exist), with their running totals as given.
pub async fn insert_cells(tx: &TenantTx, cells: Vec<Cell>) -> Result<()> {
    let c = tx.client_uuid();
    let mut iter = cells.into_iter();
    loop {
        let batch: Vec<Cell> = iter.by_ref().take(INSERT_ROWS).collect();
        if batch.is_empty() {
            return Ok(());
        }
        let rows = vec![format!("({})", marks(10)); batch.len()].join(", ");
        let mut values: Vec<Value> = Vec::with_capacity(batch.len() * 10);
        for cell in batch {
            values.extend([
                c.into(),
                cell.key.family.into(),
                cell.key.dim_kind.into(),
                cell.key.dim_id.into(),
                cell.key.day.into(),
                cell.items.into(),
                cell.extra.into(),
                Value::from(cell.data),
                cell.run_items.into(),
                cell.run_extra.into(),
            ]);
        }
        exec(
            tx,
            &format!(
                "INSERT INTO rollup_cells \
                 (client_id, family, dim_kind, dim_id, day, items, extra, data, run_items, run_extra) \
                 VALUES {rows}"
            ),
            values,
        )
        .await?;
    }
}

fn cell_of(r: &QueryResult) -> Result<Cell> {
    Ok(Cell {
        key: CellKey {
            family: r.try_get("", "family")?,
            dim_kind: r.try_get("", "dim_kind")?,
            dim_id: r.try_get("", "dim_id")?,
            day: r.try_get("", "day")?,
        },
        items: r.try_get("", "items")?,
        extra: r.try_get("", "extra")?,
        data: r.try_get("", "data")?,
        run_items: r.try_get("", "run_items")?,
        run_extra: r.try_get("", "run_extra")?,
    })
}

/// The client's cells matching `condition` (SQL after `client_id = ? AND`, its values in
/// `values`), read by every cell query below.
async fn select_cells(tx: &TenantTx, condition: &str, values: Vec<Value>) -> Result<Vec<Cell>> {
    let mut all: Vec<Value> = Vec::with_capacity(values.len() + 1);
    all.push(tx.client_uuid().into());
    all.extend(values);
    let rows = query(
        tx,
        &format!(
            "SELECT family, dim_kind, dim_id, day, items, extra, data, run_items, run_extra \
             FROM rollup_cells WHERE client_id = ? AND {condition}"
        ),
        all,
    )
    .await?;
    rows.iter().map(cell_of).collect()
}

fn values<T: Copy + Into<Value>>(list: &[T]) -> impl Iterator<Item = Value> + '_ {
    list.iter().map(|&v| v.into())
}

/// The cells of these dimensions (kind and id) for these families on days `[from, to)`.
pub async fn cells_of(
    tx: &TenantTx,
    families: &[i16],
    dims: &[(i16, Uuid)],
    from: i64,
    to: i64,
) -> Result<Vec<Cell>> {
    let mut out = Vec::new();
    for batch in dims.chunks(400) {
        let mut kinds: Vec<i16> = batch.iter().map(|d| d.0).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let mut v: Vec<Value> = values(families).collect();
        v.extend(values(&kinds));
        v.extend(batch.iter().map(|d| Value::from(d.1)));
        v.extend([from.into(), to.into()]);
        let condition = format!(
            "family IN ({}) AND dim_kind IN ({}) AND dim_id IN ({}) AND day >= ? AND day < ?",
            marks(families.len()),
            marks(kinds.len()),
            marks(batch.len())
        );
        // Ids are unique across kinds, but only the pairs asked for are returned.
        out.extend(
            select_cells(tx, &condition, v)
                .await?
                .into_iter()
                .filter(|c| batch.contains(&(c.key.dim_kind, c.key.dim_id))),
        );
    }
    Ok(out)
}

/// The cells at exactly these keys (those that exist), a thousand keys per statement (four
/// thousand values: SQLite allows 32,766).
pub async fn cells_at(tx: &TenantTx, keys: &[CellKey]) -> Result<Vec<Cell>> {
    let mut out = Vec::with_capacity(keys.len());
    for batch in keys.chunks(1000) {
        let keys: Vec<(i16, i16, Uuid, i64)> = batch
            .iter()
            .map(|k| (k.family, k.dim_kind, k.dim_id, k.day))
            .collect();
        let (condition, values) = crate::dialect::cell_keys(backend(tx), &keys);
        out.extend(select_cells(tx, &condition, values).await?);
    }
    Ok(out)
}

/// The cells of every dimension for these families on days `[from, to)`.
pub async fn cells_in(tx: &TenantTx, families: &[i16], from: i64, to: i64) -> Result<Vec<Cell>> {
    let mut v: Vec<Value> = values(families).collect();
    v.extend([from.into(), to.into()]);
    let condition = format!(
        "family IN ({}) AND day >= ? AND day < ?",
        marks(families.len())
    );
    select_cells(tx, &condition, v).await
}

/// The cells of every dimension of these kinds for these families on exactly these days, or,
/// with `only_extra`, on days `[days[0], days[1])` where `extra > 0`.
pub async fn cells_of_kinds(
    tx: &TenantTx,
    families: &[i16],
    dim_kinds: &[i16],
    days: &[i64],
    only_extra: bool,
) -> Result<Vec<Cell>> {
    if days.is_empty() {
        return Ok(Vec::new());
    }
    let mut v: Vec<Value> = values(families).collect();
    v.extend(values(dim_kinds));
    let day_cond = if only_extra {
        v.push(days[0].into());
        v.push(days.get(1).copied().unwrap_or(days[0] + 1).into());
        "day >= ? AND day < ? AND extra > 0".to_string()
    } else {
        v.extend(values(days));
        format!("day IN ({})", marks(days.len()))
    };
    let condition = format!(
        "family IN ({}) AND dim_kind IN ({}) AND {day_cond}",
        marks(families.len()),
        marks(dim_kinds.len())
    );
    select_cells(tx, &condition, v).await
}

/// Brings the running totals (`run_items`, `run_extra`: the sums of the counters over the cells
/// of the same family and dimension up to the cell's day) of these families up to date on days
/// `from` and later, after cells from `from` on were replaced. Each dimension's total before
/// `from` is read from its last earlier cell; only cells whose totals changed are written.
pub async fn update_running_totals(tx: &TenantTx, families: &[i16], from: i64) -> Result<u64> {
    let c = tx.client_uuid();
    // A dimension's total before `from`, looked up by index for each row (a join against a
    // list of dimensions made SQLite compare every row with every dimension).
    let before = |column: &str| {
        format!(
            "COALESCE((SELECT b.{column} FROM rollup_cells b WHERE b.client_id = x.client_id \
             AND b.family = x.family AND b.dim_kind = x.dim_kind AND b.dim_id = x.dim_id \
             AND b.day < ? ORDER BY b.day DESC LIMIT 1), 0)"
        )
    };
    let text = format!(
        "UPDATE rollup_cells SET run_items = u.run_items, run_extra = u.run_extra FROM ( \
           SELECT x.family, x.dim_kind, x.dim_id, x.day, \
                  CAST(SUM(x.items) OVER p + {} AS bigint) AS run_items, \
                  CAST(SUM(x.extra) OVER p + {} AS bigint) AS run_extra \
           FROM rollup_cells x WHERE x.client_id = ? AND x.family IN ({}) AND x.day >= ? \
           WINDOW p AS (PARTITION BY x.family, x.dim_kind, x.dim_id ORDER BY x.day) \
         ) u \
         WHERE rollup_cells.client_id = ? AND rollup_cells.family = u.family \
           AND rollup_cells.dim_kind = u.dim_kind AND rollup_cells.dim_id = u.dim_id \
           AND rollup_cells.day = u.day \
           AND (rollup_cells.run_items <> u.run_items OR rollup_cells.run_extra <> u.run_extra)",
        before("run_items"),
        before("run_extra"),
        marks(families.len()),
    );
    let mut values: Vec<Value> = vec![from.into(), from.into(), c.into()];
    values.extend(families.iter().map(|&f| Value::from(f)));
    values.extend([from.into(), c.into()]);
    exec(tx, &text, values).await
}

/// The running totals of each of `dims` (kind and id) in each of `families` as of the end of
/// the day before each of `days`: the totals of the last cell before that day (zeros when there is
/// none). The counters of days `[from, to)` are the totals before `to` less those before `from`,
/// so the cost does not grow with the length of a range, and one call serves several ranges.
pub async fn totals_before(
    tx: &TenantTx,
    families: &[i16],
    dims: &[(i16, Uuid)],
    days: &[i64],
) -> Result<Vec<TotalsBefore>> {
    let b = backend(tx);
    let mut out = Vec::with_capacity(families.len() * dims.len() * days.len());
    if days.is_empty() {
        return Ok(out);
    }
    // Bounded statements: SQLite takes three parameters per dimension and family.
    for batch in dims.chunks(500) {
        let (text, values) = crate::dialect::totals_before(b, families, batch, days, tx.client());
        let rows = tx
            .conn()
            .query_all(Statement::from_sql_and_values(b, text, values))
            .await?;
        for r in rows {
            out.push(TotalsBefore {
                family: r.try_get("", "family")?,
                dim_kind: r.try_get("", "dim_kind")?,
                dim_id: r.try_get("", "dim_id")?,
                day: r.try_get("", "day")?,
                run_items: r.try_get("", "run_items")?,
                run_extra: r.try_get("", "run_extra")?,
            });
        }
    }
    Ok(out)
}

/// How many cells the client has (for tests and diagnostics).
pub async fn count_cells(tx: &TenantTx) -> Result<i64> {
    let rows = query(
        tx,
        "SELECT CAST(COUNT(*) AS bigint) AS n FROM rollup_cells WHERE client_id = ?",
        vec![tx.client_uuid().into()],
    )
    .await?;
    Ok(rows
        .first()
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}

/// Every cell of the client in key order (for tests comparing two refreshes).
pub async fn all_cells(tx: &TenantTx) -> Result<Vec<Cell>> {
    let mut out = select_cells(tx, "1 = 1", Vec::new()).await?;
    out.sort_by_key(|c| c.key);
    Ok(out)
}

/// The earliest and latest instant (UTC days) of anything the cells cover, or `None` when the
/// client has no such rows: merges, deployment finishes, incident creations, issue creations,
/// resolutions and transitions, sprint starts, ends and completions.
pub async fn data_span(tx: &TenantTx) -> Result<Option<(i64, i64)>> {
    let b = backend(tx);
    let day = |col: &str| {
        match b {
        DatabaseBackend::Postgres => format!("floor(extract(epoch FROM {col}) / 86400)::bigint"),
        _ => format!(
            "((CAST(strftime('%s', {col}) AS INTEGER)) - (((CAST(strftime('%s', {col}) AS INTEGER)) % 86400) + 86400) % 86400) / 86400"
        ),
    }
    };
    let parts = [
        ("pull_requests", "merged_at"),
        ("deployments", "finished_at"),
        ("incidents", "created_at"),
        ("issues", "created_at"),
        ("issues", "resolved_at"),
        ("issue_transitions", "at"),
        ("sprints", "start_at"),
        ("sprints", "end_at"),
        ("sprints", "complete_at"),
    ];
    let mut span: Option<(i64, i64)> = None;
    for (table, col) in parts {
        let text = format!(
            "SELECT {} AS lo, {} AS hi FROM {table} WHERE client_id = ?",
            day(&format!("MIN({col})")),
            day(&format!("MAX({col})"))
        );
        let rows = query(tx, &text, vec![tx.client_uuid().into()]).await?;
        if let Some(r) = rows.first() {
            let lo: Option<i64> = r.try_get("", "lo")?;
            let hi: Option<i64> = r.try_get("", "hi")?;
            if let (Some(lo), Some(hi)) = (lo, hi) {
                span = Some(match span {
                    None => (lo, hi),
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                });
            }
        }
    }
    Ok(span)
}

/// Loaders of the refresh: the client's rows of a time window, unscoped (the refresh places each
/// row in its dimensions itself), each with the time column the range queries of the reports use.
pub mod inputs {
    use chrono::{DateTime, Utc};
    use pulse_core::Result;
    use sea_orm::sea_query::{Query, SelectStatement, UnionType};
    use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
    use uuid::Uuid;

    use crate::entity::{
        commits, deployment_repositories, deployments, incidents, issue_transitions, issues,
        pr_commits, pr_reviews, pull_requests, sprint_issues, sprints,
    };
    use crate::TenantTx;

    type Ts = DateTime<Utc>;

    fn deployment_ids(client: Uuid, from: Ts, to: Ts) -> SelectStatement {
        Query::select()
            .column(deployments::Column::Id)
            .from(deployments::Entity)
            .and_where(deployments::Column::ClientId.eq(client))
            .and_where(deployments::Column::FinishedAt.gte(from))
            .and_where(deployments::Column::FinishedAt.lt(to))
            .to_owned()
    }

    /// Deployments that finished in `[from, to)` with their repositories.
    pub async fn deployments(
        tx: &TenantTx,
        from: Ts,
        to: Ts,
    ) -> Result<Vec<(deployments::Model, Vec<Uuid>)>> {
        let c = tx.client_uuid();
        let rows = deployments::Entity::find()
            .filter(deployments::Column::ClientId.eq(c))
            .filter(deployments::Column::FinishedAt.gte(from))
            .filter(deployments::Column::FinishedAt.lt(to))
            .all(tx.conn())
            .await?;
        let pairs: Vec<(Uuid, Uuid)> = deployment_repositories::Entity::find()
            .select_only()
            .column(deployment_repositories::Column::DeploymentId)
            .column(deployment_repositories::Column::RepositoryId)
            .filter(deployment_repositories::Column::ClientId.eq(c))
            .filter(
                deployment_repositories::Column::DeploymentId
                    .in_subquery(deployment_ids(c, from, to)),
            )
            .into_tuple()
            .all(tx.conn())
            .await?;
        let mut repos: std::collections::HashMap<Uuid, Vec<Uuid>> = Default::default();
        for (d, r) in pairs {
            repos.entry(d).or_default().push(r);
        }
        Ok(rows
            .into_iter()
            .map(|d| {
                let r = repos.remove(&d.id).unwrap_or_default();
                (d, r)
            })
            .collect())
    }

    fn merged_ids(client: Uuid, from: Ts, to: Ts) -> SelectStatement {
        Query::select()
            .column(pull_requests::Column::Id)
            .from(pull_requests::Entity)
            .and_where(pull_requests::Column::ClientId.eq(client))
            .and_where(pull_requests::Column::MergedAt.gte(from))
            .and_where(pull_requests::Column::MergedAt.lt(to))
            .to_owned()
    }

    /// Pull requests merged in `[from, to)`.
    pub async fn merged(tx: &TenantTx, from: Ts, to: Ts) -> Result<Vec<pull_requests::Model>> {
        Ok(pull_requests::Entity::find()
            .filter(pull_requests::Column::ClientId.eq(tx.client_uuid()))
            .filter(pull_requests::Column::MergedAt.gte(from))
            .filter(pull_requests::Column::MergedAt.lt(to))
            .all(tx.conn())
            .await?)
    }

    /// Commit times of the pull requests merged in `[from, to)`: `(pull request, authored_at)`.
    pub async fn commit_times(tx: &TenantTx, from: Ts, to: Ts) -> Result<Vec<(Uuid, Ts)>> {
        let c = tx.client_uuid();
        let links: Vec<(Uuid, Uuid)> = pr_commits::Entity::find()
            .select_only()
            .column(pr_commits::Column::PullRequestId)
            .column(pr_commits::Column::CommitId)
            .filter(pr_commits::Column::ClientId.eq(c))
            .filter(pr_commits::Column::PullRequestId.in_subquery(merged_ids(c, from, to)))
            .into_tuple()
            .all(tx.conn())
            .await?;
        let commit_ids = Query::select()
            .column(pr_commits::Column::CommitId)
            .from(pr_commits::Entity)
            .and_where(pr_commits::Column::ClientId.eq(c))
            .and_where(pr_commits::Column::PullRequestId.in_subquery(merged_ids(c, from, to)))
            .to_owned();
        let times: std::collections::HashMap<Uuid, Ts> = commits::Entity::find()
            .select_only()
            .column(commits::Column::Id)
            .column(commits::Column::AuthoredAt)
            .filter(commits::Column::ClientId.eq(c))
            .filter(commits::Column::Id.in_subquery(commit_ids))
            .into_tuple::<(Uuid, Ts)>()
            .all(tx.conn())
            .await?
            .into_iter()
            .collect();
        Ok(links
            .into_iter()
            .filter_map(|(pr, commit)| times.get(&commit).map(|t| (pr, *t)))
            .collect())
    }

    /// Reviews of the pull requests merged in `[from, to)`.
    pub async fn reviews(tx: &TenantTx, from: Ts, to: Ts) -> Result<Vec<pr_reviews::Model>> {
        let c = tx.client_uuid();
        Ok(pr_reviews::Entity::find()
            .filter(pr_reviews::Column::ClientId.eq(c))
            .filter(pr_reviews::Column::PullRequestId.in_subquery(merged_ids(c, from, to)))
            .all(tx.conn())
            .await?)
    }

    /// Incidents created in `[from, to)`.
    pub async fn incidents(tx: &TenantTx, from: Ts, to: Ts) -> Result<Vec<incidents::Model>> {
        Ok(incidents::Entity::find()
            .filter(incidents::Column::ClientId.eq(tx.client_uuid()))
            .filter(incidents::Column::CreatedAt.gte(from))
            .filter(incidents::Column::CreatedAt.lt(to))
            .all(tx.conn())
            .await?)
    }

    /// The ids of the issues created, resolved or transitioned in `[from, to)`, as one list
    /// (a union of three index range reads). Written as `created OR resolved OR id IN
    /// (transitions)`, PostgreSQL cannot turn the `IN` into a join: once a window's transitions
    /// no longer fit its hash, it re-reads them for every issue of the client (planned at 14
    /// billion cost units for a quarter at 1,000,000 issues, and still running after minutes).
    fn touching_issues(client: Uuid, from: Ts, to: Ts) -> SelectStatement {
        let by = |column: issues::Column| {
            Query::select()
                .column(issues::Column::Id)
                .from(issues::Entity)
                .and_where(issues::Column::ClientId.eq(client))
                .and_where(column.gte(from))
                .and_where(column.lt(to))
                .to_owned()
        };
        let transitions = Query::select()
            .column(issue_transitions::Column::IssueId)
            .from(issue_transitions::Entity)
            .and_where(issue_transitions::Column::ClientId.eq(client))
            .and_where(issue_transitions::Column::At.gte(from))
            .and_where(issue_transitions::Column::At.lt(to))
            .to_owned();
        by(issues::Column::CreatedAt)
            .union(UnionType::All, by(issues::Column::ResolvedAt))
            .union(UnionType::All, transitions)
            .to_owned()
    }

    /// Issues that may have been completed in `[from, to)` (created, resolved or transitioned in
    /// it) with their transitions.
    pub async fn issues(
        tx: &TenantTx,
        from: Ts,
        to: Ts,
    ) -> Result<(Vec<issues::Model>, Vec<issue_transitions::Model>)> {
        let c = tx.client_uuid();
        let rows = issues::Entity::find()
            .filter(issues::Column::ClientId.eq(c))
            .filter(issues::Column::Id.in_subquery(touching_issues(c, from, to)))
            .all(tx.conn())
            .await?;
        let transitions = issue_transitions::Entity::find()
            .filter(issue_transitions::Column::ClientId.eq(c))
            .filter(issue_transitions::Column::IssueId.in_subquery(touching_issues(c, from, to)))
            .all(tx.conn())
            .await?;
        Ok((rows, transitions))
    }

    /// Sprints that started, ended or completed in `[from, to)` (a sprint's close is one of
    /// these), with their memberships and the issues of those.
    pub async fn sprints(
        tx: &TenantTx,
        from: Ts,
        to: Ts,
    ) -> Result<(
        Vec<sprints::Model>,
        Vec<sprint_issues::Model>,
        Vec<issues::Model>,
    )> {
        let c = tx.client_uuid();
        let within = |col: sprints::Column| Condition::all().add(col.gte(from)).add(col.lt(to));
        let rows = sprints::Entity::find()
            .filter(sprints::Column::ClientId.eq(c))
            .filter(
                Condition::any()
                    .add(within(sprints::Column::StartAt))
                    .add(within(sprints::Column::EndAt))
                    .add(within(sprints::Column::CompleteAt)),
            )
            .all(tx.conn())
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|s| s.id).collect();
        let memberships = crate::repo::sprints::issues_of(tx, &ids).await?;
        let issue_ids: Vec<Uuid> = memberships.iter().map(|m| m.issue_id).collect();
        let issues = crate::repo::issues::by_ids(tx, &issue_ids).await?;
        Ok((rows, memberships, issues))
    }
}
