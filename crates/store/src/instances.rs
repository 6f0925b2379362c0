//! Instances (virtual machines). Instance state writes are conditional on the generation number,
//! so concurrent jobs cannot regress state. Their NICs are in `networks`, what they are deployed
//! from in `offerings`.

use sqlx::any::AnyRow;
use trellis_model::entity::{Instance, Nic};
use trellis_model::instance::VmState;

use crate::tags::{tags_condition, BindAll};
use crate::{
    b2i, get_bool, get_enum, get_i64, get_opt_i64, get_opt_str, get_str, like_pattern, Page, Store,
    StoreError, StoreResult,
};

fn instance_row(r: &AnyRow) -> Result<Instance, sqlx::Error> {
    Ok(Instance {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        instance_name: get_str(r, "instance_name")?,
        display_name: get_str(r, "display_name")?,
        account_id: get_i64(r, "account_id")?,
        domain_id: get_i64(r, "domain_id")?,
        user_id: get_i64(r, "user_id")?,
        zone_id: get_i64(r, "zone_id")?,
        host_id: get_opt_i64(r, "host_id")?,
        last_host_id: get_opt_i64(r, "last_host_id")?,
        template_id: get_i64(r, "template_id")?,
        service_offering_id: get_i64(r, "service_offering_id")?,
        state: get_enum(r, "state", VmState::parse)?,
        power_state: get_str(r, "power_state")?,
        power_state_updated: get_opt_i64(r, "power_state_updated")?,
        generation: get_i64(r, "generation")?,
        vnc_password: get_str(r, "vnc_password")?,
        ha_enabled: get_bool(r, "ha_enabled")?,
        user_data: get_opt_str(r, "user_data")?,
        started_once: get_bool(r, "started_once")?,
        created: get_i64(r, "created")?,
        removed: get_opt_i64(r, "removed")?,
    })
}

/// Filters of `listVirtualMachines`.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub state: Option<String>,
    pub zone_id: Option<i64>,
    pub host_id: Option<i64>,
    pub account_id: Option<i64>,
    pub extension_id: Option<i64>,
    pub keyword: Option<String>,
    /// Destroyed and Expunging instances too.
    pub include_destroyed: bool,
    /// Only instances carrying every `(key, value)` tag (an empty value: any value).
    pub tags: Vec<(String, String)>,
    /// Only instances owned by one of these accounts (`projectid=-1`: the caller's projects).
    pub account_ids: Option<Vec<i64>>,
    /// Leave out instances owned by projects (listings without `projectid`).
    pub exclude_projects: bool,
}

impl Store {
    lookups!(
        instance_by_uuid,
        instance_get,
        "vm_instances",
        "id = $1",
        instance_row,
        Instance
    );

    /// Insert an instance with its NICs, its (visible) details and the event recording it, in
    /// one transaction: an allocation is either entirely there or not at all.
    pub async fn instance_create(
        &self,
        i: &Instance,
        nics: &[Nic],
        details: &std::collections::BTreeMap<String, String>,
        event: Option<&trellis_model::entity::Event>,
    ) -> StoreResult<Instance> {
        self.instance_create_grouped(i, nics, details, &[], event)
            .await
    }

