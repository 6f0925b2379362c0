//! Service offerings, templates, network offerings, networks, instances and NICs. Instance state
//! writes are conditional on the generation number, so concurrent jobs cannot regress state.

use sqlx::any::AnyRow;
use trellis_model::entity::{Instance, Network, NetworkOffering, Nic, ServiceOffering, Template};
use trellis_model::instance::VmState;

use crate::tags::{tags_condition, BindAll};
use crate::{
    b2i, get_bool, get_enum, get_i64, get_opt_i64, get_opt_str, get_str, like_pattern, Page, Store,
    StoreError, StoreResult,
};

fn offering_row(r: &AnyRow) -> Result<ServiceOffering, sqlx::Error> {
    Ok(ServiceOffering {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        display_text: get_str(r, "display_text")?,
        cpu_number: get_i64(r, "cpu_number")?,
        cpu_speed: get_i64(r, "cpu_speed")?,
        memory: get_i64(r, "memory")?,
        host_tags: get_opt_str(r, "host_tags")?,
        state: get_str(r, "state")?,
        created: get_i64(r, "created")?,
    })
}

fn template_row(r: &AnyRow) -> Result<Template, sqlx::Error> {
    Ok(Template {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        display_text: get_str(r, "display_text")?,
        format: get_str(r, "format")?,
        hypervisor: get_str(r, "hypervisor")?,
        os_type: get_str(r, "os_type")?,
        extension_id: get_opt_i64(r, "extension_id")?,
        arch: get_str(r, "arch")?,
        is_public: get_bool(r, "is_public")?,
        is_featured: get_bool(r, "is_featured")?,
        account_id: get_i64(r, "account_id")?,
        zone_id: get_opt_i64(r, "zone_id")?,
        url: get_str(r, "url")?,
        size: get_i64(r, "size")?,
        state: get_str(r, "state")?,
        created: get_i64(r, "created")?,
    })
}

fn netoff_row(r: &AnyRow) -> Result<NetworkOffering, sqlx::Error> {
    Ok(NetworkOffering {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        display_text: get_str(r, "display_text")?,
        guest_ip_type: get_str(r, "guest_ip_type")?,
        specify_vlan: get_bool(r, "specify_vlan")?,
        state: get_str(r, "state")?,
        is_default: get_bool(r, "is_default")?,
        created: get_i64(r, "created")?,
    })
}

fn network_row(r: &AnyRow) -> Result<Network, sqlx::Error> {
    Ok(Network {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        display_text: get_str(r, "display_text")?,
        zone_id: get_i64(r, "zone_id")?,
        network_offering_id: get_i64(r, "network_offering_id")?,
        guest_type: get_str(r, "guest_type")?,
        broadcast_uri: get_opt_str(r, "broadcast_uri")?,
        gateway: get_opt_str(r, "gateway")?,
        netmask: get_opt_str(r, "netmask")?,
        start_ip: get_opt_str(r, "start_ip")?,
        end_ip: get_opt_str(r, "end_ip")?,
        dns1: get_opt_str(r, "dns1")?,
        dns2: get_opt_str(r, "dns2")?,
        account_id: get_i64(r, "account_id")?,
        domain_id: get_i64(r, "domain_id")?,
        state: get_str(r, "state")?,
        created: get_i64(r, "created")?,
    })
}

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

fn nic_row(r: &AnyRow) -> Result<Nic, sqlx::Error> {
    Ok(Nic {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        instance_id: get_i64(r, "instance_id")?,
        network_id: get_i64(r, "network_id")?,
        device_id: get_i64(r, "device_id")?,
        mac: get_str(r, "mac")?,
        ip: get_opt_str(r, "ip")?,
        netmask: get_opt_str(r, "netmask")?,
        gateway: get_opt_str(r, "gateway")?,
        is_default: get_bool(r, "is_default")?,
        broadcast_uri: get_opt_str(r, "broadcast_uri")?,
        created: get_i64(r, "created")?,
    })
}

