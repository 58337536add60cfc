//! Login sessions.

use chrono::{DateTime, Utc};
use pulse_core::{ClientId, Error, Result, SessionId, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::now;
use crate::entity::sessions::{self, Column, Entity, Model};
use crate::entity::users;
use crate::TenantTx;

/// A session to create.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Pre-generated id (it goes into the refresh token).
    pub id: SessionId,
    /// The user.
    pub user: UserId,
    /// SHA-256 of the first refresh token.
    pub refresh_hash: String,
    /// When the session ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// Client address.
    pub ip: Option<String>,
    /// Client software.
    pub user_agent: Option<String>,
}

/// Creates a session.
pub async fn create(tx: &TenantTx, new: NewSession) -> Result<Model> {
    let at = now();
    let model = sessions::ActiveModel {
        id: Set(new.id.uuid()),
        client_id: Set(tx.client_uuid()),
        user_id: Set(new.user.uuid()),
        refresh_hash: Set(new.refresh_hash),
        previous_refresh_hash: Set(None),
        refresh_generation: Set(0),
        created_at: Set(at),
        last_used_at: Set(at),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        revoked_reason: Set(None),
        ip: Set(new.ip),
        user_agent: Set(new.user_agent.map(|ua| ua.chars().take(300).collect())),
    };
    Ok(model.insert(tx.conn()).await?)
}

/// What a request's authentication needs to know about its session, read in one place.
#[derive(Debug, Clone)]
pub struct SessionState {
    /// The session row.
    pub session: Model,
    /// Its user.
    pub user: users::Model,
    /// Whether the user's client is active.
    pub client_active: bool,
}

impl SessionState {
    /// Whether requests may use this session now.
    pub fn is_usable(&self, at: DateTime<Utc>) -> bool {
        self.session.revoked_at.is_none()
            && self.session.expires_at > at
            && self.user.active
            && self.client_active
    }
}

/// Reads a session with its user and client state, for verifying a request whose token named this
/// session and client. Runs on the privileged connection (one query path for every request, before a
/// tenant transaction exists); the client id comes from the verified token and is checked here.
pub async fn load_state(
    db: &impl ConnectionTrait,
    client: ClientId,
    id: SessionId,
) -> Result<Option<SessionState>> {
    let Some(session) = Entity::find_by_id(id.uuid())
        .filter(Column::ClientId.eq(client.uuid()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(user) = users::Entity::find_by_id(session.user_id)
        .filter(users::Column::ClientId.eq(client.uuid()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let client_active = crate::repo::clients::is_active(db, client).await?;
    Ok(Some(SessionState {
        session,
        user,
        client_active,
    }))
}

/// Reads a session by id for refreshing (the refresh token names the session; its secret is then
/// compared by the caller). Privileged: no access token exists at that point.
pub async fn find_for_refresh(db: &impl ConnectionTrait, id: SessionId) -> Result<Option<Model>> {
    Ok(Entity::find_by_id(id.uuid()).one(db).await?)
}

/// Moves a session from refresh generation `generation` to the next one, storing the new token's
/// hash. Conditional on the generation (and the session being unrevoked), so of several concurrent
/// refreshes with the same token exactly one returns `true`.
pub async fn rotate(
    db: &impl ConnectionTrait,
    id: SessionId,
    generation: i64,
    new_hash: String,
) -> Result<bool> {
    let done = Entity::update_many()
        .col_expr(
            Column::PreviousRefreshHash,
            Expr::col(Column::RefreshHash).into(),
        )
        .col_expr(Column::RefreshHash, Expr::value(new_hash))
        .col_expr(Column::RefreshGeneration, Expr::value(generation + 1))
        .col_expr(Column::LastUsedAt, Expr::value(now()))
        .filter(Column::Id.eq(id.uuid()))
        .filter(Column::RefreshGeneration.eq(generation))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Revokes one session by id, whatever its client: used only after the caller proved it holds the
/// session (refresh-token reuse detection).
pub async fn revoke_by_id(db: &impl ConnectionTrait, id: SessionId, reason: &str) -> Result<()> {
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now()))
        .col_expr(Column::RevokedReason, Expr::value(reason))
        .filter(Column::Id.eq(id.uuid()))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Lists a user's sessions that are still usable, newest first.
pub async fn list_active(tx: &TenantTx, user: UserId) -> Result<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .filter(Column::UserId.eq(user.uuid()))
        .filter(Column::RevokedAt.is_null())
        .filter(Column::ExpiresAt.gt(now()))
        .order_by_desc(Column::CreatedAt)
        .all(tx.conn())
        .await?)
}

/// Revokes one of a user's sessions. Another user's (or client's) session is "not found".
pub async fn revoke(tx: &TenantTx, user: UserId, id: SessionId, reason: &str) -> Result<()> {
    let result = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now()))
        .col_expr(Column::RevokedReason, Expr::value(reason))
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .filter(Column::UserId.eq(user.uuid()))
        .filter(Column::Id.eq(id.uuid()))
        .filter(Column::RevokedAt.is_null())
        .exec(tx.conn())
        .await?;
    if result.rows_affected == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Revokes every session of a user (optionally sparing one); returns the ids revoked.
pub async fn revoke_all(
    tx: &TenantTx,
    user: UserId,
    except: Option<SessionId>,
    reason: &str,
) -> Result<Vec<SessionId>> {
    let mut query = Entity::find()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .filter(Column::UserId.eq(user.uuid()))
        .filter(Column::RevokedAt.is_null());
    if let Some(keep) = except {
        query = query.filter(Column::Id.ne(keep.uuid()));
    }
    let ids: Vec<SessionId> = query
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|s| SessionId::from_uuid(s.id))
        .collect();
    if !ids.is_empty() {
        Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(now()))
            .col_expr(Column::RevokedReason, Expr::value(reason))
            .filter(Column::ClientId.eq(tx.client_uuid()))
            .filter(Column::Id.is_in(ids.iter().map(|i| i.uuid())))
            .exec(tx.conn())
            .await?;
    }
    Ok(ids)
}
