//! Personal API tokens.

use chrono::{DateTime, Utc};
use pulse_core::{ApiTokenId, Error, Result, Role, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::now;
use crate::entity::api_tokens::{self, Column, Entity, Model};
use crate::TenantTx;

/// Creates a token for `user` with the given id and secret hash.
pub async fn create(
    tx: &TenantTx,
    id: ApiTokenId,
    user: UserId,
    name: &str,
    secret_hash: String,
    role: Role,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Model> {
    let model = api_tokens::ActiveModel {
        id: Set(id.uuid()),
        client_id: Set(tx.client_uuid()),
        user_id: Set(user.uuid()),
        name: Set(name.trim().to_string()),
        secret_hash: Set(secret_hash),
        role: Set(role.as_str().to_string()),
        created_at: Set(now()),
        last_used_at: Set(None),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
    };
    Ok(model.insert(tx.conn()).await?)
}

/// A user's tokens that are not revoked, newest first.
pub async fn list(tx: &TenantTx, user: UserId) -> Result<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .filter(Column::UserId.eq(user.uuid()))
        .filter(Column::RevokedAt.is_null())
        .order_by_desc(Column::CreatedAt)
        .all(tx.conn())
        .await?)
}

/// Revokes one of a user's tokens.
pub async fn revoke(tx: &TenantTx, user: UserId, id: ApiTokenId) -> Result<()> {
    let result = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now()))
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

/// Revokes every token of a user (on deactivation).
pub async fn revoke_all(tx: &TenantTx, user: UserId) -> Result<()> {
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now()))
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .filter(Column::UserId.eq(user.uuid()))
        .filter(Column::RevokedAt.is_null())
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// Looks a token up by id to authenticate a request. Privileged: the token names itself, and the
/// caller compares the secret hash and then scopes everything to the token's client.
pub async fn find_for_auth(db: &impl ConnectionTrait, id: ApiTokenId) -> Result<Option<Model>> {
    Ok(Entity::find_by_id(id.uuid()).one(db).await?)
}

/// Records use (at most once a minute per token, to keep writes off the hot path).
pub async fn touch(db: &impl ConnectionTrait, token: &Model) -> Result<()> {
    let at = now();
    if token
        .last_used_at
        .is_some_and(|t| at - t < chrono::Duration::minutes(1))
    {
        return Ok(());
    }
    Entity::update_many()
        .col_expr(Column::LastUsedAt, Expr::value(at))
        .filter(Column::Id.eq(token.id))
        .exec(db)
        .await?;
    Ok(())
}
