//! The configuration structure. Every field documents its TOML key and environment variables.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Secret;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the embedded database, generated keys and other local state
    /// (`data_dir`, `PULSE_DATA_DIR`; default `./pulse-data`).
    pub data_dir: PathBuf,
    /// Database settings (`[database]`).
    pub database: DatabaseConfig,
    /// HTTP server settings (`[server]`).
    pub server: ServerConfig,
    /// Authentication settings (`[auth]`).
    pub auth: AuthConfig,
    /// First-run bootstrap and client pinning (`[bootstrap]`).
    pub bootstrap: BootstrapConfig,
    /// Logging (`[log]`).
    pub log: LogConfig,
    /// Background work (`[etl]`).
    pub etl: EtlConfig,
    /// Optional Redis URL (`redis_url`, `REDIS_URL`, `PULSE_REDIS_URL`); unused by a single process.
    pub redis_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("pulse-data"),
            database: DatabaseConfig::default(),
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            bootstrap: BootstrapConfig::default(),
            log: LogConfig::default(),
            etl: EtlConfig::default(),
            redis_url: None,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` or `postgres://...` (`database.url`, `DATABASE_URL`, `PULSE_DATABASE_URL`).
    /// Empty means SQLite at `<data_dir>/pulse.db`.
    pub url: Secret,
    /// Optional read replica for analytics reads (`database.replica_url`, `DATABASE_REPLICA_URL`).
    pub replica_url: Secret,
    /// Connection pool size (`database.max_connections`, `PULSE_DATABASE_MAX_CONNECTIONS`; default 10).
    pub max_connections: u32,
    /// PostgreSQL role the application switches to inside every tenant transaction, so row-level
    /// security applies (`database.app_role`, `PULSE_DATABASE_APP_ROLE`; default `pulse_app`).
    pub app_role: String,
    /// Apply pending migrations when `serve` starts (`database.auto_migrate`, `PULSE_AUTO_MIGRATE`;
    /// default true).
    pub auto_migrate: bool,
    /// Statements slower than this are logged at WARN with their SQL text (never their values)
    /// (`database.slow_statement_ms`, `PULSE_DATABASE_SLOW_STATEMENT_MS`; default 1000; 0 turns
    /// it off).
    pub slow_statement_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::default(),
            replica_url: Secret::default(),
            max_connections: 10,
            app_role: "pulse_app".into(),
            auto_migrate: true,
            slow_statement_ms: 1000,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to bind (`server.host`, `PULSE_HOST`; default `127.0.0.1`).
    pub host: String,
    /// Port (`server.port`, `PORT`, `PULSE_PORT`; default 3001).
    pub port: u16,
    /// The origin browsers use to reach Pulse, e.g. `https://pulse.example.com`
    /// (`server.public_url`, `PULSE_PUBLIC_URL`); default `http://localhost:<port>`.
    pub public_url: Option<String>,
    /// Extra origins allowed by CORS (`server.cors_origins`, `PULSE_CORS_ORIGINS`, comma-separated).
    pub cors_origins: Vec<String>,
    /// Origins allowed to frame Pulse pages (`server.frame_ancestors`, `PULSE_FRAME_ANCESTORS`);
    /// empty means only Pulse itself (`'self'`).
    pub frame_ancestors: Vec<String>,
    /// TLS is terminated in front of Pulse, so HSTS is sent (`server.tls_terminated`,
    /// `PULSE_TLS_TERMINATED`; default false).
    pub tls_terminated: bool,
    /// Largest accepted request body in bytes (`server.body_limit_bytes`, `PULSE_BODY_LIMIT_BYTES`;
    /// default 2 MiB).
    pub body_limit_bytes: usize,
    /// Time limit for one request in seconds (`server.request_timeout_seconds`,
    /// `PULSE_REQUEST_TIMEOUT_SECONDS`; default 30).
    pub request_timeout_seconds: u64,
    /// Directory with the built web app (`server.web_dir`, `PULSE_WEB_DIR`; default `web/dist`).
    pub web_dir: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 3001,
            public_url: None,
            cors_origins: Vec::new(),
            frame_ancestors: Vec::new(),
            tls_terminated: false,
            body_limit_bytes: 2 * 1024 * 1024,
            request_timeout_seconds: 30,
            web_dir: PathBuf::from("web/dist"),
        }
    }
}

