//! Integrations: what a client syncs from where, with credentials encrypted at rest.
//!
//! Credentials are AES-256-GCM ciphertext bound to `"<client_id>/<integration id>"` as associated
//! data, so a value copied to another row or tenant does not decrypt. They are never part of
//! [`Integration`] (what the API shows) and never logged.

use chrono::{DateTime, Utc};
use pulse_auth::crypto::Cipher;
use pulse_config::Secret;
use pulse_core::{ClientId, Error, Result};
use pulse_db::entity::integrations::{self, Column, Entity, Model};
use pulse_db::sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use pulse_db::TenantTx;
use serde::Serialize;
use serde_json::Value;

use crate::ids::IntegrationId;
use crate::schedule::Schedule;

/// An integration as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Integration {
    /// Its id.
    pub id: IntegrationId,
    /// The tenant.
    pub client: ClientId,
    /// Which connector handles it.
    pub kind: String,
    /// Display name, unique per client.
    pub name: String,
    /// The upstream's base URL (GitHub Enterprise, Jira site).
    pub base_url: Option<String>,
    /// Whether credentials are stored (never the credentials themselves).
    pub has_credentials: bool,
    /// Scopes to sync.
    pub scopes: Vec<String>,
    /// When it syncs on its own.
    pub schedule: Option<Schedule>,
    /// Connector-specific rules.
    pub rules: Option<Value>,
    /// Whether the scheduler runs it.
    pub enabled: bool,
    /// When the scheduler last queued it.
    pub last_scheduled_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Model> for Integration {
    fn from(m: Model) -> Self {
        Integration {
            id: IntegrationId::from_uuid(m.id),
            client: ClientId::from_uuid(m.client_id),
            kind: m.kind,
            name: m.name,
            base_url: m.base_url,
            has_credentials: m.credentials.is_some(),
            scopes: m
                .scopes
                .and_then(|s| serde_json::from_value(s).ok())
                .unwrap_or_default(),
            schedule: m.schedule.and_then(|s| serde_json::from_value(s).ok()),
            rules: m.rules,
            enabled: m.enabled,
            last_scheduled_at: m.last_scheduled_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// What a connector receives: the integration plus its decrypted credentials.
#[derive(Debug, Clone)]
pub struct IntegrationConfig {
    /// The integration.
    pub integration: Integration,
    /// The decrypted credentials (redacted in `Debug`).
    pub credentials: Option<Secret>,
}

/// A new integration.
#[derive(Debug, Clone, Default)]
pub struct NewIntegration {
    /// Which connector handles it.
    pub kind: String,
    /// Display name, unique per client.
    pub name: String,
    /// The upstream's base URL.
    pub base_url: Option<String>,
    /// Plaintext credentials, encrypted before storage.
    pub credentials: Option<Secret>,
    /// Scopes to sync.
    pub scopes: Vec<String>,
    /// When it syncs on its own.
    pub schedule: Option<Schedule>,
    /// Connector-specific rules.
    pub rules: Option<Value>,
}

/// The associated data binding an integration's ciphertext to its row and tenant.
pub fn credentials_aad(client: ClientId, id: IntegrationId) -> Vec<u8> {
    format!("{client}/{id}").into_bytes()
}

fn find(tx: &TenantTx, id: IntegrationId) -> pulse_db::sea_orm::Select<Entity> {
    Entity::find_by_id(id.uuid()).filter(Column::ClientId.eq(tx.client_uuid()))
}

async fn model(tx: &TenantTx, id: IntegrationId) -> Result<Model> {
    find(tx, id).one(tx.conn()).await?.ok_or(Error::NotFound)
}

/// Creates an integration (409 when the name is taken, 422 for an invalid schedule).
pub async fn create(
    tx: &TenantTx,
    cipher: &Cipher,
    new: NewIntegration,
    now: DateTime<Utc>,
) -> Result<Integration> {
    if let Some(schedule) = &new.schedule {
        schedule
            .validate()
            .map_err(|e| Error::invalid("schedule", e.0))?;
    }
    let id = IntegrationId::new();
    let credentials = new.credentials.as_ref().map(|secret| {
        cipher.encrypt(
            secret.expose().as_bytes(),
            &credentials_aad(tx.client(), id),
        )
    });
    let model = integrations::ActiveModel {
        id: Set(id.uuid()),
        client_id: Set(tx.client_uuid()),
        kind: Set(new.kind),
        name: Set(new.name.trim().to_string()),
        base_url: Set(new.base_url),
        credentials: Set(credentials),
        scopes: Set(Some(serde_json::json!(new.scopes))),
        schedule: Set(new
            .schedule
            .map(|s| serde_json::to_value(s).expect("schedule serializes"))),
        rules: Set(new.rules),
        enabled: Set(true),
        last_scheduled_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx.conn())
    .await?;
    Ok(model.into())
}

/// One integration of the client (404 otherwise).
pub async fn get(tx: &TenantTx, id: IntegrationId) -> Result<Integration> {
    Ok(model(tx, id).await?.into())
}

/// The client's integrations by name.
pub async fn list(tx: &TenantTx) -> Result<Vec<Integration>> {
    Ok(Entity::find()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .order_by_asc(Column::Name)
        .all(tx.conn())
        .await?
        .into_iter()
        .map(Integration::from)
        .collect())
}

/// Decrypts the integration's credentials for a connector. A value that does not decrypt (wrong
/// key, or copied from another row) answers `credentials_unreadable`.
pub async fn config(
    tx: &TenantTx,
    cipher: Option<&Cipher>,
    id: IntegrationId,
) -> Result<IntegrationConfig> {
    let m = model(tx, id).await?;
    let credentials = match (&m.credentials, cipher) {
        (None, _) => None,
        (Some(stored), Some(cipher)) => {
            let unreadable = || {
                Error::bad_request(
                    "credentials_unreadable",
                    "the stored credentials cannot be decrypted with the configured key; \
                     enter the integration's credentials again",
                )
            };
            let plain = cipher
                .decrypt(stored, &credentials_aad(tx.client(), id))
                .map_err(|_| unreadable())?;
            Some(Secret::new(
                String::from_utf8(plain).map_err(|_| unreadable())?,
            ))
        }
        (Some(_), None) => {
            return Err(Error::bad_request(
                "no_encryption_key",
                "this process has no encryption key to read integration credentials; \
                 configure PULSE_ENCRYPTION_KEY",
            ))
        }
    };
    Ok(IntegrationConfig {
        integration: m.into(),
        credentials,
    })
}

/// Replaces (or with `None`, removes) the credentials.
pub async fn set_credentials(
    tx: &TenantTx,
    cipher: &Cipher,
    id: IntegrationId,
    credentials: Option<&Secret>,
    now: DateTime<Utc>,
) -> Result<Integration> {
    let mut active: integrations::ActiveModel = model(tx, id).await?.into();
    active.credentials = Set(credentials
        .map(|s| cipher.encrypt(s.expose().as_bytes(), &credentials_aad(tx.client(), id))));
    active.updated_at = Set(now);
    Ok(active.update(tx.conn()).await?.into())
}

/// Changes the schedule (422 when invalid) and whether the scheduler runs the integration.
pub async fn set_schedule(
    tx: &TenantTx,
    id: IntegrationId,
    schedule: Option<Schedule>,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<Integration> {
    if let Some(s) = &schedule {
        s.validate().map_err(|e| Error::invalid("schedule", e.0))?;
    }
    let mut active: integrations::ActiveModel = model(tx, id).await?.into();
    active.schedule = Set(schedule.map(|s| serde_json::to_value(s).expect("schedule serializes")));
    active.enabled = Set(enabled);
    active.updated_at = Set(now);
    Ok(active.update(tx.conn()).await?.into())
}

/// Changes to an integration; fields left `None` stay as they are.
#[derive(Debug, Clone, Default)]
pub struct IntegrationUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New base URL (`Some(None)` removes it).
    pub base_url: Option<Option<String>>,
    /// New scope list.
    pub scopes: Option<Vec<String>>,
    /// New rules (`Some(None)` removes them).
    pub rules: Option<Option<Value>>,
}

/// Updates name, base URL, scopes or rules (409 when the new name is taken).
pub async fn update(
    tx: &TenantTx,
    id: IntegrationId,
    changes: IntegrationUpdate,
    now: DateTime<Utc>,
) -> Result<Integration> {
    let mut active: integrations::ActiveModel = model(tx, id).await?.into();
    if let Some(name) = changes.name {
        active.name = Set(name.trim().to_string());
    }
    if let Some(base_url) = changes.base_url {
        active.base_url = Set(base_url);
    }
    if let Some(scopes) = changes.scopes {
        active.scopes = Set(Some(serde_json::json!(scopes)));
    }
    if let Some(rules) = changes.rules {
        active.rules = Set(rules);
    }
    active.updated_at = Set(now);
    Ok(active.update(tx.conn()).await?.into())
}

/// Deletes an integration with its jobs, their events and logs, and its raw records. A worker
/// still running one of its jobs is fenced out (its job row is gone).
pub async fn delete(tx: &TenantTx, id: IntegrationId) -> Result<()> {
    let done = Entity::delete_many()
        .filter(Column::Id.eq(id.uuid()))
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .exec(tx.conn())
        .await?;
    if done.rows_affected == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// What a key rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Credentials decrypted with the old key and stored again under the new one.
    pub rewritten: u64,
    /// Credentials that were already under the new key (an earlier rotation to the same key).
    pub already_new: u64,
}

/// Re-encrypts every stored credential from the `old` key to the `new` one (key rotation).
/// Cross-tenant, on the privileged connection, in one transaction: either every row ends up under
/// the new key or, on any failure or crash, none changed. Rows the new key already opens are left
/// as they are, so running it again is harmless. A row neither key opens aborts the rotation with
/// an error naming the integration (never its content); nothing is changed then.
pub async fn rotate_key<C>(conn: &C, old: &Cipher, new: &Cipher) -> Result<Rotation>
where
    C: TransactionTrait,
{
    let tx = conn.begin().await?;
    let rows = Entity::find()
        .filter(Column::Credentials.is_not_null())
        .order_by_asc(Column::ClientId)
        .order_by_asc(Column::Id)
        .all(&tx)
        .await?;
    let mut done = Rotation::default();
    let mut unreadable = Vec::new();
    let mut updates = Vec::new();
    for m in rows {
        let aad = credentials_aad(
            ClientId::from_uuid(m.client_id),
            IntegrationId::from_uuid(m.id),
        );
        let stored = m.credentials.clone().unwrap_or_default();
        if new.decrypt(&stored, &aad).is_ok() {
            done.already_new += 1;
            continue;
        }
        match old.decrypt(&stored, &aad) {
            Ok(plain) => updates.push((m, new.encrypt(&plain, &aad))),
            Err(_) => unreadable.push(format!("{} (client {})", m.id, m.client_id)),
        }
    }
    if !unreadable.is_empty() {
        tx.rollback().await?;
        return Err(Error::bad_request(
            "credentials_unreadable",
            format!(
                "{} stored credential(s) open with neither the current nor the new key, so \
                 nothing was changed: integration(s) {}. Check that the current key \
                 (PULSE_ENCRYPTION_KEY) is the one the credentials were stored with, or enter \
                 those integrations' credentials again",
                unreadable.len(),
                unreadable.join(", ")
            ),
        ));
    }
    for (m, ciphertext) in updates {
        let mut active: integrations::ActiveModel = m.into();
        active.credentials = Set(Some(ciphertext));
        active.update(&tx).await?;
        done.rewritten += 1;
    }
    tx.commit().await?;
    Ok(done)
}
