//! Shared vocabulary of Pulse.
//!
//! Every crate speaks in these types: typed ids (so a user id can never be passed where a client id
//! is expected), the [`Role`] ladder, and the one [`Error`] type that every HTTP response maps to.

pub mod error;
pub mod ids;
pub mod request_id;
pub mod role;
pub mod validate;

pub use error::{Error, ErrorBody, ErrorDetail, FieldError, Result};
pub use ids::{ApiTokenId, AuditId, ClientId, SessionId, UserId};
pub use role::Role;
