//! Zones, pods, clusters and hosts.

use sqlx::any::AnyRow;
use trellis_model::entity::{Cluster, Host, Pod, Zone};
use trellis_model::infra::{AllocationState, HostStatus, ResourceState};

use crate::{
    get_enum, get_i64, get_opt_str, get_str, like_pattern, Page, Store, StoreError, StoreResult,
};

fn zone_row(r: &AnyRow) -> Result<Zone, sqlx::Error> {
    Ok(Zone {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        description: get_opt_str(r, "description")?,
        dns1: get_opt_str(r, "dns1")?,
        dns2: get_opt_str(r, "dns2")?,
        internal_dns1: get_opt_str(r, "internal_dns1")?,
        network_type: get_str(r, "network_type")?,
        allocation_state: get_enum(r, "allocation_state", AllocationState::parse)?,
        created: get_i64(r, "created")?,
    })
}

fn pod_row(r: &AnyRow) -> Result<Pod, sqlx::Error> {
    Ok(Pod {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        zone_id: get_i64(r, "zone_id")?,
        gateway: get_opt_str(r, "gateway")?,
        netmask: get_opt_str(r, "netmask")?,
        start_ip: get_opt_str(r, "start_ip")?,
        end_ip: get_opt_str(r, "end_ip")?,
        allocation_state: get_enum(r, "allocation_state", AllocationState::parse)?,
        created: get_i64(r, "created")?,
    })
}

fn cluster_row(r: &AnyRow) -> Result<Cluster, sqlx::Error> {
    Ok(Cluster {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        zone_id: get_i64(r, "zone_id")?,
        pod_id: get_i64(r, "pod_id")?,
        hypervisor: get_str(r, "hypervisor")?,
        cluster_type: get_str(r, "cluster_type")?,
        allocation_state: get_enum(r, "allocation_state", AllocationState::parse)?,
        arch: get_str(r, "arch")?,
        created: get_i64(r, "created")?,
    })
}

fn host_row(r: &AnyRow) -> Result<Host, sqlx::Error> {
    Ok(Host {
        id: get_i64(r, "id")?,
        uuid: get_str(r, "uuid")?,
        name: get_str(r, "name")?,
        guid: get_str(r, "guid")?,
        zone_id: get_i64(r, "zone_id")?,
        pod_id: get_i64(r, "pod_id")?,
        cluster_id: get_i64(r, "cluster_id")?,
        url: get_str(r, "url")?,
        status: get_enum(r, "status", HostStatus::parse)?,
        resource_state: get_enum(r, "resource_state", ResourceState::parse)?,
        hypervisor: get_str(r, "hypervisor")?,
        host_tags: get_opt_str(r, "host_tags")?,
        created: get_i64(r, "created")?,
    })
}

/// Filters shared by the infrastructure listings.
#[derive(Debug, Clone, Default)]
pub struct InfraFilter {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub zone_id: Option<i64>,
    pub pod_id: Option<i64>,
    pub cluster_id: Option<i64>,
    pub keyword: Option<String>,
}

