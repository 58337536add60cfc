//! SeaORM entities, one module per table.

pub mod api_tokens;
pub mod audit_log;
pub mod client_settings;
pub mod clients;
pub mod integrations;
pub mod job_events;
pub mod job_logs;
pub mod jobs;
pub mod leader_leases;
pub mod login_failures;
pub mod raw_records;
pub mod sessions;
pub mod users;
