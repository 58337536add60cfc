//! The connectors that ship with Pulse.
//!
//! A process that runs workers builds its [`Registry`] with [`builtin`] (or adds these to its own
//! with [`register_builtin`]). Settings that only the operator may choose (never a tenant's
//! integration), such as where git repositories may be read from, come in [`BuiltinSettings`].

pub mod git;

use std::sync::Arc;

use crate::connector::Registry;

/// Operator settings of the built-in connectors.
#[derive(Debug, Clone, Default)]
pub struct BuiltinSettings {
    /// The local git connector's settings.
    pub git: git::GitSettings,
}

impl BuiltinSettings {
    /// The settings the operator configured (`[etl]`, `PULSE_GIT_ROOT`).
    pub fn from_config(etl: &pulse_config::EtlConfig) -> Self {
        Self {
            git: git::GitSettings {
                allowed_root: etl.git_root.clone(),
            },
        }
    }
}

/// Adds every built-in connector to `registry`.
pub fn register_builtin(registry: &mut Registry, settings: &BuiltinSettings) {
    registry.register(Arc::new(git::GitConnector::new(settings.git.clone())));
}

/// A registry holding every built-in connector.
pub fn builtin(settings: &BuiltinSettings) -> Registry {
    let mut registry = Registry::new();
    register_builtin(&mut registry, settings);
    registry
}
