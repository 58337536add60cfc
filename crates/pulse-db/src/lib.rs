//! Pulse's storage layer.
//!
//! One SeaORM code path serves SQLite and PostgreSQL; the few statements that differ live in
//! [`dialect`]. Tenant-owned tables are reached only through a [`TenantTx`], which carries the
//! caller's [`ClientId`](pulse_core::ClientId) and (on PostgreSQL) switches to the unprivileged
//! application role with the tenant set for row-level security. Cross-tenant work (login lookup,
//! the CLI, the scheduler) goes through the explicitly named [`Db::system`].

pub mod bulk;
pub mod dialect;
pub mod entity;
pub mod migration;
pub mod repo;
mod tenant;

use std::time::Duration;

use pulse_config::{Backend, Config};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, TransactionTrait};

pub use dialect::Plans;
pub use sea_orm;
pub use tenant::TenantTx;

/// Handles to the database: a primary for writes and a reader for analytics reads.
#[derive(Clone, Debug)]
pub struct Db {
    primary: DatabaseConnection,
    reader: DatabaseConnection,
    backend: Backend,
    app_role: Option<String>,
}

impl Db {
    /// Connects to the configured database (creating the SQLite file and data directory if needed).
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let url = config.database_url();
        let backend = config.backend();
        if backend == Backend::Sqlite {
            std::fs::create_dir_all(&config.data_dir)?;
        }
        let slow = config.database.slow_statement_ms;
        let primary = open(&url, backend, config.database.max_connections, false, slow).await?;
        dialect::on_connect(&primary, backend).await?;
        let reader = match backend {
            Backend::Sqlite => {
                open(&url, backend, config.database.max_connections, true, slow).await?
            }
            Backend::Postgres if !config.database.replica_url.is_empty() => {
                open(
                    config.database.replica_url.expose(),
                    backend,
                    config.database.max_connections,
                    true,
                    slow,
                )
                .await?
            }
            Backend::Postgres => primary.clone(),
        };
        let app_role = (backend == Backend::Postgres).then(|| config.database.app_role.clone());
        Ok(Self {
            primary,
            reader,
            backend,
            app_role,
        })
    }

    /// Prepares the PostgreSQL application role after migrations (idempotent; a no-op on SQLite).
    pub async fn prepare(&self) -> anyhow::Result<()> {
        if let Some(role) = &self.app_role {
            dialect::ensure_app_role(&self.primary, role).await?;
        }
        Ok(())
    }

    /// Brings the query planner's statistics up to date after a bulk load (the benchmark's
    /// chunks). See [`dialect::refresh_statistics`].
    pub async fn refresh_statistics(&self) -> pulse_core::Result<()> {
        Ok(dialect::refresh_statistics(&self.primary, self.backend).await?)
    }

    /// [`Db::refresh_statistics`] after a load of `records` records when it is large enough
    /// ([`Db::LARGE_LOAD`]) to change the tables' shape; smaller loads leave it to autovacuum.
    /// Returns whether it ran.
    pub async fn refresh_statistics_after(&self, records: u64) -> pulse_core::Result<bool> {
        if records < Self::LARGE_LOAD {
            return Ok(false);
        }
        self.refresh_statistics().await?;
        Ok(true)
    }

    /// [`dialect::upkeep`] of these tables once `rows` of theirs were written or deleted
    /// ([`Db::LARGE_LOAD`] or more), as a large refresh of the metric aggregates does: it analyzes
    /// the cells (planned on the statistics of before, five projects' cells over two years were
    /// read through the by-day index across every project, 12.7 ms instead of 0.4 ms) and
    /// vacuums the markers it deleted (until autovacuum comes, the check for pending markers
    /// before every metric read scanned them: 1.27 million dead markers after the 1M benchmark
    /// load, 10,609 pages, 9 to 22 ms per check). Returns whether it ran.
    pub async fn upkeep_after(
        &self,
        rows: u64,
        what: dialect::Upkeep,
        tables: &[&str],
    ) -> pulse_core::Result<bool> {
        if rows < Self::LARGE_LOAD {
            return Ok(false);
        }
        dialect::upkeep(&self.primary, self.backend, what, tables).await?;
        Ok(true)
    }

    /// Records from which a load refreshes the planner's statistics (`pulse import`, the import
    /// endpoint, the demo).
    pub const LARGE_LOAD: u64 = 10_000;

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The privileged connection: it sees every tenant's rows. Only for code that must work across
    /// tenants (login lookup, CLI administration, the job scheduler, migrations). Handlers serving a
    /// tenant use [`Db::tenant`] instead.
    pub fn system(&self) -> &DatabaseConnection {
        &self.primary
    }

    /// Opens a read-write transaction scoped to `client`.
    pub async fn tenant(&self, client: pulse_core::ClientId) -> pulse_core::Result<TenantTx> {
        self.tenant_on(&self.primary, client, Plans::Custom).await
    }

    /// Opens a read-write transaction scoped to `client` for one page of a connector's writes: like
    /// [`Db::tenant`], but PostgreSQL may reuse cached plans ([`Plans::Cached`]), which keeps the
    /// per-row foreign-key checks of a page cheap.
    pub async fn tenant_page(&self, client: pulse_core::ClientId) -> pulse_core::Result<TenantTx> {
        self.tenant_on(&self.primary, client, Plans::Cached).await
    }

    /// Opens a read transaction scoped to `client` on the reader (the replica when configured).
    /// Use only for reads that may lag the primary slightly (analytics), never for auth checks.
    pub async fn tenant_read(&self, client: pulse_core::ClientId) -> pulse_core::Result<TenantTx> {
        self.tenant_on(&self.reader, client, Plans::Custom).await
    }

    /// Opens a read-only transaction scoped to `client` on the reader whose statements all see one
    /// snapshot (`REPEATABLE READ` on PostgreSQL; a SQLite transaction always does), so a count
    /// and a long export that follows it agree.
    pub async fn tenant_snapshot(
        &self,
        client: pulse_core::ClientId,
    ) -> pulse_core::Result<TenantTx> {
        let tx = match self.backend {
            Backend::Postgres => {
                self.reader
                    .begin_with_config(
                        Some(sea_orm::IsolationLevel::RepeatableRead),
                        Some(sea_orm::AccessMode::ReadOnly),
                    )
                    .await?
            }
            Backend::Sqlite => self.reader.begin().await?,
        };
        self.enter(tx, client, Plans::Custom).await
    }

    async fn tenant_on(
        &self,
        conn: &DatabaseConnection,
        client: pulse_core::ClientId,
        plans: Plans,
    ) -> pulse_core::Result<TenantTx> {
        let tx = conn.begin().await?;
        self.enter(tx, client, plans).await
    }

    async fn enter(
        &self,
        tx: sea_orm::DatabaseTransaction,
        client: pulse_core::ClientId,
        plans: Plans,
    ) -> pulse_core::Result<TenantTx> {
        if let Some(role) = &self.app_role {
            dialect::enter_tenant(&tx, role, client, plans).await?;
        }
        Ok(TenantTx::new(tx, client))
    }

    /// Checks that the database answers (readiness).
    pub async fn ping(&self) -> pulse_core::Result<()> {
        self.primary.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    /// Closes the pools.
    pub async fn close(self) {
        let _ = self.primary.close().await;
    }
}

