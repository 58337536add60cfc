//! The only door to tenant-owned tables.

use pulse_core::ClientId;
use sea_orm::{DatabaseTransaction, DbErr, TransactionTrait};

/// A transaction bound to one client. Repository functions take it and add the client filter
/// themselves, so a handler cannot forget it; on PostgreSQL, row-level security enforces the same
/// filter a second time. The client comes from the verified session, never from the request.
pub struct TenantTx {
    tx: DatabaseTransaction,
    client: ClientId,
}

impl TenantTx {
    pub(crate) fn new(tx: DatabaseTransaction, client: ClientId) -> Self {
        Self { tx, client }
    }

    /// The client this transaction is scoped to.
    pub fn client(&self) -> ClientId {
        self.client
    }

    /// The client id as stored.
    pub fn client_uuid(&self) -> uuid::Uuid {
        self.client.uuid()
    }

    /// The underlying transaction, for repository code. Every query on it must filter by
    /// [`TenantTx::client`].
    pub fn conn(&self) -> &DatabaseTransaction {
        &self.tx
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }

    /// Rolls back (dropping the transaction does the same).
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.tx.rollback().await
    }

    /// Opens a savepoint-backed nested transaction (for batches that may be rejected as a whole).
    pub async fn nested(&self) -> Result<DatabaseTransaction, DbErr> {
        self.tx.begin().await
    }
}
