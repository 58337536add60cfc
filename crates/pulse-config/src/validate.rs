//! Semantic checks, run once at start-up, each naming the setting at fault.

use crate::{Backend, Config, ConfigError, EtlConfig};

fn err(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(setting, message)
}

fn check_origin(setting: &str, value: &str) -> Result<(), ConfigError> {
    let url =
        url::Url::parse(value).map_err(|e| err(setting, format!("'{value}' is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(err(
            setting,
            format!("'{value}' must be an http(s) origin such as https://pulse.example.com"),
        ));
    }
    Ok(())
}

/// The job engine's timings and limits (`[etl]`). Heartbeats must renew a lease well before it
/// ends, or a live worker's job would be taken over.
fn validate_engine(etl: &EtlConfig) -> Result<(), ConfigError> {
    let seconds = |setting: &str, value: f64, min: f64, max: f64| {
        if value.is_finite() && (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(err(
                setting,
                format!("{value} is out of range: must be between {min} and {max} seconds"),
            ))
        }
    };
    let whole = |setting: &str, value: u32, min: u32, max: u32, unit: &str| {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(err(
                setting,
                format!("{value} is out of range: must be between {min} and {max}{unit}"),
            ))
        }
    };
    seconds("PULSE_ETL_LEASE_SECONDS", etl.lease_seconds, 1.0, 3600.0)?;
    seconds(
        "PULSE_ETL_HEARTBEAT_SECONDS",
        etl.heartbeat_seconds,
        0.05,
        1800.0,
    )?;
    if etl.heartbeat_seconds * 2.0 > etl.lease_seconds {
        return Err(err(
            "PULSE_ETL_HEARTBEAT_SECONDS",
            format!(
                "{} must be at most half the lease (PULSE_ETL_LEASE_SECONDS = {}), so a live \
                 worker renews its lease before another worker may take its job over",
                etl.heartbeat_seconds, etl.lease_seconds
            ),
        ));
    }
    whole("PULSE_ETL_POLL_MILLIS", etl.poll_millis, 10, 600_000, " ms")?;
    whole("PULSE_ETL_MAX_ATTEMPTS", etl.max_attempts, 1, 10_000, "")?;
    whole(
        "PULSE_ETL_RETRY_BASE_SECONDS",
        etl.retry_base_seconds,
        1,
        86_400,
        " seconds",
    )?;
    whole(
        "PULSE_ETL_RETRY_MAX_SECONDS",
        etl.retry_max_seconds,
        1,
        7 * 86_400,
        " seconds",
    )?;
    if etl.retry_max_seconds < etl.retry_base_seconds {
        return Err(err(
            "PULSE_ETL_RETRY_MAX_SECONDS",
            format!(
                "{} must be at least the base backoff (PULSE_ETL_RETRY_BASE_SECONDS = {})",
                etl.retry_max_seconds, etl.retry_base_seconds
            ),
        ));
    }
    seconds(
        "PULSE_ETL_LEADER_LEASE_SECONDS",
        etl.leader_lease_seconds,
        1.0,
        3600.0,
    )?;
    whole(
        "PULSE_ETL_LOG_RETENTION_DAYS",
        etl.log_retention_days,
        1,
        3650,
        " days",
    )?;
    whole(
        "PULSE_ETL_RAW_RETENTION_DAYS",
        etl.raw_retention_days,
        1,
        3650,
        " days",
    )?;
    Ok(())
}