impl ServerConfig {
    /// The public origin (scheme://host[:port]) without a trailing slash.
    pub fn public_origin(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://localhost:{}", self.port),
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// JWT signing key, at least 32 bytes (`auth.jwt_secret`, `JWT_SECRET_KEY`, `PULSE_JWT_SECRET`).
    /// On SQLite, when unset, one is generated and kept in the data directory.
    pub jwt_secret: Secret,
    /// `HS256`, `HS384` or `HS512` (`auth.jwt_algorithm`, `JWT_ALGORITHM`; default HS256).
    pub jwt_algorithm: String,
    /// Access-token lifetime in minutes (`auth.access_token_minutes`,
    /// `JWT_ACCESS_TOKEN_EXPIRE_MINUTES`; default 15).
    pub access_token_minutes: u64,
    /// Session (refresh-token) lifetime in days (`auth.session_days`, `PULSE_SESSION_DAYS`; default 14).
    pub session_days: u64,
    /// How long a verified session may be cached before the database is asked again, in seconds
    /// (`auth.session_cache_seconds`, `PULSE_SESSION_CACHE_SECONDS`; default 5). This is the bound
    /// within which a revocation made by another process takes effect.
    pub session_cache_seconds: u64,
    /// JWT issuer (`auth.issuer`, `PULSE_JWT_ISSUER`; default `pulse`).
    pub issuer: String,
    /// JWT audience (`auth.audience`, `PULSE_JWT_AUDIENCE`; default `pulse-api`).
    pub audience: String,
    /// Failed logins allowed per account per hour (`auth.max_failures_per_account`,
    /// `PULSE_MAX_FAILURES_PER_ACCOUNT`; default 100).
    pub max_failures_per_account: u32,
    /// Failed logins allowed per client address per 15 minutes (`auth.max_failures_per_address`,
    /// `PULSE_MAX_FAILURES_PER_ADDRESS`; default 50).
    pub max_failures_per_address: u32,
    /// Password hashes computed at once (`auth.hash_concurrency`, `PULSE_HASH_CONCURRENCY`; default 2).
    pub hash_concurrency: usize,
    /// Key for credentials stored at rest, 32 bytes base64 (`auth.encryption_key`,
    /// `PULSE_ENCRYPTION_KEY`). On SQLite, when unset, one is generated in the data directory.
    pub encryption_key: Secret,
    /// Trust `X-Forwarded-For` for the client address (`auth.trust_proxy`, `PULSE_TRUST_PROXY`;
    /// default false). Only enable behind a proxy that sets it.
    pub trust_proxy: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: Secret::default(),
            jwt_algorithm: "HS256".into(),
            access_token_minutes: 15,
            session_days: 14,
            session_cache_seconds: 5,
            issuer: "pulse".into(),
            audience: "pulse-api".into(),
            max_failures_per_account: 100,
            max_failures_per_address: 50,
            hash_concurrency: 2,
            encryption_key: Secret::default(),
            trust_proxy: false,
        }
    }
}

/// `[bootstrap]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapConfig {
    /// E-mail of the first admin, created by `serve` when no user exists (`ADMIN_EMAIL`).
    pub admin_email: Option<String>,
    /// Password of that first admin (`ADMIN_PASSWORD`). Never defaulted.
    pub admin_password: Secret,
    /// Pins this process to one client, by name (`CLIENT_NAME`, `PULSE_CLIENT_NAME`).
    pub client_name: Option<String>,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `pulse=debug,info` (`log.filter`, `PULSE_LOG`).
    pub filter: String,
    /// `text` or `json` (`log.format`, `PULSE_LOG_FORMAT`; default text).
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            format: "text".into(),
        }
    }
}

