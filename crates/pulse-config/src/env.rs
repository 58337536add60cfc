//! Environment variables and the configuration keys they set.

/// How an environment variable's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Taken as it is.
    Text,
    /// A whole number (0 to 2^32 - 1).
    Integer,
    /// A TCP port (1 to 65535).
    Port,
    /// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
    Bool,
    /// A comma-separated list.
    List,
    /// A non-negative decimal number such as `30` or `0.25` (a duration in seconds).
    Decimal,
}

/// One environment variable.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// The dotted key it sets, e.g. `server.port`.
    pub key: &'static str,
    /// The names it may be given, preferred name first; the first one set wins.
    pub names: &'static [&'static str],
    /// How its value is read.
    pub kind: Kind,
}

const fn var(key: &'static str, names: &'static [&'static str], kind: Kind) -> EnvVar {
    EnvVar { key, names, kind }
}

/// Every environment variable Pulse reads. `PULSE_*` names win over the original platform's names.
pub const VARIABLES: &[EnvVar] = &[
    var("data_dir", &["PULSE_DATA_DIR"], Kind::Text),
    var("redis_url", &["PULSE_REDIS_URL", "REDIS_URL"], Kind::Text),
    var(
        "database.url",
        &["PULSE_DATABASE_URL", "DATABASE_URL"],
        Kind::Text,
    ),
    var(
        "database.replica_url",
        &["PULSE_DATABASE_REPLICA_URL", "DATABASE_REPLICA_URL"],
        Kind::Text,
    ),
    var(
        "database.max_connections",
        &["PULSE_DATABASE_MAX_CONNECTIONS"],
        Kind::Integer,
    ),
    var(
        "database.app_role",
        &["PULSE_DATABASE_APP_ROLE"],
        Kind::Text,
    ),
    var("database.auto_migrate", &["PULSE_AUTO_MIGRATE"], Kind::Bool),
    var(
        "database.slow_statement_ms",
        &["PULSE_DATABASE_SLOW_STATEMENT_MS"],
        Kind::Integer,
    ),
    var("server.host", &["PULSE_HOST"], Kind::Text),
    var("server.port", &["PULSE_PORT", "PORT"], Kind::Port),
    var("server.public_url", &["PULSE_PUBLIC_URL"], Kind::Text),
    var("server.cors_origins", &["PULSE_CORS_ORIGINS"], Kind::List),
    var(
        "server.frame_ancestors",
        &["PULSE_FRAME_ANCESTORS"],
        Kind::List,
    ),
    var(
        "server.tls_terminated",
        &["PULSE_TLS_TERMINATED"],
        Kind::Bool,
    ),
    var(
        "server.body_limit_bytes",
        &["PULSE_BODY_LIMIT_BYTES"],
        Kind::Integer,
    ),
    var(
        "server.request_timeout_seconds",
        &["PULSE_REQUEST_TIMEOUT_SECONDS"],
        Kind::Integer,
    ),
    var("server.web_dir", &["PULSE_WEB_DIR"], Kind::Text),
    var(
        "auth.jwt_secret",
        &["PULSE_JWT_SECRET", "JWT_SECRET_KEY"],
        Kind::Text,
    ),
    var(
        "auth.jwt_algorithm",
        &["PULSE_JWT_ALGORITHM", "JWT_ALGORITHM"],
        Kind::Text,
    ),
    var(
        "auth.access_token_minutes",
        &[
            "PULSE_JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
            "JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
        ],
        Kind::Integer,
    ),
    var("auth.session_days", &["PULSE_SESSION_DAYS"], Kind::Integer),
    var(
        "auth.session_cache_seconds",
        &["PULSE_SESSION_CACHE_SECONDS"],
        Kind::Integer,
    ),
    var("auth.issuer", &["PULSE_JWT_ISSUER"], Kind::Text),
    var("auth.audience", &["PULSE_JWT_AUDIENCE"], Kind::Text),
    var(
        "auth.max_failures_per_account",
        &["PULSE_MAX_FAILURES_PER_ACCOUNT"],
        Kind::Integer,
    ),
    var(
        "auth.max_failures_per_address",
        &["PULSE_MAX_FAILURES_PER_ADDRESS"],
        Kind::Integer,
    ),
    var(
        "auth.hash_concurrency",
        &["PULSE_HASH_CONCURRENCY"],
        Kind::Integer,
    ),
    var("auth.encryption_key", &["PULSE_ENCRYPTION_KEY"], Kind::Text),
    var("auth.trust_proxy", &["PULSE_TRUST_PROXY"], Kind::Bool),
    var(
        "bootstrap.admin_email",
        &["PULSE_ADMIN_EMAIL", "ADMIN_EMAIL"],
        Kind::Text,
    ),
    var(
        "bootstrap.admin_password",
        &["PULSE_ADMIN_PASSWORD", "ADMIN_PASSWORD"],
        Kind::Text,
    ),
    var(
        "bootstrap.client_name",
        &["PULSE_CLIENT_NAME", "CLIENT_NAME"],
        Kind::Text,
    ),
    var("log.filter", &["PULSE_LOG"], Kind::Text),
    var("log.format", &["PULSE_LOG_FORMAT"], Kind::Text),
    var("etl.workers", &["PULSE_WORKERS"], Kind::Integer),
    var("etl.worker_port", &["PULSE_WORKER_PORT"], Kind::Port),
    var("etl.git_root", &["PULSE_GIT_ROOT"], Kind::Text),
    var(
        "etl.allowed_hosts",
        &["PULSE_ETL_ALLOWED_HOSTS"],
        Kind::List,
    ),
    var(
        "etl.lease_seconds",
        &["PULSE_ETL_LEASE_SECONDS"],
        Kind::Decimal,
    ),
    var(
        "etl.heartbeat_seconds",
        &["PULSE_ETL_HEARTBEAT_SECONDS"],
        Kind::Decimal,
    ),
    var("etl.poll_millis", &["PULSE_ETL_POLL_MILLIS"], Kind::Integer),
    var(
        "etl.max_attempts",
        &["PULSE_ETL_MAX_ATTEMPTS"],
        Kind::Integer,
    ),
    var(
        "etl.retry_base_seconds",
        &["PULSE_ETL_RETRY_BASE_SECONDS"],
        Kind::Integer,
    ),
    var(
        "etl.retry_max_seconds",
        &["PULSE_ETL_RETRY_MAX_SECONDS"],
        Kind::Integer,
    ),
    var(
        "etl.leader_lease_seconds",
        &["PULSE_ETL_LEADER_LEASE_SECONDS"],
        Kind::Decimal,
    ),
    var(
        "etl.log_retention_days",
        &["PULSE_ETL_LOG_RETENTION_DAYS"],
        Kind::Integer,
    ),
    var(
        "etl.raw_retention_days",
        &["PULSE_ETL_RAW_RETENTION_DAYS"],
        Kind::Integer,
    ),
];
