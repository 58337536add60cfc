//! Semantic checks, run once at start-up, each naming the setting at fault.

use crate::{Backend, Config, ConfigError};

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
