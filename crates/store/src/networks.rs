//! Network offerings, networks and NICs.

use sqlx::any::AnyRow;
use trellis_model::entity::{Network, NetworkOffering, Nic};

use crate::{
    b2i, get_bool, get_i64, get_opt_str, get_str, like_pattern, Page, Store, StoreError,
    StoreResult,
};

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

impl Store {
    lookups!(cached network_offering_by_uuid, network_offering_get, "network_offerings", "id = $1", netoff_row, NetworkOffering);
    lookups!(cached network_by_uuid, network_get, "networks", "id = $1", network_row, Network);

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

    /// The addresses in use on a network with the instance holding each: (address, instance
    /// uuid, instance name, owning account id, NIC created), by address.
    pub async fn network_address_holders(
        &self,
        network_id: i64,
    ) -> StoreResult<Vec<(String, String, String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT n.ip AS ip, i.uuid AS uuid, i.name AS name, i.account_id AS account_id, n.created AS created \
             FROM nics n JOIN vm_instances i ON i.id = n.instance_id \
             WHERE n.network_id = $1 AND n.removed IS NULL AND n.ip IS NOT NULL ORDER BY n.ip",
        )
        .bind(network_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("network_address_holders"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    get_str(r, "ip")?,
                    get_str(r, "uuid")?,
                    get_str(r, "name")?,
                    get_i64(r, "account_id")?,
                    get_i64(r, "created")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query("network_address_holders"))
    }

    /// Number of live NICs on a network.
    pub async fn network_nic_count(&self, network_id: i64) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM nics WHERE network_id = $1 AND removed IS NULL")
            .bind(network_id)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("network_nic_count"))
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
}
