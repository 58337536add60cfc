//! Column builders shared by migrations, so every table spells ids and times the same way.

use sea_orm_migration::prelude::*;

pub fn id(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .uuid()
        .not_null()
        .primary_key()
        .to_owned()
}

pub fn uuid(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .uuid()
        .not_null()
        .to_owned()
}

pub fn uuid_null(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).uuid().null().to_owned()
}

pub fn text(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .text()
        .not_null()
        .to_owned()
}

pub fn text_null(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).text().null().to_owned()
}

pub fn boolean(name: &str, default: bool) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .boolean()
        .not_null()
        .default(default)
        .to_owned()
}

/// A UTC timestamp (`timestamptz` on PostgreSQL).
pub fn ts(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

pub fn ts_null(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

pub fn json_null(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .json_binary()
        .null()
        .to_owned()
}

pub fn blob_null(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).blob().null().to_owned()
}

/// A foreign key from `table.column` to `clients.id`, deleting with the client.
pub fn fk_client(table: &str) -> ForeignKeyCreateStatement {
    fk(table, "client_id", "clients")
}

pub fn fk(table: &str, column: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(Alias::new(table), Alias::new(column))
        .to(Alias::new(to), Alias::new("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

pub fn index(table: &str, name: &str, columns: &[&str], unique: bool) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("ix_{table}_{name}"))
        .table(Alias::new(table));
    for c in columns {
        idx.col(Alias::new(*c));
    }
    if unique {
        idx.unique();
    }
    idx.to_owned()
}

pub fn drop(table: &str) -> TableDropStatement {
    Table::drop()
        .table(Alias::new(table))
        .if_exists()
        .to_owned()
}

pub fn int(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

pub fn int_null(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .big_integer()
        .null()
        .to_owned()
}

pub fn double_null(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).double().null().to_owned()
}

/// Starts a tenant table: `id` (uuid v7) and `client_id` (deleted with the client), plus a unique
/// `(client_id, id)` key so other tenant tables can point at it with [`tenant_fk`], which keeps a
/// reference inside one tenant.
pub fn tenant_table(table: &str) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(table))
        .col(id("id"))
        .col(uuid("client_id"))
        .foreign_key(&mut fk_client(table))
        .index(
            Index::create()
                .name(format!("ux_{table}_tenant_id"))
                .col(Alias::new("client_id"))
                .col(Alias::new("id"))
                .unique(),
        )
        .to_owned()
}

/// Adds the ingestion key columns: `source` (the system the row came from), `external_id` (its id
/// there) and `synced_at` (when it was last written). Pair with [`ingested_key`].
pub fn ingested(t: &mut TableCreateStatement) -> &mut TableCreateStatement {
    t.col(text("source"))
        .col(text("external_id"))
        .col(ts("synced_at"))
}

/// The unique `(client_id, source, external_id)` index of an ingested table.
pub fn ingested_key(table: &str) -> IndexCreateStatement {
    index(
        table,
        "source_external",
        &["client_id", "source", "external_id"],
        true,
    )
}

/// A foreign key `(client_id, column)` to `to(client_id, id)`: the referenced row must belong to the
/// same tenant. `cascade` deletes the row with its parent; otherwise the parent cannot be deleted
/// while referenced (deleting the client still removes both).
pub fn tenant_fk(table: &str, column: &str, to: &str, cascade: bool) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(
            Alias::new(table),
            (Alias::new("client_id"), Alias::new(column)),
        )
        .to(Alias::new(to), (Alias::new("client_id"), Alias::new("id")))
        .on_delete(if cascade {
            ForeignKeyAction::Cascade
        } else {
            ForeignKeyAction::NoAction
        })
        .to_owned()
}

/// Creates a tenant table, its indexes, and puts it behind row-level security.
pub async fn create_tenant(
    m: &SchemaManager<'_>,
    table: &str,
    stmt: &TableCreateStatement,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    m.create_table(stmt.to_owned()).await?;
    for i in indexes {
        m.create_index(i).await?;
    }
    crate::dialect::enable_tenant_rls(m, table, "client_id").await
}

/// Drops tenant tables created with [`create_tenant`], in the order given (children first).
pub async fn drop_tenant(m: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    for table in tables {
        crate::dialect::disable_tenant_rls(m, table).await?;
        m.drop_table(drop(table)).await?;
    }
    Ok(())
}

/// Marks every client with rollup data for a full recomputation of its cells, done by the next
/// refresh (for migrations that change what cells hold).
pub async fn recompute_rollups(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.get_connection()
        .execute_unprepared(
            "INSERT INTO rollup_dirty (client_id, kind, day) \
             SELECT s.client_id, 'all', 0 FROM rollup_state s \
             WHERE NOT EXISTS (SELECT 1 FROM rollup_dirty d \
             WHERE d.client_id = s.client_id AND d.kind = 'all' AND d.day = 0)",
        )
        .await?;
    Ok(())
}
