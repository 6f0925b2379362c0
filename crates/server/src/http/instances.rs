//! Handlers of infrastructure and instance commands.

use serde_json::{json, Value};
use std::collections::HashMap;
use trellis_api::{catalog::Command, ApiError, Params, Reply};
use trellis_model::entity::{
    Cluster, DetailOwner, Host, Instance, Network, Pod, ServiceOffering, Template, Zone,
};
use trellis_model::Error;
use trellis_store::{InfraFilter, InstanceFilter, TemplateFilter};

use super::commands::{list, page_of, req, s};
use crate::app::deploy::DeployInput;
use crate::app::infra::NetworkInput;
use crate::app::instance::Op;
use crate::app::{App, Caller};
use crate::jobs::JobCommand;

type R = Result<Reply, ApiError>;

/// Instance operations refused for External instances (spec §9.8), with the parameter naming
/// the instance.
const REFUSED: &[(&str, &str)] = &[
    ("restoreVirtualMachine", "virtualmachineid"),
    ("changeServiceForVirtualMachine", "id"),
    ("scaleVirtualMachine", "id"),
    ("migrateVirtualMachine", "virtualmachineid"),
    ("migrateVirtualMachineWithVolume", "virtualmachineid"),
    ("resetSSHKeyForVirtualMachine", "id"),
    ("resetUserDataForVirtualMachine", "id"),
    ("resetPasswordForVirtualMachine", "id"),
    ("createVMSnapshot", "virtualmachineid"),
    ("attachIso", "virtualmachineid"),
    ("detachIso", "virtualmachineid"),
    ("updateVMAffinityGroup", "id"),
    ("addNicToVirtualMachine", "virtualmachineid"),
    ("removeNicFromVirtualMachine", "virtualmachineid"),
];

/// Refuse `name` if it is one of [`REFUSED`] (sync and async alike, before any job exists).
async fn refuse(app: &App, caller: &Caller, c: &Command, p: &Params) -> Result<(), ApiError> {
    if let Some((_, param)) = REFUSED.iter().find(|(n, _)| *n == c.name) {
        app.instance_refuse(caller, c.name, req(p, c, param)?)
            .await?;
    }
    Ok(())
}

fn cmd(name: &str) -> Result<&'static Command, ApiError> {
    trellis_api::catalog::find(name).ok_or_else(|| ApiError::unsupported(name))
}

fn e(x: trellis_store::StoreError) -> ApiError {
    ApiError::from(Error::from(x))
}

/// Request-time checks of async instance commands: the typed command to queue and the object
/// the job is about.
pub async fn precheck(
    app: &App,
    caller: &Caller,
    name: &str,
    p: &Params,
) -> Result<(JobCommand, Option<(String, String)>), ApiError> {
    let c = cmd(name)?;
    refuse(app, caller, c, p).await?;
    let vm = |u: &str| Some(("VirtualMachine".to_string(), u.to_string()));
    let checked = |op: Op| async move {
        Ok::<String, ApiError>(app.instance_check(caller, req(p, c, "id")?, op).await?.uuid)
    };
    Ok(match c.name {
        "deployVirtualMachine" => {
            let input = DeployInput {
                zone_uuid: req(p, c, "zoneid")?.into(),
                offering_uuid: req(p, c, "serviceofferingid")?.into(),
                template_uuid: req(p, c, "templateid")?.into(),
                name: s(p, "name"),
                display_name: s(p, "displayname"),
                network_uuids: p.list("networkids").unwrap_or_default(),
                details: p.map_flat("details").unwrap_or_default(),
                external_details: p.map_flat("externaldetails").unwrap_or_default(),
                user_data: s(p, "userdata"),
                host_uuid: s(p, "hostid"),
            };
            let inst = app.instance_allocate(caller, input).await?;
            (
                JobCommand::Deploy {
                    instance: inst.uuid.clone(),
                    start: p.bool_or("startvm", true),
                    host: s(p, "hostid"),
                },
                vm(&inst.uuid),
            )
        }
        "startVirtualMachine" => {
            let u = checked(Op::Start).await?;
            (
                JobCommand::Start {
                    instance: u.clone(),
                    host: s(p, "hostid"),
                },
                vm(&u),
            )
        }
        "stopVirtualMachine" => {
            let u = checked(Op::Stop).await?;
            (
                JobCommand::Stop {
                    instance: u.clone(),
                    forced: p.bool_or("forced", false),
                },
                vm(&u),
            )
        }
        "rebootVirtualMachine" => {
            let u = checked(Op::Reboot).await?;
            (
                JobCommand::Reboot {
                    instance: u.clone(),
                },
                vm(&u),
            )
        }
        "destroyVirtualMachine" => {
            let u = checked(Op::Destroy).await?;
            (
                JobCommand::Destroy {
                    instance: u.clone(),
                    expunge: p.bool_or("expunge", false),
                },
                vm(&u),
            )
        }
        "expungeVirtualMachine" => {
            let u = checked(Op::Expunge).await?;
            (
                JobCommand::Expunge {
                    instance: u.clone(),
                },
                vm(&u),
            )
        }
        "prepareHostForMaintenance" | "cancelHostMaintenance" => {
            crate::app::require_admin(caller)?;
            let host = app.host_by_uuid(req(p, c, "id")?).await?.uuid;
            let about = Some(("Host".to_string(), host.clone()));
            if c.name == "prepareHostForMaintenance" {
                (JobCommand::HostMaintenance { host }, about)
            } else {
                (JobCommand::HostCancelMaintenance { host }, about)
            }
        }
        "deleteTemplate" => {
            let t = app.template_by_uuid(req(p, c, "id")?).await?.uuid;
            (
                JobCommand::DeleteTemplate {
                    template: t.clone(),
                },
                Some(("Template".into(), t)),
            )
        }
        "deleteNetwork" => {
            let u = req(p, c, "id")?;
            app.store
                .network_by_uuid(u)
                .await
                .map_err(e)?
                .ok_or_else(|| {
                    ApiError::from(Error::not_found(format!(
                        "Unable to find network by id {u}"
                    )))
                })?;
            (
                JobCommand::DeleteNetwork {
                    network: u.to_string(),
                },
                Some(("Network".into(), u.into())),
            )
        }
        other => return Err(ApiError::unsupported(other)),
    })
}