    /// [`Store::instance_create`], with the instance made a member of the affinity groups
    /// `affinity_group_ids` in the same transaction.
    pub async fn instance_create_grouped(
        &self,
        i: &Instance,
        nics: &[Nic],
        details: &std::collections::BTreeMap<String, String>,
        affinity_group_ids: &[i64],
        event: Option<&trellis_model::entity::Event>,
    ) -> StoreResult<Instance> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StoreError::query("instance_create"))?;
        let r = sqlx::query("INSERT INTO vm_instances (uuid, name, instance_name, display_name, account_id, domain_id, user_id, zone_id, host_id, last_host_id, template_id, service_offering_id, state, power_state, generation, vnc_password, ha_enabled, user_data, started_once, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $16, $17, 0, $18) RETURNING *")
            .bind(&i.uuid).bind(&i.name).bind(&i.instance_name).bind(&i.display_name).bind(i.account_id).bind(i.domain_id).bind(i.user_id).bind(i.zone_id)
            .bind(i.host_id).bind(i.last_host_id).bind(i.template_id).bind(i.service_offering_id).bind(i.state.as_str()).bind(&i.power_state)
            .bind(&i.vnc_password).bind(b2i(i.ha_enabled)).bind(&i.user_data).bind(i.created)
            .fetch_one(&mut *tx).await.map_err(StoreError::query("instance_create"))?;
        let inst = instance_row(&r).map_err(StoreError::query("instance_create"))?;
        // The internal name embeds the database id, as CloudStack's i-<account>-<id>-VM does.
        let internal = format!("i-{}-{}-VM", inst.account_id, inst.id);
        sqlx::query("UPDATE vm_instances SET instance_name = $2 WHERE id = $1")
            .bind(inst.id)
            .bind(&internal)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("instance_create"))?;
        // Every instance has its ROOT volume record from the start.
        sqlx::query(crate::volumes::INSERT_ROOT)
            .bind(trellis_model::ids::root_volume_uuid(&inst.uuid))
            .bind(inst.id)
            .bind(inst.created)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("instance_create"))?;
        for n in nics {
            sqlx::query("INSERT INTO nics (uuid, instance_id, network_id, device_id, mac, ip, netmask, gateway, is_default, broadcast_uri, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                .bind(&n.uuid).bind(inst.id).bind(n.network_id).bind(n.device_id).bind(&n.mac).bind(&n.ip).bind(&n.netmask).bind(&n.gateway)
                .bind(b2i(n.is_default)).bind(&n.broadcast_uri).bind(n.created)
                .execute(&mut *tx).await.map_err(StoreError::query("instance_create"))?;
        }
        for (k, v) in details {
            sqlx::query("INSERT INTO details (owner_kind, owner_id, name, value, display) VALUES ($1, $2, $3, $4, 1)")
                .bind(trellis_model::entity::DetailOwner::Instance.as_str())
                .bind(inst.id)
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("instance_create"))?;
        }
        for gid in affinity_group_ids {
            sqlx::query(
                "INSERT INTO affinity_group_members (group_id, instance_id) VALUES ($1, $2)",
            )
            .bind(*gid)
            .bind(inst.id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("instance_create"))?;
        }
        if let Some(e) = event {
            crate::events::insert(&mut *tx, e)
                .await
                .map_err(StoreError::query("instance_create"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::query("instance_create"))?;
        Ok(Instance {
            instance_name: internal,
            ..inst
        })
    }

    /// Move an instance to `state` if its generation is still `generation`; bumps the generation.
    /// Returns the updated row, or `None` when another writer got there first.
    pub async fn instance_update_state(
        &self,
        id: i64,
        generation: i64,
        state: VmState,
        host_id: Option<i64>,
    ) -> StoreResult<Option<Instance>> {
        let r = sqlx::query("UPDATE vm_instances SET state = $3, host_id = $4, last_host_id = COALESCE($4, last_host_id), generation = generation + 1 WHERE id = $1 AND generation = $2 RETURNING *")
            .bind(id).bind(generation).bind(state.as_str()).bind(host_id)
            .fetch_optional(&self.writer).await.map_err(StoreError::query("instance_update_state"))?;
        r.map(|r| instance_row(&r))
            .transpose()
            .map_err(StoreError::query("instance_update_state"))
    }

    /// Record an observed power state.
    pub async fn instance_set_power(
        &self,
        id: i64,
        power_state: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE vm_instances SET power_state = $2, power_state_updated = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(power_state)
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(StoreError::query("instance_set_power"))?;
        Ok(())
    }

    pub async fn instance_set_started_once(&self, id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE vm_instances SET started_once = 1 WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("instance_set_started_once"))?;
        Ok(())
    }

    /// Rename an instance (its host name, `updateVirtualMachine name=`).
    pub async fn instance_set_name(&self, id: i64, name: &str) -> StoreResult<()> {
        sqlx::query("UPDATE vm_instances SET name = $2 WHERE id = $1")
            .bind(id)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("instance_set_name"))?;
        Ok(())
    }

    pub async fn instance_set_display_name(&self, id: i64, display_name: &str) -> StoreResult<()> {
        sqlx::query("UPDATE vm_instances SET display_name = $2 WHERE id = $1")
            .bind(id)
            .bind(display_name)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("instance_set_display_name"))?;
        Ok(())
    }

    /// Replace an instance's user data (base64) and its SSH key details in one transaction:
    /// `keys` is `Some((public keys, names))` to set them, `None` to leave them.
    pub async fn instance_set_guest_data(
        &self,
        id: i64,
        user_data: Option<&str>,
        keys: Option<(&str, &str)>,
    ) -> StoreResult<()> {
        let op = "instance_set_guest_data";
        let mut tx = self.writer.begin().await.map_err(StoreError::query(op))?;
        if let Some(u) = user_data {
            sqlx::query("UPDATE vm_instances SET user_data = $2 WHERE id = $1")
                .bind(id)
                .bind(u)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
        }
        if let Some((public_keys, names)) = keys {
            for (name, value) in [("SSH.PublicKey", public_keys), ("SSH.KeyPairNames", names)] {
                sqlx::query("DELETE FROM details WHERE owner_kind = 'instance' AND owner_id = $1 AND name = $2")
                    .bind(id)
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query(op))?;
                sqlx::query("INSERT INTO details (owner_kind, owner_id, name, value, display) VALUES ('instance', $1, $2, $3, 1)")
                    .bind(id)
                    .bind(name)
                    .bind(value)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query(op))?;
            }
        }
        tx.commit().await.map_err(StoreError::query(op))
    }

    pub async fn instance_set_vnc_password(&self, id: i64, password: &str) -> StoreResult<()> {
        sqlx::query("UPDATE vm_instances SET vnc_password = $2 WHERE id = $1")
            .bind(id)
            .bind(password)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("instance_set_vnc_password"))?;
        Ok(())
    }

    /// Mark an instance expunged (removed) and release its NICs.
    /// The instance with this uuid, live or expunged (an expunged row is the tombstone that tells
    /// "gone" from "never existed").
    pub async fn instance_by_uuid_any(&self, uuid: &str) -> StoreResult<Option<Instance>> {
        self.one_row(
            "instance_by_uuid_any",
            "SELECT * FROM vm_instances WHERE uuid = $1",
            uuid,
            instance_row,
        )
        .await
    }

    pub async fn instance_expunge(&self, id: i64, generation: i64, now: i64) -> StoreResult<bool> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StoreError::query("instance_expunge"))?;
        let r = sqlx::query("UPDATE vm_instances SET state = 'Expunged', removed = $3, host_id = NULL, generation = generation + 1 WHERE id = $1 AND generation = $2")
            .bind(id).bind(generation).bind(now)
            .execute(&mut *tx).await.map_err(StoreError::query("instance_expunge"))?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE nics SET removed = $2, mac = mac || '-' || CAST(id AS TEXT) WHERE instance_id = $1 AND removed IS NULL")
            .bind(id).bind(now)
            .execute(&mut *tx).await.map_err(StoreError::query("instance_expunge"))?;
        sqlx::query("UPDATE volumes SET removed = $2 WHERE instance_id = $1 AND removed IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("instance_expunge"))?;
        sqlx::query("DELETE FROM details WHERE owner_kind = 'instance' AND owner_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("instance_expunge"))?;
        sqlx::query("DELETE FROM affinity_group_members WHERE instance_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("instance_expunge"))?;
        tx.commit()
            .await
            .map_err(StoreError::query("instance_expunge"))?;
        Ok(true)
    }

    pub async fn instance_list(
        &self,
        f: &InstanceFilter,
        page: Page,
    ) -> StoreResult<(Vec<Instance>, i64)> {
        let where_ = format!(
            "vm.removed IS NULL AND ($1 = '' OR vm.uuid = $1) AND ($2 = '' OR vm.name = $2) AND ($3 = '' OR lower(vm.state) = lower($3)) AND ($4 < 0 OR vm.zone_id = $4) AND ($5 < 0 OR vm.host_id = $5) AND ($6 < 0 OR vm.account_id = $6) AND ($7 < 0 OR t.extension_id = $7) AND ($8 = '' OR lower(vm.name) LIKE $8 ESCAPE '\\' OR lower(vm.display_name) LIKE $8 ESCAPE '\\'){}",
            if f.include_destroyed { "" } else { " AND vm.state NOT IN ('Destroyed', 'Expunging')" }
        );
        let (tagged, tag_binds) = tags_condition("vm.id", "UserVm", &f.tags, 9);
        let mut where_ = format!("{where_}{tagged}");
        where_.push_str(&crate::owner_conditions(
            "vm.account_id",
            f.account_ids.as_deref(),
            f.exclude_projects,
        ));
        let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
        let from = "vm_instances vm JOIN templates t ON t.id = vm.template_id";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {from} WHERE {where_}"))
            .bind(f.uuid.as_deref().unwrap_or(""))
            .bind(f.name.as_deref().unwrap_or(""))
            .bind(f.state.as_deref().unwrap_or(""))
            .bind(f.zone_id.unwrap_or(-1))
            .bind(f.host_id.unwrap_or(-1))
            .bind(f.account_id.unwrap_or(-1))
            .bind(f.extension_id.unwrap_or(-1))
            .bind(&kw)
            .bind_all(&tag_binds)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("instance_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT vm.* FROM {from} WHERE {where_} ORDER BY vm.id{}",
            page.sql()
        ))
        .bind(f.uuid.as_deref().unwrap_or(""))
        .bind(f.name.as_deref().unwrap_or(""))
        .bind(f.state.as_deref().unwrap_or(""))
        .bind(f.zone_id.unwrap_or(-1))
        .bind(f.host_id.unwrap_or(-1))
        .bind(f.account_id.unwrap_or(-1))
        .bind(f.extension_id.unwrap_or(-1))
        .bind(&kw)
        .bind_all(&tag_binds)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("instance_list"))?;
        Ok((
            rows.iter()
                .map(instance_row)
                .collect::<Result<_, _>>()
                .map_err(StoreError::query("instance_list"))?,
            total,
        ))
    }

    /// Live instances whose host or last host is `host_id`.
    pub async fn instance_list_for_host(&self, host_id: i64) -> StoreResult<Vec<Instance>> {
        let rows = sqlx::query("SELECT * FROM vm_instances WHERE removed IS NULL AND (host_id = $1 OR (host_id IS NULL AND last_host_id = $1)) AND state IN ('Running', 'Stopped', 'Starting', 'Stopping', 'Error') ORDER BY id")
            .bind(host_id).fetch_all(&self.pool).await.map_err(StoreError::query("instance_list_for_host"))?;
        rows.iter()
            .map(instance_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("instance_list_for_host"))
    }

    pub async fn instance_count_for_host(&self, host_id: i64) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM vm_instances WHERE removed IS NULL AND (host_id = $1 OR last_host_id = $1) AND state <> 'Expunged'")
            .bind(host_id).fetch_one(&self.pool).await.map_err(StoreError::query("instance_count_for_host"))
    }
}

