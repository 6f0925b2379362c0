//! Disk offerings: create, look up, list (live ones), delete (soft).

use sqlx::any::AnyRow;
use trellis_model::entity::DiskOffering;

use crate::StoreResult;
use crate::{get_bool, get_i64, get_opt_i64, get_str, like_pattern, Page, Store, StoreError};

fn row(r: &AnyRow) -> Result<DiskOffering, sqlx::Error> {
    Ok(DiskOffering {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        display_text: get_str(r, "display_text")?,
        disk_size: get_i64(r, "disk_size")?,
        customized: get_bool(r, "customized")?,
        storage_type: get_str(r, "storage_type")?,
        provisioning_type: get_str(r, "provisioning_type")?,
        zone_id: get_opt_i64(r, "zone_id")?,
        created: get_i64(r, "created")?,
        removed: get_opt_i64(r, "removed")?,
    })
}

/// Filters of `listDiskOfferings`; every one given must match. Removed offerings never list.
#[derive(Debug, Clone, Default)]
pub struct DiskOfferingFilter {
    pub uuid: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Offerings available in this zone (its own and those of every zone).
    pub zone_id: Option<i64>,
    /// Substring of the name or display text, case-insensitive.
    pub keyword: Option<String>,
}

const LIST_WHERE: &str = "removed IS NULL AND ($1 = '' OR uuid = $1) AND ($2 = '' OR name = $2) AND ($3 < 0 OR zone_id IS NULL OR zone_id = $3) AND ($4 = '' OR lower(name) LIKE $4 ESCAPE '\\' OR lower(display_text) LIKE $4 ESCAPE '\\')";

impl Store {
    pub async fn disk_offering_create(&self, o: &DiskOffering) -> StoreResult<DiskOffering> {
        let op = "disk_offering_create";
        let r = sqlx::query("INSERT INTO disk_offerings (uuid, name, display_text, disk_size, customized, storage_type, provisioning_type, zone_id, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *")
            .bind(&o.uuid)
            .bind(&o.name)
            .bind(&o.display_text)
            .bind(o.disk_size)
            .bind(i64::from(o.customized))
            .bind(&o.storage_type)
            .bind(&o.provisioning_type)
            .bind(o.zone_id)
            .bind(o.created)
            .fetch_one(&self.writer)
            .await
            .map_err(StoreError::query(op))?;
        row(&r).map_err(StoreError::query(op))
    }

    /// A live disk offering by uuid.
    pub async fn disk_offering_by_uuid(&self, uuid: &str) -> StoreResult<Option<DiskOffering>> {
        self.one_row(
            "disk_offering_by_uuid",
            "SELECT * FROM disk_offerings WHERE uuid = $1 AND removed IS NULL",
            uuid,
            row,
        )
        .await
    }

    /// Live disk offerings matching `f`, oldest first, with the total before paging.
    pub async fn disk_offering_list(
        &self,
        f: &DiskOfferingFilter,
        page: Page,
    ) -> StoreResult<(Vec<DiskOffering>, i64)> {
        let op = "disk_offering_list";
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        macro_rules! bound {
            ($sql:expr) => {
                sqlx::query($sql)
                    .bind(f.uuid.as_deref().unwrap_or(""))
                    .bind(f.name.as_deref().unwrap_or(""))
                    .bind(f.zone_id.unwrap_or(-1))
                    .bind(&kw)
            };
        }
        let total = bound!(&format!(
            "SELECT COUNT(*) AS n FROM disk_offerings WHERE {LIST_WHERE}"
        ))
        .fetch_one(&self.pool)
        .await
        .and_then(|r| get_i64(&r, "n"))
        .map_err(StoreError::query(op))?;
        let sql = format!(
            "SELECT * FROM disk_offerings WHERE {LIST_WHERE} ORDER BY id{}",
            page.sql()
        );
        let rows = bound!(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        let items = rows
            .iter()
            .map(row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))?;
        Ok((items, total))
    }

    /// Remove a disk offering (instances that named it keep their record).
    pub async fn disk_offering_delete(&self, id: i64, now: i64) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE disk_offerings SET removed = $2 WHERE id = $1 AND removed IS NULL")
                .bind(id)
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("disk_offering_delete"))?;
        Ok(done.rows_affected() > 0)
    }
}
