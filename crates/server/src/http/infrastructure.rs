//! Zones, pods, clusters, hosts (incl. maintenance), service offerings, network offerings
//! and networks.

use serde_json::{json, Value};
use trellis_api::{ApiError, Reply};
use trellis_model::Error;

use super::handlers::*;
use super::views::*;
use crate::app::infra::{
    ClusterInput, HostInput, HostUpdateParams, PodCreateParams, ZoneCreateParams,
};
use crate::app::job::JobCommand;
use crate::app::networks::NetworkInput;
use crate::app::offerings::OfferingInput;
use crate::app::reads::InfraFilter;

/// `listZones`.
pub(super) async fn list_zones(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let p = cx.p;
    let f = InfraFilter {
        uuid: s(p, "id"),
        name: s(p, "name"),
        keyword: s(p, "keyword"),
        ..Default::default()
    };
    let (items, total) = app.reads().zone_list(&f, page_of(app, p)?).await?;
    let ids = p.list("ids");
    let items: Vec<Value> = items
        .iter()
        .filter(|z| ids.as_ref().is_none_or(|ids| ids.contains(&z.uuid)))
        .map(zone_view)
        .collect();
    let total = if ids.is_some() {
        items.len() as i64
    } else {
        total
    };
    Ok(list("zone", items, total))
}

/// `createZone`.
pub(super) async fn create_zone(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let params = ZoneCreateParams {
        name: req(p, c, "name")?.into(),
        description: s(p, "description"),
        dns1: s(p, "dns1"),
        dns2: s(p, "dns2"),
        internal_dns1: s(p, "internaldns1"),
        network_type: s(p, "networktype"),
    };
    let z = app.zone_create(caller, params).await?;
    Ok(Reply::Object {
        object: "zone",
        value: zone_view(&z),
    })
}

/// `updateZone`.
pub(super) async fn update_zone(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let z = app
        .zone_update(
            caller,
            req(p, c, "id")?,
            p.str("name"),
            p.str("description"),
            p.str("dns1"),
            p.str("allocationstate"),
        )
        .await?;
    Ok(Reply::Object {
        object: "zone",
        value: zone_view(&z),
    })
}

/// `deleteZone`.
pub(super) async fn delete_zone(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    app.zone_delete(caller, req(p, c, "id")?).await?;
    Ok(Reply::Success { displaytext: None })
}

/// `createPod`.
pub(super) async fn create_pod(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let params = PodCreateParams {
        zone_uuid: req(p, c, "zoneid")?.into(),
        name: req(p, c, "name")?.into(),
        gateway: s(p, "gateway"),
        netmask: s(p, "netmask"),
        start_ip: s(p, "startip"),
        end_ip: s(p, "endip"),
    };
    let pod = app.pod_create(caller, params).await?;
    Ok(Reply::Object {
        object: "pod",
        value: pod_view(app, &pod).await?,
    })
}

/// `listPods`.
pub(super) async fn list_pods(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let p = cx.p;
    let f = InfraFilter {
        uuid: s(p, "id"),
        name: s(p, "name"),
        zone_id: zone_filter(app, p).await?,
        keyword: s(p, "keyword"),
        ..Default::default()
    };
    let (items, total) = app.reads().pod_list(&f, page_of(app, p)?).await?;
    let mut out = Vec::new();
    for x in &items {
        out.push(pod_view(app, x).await?);
    }
    Ok(list("pod", out, total))
}

/// `deletePod`.
pub(super) async fn delete_pod(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    app.pod_delete(caller, req(p, c, "id")?).await?;
    Ok(Reply::Success { displaytext: None })
}

/// `addCluster`.
pub(super) async fn add_cluster(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let input = ClusterInput {
        zone_uuid: req(p, c, "zoneid")?.into(),
        pod_uuid: s(p, "podid"),
        name: req(p, c, "clustername")?.into(),
        hypervisor: req(p, c, "hypervisor")?.into(),
        extension_uuid: s(p, "extensionid"),
        external_details: p.map_flat("externaldetails"),
        arch: s(p, "arch"),
    };
    let cl = app.cluster_add(caller, input).await?;
    Ok(list("cluster", vec![cluster_view(app, &cl).await?], 1))
}

