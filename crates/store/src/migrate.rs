//! Linear, append-only migrations, one directory per backend. Each file holds one schema change
//! and is applied once, in order, inside a transaction; PostgreSQL servers serialise on an
//! advisory lock so several servers can start at once.

use crate::{Backend, Store, StoreError, StoreResult};

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_foundation.sql")),
    (
        2,
        include_str!("../migrations/sqlite/0002_infrastructure.sql"),
    ),
    (3, include_str!("../migrations/sqlite/0003_alert_once.sql")),
    (
        4,
        include_str!("../migrations/sqlite/0004_resource_tags.sql"),
    ),
    (5, include_str!("../migrations/sqlite/0005_ssh_keys.sql")),
    (6, include_str!("../migrations/sqlite/0006_volumes.sql")),
    (
        7,
        include_str!("../migrations/sqlite/0007_affinity_groups.sql"),
    ),
    (8, include_str!("../migrations/sqlite/0008_projects.sql")),
    (
        9,
        include_str!("../migrations/sqlite/0009_disk_offerings.sql"),
    ),
    (
        10,
        include_str!("../migrations/sqlite/0010_server_versions.sql"),
    ),
    (11, include_str!("../migrations/sqlite/0011_tenancy.sql")),
    (
        12,
        include_str!("../migrations/sqlite/0012_role_permissions.sql"),
    ),
    (
        13,
        include_str!("../migrations/sqlite/0013_resource_limits.sql"),
    ),
    (
        14,
        include_str!("../migrations/sqlite/0014_extension_files.sql"),
    ),
];
const POSTGRES: &[(i64, &str)] = &[
    (
        1,
        include_str!("../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        include_str!("../migrations/postgres/0002_infrastructure.sql"),
    ),
    (
        3,
        include_str!("../migrations/postgres/0003_alert_once.sql"),
    ),
    (
        4,
        include_str!("../migrations/postgres/0004_resource_tags.sql"),
    ),
    (5, include_str!("../migrations/postgres/0005_ssh_keys.sql")),
    (6, include_str!("../migrations/postgres/0006_volumes.sql")),
    (
        7,
        include_str!("../migrations/postgres/0007_affinity_groups.sql"),
    ),
    (8, include_str!("../migrations/postgres/0008_projects.sql")),
    (
        9,
        include_str!("../migrations/postgres/0009_disk_offerings.sql"),
    ),
    (
        10,
        include_str!("../migrations/postgres/0010_server_versions.sql"),
    ),
    (11, include_str!("../migrations/postgres/0011_tenancy.sql")),
    (
        12,
        include_str!("../migrations/postgres/0012_role_permissions.sql"),
    ),
    (
        13,
        include_str!("../migrations/postgres/0013_resource_limits.sql"),
    ),
    (
        14,
        include_str!("../migrations/postgres/0014_extension_files.sql"),
    ),
];

/// The migrations of a backend, in order.
pub fn migrations(backend: Backend) -> &'static [(i64, &'static str)] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(";\n").map(str::trim).filter(|s| !s.is_empty())
}

pub async fn run(store: &Store) -> StoreResult<()> {
    let mut conn = store
        .writer
        .acquire()
        .await
        .map_err(|source| StoreError::Connect { source })?;
    if store.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock(774411)")
            .execute(&mut *conn)
            .await
            .map_err(StoreError::query("migration_lock"))?;
    }
    let result = apply(store.backend, &mut conn).await;
    if store.backend == Backend::Postgres {
        let _ = sqlx::query("SELECT pg_advisory_unlock(774411)")
            .execute(&mut *conn)
            .await;
    }
    result
}

async fn apply(backend: Backend, conn: &mut sqlx::AnyConnection) -> StoreResult<()> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("schema_migrations_create"))?;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::query("schema_migrations_list"))?;
    for (version, sql) in migrations(backend) {
        if applied.contains(version) {
            continue;
        }
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(|source| StoreError::Migrate {
                version: *version,
                source,
            })?;
        for stmt in statements(sql) {
            sqlx::query(stmt)
                .execute(&mut *tx)
                .await
                .map_err(|source| StoreError::Migrate {
                    version: *version,
                    source,
                })?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)")
            .bind(*version)
            .bind(trellis_model::time::now_millis())
            .execute(&mut *tx)
            .await
            .map_err(|source| StoreError::Migrate {
                version: *version,
                source,
            })?;
        tx.commit().await.map_err(|source| StoreError::Migrate {
            version: *version,
            source,
        })?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
