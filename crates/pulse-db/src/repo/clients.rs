//! Clients (tenants). Creating and listing clients is operator work (the CLI), across tenants.

use pulse_core::{ClientId, Error, Result};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::now;
use crate::entity::clients::{self, Column, Entity, Model};
use crate::TenantTx;

/// Creates a client. Names are unique, ignoring case.
pub async fn create(db: &impl ConnectionTrait, name: &str) -> Result<Model> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::invalid("name", "must be 1 to 200 characters"));
    }
    if find_by_name(db, name).await?.is_some() {
        return Err(Error::Conflict(format!(
            "a client named '{name}' already exists"
        )));
    }
    let at = now();
    let model = clients::ActiveModel {
        id: Set(ClientId::new().uuid()),
        name: Set(name.to_string()),
        active: Set(true),
        created_at: Set(at),
        updated_at: Set(at),
    };
    Ok(model.insert(db).await?)
}

/// Finds a client by name, ignoring case (operator lookup, `CLIENT_NAME`).
pub async fn find_by_name(db: &impl ConnectionTrait, name: &str) -> Result<Option<Model>> {
    Ok(Entity::find()
        .filter(Expr::expr(Func::lower(Expr::col(Column::Name))).eq(name.trim().to_lowercase()))
        .one(db)
        .await?)
}

/// Finds a client by id (operator lookup and session checks).
pub async fn find(db: &impl ConnectionTrait, id: ClientId) -> Result<Option<Model>> {
    Ok(Entity::find_by_id(id.uuid()).one(db).await?)
}

/// Every client, oldest first.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<Model>> {
    Ok(Entity::find()
        .order_by_asc(Column::CreatedAt)
        .all(db)
        .await?)
}

/// Activates or deactivates a client. A deactivated client's members cannot log in and their
/// sessions stop working.
pub async fn set_active(db: &impl ConnectionTrait, id: ClientId, active: bool) -> Result<Model> {
    let found = find(db, id).await?.ok_or(Error::NotFound)?;
    let mut model: clients::ActiveModel = found.into();
    model.active = Set(active);
    model.updated_at = Set(now());
    Ok(model.update(db).await?)
}

/// The caller's own client.
pub async fn current(tx: &TenantTx) -> Result<Model> {
    Entity::find_by_id(tx.client_uuid())
        .one(tx.conn())
        .await?
        .ok_or(Error::NotFound)
}

/// Whether the client exists and is active (checked on every authenticated request).
pub async fn is_active(db: &impl ConnectionTrait, id: ClientId) -> Result<bool> {
    Ok(find(db, id).await?.is_some_and(|c| c.active))
}