/// Filters of `template_list` (each `None` matches everything).
#[derive(Debug, Clone, Copy, Default)]
pub struct TemplateFilter<'a> {
    pub uuid: Option<&'a str>,
    pub name: Option<&'a str>,
    pub extension_id: Option<i64>,
    pub keyword: Option<&'a str>,
    /// Templates of this zone, or of every zone (`zone_id` unset).
    pub zone_id: Option<i64>,
    /// Only templates carrying every `(key, value)` tag (an empty value: any value).
    pub tags: &'a [(String, String)],
}

/// Which templates a viewer may see (CloudStack's `templatefilter`, resolved for the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateVisibility {
    /// Every template.
    All,
    /// Templates owned by this account.
    OwnedBy(i64),
    /// Featured templates this account may use (`-1`: every featured template).
    FeaturedFor(i64),
    /// Public templates and this account's own.
    UsableBy(i64),
    /// Public, not featured, not owned by this account.
    CommunityFor(i64),
    /// None (a filter that selects nothing for this viewer).
    Nothing,
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
}

impl Store {
    lookups!(cached offering_by_uuid, offering_get, "service_offerings", "id = $1", offering_row, ServiceOffering);
    lookups!(cached template_by_uuid, template_get, "templates", "id = $1", template_row, Template);
    lookups!(cached network_offering_by_uuid, network_offering_get, "network_offerings", "id = $1", netoff_row, NetworkOffering);
    lookups!(cached network_by_uuid, network_get, "networks", "id = $1", network_row, Network);
    lookups!(
        instance_by_uuid,
        instance_get,
        "vm_instances",
        "id = $1",
        instance_row,
        Instance
    );

