//! Dynamic roles: changes to roles, and their ordered permission rules. Creation and lookups of
//! roles themselves are in `identity.rs`.

use sqlx::any::AnyRow;
use trellis_model::entity::{Role, RolePermission};
use trellis_model::role::Permission;
use trellis_model::RoleType;

use crate::identity::role_row;
use crate::{get_enum, get_i64, get_str, Store, StoreError, StoreResult};

fn permission_row(r: &AnyRow) -> Result<RolePermission, sqlx::Error> {
    Ok(RolePermission {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        role_id: get_i64(r, "role_id")?,
        rule: get_str(r, "rule")?,
        permission: get_enum(r, "permission", Permission::parse)?,
        description: get_str(r, "description")?,
        sort_order: get_i64(r, "sort_order")?,
    })
}

/// What `updateRole` changes; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct RoleChanges {
    pub name: Option<String>,
    pub role_type: Option<RoleType>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
}

impl Store {
    /// A live role by its uuid.
    pub async fn role_by_uuid(&self, uuid: &str) -> StoreResult<Option<Role>> {
        let r = sqlx::query("SELECT * FROM roles WHERE uuid = $1 AND removed IS NULL")
            .bind(uuid)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("role_by_uuid"))?;
        r.map(|r| role_row(&r)).transpose()
    }

    /// Apply `c` to a live role.
    pub async fn role_update(&self, id: i64, c: &RoleChanges) -> StoreResult<Option<Role>> {
        let r = sqlx::query(
            "UPDATE roles SET name = COALESCE($2, name), role_type = COALESCE($3, role_type), \
             description = COALESCE($4, description), is_public = COALESCE($5, is_public) \
             WHERE id = $1 AND removed IS NULL RETURNING *",
        )
        .bind(id)
        .bind(c.name.as_deref())
        .bind(c.role_type.map(RoleType::as_str))
        .bind(c.description.as_deref())
        .bind(c.is_public.map(crate::b2i))
        .fetch_optional(&self.writer)
        .await
        .map_err(StoreError::query("role_update"))?;
        r.map(|r| role_row(&r)).transpose()
    }

    /// Remove a role and its rules (the row is kept as removed).
    pub async fn role_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StoreError::query("role_delete"))?;
        sqlx::query("DELETE FROM role_permissions WHERE role_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("role_delete"))?;
        sqlx::query("UPDATE roles SET removed = $2 WHERE id = $1 AND removed IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("role_delete"))?;
        let out = tx.commit().await.map_err(StoreError::query("role_delete"));
        self.catalog_changed();
        out
    }

    /// How many live accounts have this role.
    pub async fn role_account_count(&self, id: i64) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE role_id = $1 AND removed IS NULL")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("role_account_count"))
    }

    /// The rules of a role, in evaluation order. Read on every request of an account with a
    /// custom role, so cached where this server is the sole writer.
    pub async fn role_permissions(&self, role_id: i64) -> StoreResult<Vec<RolePermission>> {
        let found = self
            .cached("role_permissions", role_id.to_string(), || async move {
                let rows = sqlx::query(
                    "SELECT * FROM role_permissions WHERE role_id = $1 ORDER BY sort_order, id",
                )
                .bind(role_id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query("role_permissions"))?;
                rows.iter()
                    .map(permission_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
                    .map_err(StoreError::query("role_permissions"))
            })
            .await?;
        Ok(found.unwrap_or_default())
    }

    /// One rule by its uuid.
    pub async fn role_permission_by_uuid(&self, uuid: &str) -> StoreResult<Option<RolePermission>> {
        let r = sqlx::query("SELECT * FROM role_permissions WHERE uuid = $1")
            .bind(uuid)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("role_permission_by_uuid"))?;
        r.map(|r| permission_row(&r))
            .transpose()
            .map_err(StoreError::query("role_permission_by_uuid"))
    }

    /// Append rules at the end of a role's order, in one transaction.
    pub async fn role_permissions_append(
        &self,
        role_id: i64,
        rules: &[(String, String, Permission, String)],
    ) -> StoreResult<Vec<RolePermission>> {
        let out = async {
            let mut tx = self
                .writer
                .begin()
                .await
                .map_err(StoreError::query("role_permissions_append"))?;
            let mut made = Vec::with_capacity(rules.len());
            for (uuid, rule, permission, description) in rules {
                let r = sqlx::query(
                    "INSERT INTO role_permissions (uuid, role_id, rule, permission, description, sort_order) \
                     SELECT $1, $2, $3, $4, $5, COALESCE(MAX(sort_order), 0) + 1 FROM role_permissions WHERE role_id = $2 \
                     RETURNING *",
                )
                .bind(uuid)
                .bind(role_id)
                .bind(rule)
                .bind(permission.as_str())
                .bind(description)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::query("role_permissions_append"))?;
                made.push(permission_row(&r).map_err(StoreError::query("role_permissions_append"))?);
            }
            tx.commit()
                .await
                .map_err(StoreError::query("role_permissions_append"))?;
            Ok(made)
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Change what one rule does.
    pub async fn role_permission_set(&self, id: i64, permission: Permission) -> StoreResult<()> {
        let out = sqlx::query("UPDATE role_permissions SET permission = $2 WHERE id = $1")
            .bind(id)
            .bind(permission.as_str())
            .execute(&self.writer)
            .await
            .map(|_| ())
            .map_err(StoreError::query("role_permission_set"));
        self.catalog_changed();
        out
    }

    /// Give a role's rules a new order: `ids` lists every rule of the role once.
    pub async fn role_permissions_reorder(&self, role_id: i64, ids: &[i64]) -> StoreResult<()> {
        let out = async {
            let mut tx = self
                .writer
                .begin()
                .await
                .map_err(StoreError::query("role_permissions_reorder"))?;
            for (i, id) in ids.iter().enumerate() {
                sqlx::query(
                    "UPDATE role_permissions SET sort_order = $3 WHERE id = $1 AND role_id = $2",
                )
                .bind(*id)
                .bind(role_id)
                .bind(i64::try_from(i).unwrap_or(i64::MAX) + 1)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("role_permissions_reorder"))?;
            }
            tx.commit()
                .await
                .map_err(StoreError::query("role_permissions_reorder"))
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Remove one rule.
    pub async fn role_permission_delete(&self, id: i64) -> StoreResult<()> {
        let out = sqlx::query("DELETE FROM role_permissions WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map(|_| ())
            .map_err(StoreError::query("role_permission_delete"));
        self.catalog_changed();
        out
    }

    /// Remove every rule of a role (`importRole forced=true` replaces them).
    pub async fn role_permissions_clear(&self, role_id: i64) -> StoreResult<()> {
        let out = sqlx::query("DELETE FROM role_permissions WHERE role_id = $1")
            .bind(role_id)
            .execute(&self.writer)
            .await
            .map(|_| ())
            .map_err(StoreError::query("role_permissions_clear"));
        self.catalog_changed();
        out
    }
}