macro_rules! list_fn {
    ($fn_name:ident, $table:literal, $row:ident, $ty:ty, $zone:literal, $pod:literal, $cluster:literal) => {
        pub async fn $fn_name(&self, f: &InfraFilter, page: Page) -> StoreResult<(Vec<$ty>, i64)> {
            let where_ = format!(
                "removed IS NULL AND ($1 = '' OR uuid = $1) AND ($2 = '' OR name = $2) AND ($3 < 0 OR {} = $3) AND ($4 < 0 OR {} = $4) AND ($5 < 0 OR {} = $5) AND ($6 = '' OR lower(name) LIKE $6 ESCAPE '\\')",
                $zone, $pod, $cluster
            );
            let kw = f.keyword.as_deref().map(like_pattern).unwrap_or_default();
            let total: i64 = sqlx::query_scalar(&format!(concat!("SELECT COUNT(*) FROM ", $table, " WHERE {}"), where_))
                .bind(f.uuid.as_deref().unwrap_or(""))
                .bind(f.name.as_deref().unwrap_or(""))
                .bind(f.zone_id.unwrap_or(-1))
                .bind(f.pod_id.unwrap_or(-1))
                .bind(f.cluster_id.unwrap_or(-1))
                .bind(&kw)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query(stringify!($fn_name)))?;
            let rows = sqlx::query(&format!(concat!("SELECT * FROM ", $table, " WHERE {} ORDER BY id{}"), where_, page.sql()))
                .bind(f.uuid.as_deref().unwrap_or(""))
                .bind(f.name.as_deref().unwrap_or(""))
                .bind(f.zone_id.unwrap_or(-1))
                .bind(f.pod_id.unwrap_or(-1))
                .bind(f.cluster_id.unwrap_or(-1))
                .bind(&kw)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query(stringify!($fn_name)))?;
            let items = rows.iter().map($row).collect::<Result<_, _>>().map_err(StoreError::query(stringify!($fn_name)))?;
            Ok((items, total))
        }
    };
}

macro_rules! soft_delete {
    ($fn_name:ident, $table:literal) => {
        pub async fn $fn_name(&self, id: i64, now: i64) -> StoreResult<()> {
            sqlx::query(concat!(
                "UPDATE ",
                $table,
                " SET removed = $2 WHERE id = $1"
            ))
            .bind(id)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query(stringify!($fn_name)))?;
            self.catalog_changed();
            Ok(())
        }
    };
}

impl Store {
    lookups!(cached zone_by_uuid, zone_get, "zones", "id = $1 AND removed IS NULL", zone_row, Zone);
    lookups!(cached pod_by_uuid, pod_get, "pods", "id = $1 AND removed IS NULL", pod_row, Pod);
    lookups!(cached cluster_by_uuid, cluster_get, "clusters", "id = $1 AND removed IS NULL", cluster_row, Cluster);
    lookups!(cached host_by_uuid, host_get, "hosts", "id = $1 AND removed IS NULL", host_row, Host);
    list_fn!(zone_list, "zones", zone_row, Zone, "id", "-1", "-1");
    list_fn!(pod_list, "pods", pod_row, Pod, "zone_id", "id", "-1");
    list_fn!(
        cluster_list,
        "clusters",
        cluster_row,
        Cluster,
        "zone_id",
        "pod_id",
        "id"
    );
    list_fn!(
        host_list,
        "hosts",
        host_row,
        Host,
        "zone_id",
        "pod_id",
        "cluster_id"
    );
    soft_delete!(zone_delete, "zones");
    soft_delete!(pod_delete, "pods");
    soft_delete!(cluster_delete, "clusters");
    soft_delete!(host_delete, "hosts");

