//! Merging the layers.

use std::path::{Path, PathBuf};

use toml::Value;

use crate::env::{Kind, VARIABLES};
use crate::{validate, Config, ConfigError};

/// Where configuration comes from, besides the built-in defaults.
#[derive(Debug, Default)]
pub struct Sources {
    /// A TOML file. `required` is true when the operator named it explicitly.
    pub file: Option<(PathBuf, bool)>,
    /// Environment variables as (name, value) pairs.
    pub env: Vec<(String, String)>,
}

impl Sources {
    /// The process environment and the file named by `explicit`, `PULSE_CONFIG`, or `./pulse.toml`
    /// when it exists.
    pub fn from_process(explicit: Option<&Path>) -> Self {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let named = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("PULSE_CONFIG").map(PathBuf::from));
        let file = match named {
            Some(path) => Some((path, true)),
            None => {
                let default = PathBuf::from("pulse.toml");
                default.exists().then_some((default, false))
            }
        };
        Self { file, env }
    }
}

/// Loads and validates the configuration of this process.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    load_from(Sources::from_process(explicit))
}

/// Loads and validates a configuration from explicit sources (used by tests).
pub fn load_from(sources: Sources) -> Result<Config, ConfigError> {
    let mut merged = Value::try_from(Config::default())
        .map_err(|e| ConfigError::new("defaults", e.to_string()))?;
    if let Some((path, required)) = &sources.file {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                // Parse as the typed structure first: its errors name the key and the line.
                toml::from_str::<Config>(&text).map_err(|e| {
                    ConfigError::new(path.display().to_string(), e.to_string().trim().to_string())
                })?;
                let file: Value = toml::from_str(&text).map_err(|e| {
                    ConfigError::new(path.display().to_string(), e.message().to_string())
                })?;
                merge(&mut merged, file);
            }
            Err(e) if *required || e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ConfigError::new(
                    path.display().to_string(),
                    format!("cannot read: {e}"),
                ));
            }
            Err(_) => {}
        }
    }
    for var in VARIABLES {
        let found = var.names.iter().find_map(|name| {
            sources
                .env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(k, v)| (k.as_str(), v))
        });
        if let Some((name, raw)) = found {
            let value = parse_env(name, raw, var.kind)?;
            set_path(&mut merged, var.key, value);
        }
    }
    let config: Config = merged
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::new("configuration", e.message().to_string()))?;
    validate::validate(config)
}

fn parse_env(name: &str, raw: &str, kind: Kind) -> Result<Value, ConfigError> {
    let raw = raw.trim();
    Ok(match kind {
        Kind::Text => Value::String(raw.to_string()),
        Kind::Integer => Value::Integer(
            raw.parse::<u32>()
                .map_err(|_| {
                    ConfigError::new(
                        name,
                        format!("'{raw}' is not a whole number (0 to 4294967295)"),
                    )
                })?
                .into(),
        ),
        Kind::Port => Value::Integer(
            raw.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    ConfigError::new(name, format!("'{raw}' is not a port number (1 to 65535)"))
                })?
                .into(),
        ),
        Kind::Bool => Value::Boolean(match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => {
                return Err(ConfigError::new(
                    name,
                    format!("'{raw}' is not true or false"),
                ))
            }
        }),
        Kind::Decimal => Value::Float(
            raw.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    ConfigError::new(
                        name,
                        format!("'{raw}' is not a non-negative number (such as 30 or 0.5)"),
                    )
                })?,
        ),
        Kind::List => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
    })
}

fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Table(base), Value::Table(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

fn set_path(root: &mut Value, key: &str, value: Value) {
    let mut node = root;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let table = match node {
            Value::Table(t) => t,
            _ => return,
        };
        if parts.peek().is_none() {
            table.insert(part.to_string(), value);
            return;
        }
        node = table
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Default::default()));
    }
}