async fn zone_filter(app: &App, p: &Params) -> Result<Option<i64>, ApiError> {
    filter_id(p, "zoneid", |u| app.store.zone_by_uuid(u)).await
}

/// An id no row has: a list filtered on an unknown object comes back empty, as in CloudStack.
const NO_MATCH: i64 = -2;

/// The internal id a list filter's uuid parameter `name` refers to: `None` when the parameter is
/// absent, [`NO_MATCH`] when no such object exists.
async fn filter_id<'a, T, Fut>(
    p: &'a Params,
    name: &str,
    lookup: impl FnOnce(&'a str) -> Fut,
) -> Result<Option<i64>, ApiError>
where
    T: HasId,
    Fut: std::future::Future<Output = Result<Option<T>, trellis_store::StoreError>>,
{
    let Some(u) = p.str(name) else {
        return Ok(None);
    };
    Ok(Some(
        lookup(u).await.map_err(e)?.map_or(NO_MATCH, |x| x.id()),
    ))
}

/// Rows with an internal id.
trait HasId {
    fn id(&self) -> i64;
}

macro_rules! has_id {
    ($($t:ty),*) => { $(impl HasId for $t { fn id(&self) -> i64 { self.id } })* };
}
has_id!(Zone, Pod, Cluster, Host, trellis_model::entity::Extension);

