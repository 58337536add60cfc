//! Per-client settings: display name, colour schema, logo.

use pulse_core::Result;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::{clients, now};
use crate::entity::client_settings::{self, Column, Entity, Model};
use crate::TenantTx;

/// The client's settings, created with defaults on first read.
pub async fn get(tx: &TenantTx) -> Result<Model> {
    if let Some(found) = Entity::find()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .one(tx.conn())
        .await?
    {
        return Ok(found);
    }
    let client = clients::current(tx).await?;
    Ok(Model {
        client_id: tx.client_uuid(),
        display_name: client.name,
        custom_colors: None,
        color_schema: "default".into(),
        logo: None,
        logo_mime: None,
        updated_at: client.created_at,
    })
}

async fn upsert(tx: &TenantTx, model: Model) -> Result<Model> {
    let exists = Entity::find()
        .filter(Column::ClientId.eq(tx.client_uuid()))
        .one(tx.conn())
        .await?
        .is_some();
    let mut active: client_settings::ActiveModel = model.into();
    active.client_id = Set(tx.client_uuid());
    active.updated_at = Set(now());
    let saved = if exists {
        active = active.reset_all();
        active.update(tx.conn()).await?
    } else {
        active = active.reset_all();
        active.insert(tx.conn()).await?
    };
    Ok(saved)
}

/// Updates name and colours (fields left `None` stay as they are).
pub async fn update(
    tx: &TenantTx,
    display_name: Option<String>,
    color_schema: Option<String>,
    custom_colors: Option<Option<serde_json::Value>>,
) -> Result<Model> {
    let mut current = get(tx).await?;
    if let Some(name) = display_name {
        current.display_name = name.trim().to_string();
    }
    if let Some(schema) = color_schema {
        current.color_schema = schema;
    }
    if let Some(colors) = custom_colors {
        current.custom_colors = colors;
    }
    upsert(tx, current).await
}

/// Stores (or, with `None`, removes) the logo.
pub async fn set_logo(tx: &TenantTx, logo: Option<(Vec<u8>, String)>) -> Result<Model> {
    let mut current = get(tx).await?;
    match logo {
        Some((bytes, mime)) => {
            current.logo = Some(bytes);
            current.logo_mime = Some(mime);
        }
        None => {
            current.logo = None;
            current.logo_mime = None;
        }
    }
    upsert(tx, current).await
}
