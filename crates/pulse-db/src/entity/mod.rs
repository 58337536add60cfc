//! SeaORM entities, one module per table.

pub mod api_tokens;
pub mod audit_log;
pub mod client_settings;
pub mod clients;
pub mod login_failures;
pub mod sessions;
pub mod users;