pub(crate) fn validate(mut config: Config) -> Result<Config, ConfigError> {
    let url = config.database_url();
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        return Err(err(
            "DATABASE_URL",
            "must start with sqlite:, postgres:// or postgresql://",
        ));
    }
    let replica = config.database.replica_url.expose();
    if !replica.is_empty() {
        if !(replica.starts_with("postgres://") || replica.starts_with("postgresql://")) {
            return Err(err("DATABASE_REPLICA_URL", "must be a postgres:// URL"));
        }
        if config.backend() != Backend::Postgres {
            return Err(err(
                "DATABASE_REPLICA_URL",
                "a read replica needs DATABASE_URL on PostgreSQL",
            ));
        }
    }
    if let Some(root) = &config.etl.git_root {
        if root.as_os_str().is_empty() {
            config.etl.git_root = None;
        } else if !root.is_absolute() {
            return Err(err("PULSE_GIT_ROOT", "must be an absolute path"));
        }
    }
    validate_engine(&config.etl)?;
    if config.database.max_connections == 0 {
        return Err(err("PULSE_DATABASE_MAX_CONNECTIONS", "must be at least 1"));
    }
    let role = &config.database.app_role;
    if role.is_empty() || !role.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(err(
            "PULSE_DATABASE_APP_ROLE",
            "must be a plain identifier (letters, digits, _)",
        ));
    }

    if config.server.port == 0 {
        return Err(err("PORT", "must be between 1 and 65535"));
    }
    if config.server.host.parse::<std::net::IpAddr>().is_err() && config.server.host != "localhost"
    {
        return Err(err(
            "PULSE_HOST",
            format!("'{}' is not an IP address", config.server.host),
        ));
    }
    if let Some(public) = &config.server.public_url {
        check_origin("PULSE_PUBLIC_URL", public)?;
    }
    for origin in &config.server.cors_origins {
        check_origin("PULSE_CORS_ORIGINS", origin)?;
    }
    for origin in &config.server.frame_ancestors {
        if origin != "'self'" && origin != "'none'" {
            check_origin("PULSE_FRAME_ANCESTORS", origin)?;
        }
    }
    if config.server.body_limit_bytes < 1024 {
        return Err(err("PULSE_BODY_LIMIT_BYTES", "must be at least 1024"));
    }
    if !(1..=3600).contains(&config.server.request_timeout_seconds) {
        return Err(err(
            "PULSE_REQUEST_TIMEOUT_SECONDS",
            "must be between 1 and 3600",
        ));
    }

    let is_postgres = config.backend() == Backend::Postgres;
    let auth = &mut config.auth;
    auth.jwt_algorithm = auth.jwt_algorithm.trim().to_ascii_uppercase();
    if !matches!(auth.jwt_algorithm.as_str(), "HS256" | "HS384" | "HS512") {
        return Err(err(
            "JWT_ALGORITHM",
            format!(
                "'{}' is not allowed (use HS256, HS384 or HS512)",
                auth.jwt_algorithm
            ),
        ));
    }
    if !auth.jwt_secret.is_empty() && auth.jwt_secret.expose().len() < 32 {
        return Err(err("JWT_SECRET_KEY", "must be at least 32 characters"));
    }
    if auth.jwt_secret.is_empty() && is_postgres {
        return Err(err(
            "JWT_SECRET_KEY",
            "is required when the database is PostgreSQL (several processes must share it)",
        ));
    }
    if !(1..=1440).contains(&auth.access_token_minutes) {
        return Err(err(
            "JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
            "must be between 1 and 1440",
        ));
    }
    if !(1..=365).contains(&auth.session_days) {
        return Err(err("PULSE_SESSION_DAYS", "must be between 1 and 365"));
    }
    if auth.session_cache_seconds > 60 {
        return Err(err(
            "PULSE_SESSION_CACHE_SECONDS",
            "must be at most 60 (it bounds how late a revocation takes effect)",
        ));
    }
    if auth.max_failures_per_account == 0 || auth.max_failures_per_address == 0 {
        return Err(err(
            "PULSE_MAX_FAILURES_PER_ACCOUNT",
            "limits must be at least 1",
        ));
    }
    if auth.hash_concurrency == 0 {
        return Err(err("PULSE_HASH_CONCURRENCY", "must be at least 1"));
    }
    if !auth.encryption_key.is_empty() {
        use base64::Engine;
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(auth.encryption_key.expose());
        if decoded.map(|k| k.len()) != Ok(32) {
            return Err(err(
                "PULSE_ENCRYPTION_KEY",
                "must be 32 bytes encoded as base64 (openssl rand -base64 32)",
            ));
        }
    }
    if auth.encryption_key.is_empty() && is_postgres {
        return Err(err(
            "PULSE_ENCRYPTION_KEY",
            "is required when the database is PostgreSQL (several processes must share it)",
        ));
    }
    if auth.issuer.is_empty() || auth.audience.is_empty() {
        return Err(err(
            "PULSE_JWT_ISSUER",
            "issuer and audience must not be empty",
        ));
    }

    let boot = &config.bootstrap;
    if let Some(email) = &boot.admin_email {
        if !email.contains('@') {
            return Err(err(
                "ADMIN_EMAIL",
                format!("'{email}' is not an e-mail address"),
            ));
        }
        if boot.admin_password.is_empty() {
            return Err(err(
                "ADMIN_PASSWORD",
                "must be set together with ADMIN_EMAIL",
            ));
        }
    }
    if !boot.admin_password.is_empty() && boot.admin_password.expose().len() < 12 {
        return Err(err("ADMIN_PASSWORD", "must be at least 12 characters"));
    }
    if let Some(name) = &boot.client_name {
        if name.trim().is_empty() {
            return Err(err("CLIENT_NAME", "must not be empty"));
        }
    }
    if let Some(redis) = &config.redis_url {
        if !(redis.starts_with("redis://") || redis.starts_with("rediss://")) {
            return Err(err("REDIS_URL", "must start with redis:// or rediss://"));
        }
    }
    if !matches!(config.log.format.as_str(), "text" | "json") {
        return Err(err("PULSE_LOG_FORMAT", "must be text or json"));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use crate::{load_from, Sources};

    fn env(pairs: &[(&str, &str)]) -> Result<crate::Config, crate::ConfigError> {
        load_from(Sources {
            file: None,
            env: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    #[test]
    fn defaults_are_valid() {
        let c = env(&[]).unwrap();
        assert_eq!(c.server.port, 3001);
        assert_eq!(c.backend(), crate::Backend::Sqlite);
    }

    #[test]
    fn seed_names_and_pulse_names() {
        let c = env(&[("PORT", "8080"), ("JWT_ACCESS_TOKEN_EXPIRE_MINUTES", "30")]).unwrap();
        assert_eq!(c.server.port, 8080);
        assert_eq!(c.auth.access_token_minutes, 30);
        let c = env(&[("PORT", "8080"), ("PULSE_PORT", "9090")]).unwrap();
        assert_eq!(c.server.port, 9090, "PULSE_* wins");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("PORT", "abc")], "PORT"),
            (&[("PORT", "70000")], "PORT"),
            (&[("JWT_ALGORITHM", "none")], "JWT_ALGORITHM"),
            (&[("JWT_SECRET_KEY", "short")], "JWT_SECRET_KEY"),
            (&[("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
            (
                &[("DATABASE_URL", "postgres://localhost/x")],
                "JWT_SECRET_KEY",
            ),
            (&[("ADMIN_EMAIL", "admin@example.com")], "ADMIN_PASSWORD"),
            (&[("PULSE_AUTO_MIGRATE", "maybe")], "PULSE_AUTO_MIGRATE"),
            (&[("PULSE_CORS_ORIGINS", "not a url")], "PULSE_CORS_ORIGINS"),
            (
                &[("PULSE_ENCRYPTION_KEY", "c2hvcnQ=")],
                "PULSE_ENCRYPTION_KEY",
            ),
            (&[("PULSE_GIT_ROOT", "repos")], "PULSE_GIT_ROOT"),
            (
                &[("PULSE_ETL_LEASE_SECONDS", "soon")],
                "PULSE_ETL_LEASE_SECONDS",
            ),
            (&[("PULSE_ETL_POLL_MILLIS", "-5")], "PULSE_ETL_POLL_MILLIS"),
        ];
        for (vars, setting) in cases {
            let e = env(vars).unwrap_err();
            assert_eq!(e.setting, *setting, "{vars:?} -> {e}");
        }
    }

    #[test]
    fn git_root_is_an_optional_absolute_path() {
        assert_eq!(env(&[]).unwrap().etl.git_root, None);
        assert_eq!(env(&[("PULSE_GIT_ROOT", "")]).unwrap().etl.git_root, None);
        assert_eq!(
            env(&[("PULSE_GIT_ROOT", "/srv/git")]).unwrap().etl.git_root,
            Some(std::path::PathBuf::from("/srv/git"))
        );
    }

    #[test]
    fn engine_settings_default_and_parse() {
        let c = env(&[]).unwrap().etl;
        assert_eq!(
            (c.lease_seconds, c.heartbeat_seconds, c.poll_millis),
            (30.0, 5.0, 2000)
        );
        assert_eq!(
            (c.max_attempts, c.retry_base_seconds, c.retry_max_seconds),
            (5, 10, 1800)
        );
        assert_eq!(c.leader_lease_seconds, 30.0);
        assert_eq!((c.log_retention_days, c.raw_retention_days), (30, 90));

        let c = env(&[
            ("PULSE_ETL_LEASE_SECONDS", "1.5"),
            ("PULSE_ETL_HEARTBEAT_SECONDS", "0.25"),
            ("PULSE_ETL_POLL_MILLIS", "50"),
            ("PULSE_ETL_MAX_ATTEMPTS", "100"),
            ("PULSE_ETL_RETRY_BASE_SECONDS", "1"),
            ("PULSE_ETL_RETRY_MAX_SECONDS", "60"),
            ("PULSE_ETL_LEADER_LEASE_SECONDS", "3"),
            ("PULSE_ETL_LOG_RETENTION_DAYS", "7"),
            ("PULSE_ETL_RAW_RETENTION_DAYS", "14"),
        ])
        .unwrap()
        .etl;
        assert_eq!(
            (c.lease_seconds, c.heartbeat_seconds, c.poll_millis),
            (1.5, 0.25, 50)
        );
        assert_eq!(
            (c.max_attempts, c.retry_base_seconds, c.retry_max_seconds),
            (100, 1, 60)
        );
        assert_eq!(c.leader_lease_seconds, 3.0);
        assert_eq!((c.log_retention_days, c.raw_retention_days), (7, 14));
    }

    #[test]
    fn engine_settings_from_a_file_accept_whole_and_fractional_seconds() {
        let dir = std::env::temp_dir().join(format!("pulse-config-etl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pulse.toml");
        std::fs::write(
            &path,
            "[etl]\nlease_seconds = 20\nheartbeat_seconds = 2.5\npoll_millis = 500\n",
        )
        .unwrap();
        let c = load_from(Sources {
            file: Some((path.clone(), true)),
            env: vec![("PULSE_ETL_MAX_ATTEMPTS".into(), "9".into())],
        })
        .unwrap()
        .etl;
        assert_eq!(
            (
                c.lease_seconds,
                c.heartbeat_seconds,
                c.poll_millis,
                c.max_attempts
            ),
            (20.0, 2.5, 500, 9)
        );
        std::fs::write(&path, "[etl]\nlease_secs = 20\n").unwrap();
        let e = load_from(Sources {
            file: Some((path.clone(), true)),
            env: vec![],
        })
        .unwrap_err();
        assert!(e.message.contains("lease_secs"), "{e}");
        std::fs::write(&path, "[etl]\nlease_seconds = 4\nheartbeat_seconds = 3\n").unwrap();
        let e = load_from(Sources {
            file: Some((path.clone(), true)),
            env: vec![],
        })
        .unwrap_err();
        assert_eq!(e.setting, "PULSE_ETL_HEARTBEAT_SECONDS", "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn engine_settings_are_validated_naming_the_setting() {
        type Case = (
            &'static [(&'static str, &'static str)],
            &'static str,
            &'static str,
        );
        let cases: &[Case] = &[
            (
                &[("PULSE_ETL_LEASE_SECONDS", "abc")],
                "PULSE_ETL_LEASE_SECONDS",
                "not a non-negative number",
            ),
            (
                &[("PULSE_ETL_LEASE_SECONDS", "NaN")],
                "PULSE_ETL_LEASE_SECONDS",
                "not a non-negative number",
            ),
            (
                &[("PULSE_ETL_LEASE_SECONDS", "0.5")],
                "PULSE_ETL_LEASE_SECONDS",
                "between 1 and 3600",
            ),
            (
                &[("PULSE_ETL_HEARTBEAT_SECONDS", "20")],
                "PULSE_ETL_HEARTBEAT_SECONDS",
                "at most half the lease",
            ),
            (
                &[
                    ("PULSE_ETL_LEASE_SECONDS", "2"),
                    ("PULSE_ETL_HEARTBEAT_SECONDS", "1.01"),
                ],
                "PULSE_ETL_HEARTBEAT_SECONDS",
                "at most half the lease",
            ),
            (
                &[("PULSE_ETL_HEARTBEAT_SECONDS", "0")],
                "PULSE_ETL_HEARTBEAT_SECONDS",
                "between 0.05",
            ),
            (
                &[("PULSE_ETL_POLL_MILLIS", "0")],
                "PULSE_ETL_POLL_MILLIS",
                "between 10 and 600000",
            ),
            (
                &[("PULSE_ETL_MAX_ATTEMPTS", "0")],
                "PULSE_ETL_MAX_ATTEMPTS",
                "between 1 and 10000",
            ),
            (
                &[("PULSE_ETL_RETRY_BASE_SECONDS", "0")],
                "PULSE_ETL_RETRY_BASE_SECONDS",
                "between 1",
            ),
            (
                &[
                    ("PULSE_ETL_RETRY_BASE_SECONDS", "60"),
                    ("PULSE_ETL_RETRY_MAX_SECONDS", "30"),
                ],
                "PULSE_ETL_RETRY_MAX_SECONDS",
                "at least the base",
            ),
            (
                &[("PULSE_ETL_LEADER_LEASE_SECONDS", "0")],
                "PULSE_ETL_LEADER_LEASE_SECONDS",
                "between 1 and 3600",
            ),
            (
                &[("PULSE_ETL_LOG_RETENTION_DAYS", "0")],
                "PULSE_ETL_LOG_RETENTION_DAYS",
                "between 1 and 3650",
            ),
            (
                &[("PULSE_ETL_RAW_RETENTION_DAYS", "99999")],
                "PULSE_ETL_RAW_RETENTION_DAYS",
                "between 1 and 3650",
            ),
        ];
        for (vars, setting, words) in cases {
            let e = env(vars).unwrap_err();
            assert_eq!(e.setting, *setting, "{vars:?} -> {e}");
            assert!(e.message.contains(words), "{vars:?} -> {e}");
        }
    }

    #[test]
    fn file_layer_sits_between_defaults_and_env() {
        let dir = std::env::temp_dir().join(format!("pulse-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pulse.toml");
        std::fs::write(&path, "[server]\nport = 4000\nhost = \"0.0.0.0\"\n").unwrap();
        let from_file = load_from(Sources {
            file: Some((path.clone(), true)),
            env: vec![],
        })
        .unwrap();
        assert_eq!(from_file.server.port, 4000);
        assert_eq!(from_file.server.host, "0.0.0.0");
        let env_wins = load_from(Sources {
            file: Some((path.clone(), true)),
            env: vec![("PORT".into(), "5000".into())],
        })
        .unwrap();
        assert_eq!(env_wins.server.port, 5000);

        std::fs::write(&path, "[server]\nprot = 4000\n").unwrap();
        let e = load_from(Sources {
            file: Some((path.clone(), true)),
            env: vec![],
        })
        .unwrap_err();
        assert!(e.message.contains("prot"), "{e}");
        let missing = load_from(Sources {
            file: Some((dir.join("nope.toml"), true)),
            env: vec![],
        });
        assert!(missing.is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = env(&[("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef-canary")]).unwrap();
        assert!(!format!("{c:?}").contains("canary"));
    }
}
