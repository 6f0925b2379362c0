//! Extensions, their resource mappings, custom actions and per-server path checksums.

use sqlx::any::AnyRow;
use std::collections::BTreeMap;
use trellis_model::entity::{CustomAction, Extension, ResourceMap};
use trellis_model::extension::ExtensionState;

use crate::{
    b2i, get_bool, get_enum, get_i64, get_opt_str, get_str, like_pattern, Page, Store, StoreError,
    StoreResult,
};

pub(crate) fn ext_row(r: &AnyRow) -> Result<Extension, sqlx::Error> {
    Ok(Extension {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        description: get_opt_str(r, "description")?,
        ext_type: get_str(r, "ext_type")?,
        relative_path: get_str(r, "relative_path")?,
        path_ready: get_bool(r, "path_ready")?,
        is_user_defined: get_bool(r, "is_user_defined")?,
        state: get_enum(r, "state", ExtensionState::parse)?,
        created: get_i64(r, "created")?,
    })
}

fn map_row(r: &AnyRow) -> Result<ResourceMap, sqlx::Error> {
    Ok(ResourceMap {
        id: get_i64(r, "id")?,
        extension_id: get_i64(r, "extension_id")?,
        resource_id: get_i64(r, "resource_id")?,
        resource_type: get_str(r, "resource_type")?,
        created: get_i64(r, "created")?,
    })
}

fn action_row(r: &AnyRow) -> Result<CustomAction, sqlx::Error> {
    Ok(CustomAction {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        description: get_opt_str(r, "description")?,
        extension_id: get_i64(r, "extension_id")?,
        resource_type: get_opt_str(r, "resource_type")?,
        allowed_role_types: u32::try_from(get_i64(r, "allowed_role_types")?).unwrap_or(1),
        success_message: get_opt_str(r, "success_message")?,
        error_message: get_opt_str(r, "error_message")?,
        enabled: get_bool(r, "enabled")?,
        timeout: get_i64(r, "timeout")?,
        created: get_i64(r, "created")?,
    })
}

/// Filters of `listExtensions`.
#[derive(Debug, Clone, Default)]
pub struct ExtensionFilter {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub keyword: Option<String>,
}

/// Filters of `listCustomActions`.
#[derive(Debug, Clone, Default)]
pub struct CustomActionFilter {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub extension_id: Option<i64>,
    /// Matches actions of this type or with no type.
    pub resource_type: Option<String>,
    pub enabled: Option<bool>,
    /// Only actions whose role mask intersects this mask.
    pub role_mask: Option<u32>,
    pub keyword: Option<String>,
}

/// A custom action to insert.
#[derive(Debug, Clone)]
pub struct NewCustomAction {
    pub uuid: String,
    pub name: String,
    pub description: Option<String>,
    pub extension_id: i64,
    pub resource_type: Option<String>,
    pub allowed_role_types: u32,
    pub success_message: Option<String>,
    pub error_message: Option<String>,
    pub enabled: bool,
    pub timeout: i64,
}

/// An extension to insert.
#[derive(Debug, Clone)]
pub struct NewExtension {
    pub uuid: String,
    pub name: String,
    pub description: Option<String>,
    pub ext_type: String,
    pub relative_path: String,
    pub is_user_defined: bool,
    pub state: ExtensionState,
    pub path_ready: bool,
}

