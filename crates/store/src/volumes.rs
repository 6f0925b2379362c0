//! Volumes: the ROOT volume record of every instance (made with the instance, removed with it)
//! and `listVolumes`, whose owner, zone, host and state conditions are the instance's.

use sqlx::any::AnyRow;
use trellis_model::entity::Volume;
use trellis_model::ids::root_volume_uuid;

use crate::tags::{tags_condition, BindAll};
use crate::{get_i64, get_opt_i64, get_str, like_pattern, Page, Store, StoreError, StoreResult};

pub(crate) fn volume_row(r: &AnyRow) -> Result<Volume, sqlx::Error> {
    Ok(Volume {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        instance_id: get_i64(r, "instance_id")?,
        volume_type: get_str(r, "volume_type")?,
        device_id: get_i64(r, "device_id")?,
        created: get_i64(r, "created")?,
        removed: get_opt_i64(r, "removed")?,
    })
}

/// The statement that records an instance's ROOT volume (run in the instance's own transaction).
pub(crate) const INSERT_ROOT: &str = "INSERT INTO volumes (uuid, instance_id, volume_type, device_id, created) VALUES ($1, $2, 'ROOT', 0, $3)";

/// Filters of `listVolumes`; every instance condition is the volume's instance's.
#[derive(Debug, Clone, Default)]
pub struct VolumeFilter {
    pub uuid: Option<String>,
    pub instance_uuid: Option<String>,
    pub instance_id: Option<i64>,
    pub volume_type: Option<String>,
    pub zone_id: Option<i64>,
    pub host_id: Option<i64>,
    pub account_id: Option<i64>,
    /// Volumes of Destroyed and Expunging instances too.
    pub include_destroyed: bool,
    /// `Some(true)`: only volumes of Destroyed/Expunging instances (state `Destroy`);
    /// `Some(false)`: only the others (state `Ready`).
    pub destroyed: Option<bool>,
    /// Matches the instance's name or display name.
    pub keyword: Option<String>,
    pub tags: Vec<(String, String)>,
}

impl Store {
    lookups!(
        volume_by_uuid,
        volume_get,
        "volumes",
        "id = $1",
        volume_row,
        Volume
    );

    /// Record a ROOT volume for every live instance that has none (instances made before
    /// volumes were recorded); returns how many were added.
    pub async fn volume_backfill_roots(&self) -> StoreResult<u64> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as("SELECT vm.id, vm.uuid, vm.created FROM vm_instances vm WHERE vm.removed IS NULL AND NOT EXISTS (SELECT 1 FROM volumes v WHERE v.instance_id = vm.id AND v.device_id = 0)")
            .fetch_all(&self.writer)
            .await
            .map_err(StoreError::query("volume_backfill_roots"))?;
        let mut added = 0;
        for (id, uuid, created) in rows {
            sqlx::query(INSERT_ROOT)
                .bind(root_volume_uuid(&uuid))
                .bind(id)
                .bind(created)
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("volume_backfill_roots"))?;
            added += 1;
        }
        Ok(added)
    }

    /// The live volumes of one instance, by device id.
    pub async fn volumes_of(&self, instance_id: i64) -> StoreResult<Vec<Volume>> {
        let rows = sqlx::query(
            "SELECT * FROM volumes WHERE instance_id = $1 AND removed IS NULL ORDER BY device_id",
        )
        .bind(instance_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("volumes_of"))?;
        rows.iter()
            .map(volume_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("volumes_of"))
    }

    /// `listVolumes`: a page of matching volumes and the total.
    pub async fn volume_list(
        &self,
        f: &VolumeFilter,
        page: Page,
    ) -> StoreResult<(Vec<Volume>, i64)> {
        let mut where_ = String::from("v.removed IS NULL AND vm.removed IS NULL AND ($1 = '' OR v.uuid = $1) AND ($2 = '' OR vm.uuid = $2) AND ($3 < 0 OR vm.id = $3) AND ($4 = '' OR lower(v.volume_type) = lower($4)) AND ($5 < 0 OR vm.zone_id = $5) AND ($6 < 0 OR vm.host_id = $6) AND ($7 < 0 OR vm.account_id = $7) AND ($8 = '' OR lower(vm.name) LIKE $8 ESCAPE '\\' OR lower(vm.display_name) LIKE $8 ESCAPE '\\')");
        let gone = "vm.state IN ('Destroyed', 'Expunging')";
        match f.destroyed {
            Some(true) if f.include_destroyed => where_.push_str(&format!(" AND {gone}")),
            Some(true) => where_.push_str(" AND 1 = 0"),
            _ if !f.include_destroyed => where_.push_str(&format!(" AND NOT {gone}")),
            Some(false) => where_.push_str(&format!(" AND NOT {gone}")),
            None => {}
        }
        let (tagged, tag_binds) = tags_condition("v.id", "Volume", &f.tags, 9);
        where_.push_str(&tagged);
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        let from = "volumes v JOIN vm_instances vm ON vm.id = v.instance_id";
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {from} WHERE {where_}"))
            .bind(s(&f.uuid))
            .bind(s(&f.instance_uuid))
            .bind(f.instance_id.unwrap_or(-1))
            .bind(s(&f.volume_type))
            .bind(f.zone_id.unwrap_or(-1))
            .bind(f.host_id.unwrap_or(-1))
            .bind(f.account_id.unwrap_or(-1))
            .bind(&kw)
            .bind_all(&tag_binds)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("volume_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT v.* FROM {from} WHERE {where_} ORDER BY v.id{}",
            page.sql()
        ))
        .bind(s(&f.uuid))
        .bind(s(&f.instance_uuid))
        .bind(f.instance_id.unwrap_or(-1))
        .bind(s(&f.volume_type))
        .bind(f.zone_id.unwrap_or(-1))
        .bind(f.host_id.unwrap_or(-1))
        .bind(f.account_id.unwrap_or(-1))
        .bind(&kw)
        .bind_all(&tag_binds)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("volume_list"))?;
        Ok((
            rows.iter()
                .map(volume_row)
                .collect::<Result<_, _>>()
                .map_err(StoreError::query("volume_list"))?,
            total,
        ))
    }
}