/// Bytes of a SQLite database file each connection maps into memory for reading (SQLite caps it
/// at its compile-time maximum, 2 GiB by default; the rest of a larger file is read as usual).
const SQLITE_MMAP_BYTES: u64 = 1 << 31;
/// KiB of page cache per SQLite connection.
const SQLITE_CACHE_KIB: u64 = 64 * 1024;
/// Bytes the SQLite write-ahead log is cut back to once a checkpoint has emptied it. Without a
/// limit the file keeps its largest size: 1.4 GB after loading the 1M benchmark dataset.
pub const SQLITE_WAL_LIMIT_BYTES: u64 = 64 << 20;

async fn open(
    url: &str,
    backend: Backend,
    max: u32,
    read_only: bool,
    slow_ms: u64,
) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_string());
    // SQLite allows one writer at a time: one write connection avoids SQLITE_BUSY on lock upgrades,
    // while WAL lets the separate read-only pool read concurrently.
    let max = match (backend, read_only) {
        (Backend::Sqlite, false) => 1,
        _ => max,
    };
    opts.max_connections(max)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    // Only slow statements are logged (their SQL text; values are bound, never in the text).
    if slow_ms == 0 {
        opts.sqlx_logging(false);
    } else {
        opts.sqlx_logging(true)
            .sqlx_logging_level(log::LevelFilter::Trace)
            .sqlx_slow_statements_logging_settings(
                log::LevelFilter::Warn,
                Duration::from_millis(slow_ms),
            );
    }
    if backend == Backend::Sqlite {
        opts.map_sqlx_sqlite_opts(move |o| {
            let o = o
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                // Reads map the file instead of copying each page through a system call, and each
                // connection keeps more of the hot pages (indexes, recent cells) itself. Both only
                // take memory as pages are touched; the default page cache is 2 MiB.
                .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
                .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"));
            if read_only {
                o.read_only(true)
            } else {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .pragma("journal_size_limit", SQLITE_WAL_LIMIT_BYTES.to_string())
                    .create_if_missing(true)
            }
        });
    }
    let target = describe_target(url);
    if backend == Backend::Postgres {
        // The pool retries until its timeout and then reports only "timed out"; one direct attempt
        // first surfaces the real cause (refused, unknown host, authentication, missing database).
        use sea_orm::sqlx::Connection;
        let attempt = tokio::time::timeout(
            Duration::from_secs(10),
            sea_orm::sqlx::PgConnection::connect(url),
        )
        .await;
        match attempt {
            Err(_) => {
                anyhow::bail!("cannot connect to PostgreSQL at {target}: timed out after 10 s")
            }
            Ok(Err(e)) => anyhow::bail!("cannot connect to PostgreSQL at {target}: {e}"),
            Ok(Ok(conn)) => {
                conn.close().await.ok();
            }
        }
    }
    Database::connect(opts)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database at {target}: {e}"))
}

/// The database a URL points at, without credentials, for error messages.
fn describe_target(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.split('?').next().unwrap_or(url).to_string();
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split('?').next().unwrap_or(rest);
    format!("{scheme}://{rest}")
}

#[cfg(test)]
mod target_tests {
    use super::describe_target;

    #[test]
    fn credentials_never_reach_messages() {
        assert_eq!(
            describe_target("postgres://pulse:s3cret@db.internal:5432/pulse?sslmode=require"),
            "postgres://db.internal:5432/pulse"
        );
        assert_eq!(
            describe_target("postgres://db.internal/pulse"),
            "postgres://db.internal/pulse"
        );
        assert_eq!(
            describe_target("sqlite:///data/pulse.db?mode=rwc"),
            "sqlite:///data/pulse.db"
        );
    }
}
