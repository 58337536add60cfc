//! Keys from configuration, or generated once and kept in the data directory.
//!
//! On SQLite (one machine) an unset JWT secret or encryption key is generated on first start and
//! stored in `<data_dir>/` with owner-only permissions, with a warning. On PostgreSQL the
//! configuration requires both, because several processes must share them.

use std::path::Path;

use base64::Engine;
use pulse_config::{Backend, Config};
use rand::RngCore;

/// The secrets a process needs.
pub struct Keys {
    /// JWT signing secret.
    pub jwt_secret: Vec<u8>,
    /// Key for credentials at rest and for HMACs (device and CSRF tokens).
    pub encryption_key: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

/// Loads the keys from `config`, generating missing ones in the data directory on SQLite.
pub fn load(config: &Config) -> anyhow::Result<Keys> {
    let jwt_secret = if !config.auth.jwt_secret.is_empty() {
        config.auth.jwt_secret.expose().as_bytes().to_vec()
    } else {
        anyhow::ensure!(
            config.backend() == Backend::Sqlite,
            "JWT_SECRET_KEY is required on PostgreSQL"
        );
        let text = file_secret(&config.data_dir, "jwt-secret", "JWT_SECRET_KEY")?;
        text.into_bytes()
    };
    let key_b64 = if !config.auth.encryption_key.is_empty() {
        config.auth.encryption_key.expose().to_string()
    } else {
        anyhow::ensure!(
            config.backend() == Backend::Sqlite,
            "PULSE_ENCRYPTION_KEY is required on PostgreSQL"
        );
        file_secret(&config.data_dir, "encryption-key", "PULSE_ENCRYPTION_KEY")?
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key_b64.trim())
        .map_err(|_| anyhow::anyhow!("the encryption key is not valid base64"))?;
    let encryption_key: [u8; 32] = decoded
        .try_into()
        .map_err(|_| anyhow::anyhow!("the encryption key must be 32 bytes"))?;
    Ok(Keys {
        jwt_secret,
        encryption_key,
    })
}

/// Reads `<dir>/<name>`, creating it with a fresh random 32-byte base64 value if missing.
fn file_secret(dir: &Path, name: &str, setting: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().to_string());
    }
    std::fs::create_dir_all(dir)?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let value = base64::engine::general_purpose::STANDARD.encode(bytes);
    write_private(&path, &value)?;
    tracing::warn!(
        path = %path.display(),
        "{setting} is not set: generated one and stored it in the data directory; set {setting} to manage it yourself"
    );
    Ok(value)
}

#[cfg(unix)]
fn write_private(path: &Path, value: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(value.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, value: &str) -> anyhow::Result<()> {
    std::fs::write(path, value)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = std::env::temp_dir().join(format!("pulse-keys-{}", uuid::Uuid::new_v4()));
        let config = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        let a = load(&config).unwrap();
        let b = load(&config).unwrap();
        assert_eq!(a.jwt_secret, b.jwt_secret);
        assert_eq!(a.encryption_key, b.encryption_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("jwt-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
