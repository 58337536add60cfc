//! Failed-login bookkeeping for brute-force limits. Not tenant data: it is keyed by a hash of what
//! was typed, before any account is known.

use chrono::{DateTime, Utc};
use pulse_core::Result;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use super::now;
use crate::entity::login_failures::{self, Column, Entity};

/// Records a failure.
pub async fn record(db: &impl ConnectionTrait, account_key: &str, ip: &str) -> Result<()> {
    login_failures::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        account_key: Set(account_key.to_string()),
        ip: Set(ip.to_string()),
        at: Set(now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Failures for an account since `since`, and the oldest of them (for `Retry-After`).
pub async fn for_account(
    db: &impl ConnectionTrait,
    account_key: &str,
    since: DateTime<Utc>,
) -> Result<(u64, Option<DateTime<Utc>>)> {
    window(db, Column::AccountKey, account_key, since).await
}

/// Failures from an address since `since`, and the oldest of them.
pub async fn for_address(
    db: &impl ConnectionTrait,
    ip: &str,
    since: DateTime<Utc>,
) -> Result<(u64, Option<DateTime<Utc>>)> {
    window(db, Column::Ip, ip, since).await
}

async fn window(
    db: &impl ConnectionTrait,
    column: Column,
    value: &str,
    since: DateTime<Utc>,
) -> Result<(u64, Option<DateTime<Utc>>)> {
    let query = Entity::find()
        .filter(column.eq(value))
        .filter(Column::At.gte(since));
    let count = query.clone().count(db).await?;
    let oldest = if count > 0 {
        query.order_by_asc(Column::At).one(db).await?.map(|m| m.at)
    } else {
        None
    };
    Ok((count, oldest))
}

/// Deletes failures older than `before` (housekeeping).
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64> {
    Ok(Entity::delete_many()
        .filter(Column::At.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
