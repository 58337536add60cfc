//! Pulse's configuration.
//!
//! Three layers, later ones winning: built-in defaults, an optional TOML file (`pulse.toml` in the
//! working directory, or the file named by `--config` / `PULSE_CONFIG`), then environment variables.
//! Both the original platform's names (`DATABASE_URL`, `JWT_SECRET_KEY`, `PORT`, ...) and `PULSE_*`
//! names are accepted; see [`env::VARIABLES`]. [`Config::load`] validates everything and fails with a
//! message that names the setting and what is wrong with it.

mod env;
mod load;
mod secret;
mod settings;
mod validate;

pub use env::{EnvVar, VARIABLES};
pub use load::{load, load_from, Sources};
pub use secret::Secret;
pub use settings::*;

/// A configuration problem, naming the setting and what is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid setting {setting}: {message}")]
pub struct ConfigError {
    /// The setting, as the operator wrote it (environment variable or TOML key).
    pub setting: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// A problem with one setting.
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }
}
