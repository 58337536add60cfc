//! Users. Everything here is scoped to the transaction's client except [`find_for_login`] and
//! [`find_in_client`], which the login flow and the CLI use before any session exists.

use pulse_core::{ClientId, Error, Result, Role, UserId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::{now, Page, Paged};
use crate::entity::users::{Column, Entity, Model};
use crate::entity::{clients, users};
use crate::TenantTx;

/// Normalises an e-mail for storage and lookup.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// E-mail (normalised on insert).
    pub email: String,
    /// Display name.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
}

/// Creates a user in the transaction's client.
pub async fn create(tx: &TenantTx, new: NewUser) -> Result<Model> {
    let email = normalize_email(&new.email);
    let exists = Entity::find()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .filter(Column::Email.eq(email.clone()))
        .count(tx.conn())
        .await?;
    if exists > 0 {
        return Err(Error::Conflict(
            "a user with this e-mail already exists".into(),
        ));
    }
    let at = now();
    let model = users::ActiveModel {
        id: Set(UserId::new().uuid()),
        client_id: Set(tx.client_uuid()),
        email: Set(email),
        name: Set(new.name.trim().to_string()),
        password_hash: Set(new.password_hash),
        role: Set(new.role.as_str().to_string()),
        active: Set(true),
        theme: Set("system".into()),
        created_at: Set(at),
        updated_at: Set(at),
        password_changed_at: Set(at),
        last_login_at: Set(None),
    };
    Ok(model.insert(tx.conn()).await?)
}

/// Finds a user of the transaction's client.
pub async fn get(tx: &TenantTx, id: UserId) -> Result<Model> {
    Entity::find_by_id(id.uuid())
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(Error::NotFound)
}

/// Filters for listing users.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Only this role.
    pub role: Option<Role>,
    /// Only active (true) or inactive (false) users.
    pub active: Option<bool>,
    /// E-mail or name contains this text.
    pub search: Option<String>,
}

/// Lists the client's users, by e-mail.
pub async fn list(tx: &TenantTx, filter: &UserFilter, page: Page) -> Result<Paged<Model>> {
    let mut query = Entity::find().filter(Column::ClientId.eq(tx.client_uuid()));
    if let Some(role) = filter.role {
        query = query.filter(Column::Role.eq(role.as_str()));
    }
    if let Some(active) = filter.active {
        query = query.filter(Column::Active.eq(active));
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let needle = search.to_lowercase();
        query = query.filter(
            Column::Email
                .contains(needle.clone())
                .or(Column::Name.contains(search)),
        );
    }
    let total = query.clone().count(tx.conn()).await?;
    let items = query
        .order_by_asc(Column::Email)
        .limit(page.limit)
        .offset(page.offset)
        .all(tx.conn())
        .await?;
    Ok(Paged { items, total })
}

async fn save(tx: &TenantTx, mut model: users::ActiveModel) -> Result<Model> {
    model.updated_at = Set(now());
    Ok(model.update(tx.conn()).await?)
}

/// Changes a user's role.
pub async fn set_role(tx: &TenantTx, id: UserId, role: Role) -> Result<Model> {
    let mut model: users::ActiveModel = get(tx, id).await?.into();
    model.role = Set(role.as_str().to_string());
    save(tx, model).await
}

/// Activates or deactivates a user.
pub async fn set_active(tx: &TenantTx, id: UserId, active: bool) -> Result<Model> {
    let mut model: users::ActiveModel = get(tx, id).await?.into();
    model.active = Set(active);
    save(tx, model).await
}

/// Replaces a user's password hash.
pub async fn set_password_hash(tx: &TenantTx, id: UserId, hash: String) -> Result<Model> {
    let mut model: users::ActiveModel = get(tx, id).await?.into();
    model.password_hash = Set(hash);
    model.password_changed_at = Set(now());
    save(tx, model).await
}

/// Updates the display name and/or theme.
pub async fn update_profile(
    tx: &TenantTx,
    id: UserId,
    name: Option<String>,
    theme: Option<String>,
) -> Result<Model> {
    let mut model: users::ActiveModel = get(tx, id).await?.into();
    if let Some(name) = name {
        model.name = Set(name.trim().to_string());
    }
    if let Some(theme) = theme {
        model.theme = Set(theme);
    }
    save(tx, model).await
}

/// Records a successful login.
pub async fn touch_login(tx: &TenantTx, id: UserId) -> Result<()> {
    let mut model: users::ActiveModel = get(tx, id).await?.into();
    model.last_login_at = Set(Some(now()));
    model.update(tx.conn()).await?;
    Ok(())
}

/// Active admins of the client (to refuse removing the last one).
pub async fn count_active_admins(tx: &TenantTx) -> Result<u64> {
    Ok(Entity::find()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .filter(Column::Role.eq(Role::Admin.as_str()))
        .filter(Column::Active.eq(true))
        .count(tx.conn())
        .await?)
}

/// Login lookup, across tenants: the active users with this e-mail in active clients (restricted to
/// one client when given). Several results mean the caller must name the client.
pub async fn find_for_login(
    db: &impl ConnectionTrait,
    email: &str,
    client: Option<ClientId>,
) -> Result<Vec<(Model, clients::Model)>> {
    let mut query = Entity::find()
        .filter(Column::Email.eq(normalize_email(email)))
        .filter(Column::Active.eq(true));
    if let Some(client) = client {
        query = query.filter(Column::ClientId.eq(client.uuid()));
    }
    let found = query.all(db).await?;
    let mut out = Vec::with_capacity(found.len());
    for user in found {
        if let Some(c) = clients::Entity::find_by_id(user.client_id).one(db).await? {
            if c.active {
                out.push((user, c));
            }
        }
    }
    Ok(out)
}

/// Operator lookup of one user by e-mail in one client (the CLI).
pub async fn find_in_client(
    db: &impl ConnectionTrait,
    client: ClientId,
    email: &str,
) -> Result<Option<Model>> {
    Ok(Entity::find()
        .filter(Column::ClientId.eq(client.uuid()))
        .filter(Column::Email.eq(normalize_email(email)))
        .one(db)
        .await?)
}

/// Whether any user exists at all (first-run bootstrap).
pub async fn any_exists(db: &impl ConnectionTrait) -> Result<bool> {
    Ok(Entity::find().count(db).await? > 0)
}

/// Reads an active user of an active client by id, for authenticating an API token (privileged:
/// the token row named the client and user).
pub async fn find_for_login_by_id(
    db: &impl ConnectionTrait,
    client: ClientId,
    id: UserId,
) -> Result<Option<Model>> {
    let Some(user) = Entity::find_by_id(id.uuid())
        .filter(Column::ClientId.eq(client.uuid()))
        .filter(Column::Active.eq(true))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let client_active = crate::repo::clients::is_active(db, client).await?;
    Ok(client_active.then_some(user))
}