impl Store {
    /// Instances not expunged, counted by state (for metrics), ordered by state.
    pub async fn instance_count_by_state(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM vm_instances WHERE removed IS NULL GROUP BY state ORDER BY state",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("instance_count_by_state"))?;
        rows.iter()
            .map(|r| {
                use sqlx::Row as _;
                Ok((r.try_get::<String, _>("state")?, r.try_get::<i64, _>("n")?))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query("instance_count_by_state"))
    }
}

impl Store {
    /// The end of a successful start in one conditional write: Running on `host_id`, powered on,
    /// first start recorded. `None` when another writer changed the instance first.
    pub async fn instance_mark_running(
        &self,
        id: i64,
        generation: i64,
        host_id: i64,
        now: i64,
    ) -> StoreResult<Option<Instance>> {
        let r = sqlx::query("UPDATE vm_instances SET state = 'Running', host_id = $3, last_host_id = $3, power_state = 'PowerOn', power_state_updated = $4, started_once = 1, generation = generation + 1 WHERE id = $1 AND generation = $2 RETURNING *")
            .bind(id)
            .bind(generation)
            .bind(host_id)
            .bind(now)
            .fetch_optional(&self.writer)
            .await
            .map_err(StoreError::query("instance_mark_running"))?;
        r.map(|r| instance_row(&r))
            .transpose()
            .map_err(StoreError::query("instance_mark_running"))
    }
}