    pub async fn zone_create(&self, z: &Zone) -> StoreResult<Zone> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO zones (uuid, name, description, dns1, dns2, internal_dns1, network_type, allocation_state, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *")
                .bind(&z.uuid)
                .bind(&z.name)
                .bind(&z.description)
                .bind(&z.dns1)
                .bind(&z.dns2)
                .bind(&z.internal_dns1)
                .bind(&z.network_type)
                .bind(z.allocation_state.as_str())
                .bind(z.created)
                .fetch_one(&self.writer)
                .await
                .map_err(StoreError::query("zone_create"))?;
            zone_row(&r).map_err(StoreError::query("zone_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn zone_update(&self, z: &Zone) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query("UPDATE zones SET name = $2, description = $3, dns1 = $4, dns2 = $5, internal_dns1 = $6, allocation_state = $7 WHERE id = $1")
                .bind(z.id)
                .bind(&z.name)
                .bind(&z.description)
                .bind(&z.dns1)
                .bind(&z.dns2)
                .bind(&z.internal_dns1)
                .bind(z.allocation_state.as_str())
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("zone_update"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn pod_create(&self, p: &Pod) -> StoreResult<Pod> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO pods (uuid, name, zone_id, gateway, netmask, start_ip, end_ip, allocation_state, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *")
                .bind(&p.uuid)
                .bind(&p.name)
                .bind(p.zone_id)
                .bind(&p.gateway)
                .bind(&p.netmask)
                .bind(&p.start_ip)
                .bind(&p.end_ip)
                .bind(p.allocation_state.as_str())
                .bind(p.created)
                .fetch_one(&self.writer)
                .await
                .map_err(StoreError::query("pod_create"))?;
            pod_row(&r).map_err(StoreError::query("pod_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn cluster_create(&self, c: &Cluster) -> StoreResult<Cluster> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO clusters (uuid, name, zone_id, pod_id, hypervisor, cluster_type, allocation_state, arch, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *")
                .bind(&c.uuid)
                .bind(&c.name)
                .bind(c.zone_id)
                .bind(c.pod_id)
                .bind(&c.hypervisor)
                .bind(&c.cluster_type)
                .bind(c.allocation_state.as_str())
                .bind(&c.arch)
                .bind(c.created)
                .fetch_one(&self.writer)
                .await
                .map_err(StoreError::query("cluster_create"))?;
            cluster_row(&r).map_err(StoreError::query("cluster_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn cluster_update(&self, c: &Cluster) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query(
                "UPDATE clusters SET name = $2, allocation_state = $3, arch = $4 WHERE id = $1",
            )
            .bind(c.id)
            .bind(&c.name)
            .bind(c.allocation_state.as_str())
            .bind(&c.arch)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("cluster_update"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn host_create(&self, h: &Host) -> StoreResult<Host> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            let r = sqlx::query("INSERT INTO hosts (uuid, name, guid, zone_id, pod_id, cluster_id, url, status, resource_state, hypervisor, host_tags, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *")
                .bind(&h.uuid)
                .bind(&h.name)
                .bind(&h.guid)
                .bind(h.zone_id)
                .bind(h.pod_id)
                .bind(h.cluster_id)
                .bind(&h.url)
                .bind(h.status.as_str())
                .bind(h.resource_state.as_str())
                .bind(&h.hypervisor)
                .bind(&h.host_tags)
                .bind(h.created)
                .fetch_one(&self.writer)
                .await
                .map_err(StoreError::query("host_create"))?;
            host_row(&r).map_err(StoreError::query("host_create"))
        }
        .await;
        self.catalog_changed();
        out
    }

    pub async fn host_update(&self, h: &Host) -> StoreResult<()> {
        // A catalog write: cached rows are stale once it is done.
        let out = async {
            sqlx::query("UPDATE hosts SET name = $2, status = $3, resource_state = $4, host_tags = $5 WHERE id = $1")
                .bind(h.id)
                .bind(&h.name)
                .bind(h.status.as_str())
                .bind(h.resource_state.as_str())
                .bind(&h.host_tags)
                .execute(&self.writer)
                .await
                .map_err(StoreError::query("host_update"))?;
            Ok(())
        }
        .await;
        self.catalog_changed();
        out
    }

    /// Hosts of every cluster mapped to an extension.
    pub async fn host_list_for_extension(&self, extension_id: i64) -> StoreResult<Vec<Host>> {
        let rows = sqlx::query("SELECT h.* FROM hosts h JOIN extension_resource_maps m ON m.resource_id = h.cluster_id AND m.resource_type = 'Cluster' AND m.removed IS NULL WHERE m.extension_id = $1 AND h.removed IS NULL ORDER BY h.id")
            .bind(extension_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("host_list_for_extension"))?;
        rows.iter()
            .map(host_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("host_list_for_extension"))
    }
}

impl Store {
    /// Number of live templates bound to an extension.
    pub async fn template_count_for_extension(&self, extension_id: i64) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM templates WHERE extension_id = $1 AND removed IS NULL",
        )
        .bind(extension_id)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("template_count_for_extension"))
    }
}