/// `listClusters`.
pub(super) async fn list_clusters(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let p = cx.p;
    let pod_id = filter_id(p, "podid", |u| app.reads().pod_by_uuid(u)).await?;
    let f = InfraFilter {
        uuid: s(p, "id"),
        name: s(p, "name"),
        zone_id: zone_filter(app, p).await?,
        pod_id,
        keyword: s(p, "keyword"),
        ..Default::default()
    };
    let (items, total) = app.reads().cluster_list(&f, page_of(app, p)?).await?;
    let mut out = Vec::new();
    for x in &items {
        out.push(cluster_view(app, x).await?);
    }
    Ok(list("cluster", out, total))
}

/// `updateCluster`.
pub(super) async fn update_cluster(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let cl = app
        .cluster_update(
            caller,
            req(p, c, "id")?,
            p.str("clustername"),
            p.str("allocationstate"),
            p.map_flat("externaldetails"),
        )
        .await?;
    Ok(Reply::Object {
        object: "cluster",
        value: cluster_view(app, &cl).await?,
    })
}

/// `deleteCluster`.
pub(super) async fn delete_cluster(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    app.cluster_delete(caller, req(p, c, "id")?).await?;
    Ok(Reply::Success { displaytext: None })
}

/// `addHost`.
pub(super) async fn add_host(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let input = HostInput {
        zone_uuid: req(p, c, "zoneid")?.into(),
        pod_uuid: s(p, "podid"),
        cluster_uuid: req(p, c, "clusterid")?.into(),
        url: req(p, c, "url")?.into(),
        hypervisor: req(p, c, "hypervisor")?.into(),
        host_tags: s(p, "hosttags"),
        allocation_state: s(p, "allocationstate"),
        username: s(p, "username"),
        password: s(p, "password"),
        external_details: p.map_flat("externaldetails").unwrap_or_default(),
    };
    let h = app.host_add(caller, input).await?;
    Ok(list("host", vec![host_view(app, &h).await?], 1))
}

/// `listHosts`.
pub(super) async fn list_hosts(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let p = cx.p;
    let cluster_id = filter_id(p, "clusterid", |u| app.reads().cluster_by_uuid(u)).await?;
    let f = InfraFilter {
        uuid: s(p, "id"),
        name: s(p, "name"),
        zone_id: zone_filter(app, p).await?,
        cluster_id,
        keyword: s(p, "keyword"),
        ..Default::default()
    };
    let (items, total) = app.reads().host_list(&f, page_of(app, p)?).await?;
    let mut out = Vec::new();
    for x in &items {
        out.push(host_view(app, x).await?);
    }
    Ok(list("host", out, total))
}

/// `updateHost`.
pub(super) async fn update_host(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let params = HostUpdateParams {
        uuid: req(p, c, "id")?.into(),
        name: s(p, "name"),
        host_tags: s(p, "hosttags"),
        allocation_state: s(p, "allocationstate"),
        external_details: p.map_flat("externaldetails"),
        cleanup_external_details: p.bool_or("cleanupexternaldetails", false),
    };
    let h = app.host_update(caller, params).await?;
    Ok(Reply::Object {
        object: "host",
        value: host_view(app, &h).await?,
    })
}

/// `deleteHost`.
pub(super) async fn delete_host(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    app.host_delete(caller, req(p, c, "id")?, p.bool_or("forced", false))
        .await?;
    Ok(Reply::Success { displaytext: None })
}

/// `createServiceOffering`.
pub(super) async fn create_service_offering(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let input = OfferingInput {
        name: req(p, c, "name")?.into(),
        display_text: s(p, "displaytext"),
        cpu_number: p.int("cpunumber").unwrap_or(1),
        cpu_speed: p.int("cpuspeed").unwrap_or(1000),
        memory: p.int("memory").unwrap_or(512),
        host_tags: s(p, "hosttags"),
        external_details: p.map_flat("externaldetails").unwrap_or_default(),
    };
    let o = app.offering_create(caller, input).await?;
    Ok(Reply::Object {
        object: "serviceoffering",
        value: offering_view(app, &o).await?,
    })
}

/// `updateServiceOffering`.
pub(super) async fn update_service_offering(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let o = app
        .offering_update(
            caller,
            req(p, c, "id")?,
            p.str("name"),
            p.str("displaytext"),
            p.map_flat("externaldetails"),
            p.bool_or("cleanupexternaldetails", false),
        )
        .await?;
    Ok(Reply::Object {
        object: "serviceoffering",
        value: offering_view(app, &o).await?,
    })
}

