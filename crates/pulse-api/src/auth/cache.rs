//! A short-lived cache of verified sessions.
//!
//! Every request checks its session; within `ttl` the answer may come from here instead of the
//! database. Revocations made by this process evict entries at once; revocations made by another
//! process take effect within `ttl` (configuration: `PULSE_SESSION_CACHE_SECONDS`, default 5).

use std::time::{Duration, Instant};

use dashmap::DashMap;
use pulse_core::{ClientId, Role, SessionId, UserId};

/// What a verified session allows.
#[derive(Debug, Clone)]
pub struct CachedSession {
    /// The session's client (must match the token's client).
    pub client: ClientId,
    /// The user (must match the token's subject).
    pub user: UserId,
    /// The user's current role.
    pub role: Role,
    /// The user's e-mail.
    pub email: String,
    /// Whether the session may be used.
    pub usable: bool,
    /// When the session ends.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Session-id keyed cache with a fixed time-to-live.
pub struct SessionCache {
    ttl: Duration,
    entries: DashMap<SessionId, (Instant, CachedSession)>,
}

impl SessionCache {
    /// A cache keeping answers for `ttl` (zero disables caching).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: DashMap::new(),
        }
    }

    /// A fresh cached answer, if any.
    pub fn get(&self, id: SessionId) -> Option<CachedSession> {
        let entry = self.entries.get(&id)?;
        if entry.0.elapsed() < self.ttl {
            return Some(entry.1.clone());
        }
        drop(entry);
        self.entries.remove(&id);
        None
    }

    /// Stores an answer.
    pub fn put(&self, id: SessionId, value: CachedSession) {
        if self.ttl.is_zero() {
            return;
        }
        if self.entries.len() > 100_000 {
            self.entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        self.entries.insert(id, (Instant::now(), value));
    }

    /// Forgets one session.
    pub fn evict(&self, id: SessionId) {
        self.entries.remove(&id);
    }

    /// Forgets every session of a user (role change, deactivation, password change).
    pub fn evict_user(&self, user: UserId) {
        self.entries.retain(|_, (_, s)| s.user != user);
    }
}
