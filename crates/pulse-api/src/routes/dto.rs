//! Response shapes shared by several resources.

use chrono::{DateTime, Utc};
use pulse_core::{ClientId, Role, UserId};
use pulse_db::entity::users;
use serde::Serialize;
use utoipa::ToSchema;

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: UserId,
    /// Client.
    pub client_id: ClientId,
    /// E-mail (lower-case).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether the account may log in.
    pub active: bool,
    /// Theme preference: light, dark or system.
    pub theme: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<users::Model> for UserView {
    fn from(u: users::Model) -> Self {
        Self {
            id: UserId::from_uuid(u.id),
            client_id: ClientId::from_uuid(u.client_id),
            role: u.role.parse().unwrap_or(Role::Viewer),
            email: u.email,
            name: u.name,
            active: u.active,
            theme: u.theme,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// A page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageOf<T> {
    /// The items.
    pub items: Vec<T>,
    /// Items matching the filter in all.
    pub total: u64,
    /// Page size used.
    pub limit: u64,
    /// Offset used.
    pub offset: u64,
}

pub use pulse_core::validate::check_email;

/// Validates a display name.
pub fn check_name(name: &str) -> Result<(), pulse_core::Error> {
    let len = name.trim().chars().count();
    if (1..=200).contains(&len) {
        Ok(())
    } else {
        Err(pulse_core::Error::invalid(
            "name",
            "must be 1 to 200 characters",
        ))
    }
}

/// Validates a new password against the policy.
pub fn check_password(field: &str, password: &str) -> Result<(), pulse_core::Error> {
    pulse_auth::password::check_policy(password).map_err(|m| pulse_core::Error::invalid(field, m))
}
