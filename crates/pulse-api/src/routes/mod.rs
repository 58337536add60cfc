//! One module per resource, each with its own `router()`; merged in [`crate::app`].

pub mod audit;
pub mod auth;
pub mod data;
pub mod dto;
pub mod etl;
pub mod health;
pub mod import;
pub mod ingest;
pub mod me;
pub mod metrics;
pub mod org;
pub mod rules;
pub mod settings;
pub mod tokens;
pub mod users;
