//! `login_failures`: failed login attempts, for per-account and per-address limits.
use sea_orm::entity::prelude::*;

/// One failed attempt. `account_key` is a hash of the normalised e-mail (and client, when given),
/// kept whether or not the account exists so that limits reveal nothing about existence.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_failures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_key: String,
    pub ip: String,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
