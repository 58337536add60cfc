//! Pulse's credentials.
//!
//! - [`password`]: argon2id hashing off the async runtime, with a cap on concurrent hashes.
//! - [`jwt`]: short-lived access tokens bound to a session, with an allow-listed algorithm.
//! - [`token`]: opaque secrets (refresh tokens, API tokens, CSRF and device tokens) and their hashes.
//! - [`crypto`]: AES-256-GCM for credentials stored at rest.
//! - [`keys`]: signing and encryption keys from configuration, or generated once for SQLite.

pub mod crypto;
pub mod jwt;
pub mod keys;
pub mod password;
pub mod token;
