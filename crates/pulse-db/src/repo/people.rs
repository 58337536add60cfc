//! People and their accounts: resolving a tool's account to one person.

use std::collections::HashMap;

use pulse_core::Result;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entity::{people, person_accounts};
use crate::TenantTx;

/// Matches accounts to people, in this order:
/// 1. an **explicit mapping** made by an administrator (`person_accounts.explicit`), so a
///    correction survives re-imports whose e-mails say otherwise;
/// 2. **by e-mail** (the person whose e-mail equals the account's, ignoring case);
/// 3. an **account listed by an import** for the provider and login.
///
/// Logins compare ignoring case. A person merged into another resolves to the one it was merged
/// into.
#[derive(Debug, Clone, Default)]
pub struct PersonResolver {
    explicit: HashMap<(String, String), Uuid>,
    by_email: HashMap<String, Uuid>,
    by_account: HashMap<(String, String), Uuid>,
}

/// `person -> the person it was merged into` for every merged person of the client, followed to
/// the end (merges are flattened when made, but a chain is followed anyway, cycle-safe).
pub async fn merged_map(tx: &TenantTx) -> Result<HashMap<Uuid, Uuid>> {
    let rows: Vec<(Uuid, Option<Uuid>)> = people::Entity::find()
        .select_only()
        .column(people::Column::Id)
        .column(people::Column::MergedIntoId)
        .filter(people::Column::ClientId.eq(tx.client_uuid()))
        .filter(people::Column::MergedIntoId.is_not_null())
        .into_tuple()
        .all(tx.conn())
        .await?;
    let direct: HashMap<Uuid, Uuid> = rows
        .into_iter()
        .filter_map(|(id, into)| into.map(|t| (id, t)))
        .collect();
    Ok(direct
        .keys()
        .map(|id| (*id, follow(&direct, *id)))
        .collect())
}

/// Follows merge links from `id` to the person that stands for it.
pub fn follow(merged: &HashMap<Uuid, Uuid>, id: Uuid) -> Uuid {
    let mut current = id;
    for _ in 0..=merged.len() {
        match merged.get(&current) {
            Some(next) if *next != current => current = *next,
            _ => break,
        }
    }
    current
}

impl PersonResolver {
    /// Loads the client's people and accounts.
    pub async fn load(tx: &TenantTx) -> Result<Self> {
        let c = tx.client_uuid();
        let merged = merged_map(tx).await?;
        let emails: Vec<(Uuid, Option<String>)> = people::Entity::find()
            .select_only()
            .column(people::Column::Id)
            .column(people::Column::Email)
            .filter(people::Column::ClientId.eq(c))
            .into_tuple()
            .all(tx.conn())
            .await?;
        let accounts: Vec<(Uuid, String, String, bool)> = person_accounts::Entity::find()
            .select_only()
            .column(person_accounts::Column::PersonId)
            .column(person_accounts::Column::Provider)
            .column(person_accounts::Column::Login)
            .column(person_accounts::Column::Explicit)
            .filter(person_accounts::Column::ClientId.eq(c))
            .into_tuple()
            .all(tx.conn())
            .await?;
        let mut out = Self::default();
        // An unmerged person's e-mail wins over a merged one's with the same address.
        let mut emails: Vec<(Uuid, String, bool)> = emails
            .into_iter()
            .filter_map(|(id, e)| e.map(|e| (id, e.to_lowercase(), merged.contains_key(&id))))
            .collect();
        emails.sort_by_key(|(id, _, is_merged)| (!*is_merged, *id));
        for (id, email, _) in emails {
            out.by_email.insert(email, follow(&merged, id));
        }
        for (id, provider, login, explicit) in accounts {
            let key = (provider, login.to_lowercase());
            let id = follow(&merged, id);
            if explicit {
                out.explicit.insert(key, id);
            } else {
                out.by_account.insert(key, id);
            }
        }
        Ok(out)
    }

    /// The person behind an account of `provider` (`github`, `jira`).
    pub fn resolve(
        &self,
        provider: &str,
        login: Option<&str>,
        email: Option<&str>,
    ) -> Option<Uuid> {
        let key = login.map(|l| (provider.to_string(), l.trim().to_lowercase()));
        key.as_ref()
            .and_then(|k| self.explicit.get(k))
            .or_else(|| email.and_then(|e| self.by_email.get(&e.trim().to_lowercase())))
            .or_else(|| key.as_ref().and_then(|k| self.by_account.get(k)))
            .copied()
    }
}

/// Replaces the accounts an import lists for these people: deletes their imported accounts
/// (`explicit = false`) and adds `rows`; an account already mapped (explicitly, or to another
/// person) stays where it is. Returns the rows added.
pub async fn replace_imported_accounts(
    tx: &TenantTx,
    people_ids: &[Uuid],
    rows: Vec<person_accounts::Model>,
) -> Result<u64> {
    for chunk in people_ids.chunks(super::ingested::CHUNK * 4) {
        person_accounts::Entity::delete_many()
            .filter(person_accounts::Column::ClientId.eq(tx.client_uuid()))
            .filter(person_accounts::Column::PersonId.is_in(chunk.iter().copied()))
            .filter(person_accounts::Column::Explicit.eq(false))
            .exec(tx.conn())
            .await?;
    }
    let rows = rows
        .into_iter()
        .map(|r| person_accounts::Model {
            explicit: false,
            ..r
        })
        .collect();
    super::links::add::<person_accounts::Entity>(tx, rows, &["provider", "login"]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_ends_at_the_person_standing_for_all() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let merged = HashMap::from([(a, b), (b, c)]);
        assert_eq!(follow(&merged, a), c);
        assert_eq!(follow(&merged, c), c);
        let cyclic = HashMap::from([(a, b), (b, a)]);
        let end = follow(&cyclic, a);
        assert!(end == a || end == b);
    }

    #[test]
    fn explicit_mapping_wins_over_email() {
        let (x, y, z) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut r = PersonResolver::default();
        r.by_email.insert("ada@acme.example".into(), x);
        r.by_account.insert(("github".into(), "ada".into()), z);
        assert_eq!(
            r.resolve("github", Some("Ada"), Some("ADA@acme.example")),
            Some(x)
        );
        assert_eq!(r.resolve("github", Some("ada"), None), Some(z));
        r.explicit.insert(("github".into(), "ada".into()), y);
        assert_eq!(
            r.resolve("github", Some("ADA"), Some("ada@acme.example")),
            Some(y)
        );
        assert_eq!(
            r.resolve("jira", Some("ada"), Some("ada@acme.example")),
            Some(x)
        );
        assert_eq!(r.resolve("github", None, None), None);
    }
}