impl Store {
    /// Insert an extension with its visible details and hidden details in one transaction.
    pub async fn extension_create(
        &self,
        e: &NewExtension,
        details: &BTreeMap<String, String>,
        hidden: &BTreeMap<String, String>,
        now: i64,
    ) -> StoreResult<Extension> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let mut tx = self
                .writer
                .begin()
                .await
                .map_err(StoreError::query("extension_create"))?;
            let r = sqlx::query("INSERT INTO extensions (uuid, name, description, ext_type, relative_path, path_ready, is_user_defined, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *")
                .bind(&e.uuid)
                .bind(&e.name)
                .bind(&e.description)
                .bind(&e.ext_type)
                .bind(&e.relative_path)
                .bind(b2i(e.path_ready))
                .bind(b2i(e.is_user_defined))
                .bind(e.state.as_str())
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::query("extension_create"))?;
            let ext = ext_row(&r).map_err(StoreError::query("extension_create"))?;
            for (map, display) in [(details, 1i64), (hidden, 0i64)] {
                for (k, v) in map {
                    sqlx::query("INSERT INTO details (owner_kind, owner_id, name, value, display) VALUES ('extension', $1, $2, $3, $4)")
                        .bind(ext.id)
                        .bind(k)
                        .bind(v)
                        .bind(display)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query("extension_create"))?;
                }
            }
            tx.commit()
                .await
                .map_err(StoreError::query("extension_create"))?;
            Ok(ext)
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn extension_get(&self, id: i64) -> StoreResult<Option<Extension>> {
        self.cached("extension_get", id.to_string(), || {
            self.one_row(
                "extension_get",
                "SELECT * FROM extensions WHERE id = $1 AND removed IS NULL",
                id,
                ext_row,
            )
        })
        .await
    }

    pub async fn extension_by_uuid(&self, uuid: &str) -> StoreResult<Option<Extension>> {
        self.cached("extension_by_uuid", uuid.to_string(), || {
            self.one_row(
                "extension_by_uuid",
                "SELECT * FROM extensions WHERE uuid = $1 AND removed IS NULL",
                uuid,
                ext_row,
            )
        })
        .await
    }

    /// A live extension by name, compared case-insensitively.
    pub async fn extension_by_name(&self, name: &str) -> StoreResult<Option<Extension>> {
        let r = sqlx::query(
            "SELECT * FROM extensions WHERE lower(name) = lower($1) AND removed IS NULL",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("extension_by_name"))?;
        r.map(|r| ext_row(&r))
            .transpose()
            .map_err(StoreError::query("extension_by_name"))
    }

    /// Extensions, newest first, with the total count of matches.
    pub async fn extension_list(
        &self,
        f: &ExtensionFilter,
        page: Page,
    ) -> StoreResult<(Vec<Extension>, i64)> {
        let where_ = "removed IS NULL AND ($1 = '' OR uuid = $1) AND ($2 = '' OR name = $2) AND ($3 = '' OR lower(name) LIKE $3 ESCAPE '\\')";
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM extensions WHERE {where_}"))
                .bind(f.uuid.as_deref().unwrap_or(""))
                .bind(f.name.as_deref().unwrap_or(""))
                .bind(&kw)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("extension_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM extensions WHERE {where_} ORDER BY id DESC{}",
            page.sql()
        ))
        .bind(f.uuid.as_deref().unwrap_or(""))
        .bind(f.name.as_deref().unwrap_or(""))
        .bind(&kw)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("extension_list"))?;
        let items = rows
            .iter()
            .map(ext_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("extension_list"))?;
        Ok((items, total))
    }

    /// All live extensions.
    pub async fn extension_all(&self) -> StoreResult<Vec<Extension>> {
        Ok(self
            .extension_list(&ExtensionFilter::default(), Page::all())
            .await?
            .0)
    }

    pub async fn extension_set_description(&self, id: i64, description: &str) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query("UPDATE extensions SET description = $2 WHERE id = $1")
                .bind(id)
                .bind(description)
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("extension_set_description"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn extension_set_state(&self, id: i64, state: ExtensionState) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query("UPDATE extensions SET state = $2 WHERE id = $1")
                .bind(id)
                .bind(state.as_str())
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("extension_set_state"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn extension_set_path(&self, id: i64, relative_path: &str) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query("UPDATE extensions SET relative_path = $2 WHERE id = $1")
                .bind(id)
                .bind(relative_path)
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("extension_set_path"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Set the path-ready flag; returns true when it changed.
    pub async fn extension_set_path_ready(&self, id: i64, ready: bool) -> StoreResult<bool> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query(
                "UPDATE extensions SET path_ready = $2 WHERE id = $1 AND path_ready <> $2",
            )
            .bind(id)
            .bind(b2i(ready))
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("extension_set_path_ready"))?;
            Ok(r.rows_affected() == 1)
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Remove details, checksums and soft-delete the row.
    /// Soft-delete an extension with its details, checksums and stored files; with `cleanup`,
    /// every server is asked to remove its files ([`Store::extension_cleanups_pending`]).
    pub async fn extension_delete(&self, id: i64, now: i64, cleanup: bool) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let mut tx = self
                .writer
                .begin()
                .await
                .map_err(StoreError::query("extension_delete"))?;
            sqlx::query("DELETE FROM details WHERE owner_kind = 'extension' AND owner_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("extension_delete"))?;
            sqlx::query("DELETE FROM extension_checksums WHERE extension_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("extension_delete"))?;
            sqlx::query("UPDATE extensions SET removed = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("extension_delete"))?;
            for sql in [
                "DELETE FROM extension_files WHERE extension_id = $1",
                "DELETE FROM extension_file_copies WHERE extension_id = $1",
            ] {
                sqlx::query(sql)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("extension_delete"))?;
            }
            sqlx::query(
                "DELETE FROM file_blobs WHERE sha256 NOT IN (SELECT sha256 FROM extension_files)",
            )
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("extension_delete"))?;
            if cleanup {
                sqlx::query("INSERT INTO extension_cleanups (extension_id, requested) VALUES ($1, $2) ON CONFLICT (extension_id) DO NOTHING")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("extension_delete"))?;
            }
            tx.commit()
                .await
                .map_err(StoreError::query("extension_delete"))
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Map a resource to an extension with its details.
    pub async fn resource_map_create(
        &self,
        extension_id: i64,
        resource_id: i64,
        resource_type: &str,
        details: &BTreeMap<String, String>,
        now: i64,
    ) -> StoreResult<ResourceMap> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let mut tx = self
                .writer
                .begin()
                .await
                .map_err(StoreError::query("resource_map_create"))?;
            let r = sqlx::query("INSERT INTO extension_resource_maps (extension_id, resource_id, resource_type, created) VALUES ($1, $2, $3, $4) RETURNING *")
                .bind(extension_id)
                .bind(resource_id)
                .bind(resource_type)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::query("resource_map_create"))?;
            let m = map_row(&r).map_err(StoreError::query("resource_map_create"))?;
            for (k, v) in details {
                sqlx::query("INSERT INTO details (owner_kind, owner_id, name, value, display) VALUES ('resourcemap', $1, $2, $3, 1)")
                    .bind(m.id)
                    .bind(k)
                    .bind(v)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("resource_map_create"))?;
            }
            tx.commit()
                .await
                .map_err(StoreError::query("resource_map_create"))?;
            Ok(m)
        }
        .await;
        self.catalog_changed();
        out
    }

    /// The live mapping of a resource, if any.
    pub async fn resource_map_for(
        &self,
        resource_id: i64,
        resource_type: &str,
    ) -> StoreResult<Option<ResourceMap>> {
        self.cached("resource_map_for", format!("{}/{}", resource_id, resource_type), || async {
            let r = sqlx::query("SELECT * FROM extension_resource_maps WHERE resource_id = $1 AND resource_type = $2 AND removed IS NULL")
                .bind(resource_id)
                .bind(resource_type)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::query("resource_map_for"))?;
            r.map(|r| map_row(&r))
                .transpose()
                .map_err(StoreError::query("resource_map_for"))
        })
        .await
    }

    /// The live mappings of an extension.
    pub async fn resource_map_list(&self, extension_id: i64) -> StoreResult<Vec<ResourceMap>> {
        let rows = sqlx::query("SELECT * FROM extension_resource_maps WHERE extension_id = $1 AND removed IS NULL ORDER BY id")
            .bind(extension_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("resource_map_list"))?;
        rows.iter()
            .map(map_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("resource_map_list"))
    }

    /// Soft-delete a mapping and hard-delete its details.
    pub async fn resource_map_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let mut tx = self
                .writer
                .begin()
                .await
                .map_err(StoreError::query("resource_map_delete"))?;
            sqlx::query("DELETE FROM details WHERE owner_kind = 'resourcemap' AND owner_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("resource_map_delete"))?;
            sqlx::query("UPDATE extension_resource_maps SET removed = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("resource_map_delete"))?;
            tx.commit()
                .await
                .map_err(StoreError::query("resource_map_delete"))
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Insert a custom action with its visible details and the hidden `parameters` detail.
    pub async fn custom_action_create(
        &self,
        a: &NewCustomAction,
        details: &BTreeMap<String, String>,
        parameters_json: &str,
        now: i64,
    ) -> StoreResult<CustomAction> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StoreError::query("custom_action_create"))?;
        let r = sqlx::query("INSERT INTO custom_actions (uuid, name, description, extension_id, resource_type, allowed_role_types, success_message, error_message, enabled, timeout, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *")
            .bind(&a.uuid)
            .bind(&a.name)
            .bind(&a.description)
            .bind(a.extension_id)
            .bind(&a.resource_type)
            .bind(i64::from(a.allowed_role_types))
            .bind(&a.success_message)
            .bind(&a.error_message)
            .bind(b2i(a.enabled))
            .bind(a.timeout)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query("custom_action_create"))?;
        let action = action_row(&r).map_err(StoreError::query("custom_action_create"))?;
        for (k, v) in details {
            sqlx::query("INSERT INTO details (owner_kind, owner_id, name, value, display) VALUES ('customaction', $1, $2, $3, 1)")
                .bind(action.id)
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("custom_action_create"))?;
        }
        sqlx::query("INSERT INTO details (owner_kind, owner_id, name, value, display) VALUES ('customaction', $1, 'parameters', $2, 0)")
            .bind(action.id)
            .bind(parameters_json)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("custom_action_create"))?;
        tx.commit()
            .await
            .map_err(StoreError::query("custom_action_create"))?;
        Ok(action)
    }

    pub async fn custom_action_by_uuid(&self, uuid: &str) -> StoreResult<Option<CustomAction>> {
        let r = sqlx::query("SELECT * FROM custom_actions WHERE uuid = $1 AND removed IS NULL")
            .bind(uuid)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("custom_action_by_uuid"))?;
        r.map(|r| action_row(&r))
            .transpose()
            .map_err(StoreError::query("custom_action_by_uuid"))
    }

    pub async fn custom_action_by_name(
        &self,
        extension_id: i64,
        name: &str,
    ) -> StoreResult<Option<CustomAction>> {
        let r = sqlx::query("SELECT * FROM custom_actions WHERE extension_id = $1 AND lower(name) = lower($2) AND removed IS NULL")
            .bind(extension_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("custom_action_by_name"))?;
        r.map(|r| action_row(&r))
            .transpose()
            .map_err(StoreError::query("custom_action_by_name"))
    }

    pub async fn custom_action_list(
        &self,
        f: &CustomActionFilter,
        page: Page,
    ) -> StoreResult<(Vec<CustomAction>, i64)> {
        let where_ = "removed IS NULL AND ($1 = '' OR uuid = $1) AND ($2 = '' OR name = $2) AND ($3 < 0 OR extension_id = $3) AND ($4 = '' OR resource_type = $4 OR resource_type IS NULL) AND ($5 < 0 OR enabled = $5) AND ($6 < 0 OR (allowed_role_types & $6) <> 0) AND ($7 = '' OR lower(name) LIKE $7 ESCAPE '\\')";
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        let enabled = f.enabled.map(b2i).unwrap_or(-1);
        let mask = f.role_mask.map(i64::from).unwrap_or(-1);
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM custom_actions WHERE {where_}"
        ))
        .bind(f.uuid.as_deref().unwrap_or(""))
        .bind(f.name.as_deref().unwrap_or(""))
        .bind(f.extension_id.unwrap_or(-1))
        .bind(f.resource_type.as_deref().unwrap_or(""))
        .bind(enabled)
        .bind(mask)
        .bind(&kw)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("custom_action_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM custom_actions WHERE {where_} ORDER BY id DESC{}",
            page.sql()
        ))
        .bind(f.uuid.as_deref().unwrap_or(""))
        .bind(f.name.as_deref().unwrap_or(""))
        .bind(f.extension_id.unwrap_or(-1))
        .bind(f.resource_type.as_deref().unwrap_or(""))
        .bind(enabled)
        .bind(mask)
        .bind(&kw)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("custom_action_list"))?;
        let items = rows
            .iter()
            .map(action_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("custom_action_list"))?;
        Ok((items, total))
    }

    /// Number of live custom actions of an extension.
    pub async fn custom_action_count(&self, extension_id: i64) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM custom_actions WHERE extension_id = $1 AND removed IS NULL",
        )
        .bind(extension_id)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("custom_action_count"))
    }

    /// Overwrite the mutable columns of a custom action.
    pub async fn custom_action_update(&self, a: &CustomAction) -> StoreResult<()> {
        sqlx::query("UPDATE custom_actions SET description = $2, resource_type = $3, allowed_role_types = $4, success_message = $5, error_message = $6, enabled = $7, timeout = $8 WHERE id = $1")
            .bind(a.id)
            .bind(&a.description)
            .bind(&a.resource_type)
            .bind(i64::from(a.allowed_role_types))
            .bind(&a.success_message)
            .bind(&a.error_message)
            .bind(b2i(a.enabled))
            .bind(a.timeout)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("custom_action_update"))?;
        Ok(())
    }

    pub async fn custom_action_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StoreError::query("custom_action_delete"))?;
        sqlx::query("DELETE FROM details WHERE owner_kind = 'customaction' AND owner_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("custom_action_delete"))?;
        sqlx::query("UPDATE custom_actions SET removed = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("custom_action_delete"))?;
        tx.commit()
            .await
            .map_err(StoreError::query("custom_action_delete"))
    }

    /// Record this server's checksum of an extension's executable (`None` = not ready here).
    pub async fn checksum_record(
        &self,
        extension_id: i64,
        server_id: &str,
        checksum: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO extension_checksums (extension_id, server_id, checksum, checked) VALUES ($1, $2, $3, $4) ON CONFLICT (extension_id, server_id) DO UPDATE SET checksum = excluded.checksum, checked = excluded.checked")
            .bind(extension_id)
            .bind(server_id)
            .bind(checksum)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("checksum_record"))?;
        Ok(())
    }

    /// Live extensions `server_id` has recorded no checksum for yet.
    pub async fn extensions_unchecked_by(&self, server_id: &str) -> StoreResult<Vec<Extension>> {
        let rows = sqlx::query("SELECT * FROM extensions e WHERE e.removed IS NULL AND NOT EXISTS (SELECT 1 FROM extension_checksums c WHERE c.extension_id = e.id AND c.server_id = $1) ORDER BY e.id")
            .bind(server_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("extensions_unchecked_by"))?;
        rows.iter()
            .map(ext_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("extensions_unchecked_by"))
    }

    /// Checksums of an extension per server: `(server_id, checksum, checked)`.
    pub async fn checksum_list(
        &self,
        extension_id: i64,
    ) -> StoreResult<Vec<(String, Option<String>, i64)>> {
        let rows = sqlx::query("SELECT server_id, checksum, checked FROM extension_checksums WHERE extension_id = $1 ORDER BY server_id")
            .bind(extension_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("checksum_list"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    get_str(r, "server_id")?,
                    get_opt_str(r, "checksum")?,
                    get_i64(r, "checked")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query("checksum_list"))
    }
}
