//! Management servers: registration and heartbeats, so every server knows its live peers.

use sqlx::any::AnyRow;
use trellis_model::entity::ServerNode;

use crate::{get_i64, get_opt_str, get_str, Store, StoreError, StoreResult};

fn row(r: &AnyRow) -> Result<ServerNode, sqlx::Error> {
    Ok(ServerNode {
        id: get_str(r, "id")?,
        name: get_str(r, "name")?,
        started: get_i64(r, "started")?,
        heartbeat: get_i64(r, "heartbeat")?,
        version: get_opt_str(r, "version")?,
    })
}

impl Store {
    pub async fn server_register(
        &self,
        id: &str,
        name: &str,
        version: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO servers (id, name, started, heartbeat, version) VALUES ($1, $2, $3, $3, $4) ON CONFLICT (id) DO UPDATE SET name = excluded.name, started = excluded.started, heartbeat = excluded.heartbeat, version = excluded.version")
            .bind(id)
            .bind(name)
            .bind(now)
            .bind(version)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("server_register"))?;
        Ok(())
    }

    pub async fn server_heartbeat(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE servers SET heartbeat = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("server_heartbeat"))?;
        Ok(())
    }

    /// Servers whose heartbeat is newer than `since`, oldest start first.
    pub async fn server_list_live(&self, since: i64) -> StoreResult<Vec<ServerNode>> {
        let rows = sqlx::query("SELECT * FROM servers WHERE heartbeat >= $1 ORDER BY started, id")
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("server_list_live"))?;
        rows.iter()
            .map(row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("server_list_live"))
    }

    /// For every server and live extension it has checked: `(server_id, extension name,
    /// ready here)` (ready: a checksum was recorded, i.e. the executable is usable there).
    pub async fn server_extension_readiness(&self) -> StoreResult<Vec<(String, String, bool)>> {
        let rows = sqlx::query("SELECT c.server_id, e.name, c.checksum FROM extension_checksums c JOIN extensions e ON e.id = c.extension_id WHERE e.removed IS NULL ORDER BY c.server_id, e.name")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("server_extension_readiness"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    get_str(r, "server_id")?,
                    get_str(r, "name")?,
                    get_opt_str(r, "checksum")?.is_some(),
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query("server_extension_readiness"))
    }

    pub async fn server_remove(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM servers WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("server_remove"))?;
        Ok(())
    }
}