/// `deleteServiceOffering`.
pub(super) async fn delete_service_offering(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    app.offering_delete(caller, req(p, c, "id")?).await?;
    Ok(Reply::Success { displaytext: None })
}

/// `listServiceOfferings`.
pub(super) async fn list_service_offerings(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let p = cx.p;
    let (items, total) = app
        .reads()
        .offering_list(
            p.str("id"),
            p.str("name"),
            p.str("keyword"),
            page_of(app, p)?,
        )
        .await?;
    let mut out = Vec::new();
    for x in &items {
        out.push(offering_view(app, x).await?);
    }
    Ok(list("serviceoffering", out, total))
}

/// `listNetworkOfferings`.
pub(super) async fn list_network_offerings(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let p = cx.p;
    let items = app.reads().network_offering_list().await?;
    let items: Vec<Value> = items
            .iter()
            .filter(|o| p.str("id").is_none_or(|u| u == o.uuid) && p.str("guestiptype").is_none_or(|g| g.eq_ignore_ascii_case(&o.guest_ip_type)) && p.str("name").is_none_or(|n| n == o.name))
            .map(|o| json!({"id": o.uuid, "name": o.name, "displaytext": o.display_text, "guestiptype": o.guest_ip_type, "specifyvlan": o.specify_vlan, "state": o.state, "isdefault": o.is_default, "traffictype": "Guest", "created": trellis_api::format_date(o.created)}))
            .collect();
    let n = items.len() as i64;
    Ok(list("networkoffering", items, n))
}

/// `createNetwork`.
pub(super) async fn create_network(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let c = cx.cmd;
    let p = cx.p;
    let input = NetworkInput {
        name: req(p, c, "name")?.into(),
        display_text: s(p, "displaytext"),
        offering_uuid: req(p, c, "networkofferingid")?.into(),
        zone_uuid: req(p, c, "zoneid")?.into(),
        vlan: s(p, "vlan"),
        gateway: s(p, "gateway"),
        netmask: s(p, "netmask"),
        start_ip: s(p, "startip"),
        end_ip: s(p, "endip"),
        project_uuid: s(p, "projectid"),
    };
    let n = app.network_create(caller, input).await?;
    Ok(Reply::Object {
        object: "network",
        value: network_view(app, &n).await?,
    })
}

/// `listNetworks`.
pub(super) async fn list_networks(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let p = cx.p;
    if p.bool("restartrequired") == Some(true) {
        return Ok(list("network", vec![], 0));
    }
    let (items, total) = app
        .network_list_for(
            caller,
            p.str("id"),
            zone_filter(app, p).await?,
            p.str("projectid"),
            p.str("keyword"),
            page_of(app, p)?,
        )
        .await?;
    let mut out = Vec::new();
    for x in &items {
        out.push(network_view(app, x).await?);
    }
    Ok(list("network", out, total))
}

/// The host named by `id` (root admins only); the job is about it.
async fn maintained_host(cx: &Cx<'_>) -> Result<(String, Option<(String, String)>), ApiError> {
    crate::app::require_admin(cx.caller)?;
    let host = cx.app.host_by_uuid(req(cx.p, cx.cmd, "id")?).await?.uuid;
    let about = Some(("Host".to_string(), host.clone()));
    Ok((host, about))
}

/// `prepareHostForMaintenance`.
pub(super) async fn prepare_host_for_maintenance(cx: &Cx<'_>) -> Q {
    let (host, about) = maintained_host(cx).await?;
    Ok((JobCommand::HostMaintenance { host }, about))
}

/// `cancelHostMaintenance`.
pub(super) async fn cancel_host_maintenance(cx: &Cx<'_>) -> Q {
    let (host, about) = maintained_host(cx).await?;
    Ok((JobCommand::HostCancelMaintenance { host }, about))
}

/// `deleteNetwork`.
pub(super) async fn delete_network(cx: &Cx<'_>) -> Q {
    let network = req(cx.p, cx.cmd, "id")?.to_string();
    if cx.app.reads().network_by_uuid(&network).await?.is_none() {
        return Err(Error::not_found(format!("Unable to find network by id {network}")).into());
    }
    let about = Some(("Network".to_string(), network.clone()));
    Ok((JobCommand::DeleteNetwork { network }, about))
}
