//! Extension files kept in the database: contents stored once per SHA-256, each extension's
//! files by path, what every server wrote of them, and the clean-ups of deleted extensions that
//! every server carries out.

use sqlx::any::AnyRow;
use trellis_model::entity::Extension;

use crate::{get_i64, get_str, Store, StoreError, StoreResult};

/// A file to store for an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExtensionFile {
    /// Relative to the extensions directory, `/`-separated, never `..`.
    pub path: String,
    /// Lowercase hex SHA-256 of `content`.
    pub sha256: String,
    /// Unix permission bits (0o755 for executables).
    pub mode: u32,
    pub content: Vec<u8>,
}

/// A stored file of an extension (its content is read with [`Store::file_blob_get`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionFile {
    pub path: String,
    pub sha256: String,
    pub mode: u32,
    pub size: i64,
    pub updated: i64,
}

fn file_row(r: &AnyRow) -> Result<ExtensionFile, sqlx::Error> {
    Ok(ExtensionFile {
        path: get_str(r, "path")?,
        sha256: get_str(r, "sha256")?,
        mode: u32::try_from(get_i64(r, "mode")?).unwrap_or(0o644),
        size: get_i64(r, "size")?,
        updated: get_i64(r, "updated")?,
    })
}

impl Store {
    /// Replace the stored files of an extension with `files` (all or nothing). Contents already
    /// stored under the same digest are not written again; contents no extension uses any more
    /// are removed.
    pub async fn extension_files_set(
        &self,
        extension_id: i64,
        files: &[NewExtensionFile],
        now: i64,
    ) -> StoreResult<()> {
        let err = StoreError::query("extension_files_set");
        let mut tx = self.writer.begin().await.map_err(err)?;
        for f in files {
            sqlx::query("INSERT INTO file_blobs (sha256, content, size, created) VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING")
                .bind(&f.sha256)
                .bind(f.content.clone())
                .bind(i64::try_from(f.content.len()).unwrap_or(i64::MAX))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("extension_files_set"))?;
        }
        sqlx::query("DELETE FROM extension_files WHERE extension_id = $1")
            .bind(extension_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("extension_files_set"))?;
        for f in files {
            sqlx::query("INSERT INTO extension_files (extension_id, path, sha256, mode, updated) VALUES ($1, $2, $3, $4, $5)")
                .bind(extension_id)
                .bind(&f.path)
                .bind(&f.sha256)
                .bind(i64::from(f.mode))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("extension_files_set"))?;
        }
        sqlx::query(
            "DELETE FROM file_blobs WHERE sha256 NOT IN (SELECT sha256 FROM extension_files)",
        )
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("extension_files_set"))?;
        tx.commit()
            .await
            .map_err(StoreError::query("extension_files_set"))
    }

    /// The stored files of an extension, by path.
    pub async fn extension_files(&self, extension_id: i64) -> StoreResult<Vec<ExtensionFile>> {
        let rows = sqlx::query("SELECT f.path, f.sha256, f.mode, f.updated, b.size FROM extension_files f JOIN file_blobs b ON b.sha256 = f.sha256 WHERE f.extension_id = $1 ORDER BY f.path")
            .bind(extension_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("extension_files"))?;
        rows.iter()
            .map(file_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("extension_files"))
    }

    /// The content stored under a digest.
    pub async fn file_blob_get(&self, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT content FROM file_blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("file_blob_get"))?;
        row.map(|r| sqlx::Row::try_get::<Vec<u8>, _>(&r, "content"))
            .transpose()
            .map_err(StoreError::query("file_blob_get"))
    }

    /// What `server_id` wrote of an extension's stored files: `(path, sha256)`.
    pub async fn extension_file_copies(
        &self,
        server_id: &str,
        extension_id: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT path, sha256 FROM extension_file_copies WHERE server_id = $1 AND extension_id = $2 ORDER BY path")
            .bind(server_id)
            .bind(extension_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("extension_file_copies"))?;
        rows.iter()
            .map(|r| Ok((get_str(r, "path")?, get_str(r, "sha256")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query("extension_file_copies"))
    }

    /// Record that `server_id` wrote (`Some(sha256)`) or removed (`None`) its copy of a file.
    pub async fn extension_file_copy_record(
        &self,
        server_id: &str,
        extension_id: i64,
        path: &str,
        sha256: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let q = match sha256 {
            Some(sha) => sqlx::query("INSERT INTO extension_file_copies (server_id, extension_id, path, sha256, written) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (server_id, extension_id, path) DO UPDATE SET sha256 = excluded.sha256, written = excluded.written")
                .bind(server_id)
                .bind(extension_id)
                .bind(path)
                .bind(sha)
                .bind(now),
            None => sqlx::query("DELETE FROM extension_file_copies WHERE server_id = $1 AND extension_id = $2 AND path = $3")
                .bind(server_id)
                .bind(extension_id)
                .bind(path),
        };
        q.execute(&self.writer)
            .await
            .map_err(StoreError::query("extension_file_copy_record"))?;
        Ok(())
    }

    /// Forget what the given servers (every server with `None`) wrote of an extension's files,
    /// so that each writes the stored files again, over what it has (a repair). Returns the
    /// number of records forgotten.
    pub async fn extension_file_copies_forget(
        &self,
        extension_id: i64,
        server_ids: Option<&[String]>,
    ) -> StoreResult<u64> {
        let mut total = 0;
        match server_ids {
            None => {
                total += sqlx::query("DELETE FROM extension_file_copies WHERE extension_id = $1")
                    .bind(extension_id)
                    .execute(&self.writer)
                    .await
                    .map_err(StoreError::query("extension_file_copies_forget"))?
                    .rows_affected();
            }
            Some(ids) => {
                for id in ids {
                    total += sqlx::query("DELETE FROM extension_file_copies WHERE extension_id = $1 AND server_id = $2")
                        .bind(extension_id)
                        .bind(id)
                        .execute(&self.writer)
                        .await
                        .map_err(StoreError::query("extension_file_copies_forget"))?
                        .rows_affected();
                }
            }
        }
        Ok(total)
    }

    /// Live extensions with a stored file `server_id` has not written in its stored version (new
    /// extensions, new versions, servers that just joined).
    pub async fn extensions_with_files_to_write(
        &self,
        server_id: &str,
    ) -> StoreResult<Vec<Extension>> {
        let rows = sqlx::query("SELECT e.* FROM extensions e WHERE e.removed IS NULL AND EXISTS (SELECT 1 FROM extension_files f WHERE f.extension_id = e.id AND NOT EXISTS (SELECT 1 FROM extension_file_copies c WHERE c.server_id = $1 AND c.extension_id = f.extension_id AND c.path = f.path AND c.sha256 = f.sha256)) ORDER BY e.id")
            .bind(server_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("extensions_with_files_to_write"))?;
        rows.iter()
            .map(crate::extensions::ext_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("extensions_with_files_to_write"))
    }

    /// Deleted extensions whose files `server_id` has still to remove (oldest first).
    pub async fn extension_cleanups_pending(&self, server_id: &str) -> StoreResult<Vec<Extension>> {
        let rows = sqlx::query("SELECT e.* FROM extension_cleanups c JOIN extensions e ON e.id = c.extension_id WHERE NOT EXISTS (SELECT 1 FROM extension_cleanups_done d WHERE d.extension_id = c.extension_id AND d.server_id = $1) ORDER BY c.requested, c.extension_id")
            .bind(server_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("extension_cleanups_pending"))?;
        rows.iter()
            .map(crate::extensions::ext_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("extension_cleanups_pending"))
    }

    /// Record that `server_id` removed the files of a deleted extension.
    pub async fn extension_cleanup_done(
        &self,
        extension_id: i64,
        server_id: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO extension_cleanups_done (extension_id, server_id, done) VALUES ($1, $2, $3) ON CONFLICT (extension_id, server_id) DO NOTHING")
            .bind(extension_id)
            .bind(server_id)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("extension_cleanup_done"))?;
        Ok(())
    }
}