/// `[etl]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EtlConfig {
    /// Workers `serve` runs in-process (`etl.workers`, `PULSE_WORKERS`; default 2; 0 disables).
    pub workers: usize,
    /// Port for `pulse worker`'s health and metrics (`etl.worker_port`, `PULSE_WORKER_PORT`; default 3002).
    pub worker_port: u16,
    /// The only directory the git connector may read repositories from (`etl.git_root`,
    /// `PULSE_GIT_ROOT`; absolute; unset allows any path the worker can read).
    pub git_root: Option<PathBuf>,
    /// Hosts integrations may name in their base URL (`etl.allowed_hosts`,
    /// `PULSE_ETL_ALLOWED_HOSTS`, comma-separated). Empty allows any host; an entry `*.example.com`
    /// allows that domain's subdomains. Guards tenant-supplied URLs against server-side request forgery.
    pub allowed_hosts: Vec<String>,
    /// How long a claim or heartbeat holds a job, in seconds (`etl.lease_seconds`,
    /// `PULSE_ETL_LEASE_SECONDS`; default 30; fractions allowed; 1 to 3600). A dead worker's job is
    /// rescued this long after its last heartbeat.
    pub lease_seconds: f64,
    /// How often a running job's worker renews its lease, in seconds (`etl.heartbeat_seconds`,
    /// `PULSE_ETL_HEARTBEAT_SECONDS`; default 5; at least 0.05 and at most half the lease). Also
    /// bounds how late a cancel or pause is observed.
    pub heartbeat_seconds: f64,
    /// How often an idle worker looks for due jobs, in milliseconds (`etl.poll_millis`,
    /// `PULSE_ETL_POLL_MILLIS`; default 2000; 10 to 600000). Jobs queued by this process wake its
    /// workers at once.
    pub poll_millis: u32,
    /// Failed runs a job may have before it fails for good (`etl.max_attempts`,
    /// `PULSE_ETL_MAX_ATTEMPTS`; default 5; 1 to 10000). A worker that died holding the job counts
    /// as a failed run.
    pub max_attempts: u32,
    /// Backoff ceiling after a job's first transient failure, in seconds
    /// (`etl.retry_base_seconds`, `PULSE_ETL_RETRY_BASE_SECONDS`; default 10); it doubles with each
    /// further failure, with full jitter.
    pub retry_base_seconds: u32,
    /// The largest backoff, in seconds (`etl.retry_max_seconds`, `PULSE_ETL_RETRY_MAX_SECONDS`;
    /// default 1800; at least the base).
    pub retry_max_seconds: u32,
    /// How long the scheduler's leadership lasts unless renewed (every third of it), in seconds
    /// (`etl.leader_lease_seconds`, `PULSE_ETL_LEADER_LEASE_SECONDS`; default 30; 1 to 3600).
    pub leader_lease_seconds: f64,
    /// Job log lines older than this many days are purged (`etl.log_retention_days`,
    /// `PULSE_ETL_LOG_RETENTION_DAYS`; default 30; 1 to 3650).
    pub log_retention_days: u32,
    /// Raw records not fetched again for this many days are purged (`etl.raw_retention_days`,
    /// `PULSE_ETL_RAW_RETENTION_DAYS`; default 90; 1 to 3650).
    pub raw_retention_days: u32,
}

impl Default for EtlConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            worker_port: 3002,
            git_root: None,
            allowed_hosts: Vec::new(),
            lease_seconds: 30.0,
            heartbeat_seconds: 5.0,
            poll_millis: 2000,
            max_attempts: 5,
            retry_base_seconds: 10,
            retry_max_seconds: 1800,
            leader_lease_seconds: 30.0,
            log_retention_days: 30,
            raw_retention_days: 90,
        }
    }
}

/// Which database backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Config {
    /// The effective database URL (SQLite in the data directory when unset).
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("pulse.db").display()
            )
        } else {
            self.database.url.expose().to_string()
        }
    }

    /// The backend the database URL selects.
    pub fn backend(&self) -> Backend {
        if self.database_url().starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}