/// Synchronous infrastructure and instance commands.
pub async fn sync(app: &App, caller: &Caller, name: &str, p: &Params) -> R {
    let c = cmd(name)?;
    refuse(app, caller, c, p).await?;
    match c.name {
        "listZones" => {
            let f = InfraFilter {
                uuid: s(p, "id"),
                name: s(p, "name"),
                keyword: s(p, "keyword"),
                ..Default::default()
            };
            let (items, total) = app.store.zone_list(&f, page_of(app, p)?).await.map_err(e)?;
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
        "createZone" => {
            let z = app
                .zone_create(
                    caller,
                    req(p, c, "name")?,
                    p.str("description"),
                    p.str("dns1"),
                    p.str("dns2"),
                    p.str("internaldns1"),
                    p.str("networktype"),
                )
                .await?;
            Ok(Reply::Object {
                object: "zone",
                value: zone_view(&z),
            })
        }
        "updateZone" => {
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
        "deleteZone" => {
            app.zone_delete(caller, req(p, c, "id")?).await?;
            Ok(Reply::Success { displaytext: None })
        }
        "createPod" => {
            let pod = app
                .pod_create(
                    caller,
                    req(p, c, "zoneid")?,
                    req(p, c, "name")?,
                    p.str("gateway"),
                    p.str("netmask"),
                    p.str("startip"),
                    p.str("endip"),
                )
                .await?;
            Ok(Reply::Object {
                object: "pod",
                value: pod_view(app, &pod).await?,
            })
        }
        "listPods" => {
            let f = InfraFilter {
                uuid: s(p, "id"),
                name: s(p, "name"),
                zone_id: zone_filter(app, p).await?,
                keyword: s(p, "keyword"),
                ..Default::default()
            };
            let (items, total) = app.store.pod_list(&f, page_of(app, p)?).await.map_err(e)?;
            let mut out = Vec::new();
            for x in &items {
                out.push(pod_view(app, x).await?);
            }
            Ok(list("pod", out, total))
        }
        "deletePod" => {
            app.pod_delete(caller, req(p, c, "id")?).await?;
            Ok(Reply::Success { displaytext: None })
        }
        "addCluster" => {
            let cl = app
                .cluster_add(
                    caller,
                    req(p, c, "zoneid")?,
                    p.str("podid"),
                    req(p, c, "clustername")?,
                    req(p, c, "hypervisor")?,
                    p.str("extensionid"),
                    p.map_flat("externaldetails"),
                    p.str("arch"),
                )
                .await?;
            Ok(list("cluster", vec![cluster_view(app, &cl).await?], 1))
        }
        "listClusters" => {
            let pod_id = filter_id(p, "podid", |u| app.store.pod_by_uuid(u)).await?;
            let f = InfraFilter {
                uuid: s(p, "id"),
                name: s(p, "name"),
                zone_id: zone_filter(app, p).await?,
                pod_id,
                keyword: s(p, "keyword"),
                ..Default::default()
            };
            let (items, total) = app
                .store
                .cluster_list(&f, page_of(app, p)?)
                .await
                .map_err(e)?;
            let mut out = Vec::new();
            for x in &items {
                out.push(cluster_view(app, x).await?);
            }
            Ok(list("cluster", out, total))
        }
        "updateCluster" => {
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
        "deleteCluster" => {
            app.cluster_delete(caller, req(p, c, "id")?).await?;
            Ok(Reply::Success { displaytext: None })
        }
        "addHost" => {
            let h = app
                .host_add(
                    caller,
                    req(p, c, "zoneid")?,
                    p.str("podid"),
                    req(p, c, "clusterid")?,
                    req(p, c, "url")?,
                    req(p, c, "hypervisor")?,
                    p.str("hosttags"),
                    p.map_flat("externaldetails").unwrap_or_default(),
                )
                .await?;
            Ok(list("host", vec![host_view(app, &h).await?], 1))
        }
        "listHosts" => {
            let cluster_id = filter_id(p, "clusterid", |u| app.store.cluster_by_uuid(u)).await?;
            let f = InfraFilter {
                uuid: s(p, "id"),
                name: s(p, "name"),
                zone_id: zone_filter(app, p).await?,
                cluster_id,
                keyword: s(p, "keyword"),
                ..Default::default()
            };
            let (items, total) = app.store.host_list(&f, page_of(app, p)?).await.map_err(e)?;
            let mut out = Vec::new();
            for x in &items {
                out.push(host_view(app, x).await?);
            }
            Ok(list("host", out, total))
        }
        "updateHost" => {
            let h = app
                .host_update(
                    caller,
                    req(p, c, "id")?,
                    p.str("name"),
                    p.str("hosttags"),
                    p.str("allocationstate"),
                    p.map_flat("externaldetails"),
                    p.bool_or("cleanupexternaldetails", false),
                )
                .await?;
            Ok(Reply::Object {
                object: "host",
                value: host_view(app, &h).await?,
            })
        }
        "deleteHost" => {
            app.host_delete(caller, req(p, c, "id")?, p.bool_or("forced", false))
                .await?;
            Ok(Reply::Success { displaytext: None })
        }
        "listHypervisors" => Ok(list("hypervisor", vec![json!({"name": "External"})], 1)),
        "createServiceOffering" => {
            let o = app
                .offering_create(
                    caller,
                    req(p, c, "name")?,
                    p.str("displaytext"),
                    p.int("cpunumber").unwrap_or(1),
                    p.int("cpuspeed").unwrap_or(1000),
                    p.int("memory").unwrap_or(512),
                    p.str("hosttags"),
                    p.map_flat("externaldetails").unwrap_or_default(),
                )
                .await?;
            Ok(Reply::Object {
                object: "serviceoffering",
                value: offering_view(app, &o).await?,
            })
        }
        "updateServiceOffering" => {
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
        "deleteServiceOffering" => {
            app.offering_delete(caller, req(p, c, "id")?).await?;
            Ok(Reply::Success { displaytext: None })
        }
        "listServiceOfferings" => {
            let (items, total) = app
                .store
                .offering_list(
                    p.str("id"),
                    p.str("name"),
                    p.str("keyword"),
                    page_of(app, p)?,
                )
                .await
                .map_err(e)?;
            let mut out = Vec::new();
            for x in &items {
                out.push(offering_view(app, x).await?);
            }
            Ok(list("serviceoffering", out, total))
        }
        "registerTemplate" => {
            let zone = p
                .str("zoneid")
                .map(str::to_string)
                .or_else(|| p.list("zoneids").and_then(|z| z.into_iter().next()));
            let t = app
                .template_register(
                    caller,
                    req(p, c, "name")?,
                    p.str("displaytext"),
                    req(p, c, "format")?,
                    req(p, c, "hypervisor")?,
                    req(p, c, "url")?,
                    zone.as_deref(),
                    p.str("extensionid"),
                    p.map_flat("externaldetails").unwrap_or_default(),
                    p.str("arch"),
                    None,
                    p.bool("ispublic"),
                    p.bool("isfeatured"),
                )
                .await?;
            Ok(list("template", vec![template_view(app, &t).await?], 1))
        }
        "listTemplates" => {
            let ext = filter_id(p, "extensionid", |u| app.store.extension_by_uuid(u)).await?;
            let zone = filter_id(p, "zoneid", |u| app.store.zone_by_uuid(u)).await?;
            let filter = TemplateFilter {
                uuid: p.str("id"),
                name: p.str("name"),
                extension_id: ext,
                keyword: p.str("keyword"),
                zone_id: zone,
            };
            let (items, total) = app
                .template_list(
                    caller,
                    p.str("templatefilter").unwrap_or("executable"),
                    &filter,
                    page_of(app, p)?,
                )
                .await?;
            let mut out = Vec::new();
            for t in &items {
                out.push(template_view(app, t).await?);
            }
            Ok(list("template", out, total))
        }
        "listNetworkOfferings" => {
            let items = app.store.network_offering_list().await.map_err(e)?;
            let items: Vec<Value> = items
                .iter()
                .filter(|o| p.str("id").is_none_or(|u| u == o.uuid) && p.str("guestiptype").is_none_or(|g| g.eq_ignore_ascii_case(&o.guest_ip_type)) && p.str("name").is_none_or(|n| n == o.name))
                .map(|o| json!({"id": o.uuid, "name": o.name, "displaytext": o.display_text, "guestiptype": o.guest_ip_type, "specifyvlan": o.specify_vlan, "state": o.state, "isdefault": o.is_default, "traffictype": "Guest", "created": trellis_api::format_date(o.created)}))
                .collect();
            let n = items.len() as i64;
            Ok(list("networkoffering", items, n))
        }
        "createNetwork" => {
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
            };
            let n = app.network_create(caller, input).await?;
            Ok(Reply::Object {
                object: "network",
                value: network_view(app, &n).await?,
            })
        }
        "listNetworks" => {
            if p.bool("restartrequired") == Some(true) {
                return Ok(list("network", vec![], 0));
            }
            let scope = if caller.is_root_admin() {
                None
            } else {
                Some(caller.account.id)
            };
            let (items, total) = app
                .store
                .network_list(
                    p.str("id"),
                    zone_filter(app, p).await?,
                    scope,
                    p.str("keyword"),
                    page_of(app, p)?,
                )
                .await
                .map_err(e)?;
            let mut out = Vec::new();
            for x in &items {
                out.push(network_view(app, x).await?);
            }
            Ok(list("network", out, total))
        }
        "listVirtualMachines" => {
            let host_id = filter_id(p, "hostid", |u| app.store.host_by_uuid(u)).await?;
            let extension_id =
                filter_id(p, "extensionid", |u| app.store.extension_by_uuid(u)).await?;
            let f = InstanceFilter {
                uuid: s(p, "id"),
                name: s(p, "name"),
                state: s(p, "state"),
                zone_id: zone_filter(app, p).await?,
                host_id,
                account_id: None,
                extension_id,
                keyword: s(p, "keyword"),
                include_destroyed: p
                    .str("state")
                    .is_some_and(|s| s.eq_ignore_ascii_case("Destroyed"))
                    || p.str("id").is_some(),
            };
            let ids = p.list("ids");
            let (items, total) = app
                .instance_list(caller, f, p.bool_or("listall", false), page_of(app, p)?)
                .await?;
            let items: Vec<Instance> = items
                .into_iter()
                .filter(|i| ids.as_ref().is_none_or(|ids| ids.contains(&i.uuid)))
                .collect();
            let ctx = VmCtx::load(app, &items).await?;
            let out: Vec<Value> = items.iter().map(|i| vm_json(&ctx, i)).collect();
            let total = if ids.is_some() {
                out.len() as i64
            } else {
                total
            };
            Ok(list("virtualmachine", out, total))
        }
        "recoverVirtualMachine" => {
            let inst = app.instance_recover(caller, req(p, c, "id")?).await?;
            Ok(Reply::Object {
                object: "virtualmachine",
                value: vm_view(app, &inst).await?,
            })
        }
        "updateVirtualMachine" => {
            let inst = app
                .instance_update(
                    caller,
                    req(p, c, "id")?,
                    p.str("displayname"),
                    p.map_flat("details"),
                    p.bool_or("cleanupdetails", false),
                )
                .await?;
            Ok(Reply::Object {
                object: "virtualmachine",
                value: vm_view(app, &inst).await?,
            })
        }
        "createConsoleEndpoint" => {
            let console = app
                .instance_console(caller, req(p, c, "virtualmachineid")?)
                .await?;
            let url = console.url.clone().unwrap_or_else(|| {
                let port = match &console.port {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                };
                format!(
                    "{}://{}:{}",
                    console.protocol.as_deref().unwrap_or("vnc"),
                    console.host.as_deref().unwrap_or(""),
                    port
                )
            });
            Ok(Reply::Object {
                object: "consoleendpoint",
                value: json!({"success": true, "url": url, "websocket": {"host": console.host, "port": console.port, "protocol": console.protocol, "password": console.password}}),
            })
        }
        "listPublicIpAddresses" => Ok(list("publicipaddress", vec![], 0)),
        "listPortForwardingRules" => Ok(list("portforwardingrule", vec![], 0)),
        "listIpForwardingRules" => Ok(list("ipforwardingrule", vec![], 0)),
        "listVolumes" => Ok(list("volume", vec![], 0)),
        "listSSHKeyPairs" => Ok(list("sshkeypair", vec![], 0)),
        "listDiskOfferings" => Ok(list("diskoffering", vec![], 0)),
        "listVPCs" => Ok(list("vpc", vec![], 0)),
        "listNetworkServiceProviders" => Ok(list("networkserviceprovider", vec![], 0)),
        "listProjects" => Ok(list("project", vec![], 0)),
        "listTags" => Ok(list("tag", vec![], 0)),
        "listIsos" => Ok(list("iso", vec![], 0)),
        other => Err(ApiError::unsupported(other)),
    }
}

fn date(ms: i64) -> String {
    trellis_api::format_date(ms)
}

pub fn zone_view(z: &Zone) -> Value {
    json!({"id": z.uuid, "name": z.name, "description": z.description, "dns1": z.dns1, "dns2": z.dns2, "internaldns1": z.internal_dns1,
           "networktype": z.network_type, "allocationstate": z.allocation_state, "securitygroupsenabled": false, "localstorageenabled": false,
           "zonetoken": z.uuid, "tags": [], "created": date(z.created)})
}

async fn pod_view(app: &App, x: &Pod) -> Result<Value, ApiError> {
    let z = app.store.zone_get(x.zone_id).await.map_err(e)?;
    Ok(
        json!({"id": x.uuid, "name": x.name, "zoneid": z.as_ref().map(|z| z.uuid.clone()), "zonename": z.map(|z| z.name), "gateway": x.gateway, "netmask": x.netmask,
              "startip": x.start_ip.as_ref().map(|s| vec![s.clone()]), "endip": x.end_ip.as_ref().map(|s| vec![s.clone()]), "allocationstate": x.allocation_state}),
    )
}

pub async fn cluster_view(app: &App, x: &Cluster) -> Result<Value, ApiError> {
    let z = app.store.zone_get(x.zone_id).await.map_err(e)?;
    let pod = app.store.pod_get(x.pod_id).await.map_err(e)?;
    let ext = app.cluster_extension(x.id).await?;
    Ok(
        json!({"id": x.uuid, "name": x.name, "zoneid": z.as_ref().map(|z| z.uuid.clone()), "zonename": z.map(|z| z.name), "podid": pod.as_ref().map(|p| p.uuid.clone()),
              "podname": pod.map(|p| p.name), "hypervisortype": x.hypervisor, "clustertype": x.cluster_type, "allocationstate": x.allocation_state, "managedstate": "Managed",
              "arch": x.arch, "extensionid": ext.as_ref().map(|(e, _)| e.uuid.clone()), "extensionname": ext.map(|(e, _)| e.name)}),
    )
}

pub async fn host_view(app: &App, x: &Host) -> Result<Value, ApiError> {
    let z = app.store.zone_get(x.zone_id).await.map_err(e)?;
    let pod = app.store.pod_get(x.pod_id).await.map_err(e)?;
    let cl = app.store.cluster_get(x.cluster_id).await.map_err(e)?;
    let ext = app.cluster_extension(x.cluster_id).await?;
    let details = app.host_external_details(x.id).await?;
    Ok(
        json!({"id": x.uuid, "name": x.name, "state": x.status, "type": "Routing", "ipaddress": "External", "zoneid": z.as_ref().map(|z| z.uuid.clone()),
              "zonename": z.map(|z| z.name), "podid": pod.as_ref().map(|p| p.uuid.clone()), "podname": pod.map(|p| p.name), "clusterid": cl.as_ref().map(|c| c.uuid.clone()),
              "clustername": cl.map(|c| c.name), "hypervisor": x.hypervisor, "resourcestate": x.resource_state, "hosttags": x.host_tags,
              "cpunumber": 0, "memorytotal": 0, "capabilities": "hvm", "arch": "x86_64",
              "details": details, "extensionid": ext.as_ref().map(|(e, _)| e.uuid.clone()), "extensionname": ext.map(|(e, _)| e.name), "created": date(x.created)}),
    )
}

async fn offering_view(app: &App, o: &ServiceOffering) -> Result<Value, ApiError> {
    let details = app
        .store
        .details_visible(DetailOwner::Offering, o.id)
        .await
        .map_err(e)?;
    Ok(
        json!({"id": o.uuid, "name": o.name, "displaytext": o.display_text, "cpunumber": o.cpu_number, "cpuspeed": o.cpu_speed, "memory": o.memory,
              "hosttags": o.host_tags, "storagetype": "shared", "offerha": false, "limitcpuuse": false, "isvolatile": false, "iscustomized": false,
              "serviceofferingdetails": if details.is_empty() { Value::Null } else { json!(details) }, "state": o.state, "created": date(o.created)}),
    )
}

async fn template_view(app: &App, t: &Template) -> Result<Value, ApiError> {
    let ext = match t.extension_id {
        Some(id) => app.store.extension_get(id).await.map_err(e)?,
        None => None,
    };
    let zone = match t.zone_id {
        Some(z) => app.store.zone_get(z).await.map_err(e)?,
        None => None,
    };
    let details = app
        .store
        .details_visible(DetailOwner::Template, t.id)
        .await
        .map_err(e)?;
    let account = app.store.account_get(t.account_id).await.map_err(e)?;
    Ok(
        json!({"id": t.uuid, "name": t.name, "displaytext": t.display_text, "format": t.format, "hypervisor": t.hypervisor, "ostypename": t.os_type,
              "ostypeid": "00000000-0000-0000-0000-000000000000", "size": t.size, "isready": t.state == "Active", "status": "Download Complete",
              "ispublic": t.is_public, "isfeatured": t.is_featured, "zoneid": zone.as_ref().map(|z| z.uuid.clone()), "zonename": zone.map(|z| z.name),
              "templatetype": "USER", "arch": t.arch, "account": account.map(|a| a.name), "passwordenabled": false, "crossZones": t.zone_id.is_none(),
              "extensionid": ext.as_ref().map(|x| x.uuid.clone()), "extensionname": ext.map(|x| x.name),
              "details": if details.is_empty() { Value::Null } else { json!(details) }, "created": date(t.created)}),
    )
}

async fn network_view(app: &App, n: &Network) -> Result<Value, ApiError> {
    let z = app.store.zone_get(n.zone_id).await.map_err(e)?;
    let o = app
        .store
        .network_offering_get(n.network_offering_id)
        .await
        .map_err(e)?;
    Ok(
        json!({"id": n.uuid, "name": n.name, "displaytext": n.display_text, "zoneid": z.as_ref().map(|z| z.uuid.clone()), "zonename": z.map(|z| z.name),
              "networkofferingid": o.as_ref().map(|o| o.uuid.clone()), "networkofferingname": o.map(|o| o.name), "type": n.guest_type,
              "broadcasturi": n.broadcast_uri, "vlan": n.broadcast_uri.as_deref().and_then(|b| b.strip_prefix("vlan://")), "gateway": n.gateway, "netmask": n.netmask,
              "dns1": n.dns1, "dns2": n.dns2, "state": n.state, "traffictype": "Guest", "acltype": if n.guest_type == "Shared" { "Domain" } else { "Account" },
              "restartrequired": false, "created": date(n.created)}),
    )
}

/// Lookup tables for rendering many instances with a fixed number of queries.
pub struct VmCtx {
    zones: HashMap<i64, Zone>,
    hosts: HashMap<i64, Host>,
    templates: HashMap<i64, Template>,
    offerings: HashMap<i64, ServiceOffering>,
    accounts: HashMap<i64, trellis_model::entity::Account>,
    domains: HashMap<i64, trellis_model::entity::Domain>,
    networks: HashMap<i64, Network>,
    extensions: HashMap<i64, trellis_model::entity::Extension>,
    nics: HashMap<i64, Vec<trellis_model::entity::Nic>>,
    details: HashMap<i64, std::collections::BTreeMap<String, String>>,
}

impl VmCtx {
    pub async fn load(app: &App, instances: &[Instance]) -> Result<VmCtx, ApiError> {
        let ids: Vec<i64> = instances.iter().map(|i| i.id).collect();
        let all = trellis_store::Page::all();
        let f = InfraFilter::default();
        let mut templates: HashMap<i64, Template> = HashMap::new();
        let mut offerings: HashMap<i64, ServiceOffering> = HashMap::new();
        for i in instances {
            if !templates.contains_key(&i.template_id) {
                if let Some(t) = app.store.template_get(i.template_id).await.map_err(e)? {
                    templates.insert(t.id, t);
                }
            }
            if !offerings.contains_key(&i.service_offering_id) {
                if let Some(o) = app
                    .store
                    .offering_get(i.service_offering_id)
                    .await
                    .map_err(e)?
                {
                    offerings.insert(o.id, o);
                }
            }
        }
        if instances.len() <= 20 {
            // A few instances (single-object replies): fetch just what they reference.
            let nics = app.store.nic_list_for(&ids).await.map_err(e)?;
            let details = app
                .store
                .details_visible_for(DetailOwner::Instance, &ids)
                .await
                .map_err(e)?;
            let mut ctx = VmCtx {
                zones: HashMap::new(),
                hosts: HashMap::new(),
                templates,
                offerings,
                accounts: HashMap::new(),
                domains: HashMap::new(),
                networks: HashMap::new(),
                extensions: HashMap::new(),
                nics,
                details,
            };
            for i in instances {
                if let Some(z) = app.store.zone_get(i.zone_id).await.map_err(e)? {
                    ctx.zones.insert(z.id, z);
                }
                if let Some(h) = i.host_id {
                    if let Some(h) = app.store.host_get(h).await.map_err(e)? {
                        ctx.hosts.insert(h.id, h);
                    }
                }
                if let Some(a) = app.store.account_get(i.account_id).await.map_err(e)? {
                    ctx.accounts.insert(a.id, a);
                }
                if let Some(d) = app.store.domain_get(i.domain_id).await.map_err(e)? {
                    ctx.domains.insert(d.id, d);
                }
            }
            let network_ids: Vec<i64> = ctx.nics.values().flatten().map(|n| n.network_id).collect();
            for nid in network_ids {
                if let Some(n) = app.store.network_get(nid).await.map_err(e)? {
                    ctx.networks.insert(n.id, n);
                }
            }
            let ext_ids: Vec<i64> = ctx
                .templates
                .values()
                .filter_map(|t| t.extension_id)
                .collect();
            for xid in ext_ids {
                if let Some(x) = app.store.extension_get(xid).await.map_err(e)? {
                    ctx.extensions.insert(x.id, x);
                }
            }
            return Ok(ctx);
        }
        Ok(VmCtx {
            zones: app
                .store
                .zone_list(&f, all)
                .await
                .map_err(e)?
                .0
                .into_iter()
                .map(|x| (x.id, x))
                .collect(),
            hosts: app
                .store
                .host_list(&f, all)
                .await
                .map_err(e)?
                .0
                .into_iter()
                .map(|x| (x.id, x))
                .collect(),
            templates,
            offerings,
            accounts: app
                .store
                .account_list(&Default::default(), all)
                .await
                .map_err(e)?
                .0
                .into_iter()
                .map(|x| (x.id, x))
                .collect(),
            domains: app
                .store
                .domain_list(None, None, None, all)
                .await
                .map_err(e)?
                .0
                .into_iter()
                .map(|x| (x.id, x))
                .collect(),
            networks: app
                .store
                .network_all()
                .await
                .map_err(e)?
                .into_iter()
                .map(|x| (x.id, x))
                .collect(),
            extensions: app
                .store
                .extension_all()
                .await
                .map_err(e)?
                .into_iter()
                .map(|x| (x.id, x))
                .collect(),
            nics: app.store.nic_list_for(&ids).await.map_err(e)?,
            details: app
                .store
                .details_visible_for(DetailOwner::Instance, &ids)
                .await
                .map_err(e)?,
        })
    }
}

/// The `virtualmachine` view of one instance.
pub async fn vm_view(app: &App, i: &Instance) -> Result<Value, ApiError> {
    let ctx = VmCtx::load(app, std::slice::from_ref(i)).await?;
    Ok(vm_json(&ctx, i))
}

/// The `virtualmachine` view with the keys libcloud and Ansible read.
pub fn vm_json(ctx: &VmCtx, i: &Instance) -> Value {
    let z = ctx.zones.get(&i.zone_id);
    let host = i.host_id.and_then(|h| ctx.hosts.get(&h));
    let t = ctx.templates.get(&i.template_id);
    let o = ctx.offerings.get(&i.service_offering_id);
    let account = ctx.accounts.get(&i.account_id);
    let domain = ctx.domains.get(&i.domain_id);
    let nics: Vec<Value> = ctx
        .nics
        .get(&i.id)
        .map(|v| v.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|n| {
            let net = ctx.networks.get(&n.network_id);
            json!({"id": n.uuid, "networkid": net.map(|x| x.uuid.clone()), "networkname": net.map(|x| x.name.clone()),
                   "macaddress": n.mac, "ipaddress": n.ip, "netmask": n.netmask, "gateway": n.gateway, "isdefault": n.is_default,
                   "broadcasturi": n.broadcast_uri, "isolationuri": n.broadcast_uri, "traffictype": "Guest", "type": net.map(|x| x.guest_type.clone()), "deviceid": n.device_id.to_string()})
        })
        .collect();
    let details = ctx.details.get(&i.id).cloned().unwrap_or_default();
    let ext = t
        .and_then(|t| t.extension_id)
        .and_then(|id| ctx.extensions.get(&id));
    json!({
        "id": i.uuid, "name": i.name, "displayname": i.display_name, "instancename": i.instance_name, "state": i.state,
        "account": account.map(|a| a.name.clone()), "domainid": domain.map(|d| d.uuid.clone()), "domain": domain.map(|d| d.name.clone()),
        "zoneid": z.map(|z| z.uuid.clone()), "zonename": z.map(|z| z.name.clone()),
        "hostid": host.map(|h| h.uuid.clone()), "hostname": host.map(|h| h.name.clone()),
        "templateid": t.map(|t| t.uuid.clone()), "templatename": t.map(|t| t.name.clone()), "templatedisplaytext": t.map(|t| t.display_text.clone()),
        "serviceofferingid": o.map(|o| o.uuid.clone()), "serviceofferingname": o.map(|o| o.name.clone()),
        "cpunumber": o.map(|o| o.cpu_number), "cpuspeed": o.map(|o| o.cpu_speed), "memory": o.map(|o| o.memory),
        "hypervisor": "External", "guestosid": "00000000-0000-0000-0000-000000000000", "ostypename": t.map(|t| t.os_type.clone()),
        "nic": nics, "tags": [], "affinitygroup": [], "securitygroup": [], "details": details, "powerstate": i.power_state,
        "haenable": i.ha_enabled, "passwordenabled": false, "isdynamicallyscalable": false,
        "extensionid": ext.map(|x| x.uuid.clone()), "extensionname": ext.map(|x| x.name.clone()),
        "created": date(i.created),
    })
}