    pub async fn offering_create(&self, o: &ServiceOffering) -> StoreResult<ServiceOffering> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO service_offerings (uuid, name, display_text, cpu_number, cpu_speed, memory, host_tags, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *")
                .bind(&o.uuid).bind(&o.name).bind(&o.display_text).bind(o.cpu_number).bind(o.cpu_speed).bind(o.memory).bind(&o.host_tags).bind(&o.state).bind(o.created)
                .fetch_one(&self.writer).await.map_err(StoreError::query("offering_create"))?;
            offering_row(&r).map_err(StoreError::query("offering_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn offering_update(&self, o: &ServiceOffering) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query("UPDATE service_offerings SET name = $2, display_text = $3, host_tags = $4 WHERE id = $1")
                .bind(o.id).bind(&o.name).bind(&o.display_text).bind(&o.host_tags)
                .execute(&self.writer).await.map_err(StoreError::query("offering_update"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn offering_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query(
                "UPDATE service_offerings SET removed = $2, state = 'Inactive' WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("offering_delete"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn offering_list(
        &self,
        uuid: Option<&str>,
        name: Option<&str>,
        keyword: Option<&str>,
        page: Page,
    ) -> StoreResult<(Vec<ServiceOffering>, i64)> {
        let where_ = "removed IS NULL AND ($1 = '' OR uuid = $1) AND ($2 = '' OR name = $2) AND ($3 = '' OR lower(name) LIKE $3 ESCAPE '\\')";
        let kw = keyword.map(like_pattern).unwrap_or_default();
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM service_offerings WHERE {where_}"
        ))
        .bind(uuid.unwrap_or(""))
        .bind(name.unwrap_or(""))
        .bind(&kw)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("offering_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM service_offerings WHERE {where_} ORDER BY id{}",
            page.sql()
        ))
        .bind(uuid.unwrap_or(""))
        .bind(name.unwrap_or(""))
        .bind(&kw)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("offering_list"))?;
        Ok((
            rows.iter()
                .map(offering_row)
                .collect::<Result<_, _>>()
                .map_err(StoreError::query("offering_list"))?,
            total,
        ))
    }

    pub async fn template_create(&self, t: &Template) -> StoreResult<Template> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO templates (uuid, name, display_text, format, hypervisor, os_type, extension_id, arch, is_public, is_featured, account_id, zone_id, url, size, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING *")
                .bind(&t.uuid).bind(&t.name).bind(&t.display_text).bind(&t.format).bind(&t.hypervisor).bind(&t.os_type).bind(t.extension_id).bind(&t.arch)
                .bind(b2i(t.is_public)).bind(b2i(t.is_featured)).bind(t.account_id).bind(t.zone_id).bind(&t.url).bind(t.size).bind(&t.state).bind(t.created)
                .fetch_one(&self.writer).await.map_err(StoreError::query("template_create"))?;
            template_row(&r).map_err(StoreError::query("template_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn template_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query("UPDATE templates SET removed = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("template_delete"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Write a template's editable attributes (name, display text, format, OS type, arch,
    /// featured).
    pub async fn template_update(&self, t: &Template) -> StoreResult<Template> {
        let out = async {
            let r = sqlx::query("UPDATE templates SET name = $2, display_text = $3, format = $4, os_type = $5, arch = $6, is_featured = $7 WHERE id = $1 AND removed IS NULL RETURNING *")
                .bind(t.id).bind(&t.name).bind(&t.display_text).bind(&t.format).bind(&t.os_type).bind(&t.arch).bind(b2i(t.is_featured))
                .fetch_one(&self.writer).await.map_err(StoreError::query("template_update"))?;
            template_row(&r).map_err(StoreError::query("template_update"))
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Templates matching the filter that `visibility` lets the viewer see, a page of them and
    /// the total (visibility is applied before paging, so the total is what the viewer sees).
    pub async fn template_list(
        &self,
        f: &TemplateFilter<'_>,
        visibility: TemplateVisibility,
        page: Page,
    ) -> StoreResult<(Vec<Template>, i64)> {
        let (scope, viewer) = match visibility {
            TemplateVisibility::All => ("1 = 1", -1),
            TemplateVisibility::OwnedBy(a) => ("account_id = $6", a),
            TemplateVisibility::FeaturedFor(a) => (
                "is_featured = 1 AND ($6 < 0 OR is_public = 1 OR account_id = $6)",
                a,
            ),
            TemplateVisibility::UsableBy(a) => ("(is_public = 1 OR account_id = $6)", a),
            TemplateVisibility::CommunityFor(a) => {
                ("is_public = 1 AND is_featured = 0 AND account_id <> $6", a)
            }
            TemplateVisibility::Nothing => ("1 = 0", -1),
        };
        let where_ = format!("removed IS NULL AND ($1 = '' OR uuid = $1) AND ($2 = '' OR name = $2) AND ($3 < 0 OR extension_id = $3) AND ($4 = '' OR lower(name) LIKE $4 ESCAPE '\\') AND ($5 < 0 OR zone_id IS NULL OR zone_id = $5) AND CAST($6 AS BIGINT) IS NOT NULL AND {scope}");
        let (tagged, tag_binds) = tags_condition("templates.id", "Template", f.tags, 7);
        let where_ = format!("{where_}{tagged}");
        let kw = f.keyword.map(like_pattern).unwrap_or_default();
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM templates WHERE {where_}"))
                .bind(f.uuid.unwrap_or(""))
                .bind(f.name.unwrap_or(""))
                .bind(f.extension_id.unwrap_or(-1))
                .bind(&kw)
                .bind(f.zone_id.unwrap_or(-1))
                .bind(viewer)
                .bind_all(&tag_binds)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("template_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM templates WHERE {where_} ORDER BY id{}",
            page.sql()
        ))
        .bind(f.uuid.unwrap_or(""))
        .bind(f.name.unwrap_or(""))
        .bind(f.extension_id.unwrap_or(-1))
        .bind(&kw)
        .bind(f.zone_id.unwrap_or(-1))
        .bind(viewer)
        .bind_all(&tag_binds)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("template_list"))?;
        Ok((
            rows.iter()
                .map(template_row)
                .collect::<Result<_, _>>()
                .map_err(StoreError::query("template_list"))?,
            total,
        ))
    }

    pub async fn network_offering_create(
        &self,
        o: &NetworkOffering,
    ) -> StoreResult<NetworkOffering> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO network_offerings (uuid, name, display_text, guest_ip_type, specify_vlan, state, is_default, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *")
                .bind(&o.uuid).bind(&o.name).bind(&o.display_text).bind(&o.guest_ip_type).bind(b2i(o.specify_vlan)).bind(&o.state).bind(b2i(o.is_default)).bind(o.created)
                .fetch_one(&self.writer).await.map_err(StoreError::query("network_offering_create"))?;
            netoff_row(&r).map_err(StoreError::query("network_offering_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn network_offering_list(&self) -> StoreResult<Vec<NetworkOffering>> {
        let rows = sqlx::query("SELECT * FROM network_offerings WHERE removed IS NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("network_offering_list"))?;
        rows.iter()
            .map(netoff_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("network_offering_list"))
    }

    pub async fn network_create(&self, n: &Network) -> StoreResult<Network> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO networks (uuid, name, display_text, zone_id, network_offering_id, guest_type, broadcast_uri, gateway, netmask, start_ip, end_ip, dns1, dns2, account_id, domain_id, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING *")
                .bind(&n.uuid).bind(&n.name).bind(&n.display_text).bind(n.zone_id).bind(n.network_offering_id).bind(&n.guest_type).bind(&n.broadcast_uri)
                .bind(&n.gateway).bind(&n.netmask).bind(&n.start_ip).bind(&n.end_ip).bind(&n.dns1).bind(&n.dns2).bind(n.account_id).bind(n.domain_id).bind(&n.state).bind(n.created)
                .fetch_one(&self.writer).await.map_err(StoreError::query("network_create"))?;
            network_row(&r).map_err(StoreError::query("network_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn network_delete(&self, id: i64, now: i64) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query("UPDATE networks SET removed = $2, state = 'Destroy' WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("network_delete"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn network_list(
        &self,
        uuid: Option<&str>,
        zone_id: Option<i64>,
        account_id: Option<i64>,
        keyword: Option<&str>,
        page: Page,
    ) -> StoreResult<(Vec<Network>, i64)> {
        let where_ = "removed IS NULL AND ($1 = '' OR uuid = $1) AND ($2 < 0 OR zone_id = $2) AND ($3 < 0 OR account_id = $3 OR guest_type = 'Shared') AND ($4 = '' OR lower(name) LIKE $4 ESCAPE '\\')";
        let kw = keyword.map(like_pattern).unwrap_or_default();
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM networks WHERE {where_}"))
                .bind(uuid.unwrap_or(""))
                .bind(zone_id.unwrap_or(-1))
                .bind(account_id.unwrap_or(-1))
                .bind(&kw)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("network_list"))?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM networks WHERE {where_} ORDER BY id{}",
            page.sql()
        ))
        .bind(uuid.unwrap_or(""))
        .bind(zone_id.unwrap_or(-1))
        .bind(account_id.unwrap_or(-1))
        .bind(&kw)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("network_list"))?;
        Ok((
            rows.iter()
                .map(network_row)
                .collect::<Result<_, _>>()
                .map_err(StoreError::query("network_list"))?,
            total,
        ))
    }

    /// IPs in use on a network (live NICs).
    pub async fn network_used_ips(&self, network_id: i64) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT ip FROM nics WHERE network_id = $1 AND removed IS NULL AND ip IS NOT NULL",
        )
        .bind(network_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("network_used_ips"))
    }

    /// Number of live NICs on a network.
    pub async fn network_nic_count(&self, network_id: i64) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM nics WHERE network_id = $1 AND removed IS NULL")
            .bind(network_id)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("network_nic_count"))
    }

    /// Insert an instance with its NICs, its (visible) details and the event recording it, in
    /// one transaction: an allocation is either entirely there or not at all.
    pub async fn instance_create(
        &self,
        i: &Instance,
        nics: &[Nic],
        details: &std::collections::BTreeMap<String, String>,
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

    pub async fn instance_set_display_name(&self, id: i64, display_name: &str) -> StoreResult<()> {
        sqlx::query("UPDATE vm_instances SET display_name = $2 WHERE id = $1")
            .bind(id)
            .bind(display_name)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("instance_set_display_name"))?;
        Ok(())
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
        let where_ = format!("{where_}{tagged}");
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

    pub async fn nic_list(&self, instance_id: i64) -> StoreResult<Vec<Nic>> {
        let rows = sqlx::query(
            "SELECT * FROM nics WHERE instance_id = $1 AND removed IS NULL ORDER BY device_id",
        )
        .bind(instance_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("nic_list"))?;
        rows.iter()
            .map(nic_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("nic_list"))
    }

    /// Update a NIC's MAC and IP (from a `prepare` patch matched on the NIC uuid).
    pub async fn nic_update(&self, id: i64, mac: &str, ip: Option<&str>) -> StoreResult<()> {
        sqlx::query("UPDATE nics SET mac = $2, ip = $3 WHERE id = $1")
            .bind(id)
            .bind(mac)
            .bind(ip)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("nic_update"))?;
        Ok(())
    }

    /// The next value of a named counter (used for MAC addresses).
    pub async fn next_nic_seq(&self) -> StoreResult<i64> {
        let n: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM nics")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("next_nic_seq"))?;
        Ok(n.unwrap_or(0) + 1)
    }
}

impl Store {
    /// NICs of many instances at once, grouped by instance id.
    pub async fn nic_list_for(
        &self,
        instance_ids: &[i64],
    ) -> StoreResult<std::collections::HashMap<i64, Vec<Nic>>> {
        let mut out: std::collections::HashMap<i64, Vec<Nic>> = std::collections::HashMap::new();
        for chunk in instance_ids.chunks(500) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let rows = sqlx::query(&format!("SELECT * FROM nics WHERE removed IS NULL AND instance_id IN ({list}) ORDER BY instance_id, device_id"))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query("nic_list_for"))?;
            for r in &rows {
                let n = nic_row(r).map_err(StoreError::query("nic_list_for"))?;
                out.entry(n.instance_id).or_default().push(n);
            }
        }
        Ok(out)
    }

    /// Visible details of many owners of one kind at once.
    pub async fn details_visible_for(
        &self,
        owner: trellis_model::entity::DetailOwner,
        ids: &[i64],
    ) -> StoreResult<std::collections::HashMap<i64, std::collections::BTreeMap<String, String>>>
    {
        let mut out: std::collections::HashMap<i64, std::collections::BTreeMap<String, String>> =
            std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let rows = sqlx::query(&format!("SELECT owner_id, name, value FROM details WHERE owner_kind = $1 AND display = 1 AND owner_id IN ({list})"))
                .bind(owner.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query("details_visible_for"))?;
            for r in &rows {
                let (id, k, v) = (
                    get_i64(r, "owner_id"),
                    get_str(r, "name"),
                    get_str(r, "value"),
                );
                let (id, k, v) = (
                    id.map_err(StoreError::query("details_visible_for"))?,
                    k.map_err(StoreError::query("details_visible_for"))?,
                    v.map_err(StoreError::query("details_visible_for"))?,
                );
                out.entry(id).or_default().insert(k, v);
            }
        }
        Ok(out)
    }

    /// Every network, including removed ones (for views of old NICs).
    pub async fn network_all(&self) -> StoreResult<Vec<Network>> {
        let rows = sqlx::query("SELECT * FROM networks ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("network_all"))?;
        rows.iter()
            .map(network_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("network_all"))
    }

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
