//! `deployment_repositories`.
use sea_orm::entity::prelude::*;

/// A repository a deployment deployed, with the commit it deployed there.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployment_repositories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub deployment_id: Uuid,
    pub repository_id: Uuid,
    pub commit_sha: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
