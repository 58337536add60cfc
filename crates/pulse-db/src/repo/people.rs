//! People and their accounts: resolving a tool's account to one person.

use std::collections::HashMap;

use pulse_core::Result;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entity::{people, person_accounts};
use crate::TenantTx;

/// Matches accounts to people: **by e-mail first** (the person whose e-mail equals the account's,
/// ignoring case), **then by explicit mapping** (a `person_accounts` row for the provider and
/// login, logins compared ignoring case).
#[derive(Debug, Clone, Default)]
pub struct PersonResolver {
    by_email: HashMap<String, Uuid>,
    by_account: HashMap<(String, String), Uuid>,
}

impl PersonResolver {
    /// Loads the client's people and accounts.
    pub async fn load(tx: &TenantTx) -> Result<Self> {
        let c = tx.client_uuid();
        let emails: Vec<(Uuid, Option<String>)> = people::Entity::find()
            .select_only()
            .column(people::Column::Id)
            .column(people::Column::Email)
            .filter(people::Column::ClientId.eq(c))
            .into_tuple()
            .all(tx.conn())
            .await?;
        let accounts: Vec<(Uuid, String, String)> = person_accounts::Entity::find()
            .select_only()
            .column(person_accounts::Column::PersonId)
            .column(person_accounts::Column::Provider)
            .column(person_accounts::Column::Login)
            .filter(person_accounts::Column::ClientId.eq(c))
            .into_tuple()
            .all(tx.conn())
            .await?;
        Ok(Self {
            by_email: emails
                .into_iter()
                .filter_map(|(id, e)| e.map(|e| (e.to_lowercase(), id)))
                .collect(),
            by_account: accounts
                .into_iter()
                .map(|(id, p, l)| ((p, l.to_lowercase()), id))
                .collect(),
        })
    }

    /// The person behind an account of `provider` (`github`, `jira`).
    pub fn resolve(
        &self,
        provider: &str,
        login: Option<&str>,
        email: Option<&str>,
    ) -> Option<Uuid> {
        email
            .and_then(|e| self.by_email.get(&e.trim().to_lowercase()))
            .or_else(|| {
                login.and_then(|l| {
                    self.by_account
                        .get(&(provider.to_string(), l.trim().to_lowercase()))
                })
            })
            .copied()
    }
}
