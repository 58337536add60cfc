//! `client_settings`: per-client branding (the original platform's `system_settings`).
use sea_orm::entity::prelude::*;

/// A client's settings.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: Uuid,
    pub display_name: String,
    /// JSON object of colour tokens; `null` means the defaults.
    pub custom_colors: Option<Json>,
    /// `default` or `custom`.
    pub color_schema: String,
    pub logo: Option<Vec<u8>>,
    pub logo_mime: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
